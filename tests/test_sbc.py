"""models.sbc: the rank machinery accepts a correct posterior sampler and catches wrong ones;
then exact-draw SBC for every conjugate closed form (1000 simulations, χ² over 20 bins)."""

import numpy as np
import pytest
from scipy import stats

from models.sbc import rank_uniformity, simulate_ranks, thin_draws

N_SIMS = 1000
L = 99  # 100 possible ranks -> 20 bins of 5
P_MIN = 0.001


def _normal_normal(scale_error=1.0, shift=0.0):
    """Normal mean, known sigma=1, prior N(0, 2^2), n=5 points; the posterior written out by hand
    (independently of models.conjugate) and optionally distorted."""
    n, tau0 = 5, 2.0

    def prior(rng):
        return rng.normal(0.0, tau0, size=1)

    def simulate(theta, rng):
        return rng.normal(theta[0], 1.0, size=n)

    def posterior(y, n_draws, rng):
        var = 1.0 / (1.0 / tau0**2 + n)
        mean = var * y.sum()
        return rng.normal(mean + shift * np.sqrt(var), scale_error * np.sqrt(var), size=(n_draws, 1))

    return prior, simulate, posterior


def test_exact_sampler_is_calibrated(rng):
    result = simulate_ranks(*_normal_normal(), n_sims=N_SIMS, n_draws=L, rng=rng)
    assert result.ranks.shape == (N_SIMS, 1)
    assert result.ranks.min() >= 0 and result.ranks.max() <= L
    assert result.min_pvalue > P_MIN


@pytest.mark.parametrize("scale_error, shift", [(0.6, 0.0), (1.6, 0.0), (1.0, 0.5)])
def test_miscalibrated_sampler_is_detected(rng, scale_error, shift):
    result = simulate_ranks(*_normal_normal(scale_error, shift), n_sims=N_SIMS, n_draws=L, rng=rng)
    assert result.min_pvalue < P_MIN


def test_rank_uniformity_matches_scipy_chisquare():
    ranks = np.random.default_rng(3).integers(0, L + 1, size=(500, 2))
    chi2, p = rank_uniformity(ranks, L, n_bins=20)
    counts = np.histogram(ranks[:, 1], bins=np.arange(0, L + 2, 5))[0]
    ref = stats.chisquare(counts)
    assert chi2[1] == pytest.approx(ref.statistic, rel=1e-12)
    assert p[1] == pytest.approx(ref.pvalue, rel=1e-12)
    with pytest.raises(ValueError, match="equal bins"):
        rank_uniformity(ranks, 98, n_bins=20)


def test_thin_draws_interleaves_chains():
    draws = np.arange(2 * 10).reshape(2, 10)  # chain 0: 0..9, chain 1: 10..19
    np.testing.assert_array_equal(thin_draws(draws, 5), [0, 4, 9, 10, 19])
    np.testing.assert_array_equal(thin_draws(draws, 4), [0, 9, 10, 19])
    assert thin_draws(np.zeros((2, 10, 3)), 6).shape == (6, 3)
    with pytest.raises(ValueError):
        thin_draws(draws, 21)


# ----------------------------------------------------------------- exact-draw SBC of the closed forms
# The prior is sampled, data simulated, and the *closed-form* posterior's exact draws ranked. A wrong
# posterior formula (e.g. a missing factor in b_N) makes ranks non-uniform; a correct one passes.

from models.conjugate import GammaPrecisionKnownMean, NormalGamma, NormalMeanKnownVariance  # noqa: E402
from models.conjugate_mvn import NormalWishart  # noqa: E402

N_OBS = 8


def _sbc_normal_mean(rng):
    prior = NormalMeanKnownVariance(mu0=1.0, sigma0=2.0, sigma=1.5)
    return simulate_ranks(
        lambda r: prior.sample(r, 1),
        lambda th, r: r.normal(th[0], prior.sigma, size=N_OBS),
        lambda y, n, r: prior.posterior(y).sample(r, n)[:, None],
        n_sims=N_SIMS, n_draws=L, rng=rng, names=["mu"])


def _sbc_gamma_precision(rng):
    prior = GammaPrecisionKnownMean(mu=0.5, a0=3.0, b0=2.0)
    return simulate_ranks(
        lambda r: prior.sample(r, 1),
        lambda th, r: r.normal(prior.mu, th[0] ** -0.5, size=N_OBS),
        lambda y, n, r: prior.posterior(y).sample(r, n)[:, None],
        n_sims=N_SIMS, n_draws=L, rng=rng, names=["tau"])


def _sbc_normal_gamma(rng):
    prior = NormalGamma(mu0=0.0, kappa0=0.5, a0=3.0, b0=2.0)

    def draw_prior(r):
        d = prior.sample(r, 1)
        return np.array([d.mu[0], d.tau[0]])

    def draw_posterior(y, n, r):
        d = prior.posterior(y).sample(r, n)
        return np.column_stack([d.mu, d.tau])

    return simulate_ranks(draw_prior, lambda th, r: r.normal(th[0], th[1] ** -0.5, size=N_OBS), draw_posterior,
                          n_sims=N_SIMS, n_draws=L, rng=rng, names=["mu", "tau"])


def _sbc_normal_wishart(rng):
    prior = NormalWishart(m0=np.array([0.0, 1.0]), beta0=2.0, W0=np.array([[0.5, 0.1], [0.1, 0.3]]), nu0=5.0)
    tril = np.tril_indices(2)

    def flat(d, i):
        return np.concatenate([d.mu[i], d.Lambda[i][tril]])

    def draw_prior(r):
        return flat(prior.sample(r, 1), 0)

    def simulate(th, r):
        mu = th[:2]
        lam = np.zeros((2, 2))
        lam[tril] = th[2:]
        lam = lam + np.tril(lam, -1).T
        return r.multivariate_normal(mu, np.linalg.inv(lam), size=N_OBS)

    def draw_posterior(y, n, r):
        d = prior.posterior(y).sample(r, n)
        return np.stack([flat(d, i) for i in range(n)])

    return simulate_ranks(draw_prior, simulate, draw_posterior, n_sims=N_SIMS, n_draws=L, rng=rng,
                          names=["mu[0]", "mu[1]", "Lambda[0,0]", "Lambda[1,0]", "Lambda[1,1]"])


@pytest.mark.parametrize("sbc", [_sbc_normal_mean, _sbc_gamma_precision, _sbc_normal_gamma, _sbc_normal_wishart],
                         ids=["normal-mean", "gamma-precision", "normal-gamma", "normal-wishart"])
def test_exact_conjugate_posteriors_are_calibrated(sbc, rng):
    result = sbc(rng)
    assert result.ranks.shape[0] == N_SIMS
    assert result.min_pvalue > P_MIN, dict(zip(result.names, result.pvalues))


def test_exact_sbc_detects_a_wrong_posterior_formula(rng):
    # Dropping the prior's pseudo-observations from a_N (a_N = N/2 instead of a0 + N/2) must be caught.
    prior = GammaPrecisionKnownMean(mu=0.5, a0=3.0, b0=2.0)

    def wrong_posterior(y, n, r):
        post = prior.posterior(y)
        return r.gamma(post.a_N - prior.a0, 1.0 / post.b_N, size=(n, 1))

    result = simulate_ranks(lambda r: prior.sample(r, 1), lambda th, r: r.normal(prior.mu, th[0] ** -0.5, size=N_OBS),
                            wrong_posterior, n_sims=N_SIMS, n_draws=L, rng=rng)
    assert result.min_pvalue < P_MIN


# --------------------------------------------------------------------------- NUTS SBC machinery on a toy model


def _toy_model(y):
    """y_n ~ N(mu, sigma), mu ~ N(0, 1), sigma ~ HalfNormal(1); N = len(y)."""
    import pymc as pm

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", mu, sigma, observed=y)
    return model


def test_swapped_observed_data_gives_the_logp_of_a_model_built_on_it(rng):
    from models.sbc import with_swappable_observed

    y0, y1 = rng.normal(size=12), rng.normal(loc=2.0, size=12)
    swapped, shared = with_swappable_observed(_toy_model(y0), "y")
    shared.set_value(y1)
    point = {"mu": 0.3, "sigma_log__": np.log(1.7)}
    expected = _toy_model(y1).compile_logp()(point)
    assert swapped.compile_logp()(point) == pytest.approx(expected, rel=1e-12)
    assert expected != pytest.approx(_toy_model(y0).compile_logp()(point), rel=1e-3)


def test_unknown_observed_name_is_refused():
    from models.sbc import with_swappable_observed

    with pytest.raises(ValueError, match="no observed variable 'x'.*\\['y'\\]"):
        with_swappable_observed(_toy_model(np.zeros(3)), "x")


@pytest.mark.slow(seconds=80)  # 120 NUTS fits
def test_nuts_sbc_toy_model_is_calibrated_and_a_biased_prior_is_caught():
    """60 simulations (L = 99 draws thinned from 2 x 200): calibrated NUTS passes the chi-square
    test. Control: with one observation the prior dominates the posterior, so keeping only prior
    draws with mu > 0.5 while ranking against the full-prior posterior piles the ranks up at the
    top and fails it."""
    from models.sbc import pymc_sbc

    model = _toy_model(np.zeros(8))
    kwargs = dict(n_sims=60, n_draws=99, draws=200, tune=300, chains=2)
    good = pymc_sbc(model, "y", ["mu", "sigma"], seed=11, **kwargs)
    assert good.ranks.shape == (60, 2) and good.ranks.max() <= 99
    assert good.min_pvalue > 1e-3
    assert max(good.extra["divergences"]) <= 2
    biased = pymc_sbc(_toy_model(np.zeros(1)), "y", ["mu", "sigma"], seed=11,
                      keep_prior=lambda prior, i: float(prior["mu"].values[0, i]) > 0.5, **kwargs)
    assert biased.pvalues[0] < 1e-3
    assert np.mean(biased.ranks[:, 0]) > 0.6 * 99
