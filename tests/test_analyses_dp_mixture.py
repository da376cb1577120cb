"""analyses/dp_mixture.py: its helpers against independent references, its bad settings refused
through the runner before anything is built, and (slow) a --quick run in which every check passes.

* α's Monte Carlo error formula against the spread of repeated draws; α's summary against a
  Gamma's exact moments and quantiles; the posterior-mean density against scipy, point by point;
* scikit-learn's variational DP on three well-separated clusters (3 components, weights near the
  truth, sorted), and, with scikit-learn hidden, the comparison reported as NOT RUN, never dropped;
* the BIC table against scikit-learn's ``GaussianMixture.bic``;
* choosing_k's LOO answer read from its record only when it ran on the same data, else the reason
  and the command that produces it; the verdict naming each disagreement with its reason;
* a collapsed component on tied values detected (and a regular one not);
* T < 2, a non-integer T, α prior parameters <= 0 or NaN, T > N: exit 2, one clear line, no model built.
"""

from __future__ import annotations

import json
import sys

import arviz as az
import numpy as np
import pytest
from quick_runs import checks_of, run_quick  # tests/ is on sys.path
from scipy import stats

from analyses import dp_mixture as dp
from analyses.runner import OPT_IN_ANALYSES, Context, Settings, main
from models.gmm_dp import dp_prior, stick_breaking_weights
from models.ties import tie_report


def three_clusters(seed: int = 0, n: int = 300) -> np.ndarray:
    """N points from 3 well-separated 2-D Gaussians, weights (0.4, 0.35, 0.25)."""
    rng = np.random.default_rng(seed)
    means = np.array([[-4.0, 0.0], [4.0, 0.0], [0.0, 6.0]])
    z = rng.choice(3, size=n, p=[0.4, 0.35, 0.25])
    return means[z] + rng.normal(size=(n, 2)) * 0.8


def fake_posterior(r: np.ndarray) -> az.InferenceData:
    """Depths r (chain, draw, T-1) as the DP model's posterior."""
    return az.from_dict(posterior={"v_raw": r, "w": stick_breaking_weights(-np.expm1(-r))},
                        dims={"v_raw": ["stick"], "w": ["component"]})


def test_registered_as_opt_in():
    assert "dp_mixture" in OPT_IN_ANALYSES


def test_alpha_draw_error_matches_the_spread_of_repeated_draws():
    """The standard error of mean(α draws) − mean(E[α | r]) from the conditional variances equals
    the sd over 400 independent repetitions (their sd is itself known to ~4 %: 12 % allowed)."""
    prior = dp_prior(5, 2.0, 1.5)
    r = np.random.default_rng(1).exponential(0.8, size=(2, 50, 4))
    idata = fake_posterior(r)
    shape, rate = prior.alpha_shape + 4, prior.alpha_rate + r.sum(axis=-1)
    diffs = [dp.alpha_draws(idata, prior, seed=s).mean() - np.mean(shape / rate) for s in range(400)]
    assert np.std(diffs, ddof=1) == pytest.approx(dp.alpha_draw_error(idata, prior), rel=0.12)


def test_alpha_summary_of_gamma_draws():
    """Gamma(3, rate 2): mean 1.5, sd 0.866; quantiles from scipy; 400,000 draws (errors < 0.005)."""
    draws = np.random.default_rng(2).gamma(3.0, 0.5, size=(2, 200_000))
    out = dp.alpha_summary(draws)
    exact = stats.gamma(3.0, scale=0.5)
    assert out["mean"] == pytest.approx(1.5, abs=0.005) and out["sd"] == pytest.approx(exact.std(), abs=0.005)
    np.testing.assert_allclose(out["interval_90"], exact.ppf([0.05, 0.95]), atol=0.01)
    assert out["median"] == pytest.approx(exact.median(), abs=0.01)


def test_mixture_density_is_the_average_of_scipy_mixture_densities():
    rng = np.random.default_rng(3)
    s, t = 3, 2
    w = rng.dirichlet(np.ones(t), size=s)
    mu = rng.normal(size=(s, t, 2))
    a = rng.normal(size=(s, t, 2, 2))
    cov = a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(2)
    points = rng.normal(size=(7, 2))
    expected = np.mean([sum(w[i, k] * stats.multivariate_normal(mu[i, k], cov[i, k]).pdf(points) for k in range(t))
                        for i in range(s)], axis=0)
    np.testing.assert_allclose(dp.mixture_density(points, w, mu, cov), expected, rtol=1e-10)


def test_sklearn_dp_finds_three_separated_clusters_with_sorted_weights():
    """N = 300 from weights (0.4, 0.35, 0.25): binomial sd of each weight ~0.028, 0.07 allowed."""
    out = dp.sklearn_dp(three_clusters(), 10, 1.0, seed=0, n_init=3)
    assert out["run"] and out["converged"] and out["n_active"] == 3
    assert np.all(np.diff(out["weights_sorted"]) <= 0) and out["weights_sorted"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(out["weights_sorted"][:3], [0.4, 0.35, 0.25], atol=0.07)
    assert out["means"].shape == (10, 2) and out["covariances"].shape == (10, 2, 2)


def test_missing_sklearn_is_reported_as_not_run(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.mixture", None)          # import now raises ImportError
    out = dp.sklearn_dp(three_clusters(), 10, 1.0, seed=0, n_init=1)
    assert out == {"run": False, "reason": out["reason"]} and "scikit-learn is not installed" in out["reason"]
    verdict, notes = dp.comparison_text("d", {"posterior": {3: 1.0}}, out, 3, {"available": True, "k": 3})
    assert "scikit-learn" not in verdict and "all agree on K = 3" in verdict
    assert notes == [f"d: scikit-learn comparison NOT RUN: {out['reason']}."]


def test_bic_table_agrees_with_scikit_learn():
    """The same BIC formula and, at K = 1 (closed form) and K = 3 (three well-separated clusters),
    the same EM optimum: scikit-learn's GaussianMixture.bic within 0.05 % (both stop at tolerance
    1e-3 on the mean log-likelihood). K = 2 merges two clusters and K = 4 splits one, each with
    several local optima: there only the best K is compared."""
    from sklearn.mixture import GaussianMixture

    x = three_clusters()
    table = dp.bic_table(x, range(1, 5), seed=0)
    reference = {k: GaussianMixture(k, n_init=3, random_state=0).fit(x).bic(x) for k in range(1, 5)}
    assert table["best"] == 3 == min(reference, key=reference.get) and table["collapsed"] == []
    for k in (1, 3):
        assert table["bic"][k] == pytest.approx(reference[k], rel=5e-4)


def _write_choosing_k(out, settings: dict, loo: int = 2, failed: tuple = ()):
    folder = out / "choosing_k"
    folder.mkdir(parents=True)
    checks = [{"quantity": "K=2 (full): max R-hat", "passed": True}]
    checks += [{"quantity": q, "passed": False} for q in failed]
    record = {"analysis": "choosing_k", "finish_time": "2026-12-02T13:00:00+00:00", "checks": checks,
              "settings": {"seed": 7, "quick": True, "data": None} | settings,
              "extra": {"preferred": {"LOO": loo, "BIC": 2, "AIC": 3}, "loo_indistinguishable": [2, 3],
                        "ks": [1, 2, 3], "covariance_type": "full"}}
    (folder / "record.json").write_text(json.dumps(record))


def test_choosing_k_answer_only_from_a_record_on_the_same_data(tmp_path):
    ours = {"data": None, "data_sha256": None, "columns": None, "dropna": None, "dequantize": None, "seed": 7}
    missing = dp.choosing_k_answer(tmp_path, ours, "faithful")
    assert not missing["available"] and "no choosing_k record" in missing["reason"]
    assert missing["command"] == f"python -m analyses choosing_k dp_mixture --out {tmp_path}"
    bdims = dp.choosing_k_answer(tmp_path, ours, "bdims")
    assert not bdims["available"] and "--data bdims --columns height_cm,weight_kg" in bdims["command"]

    _write_choosing_k(tmp_path, {})
    found = dp.choosing_k_answer(tmp_path, ours, "faithful")
    assert found["available"] and found["k"] == 2 and found["indistinguishable"] == [2, 3] and found["quick"]

    mine = ours | {"data": "my.csv", "data_sha256": "abc", "columns": "a,b"}
    other = dp.choosing_k_answer(tmp_path, mine, "my")
    assert not other["available"] and "ran on other data" in other["reason"] and "data None" in other["reason"]
    assert other["command"] == f"python -m analyses choosing_k dp_mixture --data my.csv --columns a,b --out {tmp_path}"


def test_choosing_k_answer_needs_the_same_dequantization_seed(tmp_path):
    settings = {"data": "my.csv", "data_sha256": "abc", "dequantize": "1"}
    _write_choosing_k(tmp_path, settings)
    ours = {"columns": None, "dropna": None} | settings
    assert dp.choosing_k_answer(tmp_path, ours | {"seed": 7}, "my")["available"]
    assert "seed" in dp.choosing_k_answer(tmp_path, ours | {"seed": 8}, "my")["reason"]


def test_a_loo_answer_from_a_failed_choosing_k_run_is_flagged(tmp_path):
    _write_choosing_k(tmp_path, {}, loo=4, failed=("K=4 (full): max R-hat",))
    ours = {"data": None, "data_sha256": None, "columns": None, "dropna": None, "dequantize": None, "seed": 7}
    loo = dp.choosing_k_answer(tmp_path, ours, "faithful")
    assert loo["available"] and loo["k"] == 4 and loo["failed_checks"] == ["K=4 (full): max R-hat"]
    verdict, notes = dp.comparison_text("faithful", {"posterior": {2: 1.0}}, {"run": True, "n_active": 2}, 2, loo)
    assert "LOO (choosing_k) disagrees (K = 4, DP posterior probability 0 %)" in verdict
    assert notes[0] == ("faithful: choosing_k's LOO answer (K = 4) comes from a run with 1 failed check(s) "
                        "(K=4 (full): max R-hat): not to be trusted until choosing_k passes.")


def test_comparison_text_names_each_disagreement_and_why():
    sk = {"run": True, "n_active": 2}
    loo = {"available": False, "reason": "no choosing_k record in out", "command": "python -m analyses choosing_k"}
    verdict, notes = dp.comparison_text("bdims", {"posterior": {2: 0.7, 3: 0.3}}, sk, 3, loo)
    assert verdict.startswith("bdims: the DP posterior puts 70 % on 2 active components")
    assert "BIC (EM) disagrees (K = 3, DP posterior probability 30 %)" in verdict and "scikit-learn VB K = 2" in verdict
    assert verdict.endswith("The DP also gives 30 % to K = 3: an uncertainty that the single K of BIC, LOO or "
                            "scikit-learn's point estimate cannot express.")
    assert notes[0] == ("bdims: choosing_k's LOO answer not available (no choosing_k record in out); to get it: "
                        "python -m analyses choosing_k.")
    assert len(notes) == 2 and notes[1].startswith("bdims: BIC picks one K with more components") and "ln N" in notes[1]


def test_a_component_collapsed_on_ties_is_found():
    """Heights rounded to 2.5: an active component of sd 0.5 (0.2 steps) is flagged, one of sd 7 is not;
    inactive components (weight < 1 %) never count."""
    rng = np.random.default_rng(4)
    x = np.column_stack([np.round(rng.normal(170, 8, 400) / 2.5) * 2.5, rng.normal(70, 10, 400)])
    ties = tie_report(x, ["height_cm", "weight_kg"])
    assert ties[0].heavy and ties[0].step is None          # every value repeated, no heaps: the grid's gap is the step
    cov = np.tile(np.diag([49.0, 100.0]), (2, 3, 1, 1))
    cov[:, 1, 0, 0] = 0.25
    cov[:, 2, 0, 0] = 1e-4
    flagged = dp.narrowest_on_ties(x, cov, np.array([[0.6, 0.39, 0.01], [0.6, 0.39, 0.01]]), ties)
    assert list(flagged) == ["height_cm"] and flagged["height_cm"]["step"] == pytest.approx(2.5)
    assert flagged["height_cm"]["ratio"] == pytest.approx(0.2)
    fine = dp.narrowest_on_ties(x, cov, np.array([[0.995, 0.004, 0.001]] * 2), ties)
    assert fine["height_cm"]["ratio"] == pytest.approx(7 / 2.5)


def test_datasets_pass_through_the_ties_check(capsys):
    ctx = Context(name="dp_mixture", settings=Settings())
    tables = dp.datasets(ctx)
    assert [t.name for t in tables] == ["faithful", "bdims"]
    assert ctx.extra["ties"]["bdims"]["heavy"] == ["height_cm"] and not ctx.extra["ties"]["faithful"]["heavy"]
    assert "bdims: WARNING: heavy ties — height_cm: 440 of 507 rows on repeated values" in capsys.readouterr().out


@pytest.fixture
def nothing_built(monkeypatch):
    """Building or sampling a DP model fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a DP model was built")

    monkeypatch.setattr(dp, "gmm_dp_model", refuse)
    monkeypatch.setattr(dp, "sample_dp_posterior", refuse)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--truncation", "1", "truncation T must be a whole number >= 2"),
    ("--truncation", "2.5", "truncation T must be a whole number >= 2, got '2.5'"),
    ("--alpha-shape", "0", "alpha_shape must be > 0"),
    ("--alpha-rate", "-1", "alpha_rate must be > 0"),
    ("--alpha-rate", "nan", "alpha_rate"),
])
def test_bad_settings_exit_2_before_anything_runs(tmp_path, capsys, nothing_built, option, value, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["dp_mixture", option, value, "--out", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"argument {option}: " in err and message in err
    assert not out.exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--truncation", "300"], "dp_mixture on faithful: truncation T = 300 exceeds the number of points N = 272"),
    (["--data", "bdims", "--columns", "height_cm,weight_kg", "--truncation", "600"],
     "dp_mixture on bdims: truncation T = 600 exceeds the number of points N = 507"),
])
def test_truncation_above_n_exits_2_before_a_model_is_built(tmp_path, capsys, nothing_built, argv, message):
    out = tmp_path / "out"
    assert main(["dp_mixture", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {message}")
    assert "heavy ties" not in err[0]                    # bdims' ties are not blamed for a bad setting
    assert not (out / "dp_mixture").exists()


@pytest.mark.slow(seconds=120)  # NUTS on two data sets: ~1-2 min on 2 cores
def test_quick_run_passes_every_check(tmp_path):
    code, out, summary = run_quick(tmp_path, ["dp_mixture"])
    checks, failed = checks_of(summary, "dp_mixture")
    assert code == 0 and not failed, failed
    extra = summary["analyses"]["dp_mixture"]
    for name in ("faithful", "bdims"):
        quantities = " | ".join(c["quantity"] for c in checks if c["dataset"] == name)
        for wanted in ("label-invariant", "max R-hat", "min bulk ESS", "divergences", "truncation",
                       "log-likelihood of 20 posterior draws", "posterior mean of α"):
            assert wanted in quantities, (name, wanted)
        for png in ("components_alpha", "density"):
            assert (out / "dp_mixture" / f"{name}_{png}.png").is_file()
        result = extra[name]
        assert abs(sum(result["active_components"]["posterior"].values()) - 1.0) < 1e-12
        assert result["sklearn"]["run"] and result["truncation"]["adequate"]
        assert not result["loo"]["available"] and result["loo"]["command"].startswith("python -m analyses choosing_k")
    assert "rounding step" in " | ".join(c["quantity"] for c in checks if c["dataset"] == "bdims")
    assert any(note.startswith("faithful: the DP posterior puts") for note in extra["notes"])
    assert "not an identification" in extra["identification"]
