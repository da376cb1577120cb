"""Conjugate Bayesian inference for the univariate Gaussian: exact posteriors, draws and predictives.

Pure numpy/scipy: this is the *truth* the PyMC models are compared with, so it never imports
PyMC. Equation numbers refer to Bishop, *Pattern Recognition and Machine Learning* (PRML).

Three priors, each a frozen dataclass whose ``.posterior(x)`` returns a frozen posterior dataclass:

* :class:`NormalMeanKnownVariance` -> :class:`NormalMeanPosterior` (``mu_N``, ``sigma_N``; σ known);
* :class:`GammaPrecisionKnownMean` -> :class:`GammaPrecisionPosterior` (``a_N``, ``b_N``; μ known);
* :class:`NormalGamma` -> :class:`NormalGammaPosterior` (``mu_N``, ``kappa_N``, ``a_N``, ``b_N``).

The multivariate prior, :class:`models.conjugate_mvn.NormalWishart`, has the same shape and
shares this module's :class:`ConjugatePrior` and argument checks.

Every posterior has

* the posterior hyper-parameters, named with a ``_N`` suffix as in PRML (``mu_N``, ``a_N``, ...);
* ``n_obs`` — how many observations it has absorbed;
* ``sample(rng, size)`` — exact independent draws of the parameters;
* ``predictive()`` — the posterior predictive of one new observation, a frozen
  ``scipy.stats`` distribution (Student-t whenever the precision is unknown);
* ``marginal_*()`` — frozen scipy distributions of each parameter's marginal posterior;
* ``update(x)`` — the posterior after more data (the posterior is the next prior, PRML 2.144).

Every prior is a :class:`ConjugatePrior`: ``as_posterior()`` (itself after N = 0 observations),
and through it ``posterior(x)``, ``sample`` (prior draws) and ``predictive`` (the prior
predictive); and ``weak_from_data(x)``, a weakly informative prior set from the data's rounded
location and scale, so that the same code runs on data in any units.

Gamma distributions use the *rate* b: Gam(τ | a, b) ∝ τ^(a-1) e^(-bτ), mean a/b (PRML 2.146).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import special, stats

from models.gaussian import mle_mean, mle_var
from models.validation import DataError, validate_samples_1d, validate_scalar

__all__ = [
    "ConjugatePrior",
    "NormalMeanKnownVariance",
    "NormalMeanPosterior",
    "GammaPrecisionKnownMean",
    "GammaPrecisionPosterior",
    "NormalGamma",
    "NormalGammaPosterior",
    "NormalGammaDraws",
    "check_draw_args",
    "check_n_obs",
    "round_sig",
    "set_fields",
]


# --------------------------------------------------------------------------- shared by every conjugate family


def set_fields(obj, **values) -> None:
    """Assign validated values on a frozen dataclass (only ``__post_init__`` writes fields)."""
    for key, value in values.items():
        object.__setattr__(obj, key, value)


def check_n_obs(n_obs) -> int:
    """A posterior's observation count: a whole number >= 0, as ``int``; else DataError."""
    if isinstance(n_obs, (bool, np.bool_)) or not isinstance(n_obs, numbers.Integral) or n_obs < 0:
        raise DataError(f"n_obs must be a whole number >= 0, got {n_obs!r}.")
    return int(n_obs)


def check_draw_args(rng, size) -> int:
    """The arguments of every ``sample(rng, size)``: a numpy Generator and a whole number >= 1."""
    if not isinstance(rng, np.random.Generator):
        raise DataError(f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)), got {type(rng).__name__}.")
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral) or size < 1:
        raise DataError(f"size must be a whole number >= 1, got {size!r}.")
    return int(size)


def round_sig(value: float, digits: int = 2) -> float:
    """``value`` rounded to ``digits`` significant digits: 173.95 -> 170.0 (2), 4.47 -> 4.0 (1), 0 -> 0."""
    if value == 0:
        return 0.0
    return float(np.round(value, digits - 1 - int(np.floor(np.log10(abs(value))))))


class ConjugatePrior:
    """What every conjugate prior does through ``as_posterior()``, the prior seen as the
    posterior after N = 0 observations: ``posterior(x)`` is ``as_posterior().update(x)``, and
    prior draws and the prior predictive are that posterior's ``sample`` and ``predictive``."""

    def as_posterior(self):
        """The prior itself as a posterior after N = 0 observations (each family defines it)."""
        raise NotImplementedError

    def posterior(self, x):
        """Posterior given ``x``: array_like (N,) for a univariate prior, (N, D) for NormalWishart; N >= 1."""
        return self.as_posterior().update(x)

    def sample(self, rng: np.random.Generator, size: int):
        """Prior draws of the parameters, shaped as the posterior's ``sample``."""
        return self.as_posterior().sample(rng, size)

    def predictive(self):
        """The prior predictive of one observation, a frozen scipy distribution."""
        return self.as_posterior().predictive()


def _univariate(x) -> np.ndarray:
    # One observation is enough for a conjugate update, and equal values are legitimate data.
    return validate_samples_1d(x, name="x", allow_constant=True)


def _location_scale(x) -> tuple[float, float]:
    """The rounded location m (mean, 2 significant digits) and scale s (sd, 1 digit) of ``x`` (N,)
    that every ``weak_from_data`` prior is set from; N >= 2, not constant."""
    x = validate_samples_1d(x, name="x", min_rows=2, why="a data-scaled prior needs a spread")
    return round_sig(float(np.mean(x))), round_sig(float(np.std(x)), 1)


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
        set_fields(self, mu_N=validate_scalar(self.mu_N, name="mu_N"),
                   sigma_N=validate_scalar(self.sigma_N, name="sigma_N", positive=True),
                   sigma=validate_scalar(self.sigma, name="sigma", positive=True), n_obs=check_n_obs(self.n_obs))

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
        size = check_draw_args(rng, size)
        return self.mu_N + self.sigma_N * rng.standard_normal(size)

    def predictive(self):
        """p(x_new | x) = N(mu_N, sigma_N² + σ²): the two Gaussians convolve (PRML 2.115)."""
        return stats.norm(self.mu_N, np.sqrt(self.sigma_N**2 + self.sigma**2))


@dataclass(frozen=True)
class NormalMeanKnownVariance(ConjugatePrior):
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

    Prior draws of μ: ``sample(rng, size)`` (size,); prior predictive N(mu0, sigma0² + σ²).
    """

    mu0: float
    sigma0: float
    sigma: float

    def __post_init__(self):
        set_fields(self, mu0=validate_scalar(self.mu0, name="mu0"),
                   sigma0=validate_scalar(self.sigma0, name="sigma0", positive=True),
                   sigma=validate_scalar(self.sigma, name="sigma", positive=True))

    def as_posterior(self) -> NormalMeanPosterior:
        """The prior itself as a posterior after N = 0 observations."""
        return NormalMeanPosterior(self.mu0, self.sigma0, self.sigma, 0)

    @classmethod
    def weak_from_data(cls, x) -> NormalMeanKnownVariance:
        """A weak prior scaled to ``x`` (N,), N >= 2, not constant: μ ~ N(m, (3s)²), σ fixed at σ_ML.

        m is the mean of ``x`` rounded to 2 significant digits, s its sd (÷N) rounded to 1
        (:func:`round_sig`): the prior is centred near the data and three of their sds wide, in
        the data's units, and worth about (s/3s)² = 1/9 of an observation. E.g. x = [118, 122, 126, 130]
        (mean 124, sd √20 ≈ 4.47): mu0 = 120, sigma0 = 12, sigma = √20.
        """
        m, s = _location_scale(x)
        return cls(mu0=m, sigma0=3 * s, sigma=np.sqrt(mle_var(x)))


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
        set_fields(self, mu=validate_scalar(self.mu, name="mu"),
                   a_N=validate_scalar(self.a_N, name="a_N", positive=True),
                   b_N=validate_scalar(self.b_N, name="b_N", positive=True), n_obs=check_n_obs(self.n_obs))

    def update(self, x) -> "GammaPrecisionPosterior":
        """Posterior after observing ``x`` (N,) more: a += N/2, b += ½ Σ(x_n - μ)² (PRML 2.150–2.151)."""
        x = _univariate(x)
        r = x - self.mu
        return GammaPrecisionPosterior(self.mu, self.a_N + 0.5 * x.shape[0], self.b_N + 0.5 * float(r @ r),
                                       self.n_obs + x.shape[0])

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Exact draws of τ, shape (size,)."""
        size = check_draw_args(rng, size)
        return rng.gamma(self.a_N, 1.0 / self.b_N, size)

    def predictive(self):
        """p(x_new | x) = St(x | μ, λ = a_N/b_N, ν = 2a_N) (PRML 2.158–2.159):
        ``scipy.stats.t(df=2a_N, loc=μ, scale=√(b_N/a_N))``."""
        return stats.t(df=2.0 * self.a_N, loc=self.mu, scale=np.sqrt(self.b_N / self.a_N))


@dataclass(frozen=True)
class GammaPrecisionKnownMean(ConjugatePrior):
    """Prior τ ~ Gam(a0, b0) (rate b0) for x_n | τ ~ N(μ, 1/τ) with μ known (PRML 2.145–2.151).

    Posterior: a_N = a0 + N/2, b_N = b0 + ½ Σ_n (x_n - μ)² = b0 + (N/2) σ²_ML (PRML 2.150–2.151).

    Attributes
    ----------
    mu : float, the known mean.
    a0 : float > 0, prior shape (worth 2·a0 observations, PRML p. 100).
    b0 : float > 0, prior rate.

    Prior draws of τ: ``sample(rng, size)`` (size,); prior predictive Student-t(2a0, μ, √(b0/a0)).
    """

    mu: float
    a0: float
    b0: float

    def __post_init__(self):
        set_fields(self, mu=validate_scalar(self.mu, name="mu"), a0=validate_scalar(self.a0, name="a0", positive=True),
                   b0=validate_scalar(self.b0, name="b0", positive=True))

    def as_posterior(self) -> GammaPrecisionPosterior:
        """The prior itself as a posterior after N = 0 observations."""
        return GammaPrecisionPosterior(self.mu, self.a0, self.b0, 0)

    @classmethod
    def weak_from_data(cls, x) -> GammaPrecisionKnownMean:
        """A weak prior scaled to ``x`` (N,), N >= 2, not constant: τ ~ Gam(2, 2s²), μ fixed at μ_ML.

        s is the sd (÷N) of ``x`` rounded to 1 significant digit (:func:`round_sig`): E[τ] = 1/s²,
        and a0 = 2 makes the prior worth 2·a0 = 4 observations. E.g. x = [118, 122, 126, 130]
        (sd √20 ≈ 4.47): mu = 124, a0 = 2, b0 = 32.
        """
        _, s = _location_scale(x)
        return cls(mu=mle_mean(x), a0=2.0, b0=2.0 * s * s)


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
        set_fields(self, mu_N=validate_scalar(self.mu_N, name="mu_N"),
                   kappa_N=validate_scalar(self.kappa_N, name="kappa_N", positive=True),
                   a_N=validate_scalar(self.a_N, name="a_N", positive=True),
                   b_N=validate_scalar(self.b_N, name="b_N", positive=True), n_obs=check_n_obs(self.n_obs))

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
        size = check_draw_args(rng, size)
        tau = rng.gamma(self.a_N, 1.0 / self.b_N, size)
        mu = self.mu_N + rng.standard_normal(size) / np.sqrt(self.kappa_N * tau)
        return NormalGammaDraws(mu, tau, 1.0 / np.sqrt(tau))

    def predictive(self):
        """p(x_new | x) = Student-t(2a_N, mu_N, √(b_N (kappa_N + 1)/(a_N kappa_N)))."""
        scale = np.sqrt(self.b_N * (self.kappa_N + 1.0) / (self.a_N * self.kappa_N))
        return stats.t(df=2.0 * self.a_N, loc=self.mu_N, scale=scale)


@dataclass(frozen=True)
class NormalGamma(ConjugatePrior):
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

    Prior draws: ``sample(rng, size)``, a :class:`NormalGammaDraws` of (size,) arrays; prior
    predictive Student-t(2a0, mu0, √(b0 (kappa0 + 1)/(a0 kappa0))).

    Example
    -------
    >>> from models import NormalGamma
    >>> post = NormalGamma(mu0=0.0, kappa0=1.0, a0=1.0, b0=1.0).posterior([1.0, 2.0, 3.0])
    >>> post.mu_N, post.kappa_N, post.a_N, post.b_N      # (0·1 + 3·2)/4, 1 + 3, 1 + 3/2, 1 + 1 + 1·3·4/8
    (1.5, 4.0, 2.5, 3.5)
    >>> lo, hi = post.marginal_mu().interval(0.95)        # Student-t marginal of μ
    >>> bool(lo < 1.5 < hi)
    True
    """

    mu0: float
    kappa0: float
    a0: float
    b0: float

    def __post_init__(self):
        set_fields(self, mu0=validate_scalar(self.mu0, name="mu0"),
                   kappa0=validate_scalar(self.kappa0, name="kappa0", positive=True),
                   a0=validate_scalar(self.a0, name="a0", positive=True),
                   b0=validate_scalar(self.b0, name="b0", positive=True))

    def as_posterior(self) -> NormalGammaPosterior:
        """The prior itself as a posterior after N = 0 observations."""
        return NormalGammaPosterior(self.mu0, self.kappa0, self.a0, self.b0, 0)

    @classmethod
    def weak_from_data(cls, x) -> NormalGamma:
        """A weak prior scaled to ``x`` (N,), N >= 2, not constant: NormalGamma(m, 1, 2, 2s²).

        m is the mean of ``x`` rounded to 2 significant digits, s its sd (÷N) rounded to 1
        (:func:`round_sig`): μ | τ ~ N(m, 1/τ) is worth one observation (kappa0 = 1), and
        τ ~ Gam(2, 2s²), with E[τ] = 1/s², four (2·a0). E.g. x = [118, 122, 126, 130] (mean 124,
        sd √20 ≈ 4.47): mu0 = 120, kappa0 = 1, a0 = 2, b0 = 32.
        """
        m, s = _location_scale(x)
        return cls(mu0=m, kappa0=1.0, a0=2.0, b0=2.0 * s * s)
