"""analyses._runner: checks arithmetic, summary.json schema, exit codes, reproducibility."""

import json
import sys
import types

import numpy as np
import pytest

from analyses import _runner
from models.data import load_dataset

SCHEMA = {"analysis", "dataset", "quantity", "method", "reference", "value", "reference_value",
          "abs_error", "tolerance", "passed"}


def _register(monkeypatch, name, run):
    module = types.ModuleType(f"analyses.{name}")
    module.TITLE = f"fake analysis {name}"
    module.run = run
    monkeypatch.setitem(sys.modules, f"analyses.{name}", module)
    monkeypatch.setattr(_runner, "DEFAULT_ANALYSES", [name])


def _passing(ctx):
    x = ctx.rng().normal(size=100)
    ctx.check("mean", x.mean(), 0.0, method="numpy", reference="truth", atol=0.5)
    ctx.check("vector", [1.0, 2.0 + 1e-9], [1.0, 2.0], method="m", reference="r", rtol=1e-6)
    ctx.check_bound("R-hat", 1.003, 1.01, kind="<=", method="NUTS")


def test_check_tolerance_arithmetic():
    ctx = _runner.Context(name="t", settings=_runner.Settings())
    assert ctx.check("q", [1.0, 2.06], [1.0, 2.0], method="m", reference="r", atol=0.05, rtol=0.01)  # tol 0.07
    assert not ctx.check("q", 3.0, 2.0, method="m", reference="r", rtol=0.1)
    assert not ctx.check("q", float("nan"), 2.0, method="m", reference="r", atol=1.0)
    assert ctx.check_bound("ess", 500, 400, kind=">=", method="m")
    assert not ctx.check_bound("ess", 300, 400, kind=">=", method="m")
    errors = [c.abs_error for c in ctx.checks]
    assert errors[0] == pytest.approx(0.06) and errors[1] == pytest.approx(1.0)
    assert ctx.checks[0].tolerance == pytest.approx(0.07)
    assert errors[4] == pytest.approx(100)
    with pytest.raises(ValueError):
        ctx.check("q", 1, 1, method="m", reference="r")


def test_summary_schema_seed_and_exit_zero(monkeypatch, tmp_path, capsys):
    _register(monkeypatch, "fake_ok", _passing)
    assert _runner.main(["--out", str(tmp_path), "--seed", "7"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["seed"] == 7 and summary["settings"]["seed"] == 7
    assert len(summary["checks"]) == 3
    for row in summary["checks"]:
        assert SCHEMA <= set(row)
        assert row["passed"] is True
    assert summary["versions"]["pymc"].startswith("5.28")
    out = capsys.readouterr().out
    assert "3/3 checks passed" in out


def test_same_seed_same_summary(monkeypatch, tmp_path):
    _register(monkeypatch, "fake_ok", _passing)
    texts = []
    for run in ("a", "b"):
        assert _runner.main(["--out", str(tmp_path / run), "--seed", "11"]) == 0
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        summary.pop("timings_seconds")
        summary["settings"].pop("out")
        texts.append(json.dumps(summary, sort_keys=True))
    assert texts[0] == texts[1]


def test_different_seed_changes_random_values(monkeypatch, tmp_path):
    _register(monkeypatch, "fake_ok", _passing)
    values = []
    for seed in ("1", "2"):
        _runner.main(["--out", str(tmp_path / seed), "--seed", seed])
        values.append(json.loads((tmp_path / seed / "summary.json").read_text())["checks"][0]["value"])
    assert values[0] != values[1]


def test_failed_check_exits_one(monkeypatch, tmp_path, capsys):
    _register(monkeypatch, "fake_bad",
              lambda ctx: ctx.check("q", 1.0, 2.0, method="m", reference="r", atol=0.1))
    assert _runner.main(["--out", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_bad_data_exits_two_without_traceback_and_writes_nothing(monkeypatch, tmp_path, capsys):
    _register(monkeypatch, "fake_data", lambda ctx: load_dataset(ctx.settings.data))
    out = tmp_path / "out"
    assert _runner.main(["--out", str(out), "--data", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No such data file") and "Traceback" not in err
    assert not out.exists()


def test_unknown_analysis_exits_two(tmp_path, capsys):
    assert _runner.main(["no_such_analysis", "--out", str(tmp_path)]) == 2
    assert "unknown analysis 'no_such_analysis'" in capsys.readouterr().err


def test_context_seed_depends_on_run_seed_and_name():
    a = _runner.Context("a", _runner.Settings(seed=1))
    assert a.seed == _runner.Context("a", _runner.Settings(seed=1)).seed
    assert a.seed != _runner.Context("b", _runner.Settings(seed=1)).seed
    assert a.seed != _runner.Context("a", _runner.Settings(seed=2)).seed
    assert not np.array_equal(a.rng(0).normal(size=3), a.rng(1).normal(size=3))
