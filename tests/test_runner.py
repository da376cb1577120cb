"""analyses.runner: checks arithmetic, summary.json schema, exit codes, reproducibility, per-analysis options."""

import importlib
import json
import sys
import types

import numpy as np
import pytest

from analyses import runner
from models.data import load_dataset

SCHEMA = {"analysis", "dataset", "quantity", "method", "reference", "value", "reference_value",
          "abs_error", "tolerance", "passed"}


def _register(monkeypatch, name, run, add_arguments=None):
    module = types.ModuleType(f"analyses.{name}")
    module.TITLE = f"fake analysis {name}"
    module.run = run
    if add_arguments is not None:
        module.add_arguments = add_arguments
    monkeypatch.setitem(sys.modules, f"analyses.{name}", module)
    monkeypatch.setattr(runner, "DEFAULT_ANALYSES", [name])


def _passing(ctx):
    x = ctx.rng().normal(size=100)
    ctx.check("mean", x.mean(), 0.0, method="numpy", reference="truth", atol=0.5)
    ctx.check("vector", [1.0, 2.0 + 1e-9], [1.0, 2.0], method="m", reference="r", rtol=1e-6)
    ctx.check_bound("R-hat", 1.003, 1.01, kind="<=", method="NUTS")


def test_check_tolerance_arithmetic():
    ctx = runner.Context(name="t", settings=runner.Settings())
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
    assert runner.main(["--out", str(tmp_path), "--seed", "7"]) == 0
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
        assert runner.main(["--out", str(tmp_path / run), "--seed", "11"]) == 0
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        summary.pop("timings_seconds")
        summary["settings"].pop("out")
        for record in summary["records"].values():  # when and how long it ran
            record.pop("finish_time"), record.pop("seconds")
        texts.append(json.dumps(summary, sort_keys=True))
    assert texts[0] == texts[1]


def test_different_seed_changes_random_values(monkeypatch, tmp_path):
    _register(monkeypatch, "fake_ok", _passing)
    values = []
    for seed in ("1", "2"):
        runner.main(["--out", str(tmp_path / seed), "--seed", seed])
        values.append(json.loads((tmp_path / seed / "summary.json").read_text())["checks"][0]["value"])
    assert values[0] != values[1]


def test_failed_check_exits_one(monkeypatch, tmp_path, capsys):
    _register(monkeypatch, "fake_bad",
              lambda ctx: ctx.check("q", 1.0, 2.0, method="m", reference="r", atol=0.1))
    assert runner.main(["--out", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_bad_data_exits_two_without_traceback_and_writes_nothing(monkeypatch, tmp_path, capsys):
    _register(monkeypatch, "fake_data", lambda ctx: load_dataset(ctx.settings.data))
    out = tmp_path / "out"
    assert runner.main(["--out", str(out), "--data", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No such data file") and "Traceback" not in err
    assert not out.exists()


def test_unknown_analysis_exits_two(tmp_path, capsys):
    assert runner.main(["no_such_analysis", "--out", str(tmp_path)]) == 2
    assert "unknown analysis 'no_such_analysis'" in capsys.readouterr().err


def test_context_seed_depends_on_run_seed_and_name():
    a = runner.Context("a", runner.Settings(seed=1))
    assert a.seed == runner.Context("a", runner.Settings(seed=1)).seed
    assert a.seed != runner.Context("b", runner.Settings(seed=1)).seed
    assert a.seed != runner.Context("a", runner.Settings(seed=2)).seed
    assert not np.array_equal(a.rng(0).normal(size=3), a.rng(1).normal(size=3))


# --------------------------------------------------------------------------- per-analysis options


def _capture_options(monkeypatch, name) -> list[dict]:
    """Replace the real analysis' ``run`` by one that records ``ctx.options`` (nothing is sampled)."""
    seen = []
    monkeypatch.setattr(importlib.import_module(f"analyses.{name}"), "run", lambda ctx: seen.append(dict(ctx.options)))
    return seen


def _settings(out) -> dict:
    return json.loads((out / "summary.json").read_text())["settings"]


def test_help_lists_each_analysis_options_under_its_name(capsys):
    with pytest.raises(SystemExit) as exc:
        runner.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "choosing_k options:" in out
    assert "--covariance-type {full,tied,diag,spherical}" in out[out.index("choosing_k options:"):]


def test_option_value_reaches_the_analysis_and_summary_json(monkeypatch, tmp_path):
    seen = _capture_options(monkeypatch, "choosing_k")
    assert runner.main(["choosing_k", "--covariance-type", "diag", "--out", str(tmp_path / "a")]) == 0
    assert runner.main(["choosing_k", "--out", str(tmp_path / "b")]) == 0
    assert seen == [{"covariance_type": "diag"}, {"covariance_type": "full"}]  # given, then the default
    assert _settings(tmp_path / "a")["options"] == {"choosing_k": {"covariance_type": "diag"}}
    assert _settings(tmp_path / "b")["options"] == {"choosing_k": {"covariance_type": "full"}}


def test_script_form_takes_the_option(monkeypatch, tmp_path):
    """``python analyses/choosing_k.py --covariance-type tied`` (main_for_script reads sys.argv)."""
    seen = _capture_options(monkeypatch, "choosing_k")
    module = importlib.import_module("analyses.choosing_k")
    monkeypatch.setattr(sys, "argv", ["analyses/choosing_k.py", "--covariance-type", "tied", "--out", str(tmp_path)])
    assert runner.main_for_script(module.__file__) == 0
    assert seen == [{"covariance_type": "tied"}]


def test_bad_option_value_exits_two_naming_the_choices_before_anything_runs(monkeypatch, tmp_path, capsys):
    seen = _capture_options(monkeypatch, "choosing_k")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        runner.main(["choosing_k", "--covariance-type", "round", "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--covariance-type: invalid choice: 'round'" in err and "Traceback" not in err
    assert all(f"'{ct}'" in err for ct in ("full", "tied", "diag", "spherical")), err
    assert seen == [] and not out.exists()


@pytest.mark.parametrize("value", ["diag", "full"])  # the default value too: refused, not silently ignored
def test_option_of_an_analysis_not_being_run_exits_two(monkeypatch, tmp_path, capsys, value):
    seen = _capture_options(monkeypatch, "closed_forms") + _capture_options(monkeypatch, "choosing_k")
    out = tmp_path / "out"
    assert runner.main(["closed_forms", "--covariance-type", value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == ("error: --covariance-type is an option of choosing_k, which is not being run; "
                   "add choosing_k to the analyses or drop the option.\n")
    assert seen == [] and not out.exists()


def test_a_new_analysis_declares_its_options_with_add_arguments(monkeypatch, tmp_path):
    """The mechanism is general: any module's add_arguments; defaults filled in by main and by run_analyses."""
    seen = []

    def add_arguments(parser):
        parser.add_argument("--n-points", type=int, default=5)
        parser.add_argument("--fast", action="store_true")

    _register(monkeypatch, "fake_opts", lambda ctx: seen.append(dict(ctx.options)), add_arguments)
    assert runner.main(["--out", str(tmp_path / "a"), "--n-points", "7"]) == 0
    runner.run_analyses(["fake_opts"], runner.Settings(out=tmp_path / "b"))
    assert seen == [{"n_points": 7, "fast": False}, {"n_points": 5, "fast": False}]
    assert _settings(tmp_path / "a")["options"] == {"fake_opts": {"n_points": 7, "fast": False}}
    with pytest.raises(SystemExit):
        runner.main(["--out", str(tmp_path / "c"), "--n-points", "many"])


# --------------------------------------------------------------------------- what a check rests on; vacuous checks


def test_basis_kind_and_probability_reach_summary_json(monkeypatch, tmp_path):
    def run(ctx):
        ctx.check("p", 0.31, 0.3, method="m", reference="r", atol=0.05, basis="4 binomial SE", probability=True)
        ctx.check_bound("R-hat", 1.003, 1.01, kind="<=", method="NUTS", basis="R-hat criterion")

    _register(monkeypatch, "fake_basis", run)
    assert runner.main(["--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "summary.json").read_text())["checks"]
    assert [(r["basis"], r["kind"], r["probability"]) for r in rows] == [
        ("4 binomial SE", "two-sided", True), ("R-hat criterion", "<=", False)]
    assert "basis: 4 binomial SE" in (tmp_path / "report.html").read_text()


def test_a_recorded_check_is_rejudged_by_the_same_rule():
    """Check.rejudge (what the perturbation test uses) is judge(), the rule Context.check records with."""
    ctx = runner.Context(name="t", settings=runner.Settings())
    ctx.check("q", [1.0, 2.06], [1.0, 2.0], method="m", reference="r", atol=0.07)
    ctx.check_bound("ess", 500.0, 400.0, kind=">=", method="m")
    two_sided, bound = ctx.checks
    assert two_sided.rejudge([1.0, 2.06]) and not two_sided.rejudge([1.0, 2.08]) and not two_sided.rejudge([1, np.nan])
    assert bound.rejudge(400.0) and not bound.rejudge(399.9) and not bound.rejudge(np.inf)
    again = runner.Check.from_dict(json.loads(json.dumps(two_sided.as_dict())))
    assert again == two_sided
    assert runner.judge("<=", np.nan, 1.01, 0.0) == (float("inf"), False)


@pytest.mark.parametrize("make, words", [
    # a bound on a distance between distribution functions that no such distance can exceed
    (lambda ctx: ctx.check_bound("sup|F − Φ|", 0.2, 1.15, kind="<=", method="m", probability=True),
     "bound <= 1.15 holds for every value in [0, 1]"),
    (lambda ctx: ctx.check_bound("p-value", 0.2, 0.0, kind=">=", method="m", probability=True),
     "bound >= 0 holds for every value in [0, 1]"),
    # a two-sided tolerance as wide as a probability's range
    (lambda ctx: ctx.check("P(x <= 160)", 0.4, 0.5, method="m", reference="r", atol=1.0, probability=True),
     "tolerance 1 >= 1 on a quantity in [0, 1]"),
    # a relative tolerance of 100 %
    (lambda ctx: ctx.check("mean", 3.0, 2.0, method="m", reference="r", rtol=1.0), "relative tolerance 1 >= 1"),
    # tolerances and bounds that can never fail
    (lambda ctx: ctx.check("mean", 3.0, 2.0, method="m", reference="r", atol=np.inf), "tolerance of inf"),
    (lambda ctx: ctx.check_bound("R-hat", 1.2, np.inf, kind="<=", method="m"), "bound of inf"),
    # the reference is the value itself: one object, or a view of the same array
    (lambda ctx: ctx.check("mean", (m := np.float64(2.5)), m, method="m", reference="r", rtol=1e-12),
     "the reference is the value itself"),
    (lambda ctx: ctx.check("means", (a := np.arange(4.0)), a[:], method="m", reference="r", atol=1e-12),
     "the reference is the value itself"),
])
def test_the_runner_refuses_a_check_that_cannot_fail(make, words):
    ctx = runner.Context(name="fake_analysis", settings=runner.Settings())
    with pytest.raises(runner.VacuousCheckError) as exc:
        make(ctx)
    message = str(exc.value)
    assert message.startswith("fake_analysis: '") and words in message, message
    assert ctx.checks == []


def test_checks_that_can_fail_are_not_refused():
    """The refusals' edges: bound < 1 on a distance, > 0 on a p-value, rtol < 1, a recomputed reference."""
    ctx = runner.Context(name="t", settings=runner.Settings())
    x = np.array([1.0, 2.0, 4.0])
    assert ctx.check_bound("sup|F − Φ|", 0.2, 0.99, kind="<=", method="m", probability=True)
    assert ctx.check_bound("p-value", 0.2, 0.01, kind=">=", method="m", probability=True)
    assert ctx.check("mean", 3.0, 2.0, method="m", reference="r", rtol=0.5)
    assert ctx.check("mean", x.mean(), np.sum(x) / 3, method="m", reference="r", rtol=1e-12)
    assert not ctx.check("q", 1.0, float("nan"), method="m", reference="r", rtol=0.1)  # NaN fails, is not refused
    assert ctx.check("count", 9, 9, method="m", reference="r", atol=0)  # exact equality of small ints is fine


def test_a_vacuous_check_in_an_analysis_is_a_programming_error_not_exit_two(monkeypatch, tmp_path):
    _register(monkeypatch, "fake_vacuous",
              lambda ctx: ctx.check_bound("distance", 0.1, 1.2, kind="<=", method="m", probability=True))
    with pytest.raises(runner.VacuousCheckError, match="fake_vacuous: 'distance'"):
        runner.main(["--out", str(tmp_path)])
