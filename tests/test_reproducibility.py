"""Same seed -> identical summary.json, apart from timings (issue 6).

Two runs of real analyses — ``closed_forms`` (exact draws, simulations) and ``height_mle``
(NUTS, --quick) — into two output folders must write the same summary.json once the fields that
measure time or name the output folder are removed. Reference: the first run; tolerance: exact
equality of every other number and string. Three quick runs take about 25 s (not ``slow``).
"""

from __future__ import annotations

import json
from pathlib import Path

from analyses.runner import main

ANALYSES = ["closed_forms", "height_mle"]


def _is_timing(key: str) -> bool:
    """Keys that hold a duration: ``timings_seconds``, ``wall_seconds``, ``sampling_time``,
    ``total_s``, ..."""
    key = key.lower()
    return "seconds" in key or "time" in key or key.endswith("_s")


def without_timings(obj, out_dir: str):
    """``obj`` with every timing key dropped (recursively) and the output folder replaced by a
    placeholder in every string."""
    if isinstance(obj, dict):
        return {k: without_timings(v, out_dir) for k, v in obj.items() if not _is_timing(str(k))}
    if isinstance(obj, list):
        return [without_timings(v, out_dir) for v in obj]
    if isinstance(obj, str):
        return obj.replace(out_dir, "<out>")
    return obj


def _run(out: Path, seed: int) -> dict:
    code = main([*ANALYSES, "--quick", "--seed", str(seed), "--out", str(out)])
    assert code == 0
    return json.loads((out / "summary.json").read_text())


def test_without_timings_drops_only_timing_keys():
    obj = {"timings_seconds": {"a": 1.0}, "analyses": {"x": {"wall_seconds": 3, "sampling_time": 2, "total_s": 1,
                                                              "value": 0.5, "path": "/tmp/o/x.png"}}}
    assert without_timings(obj, "/tmp/o") == {"analyses": {"x": {"value": 0.5, "path": "<out>/x.png"}}}


def test_same_seed_gives_the_same_summary(tmp_path):
    """Seed 123 twice: identical apart from timings. Control: seed 124 changes the simulated and
    sampled numbers (so the seed does reach the random paths and the comparison has teeth)."""
    runs = {name: without_timings(_run(tmp_path / name, seed), str(tmp_path / name))
            for name, seed in [("a", 123), ("b", 123), ("c", 124)]}
    a, b, c = runs["a"], runs["b"], runs["c"]
    assert len(a["checks"]) > 20 and a["seed"] == 123
    assert [r["analysis"] for r in a["checks"]] == [r["analysis"] for r in b["checks"]]
    for row_a, row_b in zip(a["checks"], b["checks"]):
        assert row_a == row_b, (row_a, row_b)
    assert a == b
    differing = [ra["quantity"] for ra, rc in zip(a["checks"], c["checks"]) if ra["value"] != rc["value"]]
    assert len(differing) >= 5, differing
