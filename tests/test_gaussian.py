"""models.gaussian against independent references: numpy, scipy.stats, naive loops, the book's data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from models.gaussian import (
    covariance_ellipse,
    mahalanobis_sq_chol,
    mahalanobis_sq_eig,
    mle_cov,
    mle_mean,
    mle_var,
    mvn_logpdf,
    mvn_loglik,
    normal_logpdf,
    normal_loglik,
    principal_axes,
    unbiased_cov,
    unbiased_var,
)
from models.validation import DataError, validate_covariance

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_file(name: str) -> np.ndarray:
    """The book's data file ``name`` from ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present (the book's data are not shipped with the project)")
    return np.loadtxt(path)


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


def random_spd(rng, d: int) -> np.ndarray:
    """A well-conditioned random covariance, (d, d)."""
    a = rng.normal(size=(d, d))
    return a @ a.T + d * np.eye(d)


# --------------------------------------------------------------------------- estimators


def test_mle_mean_matches_numpy_1d_and_2d(rng):
    x1 = rng.normal(170.0, 7.0, size=101)
    x2 = rng.normal([170.0, 70.0, 3.0], [7.0, 12.0, 0.5], size=(57, 3))
    assert isinstance(mle_mean(x1), float)
    np.testing.assert_allclose(mle_mean(x1), np.mean(x1), rtol=1e-13)
    assert mle_mean(x2).shape == (3,)
    np.testing.assert_allclose(mle_mean(x2), np.mean(x2, axis=0), rtol=1e-13)


def test_variances_match_numpy_ddof(rng):
    x = rng.normal(170.0, 7.0, size=250)
    np.testing.assert_allclose(mle_var(x), np.var(x, ddof=0), rtol=1e-12)
    np.testing.assert_allclose(unbiased_var(x), np.var(x, ddof=1), rtol=1e-12)
    # 2-D input: one variance per column, as D separate samples.
    xs = rng.normal(size=(6, 40))
    np.testing.assert_allclose(mle_var(xs), np.var(xs, axis=0, ddof=0), rtol=1e-12)
    np.testing.assert_allclose(unbiased_var(xs), np.var(xs, axis=0, ddof=1), rtol=1e-12)


def test_unbiased_is_mle_times_n_over_n_minus_1(rng):
    x = rng.normal(size=(9, 2))
    np.testing.assert_allclose(unbiased_var(x[:, 0]), mle_var(x[:, 0]) * 9 / 8, rtol=1e-14)
    np.testing.assert_allclose(unbiased_cov(x), mle_cov(x) * 9 / 8, rtol=1e-14)


@pytest.mark.parametrize("d", [1, 2, 4])
def test_covariances_match_numpy_cov(rng, d):
    x = rng.normal(size=(80, d)) @ rng.normal(size=(d, d)) + 100.0  # offset tests the centring
    np.testing.assert_allclose(mle_cov(x), np.atleast_2d(np.cov(x, rowvar=False, bias=True)), rtol=1e-12)
    np.testing.assert_allclose(unbiased_cov(x), np.atleast_2d(np.cov(x, rowvar=False, ddof=1)), rtol=1e-12)
    assert np.array_equal(mle_cov(x), mle_cov(x).T)


def test_sigma2_ml_bias_monte_carlo(rng):
    """E[σ²_ML] = (N - 1)/N σ² (PRML 1.58); E[s²] = σ². Tolerance: 4 Monte Carlo standard errors."""
    n, sigma, reps = 5, 2.0, 200_000
    x = rng.normal(1.0, sigma, size=(n, reps))  # each column one data set of size n
    ml, unb = mle_var(x), unbiased_var(x)
    se_ml = ml.std(ddof=1) / np.sqrt(reps)
    assert abs(ml.mean() - (n - 1) / n * sigma**2) < 4 * se_ml
    assert abs(unb.mean() - sigma**2) < 4 * unb.std(ddof=1) / np.sqrt(reps)
    # The bias itself (σ²/N = 0.8) is > 100 standard errors: the test can tell the two apart.
    assert abs(ml.mean() - sigma**2) > 100 * se_ml


# --------------------------------------------------------------------------- densities


def test_normal_logpdf_matches_scipy(rng):
    x = rng.normal(3.0, 10.0, size=200)
    ref = stats.norm(loc=2.5, scale=4.0).logpdf(x)
    np.testing.assert_allclose(normal_logpdf(x, 2.5, 4.0), ref, rtol=1e-12)
    np.testing.assert_allclose(normal_loglik(x, 2.5, 4.0), ref.sum(), rtol=1e-12)
    assert normal_logpdf(x, 2.5, 4.0).shape == (200,)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_mvn_logpdf_matches_scipy(rng, d):
    cov, mu = random_spd(rng, d), rng.normal(size=d)
    x = rng.multivariate_normal(mu, cov, size=50) + rng.normal(size=(50, d))
    ref = stats.multivariate_normal(mu, cov).logpdf(x)
    np.testing.assert_allclose(mvn_logpdf(x, mu, cov), np.atleast_1d(ref), rtol=1e-10)
    np.testing.assert_allclose(mvn_loglik(x, mu, cov), np.sum(ref), rtol=1e-10)


def test_mvn_logpdf_on_ill_conditioned_covariance_matches_scipy(rng):
    # Condition number 1e10: still positive definite; Cholesky stays accurate where an inverse would not.
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    cov = q @ np.diag([1e4, 1.0, 1e-6]) @ q.T
    cov = 0.5 * (cov + cov.T)
    x = (q * np.sqrt([1e4, 1.0, 1e-6])) @ rng.normal(size=(3, 20))
    x = x.T
    # Reference from the known eigendecomposition (PRML 2.50, 2.55): scipy refuses this matrix as singular.
    y = x @ q
    ref = -0.5 * (3 * np.log(2 * np.pi) + np.sum(np.log([1e4, 1.0, 1e-6])) + np.sum(y**2 / [1e4, 1.0, 1e-6], axis=1))
    np.testing.assert_allclose(mvn_logpdf(x, np.zeros(3), cov), ref, rtol=1e-6)


def naive_mahalanobis_sq(x, mu, cov):
    """Reference: explicit inverse and a Python loop over rows."""
    inv = np.linalg.inv(cov)
    return np.array([float((row - mu) @ inv @ (row - mu)) for row in x])


@pytest.mark.parametrize("d", [1, 2, 3, 6])
def test_mahalanobis_eig_and_chol_match_naive_loop(rng, d):
    cov, mu = random_spd(rng, d), rng.normal(size=d)
    x = rng.normal(size=(30, d)) * 3
    ref = naive_mahalanobis_sq(x, mu, cov)
    np.testing.assert_allclose(mahalanobis_sq_eig(x, mu, cov), ref, rtol=1e-10)
    np.testing.assert_allclose(mahalanobis_sq_chol(x, mu, cov), ref, rtol=1e-10)


def test_mahalanobis_identity_covariance_is_euclidean(rng):
    x = rng.normal(size=(10, 2))
    mu = np.array([2.0, 3.0])
    np.testing.assert_allclose(mahalanobis_sq_chol(x, mu, np.eye(2)), np.sum((x - mu) ** 2, axis=1), rtol=1e-14)


# --------------------------------------------------------------------------- geometry


def test_principal_axes_reconstruct_covariance(rng):
    cov = random_spd(rng, 4)
    lam, Q = principal_axes(cov)
    np.testing.assert_allclose(lam, np.sort(np.linalg.eigvalsh(cov))[::-1], rtol=1e-12)
    np.testing.assert_allclose(Q @ np.diag(lam) @ Q.T, cov, rtol=1e-12, atol=1e-12)  # PRML 2.48
    np.testing.assert_allclose(Q.T @ Q, np.eye(4), atol=1e-12)  # PRML 2.46
    # Sign convention: each column's largest-magnitude entry is positive.
    assert np.all(Q[np.argmax(np.abs(Q), axis=0), np.arange(4)] > 0)


@pytest.mark.parametrize("angle", [0.0, 30.0, 89.0, -45.0])
def test_covariance_ellipse_of_rotated_diagonal(angle):
    t = np.radians(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    cov = rot @ np.diag([9.0, 1.0]) @ rot.T
    width, height, a = covariance_ellipse(cov, n_std=2.0)
    np.testing.assert_allclose([width, height, a], [12.0, 4.0, angle], rtol=1e-10, atol=1e-10)


def test_covariance_ellipse_boundary_is_at_mahalanobis_n_std(rng):
    cov = random_spd(rng, 2)
    width, height, a = covariance_ellipse(cov, n_std=1.5)
    t = np.radians(a)
    major = 0.5 * width * np.array([np.cos(t), np.sin(t)])
    minor = 0.5 * height * np.array([-np.sin(t), np.cos(t)])
    d2 = naive_mahalanobis_sq(np.array([major, minor]), np.zeros(2), cov)
    np.testing.assert_allclose(d2, [1.5**2, 1.5**2], rtol=1e-10)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "func, args, match",
    [
        (mle_mean, ([1.0, np.nan, 2.0],), "NaN"),
        (mle_var, ([1.0, np.inf, 2.0],), "infinite"),
        (mle_mean, (np.zeros((2, 2, 2)),), "1-D .* or 2-D"),
        (mle_var, ("1, 2, 3",), "string"),
        (mle_mean, (["a", "b"],), "non-numeric"),
        (mle_var, ([1.0],), "at least 2"),
        (unbiased_var, ([3.0],), "N - 1"),
        (mle_var, ([2.0, 2.0, 2.0],), "constant"),
        (mle_cov, (np.c_[np.arange(5.0), np.ones(5)],), "constant column"),
        (mle_cov, (np.arange(6.0).reshape(2, 3),), "at least 4"),
        (unbiased_cov, ([1.0, 2.0, 3.0],), "2-D"),
        (mle_mean, ([],), "empty"),
        (normal_logpdf, ([1.0, 2.0], 0.0, 0.0), "sigma must be > 0"),
        (normal_logpdf, ([1.0, 2.0], np.nan, 1.0), "mu must be finite"),
        (normal_logpdf, ([1.0, 2.0], "0", 1.0), "mu must be a real number"),
        (normal_logpdf, ([1.0, 2.0], np.array(True), 1.0), "mu must be a real number"),
        (normal_logpdf, ([1.0, 2.0], 0.0, 1e200), "overflows"),
        (normal_logpdf, ([1.0, 2.0], np.array([0.0, 1.0]), 1.0), "single number"),
        (mvn_logpdf, (np.zeros((3, 2)), [0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), "not positive definite"),
        (mvn_logpdf, (np.zeros((3, 2)), [0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]]), "not symmetric"),
        (mvn_logpdf, (np.zeros((3, 2)), [0.0, 0.0, 0.0], np.eye(2)), r"shape \(2,\)"),
        (mvn_logpdf, (np.zeros((3, 2)), [0.0, 0.0], np.eye(3)), r"\(2, 2\)"),
        (mvn_logpdf, (np.zeros((3, 2)), [0.0, 0.0], np.ones((2, 3))), "square"),
        (mahalanobis_sq_eig, (np.zeros((3, 2)), [0.0, 0.0], [[1.0, 1.0], [1.0, 1.0]]), "not positive definite"),
        (mahalanobis_sq_chol, (np.zeros((3, 2)), [0.0, 0.0], [[np.nan, 0.0], [0.0, 1.0]]), "NaN"),
        (principal_axes, (-np.eye(2),), "not positive definite"),
        (covariance_ellipse, (np.eye(3),), r"\(2, 2\)"),
        (covariance_ellipse, (np.eye(2), -1.0), "n_std must be > 0"),
    ],
)
def test_bad_input_raises_dataerror_with_message(func, args, match):
    with pytest.raises(DataError, match=match):
        func(*args)


def test_collinear_columns_give_singular_mle_cov_that_densities_refuse():
    x = np.c_[np.arange(5.0), 2 * np.arange(5.0)]
    cov = mle_cov(x)  # the MLE exists (rank 1); using it as a Gaussian's covariance does not
    with pytest.raises(DataError, match="not positive definite"):
        mvn_logpdf(x, mle_mean(x), cov)


def test_validate_covariance_message_names_smallest_eigenvalue():
    with pytest.raises(DataError, match=r"smallest eigenvalue is -1"):
        validate_covariance([[1.0, 2.0], [2.0, 1.0]])
    # Round-off asymmetry is accepted and removed.
    cov = validate_covariance([[2.0, 1.0 + 1e-12], [1.0, 2.0]])
    assert np.array_equal(cov, cov.T)


# --------------------------------------------------------------------------- the book's data


def test_book_height_mean_and_mle_sd():
    x = shared_data_file("height.txt")
    assert round(mle_mean(x), 4) == 172.7025
    assert round(np.sqrt(mle_var(x)), 4) == 4.8302


def test_book_height_weight_mle_covariance():
    x = shared_data_file("height_weight.txt")
    ref = np.array([[23.3305, 12.8469], [12.8469, 27.9755]])
    np.testing.assert_allclose(mle_cov(x), ref, atol=5e-5)  # the book prints 4 decimals
