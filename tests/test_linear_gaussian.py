"""models.linear_gaussian (closed forms of PRML 2.3) and its PyMC twin, linear_gaussian_model.

Independent routes for every identity:

* p(x | y) by PRML 2.116 against the conditional of the joint (2.105 + 2.81), against the
  precision form (2.73), and against Bayes' rule with scipy densities at many points;
* p(y) by 2.115 against the marginal of the joint, the linear-transform identity, and forward
  Monte Carlo;
* the D = M = 1 case against models.conjugate.NormalMeanKnownVariance (PRML 2.141–2.142);
* the PyMC model: log-density vs scipy at seeded points (1e-8), prior-predictive moments of y vs
  p(y) and NUTS draws of x | y vs p(x | y), within 4 Monte Carlo standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from models.conjugate import NormalMeanKnownVariance
from models.linear_gaussian import (
    LinearGaussian,
    conditional,
    conditional_from_precision,
    linear_transform,
    marginal,
)
from models.validation import DataError

Z = 4.0  # Monte Carlo tolerance, in standard errors


def random_spd(rng, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + d * np.eye(d)


@pytest.fixture
def lg() -> LinearGaussian:
    """A 3-D x observed through a 2-D y, every matrix dense."""
    rng = np.random.default_rng(11)
    return LinearGaussian(mu=rng.normal(size=3), Lambda=random_spd(rng, 3) / 4, A=rng.normal(size=(2, 3)),
                          b=rng.normal(size=2), L=random_spd(rng, 2))


# --------------------------------------------------------------------------- closed forms


def test_joint_covariance_inverts_joint_precision(lg):
    """2.105 is the inverse of 2.104."""
    joint = lg.joint()
    np.testing.assert_allclose(joint.cov @ lg.joint_precision(), np.eye(5), atol=1e-12)
    np.testing.assert_allclose(joint.mean, np.concatenate([lg.mu, lg.A @ lg.mu + lg.b]), rtol=1e-14)


def test_posterior_equals_conditional_of_the_joint(lg):
    rng = np.random.default_rng(1)
    joint = lg.joint()
    for y in rng.normal(size=(5, 2)) * 3:
        post = lg.posterior_x(y)
        by_cov = conditional(joint.mean, joint.cov, [0, 1, 2], y)
        by_prec = conditional_from_precision(joint.mean, lg.joint_precision(), [0, 1, 2], y)
        for other in (by_cov, by_prec):
            np.testing.assert_allclose(post.mean, other.mean, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(post.cov, other.cov, rtol=1e-10, atol=1e-12)


def test_posterior_is_bayes_rule(lg):
    """ln p(x | y) = ln p(y | x) + ln p(x) − ln p(y) at every x, with scipy densities."""
    rng = np.random.default_rng(2)
    y = np.array([0.4, -1.3])
    post = lg.posterior_x(y).dist()
    prior, noise_cov, evidence = lg.prior_x().dist(), lg.cov_y_given_x, lg.marginal_y().dist()
    for x in rng.normal(size=(20, 3)) * 2:
        bayes = stats.multivariate_normal(lg.A @ x + lg.b, noise_cov).logpdf(y) + prior.logpdf(x) - evidence.logpdf(y)
        assert post.logpdf(x) == pytest.approx(bayes, rel=1e-10, abs=1e-10)


def test_marginal_y_three_ways(lg):
    joint = lg.joint()
    my = lg.marginal_y()
    by_marginal = marginal(joint.mean, joint.cov, [3, 4])
    by_transform = linear_transform(lg.mu, lg.cov_x, lg.A, lg.b)
    np.testing.assert_allclose(my.mean, by_marginal.mean, rtol=1e-13)
    np.testing.assert_allclose(my.cov, by_marginal.cov, rtol=1e-13)
    np.testing.assert_allclose(my.cov, by_transform.cov + lg.cov_y_given_x, rtol=1e-12)
    np.testing.assert_allclose(my.mean, by_transform.mean, rtol=1e-13)


def test_forward_draws_match_marginal_and_transform(lg):
    rng = np.random.default_rng(3)
    n = 200_000
    _, y = lg.sample(rng, n)
    my = lg.marginal_y()
    se_mean = my.sd / np.sqrt(n)
    assert np.all(np.abs(y.mean(axis=0) - my.mean) <= Z * se_mean)
    # Var of a sample covariance entry: (Σ_ij² + Σ_ii Σ_jj)/n for a Gaussian.
    emp = np.cov(y, rowvar=False)
    se_cov = np.sqrt((my.cov**2 + np.outer(np.diag(my.cov), np.diag(my.cov))) / n)
    assert np.all(np.abs(emp - my.cov) <= Z * se_cov)
    # y = Ax + b by itself (no noise): AΣAᵀ — the seed notes' AᵀΣA would not even have this shape.
    x = rng.multivariate_normal(lg.mu, lg.cov_x, size=n)
    lt = linear_transform(lg.mu, lg.cov_x, lg.A, lg.b)
    emp = np.cov(x @ lg.A.T + lg.b, rowvar=False)
    se_cov = np.sqrt((lt.cov**2 + np.outer(np.diag(lt.cov), np.diag(lt.cov))) / n)
    assert lt.cov.shape == (2, 2) and np.all(np.abs(emp - lt.cov) <= Z * se_cov)


def test_conditional_matches_bivariate_textbook_formula():
    """ρ-form: E[x₁ | x₂] = μ₁ + ρ σ₁/σ₂ (x₂ − μ₂), Var = σ₁²(1 − ρ²)."""
    s1, s2, rho = 2.0, 0.5, -0.6
    cov = np.array([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]])
    got = conditional([1.0, 3.0], cov, [0], [3.4])
    assert got.mean[0] == pytest.approx(1.0 + rho * s1 / s2 * 0.4, rel=1e-13)
    assert got.cov[0, 0] == pytest.approx(s1**2 * (1 - rho**2), rel=1e-13)
    # the other way round, conditioning on the first coordinate
    got = conditional([1.0, 3.0], cov, [1], [0.0])
    assert got.mean[0] == pytest.approx(3.0 + rho * s2 / s1 * (-1.0), rel=1e-13)


def test_one_dimensional_case_is_the_known_variance_posterior():
    """x = μ with prior N(μ0, σ0²), y = one observation with noise σ: PRML 2.141–2.142."""
    mu0, sigma0, sigma, y = 170.0, 20.0, 7.0, 181.5
    lg = LinearGaussian(mu=[mu0], Lambda=[[sigma0**-2]], A=[[1.0]], b=[0.0], L=[[sigma**-2]])
    post = lg.posterior_x([y])
    ref = NormalMeanKnownVariance(mu0, sigma0, sigma).posterior([y])
    assert post.mean[0] == pytest.approx(ref.mu_N, rel=1e-13)
    assert np.sqrt(post.cov[0, 0]) == pytest.approx(ref.sigma_N, rel=1e-13)
    assert np.sqrt(lg.marginal_y().cov[0, 0]) == pytest.approx(np.hypot(sigma0, sigma), rel=1e-13)


def test_marginal_picks_and_orders_components():
    mu = np.array([1.0, 2.0, 3.0])
    cov = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, 0.2], [0.5, 0.2, 1.0]])
    got = marginal(mu, cov, [2, 0])
    np.testing.assert_array_equal(got.mean, [3.0, 1.0])
    np.testing.assert_array_equal(got.cov, [[1.0, 0.5], [0.5, 3.0]])


@pytest.mark.parametrize("call, pattern", [
    (lambda: LinearGaussian([0, 0], [[1, 2], [2, 1]], [[1, 0]], [0], [[1]]), "not positive definite"),
    (lambda: LinearGaussian([0, 0], np.eye(2), [[1, 0, 0]], [0], [[1]]), r"A must have shape"),
    (lambda: LinearGaussian([0, np.nan], np.eye(2), [[1, 0]], [0], [[1]]), "NaN"),
    (lambda: LinearGaussian([0, 0], np.eye(2), [[1, 0]], [0, 1], [[1]]), r"b must have shape \(1,\)"),
    (lambda: LinearGaussian([0, 0], np.eye(2), [[1, 0]], [0], [[1, 0], [0, 1]]), r"L must be \(1, 1\)"),
    (lambda: LinearGaussian([0, 0], np.eye(2), 1.0, [0], [[1]]), "got a scalar"),
    (lambda: LinearGaussian([0, 0], np.eye(2), [[1, 0]], [0], [[1]]).posterior_x([1.0, 2.0]), r"y must have shape"),
    (lambda: LinearGaussian([0, 0], np.eye(2), [[1, 0]], [0], [[1]]).posterior_x([np.inf]), "infinite"),
    (lambda: linear_transform([0, 0], np.eye(2), [[1, 1], [2, 2]]), "not positive definite"),
    (lambda: marginal([0, 0], np.eye(2), [2]), "outside"),
    (lambda: marginal([0, 0], np.eye(2), [0, 0]), "repeats"),
    (lambda: marginal([0, 0], np.eye(2), [0.5]), "integer positions"),
    (lambda: conditional([0, 0], np.eye(2), [0, 1], []), "nothing is left"),
    (lambda: conditional([0, 0], np.eye(2), [0], [1.0, 2.0]), r"x_b must have shape"),
    (lambda: conditional([0, 0], [[1, 0.5], [0.4, 1]], [0], [1.0]), "not symmetric"),
])
def test_bad_input_is_refused(call, pattern):
    with pytest.raises(DataError, match=pattern):
        call()


# --------------------------------------------------------------------------- PyMC twin


def test_pymc_logp_matches_scipy(lg):
    from pymc.model.transform.conditioning import remove_value_transforms

    from models.gaussian_models import linear_gaussian_model

    y = np.array([0.4, -1.3])
    model = remove_value_transforms(linear_gaussian_model(lg, y))
    logp = model.compile_logp()
    prior, noise = lg.prior_x().dist(), lg.cov_y_given_x
    rng = np.random.default_rng(4)
    for x in rng.normal(size=(25, 3)) * 3:
        ref = prior.logpdf(x) + stats.multivariate_normal(lg.A @ x + lg.b, noise).logpdf(y)
        assert logp({"x": x}) == pytest.approx(ref, rel=1e-10, abs=1e-8)


def test_pymc_prior_predictive_gives_marginal_y(lg):
    import pymc as pm

    from models.gaussian_models import linear_gaussian_model

    n = 20_000
    with linear_gaussian_model(lg):
        prior = pm.sample_prior_predictive(draws=n, random_seed=5).prior
    y = prior["y"].values.reshape(n, lg.M)
    my = lg.marginal_y()
    assert np.all(np.abs(y.mean(axis=0) - my.mean) <= Z * my.sd / np.sqrt(n))
    emp = np.cov(y, rowvar=False)
    se_cov = np.sqrt((my.cov**2 + np.outer(np.diag(my.cov), np.diag(my.cov))) / n)
    assert np.all(np.abs(emp - my.cov) <= Z * se_cov)
    assert prior["y"].dims == ("chain", "draw", "y_dim") and prior["x"].dims == ("chain", "draw", "x_dim")


def test_pymc_nuts_posterior_gives_p_x_given_y(lg):
    from models.fitting import diagnose, posterior_moment_errors, sample_nuts
    from models.gaussian_models import linear_gaussian_model

    y = np.array([2.5, -0.8])
    idata = sample_nuts(linear_gaussian_model(lg, y), draws=1000, tune=1000, chains=2, seed=6, cores=1)
    diag = diagnose(idata)
    assert diag.converged, diag.problems
    assert diag.rhat_max <= 1.01 and diag.ess_bulk_min >= 400 and diag.divergences == 0
    exact = lg.posterior_x(y)
    got = posterior_moment_errors(idata.posterior["x"])
    assert np.all(np.abs(got["mean"] - exact.mean) <= Z * got["mcse_mean"]), (got["mean"], exact.mean)
    assert np.all(np.abs(got["sd"] - exact.sd) <= Z * got["mcse_sd"]), (got["sd"], exact.sd)
    # the cross-covariance too, as the mean of (x₀ − m₀)(x₁ − m₁) around the exact means
    x = idata.posterior["x"]
    centred = x - exact.mean
    product = centred.isel(x_dim=0) * centred.isel(x_dim=1)
    got = posterior_moment_errors(product)
    assert abs(got["mean"] - exact.cov[0, 1]) <= Z * got["mcse_mean"], (got["mean"], exact.cov[0, 1])


def test_pymc_builder_refuses_bad_y(lg):
    from models.gaussian_models import linear_gaussian_model

    with pytest.raises(DataError, match=r"y must have shape \(2,\)"):
        linear_gaussian_model(lg, [1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="NaN"):
        linear_gaussian_model(lg, [1.0, np.nan])
    with pytest.raises(DataError, match="LinearGaussian"):
        linear_gaussian_model({"mu": [0.0]}, None)
