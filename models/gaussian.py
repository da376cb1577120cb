"""Closed forms for the Gaussian: maximum likelihood, log-densities, Mahalanobis distance, axes.

Pure numpy/scipy; every public function validates its input through
:mod:`models.validation` and raises :class:`~models.validation.DataError` before computing
anything.

Equation numbers refer to Bishop, *Pattern Recognition and Machine Learning* (PRML), ch. 2.

Conventions
-----------
* ``x`` is (N,) for univariate data and (N, D) for multivariate data, one row per observation.
* MLE estimators divide by N (PRML 2.121–2.122), unbiased ones by N - 1 (PRML 2.125).
* No explicit matrix inverse anywhere: quadratic forms and log-determinants go through the
  Cholesky factor ``Σ = L Lᵀ`` (or the eigendecomposition where that is the point).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from models.validation import (
    validate_samples,
    validate_samples_1d,
    validate_samples_2d,
    validate_covariance,
    validate_scalar,
    validate_spd,
    validate_vector,
)

__all__ = [
    "mle_mean",
    "mle_var",
    "unbiased_var",
    "mle_cov",
    "unbiased_cov",
    "normal_logpdf",
    "normal_loglik",
    "mvn_logpdf",
    "mvn_loglik",
    "mahalanobis_sq_eig",
    "mahalanobis_sq_chol",
    "principal_axes",
    "covariance_ellipse",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


# --------------------------------------------------------------------------- estimators


def mle_mean(x) -> float | np.ndarray:
    """Maximum-likelihood mean, μ_ML = (1/N) Σ_n x_n (PRML 2.121).

    Parameters
    ----------
    x : array_like, shape (N,) or (N, D).

    Returns
    -------
    float for (N,) input; ndarray (D,) for (N, D) input.

    Example
    -------
    >>> from models import mle_mean
    >>> mle_mean([1.0, 2.0, 6.0])
    3.0
    >>> mle_mean([[1.0, 10.0], [3.0, 30.0]]).tolist()
    [2.0, 20.0]
    """
    x = validate_samples(x, name="x", min_rows=1, why=None, allow_constant=True)
    mu = x.mean(axis=0)
    return float(mu) if x.ndim == 1 else mu


def _scatter_diag(x: np.ndarray) -> np.ndarray:
    """Σ_n (x_n - x̄)² per column: the two-pass form, which avoids the cancellation of Σx² - N x̄²."""
    centred = x - x.mean(axis=0)
    return np.sum(centred * centred, axis=0)


def mle_var(x) -> float | np.ndarray:
    """Maximum-likelihood variance, σ²_ML = (1/N) Σ_n (x_n - μ_ML)² (PRML 1.56, 2.122 diagonal).

    Biased: E[σ²_ML] = (N - 1)/N · σ² (PRML 1.58).

    Parameters
    ----------
    x : array_like, shape (N,) or (N, D); N >= 2. Columns of a 2-D input are treated as D
        separate univariate samples (so one call handles many simulated data sets).

    Returns
    -------
    float for (N,) input; ndarray (D,) of per-column variances for (N, D) input.

    Example
    -------
    >>> from models import mle_var
    >>> mle_var([1.0, 2.0, 6.0])       # Σ(x - 3)² / 3 = (4 + 1 + 9) / 3
    4.666666666666667
    """
    x = validate_samples(x, name="x", min_rows=2, why="a variance needs at least two observations", allow_constant=False)
    var = _scatter_diag(x) / x.shape[0]
    return float(var) if x.ndim == 1 else var


def unbiased_var(x) -> float | np.ndarray:
    """Unbiased variance, s² = (1/(N - 1)) Σ_n (x_n - μ_ML)² = N/(N - 1) · σ²_ML (PRML 1.59).

    Parameters
    ----------
    x : array_like, shape (N,) or (N, D); N >= 2 (columns treated as separate samples).

    Returns
    -------
    float for (N,) input; ndarray (D,) for (N, D) input.
    """
    x = validate_samples(x, name="x", min_rows=2, why="the unbiased variance divides by N - 1", allow_constant=False)
    var = _scatter_diag(x) / (x.shape[0] - 1)
    return float(var) if x.ndim == 1 else var


def _scatter(x: np.ndarray) -> np.ndarray:
    """Scatter matrix S = Σ_n (x_n - x̄)(x_n - x̄)ᵀ, shape (D, D), exactly symmetric."""
    centred = x - x.mean(axis=0)
    scatter = centred.T @ centred
    return 0.5 * (scatter + scatter.T)


def _covvalidate_samples(x, why: str) -> np.ndarray:
    try:
        shape = np.shape(x)
    except ValueError:  # ragged: the validator explains
        shape = ()
    d = shape[1] if len(shape) == 2 else 1
    return validate_samples_2d(x, name="x", min_rows=d + 1, why=why)


def mle_cov(x) -> np.ndarray:
    """Maximum-likelihood covariance, Σ_ML = (1/N) Σ_n (x_n - μ_ML)(x_n - μ_ML)ᵀ (PRML 2.122).

    Parameters
    ----------
    x : array_like, shape (N, D); N >= D + 1 (fewer rows give a singular matrix).

    Returns
    -------
    ndarray, shape (D, D), symmetric.

    Example
    -------
    >>> from models import mle_cov
    >>> mle_cov([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0]]).tolist()
    [[0.6666666666666666, 0.3333333333333333], [0.3333333333333333, 0.6666666666666666]]
    """
    x = _covvalidate_samples(x, "a D-dimensional covariance needs N >= D + 1 to be non-singular")
    return _scatter(x) / x.shape[0]


def unbiased_cov(x) -> np.ndarray:
    """Unbiased covariance, Σ̃ = (1/(N - 1)) Σ_n (x_n - μ_ML)(x_n - μ_ML)ᵀ (PRML 2.125).

    Parameters
    ----------
    x : array_like, shape (N, D); N >= D + 1.

    Returns
    -------
    ndarray, shape (D, D), symmetric.
    """
    x = _covvalidate_samples(x, "a D-dimensional covariance needs N >= D + 1 to be non-singular")
    return _scatter(x) / (x.shape[0] - 1)


# --------------------------------------------------------------------------- densities


def normal_logpdf(x, mu, sigma) -> np.ndarray:
    """Univariate normal log-density ln N(x_n | μ, σ²) (PRML 1.46 / 2.42), per observation.

    ``ln N = -½ ln(2π) - ln σ - ½ ((x - μ)/σ)²``

    Parameters
    ----------
    x : array_like, shape (N,).
    mu : float.
    sigma : float > 0 (standard deviation, not variance).

    Returns
    -------
    ndarray, shape (N,).
    """
    x = validate_samples_1d(x, name="x", allow_constant=True)
    mu = validate_scalar(mu, name="mu")
    sigma = validate_scalar(sigma, name="sigma", positive=True)
    z = (x - mu) / sigma
    return -0.5 * _LOG_2PI - np.log(sigma) - 0.5 * z * z


def normal_loglik(x, mu, sigma) -> float:
    """Log-likelihood Σ_n ln N(x_n | μ, σ²) of i.i.d. data (PRML 1.54). ``x``: (N,). Returns float."""
    return float(np.sum(normal_logpdf(x, mu, sigma)))


def _mvn_inputs(x, mu, cov):
    x = validate_samples_2d(x, name="x", allow_constant=True)
    d = x.shape[1]
    mu = validate_vector(mu, name="mu", size=d)
    cov, chol = validate_spd(cov, name="cov", n_features=d)
    return x, mu, cov, chol


def _chol_mahalanobis_sq(x: np.ndarray, mu: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Δ² = ‖L⁻¹(x - μ)‖² per row, shape (N,), by one triangular solve (Σ⁻¹ = L⁻ᵀL⁻¹)."""
    z = linalg.solve_triangular(chol, (x - mu).T, lower=True, check_finite=False)  # (D, N)
    return np.sum(z * z, axis=0)


def mvn_logpdf(x, mu, cov) -> np.ndarray:
    """Multivariate normal log-density ln N(x_n | μ, Σ) (PRML 2.43), per observation, via Cholesky.

    ``ln N = -½ (D ln 2π + ln|Σ| + Δ²)`` with ``ln|Σ| = 2 Σ_i ln L_ii`` and
    ``Δ² = ‖L⁻¹(x - μ)‖²`` for ``Σ = L Lᵀ``; no inverse or determinant is formed.

    Parameters
    ----------
    x : array_like, shape (N, D).
    mu : array_like, shape (D,).
    cov : array_like, shape (D, D), symmetric positive definite.

    Returns
    -------
    ndarray, shape (N,).
    """
    x, mu, _, chol = _mvn_inputs(x, mu, cov)
    log_det = 2.0 * np.sum(np.log(np.diag(chol)))
    return -0.5 * (x.shape[1] * _LOG_2PI + log_det + _chol_mahalanobis_sq(x, mu, chol))


def mvn_loglik(x, mu, cov) -> float:
    """Log-likelihood Σ_n ln N(x_n | μ, Σ) of i.i.d. data (PRML 2.118). ``x``: (N, D). Returns float."""
    return float(np.sum(mvn_logpdf(x, mu, cov)))


def mahalanobis_sq_chol(x, mu, cov) -> np.ndarray:
    """Squared Mahalanobis distance Δ²_n = (x_n - μ)ᵀ Σ⁻¹ (x_n - μ) (PRML 2.44) via Cholesky.

    Parameters
    ----------
    x : array_like, shape (N, D).
    mu : array_like, shape (D,).
    cov : array_like, shape (D, D), symmetric positive definite.

    Returns
    -------
    ndarray, shape (N,).
    """
    x, mu, _, chol = _mvn_inputs(x, mu, cov)
    return _chol_mahalanobis_sq(x, mu, chol)


def mahalanobis_sq_eig(x, mu, cov) -> np.ndarray:
    """Squared Mahalanobis distance via the eigendecomposition Σ = Q Λ Qᵀ (PRML 2.45–2.52).

    With y = Qᵀ(x - μ) (coordinates along the principal axes, PRML 2.51–2.52),
    Δ² = Σ_i y_i² / λ_i (PRML 2.50): a sum of D independent standardized squares.

    Parameters
    ----------
    x : array_like, shape (N, D).
    mu : array_like, shape (D,).
    cov : array_like, shape (D, D), symmetric positive definite.

    Returns
    -------
    ndarray, shape (N,).
    """
    x, mu, cov, _ = _mvn_inputs(x, mu, cov)
    lam, Q = np.linalg.eigh(cov)
    y = (x - mu) @ Q  # row n is Qᵀ(x_n - μ)
    return np.sum(y * y / lam, axis=1)


# --------------------------------------------------------------------------- geometry


def principal_axes(cov) -> tuple[np.ndarray, np.ndarray]:
    """Principal axes of a covariance: Σ u_i = λ_i u_i (PRML 2.45), largest variance first.

    Each eigenvector's sign is fixed so that its largest-magnitude component is positive,
    making the result reproducible across LAPACK builds.

    Parameters
    ----------
    cov : array_like, shape (D, D), symmetric positive definite.

    Returns
    -------
    eigenvalues : ndarray, shape (D,), descending (variances along the axes).
    eigenvectors : ndarray, shape (D, D), orthonormal; column i is u_i.
    """
    cov = validate_covariance(cov)
    lam, Q = np.linalg.eigh(cov)
    lam, Q = lam[::-1], Q[:, ::-1]
    pivot = Q[np.argmax(np.abs(Q), axis=0), np.arange(Q.shape[1])]
    return lam, Q * np.where(pivot < 0, -1.0, 1.0)


def covariance_ellipse(cov, n_std: float = 2.0) -> tuple[float, float, float]:
    """Ellipse {x : Δ²(x) = n_std²} of a 2-D Gaussian, for ``matplotlib.patches.Ellipse``.

    The semi-axes are n_std·√λ_i along the principal axes u_i (PRML Fig. 2.7). For a 2-D
    Gaussian the ellipse holds probability 1 - exp(-n_std²/2) (Δ² ~ χ²₂): 39.3 % at 1, 86.5 %
    at 2; use ``n_std = sqrt(scipy.stats.chi2.ppf(0.95, 2))`` ≈ 2.448 for 95 %.

    Parameters
    ----------
    cov : array_like, shape (2, 2), symmetric positive definite.
    n_std : float > 0, the Mahalanobis radius.

    Returns
    -------
    width : float, full length of the major axis (2 · n_std · √λ₁).
    height : float, full length of the minor axis (2 · n_std · √λ₂).
    angle_degrees : float in (-90, 90], counter-clockwise from the x-axis to the major axis.

    Example::

        w, h, a = covariance_ellipse(cov, n_std=2)
        ax.add_patch(matplotlib.patches.Ellipse(mu, w, h, angle=a, fill=False))
    """
    cov = validate_covariance(cov, n_features=2)
    n_std = validate_scalar(n_std, name="n_std", positive=True)
    lam, Q = principal_axes(cov)
    angle = float(np.degrees(np.arctan2(Q[1, 0], Q[0, 0])))
    # The axis is a line, so θ and θ ± 180° are the same ellipse; report it in (-90, 90].
    if angle <= -90.0:
        angle += 180.0
    elif angle > 90.0:
        angle -= 180.0
    width, height = 2.0 * n_std * np.sqrt(lam)
    return float(width), float(height), angle
