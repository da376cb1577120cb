"""Conjugate Bayesian inference for the Gaussian: exact posteriors, exact draws, exact predictives.

Pure numpy/scipy: this is the *truth* the PyMC models are compared with, so it never imports
PyMC. Equation numbers refer to Bishop, *Pattern Recognition and Machine Learning* (PRML).

Four priors, each a frozen dataclass whose ``.posterior(x)`` returns a frozen posterior dataclass:

* :class:`NormalMeanKnownVariance` -> :class:`NormalMeanPosterior` (``mu_N``, ``sigma_N``; σ known);
* :class:`GammaPrecisionKnownMean` -> :class:`GammaPrecisionPosterior` (``a_N``, ``b_N``; μ known);
* :class:`NormalGamma` -> :class:`NormalGammaPosterior` (``mu_N``, ``kappa_N``, ``a_N``, ``b_N``);
* :class:`NormalWishart` (multivariate) -> :class:`NormalWishartPosterior` (``m_N``, ``beta_N``,
  ``W_N``, ``nu_N``).

Every posterior has

* the posterior hyper-parameters, named with a ``_N`` suffix as in PRML (``mu_N``, ``a_N``, ...);
* ``n_obs`` — how many observations it has absorbed;
* ``sample(rng, size)`` — exact independent draws of the parameters;
* ``predictive()`` — the posterior predictive of one new observation, a frozen
  ``scipy.stats`` distribution (Student-t whenever the precision is unknown);
* ``marginal_*()`` — frozen scipy distributions of each parameter's marginal posterior;
* ``update(x)`` — the posterior after more data (the posterior is the next prior, PRML 2.144).

Each prior also has ``as_posterior()`` (itself after N = 0 observations), and ``sample`` /
``predictive`` for prior draws and the prior predictive.

Gamma distributions use the *rate* b: Gam(τ | a, b) ∝ τ^(a-1) e^(-bτ), mean a/b (PRML 2.146).
The Wishart uses PRML's scale matrix W: W(Λ | W, ν) ∝ |Λ|^((ν-D-1)/2) exp(-½ Tr(W⁻¹Λ)), mean νW
(PRML 2.155; scipy.stats.wishart(df=ν, scale=W)).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import linalg, special, stats

from models.validation import DataError, validate_samples_1d, validate_samples_2d, validate_scalar, validate_spd

__all__ = [
    "NormalMeanKnownVariance",
    "NormalMeanPosterior",
    "GammaPrecisionKnownMean",
    "GammaPrecisionPosterior",
    "NormalGamma",
    "NormalGammaPosterior",
    "NormalGammaDraws",
    "NormalWishart",
    "NormalWishartPosterior",
    "NormalWishartDraws",
]


# --------------------------------------------------------------------------- shared helpers


def _set(obj, **values) -> None:
    """Assign validated values on a frozen dataclass (the only place fields are written)."""
    for key, value in values.items():
        object.__setattr__(obj, key, value)


def _check_n_obs(n_obs) -> int:
    if isinstance(n_obs, (bool, np.bool_)) or not isinstance(n_obs, numbers.Integral) or n_obs < 0:
        raise DataError(f"n_obs must be a whole number >= 0, got {n_obs!r}.")
    return int(n_obs)


def _check_draw_args(rng, size) -> int:
    if not isinstance(rng, np.random.Generator):
        raise DataError(f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)), got {type(rng).__name__}.")
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral) or size < 1:
        raise DataError(f"size must be a whole number >= 1, got {size!r}.")
    return int(size)


def _univariate(x) -> np.ndarray:
    # One observation is enough for a conjugate update, and equal values are legitimate data.
    return validate_samples_1d(x, name="x", allow_constant=True)


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


class _GammaPrecisionMarginals:
    """Marginals of τ ~ Gam(a_N, b_N) shared by the two univariate unknown-precision posteriors."""

    a_N: float
    b_N: float

    def marginal_tau(self):
        """Posterior of the precision τ = 1/σ²: ``scipy.stats.gamma(a_N, scale=1/b_N)`` (PRML 2.146)."""
        return stats.gamma(self.a_N, scale=1.0 / self.b_N)

    def marginal_sigma2(self):
        """Posterior of the variance σ² = 1/τ: ``scipy.stats.invgamma(a_N, scale=b_N)``."""
        return stats.invgamma(self.a_N, scale=self.b_N)

    @property
    def mean_sigma(self) -> float:
        """E[σ] = √b_N Γ(a_N - ½)/Γ(a_N) for σ = τ^(-½); ``inf`` when a_N <= ½."""
        if self.a_N <= 0.5:
            return float("inf")
        return float(np.exp(0.5 * np.log(self.b_N) + special.gammaln(self.a_N - 0.5) - special.gammaln(self.a_N)))

    @property
    def sd_sigma(self) -> float:
        """sd[σ] = √(E[σ²] - E[σ]²) with E[σ²] = b_N/(a_N - 1); ``inf`` when a_N <= 1."""
        if self.a_N <= 1.0:
            return float("inf")
        return float(np.sqrt(max(self.b_N / (self.a_N - 1.0) - self.mean_sigma**2, 0.0)))


# --------------------------------------------------------------------------- known variance


@dataclass(frozen=True)
class NormalMeanPosterior:
    """Posterior of a Gaussian mean with known σ: μ | x ~ N(mu_N, sigma_N²) (PRML 2.140).

    Attributes
    ----------
    mu_N : float, posterior mean of μ.
    sigma_N : float > 0, posterior standard deviation of μ.
    sigma : float > 0, the known observation standard deviation.
    n_obs : int, observations absorbed.
    """

    mu_N: float
    sigma_N: float
    sigma: float
    n_obs: int = 0

    def __post_init__(self):
        _set(self, mu_N=validate_scalar(self.mu_N, name="mu_N"),
             sigma_N=validate_scalar(self.sigma_N, name="sigma_N", positive=True),
             sigma=validate_scalar(self.sigma, name="sigma", positive=True), n_obs=_check_n_obs(self.n_obs))

    def update(self, x) -> "NormalMeanPosterior":
        """Posterior after observing ``x`` (N,) more (PRML 2.141–2.142 with this as the prior)."""
        x = _univariate(x)
        n = x.shape[0]
        # Precisions add (2.142); the mean is the precision-weighted average, which is 2.141.
        precision_N = 1.0 / self.sigma_N**2 + n / self.sigma**2
        mu_N = (self.mu_N / self.sigma_N**2 + x.sum() / self.sigma**2) / precision_N
        return NormalMeanPosterior(mu_N, 1.0 / np.sqrt(precision_N), self.sigma, self.n_obs + n)

    def marginal_mu(self):
        """``scipy.stats.norm(mu_N, sigma_N)``."""
        return stats.norm(self.mu_N, self.sigma_N)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Exact draws of μ, shape (size,)."""
        size = _check_draw_args(rng, size)
        return self.mu_N + self.sigma_N * rng.standard_normal(size)

    def predictive(self):
        """p(x_new | x) = N(mu_N, sigma_N² + σ²): the two Gaussians convolve (PRML 2.115)."""
        return stats.norm(self.mu_N, np.sqrt(self.sigma_N**2 + self.sigma**2))


@dataclass(frozen=True)
class NormalMeanKnownVariance:
    """Prior μ ~ N(mu0, sigma0²) for x_n | μ ~ N(μ, σ²) with σ known (PRML 2.137–2.138).

    Posterior (PRML 2.141–2.142)::

        1/σ_N² = 1/σ₀² + N/σ²
        μ_N    = σ²/(Nσ₀² + σ²) μ₀ + Nσ₀²/(Nσ₀² + σ²) μ_ML

    Attributes
    ----------
    mu0 : float, prior mean of μ.
    sigma0 : float > 0, prior standard deviation of μ.
    sigma : float > 0, known standard deviation of each observation.

    Example::

        post = NormalMeanKnownVariance(mu0=170.0, sigma0=20.0, sigma=7.0).posterior(heights)
        post.mu_N, post.sigma_N, post.predictive().interval(0.95)
    """

    mu0: float
    sigma0: float
    sigma: float

    def __post_init__(self):
        _set(self, mu0=validate_scalar(self.mu0, name="mu0"),
             sigma0=validate_scalar(self.sigma0, name="sigma0", positive=True),
             sigma=validate_scalar(self.sigma, name="sigma", positive=True))

    def as_posterior(self) -> NormalMeanPosterior:
        """The prior itself as a posterior after N = 0 observations."""
        return NormalMeanPosterior(self.mu0, self.sigma0, self.sigma, 0)

    def posterior(self, x) -> NormalMeanPosterior:
        """Posterior given ``x``: array_like (N,), N >= 1."""
        return self.as_posterior().update(x)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Prior draws of μ, shape (size,)."""
        return self.as_posterior().sample(rng, size)

    def predictive(self):
        """Prior predictive N(mu0, sigma0² + σ²)."""
        return self.as_posterior().predictive()


# --------------------------------------------------------------------------- known mean


@dataclass(frozen=True)
class GammaPrecisionPosterior(_GammaPrecisionMarginals):
    """Posterior of a Gaussian precision with known mean: τ | x ~ Gam(a_N, b_N) (rate b_N).

    Attributes
    ----------
    mu : float, the known mean.
    a_N : float > 0, posterior shape.
    b_N : float > 0, posterior rate.
    n_obs : int, observations absorbed.

    Also: ``marginal_tau()``, ``marginal_sigma2()``, ``mean_sigma``, ``sd_sigma``.
    """

    mu: float
    a_N: float
    b_N: float
    n_obs: int = 0

    def __post_init__(self):
        _set(self, mu=validate_scalar(self.mu, name="mu"), a_N=validate_scalar(self.a_N, name="a_N", positive=True),
             b_N=validate_scalar(self.b_N, name="b_N", positive=True), n_obs=_check_n_obs(self.n_obs))

    def update(self, x) -> "GammaPrecisionPosterior":
        """Posterior after observing ``x`` (N,) more: a += N/2, b += ½ Σ(x_n - μ)² (PRML 2.150–2.151)."""
        x = _univariate(x)
        r = x - self.mu
        return GammaPrecisionPosterior(self.mu, self.a_N + 0.5 * x.shape[0], self.b_N + 0.5 * float(r @ r),
                                       self.n_obs + x.shape[0])

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Exact draws of τ, shape (size,)."""
        size = _check_draw_args(rng, size)
        return rng.gamma(self.a_N, 1.0 / self.b_N, size)

    def predictive(self):
        """p(x_new | x) = St(x | μ, λ = a_N/b_N, ν = 2a_N) (PRML 2.158–2.159):
        ``scipy.stats.t(df=2a_N, loc=μ, scale=√(b_N/a_N))``."""
        return stats.t(df=2.0 * self.a_N, loc=self.mu, scale=np.sqrt(self.b_N / self.a_N))


@dataclass(frozen=True)
class GammaPrecisionKnownMean:
    """Prior τ ~ Gam(a0, b0) (rate b0) for x_n | τ ~ N(μ, 1/τ) with μ known (PRML 2.145–2.151).

    Posterior: a_N = a0 + N/2, b_N = b0 + ½ Σ_n (x_n - μ)² = b0 + (N/2) σ²_ML (PRML 2.150–2.151).

    Attributes
    ----------
    mu : float, the known mean.
    a0 : float > 0, prior shape (worth 2·a0 observations, PRML p. 100).
    b0 : float > 0, prior rate.
    """

    mu: float
    a0: float
    b0: float

    def __post_init__(self):
        _set(self, mu=validate_scalar(self.mu, name="mu"), a0=validate_scalar(self.a0, name="a0", positive=True),
             b0=validate_scalar(self.b0, name="b0", positive=True))

    def as_posterior(self) -> GammaPrecisionPosterior:
        """The prior itself as a posterior after N = 0 observations."""
        return GammaPrecisionPosterior(self.mu, self.a0, self.b0, 0)

    def posterior(self, x) -> GammaPrecisionPosterior:
        """Posterior given ``x``: array_like (N,), N >= 1."""
        return self.as_posterior().update(x)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Prior draws of τ, shape (size,)."""
        return self.as_posterior().sample(rng, size)

    def predictive(self):
        """Prior predictive Student-t(2a0, μ, √(b0/a0))."""
        return self.as_posterior().predictive()


# --------------------------------------------------------------------------- both unknown


class NormalGammaDraws(NamedTuple):
    """Exact posterior draws: ``mu``, ``tau`` and ``sigma = tau**-0.5``, each shape (size,)."""

    mu: np.ndarray
    tau: np.ndarray
    sigma: np.ndarray


@dataclass(frozen=True)
class NormalGammaPosterior(_GammaPrecisionMarginals):
    """Posterior NormalGamma(mu_N, kappa_N, a_N, b_N): μ | τ ~ N(mu_N, 1/(kappa_N τ)), τ ~ Gam(a_N, b_N).

    Attributes
    ----------
    mu_N : float, posterior location of μ (also E[μ | x]).
    kappa_N : float > 0, pseudo-count of the mean (PRML's β in 2.154).
    a_N : float > 0, shape of τ.
    b_N : float > 0, rate of τ.
    n_obs : int, observations absorbed.

    Marginals: ``marginal_mu()`` Student-t(2a_N, mu_N, √(b_N/(a_N kappa_N))); ``marginal_tau()``
    Gam(a_N, b_N); ``marginal_sigma2()`` InvGamma(a_N, b_N); ``mean_sigma``, ``sd_sigma``.
    """

    mu_N: float
    kappa_N: float
    a_N: float
    b_N: float
    n_obs: int = 0

    def __post_init__(self):
        _set(self, mu_N=validate_scalar(self.mu_N, name="mu_N"),
             kappa_N=validate_scalar(self.kappa_N, name="kappa_N", positive=True),
             a_N=validate_scalar(self.a_N, name="a_N", positive=True),
             b_N=validate_scalar(self.b_N, name="b_N", positive=True), n_obs=_check_n_obs(self.n_obs))

    def update(self, x) -> "NormalGammaPosterior":
        """Posterior after observing ``x`` (N,) more (see :class:`NormalGamma` for the formulas)."""
        x = _univariate(x)
        n = x.shape[0]
        xbar = float(x.mean())
        r = x - xbar
        kappa_N = self.kappa_N + n
        mu_N = (self.kappa_N * self.mu_N + n * xbar) / kappa_N
        # Within-sample scatter plus the prior-vs-data disagreement, shrunk by κ₀N/(κ₀ + N).
        b_N = self.b_N + 0.5 * float(r @ r) + 0.5 * self.kappa_N * n * (xbar - self.mu_N) ** 2 / kappa_N
        return NormalGammaPosterior(mu_N, kappa_N, self.a_N + 0.5 * n, b_N, self.n_obs + n)

    def marginal_mu(self):
        """p(μ | x) = ∫ N(μ | mu_N, 1/(kappa_N τ)) Gam(τ | a_N, b_N) dτ (PRML 2.158):
        ``scipy.stats.t(df=2a_N, loc=mu_N, scale=√(b_N/(a_N kappa_N)))``."""
        return stats.t(df=2.0 * self.a_N, loc=self.mu_N, scale=np.sqrt(self.b_N / (self.a_N * self.kappa_N)))

    def sample(self, rng: np.random.Generator, size: int) -> NormalGammaDraws:
        """Exact draws τ ~ Gam(a_N, b_N), then μ | τ ~ N(mu_N, 1/(kappa_N τ)); each (size,)."""
        size = _check_draw_args(rng, size)
        tau = rng.gamma(self.a_N, 1.0 / self.b_N, size)
        mu = self.mu_N + rng.standard_normal(size) / np.sqrt(self.kappa_N * tau)
        return NormalGammaDraws(mu, tau, 1.0 / np.sqrt(tau))

    def predictive(self):
        """p(x_new | x) = Student-t(2a_N, mu_N, √(b_N (kappa_N + 1)/(a_N kappa_N)))."""
        scale = np.sqrt(self.b_N * (self.kappa_N + 1.0) / (self.a_N * self.kappa_N))
        return stats.t(df=2.0 * self.a_N, loc=self.mu_N, scale=scale)


@dataclass(frozen=True)
class NormalGamma:
    """Prior NormalGamma(mu0, kappa0, a0, b0) for x_n | μ, τ ~ N(μ, 1/τ) (PRML 2.154).

    μ | τ ~ N(mu0, 1/(kappa0 τ)), τ ~ Gam(a0, b0) (rate). Posterior (PRML ex. 2.44)::

        kappa_N = kappa0 + N
        mu_N    = (kappa0 mu0 + N x̄) / kappa_N
        a_N     = a0 + N/2
        b_N     = b0 + ½ Σ_n (x_n - x̄)² + kappa0 N (x̄ - mu0)² / (2 kappa_N)

    Attributes
    ----------
    mu0 : float, prior location of μ.
    kappa0 : float > 0, prior pseudo-count for μ (PRML's β).
    a0 : float > 0, prior shape of τ.
    b0 : float > 0, prior rate of τ.
    """

    mu0: float
    kappa0: float
    a0: float
    b0: float

    def __post_init__(self):
        _set(self, mu0=validate_scalar(self.mu0, name="mu0"),
             kappa0=validate_scalar(self.kappa0, name="kappa0", positive=True),
             a0=validate_scalar(self.a0, name="a0", positive=True),
             b0=validate_scalar(self.b0, name="b0", positive=True))

    def as_posterior(self) -> NormalGammaPosterior:
        """The prior itself as a posterior after N = 0 observations."""
        return NormalGammaPosterior(self.mu0, self.kappa0, self.a0, self.b0, 0)

    def posterior(self, x) -> NormalGammaPosterior:
        """Posterior given ``x``: array_like (N,), N >= 1."""
        return self.as_posterior().update(x)

    def sample(self, rng: np.random.Generator, size: int) -> NormalGammaDraws:
        """Prior draws of (μ, τ, σ), each (size,)."""
        return self.as_posterior().sample(rng, size)

    def predictive(self):
        """Prior predictive Student-t(2a0, mu0, √(b0 (kappa0 + 1)/(a0 kappa0)))."""
        return self.as_posterior().predictive()


# --------------------------------------------------------------------------- multivariate


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
        _set(self, m_N=m, beta_N=beta, W_N=W, nu_N=nu, n_obs=_check_n_obs(self.n_obs), _chol_W=chol)

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
        size = _check_draw_args(rng, size)
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
class NormalWishart:
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
    """

    m0: np.ndarray
    beta0: float
    W0: np.ndarray
    nu0: float

    def __post_init__(self):
        m, beta, W, _, nu = _validate_normal_wishart(self.m0, self.beta0, self.W0, self.nu0, "0")
        _set(self, m0=m, beta0=beta, W0=W, nu0=nu)

    @property
    def D(self) -> int:
        return int(self.m0.shape[0])

    def as_posterior(self) -> NormalWishartPosterior:
        """The prior itself as a posterior after N = 0 observations."""
        return NormalWishartPosterior(self.m0, self.beta0, self.W0, self.nu0, 0)

    def posterior(self, x) -> NormalWishartPosterior:
        """Posterior given ``x``: array_like (N, D), N >= 1."""
        return self.as_posterior().update(x)

    def sample(self, rng: np.random.Generator, size: int) -> NormalWishartDraws:
        """Prior draws of (μ, Λ, Σ)."""
        return self.as_posterior().sample(rng, size)

    def predictive(self):
        """Prior predictive multivariate t."""
        return self.as_posterior().predictive()
