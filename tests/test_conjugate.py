"""models.conjugate and models.conjugate_mvn against independent routes.

* Bayes' rule itself: log posterior - log prior - log likelihood is the same constant (-ln p(x))
  at every parameter value, with every density from scipy.stats.
* Brute-force numerical integration (grids, scipy.integrate.quad) of prior × likelihood.
* Exact draws against the closed-form moments, within 5 Monte Carlo standard errors.
* Predictives against sample-then-draw Monte Carlo.
* NormalWishart with D = 1 against NormalGamma (a = ν/2, b = 1/(2W)).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from models.conjugate import (
    ConjugatePrior,
    GammaPrecisionKnownMean,
    GammaPrecisionPosterior,
    NormalGamma,
    NormalGammaPosterior,
    NormalMeanKnownVariance,
    NormalMeanPosterior,
    round_sig,
)
from models.conjugate_mvn import NormalWishart, NormalWishartPosterior
from models.validation import DataError

N_DRAWS = 100_000
Z = 5.0  # Monte Carlo tolerance in standard errors


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def heights(rng):
    return rng.normal(171.0, 8.0, size=25)


@pytest.fixture
def height_weight(rng):
    cov = np.array([[50.0, 35.0], [35.0, 120.0]])
    return rng.multivariate_normal([171.0, 70.0], cov, size=30)


def assert_mean_within_mc(draws, expected, z=Z):
    """Mean of ``draws`` (S, ...) within z standard errors of ``expected``."""
    se = draws.std(axis=0, ddof=1) / np.sqrt(draws.shape[0])
    assert np.all(np.abs(draws.mean(axis=0) - expected) <= z * se), (draws.mean(axis=0), expected, se)


def assert_var_within_mc(draws, expected, z=Z):
    """Variance of ``draws`` (S, ...) within z standard errors, SE from the fourth central moment."""
    c = draws - draws.mean(axis=0)
    var = np.mean(c**2, axis=0)
    se = np.sqrt((np.mean(c**4, axis=0) - var**2) / draws.shape[0])
    assert np.all(np.abs(var - expected) <= z * se), (var, expected, se)


def assert_constant(values, rtol=1e-10):
    values = np.asarray(values)
    assert np.ptp(values) <= rtol * np.max(np.abs(values)), values


# --------------------------------------------------------------------------- Bayes' rule


def test_normal_mean_posterior_is_prior_times_likelihood(rng, heights):
    prior = NormalMeanKnownVariance(160.0, 15.0, 8.0)
    post = prior.posterior(heights)
    mus = rng.uniform(150, 190, size=7)
    log_ratio = [stats.norm(post.mu_N, post.sigma_N).logpdf(m) - stats.norm(160.0, 15.0).logpdf(m)
                 - stats.norm(m, 8.0).logpdf(heights).sum() for m in mus]
    assert_constant(log_ratio)


def test_gamma_precision_posterior_is_prior_times_likelihood(rng, heights):
    prior = GammaPrecisionKnownMean(171.0, 2.0, 50.0)
    post = prior.posterior(heights)
    taus = rng.uniform(0.002, 0.05, size=7)
    log_ratio = [stats.gamma(post.a_N, scale=1 / post.b_N).logpdf(t) - stats.gamma(2.0, scale=1 / 50.0).logpdf(t)
                 - stats.norm(171.0, t**-0.5).logpdf(heights).sum() for t in taus]
    assert_constant(log_ratio)


def normal_gamma_logpdf(mu, tau, m, kappa, a, b):
    return stats.norm(m, (kappa * tau) ** -0.5).logpdf(mu) + stats.gamma(a, scale=1 / b).logpdf(tau)


def test_normal_gamma_posterior_is_prior_times_likelihood(rng, heights):
    prior = NormalGamma(160.0, 0.5, 2.0, 60.0)
    p = prior.posterior(heights)
    log_ratio = []
    for mu, tau in zip(rng.uniform(160, 180, 7), rng.uniform(0.005, 0.05, 7)):
        log_ratio.append(normal_gamma_logpdf(mu, tau, p.mu_N, p.kappa_N, p.a_N, p.b_N)
                         - normal_gamma_logpdf(mu, tau, 160.0, 0.5, 2.0, 60.0)
                         - stats.norm(mu, tau**-0.5).logpdf(heights).sum())
    assert_constant(log_ratio)


def normal_wishart_logpdf(mu, Lam, m, beta, W, nu):
    return (stats.multivariate_normal(m, np.linalg.inv(beta * Lam)).logpdf(mu)
            + stats.wishart(df=nu, scale=W).logpdf(Lam))


def test_normal_wishart_posterior_is_prior_times_likelihood(rng, height_weight):
    prior = NormalWishart([165.0, 65.0], 2.0, np.diag([1 / 400, 1 / 900]), 4.0)
    p = prior.posterior(height_weight)
    log_ratio = []
    for _ in range(7):
        mu = rng.normal([171, 70], 3.0)
        Lam = stats.wishart(df=20, scale=np.linalg.inv([[50.0, 35.0], [35.0, 120.0]]) / 20).rvs(random_state=rng)
        log_ratio.append(normal_wishart_logpdf(mu, Lam, p.m_N, p.beta_N, p.W_N, p.nu_N)
                         - normal_wishart_logpdf(mu, Lam, prior.m0, prior.beta0, prior.W0, prior.nu0)
                         - stats.multivariate_normal(mu, np.linalg.inv(Lam)).logpdf(height_weight).sum())
    assert_constant(log_ratio)


# --------------------------------------------------------------------------- numerical integration


def test_normal_mean_posterior_matches_grid(heights):
    post = NormalMeanKnownVariance(160.0, 15.0, 8.0).posterior(heights)
    grid = np.linspace(150, 195, 20001)
    logp = stats.norm(160.0, 15.0).logpdf(grid) + stats.norm.logpdf(heights[:, None], grid, 8.0).sum(axis=0)
    w = np.exp(logp - logp.max())
    w /= integrate.trapezoid(w, grid)
    mean = integrate.trapezoid(grid * w, grid)
    sd = np.sqrt(integrate.trapezoid((grid - mean) ** 2 * w, grid))
    np.testing.assert_allclose([mean, sd], [post.mu_N, post.sigma_N], rtol=1e-8)
    # 2.141 in the book's own form:
    n, s2, s02 = heights.size, 64.0, 225.0
    mu_2141 = s2 / (n * s02 + s2) * 160.0 + n * s02 / (n * s02 + s2) * heights.mean()
    np.testing.assert_allclose(post.mu_N, mu_2141, rtol=1e-13)


def test_gamma_precision_posterior_matches_grid(heights):
    post = GammaPrecisionKnownMean(171.0, 2.0, 50.0).posterior(heights)
    grid = np.linspace(1e-6, 0.3, 60001)
    logp = stats.gamma(2.0, scale=1 / 50).logpdf(grid) + stats.norm.logpdf(heights[:, None], 171.0, grid**-0.5).sum(0)
    w = np.exp(logp - logp.max())
    w /= integrate.trapezoid(w, grid)
    mean = integrate.trapezoid(grid * w, grid)
    sd = np.sqrt(integrate.trapezoid((grid - mean) ** 2 * w, grid))
    tau = post.marginal_tau()
    np.testing.assert_allclose([mean, sd], [post.a_N / post.b_N, np.sqrt(post.a_N) / post.b_N], rtol=1e-7)
    np.testing.assert_allclose([tau.mean(), tau.std()], [mean, sd], rtol=1e-7)


def test_normal_gamma_marginals_match_2d_grid(heights):
    post = NormalGamma(160.0, 0.5, 2.0, 60.0).posterior(heights)
    mu = np.linspace(150, 195, 1501)
    tau = np.linspace(1e-6, 0.1, 1201)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    logp = normal_gamma_logpdf(M, T, 160.0, 0.5, 2.0, 60.0)
    # The likelihood through its sufficient statistics (PRML 2.152), to keep the grid in memory.
    n, xbar, ss = heights.size, heights.mean(), np.sum((heights - heights.mean()) ** 2)
    logp += 0.5 * n * np.log(T / (2 * np.pi)) - 0.5 * T * (ss + n * (xbar - M) ** 2)
    w = np.exp(logp - logp.max())
    w /= integrate.trapezoid(integrate.trapezoid(w, tau, axis=1), mu)
    p_mu = integrate.trapezoid(w, tau, axis=1)
    p_tau = integrate.trapezoid(w, mu, axis=0)
    m_mu = integrate.trapezoid(mu * p_mu, mu)
    m_tau = integrate.trapezoid(tau * p_tau, tau)
    sd_mu = np.sqrt(integrate.trapezoid((mu - m_mu) ** 2 * p_mu, mu))
    sd_tau = np.sqrt(integrate.trapezoid((tau - m_tau) ** 2 * p_tau, tau))
    t_mu, g_tau = post.marginal_mu(), post.marginal_tau()
    np.testing.assert_allclose([m_mu, sd_mu], [t_mu.mean(), t_mu.std()], rtol=1e-9)
    np.testing.assert_allclose([m_tau, sd_tau], [g_tau.mean(), g_tau.std()], rtol=1e-9)
    # The marginal density itself, at grid points, not only its moments.
    np.testing.assert_allclose(p_mu[::50], t_mu.pdf(mu[::50]), rtol=1e-8, atol=1e-14)


def test_normal_gamma_mu_marginal_is_gamma_mixture_of_normals(heights):
    """p(μ | x) = ∫ N(μ | mu_N, 1/(kappa_N τ)) Gam(τ | a_N, b_N) dτ (PRML 2.158), by quadrature."""
    p = NormalGamma(160.0, 0.5, 2.0, 60.0).posterior(heights)
    g = stats.gamma(p.a_N, scale=1 / p.b_N)
    for mu in p.mu_N + np.array([-6.0, -1.0, 0.0, 0.7, 4.0]):
        ref, _ = integrate.quad(lambda t: stats.norm.pdf(mu, p.mu_N, (p.kappa_N * t) ** -0.5) * g.pdf(t),
                                0, np.inf, epsabs=0, epsrel=1e-12, limit=200)
        np.testing.assert_allclose(p.marginal_mu().pdf(mu), ref, rtol=1e-8)


@pytest.mark.parametrize("x_new", [150.0, 168.0, 172.0, 190.0])
def test_predictives_match_quadrature(heights, x_new):
    nm = NormalMeanKnownVariance(160.0, 15.0, 8.0).posterior(heights)
    ref, _ = integrate.quad(lambda m: stats.norm.pdf(x_new, m, 8.0) * nm.marginal_mu().pdf(m),
                            nm.mu_N - 30 * nm.sigma_N, nm.mu_N + 30 * nm.sigma_N, epsabs=0, epsrel=1e-12)
    np.testing.assert_allclose(nm.predictive().pdf(x_new), ref, rtol=1e-8)

    gp = GammaPrecisionKnownMean(171.0, 2.0, 50.0).posterior(heights)
    ref, _ = integrate.quad(lambda t: stats.norm.pdf(x_new, 171.0, t**-0.5) * gp.marginal_tau().pdf(t), 0, np.inf,
                            epsabs=0, epsrel=1e-12, limit=200)
    np.testing.assert_allclose(gp.predictive().pdf(x_new), ref, rtol=1e-8)

    # Both parameters unknown: a 2-D trapezoid over (μ, τ) of N(x | μ, 1/τ) p(μ, τ | x).
    ng = NormalGamma(160.0, 0.5, 2.0, 60.0).posterior(heights)
    mu, tau = np.linspace(ng.mu_N - 25, ng.mu_N + 25, 1501), np.linspace(1e-6, 0.1, 1201)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    f = stats.norm.pdf(x_new, M, T**-0.5) * np.exp(normal_gamma_logpdf(M, T, ng.mu_N, ng.kappa_N, ng.a_N, ng.b_N))
    ref = integrate.trapezoid(integrate.trapezoid(f, tau, axis=1), mu)
    np.testing.assert_allclose(ng.predictive().pdf(x_new), ref, rtol=1e-8)


# --------------------------------------------------------------------------- exact draws


def test_normal_mean_draws_match_formulas(rng, heights):
    post = NormalMeanKnownVariance(160.0, 15.0, 8.0).posterior(heights)
    mu = post.sample(rng, N_DRAWS)
    assert mu.shape == (N_DRAWS,)
    assert_mean_within_mc(mu, post.mu_N)
    assert_var_within_mc(mu, post.sigma_N**2)


def test_gamma_precision_draws_match_formulas(rng, heights):
    post = GammaPrecisionKnownMean(171.0, 2.0, 50.0).posterior(heights)
    tau = post.sample(rng, N_DRAWS)
    assert_mean_within_mc(tau, post.a_N / post.b_N)  # PRML 2.147
    assert_var_within_mc(tau, post.a_N / post.b_N**2)  # PRML 2.148
    sigma = tau**-0.5
    assert_mean_within_mc(sigma, post.mean_sigma)
    assert_var_within_mc(sigma, post.sd_sigma**2)
    assert_mean_within_mc(1 / tau, post.marginal_sigma2().mean())


def test_normal_gamma_draws_match_marginals(rng, heights):
    post = NormalGamma(160.0, 0.5, 2.0, 60.0).posterior(heights)
    d = post.sample(rng, N_DRAWS)
    assert d.mu.shape == d.tau.shape == d.sigma.shape == (N_DRAWS,)
    assert_mean_within_mc(d.mu, post.marginal_mu().mean())
    assert_var_within_mc(d.mu, post.marginal_mu().var())
    assert_mean_within_mc(d.tau, post.marginal_tau().mean())
    assert_var_within_mc(d.tau, post.marginal_tau().var())
    assert_mean_within_mc(d.sigma, post.mean_sigma)
    assert_var_within_mc(d.sigma, post.sd_sigma**2)
    # Whole distributions, not just two moments (fixed seed; p-values far from the threshold).
    assert stats.kstest(d.mu[:20_000], post.marginal_mu().cdf).pvalue > 1e-3
    assert stats.kstest(d.tau[:20_000], post.marginal_tau().cdf).pvalue > 1e-3
    np.testing.assert_allclose(d.sigma, d.tau**-0.5, rtol=1e-15)


def test_normal_wishart_draws_match_formulas_and_scipy(rng, height_weight):
    post = NormalWishart([165.0, 65.0], 2.0, np.diag([1 / 400, 1 / 900]), 4.0).posterior(height_weight)
    d = post.sample(rng, N_DRAWS)
    assert d.mu.shape == (N_DRAWS, 2) and d.Lambda.shape == d.Sigma.shape == (N_DRAWS, 2, 2)
    np.testing.assert_allclose(d.Lambda @ d.Sigma, np.broadcast_to(np.eye(2), d.Sigma.shape), atol=1e-9)
    # Λ: mean and elementwise variance against scipy's Wishart (an independent reference).
    wishart = stats.wishart(df=post.nu_N, scale=post.W_N)
    np.testing.assert_allclose(post.mean_Lambda, wishart.mean(), rtol=1e-13)
    assert_mean_within_mc(d.Lambda, wishart.mean())
    assert_var_within_mc(d.Lambda, wishart.var())
    # Σ = Λ⁻¹: mean against scipy's inverse Wishart.
    np.testing.assert_allclose(post.mean_Sigma, post.marginal_Sigma().mean(), rtol=1e-12)
    assert_mean_within_mc(d.Sigma, post.mean_Sigma)
    # μ: the multivariate-t marginal's mean and covariance.
    t_mu = post.marginal_mu()
    np.testing.assert_allclose(post.cov_mu, t_mu.shape * t_mu.df / (t_mu.df - 2), rtol=1e-12)
    assert_mean_within_mc(d.mu, post.mean_mu)
    c = d.mu - d.mu.mean(axis=0)
    assert_mean_within_mc(c[:, :, None] * c[:, None, :], post.cov_mu)


def test_normal_wishart_prior_draws_match_scipy_wishart(rng):
    """Small ν (heavy tails) and D = 3: the Bartlett sampler against scipy's moments."""
    W0 = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 0.5]])
    prior = NormalWishart(np.zeros(3), 1.0, W0, 3.5)
    d = prior.sample(rng, N_DRAWS)
    assert_mean_within_mc(d.Lambda, stats.wishart(df=3.5, scale=W0).mean())
    assert_var_within_mc(d.Lambda, stats.wishart(df=3.5, scale=W0).var())


# --------------------------------------------------------------------------- predictive vs Monte Carlo


def check_predictive_by_simulation(x_new, pred):
    assert_mean_within_mc(x_new, pred.mean())
    assert_var_within_mc(x_new, pred.var())
    for q in (0.05, 0.5, 0.95):
        frac = np.mean(x_new <= pred.ppf(q))
        assert abs(frac - q) <= Z * np.sqrt(q * (1 - q) / x_new.size)


def test_univariate_predictives_match_sample_then_draw(rng, heights):
    nm = NormalMeanKnownVariance(160.0, 15.0, 8.0).posterior(heights)
    check_predictive_by_simulation(rng.normal(nm.sample(rng, N_DRAWS), 8.0), nm.predictive())
    gp = GammaPrecisionKnownMean(171.0, 2.0, 50.0).posterior(heights)
    check_predictive_by_simulation(rng.normal(171.0, gp.sample(rng, N_DRAWS) ** -0.5), gp.predictive())
    ng = NormalGamma(160.0, 0.5, 2.0, 60.0).posterior(heights)
    d = ng.sample(rng, N_DRAWS)
    check_predictive_by_simulation(rng.normal(d.mu, d.sigma), ng.predictive())


def test_normal_wishart_predictive_matches_sample_then_draw(rng, height_weight):
    post = NormalWishart([165.0, 65.0], 2.0, np.diag([1 / 400, 1 / 900]), 4.0).posterior(height_weight)
    d = post.sample(rng, N_DRAWS)
    chol = np.linalg.cholesky(d.Sigma)
    x_new = d.mu + (chol @ rng.standard_normal((N_DRAWS, 2, 1)))[..., 0]
    pred = post.predictive()
    pred_cov = pred.shape * pred.df / (pred.df - 2)
    assert_mean_within_mc(x_new, post.m_N)
    c = x_new - x_new.mean(axis=0)
    assert_mean_within_mc(c[:, :, None] * c[:, None, :], pred_cov)
    # The shape of the distribution: for a D-variate t, Δ²/D (Δ² w.r.t. loc and shape) ~ F(D, df).
    r = x_new - pred.loc
    delta2 = np.einsum("ni,ij,nj->n", r, np.linalg.inv(pred.shape), r)
    for q in (0.5, 0.9, 0.99):
        frac = np.mean(delta2 / 2 <= stats.f(2, pred.df).ppf(q))
        assert abs(frac - q) <= Z * np.sqrt(q * (1 - q) / N_DRAWS)


# --------------------------------------------------------------------------- identities


def test_normal_wishart_with_d1_equals_normal_gamma(heights):
    """W(λ | w, ν) in 1-D is Gam(λ | ν/2, rate 1/(2w)); the posteriors must agree."""
    nw = NormalWishart([160.0], 0.5, [[1 / 120.0]], 4.0).posterior(heights[:, None])
    ng = NormalGamma(160.0, 0.5, 2.0, 60.0).posterior(heights)
    np.testing.assert_allclose([nw.m_N[0], nw.beta_N, nw.nu_N / 2, 1 / (2 * nw.W_N[0, 0])],
                               [ng.mu_N, ng.kappa_N, ng.a_N, ng.b_N], rtol=1e-12)
    grid = np.linspace(140, 200, 13)
    np.testing.assert_allclose(nw.predictive().pdf(grid[:, None]), ng.predictive().pdf(grid), rtol=1e-10)
    np.testing.assert_allclose(nw.marginal_mu().pdf(grid[:, None]), ng.marginal_mu().pdf(grid), rtol=1e-10)


def test_posterior_is_the_next_prior(heights, height_weight):
    a, b = heights[:10], heights[10:]
    for prior in (NormalMeanKnownVariance(160.0, 15.0, 8.0), GammaPrecisionKnownMean(171.0, 2.0, 50.0),
                  NormalGamma(160.0, 0.5, 2.0, 60.0)):
        two_step, batch = prior.posterior(a).update(b), prior.posterior(heights)
        assert two_step.n_obs == batch.n_obs == heights.size
        for key, value in vars(batch).items():
            np.testing.assert_allclose(getattr(two_step, key), value, rtol=1e-12)
    nw = NormalWishart([165.0, 65.0], 2.0, np.diag([1 / 400, 1 / 900]), 4.0)
    two_step, batch = nw.posterior(height_weight[:7]).update(height_weight[7:]), nw.posterior(height_weight)
    np.testing.assert_allclose(two_step.m_N, batch.m_N, rtol=1e-12)
    np.testing.assert_allclose(two_step.W_N, batch.W_N, rtol=1e-10)
    assert (two_step.beta_N, two_step.nu_N, two_step.n_obs) == (batch.beta_N, batch.nu_N, batch.n_obs)


def test_prior_sample_and_predictive_are_the_zero_data_posterior(rng):
    prior = NormalGamma(0.0, 2.0, 3.0, 4.0)
    assert isinstance(prior.as_posterior(), NormalGammaPosterior) and prior.as_posterior().n_obs == 0
    np.testing.assert_allclose(prior.predictive().std(), np.sqrt(4.0 * 3.0 / (3.0 * 2.0) * 3.0 / (3.0 - 1.0)))
    assert prior.sample(rng, 4).mu.shape == (4,)
    assert isinstance(NormalMeanKnownVariance(0, 1, 1).as_posterior(), NormalMeanPosterior)
    assert isinstance(GammaPrecisionKnownMean(0, 1, 1).as_posterior(), GammaPrecisionPosterior)
    assert isinstance(NormalWishart([0, 0], 1, np.eye(2), 3).as_posterior(), NormalWishartPosterior)


def test_large_n_posterior_concentrates_on_mle(rng):
    x = rng.normal(5.0, 2.0, size=200_000)
    ng = NormalGamma(0.0, 1.0, 1.0, 1.0).posterior(x)
    np.testing.assert_allclose(ng.mu_N, x.mean(), rtol=1e-4)
    np.testing.assert_allclose(ng.b_N / ng.a_N, x.var(), rtol=1e-3)


def test_every_prior_is_a_conjugate_prior_whose_posterior_is_the_zero_data_update(rng, heights, height_weight):
    """posterior(x) == as_posterior().update(x); prior sample/predictive == the N = 0 posterior's."""
    cases = [(NormalMeanKnownVariance(160.0, 15.0, 8.0), heights), (GammaPrecisionKnownMean(171.0, 2.0, 50.0), heights),
             (NormalGamma(160.0, 0.5, 2.0, 60.0), heights),
             (NormalWishart([165.0, 65.0], 2.0, np.diag([1 / 400, 1 / 900]), 4.0), height_weight)]
    for prior, x in cases:
        assert isinstance(prior, ConjugatePrior)
        post, zero = prior.posterior(x), prior.as_posterior()
        assert post.n_obs == x.shape[0] and zero.n_obs == 0
        for key, value in vars(zero.update(x)).items():
            np.testing.assert_array_equal(getattr(post, key), value)
        draws = [prior.sample(np.random.default_rng(3), 5), zero.sample(np.random.default_rng(3), 5)]
        for got, want in zip(*(d if isinstance(d, tuple) else (d,) for d in draws)):  # NamedTuple or array
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(prior.predictive().logpdf(x[:3]), zero.predictive().logpdf(x[:3]))


# --------------------------------------------------------------------------- data-scaled weak priors

#: By hand: mean 124 -> 120 (2 significant digits); deviations ±2, ±6, so sd = √(80/4) = √20 ≈ 4.47 -> 4.
HAND_X = np.array([118.0, 122.0, 126.0, 130.0])
#: Second column: mean 4 -> 4; deviations ±1, ±3, so sd = √(20/4) = √5 ≈ 2.24 -> 2.
HAND_Y = np.column_stack([HAND_X, [1.0, 3.0, 5.0, 7.0]])


@pytest.mark.parametrize("value, digits, expected", [(173.95, 2, 170.0), (0.0347, 2, 0.035), (-4.47, 1, -4.0),
                                                     (96.0, 1, 100.0), (2.236, 1, 2.0), (0.0, 2, 0.0)])
def test_round_sig(value, digits, expected):
    assert round_sig(value, digits) == expected


def test_weak_from_data_univariate_by_hand():
    nm = NormalMeanKnownVariance.weak_from_data(HAND_X)
    assert (nm.mu0, nm.sigma0) == (120.0, 12.0)  # μ ~ N(m, (3s)²)
    assert nm.sigma == pytest.approx(np.sqrt(20.0), rel=1e-15)  # σ fixed at σ_ML
    gp = GammaPrecisionKnownMean.weak_from_data(HAND_X)
    assert (gp.mu, gp.a0, gp.b0) == (124.0, 2.0, 32.0)  # μ = x̄ (not rounded); E[τ] = a0/b0 = 1/s²
    ng = NormalGamma.weak_from_data(HAND_X)
    assert (ng.mu0, ng.kappa0, ng.a0, ng.b0) == (120.0, 1.0, 2.0, 32.0)
    assert ng.as_posterior().marginal_tau().mean() == pytest.approx(1 / 16)


def test_weak_from_data_normal_wishart_by_hand():
    nw = NormalWishart.weak_from_data(HAND_Y)
    np.testing.assert_array_equal(nw.m0, [120.0, 4.0])
    assert (nw.beta0, nw.nu0, nw.D) == (1.0, 4.0, 2)  # ν0 = D + 2
    np.testing.assert_allclose(nw.W0, np.diag([1 / 16, 1 / 4]) / 4, rtol=1e-15)
    np.testing.assert_allclose(nw.as_posterior().mean_Lambda, np.diag([1 / 16, 1 / 4]), rtol=1e-15)  # diag(1/s²)


def test_weak_from_data_follows_the_units():
    """Data in metres instead of centimetres: every location and scale divides by 100."""
    cm, m = NormalGamma.weak_from_data(HAND_X), NormalGamma.weak_from_data(HAND_X / 100)
    assert m.mu0 == pytest.approx(cm.mu0 / 100) and m.b0 == pytest.approx(cm.b0 / 100**2)
    nw_cm, nw_m = NormalWishart.weak_from_data(HAND_Y), NormalWishart.weak_from_data(HAND_Y / 100)
    np.testing.assert_allclose(nw_m.W0, nw_cm.W0 * 100**2, rtol=1e-12)


@pytest.mark.parametrize("make, match", [
    (lambda: NormalGamma.weak_from_data([3.0, 3.0, 3.0]), "constant"),
    (lambda: NormalMeanKnownVariance.weak_from_data([3.0]), "at least 2"),
    (lambda: GammaPrecisionKnownMean.weak_from_data(HAND_Y), "1-D"),
    (lambda: NormalWishart.weak_from_data(np.column_stack([HAND_X, np.ones(4)])), "constant column"),
    (lambda: NormalWishart.weak_from_data(HAND_X), "2-D"),
])
def test_weak_from_data_refuses_data_without_a_scale(make, match):
    with pytest.raises(DataError, match=match):
        make()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: NormalMeanKnownVariance(0.0, 0.0, 1.0), "sigma0 must be > 0"),
        (lambda: NormalMeanKnownVariance(np.nan, 1.0, 1.0), "mu0 must be finite"),
        (lambda: NormalMeanKnownVariance(0.0, 1.0, -2.0), "sigma must be > 0"),
        (lambda: GammaPrecisionKnownMean(0.0, 0.0, 1.0), "a0 must be > 0"),
        (lambda: GammaPrecisionKnownMean(0.0, 1.0, np.inf), "b0 must be finite"),
        (lambda: NormalGamma("0", 1.0, 1.0, 1.0), "mu0 must be a real number"),
        (lambda: NormalGamma(0.0, -1.0, 1.0, 1.0), "kappa0 must be > 0"),
        (lambda: NormalWishart([0.0, 0.0], 1.0, np.eye(2), 0.5), r"nu0 must be > 1"),
        (lambda: NormalWishart([0.0, 0.0], 1.0, [[1.0, 2.0], [2.0, 1.0]], 3.0), "W0 is not positive definite"),
        (lambda: NormalWishart([0.0, 0.0], 1.0, np.eye(3), 3.0), r"W0 must be \(2, 2\)"),
        (lambda: NormalWishart([0.0, np.nan], 1.0, np.eye(2), 3.0), "m0 contains 1 NaN"),
        (lambda: NormalWishart("ab", 1.0, np.eye(2), 3.0), "m0 is a string"),
        (lambda: NormalWishart([0.0, 0.0], 0.0, np.eye(2), 3.0), "beta0 must be > 0"),
        (lambda: NormalMeanKnownVariance(0, 1, 1).posterior([1.0, np.nan]), "NaN"),
        (lambda: NormalGamma(0, 1, 1, 1).posterior(np.zeros((3, 2))), "must be 1-D"),
        (lambda: NormalGamma(0, 1, 1, 1).posterior([]), "empty"),
        (lambda: GammaPrecisionKnownMean(0, 1, 1).posterior("1 2 3"), "string"),
        (lambda: NormalWishart([0.0, 0.0], 1.0, np.eye(2), 3.0).posterior(np.zeros((4, 3))), "must have 2 column"),
        (lambda: NormalWishart([0.0, 0.0], 1.0, np.eye(2), 3.0).posterior(np.zeros(4)), "must be 2-D"),
        (lambda: NormalWishart([0.0, 0.0], 1.0, np.eye(2), 3.0).as_posterior().mean_Sigma, r"nu_N > D \+ 1"),
        (lambda: NormalGamma(0, 1, 1, 1).sample(np.random, 3), "numpy.random.Generator"),
        (lambda: NormalGamma(0, 1, 1, 1).sample(np.random.default_rng(0), 0), "size must be"),
    ],
)
def test_bad_hyperparameters_and_data_raise_dataerror(make, match):
    with pytest.raises(DataError, match=match):
        make()


def test_posteriors_are_immutable(height_weight):
    post = NormalWishart([165.0, 65.0], 2.0, np.eye(2), 4.0).posterior(height_weight)
    with pytest.raises(AttributeError):
        post.nu_N = 3.0
    with pytest.raises(ValueError):
        post.W_N[0, 0] = 1.0
