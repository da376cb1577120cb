"""Conjugate Bayesian inference for the multivariate Gaussian: the Normal-Wishart prior.

Pure numpy/scipy, like :mod:`models.conjugate` (the univariate priors), whose shape it shares:
:class:`NormalWishart` is a :class:`models.conjugate.ConjugatePrior` (``as_posterior``,
``posterior``, ``sample``, ``predictive``, ``weak_from_data``) and ``.posterior(x)`` returns a
frozen :class:`NormalWishartPosterior` (``m_N``, ``beta_N``, ``W_N``, ``nu_N``, ``n_obs``) with
``update``, exact ``sample`` (Bartlett decomposition), the multivariate-t ``predictive`` and the
``marginal_*`` distributions. Equation numbers refer to Bishop, *Pattern Recognition and Machine
Learning* (PRML).

The Wishart uses PRML's scale matrix W: W(Λ | W, ν) ∝ |Λ|^((ν-D-1)/2) exp(-½ Tr(W⁻¹Λ)), mean νW
(PRML 2.155; scipy.stats.wishart(df=ν, scale=W)).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import linalg, stats

from models.conjugate import ConjugatePrior, check_draw_args, check_n_obs, round_sig, set_fields
from models.validation import DataError, validate_samples_1d, validate_samples_2d, validate_scalar, validate_spd

__all__ = ["NormalWishart", "NormalWishartPosterior", "NormalWishartDraws"]


def _frozen_array(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


def _spd_inverse(chol: np.ndarray) -> np.ndarray:
    """A⁻¹ from A's lower Cholesky factor, (D, D), symmetrized.

    Only for hyper-parameters that are *defined* through an inverse (W⁻¹ in PRML 10.62);
    densities never form one.
    """
    inv = linalg.cho_solve((chol, True), np.eye(chol.shape[0]), check_finite=False)
    return 0.5 * (inv + inv.T)


class NormalWishartDraws(NamedTuple):
    """Exact draws: ``mu`` (size, D), precision ``Lambda`` (size, D, D), covariance ``Sigma = Lambda⁻¹`` (size, D, D)."""

    mu: np.ndarray
    Lambda: np.ndarray
    Sigma: np.ndarray


def _validate_normal_wishart(m, beta, W, nu, suffix: str):
    """Validated (m (D,), beta, W (D, D), chol(W) (D, D), nu) with read-only arrays."""
    if isinstance(m, numbers.Real) and not isinstance(m, (bool, np.bool_)):
        m = [m]  # D = 1 given as a plain number
    m = validate_samples_1d(m, name=f"m{suffix}", allow_constant=True)
    d = m.shape[0]
    beta = validate_scalar(beta, name=f"beta{suffix}", positive=True)
    W, chol = validate_spd(W, name=f"W{suffix}", n_features=d)
    nu = validate_scalar(nu, name=f"nu{suffix}", greater_than=d - 1)
    return _frozen_array(m), beta, _frozen_array(W), _frozen_array(chol), nu


@dataclass(frozen=True, eq=False)
class NormalWishartPosterior:
    """Posterior NormalWishart(m_N, beta_N, W_N, nu_N): Λ ~ W(W_N, nu_N), μ | Λ ~ N(m_N, (beta_N Λ)⁻¹).

    Attributes
    ----------
    m_N : ndarray (D,), posterior location of μ (= E[μ | x]).
    beta_N : float > 0, pseudo-count of the mean.
    W_N : ndarray (D, D), SPD Wishart scale matrix (E[Λ] = nu_N W_N).
    nu_N : float > D - 1, Wishart degrees of freedom.
    n_obs : int, observations absorbed.

    Derived: ``D``, ``W_N_inv``, ``mean_mu``, ``mean_Lambda``, ``mean_Sigma``, ``cov_mu``;
    ``marginal_mu()`` (multivariate t), ``marginal_Lambda()`` (Wishart), ``marginal_Sigma()``
    (inverse Wishart).
    """

    m_N: np.ndarray
    beta_N: float
    W_N: np.ndarray
    nu_N: float
    n_obs: int = 0
    _chol_W: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        m, beta, W, chol, nu = _validate_normal_wishart(self.m_N, self.beta_N, self.W_N, self.nu_N, "_N")
        set_fields(self, m_N=m, beta_N=beta, W_N=W, nu_N=nu, n_obs=check_n_obs(self.n_obs), _chol_W=chol)

    @property
    def D(self) -> int:
        return int(self.m_N.shape[0])

    @property
    def W_N_inv(self) -> np.ndarray:
        """W_N⁻¹, (D, D): the additive 'scatter' form of the scale (PRML 10.62)."""
        return _spd_inverse(self._chol_W)

    @property
    def mean_mu(self) -> np.ndarray:
        """E[μ | x] = m_N, (D,)."""
        return self.m_N.copy()

    @property
    def mean_Lambda(self) -> np.ndarray:
        """E[Λ | x] = nu_N W_N, (D, D) (PRML B.80)."""
        return self.nu_N * self.W_N

    @property
    def mean_Sigma(self) -> np.ndarray:
        """E[Σ | x] = W_N⁻¹/(nu_N - D - 1), (D, D); needs nu_N > D + 1."""
        if self.nu_N <= self.D + 1:
            raise DataError(f"E[Sigma] is infinite unless nu_N > D + 1 = {self.D + 1}; got nu_N = {self.nu_N:g}.")
        return self.W_N_inv / (self.nu_N - self.D - 1)

    @property
    def cov_mu(self) -> np.ndarray:
        """Cov[μ | x] = W_N⁻¹/(beta_N (nu_N - D - 1)), (D, D): the t marginal's shape · df/(df - 2)."""
        if self.nu_N <= self.D + 1:
            raise DataError(f"Cov[mu] is infinite unless nu_N > D + 1 = {self.D + 1}; got nu_N = {self.nu_N:g}.")
        return self.W_N_inv / (self.beta_N * (self.nu_N - self.D - 1))

    def update(self, x) -> "NormalWishartPosterior":
        """Posterior after observing ``x`` (N, D) more (PRML 10.60–10.63 with every r_nk = 1)."""
        x = validate_samples_2d(x, name="x", n_features=self.D, allow_constant=True)
        n = x.shape[0]
        xbar = x.mean(axis=0)
        centred = x - xbar
        diff = xbar - self.m_N
        beta_N = self.beta_N + n  # 10.60
        m_N = (self.beta_N * self.m_N + n * xbar) / beta_N  # 10.61
        # 10.62: W_N⁻¹ = W⁻¹ + N S + β N/(β + N) (x̄ - m)(x̄ - m)ᵀ, with N S the scatter matrix.
        W_inv = self.W_N_inv + centred.T @ centred + (self.beta_N * n / beta_N) * np.outer(diff, diff)
        W_inv = 0.5 * (W_inv + W_inv.T)
        _, chol = validate_spd(W_inv, name="W_N^-1")
        return NormalWishartPosterior(m_N, beta_N, _spd_inverse(chol), self.nu_N + n, self.n_obs + n)  # 10.63

    def _t_df(self) -> float:
        return self.nu_N - self.D + 1.0

    def marginal_mu(self):
        """p(μ | x) = multivariate t: df = nu_N - D + 1, loc m_N, shape W_N⁻¹/(beta_N (nu_N - D + 1))."""
        df = self._t_df()
        return stats.multivariate_t(loc=self.m_N, shape=self.W_N_inv / (self.beta_N * df), df=df)

    def marginal_Lambda(self):
        """p(Λ | x) = ``scipy.stats.wishart(df=nu_N, scale=W_N)``."""
        return stats.wishart(df=self.nu_N, scale=self.W_N)

    def marginal_Sigma(self):
        """p(Σ | x) = ``scipy.stats.invwishart(df=nu_N, scale=W_N⁻¹)`` for Σ = Λ⁻¹."""
        return stats.invwishart(df=self.nu_N, scale=self.W_N_inv)

    def sample(self, rng: np.random.Generator, size: int) -> NormalWishartDraws:
        """Exact draws of (μ, Λ, Σ = Λ⁻¹) by the Bartlett decomposition.

        With W_N = L Lᵀ and A lower-triangular, A_ii² ~ χ²(nu_N - i) (i = 0..D-1), A_ij ~ N(0, 1)
        below the diagonal: C = L A gives Λ = C Cᵀ ~ W(W_N, nu_N). Then Σ = C⁻ᵀ C⁻¹ and
        μ = m_N + C⁻ᵀ z / √beta_N, z ~ N(0, I), has covariance (beta_N Λ)⁻¹ — triangular solves only.

        Returns
        -------
        NormalWishartDraws with mu (size, D), Lambda (size, D, D), Sigma (size, D, D).
        """
        size = check_draw_args(rng, size)
        d = self.D
        A = np.zeros((size, d, d))
        rows, cols = np.tril_indices(d, k=-1)
        A[:, rows, cols] = rng.standard_normal((size, rows.size))
        diag = np.arange(d)
        A[:, diag, diag] = np.sqrt(rng.chisquare(self.nu_N - diag, size=(size, d)))
        C = self._chol_W @ A  # (size, D, D), lower-triangular
        C_inv = linalg.solve_triangular(C, np.broadcast_to(np.eye(d), C.shape), lower=True, check_finite=False)
        C_inv_T = np.swapaxes(C_inv, -1, -2)
        Lambda = C @ np.swapaxes(C, -1, -2)
        Sigma = C_inv_T @ C_inv
        z = rng.standard_normal((size, d, 1))
        mu = self.m_N + (C_inv_T @ z)[..., 0] / np.sqrt(self.beta_N)
        return NormalWishartDraws(mu, Lambda, Sigma)

    def predictive(self):
        """p(x_new | x) = multivariate t (Bishop 10.81 with one component):
        df = nu_N - D + 1, loc m_N, shape (beta_N + 1)/((nu_N - D + 1) beta_N) · W_N⁻¹."""
        df = self._t_df()
        shape = (self.beta_N + 1.0) / (df * self.beta_N) * self.W_N_inv
        return stats.multivariate_t(loc=self.m_N, shape=shape, df=df)


@dataclass(frozen=True, eq=False)
class NormalWishart(ConjugatePrior):
    """Prior NormalWishart(m0, beta0, W0, nu0) for x_n | μ, Λ ~ N(μ, Λ⁻¹), x_n ∈ R^D (PRML 2.157).

    Λ ~ W(W0, nu0), μ | Λ ~ N(m0, (beta0 Λ)⁻¹). Posterior (Bishop 10.60–10.63, all r_nk = 1)::

        beta_N  = beta0 + N
        m_N     = (beta0 m0 + N x̄) / beta_N
        W_N⁻¹   = W0⁻¹ + N S + beta0 N/(beta0 + N) (x̄ - m0)(x̄ - m0)ᵀ,   S = Σ_ML
        nu_N    = nu0 + N

    Attributes
    ----------
    m0 : array_like (D,), prior location of μ.
    beta0 : float > 0, prior pseudo-count for μ.
    W0 : array_like (D, D), SPD Wishart scale (E[Λ] = nu0 W0).
    nu0 : float > D - 1, Wishart degrees of freedom.

    Prior draws: ``sample(rng, size)``, a :class:`NormalWishartDraws`; prior predictive the
    multivariate t of :meth:`NormalWishartPosterior.predictive` with N = 0.
    """

    m0: np.ndarray
    beta0: float
    W0: np.ndarray
    nu0: float

    def __post_init__(self):
        m, beta, W, _, nu = _validate_normal_wishart(self.m0, self.beta0, self.W0, self.nu0, "0")
        set_fields(self, m0=m, beta0=beta, W0=W, nu0=nu)

    @property
    def D(self) -> int:
        return int(self.m0.shape[0])

    def as_posterior(self) -> NormalWishartPosterior:
        """The prior itself as a posterior after N = 0 observations."""
        return NormalWishartPosterior(self.m0, self.beta0, self.W0, self.nu0, 0)

    @classmethod
    def weak_from_data(cls, y) -> NormalWishart:
        """A weak prior scaled to ``y`` (N, D), N >= 2, no constant column: E[Λ] = diag(1/s_j²).

        m_j is the mean of column j rounded to 2 significant digits, s_j its sd (÷N) rounded to 1
        (:func:`models.conjugate.round_sig`). Λ ~ W(W0, nu0 = D + 2) with W0 = diag(1/s_j²)/nu0,
        the smallest whole degrees of freedom for which E[Σ] = W0⁻¹/(nu0 - D - 1) is finite;
        μ | Λ ~ N(m, Λ⁻¹), one pseudo-observation (beta0 = 1). E.g. columns [118, 122, 126, 130]
        and [1, 3, 5, 7] (means 124, 4; sds √20 ≈ 4.47, √5 ≈ 2.24): m0 = (120, 4), beta0 = 1,
        nu0 = 4, W0 = diag(1/16, 1/4)/4.
        """
        y = validate_samples_2d(y, name="y", min_rows=2, why="a data-scaled prior needs a spread")
        d = y.shape[1]
        m = np.array([round_sig(v) for v in y.mean(axis=0)])
        s = np.array([round_sig(v, 1) for v in y.std(axis=0)])
        nu0 = d + 2.0
        return cls(m0=m, beta0=1.0, W0=np.diag(1.0 / s**2) / nu0, nu0=nu0)
