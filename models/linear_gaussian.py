"""Gaussian identities of PRML 2.3 in closed form: linear transforms, marginals, conditionals,
and Bayes' theorem for the linear-Gaussian model (PRML 2.113–2.117).

Pure numpy/scipy: this is the truth that :func:`models.gaussian_models.linear_gaussian_model`
(its PyMC twin) is compared with, so it never imports PyMC.

The model (PRML 2.113–2.114)::

    x     ~ N(μ, Λ⁻¹)              x ∈ R^D, Λ the prior precision
    y | x ~ N(A x + b, L⁻¹)        y ∈ R^M, A (M, D), L the noise precision

gives

* the joint of z = (x, y) (PRML 2.104–2.108): precision R = [[Λ + AᵀLA, −AᵀL], [−LA, L]],
  covariance [[Λ⁻¹, Λ⁻¹Aᵀ], [AΛ⁻¹, L⁻¹ + AΛ⁻¹Aᵀ]], mean (μ, Aμ + b);
* the marginal p(y) = N(y | Aμ + b, L⁻¹ + AΛ⁻¹Aᵀ) (PRML 2.109–2.110, 2.115);
* the posterior p(x | y) = N(x | Σ{AᵀL(y − b) + Λμ}, Σ) with Σ = (Λ + AᵀLA)⁻¹
  (PRML 2.111–2.112, 2.116–2.117).

The general identities it rests on are here too: :func:`linear_transform` (y = Ax + b of a
Gaussian is Gaussian), :func:`marginal` (PRML 2.92–2.93), :func:`conditional` (covariance form,
PRML 2.81–2.82) and :func:`conditional_from_precision` (precision form, PRML 2.73–2.75).

Notes on the seed notes (seed 003): they print cov[y] of y = Ax + b as AᵀΣA, E[z] as (μ, Aμ − b)
and cov[y] of the linear-Gaussian model as Lᵀ + AΛ⁻¹Aᵀ; the shapes (and PRML) say AΣAᵀ,
(μ, Aμ + b) and L⁻¹ + AΛ⁻¹Aᵀ, which is what this module computes and the tests verify by Monte
Carlo and by Bayes' rule.

Every matrix is validated up front (finite, right shape, symmetric positive definite where it
must be) and a :class:`~models.validation.DataError` says what was wrong. Inverses are formed
only where the answer *is* an inverse (a covariance given a precision), through Cholesky solves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import linalg, stats

from models.validation import DataError, validate_samples_2d, validate_spd, validate_vector

__all__ = [
    "Gaussian",
    "linear_transform",
    "marginal",
    "conditional",
    "conditional_from_precision",
    "LinearGaussian",
]


class Gaussian(NamedTuple):
    """A multivariate normal N(mean, cov) by its moments.

    Attributes
    ----------
    mean : ndarray, shape (D,).
    cov : ndarray, shape (D, D), symmetric positive definite.
    """

    mean: np.ndarray
    cov: np.ndarray

    @property
    def sd(self) -> np.ndarray:
        """Marginal standard deviations √diag(cov), shape (D,)."""
        return np.sqrt(np.diag(self.cov))

    def dist(self):
        """The frozen ``scipy.stats.multivariate_normal(mean, cov)``."""
        return stats.multivariate_normal(self.mean, self.cov)


# --------------------------------------------------------------------------- helpers


def _inverse_from_chol(chol: np.ndarray) -> np.ndarray:
    """P⁻¹ from P's lower Cholesky factor, (D, D), exactly symmetric."""
    inv = linalg.cho_solve((chol, True), np.eye(chol.shape[0]), check_finite=False)
    return 0.5 * (inv + inv.T)


def _matrix(a, *, name: str, shape: tuple[int | None, int | None]) -> np.ndarray:
    """A finite real 2-D matrix of the given shape (None = any), float64 copy."""
    if np.ndim(a) == 0:
        raise DataError(f"{name} must be a 2-D matrix of shape {_shape_text(shape)}, got a scalar; "
                        "wrap it, e.g. [[a]].")
    arr = validate_samples_2d(a, name=name, allow_constant=True)
    for axis, want in enumerate(shape):
        if want is not None and arr.shape[axis] != want:
            raise DataError(f"{name} must have shape {_shape_text(shape)}, got {arr.shape}.")
    return arr


def _shape_text(shape) -> str:
    return "(" + ", ".join("·" if s is None else str(s) for s in shape) + ")"


def _moments(mu, cov, *, mu_name: str = "mu", cov_name: str = "cov"):
    """Validated mean (D,), covariance (D, D) and its lower Cholesky factor."""
    mu = validate_vector(mu, name=mu_name, size=int(np.size(mu)))
    cov, chol = validate_spd(cov, name=cov_name, n_features=mu.shape[0])
    return mu, cov, chol


def _indices(idx, d: int, *, name: str) -> np.ndarray:
    """Distinct integer positions in 0..d-1 (negative ones counted from the end), shape (K,)."""
    arr = np.atleast_1d(np.asarray(idx))
    if arr.size == 0:
        raise DataError(f"{name} is empty; give at least one index in 0..{d - 1}.")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise DataError(f"{name} must be a list of integer positions in 0..{d - 1}, got {idx!r}.")
    if np.any(arr >= d) or np.any(arr < -d):
        raise DataError(f"{name} = {arr.tolist()} has positions outside 0..{d - 1} for a {d}-dimensional Gaussian.")
    arr = arr % d
    if np.unique(arr).size != arr.size:
        raise DataError(f"{name} = {arr.tolist()} repeats a position; each variable can appear once.")
    return arr


# --------------------------------------------------------------------------- identities


def linear_transform(mu, cov, A, b=None) -> Gaussian:
    """Distribution of y = A x + b for x ~ N(μ, Σ): y ~ N(Aμ + b, AΣAᵀ).

    Parameters
    ----------
    mu : array_like, shape (D,).
    cov : array_like, shape (D, D), symmetric positive definite.
    A : array_like, shape (M, D). With M < D and full row rank the result is still a proper
        Gaussian; rank-deficient A gives a singular AΣAᵀ, which is refused.
    b : array_like, shape (M,), or None for zero.

    Returns
    -------
    Gaussian with mean (M,) and cov (M, M).
    """
    mu, cov, chol = _moments(mu, cov)
    A = _matrix(A, name="A", shape=(None, mu.shape[0]))
    b = np.zeros(A.shape[0]) if b is None else validate_vector(b, name="b", size=A.shape[0])
    factor = A @ chol  # AΣAᵀ = (AL)(AL)ᵀ: symmetric and PSD by construction
    out = factor @ factor.T
    out = 0.5 * (out + out.T)
    validate_spd(out, name="A cov A^T")
    return Gaussian(A @ mu + b, out)


def marginal(mu, cov, idx) -> Gaussian:
    """Marginal of the components ``idx`` of x ~ N(μ, Σ): N(μ_a, Σ_aa) (PRML 2.92–2.93).

    Parameters
    ----------
    mu : array_like, shape (D,).
    cov : array_like, shape (D, D), symmetric positive definite.
    idx : positions a (K,) to keep, in the order wanted.

    Returns
    -------
    Gaussian with mean (K,) and cov (K, K).
    """
    mu, cov, _ = _moments(mu, cov)
    a = _indices(idx, mu.shape[0], name="idx")
    return Gaussian(mu[a], cov[np.ix_(a, a)])


def _split(mu, d: int, idx_a, x_b):
    a = _indices(idx_a, d, name="idx_a")
    b = np.setdiff1d(np.arange(d), a)
    if b.size == 0:
        raise DataError("idx_a lists every variable, so nothing is left to condition on; "
                        "leave at least one index out.")
    x_b = validate_vector(x_b, name="x_b", size=b.size)
    return a, b, x_b


def conditional(mu, cov, idx_a, x_b) -> Gaussian:
    """p(x_a | x_b) for x ~ N(μ, Σ), covariance form (PRML 2.81–2.82)::

        μ_a|b = μ_a + Σ_ab Σ_bb⁻¹ (x_b − μ_b),   Σ_a|b = Σ_aa − Σ_ab Σ_bb⁻¹ Σ_ba  (Schur complement)

    Parameters
    ----------
    mu : array_like, shape (D,).
    cov : array_like, shape (D, D), symmetric positive definite.
    idx_a : positions a (K,) of the variables to keep; the rest, in increasing order, are b.
    x_b : array_like, shape (D − K,), the observed values of x_b.

    Returns
    -------
    Gaussian with mean (K,) and cov (K, K).
    """
    mu, cov, _ = _moments(mu, cov)
    a, b, x_b = _split(mu, mu.shape[0], idx_a, x_b)
    _, chol_bb = validate_spd(cov[np.ix_(b, b)], name="cov[b, b]")
    gain = linalg.cho_solve((chol_bb, True), cov[np.ix_(b, a)], check_finite=False).T  # Σ_ab Σ_bb⁻¹, (K, D-K)
    mean = mu[a] + gain @ (x_b - mu[b])
    out = cov[np.ix_(a, a)] - gain @ cov[np.ix_(b, a)]
    return Gaussian(mean, 0.5 * (out + out.T))


def conditional_from_precision(mu, precision, idx_a, x_b) -> Gaussian:
    """p(x_a | x_b) for x ~ N(μ, Λ⁻¹), precision form (PRML 2.73–2.75)::

        Σ_a|b = Λ_aa⁻¹,   μ_a|b = μ_a − Λ_aa⁻¹ Λ_ab (x_b − μ_b)

    Same arguments as :func:`conditional` with the precision Λ (D, D) in place of Σ.
    """
    mu, precision, _ = _moments(mu, precision, cov_name="precision")
    a, b, x_b = _split(mu, mu.shape[0], idx_a, x_b)
    _, chol_aa = validate_spd(precision[np.ix_(a, a)], name="precision[a, a]")
    shift = linalg.cho_solve((chol_aa, True), precision[np.ix_(a, b)] @ (x_b - mu[b]), check_finite=False)
    return Gaussian(mu[a] - shift, _inverse_from_chol(chol_aa))


# --------------------------------------------------------------------------- the linear-Gaussian model


@dataclass(frozen=True, eq=False)
class LinearGaussian:
    """The linear-Gaussian model x ~ N(μ, Λ⁻¹), y | x ~ N(Ax + b, L⁻¹) (PRML 2.113–2.114).

    Attributes
    ----------
    mu : ndarray (D,), prior mean of x.
    Lambda : ndarray (D, D), prior precision of x (SPD).
    A : ndarray (M, D), the linear map.
    b : ndarray (M,), the offset.
    L : ndarray (M, M), precision of y given x (SPD).

    Example::

        lg = LinearGaussian(mu=[0, 0], Lambda=np.eye(2), A=[[1.0, 0.5]], b=[0.0], L=[[4.0]])
        lg.marginal_y().cov        # (1, 1): 1/4 + A Aᵀ
        lg.posterior_x([1.2]).mean # (2,)
    """

    mu: np.ndarray
    Lambda: np.ndarray
    A: np.ndarray
    b: np.ndarray
    L: np.ndarray

    def __post_init__(self):
        mu = validate_vector(self.mu, name="mu", size=int(np.size(self.mu)))
        d = mu.shape[0]
        Lambda, chol_Lambda = validate_spd(self.Lambda, name="Lambda", n_features=d)
        A = _matrix(self.A, name="A", shape=(None, d))
        m = A.shape[0]
        b = validate_vector(self.b, name="b", size=m)
        L, chol_L = validate_spd(self.L, name="L", n_features=m)
        for key, value in {"mu": mu, "Lambda": Lambda, "A": A, "b": b, "L": L,
                           "_chol_Lambda": chol_Lambda, "_chol_L": chol_L}.items():
            value = np.array(value, dtype=np.float64)
            value.flags.writeable = False
            object.__setattr__(self, key, value)

    @property
    def D(self) -> int:
        """Dimension of x."""
        return int(self.mu.shape[0])

    @property
    def M(self) -> int:
        """Dimension of y."""
        return int(self.b.shape[0])

    @property
    def cov_x(self) -> np.ndarray:
        """Prior covariance Λ⁻¹ of x, (D, D)."""
        return _inverse_from_chol(self._chol_Lambda)

    @property
    def cov_y_given_x(self) -> np.ndarray:
        """Noise covariance L⁻¹ of y given x, (M, M)."""
        return _inverse_from_chol(self._chol_L)

    def prior_x(self) -> Gaussian:
        """p(x) = N(μ, Λ⁻¹) (PRML 2.113)."""
        return Gaussian(self.mu.copy(), self.cov_x)

    def joint_precision(self) -> np.ndarray:
        """R = [[Λ + AᵀLA, −AᵀL], [−LA, L]], (D + M, D + M) (PRML 2.104); z = (x, y)."""
        LA = self.L @ self.A
        top = np.hstack([self.Lambda + self.A.T @ LA, -LA.T])
        bottom = np.hstack([-LA, self.L])
        R = np.vstack([top, bottom])
        return 0.5 * (R + R.T)

    def joint(self) -> Gaussian:
        """p(x, y): mean (μ, Aμ + b) (PRML 2.108) and covariance (PRML 2.105), (D + M,) / (D + M, D + M)."""
        cov_x = self.cov_x
        cross = self.A @ cov_x  # cov[y, x] = AΛ⁻¹
        cov_y = self.marginal_y().cov
        cov = np.block([[cov_x, cross.T], [cross, cov_y]])
        return Gaussian(np.concatenate([self.mu, self.A @ self.mu + self.b]), 0.5 * (cov + cov.T))

    def marginal_y(self) -> Gaussian:
        """p(y) = N(y | Aμ + b, L⁻¹ + AΛ⁻¹Aᵀ) (PRML 2.109–2.110, 2.115); mean (M,), cov (M, M)."""
        half = linalg.solve_triangular(self._chol_Lambda, self.A.T, lower=True, check_finite=False)  # L_Λ⁻¹ Aᵀ
        cov = self.cov_y_given_x + half.T @ half  # AΛ⁻¹Aᵀ = (L_Λ⁻¹Aᵀ)ᵀ(L_Λ⁻¹Aᵀ)
        return Gaussian(self.A @ self.mu + self.b, 0.5 * (cov + cov.T))

    def posterior_x(self, y) -> Gaussian:
        """p(x | y) = N(x | Σ{AᵀL(y − b) + Λμ}, Σ), Σ = (Λ + AᵀLA)⁻¹ (PRML 2.111–2.112, 2.116–2.117).

        Parameters
        ----------
        y : array_like, shape (M,), one observation of y.

        Returns
        -------
        Gaussian with mean (D,) and cov (D, D).
        """
        y = validate_vector(y, name="y", size=self.M)
        precision = self.Lambda + self.A.T @ self.L @ self.A
        _, chol = validate_spd(0.5 * (precision + precision.T), name="Lambda + A^T L A")
        rhs = self.A.T @ (self.L @ (y - self.b)) + self.Lambda @ self.mu
        mean = linalg.cho_solve((chol, True), rhs, check_finite=False)
        return Gaussian(mean, _inverse_from_chol(chol))

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Forward (ancestral) draws: x ~ p(x), then y ~ p(y | x).

        Returns
        -------
        x : ndarray (size, D); y : ndarray (size, M).
        """
        if not isinstance(rng, np.random.Generator):
            raise DataError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}.")
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
            raise DataError(f"size must be a whole number >= 1, got {size!r}.")
        chol_x = np.linalg.cholesky(self.cov_x)
        chol_y = np.linalg.cholesky(self.cov_y_given_x)
        x = self.mu + rng.standard_normal((size, self.D)) @ chol_x.T
        y = x @ self.A.T + self.b + rng.standard_normal((size, self.M)) @ chol_y.T
        return x, y
