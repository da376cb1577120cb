"""The benchmark's cold/warm measurement of the analyses (analyses/startup_costs.py)."""

from __future__ import annotations

import pytest

from analyses.startup_costs import measure_analyses, startup_markdown, summarize_passes


def _row(wall, imp, comp, work, modules):
    return {"wall_s": wall, "import_s": imp, "compile_s": comp, "computation_s": work,
            "other_s": wall - imp - comp - work, "c_modules": modules}


def test_totals_and_ratios_are_the_sums_of_the_rows():
    """Hand-computed: cold 40 + 20 = 60 s, warm 10 + 20 = 30 s -> cold/warm 2.0; warm computation
    4 + 11 = 15 s -> wall/computation 2.0; the slowest cold analysis is 'a' at 40 s."""
    measured = {"names": ["a", "b"], "quick": False,
                "cold": {"a": _row(40.0, 5.0, 30.0, 4.0, 120), "b": _row(20.0, 5.0, 2.0, 11.0, 3)},
                "warm": {"a": _row(10.0, 5.0, 1.0, 4.0, 0), "b": _row(20.0, 5.0, 2.0, 11.0, 0)}}
    s = summarize_passes(measured)
    assert s["totals"]["cold"]["wall_s"] == 60.0 and s["totals"]["cold"]["c_modules"] == 123
    assert s["cold_over_warm"] == pytest.approx(2.0)
    assert s["warm_wall_over_computation"] == pytest.approx(2.0)
    assert s["slowest_cold"] == {"analysis": "a", "wall_s": 40.0}
    assert s["totals"]["cold"]["complete"] and s["totals"]["warm"]["complete"]
    table = startup_markdown(measured, s)
    assert "| a | 40.0 | 120 | 30.0 | 10.0 | 1.0 | 4.0 | 2.5 |" in table
    assert "| **all** | 60.0 | 123 |" in table


def test_a_failed_run_is_shown_and_makes_the_totals_incomplete():
    measured = {"names": ["a", "b"], "quick": False,
                "cold": {"a": _row(40.0, 5.0, 30.0, 4.0, 120), "b": {"error": "Traceback ... boom"}},
                "warm": {"a": _row(10.0, 5.0, 1.0, 4.0, 0), "b": {"error": "Traceback ... boom"}}}
    s = summarize_passes(measured)
    assert not s["totals"]["cold"]["complete"]
    assert "| b | failed:" in startup_markdown(measured, s) and "boom" in startup_markdown(measured, s)


@pytest.mark.slow(seconds=90)
def test_height_mle_cold_then_warm_in_fresh_processes():
    """height_mle --quick runs pm.find_MAP once (flat prior) and pm.sample twice (flat and
    Normal-Gamma priors): the ledger must count exactly those, compile C modules only when the
    compile directory is empty, and spend less time compiling once it is full (~2 min)."""
    m = measure_analyses(["height_mle"], quick=True, seed=3)
    cold, warm = m["cold"]["height_mle"], m["warm"]["height_mle"]
    assert "error" not in cold and "error" not in warm, (cold, warm)
    assert cold["exit_code"] == 0 and warm["exit_code"] == 0
    assert cold["n_samples"] == warm["n_samples"] == 2
    assert cold["n_minimize"] >= 1 and warm["n_minimize"] == cold["n_minimize"]
    assert cold["c_modules"] > 0 and warm["c_modules"] == 0
    assert warm["compile_s"] < cold["compile_s"]
    for row in (cold, warm):
        assert 0 < row["computation_s"] < row["wall_s"]
        assert row["import_s"] + row["compile_s"] + row["computation_s"] <= row["wall_s"]
