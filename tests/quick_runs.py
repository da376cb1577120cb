"""One analysis run in --quick mode through the runner, for the tests of the opt-in analyses
(the default ones share conftest's ``quick_run``)."""

from __future__ import annotations

import json

from analyses.runner import main


def run_quick(tmp_path, names, *extra):
    """``python -m analyses NAMES... EXTRA... --quick --out tmp_path/results`` in this process:
    (exit status, output folder, summary.json)."""
    out = tmp_path / "results"
    code = main([*names, *extra, "--quick", "--out", str(out)])
    return code, out, json.loads((out / "summary.json").read_text())


def checks_of(summary: dict, analysis: str) -> tuple[list[dict], list[dict]]:
    """(every check of ``analysis`` in summary.json, those that failed)."""
    checks = [c for c in summary["checks"] if c["analysis"] == analysis]
    return checks, [c for c in checks if not c["passed"]]
