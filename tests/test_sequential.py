"""models.sequential: every row of every trajectory equals its batch counterpart (~1e-12 relative)."""

from __future__ import annotations

import numpy as np
import pytest

from models.conjugate import GammaPrecisionKnownMean, NormalGamma, NormalMeanKnownVariance
from models.conjugate_mvn import NormalWishart
from models.sequential import (
    online_mean,
    robbins_monro_mean,
    sequential_gamma_precision,
    sequential_normal_gamma,
    sequential_normal_mean,
    sequential_normal_wishart,
    welford,
)
from models.validation import DataError

RTOL = 1e-12


@pytest.fixture
def rng():
    return np.random.default_rng(11)


@pytest.fixture
def x1(rng):
    return rng.normal(171.0, 8.0, size=300)


@pytest.fixture
def x2(rng):
    return rng.multivariate_normal([171.0, 70.0], [[50.0, 35.0], [35.0, 120.0]], size=120)


def prefix_means(x):
    return np.array([np.mean(x[: k + 1], axis=0) for k in range(len(x))])


def test_online_mean_equals_prefix_means(x1, x2):
    np.testing.assert_allclose(online_mean(x1), prefix_means(x1), rtol=RTOL)
    assert online_mean(x2).shape == x2.shape
    np.testing.assert_allclose(online_mean(x2), prefix_means(x2), rtol=RTOL)


def test_welford_equals_numpy_on_every_prefix(x1, x2):
    m1 = welford(x1)
    np.testing.assert_allclose(m1.mean, prefix_means(x1), rtol=RTOL)
    ref0 = np.array([np.var(x1[: k + 1]) for k in range(1, len(x1))])
    ref1 = np.array([np.var(x1[: k + 1], ddof=1) for k in range(1, len(x1))])
    np.testing.assert_allclose(m1.covariance(0)[1:], ref0, rtol=1e-11)
    np.testing.assert_allclose(m1.covariance(1)[1:], ref1, rtol=1e-11)
    assert m1.covariance(0)[0] == 0.0 and np.isnan(m1.covariance(1)[0])

    m2 = welford(x2)
    assert m2.scatter.shape == (120, 2, 2)
    ref = np.array([np.cov(x2[: k + 1], rowvar=False, bias=True) for k in range(1, len(x2))])
    # Off-diagonal entries of short prefixes can be near 0: absolute floor at 1e-12 of the scale.
    np.testing.assert_allclose(m2.covariance(0)[1:], ref, rtol=1e-11, atol=1e-12 * np.abs(ref).max())
    ref = np.array([np.cov(x2[: k + 1], rowvar=False, ddof=1) for k in range(1, len(x2))])
    np.testing.assert_allclose(m2.covariance(1)[1:], ref, rtol=1e-11, atol=1e-12 * np.abs(ref).max())


def test_welford_stays_accurate_far_from_zero(rng):
    """Data offset by 1e9: the textbook Σx²/N - x̄² loses every digit, Welford keeps ~7."""
    x = 1e9 + rng.normal(0.0, 1.0, size=1000)
    exact = np.var(x - 1e9)  # the shift is exact in float64 for these magnitudes
    naive = np.mean(x**2) - np.mean(x) ** 2
    assert abs(naive - exact) / exact > 1e-2
    np.testing.assert_allclose(welford(x).covariance(0)[-1], exact, rtol=1e-6)


def test_robbins_monro_with_sigma2_over_n_is_the_online_mean(x1, x2):
    """PRML 2.135 with a_N = σ²/N reproduces 2.126 — whatever the starting value."""
    np.testing.assert_allclose(robbins_monro_mean(x1, 8.0, theta0=-50.0), online_mean(x1), rtol=RTOL)
    np.testing.assert_allclose(robbins_monro_mean(x2, 3.0, theta0=[1.0, 2.0]), online_mean(x2), rtol=RTOL)


def test_robbins_monro_other_steps_converge_but_differ(rng):
    x = rng.normal(5.0, 2.0, size=20_000)
    slow = robbins_monro_mean(x, 2.0, theta0=0.0, step=lambda n: 4.0 / n**0.7)
    assert not np.allclose(slow, online_mean(x))
    # a_n ∝ n^-0.7 satisfies 2.130–2.132, so θ converges to the root μ = 5, with stationary
    # sd ≈ √(σ² γ_N / 2) for the effective gain γ_N = a_N/σ² = N^-0.7 (about 0.044 here).
    assert abs(slow[-1] - 5.0) < 5 * np.sqrt(4.0 * x.size**-0.7 / 2)
    steps = np.full(x.size, 0.01)  # constant a_n violates 2.130 but still is a valid array input
    assert robbins_monro_mean(x, 2.0, step=steps).shape == x.shape


def test_sequential_normal_mean_equals_batch_on_every_prefix(x1):
    prior = NormalMeanKnownVariance(160.0, 15.0, 8.0)
    traj = sequential_normal_mean(prior, x1)
    assert traj.mu_N.shape == traj.sigma_N.shape == traj.n.shape == (301,)
    assert (traj.mu_N[0], traj.sigma_N[0], traj.n[0]) == (160.0, 15.0, 0)
    batch = np.array([[p.mu_N, p.sigma_N] for p in (prior.posterior(x1[:k]) for k in range(1, 301))])
    np.testing.assert_allclose(np.c_[traj.mu_N[1:], traj.sigma_N[1:]], batch, rtol=RTOL)
    assert traj.posterior(300).n_obs == 300


def test_sequential_gamma_precision_equals_batch(x1):
    prior = GammaPrecisionKnownMean(171.0, 2.0, 50.0)
    traj = sequential_gamma_precision(prior, x1)
    batch = np.array([[p.a_N, p.b_N] for p in (prior.posterior(x1[:k]) for k in range(1, 301))])
    np.testing.assert_allclose(np.c_[traj.a_N[1:], traj.b_N[1:]], batch, rtol=RTOL)


def test_sequential_normal_gamma_equals_batch(x1):
    prior = NormalGamma(160.0, 0.5, 2.0, 60.0)
    traj = sequential_normal_gamma(prior, x1)
    batch = np.array([[p.mu_N, p.kappa_N, p.a_N, p.b_N] for p in (prior.posterior(x1[:k]) for k in range(1, 301))])
    seq = np.c_[traj.mu_N, traj.kappa_N, traj.a_N, traj.b_N][1:]
    np.testing.assert_allclose(seq, batch, rtol=RTOL)
    # Continuing from a posterior gives the same end point.
    half = sequential_normal_gamma(prior.posterior(x1[:100]), x1[100:])
    np.testing.assert_allclose(half.b_N[-1], traj.b_N[-1], rtol=RTOL)
    assert half.n[-1] == 300


def test_sequential_normal_wishart_equals_batch(x2):
    prior = NormalWishart([165.0, 65.0], 2.0, np.diag([1 / 400, 1 / 900]), 4.0)
    traj = sequential_normal_wishart(prior, x2)
    assert traj.m_N.shape == (121, 2) and traj.W_N.shape == (121, 2, 2)
    for k in (1, 2, 5, 30, 120):
        p = prior.posterior(x2[:k])
        np.testing.assert_allclose(traj.m_N[k], p.m_N, rtol=RTOL)
        np.testing.assert_allclose(traj.W_N[k], p.W_N, rtol=1e-10)  # W_N passes through one SPD inverse
        assert (traj.beta_N[k], traj.nu_N[k]) == (p.beta_N, p.nu_N)
    np.testing.assert_array_equal(traj.W_N[0], prior.W0)
    np.testing.assert_allclose(traj.posterior(120).mean_Sigma, prior.posterior(x2).mean_Sigma, rtol=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: online_mean([1.0, np.nan]), "NaN"),
        (lambda: welford(np.zeros((2, 2, 2))), "1-D .* or 2-D"),
        (lambda: welford("123"), "string"),
        (lambda: robbins_monro_mean([1.0, 2.0], 0.0), "sigma must be > 0"),
        (lambda: robbins_monro_mean([1.0, 2.0], 1.0, step=[1.0]), r"shape \(2,\)"),
        (lambda: robbins_monro_mean([1.0, 2.0], 1.0, step=lambda n: -1.0), "> 0"),
        (lambda: robbins_monro_mean(np.ones((3, 2)), 1.0, theta0=[0.0, 0.0, 0.0]), r"shape \(2,\)"),
        (lambda: robbins_monro_mean([1.0, 2.0], 1.0, theta0="0"), "theta0 must be a real number"),
        (lambda: sequential_normal_mean(NormalGamma(0, 1, 1, 1), [1.0]), "NormalMeanKnownVariance"),
        (lambda: sequential_normal_gamma(NormalGamma(0, 1, 1, 1), [[1.0, 2.0]]), "1-D"),
        (lambda: sequential_normal_wishart(NormalWishart([0, 0], 1, np.eye(2), 3), np.ones((3, 3))), "2 column"),
        (lambda: welford(np.ones(3)).covariance(2), "ddof"),
    ],
)
def test_bad_input_raises_dataerror(call, match):
    with pytest.raises(DataError, match=match):
        call()
