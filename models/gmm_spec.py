r"""The GMM's parametrization, in numpy: the spec every PyMC builder and fit shares.

Everything here is numpy/scipy (the closed-form layer): the validated settings of a mixture model
(:class:`GMMSpec`, built by :func:`make_spec`), the standardization of the data, the map between
(w, μ, Σ) in data units and the model's free variables (:func:`parameters_to_point`,
:func:`point_to_parameters`), and numpy mirrors of the log-density the PyMC graph computes
(:func:`features`, :func:`natural_parameters`, :func:`mixture_log_density`), which the tests hold
against :mod:`models.gmm`'s direct formulas and against the compiled PyMC models
(:mod:`models.gmm_builders`).

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from models.gmm import cholesky_factors
from models.validation import (
    DataError,
    validate_covariance_type,
    validate_means,
    validate_mixture_covariances,
    validate_n_components,
    validate_samples_2d,
    validate_weights,
)

__all__ = [
    "PRIORS",
    "DIRICHLET_ALPHA",
    "MU_PRIOR_SD",
    "Standardization",
    "GMMSpec",
    "gmm_spec",
    "make_spec",
    "model_coords",
    "lower_pairs",
    "upper_pairs",
    "features",
    "precision_factors",
    "natural_parameters",
    "mixture_log_density",
    "means_from_point",
    "point_to_parameters",
    "parameters_to_point",
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
        raise DataError("this model was not built by models.gmm_builders (it has no gmm_spec); "
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


def make_spec(x, n_components, *, covariance_type, priors, columns, dirichlet_alpha, mu_prior_sd,
               wishart_dof, kind, standardization=None, n_features=None) -> tuple[GMMSpec, np.ndarray | None]:
    """Validate everything a builder receives; returns the spec and the validated data (or None)."""
    k = validate_n_components(n_components)
    covariance_type = validate_covariance_type(covariance_type)
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


def model_coords(spec: GMMSpec, n_obs: int | None) -> dict:
    d = spec.n_features
    coords = {"component": np.arange(spec.n_components), "feature": list(spec.columns)}
    if d > 1:
        coords["feature_rest"] = list(spec.columns[1:])
    if spec.n_lower:
        lower = lower_pairs(d)
        coords["lower"] = [f"{spec.columns[i]},{spec.columns[j]}" for i, j in lower]
    if n_obs is not None:
        coords["obs"] = np.arange(n_obs)
    return coords


# --------------------------------------------------------------------------- index helpers


def lower_pairs(d: int) -> list[tuple[int, int]]:
    """Strict lower triangle (i > j), row-major: the order of ``prec_z``."""
    return [(i, j) for i in range(d) for j in range(i)]


def upper_pairs(d: int) -> list[tuple[int, int]]:
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
        quad = [x_s[..., i] * x_s[..., j] for i, j in upper_pairs(d)]
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
        rows, cols = np.array(lower_pairs(d)).T
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
        quad = np.stack([(-0.5 if i == j else -1.0) * lam[..., i, j] for i, j in upper_pairs(d)], axis=-1)
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
    a, b = natural_parameters(spec, point["w"], means_from_point(spec, point), point["prec_c"], point.get("prec_z"))
    return logsumexp(features(x_s, spec.covariance_type) @ a + b, axis=-1) + spec.standardization.log_jacobian


def means_from_point(spec: GMMSpec, point: dict) -> np.ndarray:
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
    mu = st.invert(means_from_point(spec, point))
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
    w = validate_weights(w, n_components=k)
    mu = validate_means(mu, n_components=k, n_features=d)
    cov = validate_mixture_covariances(cov, ct, n_components=k, n_features=d)
    cholesky_factors(cov, ct, fix="pass symmetric positive-definite covariances")
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
        rows, cols = np.array(lower_pairs(d)).T
        point["prec_z"] = np.sqrt(nu) * u[..., rows, cols]
    return point
