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
