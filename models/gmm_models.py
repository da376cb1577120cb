r"""The Gaussian mixture model in PyMC: generative, marginalized (fast), complete-data.

Seed 000, step 4, written three ways over the same parameters:

* :func:`gmm_generative_model` — exactly the generative story,

  .. math::

      w \sim \mathrm{Dirichlet}(\alpha), \quad z_n \sim \mathrm{Categorical}(w), \quad
      x_n \mid z_n \sim \mathcal{N}(\mu_{z_n}, \Lambda_{z_n}^{-1}),

  used for forward (prior-predictive) sampling and, through
  ``pymc_extras.marginalize(model, ["z"])``, as the reference the fast model must equal.
* :func:`gmm_marginal_model` — the same model with :math:`z` summed out by hand,

  .. math::

      \ln p(x) = \sum_n \operatorname{logsumexp}_k \bigl[\ln w_k + \ln\mathcal{N}(x_n \mid \mu_k, \Sigma_k)\bigr],

  vectorized over points *and* components. This is the one to fit (MAP, NUTS, LOO, PPC).
* :func:`gmm_complete_data_model` — :math:`z` observed, so "the log-sum disappears":
  :math:`\ln p(x, z) = \sum_n [\ln w_{z_n} + \ln\mathcal{N}(x_n \mid \mu_{z_n}, \Sigma_{z_n})]`.

Why the fast model is fast
--------------------------
A Gaussian is an exponential family. With precision :math:`\Lambda_k = \Sigma_k^{-1}`,

.. math::

    \ln w_k + \ln\mathcal{N}(x \mid \mu_k, \Sigma_k)
      = \underbrace{-\tfrac12 x^\top\Lambda_k x + x^\top\Lambda_k\mu_k}_{F(x)^\top a_k}
        + \underbrace{\ln w_k + \tfrac12\ln|\Lambda_k| - \tfrac12\mu_k^\top\Lambda_k\mu_k
        - \tfrac D2\ln 2\pi}_{b_k},

where the features :math:`F(x) = (x_i x_j)_{i \le j} \oplus (x_i)_i` (``P = D(D+1)/2 + D`` of
them; ``2D`` for diagonal, ``D + 1`` for spherical covariances) depend on the data only. So the
(N, K) matrix of log-joint densities is *one* matrix product ``F @ A + b`` with ``A`` (P, K)
built from the parameters in O(K D³) work, and the gradient of the log-sum-exp with respect to
``A`` is ``Fᵀ R`` with ``R`` the responsibilities — again one product. No (N, K, D) array, no
solve, no loop over components; per evaluation it costs about what a numpy log-likelihood costs
(the measured numbers are in the tests' and the benchmark's output).

The expanded quadratic form loses about ``ε ‖Λ_k‖ ‖x‖²`` in absolute accuracy, where the
direct form ``‖Uᵀ(x - μ)‖²`` loses ``ε ‖Λ_k‖ ‖x - μ‖²``. That is why the data are standardized
first (see below): then ``‖x‖`` is a few units and the difference is ~1e-13 unless a component
is nearly singular. scikit-learn uses the same expansion for its diagonal and spherical types.

Parametrization and priors (standardized space)
-----------------------------------------------
* Data are standardized internally, ``x_s = (x - loc) / scale`` (per-feature mean and sd; one
  common scale for ``"spherical"`` so that spherical stays spherical), and every estimate is
  reported in data units by :func:`point_to_parameters` / :func:`posterior_parameters`. The
  stored ``log_likelihood`` is shifted by the Jacobian ``-Σ_d ln scale_d`` per point, so it is
  the log-density of the data in their own units.
* ``w`` (K,): Dirichlet(α), α = ``dirichlet_alpha`` (1: uniform on the simplex).
* ``mu_first`` (K,): first coordinate of the means, **ordered** (ascending) — this removes label
  switching. Weak prior Normal(m_k, ``mu_prior_sd``) with distinct prior means m_k evenly spaced
  in [-1, 1] (no custom ``initval``, which ``pymc_extras.marginalize`` refuses). ``mu_rest``
  (K, D-1): the other coordinates, Normal(0, ``mu_prior_sd``). Deterministic ``mu`` (K, D).
* Precisions through the Bartlett decomposition of a Wishart(ν, I/ν) prior (mean I, the
  conjugate prior of PRML 2.155, ν = ``wishart_dof``, default D + 2):
  :math:`\Lambda_k = U_k U_k^\top`, ``U_k`` lower triangular with
  ``U_k[i, i] = sqrt(prec_c[k, i] / ν)``, ``prec_c[k, i] ~ χ²(ν - i)`` and
  ``U_k[i, j] = prec_z[k, t] / sqrt(ν)`` (i > j, t enumerates the strict lower triangle in
  row-major order), ``prec_z ~ Normal(0, 1)``. Then ``ln|Λ_k|/2 = Σ_i ln U_k[i, i]`` needs no
  factorization at all.

  ============== ================== ==================== =====================================
  covariance_type ``prec_c``          ``prec_z``           precision
  ============== ================== ==================== =====================================
  ``"full"``      (K, D) χ²(ν - i)    (K, D(D-1)/2)         Λ_k = U_k U_kᵀ
  ``"tied"``      (D,) χ²(ν - i)      (D(D-1)/2,)           Λ = U Uᵀ shared
  ``"diag"``      (K, D) χ²(ν)        —                     Λ_k = diag(prec_c[k] / ν)
  ``"spherical"`` (K,) χ²(ν)          —                     Λ_k = prec_c[k] / ν · I
  ============== ================== ==================== =====================================

* ``ordered=False`` (marginal model only) drops the ordering, for label-invariant uses of
  overfitted mixtures (LOO), whose nearly empty components otherwise pile up against the
  ordering boundary.
* ``priors="flat"`` replaces every prior by an improper flat one (Dirichlet(1) for ``w``, which
  is flat on the simplex). :func:`fit_gmm_map` maximizes the log-density without the Jacobian
  of the transforms, so with flat priors its answer *is* the maximum-likelihood estimate.

Responsibilities from the posterior
-----------------------------------
:func:`posterior_responsibilities` computes
:math:`p(z_n = k \mid x) = \mathbb{E}_{\theta \mid x}[\,p(z_n = k \mid x_n, \theta)\,]` by
averaging the per-draw responsibilities over the posterior draws in numpy (vectorized). That is
what ``pymc_extras.recover_marginals`` computes (it returns the per-draw log-probabilities);
the test suite checks the two agree on a thinned posterior.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from models.em import EMResult, _kmeans_parameters, _resolve_seed, fit_em
from models.gmm import (
    _check_covariance_type,
    _cholesky_factors,
    _validate_covariances,
    _validate_means,
    _validate_weights,
)
from models.validation import DataError, validate_n_components, validate_samples_2d

__all__ = [
    "PRIORS",
    "Standardization",
    "GMMSpec",
    "GMMFit",
    "gmm_generative_model",
    "gmm_marginal_model",
    "gmm_complete_data_model",
    "gmm_spec",
    "parameters_to_point",
    "point_to_parameters",
    "posterior_parameters",
    "posterior_responsibilities",
    "predictive_in_data_units",
    "fit_gmm_map",
    "sample_gmm_posterior",
    "natural_parameters",
    "mixture_log_density",
    "log_likelihood_function",
    "adjusted_rand_index",
]

PRIORS = ("weak", "flat")

#: Defaults of the weakly informative prior (standardized data).
DIRICHLET_ALPHA = 1.0
MU_PRIOR_SD = 2.0

_LOG_2PI = float(np.log(2.0 * np.pi))


# --------------------------------------------------------------------------- specification


@dataclass(frozen=True)
class Standardization:
    """The affine map to standardized units, ``x_s = (x - loc) / scale``.

    Attributes
    ----------
    loc : (D,) feature means.
    scale : (D,) feature standard deviations (ddof=0); all equal for ``"spherical"``.
    """

    loc: np.ndarray
    scale: np.ndarray

    @classmethod
    def from_data(cls, x: np.ndarray, covariance_type: str) -> "Standardization":
        """Mean and sd of validated data (N, D); a common scale (root mean variance) for spherical."""
        loc = x.mean(axis=0)
        sd = x.std(axis=0)
        if covariance_type == "spherical":
            sd = np.full_like(sd, np.sqrt(np.mean(sd**2)))
        return cls(loc=loc, scale=sd)

    @classmethod
    def identity(cls, n_features: int) -> "Standardization":
        return cls(loc=np.zeros(n_features), scale=np.ones(n_features))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(…, D) data units -> standardized units."""
        return (np.asarray(x, dtype=float) - self.loc) / self.scale

    def invert(self, x_s: np.ndarray) -> np.ndarray:
        """(…, D) standardized units -> data units."""
        return np.asarray(x_s, dtype=float) * self.scale + self.loc

    @property
    def log_jacobian(self) -> float:
        """``-Σ_d ln scale_d``: add it per point to turn ln p(x_s) into ln p(x)."""
        return float(-np.sum(np.log(self.scale)))


@dataclass(frozen=True)
class GMMSpec:
    """Everything that maps the model's standardized variables back to the data.

    Attached to every model built here as ``model.gmm_spec`` (see :func:`gmm_spec`).
    """

    n_components: int
    n_features: int
    covariance_type: str
    priors: str
    standardization: Standardization
    wishart_dof: float
    dirichlet_alpha: float
    mu_prior_sd: float
    columns: tuple[str, ...]
    kind: str

    @property
    def n_pairs(self) -> int:
        """Number of quadratic features: D(D+1)/2, D or 1 by covariance type."""
        d = self.n_features
        return {"full": d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": d, "spherical": 1}[self.covariance_type]

    @property
    def n_lower(self) -> int:
        """Number of strictly-lower-triangular precision factors per matrix (0 for diag/spherical)."""
        d = self.n_features
        return d * (d - 1) // 2 if self.covariance_type in ("full", "tied") else 0

    def value_shapes(self) -> dict[str, tuple[int, ...]]:
        """Constrained shapes of the free variables, in the order the model creates them."""
        k, d = self.n_components, self.n_features
        shapes: dict[str, tuple[int, ...]] = {"w": (k,), "mu_first": (k,)}
        if d > 1:
            shapes["mu_rest"] = (k, d - 1)
        shapes["prec_c"] = {"full": (k, d), "tied": (d,), "diag": (k, d), "spherical": (k,)}[self.covariance_type]
        if self.n_lower:
            shapes["prec_z"] = (k, self.n_lower) if self.covariance_type == "full" else (self.n_lower,)
        return shapes


def gmm_spec(model) -> GMMSpec:
    """The :class:`GMMSpec` of a model built by this module."""
    spec = getattr(model, "gmm_spec", None)
    if not isinstance(spec, GMMSpec):
        raise DataError("this model was not built by models.gmm_models (it has no gmm_spec); "
                        "build it with gmm_marginal_model / gmm_generative_model / gmm_complete_data_model.")
    return spec


def _check_priors(priors) -> str:
    if not isinstance(priors, str) or priors not in PRIORS:
        raise DataError(f"priors must be one of {list(PRIORS)} ('weak' for NUTS, 'flat' for MAP == MLE), "
                        f"got {priors!r}.")
    return priors


def _positive(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(f"{name} must be a positive number, got {value!r}.")
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise DataError(f"{name} must be a finite number > 0, got {v}.")
    return v


def _make_spec(x, n_components, *, covariance_type, priors, columns, dirichlet_alpha, mu_prior_sd,
               wishart_dof, kind, standardization=None, n_features=None) -> tuple[GMMSpec, np.ndarray | None]:
    """Validate everything a builder receives; returns the spec and the validated data (or None)."""
    k = validate_n_components(n_components)
    covariance_type = _check_covariance_type(covariance_type)
    priors = _check_priors(priors)
    if x is not None:
        x = validate_samples_2d(x, name="x", min_rows=max(2, k),
                                why=f"a mixture of {k} component(s) needs at least one point per component "
                                    "and two to standardize")
        d = x.shape[1]
    else:
        d = validate_n_components(n_features, name="n_features")
    alpha = _positive(dirichlet_alpha, "dirichlet_alpha")
    sd = _positive(mu_prior_sd, "mu_prior_sd")
    dof = float(d + 2) if wishart_dof is None else _positive(wishart_dof, "wishart_dof")
    if covariance_type in ("full", "tied") and dof <= d - 1:
        raise DataError(f"wishart_dof must exceed D - 1 = {d - 1} for a proper Wishart prior, got {dof}.")
    if columns is None:
        columns = tuple(f"x{j}" for j in range(d))
    else:
        columns = tuple(str(c) for c in columns)
        if len(columns) != d or len(set(columns)) != d:
            raise DataError(f"columns must be {d} distinct names (one per feature), got {list(columns)}.")
    if standardization is None:
        standardization = (Standardization.from_data(x, covariance_type) if x is not None
                           else Standardization.identity(d))
    else:
        loc = np.asarray(standardization.loc, dtype=float)
        scale = np.asarray(standardization.scale, dtype=float)
        if loc.shape != (d,) or scale.shape != (d,) or not np.all(np.isfinite(loc)) or not np.all(scale > 0):
            raise DataError(f"standardization needs finite loc (D,) and positive scale (D,) with D = {d}.")
        if covariance_type == "spherical" and np.ptp(scale) > 0:
            raise DataError("a spherical covariance needs one common scale for every feature "
                            "(Standardization.from_data(x, 'spherical') gives it).")
        standardization = Standardization(loc=loc, scale=scale)
    spec = GMMSpec(n_components=k, n_features=d, covariance_type=covariance_type, priors=priors,
                   standardization=standardization, wishart_dof=dof, dirichlet_alpha=alpha, mu_prior_sd=sd,
                   columns=columns, kind=kind)
    return spec, x


def _coords(spec: GMMSpec, n_obs: int | None) -> dict:
    d = spec.n_features
    coords = {"component": np.arange(spec.n_components), "feature": list(spec.columns)}
    if d > 1:
        coords["feature_rest"] = list(spec.columns[1:])
    if spec.n_lower:
        lower = _lower_pairs(d)
        coords["lower"] = [f"{spec.columns[i]},{spec.columns[j]}" for i, j in lower]
    if n_obs is not None:
        coords["obs"] = np.arange(n_obs)
    return coords


# --------------------------------------------------------------------------- index helpers


def _lower_pairs(d: int) -> list[tuple[int, int]]:
    """Strict lower triangle (i > j), row-major: the order of ``prec_z``."""
    return [(i, j) for i in range(d) for j in range(i)]


def _upper_pairs(d: int) -> list[tuple[int, int]]:
    """Pairs i <= j, row-major: the order of the quadratic features of full/tied."""
    return [(i, j) for i in range(d) for j in range(i, d)]


# --------------------------------------------------------------------------- numpy mirrors


def features(x_s: np.ndarray, covariance_type: str) -> np.ndarray:
    """Sufficient statistics F(x), shape (N, P): quadratic features, then the D linear ones.

    full/tied: ``x_i x_j`` (i <= j); diag: ``x_i²``; spherical: ``‖x‖²``.
    """
    x_s = np.asarray(x_s, dtype=float)
    d = x_s.shape[-1]
    if covariance_type in ("full", "tied"):
        quad = [x_s[..., i] * x_s[..., j] for i, j in _upper_pairs(d)]
    elif covariance_type == "diag":
        quad = [x_s[..., i] ** 2 for i in range(d)]
    else:
        quad = [np.sum(x_s**2, axis=-1)]
    return np.stack(quad + [x_s[..., i] for i in range(d)], axis=-1)


def precision_factors(spec: GMMSpec, prec_c: np.ndarray, prec_z: np.ndarray | None) -> np.ndarray:
    """Lower-triangular ``U_k`` with ``Λ_k = U_k U_kᵀ`` (standardized units), shape (…, K, D, D).

    prec_c, prec_z : the model's variables with any leading draw axes (see the module docstring).
    """
    k, d, nu = spec.n_components, spec.n_features, spec.wishart_dof
    prec_c = np.asarray(prec_c, dtype=float)
    ct = spec.covariance_type
    if ct == "spherical":
        lam = prec_c / nu                                                   # (…, K)
        return np.sqrt(lam)[..., None, None] * np.eye(d)
    if ct == "diag":
        return np.sqrt(prec_c / nu)[..., :, None] * np.eye(d)               # (…, K, D, D)
    lead = prec_c.shape[:-1]
    u = np.zeros(lead + (d, d))
    u[..., np.arange(d), np.arange(d)] = np.sqrt(prec_c / nu)
    if d > 1:
        rows, cols = np.array(_lower_pairs(d)).T
        u[..., rows, cols] = np.asarray(prec_z, dtype=float) / np.sqrt(nu)
    if ct == "tied":
        u = np.broadcast_to(u[..., None, :, :], u.shape[:-2] + (k, d, d))
    return u


def natural_parameters(spec: GMMSpec, w, mu, prec_c, prec_z=None) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients of the log-joint density in standardized units (numpy, any leading axes).

    Returns
    -------
    A : (…, P, K) so that ``features(x_s) @ A + b`` is ``ln w_k + ln N(x_s | μ_k, Σ_k)``;
    b : (…, K).
    """
    d = spec.n_features
    w, mu = np.asarray(w, dtype=float), np.asarray(mu, dtype=float)
    u = precision_factors(spec, prec_c, prec_z)                            # (…, K, D, D)
    lam = u @ np.swapaxes(u, -1, -2)
    eta = np.einsum("...kij,...kj->...ki", lam, mu)                         # (…, K, D)
    ct = spec.covariance_type
    if ct in ("full", "tied"):
        quad = np.stack([(-0.5 if i == j else -1.0) * lam[..., i, j] for i, j in _upper_pairs(d)], axis=-1)
    elif ct == "diag":
        quad = -0.5 * np.diagonal(lam, axis1=-2, axis2=-1)
    else:
        quad = -0.5 * lam[..., :1, 0]
    a = np.swapaxes(np.concatenate([quad, eta], axis=-1), -1, -2)           # (…, P, K)
    half_log_det = np.sum(np.log(np.diagonal(u, axis1=-2, axis2=-1)), axis=-1)
    with np.errstate(divide="ignore"):
        b = np.log(w) + half_log_det - 0.5 * np.sum(eta * mu, axis=-1) - 0.5 * d * _LOG_2PI
    return a, b


def mixture_log_density(spec: GMMSpec, x, point: dict) -> np.ndarray:
    """ln p(x_n) in **data units** at a point of the model's variables (numpy), shape (N,)."""
    x_s = spec.standardization.apply(x)
    a, b = natural_parameters(spec, point["w"], _mu_from_point(spec, point), point["prec_c"], point.get("prec_z"))
    return logsumexp(features(x_s, spec.covariance_type) @ a + b, axis=-1) + spec.standardization.log_jacobian


def _mu_from_point(spec: GMMSpec, point: dict) -> np.ndarray:
    if "mu" in point:
        return np.asarray(point["mu"], dtype=float)
    first = np.asarray(point["mu_first"], dtype=float)[..., None]
    if spec.n_features == 1:
        return first
    return np.concatenate([first, np.asarray(point["mu_rest"], dtype=float)], axis=-1)


# --------------------------------------------------------------------------- parameters <-> point


def point_to_parameters(spec: GMMSpec, point: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, mu, cov) in **data units** from the model's variables (any leading draw axes).

    Returns
    -------
    w : (…, K); mu : (…, K, D); cov in covariance_type's shape with the same leading axes:
    (…, K, D, D) full, (…, D, D) tied, (…, K, D) diag, (…, K) spherical.
    """
    st = spec.standardization
    w = np.asarray(point["w"], dtype=float)
    mu = st.invert(_mu_from_point(spec, point))
    prec_c = np.asarray(point["prec_c"], dtype=float)
    nu, ct = spec.wishart_dof, spec.covariance_type
    if ct == "spherical":
        return w, mu, st.scale[0] ** 2 * nu / prec_c
    if ct == "diag":
        return w, mu, st.scale**2 * nu / prec_c
    u = precision_factors(spec, prec_c, point.get("prec_z"))
    if ct == "tied":
        u = u[..., 0, :, :]
    # Σ = (U Uᵀ)⁻¹ = U⁻ᵀ U⁻¹; invert the small triangular factor, then rescale to data units.
    u_inv = np.linalg.inv(u)
    cov_s = np.swapaxes(u_inv, -1, -2) @ u_inv
    cov = cov_s * np.multiply.outer(st.scale, st.scale)
    return w, mu, 0.5 * (cov + np.swapaxes(cov, -1, -2))


def parameters_to_point(spec: GMMSpec, w, mu, cov, *, order: bool = True) -> dict[str, np.ndarray]:
    """The model's variables (standardized units) for given (w, mu, cov) in **data units**.

    cov is in ``spec.covariance_type``'s shape. With ``order=True`` components are sorted by the
    first coordinate of the mean (the model's ordering constraint); exact ties are separated by
    1e-9 so the ordered transform stays finite.

    Returns
    -------
    dict with ``w``, ``mu_first``, ``mu_rest`` (D > 1), ``prec_c``, ``prec_z`` (full/tied, D > 1).
    """
    k, d, ct, nu = spec.n_components, spec.n_features, spec.covariance_type, spec.wishart_dof
    w = _validate_weights(w, n_components=k)
    mu = _validate_means(mu, n_components=k, n_features=d)
    cov = _validate_covariances(cov, ct, n_components=k, n_features=d)
    _cholesky_factors(cov, ct, fix="pass symmetric positive-definite covariances")
    st = spec.standardization
    mu_s = st.apply(mu)
    perm = np.argsort(mu_s[:, 0], kind="stable") if order else np.arange(k)
    w, mu_s = w[perm], mu_s[perm]
    if order and k > 1:
        gaps = np.diff(mu_s[:, 0])
        mu_s[1:, 0] = mu_s[0, 0] + np.cumsum(np.maximum(gaps, 1e-9))
    point = {"w": np.maximum(w, 1e-12) / np.maximum(w, 1e-12).sum(), "mu_first": mu_s[:, 0]}
    if d > 1:
        point["mu_rest"] = mu_s[:, 1:]
    if ct == "spherical":
        point["prec_c"] = nu * st.scale[0] ** 2 / cov[perm]
        return point
    if ct == "diag":
        point["prec_c"] = nu * st.scale**2 / cov[perm]
        return point
    cov_s = cov / np.multiply.outer(st.scale, st.scale)
    if ct == "full":
        cov_s = cov_s[perm]
    lam = np.linalg.inv(cov_s)
    u = np.linalg.cholesky(0.5 * (lam + np.swapaxes(lam, -1, -2)))        # lower, Λ = U Uᵀ
    point["prec_c"] = nu * np.diagonal(u, axis1=-2, axis2=-1) ** 2
    if d > 1:
        rows, cols = np.array(_lower_pairs(d)).T
        point["prec_z"] = np.sqrt(nu) * u[..., rows, cols]
    return point


# --------------------------------------------------------------------------- PyMC graph pieces


def _flat_ordered(name: str, start: np.ndarray, dims: str):
    """An improper flat prior on an ascending vector, whose default start is ``start``.

    ``pm.Flat`` starts at 0 everywhere, where the ordered transform is -inf; this flat prior
    starts at distinct values instead (no custom initval needed).
    """
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.distributions.transforms import ordered

    start = np.asarray(start, dtype=float)
    return pm.CustomDist(name, logp=lambda value: pt.zeros_like(value),
                         support_point=lambda rv, size: pt.as_tensor(start),
                         transform=ordered, dims=dims, class_name="FlatOrdered")


def _free_parameters(spec: GMMSpec, *, ordered: bool = True) -> dict:
    """Create the free variables in the current model; returns their tensors.

    Returns dict: ``w`` (K,), ``mu`` (K, D), ``prec_c``, ``prec_z`` (or None).
    """
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.distributions.transforms import ordered as ordered_transform

    k, d, ct, nu = spec.n_components, spec.n_features, spec.covariance_type, spec.wishart_dof
    flat = spec.priors == "flat"
    w = pm.Dirichlet("w", a=np.full(k, 1.0 if flat else spec.dirichlet_alpha), dims="component")
    prior_means = np.linspace(-1.0, 1.0, k) if k > 1 else np.zeros(1)
    if flat:
        if ordered and k > 1:
            mu_first = _flat_ordered("mu_first", prior_means, dims="component")
        else:
            mu_first = pm.Flat("mu_first", dims="component")
        mu_rest = pm.Flat("mu_rest", dims=("component", "feature_rest")) if d > 1 else None
    else:
        kwargs = {"transform": ordered_transform} if ordered and k > 1 else {}
        mu_first = pm.Normal("mu_first", mu=prior_means, sigma=spec.mu_prior_sd, dims="component", **kwargs)
        mu_rest = (pm.Normal("mu_rest", mu=0.0, sigma=spec.mu_prior_sd, dims=("component", "feature_rest"))
                   if d > 1 else None)
    mu = mu_first[:, None] if mu_rest is None else pt.concatenate([mu_first[:, None], mu_rest], axis=1)
    mu = pm.Deterministic("mu", mu, dims=("component", "feature"))

    c_dims = {"full": ("component", "feature"), "tied": ("feature",), "diag": ("component", "feature"),
              "spherical": ("component",)}[ct]
    z_dims = ("component", "lower") if ct == "full" else ("lower",)
    if flat:
        prec_c = pm.HalfFlat("prec_c", dims=c_dims)
        prec_z = pm.Flat("prec_z", dims=z_dims) if spec.n_lower else None
    else:
        # Bartlett: the i-th diagonal factor of a Wishart(ν) draw is sqrt(χ²(ν - i)).
        dof = nu - np.arange(d) if ct in ("full", "tied") else np.full(d, nu)
        dof = dof[0] if ct == "spherical" else dof
        prec_c = pm.ChiSquared("prec_c", nu=dof, dims=c_dims)
        prec_z = pm.Normal("prec_z", 0.0, 1.0, dims=z_dims) if spec.n_lower else None
    return {"w": w, "mu": mu, "prec_c": prec_c, "prec_z": prec_z}


def _graph_precision(spec: GMMSpec, prec_c, prec_z):
    """Symbolic ``U`` (K, D, D) lower with Λ_k = U_k U_kᵀ, and ½ ln|Λ_k| (K,).

    Built from constant 0/1 placement arrays and elementwise products (no advanced indexing,
    no BLAS), which keeps the compiled graph small and entirely in C.
    """
    import pytensor.tensor as pt

    k, d, ct, nu = spec.n_components, spec.n_features, spec.covariance_type, spec.wishart_dof
    eye = np.eye(d)
    if ct == "spherical":
        lam = prec_c / nu                                                    # (K,)
        u = pt.sqrt(lam)[:, None, None] * eye
        return u, 0.5 * d * pt.log(lam)
    if ct == "diag":
        u = pt.sqrt(prec_c / nu)[:, :, None] * eye                           # (K, D, D)
        return u, 0.5 * pt.sum(pt.log(prec_c), axis=-1) - 0.5 * d * np.log(nu)
    c = prec_c[None, :] if ct == "tied" else prec_c                          # (K', D)
    u = pt.sqrt(c / nu)[:, :, None] * eye                                    # diagonal part
    if spec.n_lower:
        z = prec_z[None, :] if ct == "tied" else prec_z                      # (K', L)
        place = np.zeros((spec.n_lower, d, d))
        for t, (i, j) in enumerate(_lower_pairs(d)):
            place[t, i, j] = 1.0
        u = u + pt.sum((z / np.sqrt(nu))[:, :, None, None] * place, axis=1)
    half_log_det = 0.5 * pt.sum(pt.log(c), axis=-1) - 0.5 * d * np.log(nu)   # (K',)
    if ct == "tied":
        u = pt.broadcast_to(u, (k, d, d))
        half_log_det = pt.broadcast_to(half_log_det, (k,))
    return u, half_log_det


def _graph_natural(spec: GMMSpec, params: dict):
    """Symbolic (A (P, K), b0 (K,), U (K, D, D), Λ (K, D, D)); b0 excludes ln w."""
    import pytensor.tensor as pt

    d, ct = spec.n_features, spec.covariance_type
    mu = params["mu"]
    u, half_log_det = _graph_precision(spec, params["prec_c"], params["prec_z"])
    lam = pt.sum(u[:, :, None, :] * u[:, None, :, :], axis=-1)               # (K, D, D) = U Uᵀ
    eta = pt.sum(lam * mu[:, None, :], axis=-1)                              # (K, D) = Λ μ
    if ct in ("full", "tied"):
        select = np.zeros((spec.n_pairs, d, d))
        for p, (i, j) in enumerate(_upper_pairs(d)):
            select[p, i, j] = -0.5 if i == j else -1.0
        quad = pt.sum(lam[:, None, :, :] * select, axis=(-2, -1))           # (K, P2)
    elif ct == "diag":
        quad = -0.5 * pt.sum(lam * np.eye(d), axis=-1)                       # (K, D)
    else:
        quad = -0.5 * lam[:, :1, 0]                                          # (K, 1)
    a = pt.concatenate([quad, eta], axis=1).T                                # (P, K)
    b0 = half_log_det - 0.5 * pt.sum(eta * mu, axis=-1) - 0.5 * d * _LOG_2PI
    return a, b0, u, lam


def _graph_features(value, covariance_type: str, d: int):
    """Symbolic F(x), (N, P), from the observed value (so it can never go stale)."""
    import pytensor.tensor as pt

    cols = [value[:, i] for i in range(d)]
    if covariance_type in ("full", "tied"):
        quad = [cols[i] * cols[j] for i, j in _upper_pairs(d)]
    elif covariance_type == "diag":
        quad = [c * c for c in cols]
    else:
        quad = [pt.sum(value * value, axis=1)]
    return pt.concatenate([pt.stack(quad, axis=1), value], axis=1)


def _core(param, ndim: int):
    """Drop the leading broadcast axes PyMC adds to a CustomDist parameter."""
    extra = param.ndim - ndim
    return param[(0,) * extra] if extra > 0 else param


def _log_sum_exp_rows(lp):
    """ln Σ_k exp(lp[n, k]) for an (N, K) tensor.

    The shift by the row maximum is disconnected from the gradient (it cancels exactly) and
    ``log1p(s - 1)`` (s >= 1) keeps PyTensor from rewriting this into a softmax that would
    recompute the maximum and the exponentials for the gradient.
    """
    import pytensor.tensor as pt
    from pytensor.gradient import disconnected_grad

    m = disconnected_grad(pt.max(lp, axis=1, keepdims=True))
    return m[:, 0] + pt.log1p(pt.sum(pt.exp(lp - m), axis=1) - 1.0)


def _mixture_logp_fn(covariance_type: str, n_features: int):
    import pytensor.tensor as pt

    def logp(value, a, b, w, mu, u):
        # (N, K) log-joint densities as one product of features and coefficients.
        lp = pt.dot(_graph_features(value, covariance_type, n_features), _core(a, 2)) + _core(b, 1)[None, :]
        return _log_sum_exp_rows(lp)

    return logp


def _complete_logp_fn(covariance_type: str, n_components: int, n_features: int):
    import pytensor.tensor as pt

    def logp(value, a, b0, z, mu, u):
        lp = pt.dot(_graph_features(value, covariance_type, n_features), _core(a, 2)) + _core(b0, 1)[None, :]
        one_hot = pt.eq(z[..., None], np.arange(n_components))              # (N, K)
        return pt.sum(pt.switch(one_hot, lp, 0.0), axis=1)

    return logp


def _covariance_cholesky(u: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of Σ = (U Uᵀ)⁻¹, for (…, D, D) precision factors."""
    lam = u @ np.swapaxes(u, -1, -2)
    return np.linalg.cholesky(np.linalg.inv(lam))


def _strip(arr: np.ndarray, ndim: int) -> np.ndarray:
    arr = np.asarray(arr)
    while arr.ndim > ndim:
        arr = arr[0]
    return arr


def _mixture_random(a, b, w, mu, u, rng=None, size=None):
    """Ancestral sampling z ~ Cat(w), x = μ_z + L_z ε (standardized units); shape size + (D,)."""
    w, mu, u = _strip(w, 1), _strip(mu, 2), _strip(u, 3)
    size = tuple(np.atleast_1d(size)) if size is not None else ()
    chol = _covariance_cholesky(u)                                           # (K, D, D)
    z = np.minimum(np.searchsorted(np.cumsum(w), rng.random(size) * w.sum(), side="right"), len(w) - 1)
    eps = rng.standard_normal(size + (mu.shape[-1],))
    return mu[z] + np.einsum("...ij,...j->...i", chol[z], eps)


def _complete_random(a, b0, z, mu, u, rng=None, size=None):
    mu, u = _strip(mu, 2), _strip(u, 3)
    z = np.asarray(z, dtype=np.int64)
    size = tuple(np.atleast_1d(size)) if size is not None else z.shape
    z = np.broadcast_to(z, size)
    chol = _covariance_cholesky(u)
    eps = rng.standard_normal(size + (mu.shape[-1],))
    return mu[z] + np.einsum("...ij,...j->...i", chol[z], eps)


# --------------------------------------------------------------------------- builders


def gmm_marginal_model(x, n_components, *, covariance_type: str = "full", priors: str = "weak",
                       columns=None, dirichlet_alpha: float = DIRICHLET_ALPHA, mu_prior_sd: float = MU_PRIOR_SD,
                       wishart_dof: float | None = None, standardization: Standardization | None = None,
                       ordered: bool = True):
    r"""The marginalized GMM for fitting: ``x ~ Σ_k w_k N(μ_k, Σ_k)`` with ``z`` summed out.

    Parameters
    ----------
    x : array_like, shape (N, D), N >= max(2, K); no constant column. D = 1 works too.
    n_components : K >= 1.
    covariance_type : ``"full"`` (default), ``"tied"``, ``"diag"`` or ``"spherical"``.
    priors : ``"weak"`` (default; data-scaled, proper — for NUTS) or ``"flat"`` (MAP == MLE).
    columns : D feature names for the ``feature`` coordinate (default ``x0, x1, ...``).
    dirichlet_alpha, mu_prior_sd, wishart_dof : the weak prior's settings (module docstring).
    standardization : override the data's own mean/sd (e.g. to share it between models).
    ordered : order the components by the first coordinate of the mean (default). ``False``
        leaves the labels free: for label-invariant uses only (log-likelihood, LOO, predictive
        density) of overfitted mixtures, whose empty components otherwise pile up against the
        ordering boundary (see ``analyses/choosing_k.py``).

    Returns
    -------
    pm.Model with coords ``component`` (K), ``feature`` (D), ``obs`` (N); free variables
    ``w``, ``mu_first``, ``mu_rest``, ``prec_c``, ``prec_z`` (see the module docstring),
    deterministic ``mu`` (K, D), data ``x_std`` (N, D), ``loc`` (D,), ``scale`` (D,), and the
    observed ``x`` (N, D) whose per-row log-density is ln p(x_n) in standardized units. The
    :class:`GMMSpec` is ``model.gmm_spec``.

    Raises
    ------
    DataError
        Bad data or settings, before anything is built.
    """
    import pymc as pm
    import pytensor.tensor as pt

    spec, x = _make_spec(x, n_components, covariance_type=covariance_type, priors=priors, columns=columns,
                         dirichlet_alpha=dirichlet_alpha, mu_prior_sd=mu_prior_sd, wishart_dof=wishart_dof,
                         kind="marginal", standardization=standardization)
    x_s = spec.standardization.apply(x)
    with pm.Model(coords=_coords(spec, x.shape[0])) as model:
        pm.Data("loc", spec.standardization.loc, dims="feature")
        pm.Data("scale", spec.standardization.scale, dims="feature")
        x_data = pm.Data("x_std", x_s, dims=("obs", "feature"))
        params = _free_parameters(spec, ordered=bool(ordered))
        a, b0, u, _ = _graph_natural(spec, params)
        b = pt.log(params["w"]) + b0
        pm.CustomDist("x", a, b, params["w"], params["mu"], u,
                      logp=_mixture_logp_fn(spec.covariance_type, spec.n_features),
                      random=_mixture_random, signature="(p,k),(k),(k),(k,d),(k,d,d)->(d)",
                      observed=x_data, dims=("obs", "feature"), class_name="GaussianMixture")
    model.gmm_spec = spec
    return model


def gmm_complete_data_model(x, z, n_components, *, covariance_type: str = "full", priors: str = "flat",
                            columns=None, dirichlet_alpha: float = DIRICHLET_ALPHA,
                            mu_prior_sd: float = MU_PRIOR_SD, wishart_dof: float | None = None):
    r"""The GMM with the labels observed: ``z ~ Cat(w)``, ``x | z ~ N(μ_z, Σ_z)``, no log-sum.

    The components are identified by their labels, so the means are *not* ordered here.

    Parameters
    ----------
    x : (N, D); z : (N,) integer labels in 0..K-1, every label present; others as
    :func:`gmm_marginal_model`. Default priors ``"flat"``: its MAP is the closed-form
    complete-data MLE (:func:`models.gmm.complete_data_mle`).

    Returns
    -------
    pm.Model with observed ``z`` (N,) and ``x`` (N, D) (per-row ln N(x_n | μ_{z_n}, Σ_{z_n})).
    """
    import pymc as pm

    spec, x = _make_spec(x, n_components, covariance_type=covariance_type, priors=priors, columns=columns,
                         dirichlet_alpha=dirichlet_alpha, mu_prior_sd=mu_prior_sd, wishart_dof=wishart_dof,
                         kind="complete")
    labels = np.asarray(z)
    if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu" or labels.shape != (x.shape[0],):
        raise DataError(f"z must be integer labels of shape ({x.shape[0]},), got dtype {labels.dtype}, "
                        f"shape {labels.shape}.")
    counts = np.bincount(labels, minlength=spec.n_components) if labels.min() >= 0 else None
    if counts is None or labels.max() >= spec.n_components or np.any(counts == 0):
        raise DataError(f"z must use every label 0..{spec.n_components - 1} at least once; got labels "
                        f"{sorted(set(labels.tolist()))[:10]}.")
    x_s = spec.standardization.apply(x)
    with pm.Model(coords=_coords(spec, x.shape[0])) as model:
        pm.Data("loc", spec.standardization.loc, dims="feature")
        pm.Data("scale", spec.standardization.scale, dims="feature")
        x_data = pm.Data("x_std", x_s, dims=("obs", "feature"))
        z_data = pm.Data("z_obs", labels.astype(np.int64), dims="obs")
        params = _free_parameters(spec, ordered=False)
        a, b0, u, _ = _graph_natural(spec, params)
        z_rv = pm.Categorical("z", p=params["w"], observed=z_data, dims="obs")
        pm.CustomDist("x", a, b0, z_rv, params["mu"], u,
                      logp=_complete_logp_fn(spec.covariance_type, spec.n_components, spec.n_features),
                      random=_complete_random, signature="(p,k),(k),(),(k,d),(k,d,d)->(d)",
                      observed=x_data, dims=("obs", "feature"), class_name="GaussianGivenLabel")
    model.gmm_spec = spec
    return model


def gmm_generative_model(x=None, n_components=2, *, covariance_type: str = "full", priors: str = "weak",
                         n_obs: int | None = None, n_features: int | None = None, columns=None,
                         dirichlet_alpha: float = DIRICHLET_ALPHA, mu_prior_sd: float = MU_PRIOR_SD,
                         wishart_dof: float | None = None, standardization: Standardization | None = None):
    r"""The GMM exactly as the seed writes it, with the latent labels as variables.

    ``w ~ Dirichlet``, ``z ~ Categorical(w)`` (dims ``obs``), ``x | z ~ MvNormal(μ_z, τ = Λ_z)``
    with the same free variables, priors and standardization as :func:`gmm_marginal_model`, so
    ``pymc_extras.marginalize(model, ["z"])`` has the same log-density as the fast model at
    every point. Slow (one MvNormal per point), which is why it is the reference, not the fit.

    Parameters
    ----------
    x : (N, D) observed data, or None for forward sampling (then give ``n_obs`` and
        ``n_features``; draws are in standardized units — map them with
        ``model.gmm_spec.standardization.invert``).
    standardization : for forward sampling in data units, the (loc, scale) to use
        (default identity when ``x`` is None).
    Other parameters as :func:`gmm_marginal_model`.

    Returns
    -------
    pm.Model with ``z`` (N,) and ``x`` (N, D) (observed when ``x`` was given).
    """
    import pymc as pm
    import pytensor.tensor as pt

    spec, x = _make_spec(x, n_components, covariance_type=covariance_type, priors=priors, columns=columns,
                         dirichlet_alpha=dirichlet_alpha, mu_prior_sd=mu_prior_sd, wishart_dof=wishart_dof,
                         kind="generative", standardization=standardization, n_features=n_features)
    if x is None:
        if isinstance(n_obs, (bool, np.bool_)) or not isinstance(n_obs, (int, np.integer)) or n_obs < 1:
            raise DataError(f"n_obs must be a whole number >= 1 when x is None, got {n_obs!r}.")
        n = int(n_obs)
    else:
        n = x.shape[0]
    with pm.Model(coords=_coords(spec, n)) as model:
        pm.Data("loc", spec.standardization.loc, dims="feature")
        pm.Data("scale", spec.standardization.scale, dims="feature")
        params = _free_parameters(spec)
        _, _, _, lam = _graph_natural(spec, params)
        z = pm.Categorical("z", p=params["w"], dims="obs")
        kwargs = {}
        if x is not None:
            kwargs["observed"] = pm.Data("x_std", spec.standardization.apply(x), dims=("obs", "feature"))
        # cov= (not tau=Λ): marginalizing the tau form fails in pymc-extras 0.10 with a BatchedDot
        # shape error; the covariance of a K-batch of D x D precisions is cheap to form here.
        cov = pt.linalg.inv(lam)
        pm.MvNormal("x", mu=params["mu"][z], cov=cov[z], dims=("obs", "feature"), **kwargs)
    model.gmm_spec = spec
    return model


# --------------------------------------------------------------------------- MAP


@dataclass(frozen=True)
class GMMFit:
    """A MAP fit of a model built here, reported in data units.

    Attributes
    ----------
    weights (K,), means (K, D), covariances (covariance_type's shape): data units, components
        in the model's order (ascending first coordinate of the mean).
    log_likelihood : Σ_n ln p(x_n) in data units at the fit (numpy, :func:`mixture_log_density`).
    log_density : the maximized log-density (standardized units, no Jacobian).
    point : the model's variables at the optimum (standardized units).
    converged, message, n_iterations, n_evaluations, grad_norm : from the optimizer;
        ``grad_norm`` is the sup-norm of the gradient of the per-point mean log-density.
    seconds : optimization wall time (the start's EM / k-means++ included, compilation excluded).
    compile_seconds : time spent compiling the log-density and gradient (0 when cached).
    start : ``"kmeans++"``, ``"em"``, ``"given"`` or ``"model"``.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str
    log_likelihood: float
    log_density: float
    point: dict = field(repr=False)
    converged: bool
    message: str
    n_iterations: int
    n_evaluations: int
    grad_norm: float
    seconds: float
    compile_seconds: float
    start: str
    n_obs: int

    @property
    def mean_log_likelihood(self) -> float:
        """Per-point mean log-likelihood (the scale EM and scikit-learn report)."""
        return self.log_likelihood / self.n_obs


#: model -> compiled objective, so repeated fits of one model compile once.
_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _Objective:
    """-(log-density)/N and its gradient over the unconstrained variables, as one flat vector."""

    def __init__(self, model, spec: GMMSpec, n_obs: int):
        import pytensor.tensor as pt
        from pymc.pytensorf import compile as compile_fn
        from pymc.pytensorf import join_nonshared_inputs

        start = time.perf_counter()
        self.n_obs = n_obs
        self.value_vars = list(model.value_vars)
        self.transforms = [model.rvs_to_transforms[model.values_to_rvs[v]] for v in self.value_vars]
        self.names = [model.values_to_rvs[v].name for v in self.value_vars]
        shapes = spec.value_shapes()
        self.shapes = [self._unconstrained_shape(shapes[n], t) for n, t in zip(self.names, self.transforms)]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        logp = model.logp(jacobian=False)
        grads = pt.grad(logp, self.value_vars)
        point = {v.name: np.zeros(s) for v, s in zip(self.value_vars, self.shapes)}
        outs, flat = join_nonshared_inputs(point, [logp, pt.concatenate([g.ravel() for g in grads])],
                                           self.value_vars)
        scale = 1.0 / n_obs
        self.fn = compile_fn([flat], [-outs[0] * scale, -outs[1] * scale])
        self.fn.trust_input = True
        self.compile_seconds = time.perf_counter() - start

    @staticmethod
    def _unconstrained_shape(shape, transform):
        name = getattr(transform, "name", None)
        if name == "simplex":
            return shape[:-1] + (shape[-1] - 1,)
        return shape

    def to_flat(self, point: dict) -> np.ndarray:
        parts = []
        for name, t, shape in zip(self.names, self.transforms, self.shapes):
            parts.append(np.reshape(_forward(t, np.asarray(point[name], dtype=float)), -1))
        return np.concatenate(parts)

    def to_point(self, theta: np.ndarray) -> dict:
        point, i = {}, 0
        for name, t, shape, size in zip(self.names, self.transforms, self.shapes, self.sizes):
            point[name] = _backward(t, theta[i:i + size].reshape(shape))
            i += size
        return point


def _forward(transform, value: np.ndarray) -> np.ndarray:
    """Constrained -> unconstrained, mirroring PyMC's log / ordered / simplex transforms."""
    name = getattr(transform, "name", None)
    if transform is None:
        return value
    if name == "log":
        return np.log(value)
    if name == "ordered":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.concatenate([value[..., :1], np.log(np.diff(value, axis=-1))], axis=-1)
    if name == "simplex":
        log_value = np.log(value)
        return log_value[..., :-1] - np.mean(log_value, axis=-1, keepdims=True)
    raise NotImplementedError(f"transform {name!r} is not mirrored in numpy")


def _backward(transform, value: np.ndarray) -> np.ndarray:
    """Unconstrained -> constrained (inverse of :func:`_forward`)."""
    name = getattr(transform, "name", None)
    if transform is None:
        return value
    if name == "log":
        return np.exp(value)
    if name == "ordered":
        return np.cumsum(np.concatenate([value[..., :1], np.exp(value[..., 1:])], axis=-1), axis=-1)
    if name == "simplex":
        full = np.concatenate([value, -np.sum(value, axis=-1, keepdims=True)], axis=-1)
        e = np.exp(full - full.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise NotImplementedError(f"transform {name!r} is not mirrored in numpy")


def _objective(model, spec: GMMSpec, n_obs: int) -> tuple[_Objective, float]:
    """The model's compiled objective and the compile time this call paid (0 when cached)."""
    cached = _COMPILED.get(model)
    if cached is not None and cached.n_obs == n_obs:
        return cached, 0.0
    cached = _Objective(model, spec, n_obs)
    _COMPILED[model] = cached
    return cached, cached.compile_seconds


def _model_data(model) -> np.ndarray:
    return np.asarray(model["x_std"].get_value())


def _start_point(model, spec: GMMSpec, start, seed) -> tuple[dict, str]:
    """Starting values (constrained, standardized) and the name of the recipe."""
    x_data = None
    if isinstance(start, str) and start in ("kmeans++", "em"):
        if spec.kind != "marginal":
            raise DataError(f"start={start!r} is for the marginal model; pass start=None (the model's own "
                            "default) or given parameters for this model.")
        x_data = spec.standardization.invert(_model_data(model))
    if start is None:
        ip = model.initial_point()
        point = {}
        for v in model.value_vars:
            rv = model.values_to_rvs[v]
            point[rv.name] = _backward(model.rvs_to_transforms[rv], np.asarray(ip[v.name]))
        return point, "model"
    if isinstance(start, str):
        if start == "kmeans++":
            rng = np.random.default_rng(_resolve_seed(seed))
            w, mu, cov = _kmeans_parameters(x_data, spec.n_components, spec.covariance_type, 1e-6, rng)
            return parameters_to_point(spec, w, mu, cov, order=spec.kind != "complete"), "kmeans++"
        if start == "em":
            em = fit_em(x_data, spec.n_components, covariance_type=spec.covariance_type, seed=seed)
            return parameters_to_point(spec, em.weights, em.means, em.covariances), "em"
        raise DataError(f"start must be 'kmeans++', 'em', None, an EMResult or (w, mu, cov); got {start!r}.")
    if isinstance(start, EMResult):
        if start.covariance_type != spec.covariance_type:
            raise DataError(f"start is an EM fit with covariance_type={start.covariance_type!r}, the model has "
                            f"{spec.covariance_type!r}.")
        start = (start.weights, start.means, start.covariances)
    if isinstance(start, (tuple, list)) and len(start) == 3:
        return parameters_to_point(spec, *start, order=spec.kind != "complete"), "given"
    raise DataError(f"start must be 'kmeans++', 'em', None, an EMResult or (w, mu, cov); got {type(start).__name__}.")


def _inverse_hessian_at(fun, theta: np.ndarray, step: float = 1e-6) -> tuple[np.ndarray | None, int]:
    """Inverse of the objective's Hessian at ``theta`` by forward differences of the gradient.

    Returns (H⁻¹ or None when H is not clearly positive definite, evaluations spent). From an
    EM start the objective is already near its minimum, where BFGS started from the identity
    spends ~P iterations learning the curvature of the P parameters; started from H⁻¹ it takes
    Newton steps at once. Measured on the synthetic K = 3 benchmark data (P = 17): 22
    evaluations (this one's 18 included) instead of ~50, same optimum to 1e-12.
    """
    _, g0 = fun(theta)
    d = theta.size
    hess = np.empty((d, d))
    for i in range(d):
        shifted = theta.copy()
        shifted[i] += step
        hess[:, i] = (fun(shifted)[1] - g0) / step
    hess = 0.5 * (hess + hess.T)
    eigval, eigvec = np.linalg.eigh(hess)
    if not np.all(np.isfinite(eigval)) or eigval.min() <= 1e-8 * eigval.max():
        return None, d + 1
    inv = (eigvec / eigval) @ eigvec.T
    return 0.5 * (inv + inv.T), d + 1


def fit_gmm_map(model, *, start="auto", seed=None, method: str = "BFGS", gtol: float = 1e-6,
                maxiter: int = 5000, precondition: bool = True) -> GMMFit:
    """MAP of a model built here: BFGS on the unconstrained variables, compiled once per model.

    The log-density is maximized *without* the Jacobian of the transforms (as ``pm.find_MAP``),
    so with ``priors="flat"`` the result is the maximum-likelihood estimate. The objective is the
    per-point mean log-density, so ``gtol`` does not depend on N: at the default 1e-6 the
    log-likelihood is within ~1e-12 (relative) of the optimum and the parameters within ~1e-6 in
    standardized units; pass ``gtol=1e-9`` for tie-outs at round-off level.

    Parameters
    ----------
    model : a model from :func:`gmm_marginal_model` or :func:`gmm_complete_data_model`.
    start : ``"auto"`` (default: ``"em"`` for the marginal model, the model's own initial point
        for the complete-data one); ``"em"`` (EM from k-means++ with its default tolerance, then
        BFGS polishes — the fast path: EM's cheap iterations do the global work, one compiled
        gradient certifies the optimum); ``"kmeans++"`` (k-means++ + Lloyd + one M-step: BFGS
        does all the work, independently of EM); an :class:`~models.em.EMResult`;
        ``(w, mu, cov)`` in data units; or None (the model's default initial point).
    seed : seed of the k-means++ / EM initialisation.
    method, gtol, maxiter : passed to ``scipy.optimize.minimize``.
    precondition : with BFGS, start its inverse-Hessian estimate from the finite-difference
        Hessian at the start when that is positive definite (halves the evaluations from an
        EM start; see :func:`_inverse_hessian_at`); otherwise BFGS starts from the identity.

    Returns
    -------
    GMMFit
    """
    from scipy.optimize import minimize

    spec = gmm_spec(model)
    if spec.kind == "generative":
        raise DataError("fit the marginal model (gmm_marginal_model); the generative one has discrete z.")
    x_s = _model_data(model)
    n = x_s.shape[0]
    objective, compile_seconds = _objective(model, spec, n)
    if isinstance(start, str) and start == "auto":
        start = "em" if spec.kind == "marginal" else None
    t0 = time.perf_counter()
    point0, start_name = _start_point(model, spec, start, seed)
    theta0 = objective.to_flat(point0)
    if not np.all(np.isfinite(theta0)):
        raise DataError("the starting point is outside the model's support (e.g. tied first coordinates "
                        "of the means); pass another start.")
    fun = objective.fn
    options = {"gtol": gtol, "maxiter": maxiter}
    n_extra = 0
    if precondition and method.upper() == "BFGS":
        hess_inv0, n_extra = _inverse_hessian_at(fun, theta0)
        if hess_inv0 is not None:
            options["hess_inv0"] = hess_inv0
    result = minimize(lambda th: fun(th), theta0, jac=True, method=method, options=options)
    seconds = time.perf_counter() - t0
    point = objective.to_point(result.x)
    value, grad = fun(result.x)
    grad_norm = float(np.max(np.abs(grad)))
    point["mu"] = _mu_from_point(spec, point)
    w, mu, cov = point_to_parameters(spec, point)
    # Σ_n ln p(x_n) in data units by the numpy natural-parameter formula (tested equal to
    # models.gmm.gmm_log_likelihood to 1e-9; several times faster at large N).
    log_lik = float(np.sum(mixture_log_density(spec, spec.standardization.invert(x_s), point)))
    # BFGS stops on "precision loss" once the gradient is at round-off level; that is converged.
    converged = bool(result.success or grad_norm < 1e-6)
    return GMMFit(weights=w, means=mu, covariances=cov, covariance_type=spec.covariance_type,
                  log_likelihood=float(log_lik), log_density=float(-value * n), point=point,
                  converged=converged, message=str(result.message), n_iterations=int(result.get("nit", -1)),
                  n_evaluations=int(result.nfev) + n_extra, grad_norm=grad_norm, seconds=seconds,
                  compile_seconds=compile_seconds, start=start_name, n_obs=n)


_LOGLIK_FNS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def log_likelihood_function(model):
    """Compiled per-point ln p(x_n) of the model's ``x`` in **data units**, as a function of a point.

    Parameters
    ----------
    model : a model built by this module; for ``pymc_extras.marginalize(generative, ["z"])``
        copy the spec first (``marginal.gmm_spec = generative.gmm_spec``).

    Returns
    -------
    callable ``f(point) -> ndarray (N,)``, where ``point`` maps the free variables' names to
    constrained values (as :func:`parameters_to_point` gives). Compiled once per model.
    """
    cached = _LOGLIK_FNS.get(model)
    if cached is not None:
        return cached
    spec = gmm_spec(model)
    fn = model.compile_fn(model.logp(vars=[model["x"]], sum=False)[0], inputs=model.value_vars,
                          on_unused_input="ignore")
    pairs = [(v.name, model.values_to_rvs[v].name, model.rvs_to_transforms[model.values_to_rvs[v]])
             for v in model.value_vars]
    shift = spec.standardization.log_jacobian

    def log_likelihood(point: dict) -> np.ndarray:
        values = {value_name: _forward(t, np.asarray(point[rv_name], dtype=float))
                  for value_name, rv_name, t in pairs if rv_name in point}
        return np.asarray(fn(values)) + shift

    _LOGLIK_FNS[model] = log_likelihood
    return log_likelihood


# --------------------------------------------------------------------------- NUTS and posterior


def sample_gmm_posterior(model, *, draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 0,
                         start="em", target_accept: float = 0.9, posterior_predictive: bool = False,
                         cores: int | None = None, nuts_sampler: str = "pymc", progressbar: bool = False):
    """NUTS on the marginal model, started at an EM (or given) fit, log-likelihood in data units.

    Parameters
    ----------
    model : from :func:`gmm_marginal_model` (weak priors).
    start : ``"em"`` (default: EM from k-means++ with ``seed``), ``"kmeans++"``, an EMResult,
        ``(w, mu, cov)`` or None (PyMC's default initial point). Chains are jittered around it.
    Others as :func:`models.fitting.sample_nuts`.

    Returns
    -------
    arviz.InferenceData from :func:`models.fitting.sample_nuts`, whose ``log_likelihood["x"]``
    (chain, draw, obs) is ln p(x_n) in **data units**, and whose ``attrs`` also record the
    model's spec (covariance type, priors, K, standardization).
    """
    from models.fitting import sample_nuts

    spec = gmm_spec(model)
    if spec.priors == "flat":
        raise DataError("NUTS needs proper priors: build the model with priors='weak'.")
    initvals = None
    if start is not None:
        point, _ = _start_point(model, spec, start, seed)
        initvals = {k: v for k, v in point.items() if k in spec.value_shapes()}
    idata = sample_nuts(model, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept,
                        cores=cores, nuts_sampler=nuts_sampler, posterior_predictive=posterior_predictive,
                        initvals=initvals, progressbar=progressbar)
    idata.log_likelihood["x"] = idata.log_likelihood["x"] + spec.standardization.log_jacobian
    idata.attrs.update({
        "model": f"gmm_{spec.kind}", "covariance_type": spec.covariance_type, "priors": spec.priors,
        "n_components": spec.n_components, "loc": spec.standardization.loc.tolist(),
        "scale": spec.standardization.scale.tolist(), "log_likelihood_units": "data",
    })
    return idata


def _posterior_point(idata, spec: GMMSpec) -> dict:
    post = idata.posterior
    point = {name: post[name].values for name in spec.value_shapes() if name in post}
    point["mu"] = post["mu"].values if "mu" in post else _mu_from_point(spec, point)
    return point


def posterior_parameters(idata, spec: GMMSpec) -> dict[str, np.ndarray]:
    """Posterior draws of (w, mu, cov) in data units.

    Returns
    -------
    dict ``w`` (chain, draw, K), ``mu`` (chain, draw, K, D), ``cov`` (chain, draw, *cov shape*).
    """
    w, mu, cov = point_to_parameters(spec, _posterior_point(idata, spec))
    return {"w": w, "mu": mu, "cov": cov}


def posterior_responsibilities(idata, x, spec: GMMSpec, *, max_draws: int | None = None,
                               return_sd: bool = False):
    r"""Posterior class probabilities :math:`p(z_n = k \mid x) = \mathbb{E}[\gamma_{nk}(\theta)]`.

    Averages the per-draw responsibilities (log space) over the posterior draws — what
    ``pymc_extras.recover_marginals`` computes, without compiling anything.

    Parameters
    ----------
    x : (N, D) data in data units. max_draws : thin to at most this many draws (evenly).
    return_sd : also return the posterior sd of each γ_nk (how uncertain the assignment is).

    Returns
    -------
    ndarray (N, K), rows summing to 1 (and the (N, K) sd when ``return_sd``).
    """
    x = validate_samples_2d(x, name="x", n_features=spec.n_features, allow_constant=True)
    point = _posterior_point(idata, spec)
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in point.items()}
    n_draws = next(iter(flat.values())).shape[0]
    if max_draws is not None and n_draws > max_draws:
        keep = np.linspace(0, n_draws - 1, max_draws).round().astype(int)
        flat = {k: v[keep] for k, v in flat.items()}
    a, b = natural_parameters(spec, flat["w"], flat["mu"], flat["prec_c"], flat.get("prec_z"))  # (S,P,K),(S,K)
    f = features(spec.standardization.apply(x), spec.covariance_type)                            # (N, P)
    lp = np.einsum("np,spk->snk", f, a) + b[:, None, :]                                          # (S, N, K)
    resp = np.exp(lp - logsumexp(lp, axis=-1, keepdims=True))
    return (resp.mean(axis=0), resp.std(axis=0)) if return_sd else resp.mean(axis=0)


def predictive_in_data_units(idata, spec: GMMSpec) -> np.ndarray:
    """Posterior-predictive draws of ``x`` mapped back to data units, (chain, draw, N, D)."""
    return spec.standardization.invert(idata.posterior_predictive["x"].values)


def adjusted_rand_index(labels_a, labels_b) -> float:
    """Adjusted Rand index of two clusterings (Hubert & Arabie 1985): 1 identical, ~0 chance.

    ``(Σ_ij C(n_ij, 2) - E) / (½(Σ_i C(a_i, 2) + Σ_j C(b_j, 2)) - E)`` with
    ``E = Σ_i C(a_i, 2) Σ_j C(b_j, 2) / C(N, 2)`` from the contingency table ``n_ij``. Label
    values are arbitrary (the index is invariant to renaming).

    Parameters
    ----------
    labels_a, labels_b : (N,) integer labels.
    """
    a = np.asarray(labels_a)
    b = np.asarray(labels_b)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise DataError(f"labels must be two 1-D arrays of the same length >= 2, got shapes {a.shape} and {b.shape}.")
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1.0)

    def pairs(v):
        return float(np.sum(v * (v - 1.0) / 2.0))

    index = pairs(table)
    sum_a, sum_b = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = sum_a * sum_b / (a.size * (a.size - 1.0) / 2.0)
    maximum = 0.5 * (sum_a + sum_b)
    if maximum == expected:             # both clusterings trivial (one cluster, or all singletons)
        return 1.0
    return float((index - expected) / (maximum - expected))
