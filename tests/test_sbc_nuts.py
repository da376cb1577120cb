"""NUTS simulation-based calibration of the three PyMC families (analyses/sbc.py).

Reference: under a correct posterior sampler the rank of the true parameter among L = 99
thinned posterior draws is uniform on {0..99}; each parameter's 200 ranks are tested by χ²
over 20 equal bins at p > 0.001 (fixed seeds, so the verdict is reproducible). The three slow
SBC tests took 48 + 157 + 227 s on the 2-core machine (with other work running), the --quick
analysis 68 s; the fast tests check that the frozen priors are the distributions the analysis
says they are.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from analyses.sbc import FAMILIES, FULL, GMM_PRIOR, N_DRAWS, P_MIN, convergence_summary, reference_sample, run_family

#: One fixed seed per family.
SEEDS = {"normal_weak": 101, "mvn_lkj": 202, "gmm_k2": 303}
#: Scalars ranked per family.
N_PARAMS = {"normal_weak": 2, "mvn_lkj": 5, "gmm_k2": 6}


# --------------------------------------------------------------------------- fast: the frozen priors


def test_reference_sample_has_mean_zero_and_sd_one():
    x = reference_sample(20)
    xy = reference_sample(30, 2)
    assert x.shape == (20,) and xy.shape == (30, 2)
    np.testing.assert_allclose([x.mean(), x.std()], [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(xy.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(xy.std(axis=0), 1.0, atol=1e-12)
    assert abs(np.corrcoef(xy.T)[0, 1]) < 0.9   # the columns are not copies of each other


def _prior(name: str, draws: int = 4000):
    import pymc as pm

    problem = FAMILIES[name]()
    prior = pm.sample_prior_predictive(draws=draws, model=problem.model, random_seed=7).prior
    return problem, prior


def test_frozen_weak_prior_is_the_stated_distribution():
    """μ ~ N(0, 10²), σ ~ HalfNormal(5): KS against scipy at p > 0.001 (4000 draws)."""
    _, prior = _prior("normal_weak")
    assert stats.kstest(prior["mu"].values.ravel(), stats.norm(0, 10).cdf).pvalue > P_MIN
    assert stats.kstest(prior["sigma"].values.ravel(), stats.halfnorm(scale=5).cdf).pvalue > P_MIN


def test_frozen_lkj_prior_is_the_stated_distribution():
    """μ_j ~ N(0, 10²), sd_j ~ HalfNormal(5), and for D = 2, LKJ(η = 2) gives ρ = 2B − 1 with
    B ~ Beta(2, 2): KS against scipy at p > 0.001 (4000 draws)."""
    _, prior = _prior("mvn_lkj")
    for j in range(2):
        assert stats.kstest(prior["mu"].values[0, :, j], stats.norm(0, 10).cdf).pvalue > P_MIN
        assert stats.kstest(prior["chol_stds"].values[0, :, j], stats.halfnorm(scale=5).cdf).pvalue > P_MIN
    rho = prior["rho"].values.ravel()
    assert stats.kstest((rho + 1) / 2, stats.beta(2, 2).cdf).pvalue > P_MIN


def test_gmm_prior_draws_are_kept_only_when_ordered():
    """Forward sampling ignores the ordered transform: ``keep_prior`` must reject exactly the
    unordered draws; w[0] ~ Beta(α, α) and prec_c ~ χ²(ν) (KS at p > 0.001, 4000 draws)."""
    problem, prior = _prior("gmm_k2")
    mu = prior["mu_first"].values[0]                                       # (draws, 2)
    kept = np.array([problem.keep_prior(prior, i) for i in range(mu.shape[0])])
    np.testing.assert_array_equal(kept, mu[:, 0] < mu[:, 1])
    # P(mu_0 < mu_1) for independent N(-1, s²), N(1, s²): Φ(2 / (s √2)).
    expected = stats.norm.cdf(2.0 / (GMM_PRIOR["mu_prior_sd"] * np.sqrt(2.0)))
    assert kept.mean() == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / kept.size))
    alpha, dof = GMM_PRIOR["dirichlet_alpha"], GMM_PRIOR["wishart_dof"]
    assert stats.kstest(prior["w"].values[0, :, 0], stats.beta(alpha, alpha).cdf).pvalue > P_MIN
    assert stats.kstest(prior["prec_c"].values[0].ravel(), stats.chi2(dof).cdf).pvalue > P_MIN


# --------------------------------------------------------------------------- slow: 200 NUTS fits per family


#: Rough seconds per family on the 2-core machine (tests/conftest.py balances the workers with them).
SBC_SECONDS = {"normal_weak": 50, "mvn_lkj": 160, "gmm_k2": 230}


@pytest.mark.parametrize("family", [pytest.param(name, marks=pytest.mark.slow(seconds=SBC_SECONDS[name]))
                                    for name in FAMILIES])
def test_nuts_sbc_ranks_are_uniform(family):
    """200 simulations, L = 99 draws thinned from 2 x 250 (2 x 500 for the GMM): χ² p > 0.001
    for every parameter.

    Also the premise of the thinning: in at least 80 % of the simulations the worst bulk ESS
    exceeds L = 99, so the kept draws are near-independent.
    """
    result = run_family(family, seed=SEEDS[family], settings=FULL)
    conv = convergence_summary(result)
    report = {"pvalues": dict(zip(result.names, np.round(result.pvalues, 4).tolist())), **conv,
              "wall_seconds": result.extra["wall_seconds"]}
    print(f"\n{family}: {json.dumps(report)}")
    assert result.ranks.shape == (FULL.n_sims, N_PARAMS[family])
    assert result.ranks.min() >= 0 and result.ranks.max() <= N_DRAWS
    assert result.min_pvalue > P_MIN, report
    assert conv["fraction_ess_bulk_ge_L"] >= 0.8, report


# --------------------------------------------------------------------------- the opt-in analysis, --quick


@pytest.mark.slow(seconds=100)
def test_sbc_analysis_quick_run_passes_and_writes_its_figures(tmp_path):
    """``python -m analyses sbc --quick`` through the runner (about 90 s: 30 NUTS simulations per
    family and ~30 s of compilation): every χ² check passes (p > 0.001), one check per ranked
    scalar (4 exact cases with 1 + 1 + 2 + 5 scalars, NUTS 2 + 5 + 6), seed and settings recorded."""
    from analyses.runner import OPT_IN_ANALYSES, main

    assert "sbc" in OPT_IN_ANALYSES
    out = tmp_path / "results"
    code = main(["sbc", "--quick", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    failed = [c for c in summary["checks"] if not c["passed"]]
    assert code == 0 and not failed, failed
    assert len(summary["checks"]) == 9 + 13
    assert all(c["reference_value"] == P_MIN for c in summary["checks"])
    extra = summary["analyses"]["sbc"]
    assert extra["settings"]["n_sims"] == 30 and extra["settings"]["n_draws_ranked"] == N_DRAWS
    assert set(extra["nuts"]) == set(FAMILIES)
    for name, row in extra["nuts"].items():
        assert 0 <= row["convergence"]["fraction_rhat_le_1.01"] <= 1
        ranks = json.loads((out / "sbc" / f"sbc_{name}_ranks.json").read_text())
        assert np.shape(ranks["ranks"]) == (30, N_PARAMS[name]) and ranks["seed"] == row["seed"]
        assert (out / "sbc" / f"sbc_nuts_{name}.png").stat().st_size > 10_000
    for name in ("normal_mean", "gamma_precision", "normal_gamma", "normal_wishart"):
        assert (out / "sbc" / f"sbc_exact_{name}.png").stat().st_size > 10_000
