"""Sequential (online) estimation: one observation at a time, every intermediate estimate kept.

Each function returns the whole trajectory so analyses can plot convergence, and each one's
last row equals its batch counterpart in :mod:`models.gaussian` / :mod:`models.conjugate`
(the tests check every row, to ~1e-12 relative). The recursions are written out
point by point on purpose — they are the object of study, not a faster route to the batch
answer. Equation numbers refer to Bishop, *Pattern Recognition and Machine Learning* (PRML).

Trajectory conventions
----------------------
* Point estimates (:func:`online_mean`, :func:`welford`, :func:`robbins_monro_mean`): row
  ``k`` is the estimate after observations ``x[0..k]``, so there are N rows.
* Bayesian updating (``sequential_*``): row ``k`` is the posterior after ``k`` observations,
  row 0 being the prior, so there are N + 1 rows; ``.posterior(k)`` rebuilds that posterior.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import linalg

from models.conjugate import (
    GammaPrecisionKnownMean,
    GammaPrecisionPosterior,
    NormalGamma,
    NormalGammaPosterior,
    NormalMeanKnownVariance,
    NormalMeanPosterior,
)
from models.conjugate_mvn import NormalWishart, NormalWishartPosterior
from models.validation import (
    DataError,
    validate_samples,
    validate_samples_1d,
    validate_samples_2d,
    validate_scalar,
)

__all__ = [
    "online_mean",
    "welford",
    "RunningMoments",
    "robbins_monro_mean",
    "sequential_normal_mean",
    "sequential_gamma_precision",
    "sequential_normal_gamma",
    "sequential_normal_wishart",
    "NormalMeanTrajectory",
    "GammaPrecisionTrajectory",
    "NormalGammaTrajectory",
    "NormalWishartTrajectory",
]


def _frozen(a, dtype=np.float64) -> np.ndarray:
    a = np.array(a, dtype=dtype)
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------- point estimates


def online_mean(x) -> np.ndarray:
    """Running ML mean by PRML 2.126: μ⁽ⁿ⁾ = μ⁽ⁿ⁻¹⁾ + (x_n - μ⁽ⁿ⁻¹⁾)/n.

    Each new point moves the estimate by a 1/n share of its "error signal" x_n - μ⁽ⁿ⁻¹⁾.

    Parameters
    ----------
    x : array_like, shape (N,) or (N, D).

    Returns
    -------
    ndarray, shape (N,) or (N, D): row k is the mean of x[0..k].
    """
    x = validate_samples(x, name="x", min_rows=1, why=None, allow_constant=True)
    out = np.empty_like(x)
    mu = np.zeros_like(x[0])
    for k, x_n in enumerate(x):
        mu = mu + (x_n - mu) / (k + 1)
        out[k] = mu
    return out


@dataclass(frozen=True, eq=False)
class RunningMoments:
    """Welford's running mean and scatter.

    Attributes
    ----------
    n : ndarray (N,), 1..N observations seen.
    mean : ndarray (N,) or (N, D), running mean.
    scatter : ndarray (N,) or (N, D, D), running Σ_{m<=n} (x_m - x̄_n)(x_m - x̄_n)ᵀ.
    """

    n: np.ndarray
    mean: np.ndarray
    scatter: np.ndarray

    def covariance(self, ddof: int = 0) -> np.ndarray:
        """Running variance/covariance ``scatter / (n - ddof)``: ddof 0 is the MLE (PRML 2.122),
        1 the unbiased estimate (2.125). Shape (N,) or (N, D, D); rows with n <= ddof are NaN."""
        if ddof not in (0, 1):
            raise DataError(f"ddof must be 0 (maximum likelihood) or 1 (unbiased), got {ddof!r}.")
        denom = (self.n - ddof).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = np.where(denom > 0, denom, np.nan)
        return self.scatter / denom.reshape((-1,) + (1,) * (self.scatter.ndim - 1))


def welford(x) -> RunningMoments:
    """Welford's one-pass running mean and (co)variance.

    For each new x_n: δ = x_n - x̄_{n-1};  x̄_n = x̄_{n-1} + δ/n;  S_n = S_{n-1} + δ (x_n - x̄_n)ᵀ.
    Unlike Σx² - n x̄², it never subtracts two large nearly-equal numbers, so it stays
    accurate for data far from zero (heights in µm, timestamps, ...).

    Parameters
    ----------
    x : array_like, shape (N,) or (N, D).

    Returns
    -------
    RunningMoments; ``.covariance(0)`` row k equals ``mle_cov(x[:k+1])``.
    """
    x = validate_samples(x, name="x", min_rows=1, why=None, allow_constant=True)
    univariate = x.ndim == 1
    xs = x[:, None] if univariate else x
    n_rows, d = xs.shape
    means = np.empty((n_rows, d))
    scatters = np.empty((n_rows, d, d))
    mean, scatter = np.zeros(d), np.zeros((d, d))
    for k, x_n in enumerate(xs):
        delta = x_n - mean
        mean = mean + delta / (k + 1)
        scatter = scatter + np.outer(delta, x_n - mean)
        means[k], scatters[k] = mean, scatter
    scatters = 0.5 * (scatters + np.swapaxes(scatters, 1, 2))  # exact symmetry; the update is symmetric in theory
    if univariate:
        return RunningMoments(_frozen(np.arange(1, n_rows + 1), np.int64), _frozen(means[:, 0]), _frozen(scatters[:, 0, 0]))
    return RunningMoments(_frozen(np.arange(1, n_rows + 1), np.int64), _frozen(means), _frozen(scatters))


def _step_sizes(step, n_rows: int, sigma: float) -> np.ndarray:
    """The coefficients a_{n-1}, n = 1..N, shape (N,)."""
    n = np.arange(1, n_rows + 1, dtype=float)
    if step is None:
        return sigma**2 / n
    if callable(step):
        a = np.array([step(int(k)) for k in n], dtype=float)
    else:
        a = validate_samples_1d(step, name="step", allow_constant=True)
        if a.shape != (n_rows,):
            raise DataError(f"step must have one coefficient per observation, shape ({n_rows},), got {a.shape}.")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise DataError("step sizes a_n must be finite and > 0 (Robbins–Monro needs a_n > 0, PRML 2.130–2.132).")
    return a


def _theta0(theta0, shape: tuple) -> float | np.ndarray:
    """The starting value as a float (shape ()) or an array of ``shape`` (D,)."""
    if np.ndim(theta0) == 0:
        value = validate_scalar(theta0, name="theta0")
        return np.full(shape, value) if shape else value
    arr = validate_samples_1d(theta0, name="theta0", allow_constant=True)
    if arr.shape != shape:
        raise DataError(f"theta0 must be a number or have shape {shape}, got {arr.shape}.")
    return arr


def robbins_monro_mean(x, sigma, *, theta0=0.0, step: Callable[[int], float] | np.ndarray | None = None) -> np.ndarray:
    """Robbins–Monro root finding for the Gaussian mean (PRML 2.135–2.136).

    θ⁽ⁿ⁾ = θ⁽ⁿ⁻¹⁾ - a_{n-1} z(θ⁽ⁿ⁻¹⁾) with z = ∂/∂θ[-ln N(x_n | θ, σ²)] = -(x_n - θ)/σ².
    With the default a_{n-1} = σ²/n this *is* the online mean 2.126 (θ⁽¹⁾ = x_1 whatever θ0).

    Parameters
    ----------
    x : array_like, shape (N,) or (N, D) (then σ is the same for every coordinate).
    sigma : float > 0, the known observation standard deviation.
    theta0 : float or (D,), the starting value θ⁽⁰⁾.
    step : None for a_{n-1} = σ²/n; or a callable n -> a_{n-1} (n = 1..N); or an array (N,).
        Must satisfy PRML 2.130–2.132 to converge (e.g. σ²/n^0.7).

    Returns
    -------
    ndarray, shape (N,) or (N, D): row k is θ⁽ᵏ⁺¹⁾, after observation x[k].
    """
    x = validate_samples(x, name="x", min_rows=1, why=None, allow_constant=True)
    sigma = validate_scalar(sigma, name="sigma", positive=True)
    theta = _theta0(theta0, x.shape[1:])
    a = _step_sizes(step, x.shape[0], sigma)
    out = np.empty_like(x)
    for k, x_n in enumerate(x):
        z = -(x_n - theta) / sigma**2  # 2.136
        theta = theta - a[k] * z  # 2.135
        out[k] = theta
    return out


# --------------------------------------------------------------------------- Bayesian updating


def _start(prior, prior_type, posterior_type):
    if isinstance(prior, prior_type):
        return prior.as_posterior()
    if isinstance(prior, posterior_type):
        return prior
    raise DataError(f"prior must be a {prior_type.__name__} or {posterior_type.__name__}, got {type(prior).__name__}.")


@dataclass(frozen=True, eq=False)
class NormalMeanTrajectory:
    """Posteriors N(mu_N[k], sigma_N[k]²) after k = 0..N points. Arrays (N + 1,); ``sigma`` known."""

    n: np.ndarray
    mu_N: np.ndarray
    sigma_N: np.ndarray
    sigma: float

    def posterior(self, k: int) -> NormalMeanPosterior:
        return NormalMeanPosterior(self.mu_N[k], self.sigma_N[k], self.sigma, int(self.n[k]))


def sequential_normal_mean(prior, x) -> NormalMeanTrajectory:
    """Posterior of a Gaussian mean (σ known) after each point: yesterday's posterior is today's prior
    (PRML 2.144). One point: 1/σ_n² = 1/σ_{n-1}² + 1/σ², μ_n = σ_n² (μ_{n-1}/σ_{n-1}² + x_n/σ²).

    Parameters
    ----------
    prior : NormalMeanKnownVariance (or a NormalMeanPosterior to continue from).
    x : array_like, shape (N,).

    Returns
    -------
    NormalMeanTrajectory with arrays of shape (N + 1,); row 0 is the prior.
    """
    start = _start(prior, NormalMeanKnownVariance, NormalMeanPosterior)
    x = validate_samples_1d(x, name="x", allow_constant=True)
    mu, prec, lam = np.empty(x.size + 1), np.empty(x.size + 1), 1.0 / start.sigma**2
    mu[0], prec[0] = start.mu_N, 1.0 / start.sigma_N**2
    for k, x_n in enumerate(x):
        prec[k + 1] = prec[k] + lam
        mu[k + 1] = (prec[k] * mu[k] + lam * x_n) / prec[k + 1]
    n = start.n_obs + np.arange(x.size + 1)
    return NormalMeanTrajectory(_frozen(n, np.int64), _frozen(mu), _frozen(1.0 / np.sqrt(prec)), start.sigma)


@dataclass(frozen=True, eq=False)
class GammaPrecisionTrajectory:
    """Posteriors Gam(a_N[k], b_N[k]) of the precision after k = 0..N points. Arrays (N + 1,); ``mu`` known."""

    n: np.ndarray
    a_N: np.ndarray
    b_N: np.ndarray
    mu: float

    def posterior(self, k: int) -> GammaPrecisionPosterior:
        return GammaPrecisionPosterior(self.mu, self.a_N[k], self.b_N[k], int(self.n[k]))


def sequential_gamma_precision(prior, x) -> GammaPrecisionTrajectory:
    """Posterior of a Gaussian precision (μ known) after each point: a += ½, b += ½ (x_n - μ)² (PRML 2.150–2.151).

    Parameters
    ----------
    prior : GammaPrecisionKnownMean (or a GammaPrecisionPosterior).
    x : array_like, shape (N,).

    Returns
    -------
    GammaPrecisionTrajectory with arrays of shape (N + 1,); row 0 is the prior.
    """
    start = _start(prior, GammaPrecisionKnownMean, GammaPrecisionPosterior)
    x = validate_samples_1d(x, name="x", allow_constant=True)
    a, b = np.empty(x.size + 1), np.empty(x.size + 1)
    a[0], b[0] = start.a_N, start.b_N
    for k, x_n in enumerate(x):
        a[k + 1] = a[k] + 0.5
        b[k + 1] = b[k] + 0.5 * (x_n - start.mu) ** 2
    n = start.n_obs + np.arange(x.size + 1)
    return GammaPrecisionTrajectory(_frozen(n, np.int64), _frozen(a), _frozen(b), start.mu)


@dataclass(frozen=True, eq=False)
class NormalGammaTrajectory:
    """Posteriors NormalGamma(mu_N[k], kappa_N[k], a_N[k], b_N[k]) after k = 0..N points. Arrays (N + 1,)."""

    n: np.ndarray
    mu_N: np.ndarray
    kappa_N: np.ndarray
    a_N: np.ndarray
    b_N: np.ndarray

    def posterior(self, k: int) -> NormalGammaPosterior:
        return NormalGammaPosterior(self.mu_N[k], self.kappa_N[k], self.a_N[k], self.b_N[k], int(self.n[k]))


def sequential_normal_gamma(prior, x) -> NormalGammaTrajectory:
    """Normal-Gamma posterior after each point. One point x_n on (μ, κ, a, b)::

        κ' = κ + 1,  μ' = (κ μ + x_n)/κ',  a' = a + ½,  b' = b + κ (x_n - μ)² / (2 κ')

    (the batch formulas of :class:`~models.conjugate.NormalGamma` with N = 1).

    Parameters
    ----------
    prior : NormalGamma (or a NormalGammaPosterior).
    x : array_like, shape (N,).

    Returns
    -------
    NormalGammaTrajectory with arrays of shape (N + 1,); row 0 is the prior.
    """
    start = _start(prior, NormalGamma, NormalGammaPosterior)
    x = validate_samples_1d(x, name="x", allow_constant=True)
    mu, kappa, a, b = (np.empty(x.size + 1) for _ in range(4))
    mu[0], kappa[0], a[0], b[0] = start.mu_N, start.kappa_N, start.a_N, start.b_N
    for k, x_n in enumerate(x):
        kappa[k + 1] = kappa[k] + 1.0
        mu[k + 1] = (kappa[k] * mu[k] + x_n) / kappa[k + 1]
        a[k + 1] = a[k] + 0.5
        b[k + 1] = b[k] + 0.5 * kappa[k] * (x_n - mu[k]) ** 2 / kappa[k + 1]
    n = start.n_obs + np.arange(x.size + 1)
    return NormalGammaTrajectory(_frozen(n, np.int64), _frozen(mu), _frozen(kappa), _frozen(a), _frozen(b))


@dataclass(frozen=True, eq=False)
class NormalWishartTrajectory:
    """Normal-Wishart posteriors after k = 0..N points.

    Attributes
    ----------
    n : (N + 1,); m_N : (N + 1, D); beta_N : (N + 1,); W_N : (N + 1, D, D); nu_N : (N + 1,).
    """

    n: np.ndarray
    m_N: np.ndarray
    beta_N: np.ndarray
    W_N: np.ndarray
    nu_N: np.ndarray

    def posterior(self, k: int) -> NormalWishartPosterior:
        return NormalWishartPosterior(self.m_N[k], self.beta_N[k], self.W_N[k], self.nu_N[k], int(self.n[k]))


def _batched_spd_inverse(A: np.ndarray) -> np.ndarray:
    """(..., D, D) SPD -> inverse via Cholesky: A⁻¹ = L⁻ᵀ L⁻¹."""
    L = np.linalg.cholesky(A)
    L_inv = linalg.solve_triangular(L, np.broadcast_to(np.eye(A.shape[-1]), A.shape), lower=True)
    return np.swapaxes(L_inv, -1, -2) @ L_inv


def sequential_normal_wishart(prior, x) -> NormalWishartTrajectory:
    """Normal-Wishart posterior after each point. One point x_n on (m, β, W, ν)::

        β' = β + 1,  m' = (β m + x_n)/β',  W'⁻¹ = W⁻¹ + β/β' (x_n - m)(x_n - m)ᵀ,  ν' = ν + 1

    (Bishop 10.60–10.63 with N = 1: the scatter of a single point is zero).

    Parameters
    ----------
    prior : NormalWishart (or a NormalWishartPosterior).
    x : array_like, shape (N, D).

    Returns
    -------
    NormalWishartTrajectory; row 0 is the prior.
    """
    start = _start(prior, NormalWishart, NormalWishartPosterior)
    x = validate_samples_2d(x, name="x", n_features=start.D, allow_constant=True)
    n_rows, d = x.shape
    m, W_inv = np.empty((n_rows + 1, d)), np.empty((n_rows + 1, d, d))
    beta = start.beta_N + np.arange(n_rows + 1, dtype=float)
    m[0], W_inv[0] = start.m_N, start.W_N_inv
    for k, x_n in enumerate(x):
        r = x_n - m[k]
        m[k + 1] = (beta[k] * m[k] + x_n) / beta[k + 1]
        W_inv[k + 1] = W_inv[k] + (beta[k] / beta[k + 1]) * np.outer(r, r)
    W = _batched_spd_inverse(W_inv)
    W = 0.5 * (W + np.swapaxes(W, 1, 2))
    W[0] = start.W_N  # the prior's own matrix, not a round trip through its inverse
    n = start.n_obs + np.arange(n_rows + 1)
    return NormalWishartTrajectory(_frozen(n, np.int64), _frozen(m), _frozen(beta), _frozen(W),
                                   _frozen(start.nu_N + np.arange(n_rows + 1, dtype=float)))
