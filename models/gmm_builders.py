r"""The Gaussian mixture model as PyMC graphs: generative, marginalized (fast), complete-data, minibatch.

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
* :func:`gmm_latent_z_model` — the generative model with ``z`` latent but ``x | z`` computed like
  the complete-data model (same log-density as :func:`gmm_generative_model`, fast enough for
  ``pm.sample`` to run its Gibbs step over ``z``; :mod:`models.gmm_latent_z`).
* :func:`gmm_minibatch_model` — the marginalized model with a ``pm.Minibatch`` as its observed
  data (``total_size = N``), for minibatch ADVI at large N (:mod:`models.gmm_advi`).

Only graphs live here. The parametrization, priors and standardization they share are
:mod:`models.gmm_spec` (numpy; its docstring explains why the marginal model is one matrix
product per evaluation); fitting them (MAP, NUTS, posterior post-processing) is
:mod:`models.gmm_fitting`, ADVI :mod:`models.gmm_advi`.
"""

from __future__ import annotations

import numpy as np

from models.gmm_spec import (
    DIRICHLET_ALPHA,
    MU_PRIOR_SD,
    GMMSpec,
    Standardization,
    lower_pairs,
    make_spec,
    model_coords,
    upper_pairs,
)
from models.validation import DataError, validate_labels

__all__ = [
    "gmm_generative_model",
    "gmm_marginal_model",
    "gmm_complete_data_model",
    "gmm_latent_z_model",
    "gmm_minibatch_model",
    "component_parameters",
    "mixture_likelihood",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


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

    flat = spec.priors == "flat"
    w = pm.Dirichlet("w", a=np.full(spec.n_components, 1.0 if flat else spec.dirichlet_alpha), dims="component")
    return {"w": w, **component_parameters(spec, ordered=ordered)}


def component_parameters(spec: GMMSpec, *, ordered: bool = True, mu_prior_means=None) -> dict:
    """Create the per-component free variables (no weights) in the current model.

    The means ``mu_first`` (K,) and ``mu_rest`` (K, D-1) and the Bartlett precision factors
    ``prec_c``, ``prec_z`` with the priors of the module docstring of :mod:`models.gmm_spec`;
    ``mu_prior_means`` (K,) overrides the prior means of ``mu_first`` (default: evenly spaced in
    [-1, 1]; a Dirichlet-process base measure passes zeros so that the atoms are i.i.d.).

    Returns dict: ``mu`` (K, D) (a deterministic), ``prec_c``, ``prec_z`` (or None).
    """
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.distributions.transforms import ordered as ordered_transform

    k, d, ct, nu = spec.n_components, spec.n_features, spec.covariance_type, spec.wishart_dof
    flat = spec.priors == "flat"
    if mu_prior_means is not None:
        prior_means = np.asarray(mu_prior_means, dtype=float)
    else:
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
    return {"mu": mu, "prec_c": prec_c, "prec_z": prec_z}


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
        for t, (i, j) in enumerate(lower_pairs(d)):
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
        for p, (i, j) in enumerate(upper_pairs(d)):
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
        quad = [cols[i] * cols[j] for i, j in upper_pairs(d)]
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


def _standardization_data(spec: GMMSpec) -> None:
    """``loc`` and ``scale`` (D,) as model data, so a stored posterior says how to undo them."""
    import pymc as pm

    pm.Data("loc", spec.standardization.loc, dims="feature")
    pm.Data("scale", spec.standardization.scale, dims="feature")


def _observed_mixture(spec: GMMSpec, observed, *, ordered: bool = True, **kwargs):
    """Free parameters and the marginalized likelihood ``x`` of ``observed`` (standardized).

    Shared by :func:`gmm_marginal_model` (observed: the data) and :func:`gmm_minibatch_model`
    (observed: a minibatch, with ``total_size``); ``kwargs`` go to ``pm.CustomDist``.
    """
    params = _free_parameters(spec, ordered=ordered)
    mixture_likelihood(spec, params["w"], params, observed, **kwargs)


def mixture_likelihood(spec: GMMSpec, w, params: dict, observed, **kwargs):
    """The marginalized mixture likelihood ``x`` of ``observed`` (standardized) in the current model.

    w : (K,) tensor of mixture weights (a Dirichlet variable, or stick-breaking weights);
    params : ``mu`` (K, D), ``prec_c``, ``prec_z`` as :func:`component_parameters` returns them;
    kwargs go to ``pm.CustomDist`` (``dims``, ``total_size``). Per-row log-density
    ``logsumexp_k [ln w_k + ln N(x_n | μ_k, Σ_k)]`` as one matrix product (:mod:`models.gmm_spec`).
    Returns the observed variable.
    """
    import pymc as pm
    import pytensor.tensor as pt

    a, b0, u, _ = _graph_natural(spec, params)
    b = pt.log(w) + b0
    return pm.CustomDist("x", a, b, w, params["mu"], u,
                         logp=_mixture_logp_fn(spec.covariance_type, spec.n_features),
                         random=_mixture_random, signature="(p,k),(k),(k),(k,d),(k,d,d)->(d)",
                         observed=observed, class_name="GaussianMixture", **kwargs)


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

    Example
    -------
    >>> from models import gmm_marginal_model, load_dataset
    >>> model = gmm_marginal_model(load_dataset("faithful").values, 2, columns=["eruptions", "waiting"])
    >>> model.coords["feature"], len(model.coords["obs"])
    (('eruptions', 'waiting'), 272)
    """
    import pymc as pm

    spec, x = make_spec(x, n_components, covariance_type=covariance_type, priors=priors, columns=columns,
                        dirichlet_alpha=dirichlet_alpha, mu_prior_sd=mu_prior_sd, wishart_dof=wishart_dof,
                        kind="marginal", standardization=standardization)
    with pm.Model(coords=model_coords(spec, x.shape[0])) as model:
        _standardization_data(spec)
        x_data = pm.Data("x_std", spec.standardization.apply(x), dims=("obs", "feature"))
        _observed_mixture(spec, x_data, ordered=bool(ordered), dims=("obs", "feature"))
    model.gmm_spec = spec
    return model


def gmm_minibatch_model(x, n_components, *, batch_size: int = 1000, covariance_type: str = "full",
                        dirichlet_alpha: float = DIRICHLET_ALPHA, mu_prior_sd: float = MU_PRIOR_SD,
                        wishart_dof: float | None = None):
    """:func:`gmm_marginal_model` (weak priors, ordered) with a ``pm.Minibatch`` as its observed data.

    Parameters
    ----------
    x : array_like (N, D), N >= batch_size.
    n_components : K.
    batch_size : rows per stochastic-gradient step.
    covariance_type, dirichlet_alpha, mu_prior_sd, wishart_dof : as :func:`gmm_marginal_model`.

    Returns
    -------
    pm.Model with ``model.gmm_spec``; the observed ``x`` is a (batch_size, D) minibatch of the
    standardized data with ``total_size = N``. The minibatch indices are drawn by a random
    variable of the graph, so whoever fits the model seeds them (``pm.fit(random_seed=...)``,
    as :func:`models.gmm_advi.fit_gmm_advi` does).
    """
    import pymc as pm

    spec, x = make_spec(x, n_components, covariance_type=covariance_type, priors="weak", columns=None,
                        dirichlet_alpha=dirichlet_alpha, mu_prior_sd=mu_prior_sd, wishart_dof=wishart_dof,
                        kind="marginal")
    n = x.shape[0]
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= n:
        raise DataError(f"batch_size must be an integer in [1, N = {n}], got {batch_size!r}.")
    with pm.Model(coords=model_coords(spec, None)) as model:
        batch = pm.Minibatch(spec.standardization.apply(x), batch_size=int(batch_size))
        _observed_mixture(spec, batch, ordered=True, total_size=n)
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

    spec, x = make_spec(x, n_components, covariance_type=covariance_type, priors=priors, columns=columns,
                        dirichlet_alpha=dirichlet_alpha, mu_prior_sd=mu_prior_sd, wishart_dof=wishart_dof,
                        kind="complete")
    labels = validate_labels(z, n_rows=x.shape[0], n_components=spec.n_components, every_label=True)
    x_s = spec.standardization.apply(x)
    with pm.Model(coords=model_coords(spec, x.shape[0])) as model:
        _standardization_data(spec)
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


def gmm_latent_z_model(x, n_components, *, covariance_type: str = "full", priors: str = "weak", columns=None,
                       dirichlet_alpha: float = DIRICHLET_ALPHA, mu_prior_sd: float = MU_PRIOR_SD,
                       wishart_dof: float | None = None, standardization: Standardization | None = None):
    r"""The generative GMM with the labels ``z`` latent, on the fast complete-data likelihood.

    The joint density of :func:`gmm_generative_model` — ``w ~ Dirichlet``, ``z_n ~ Categorical(w)``,
    ``x_n | z_n ~ N(μ_{z_n}, Σ_{z_n})`` with the free variables, priors, ordered means and
    standardization of :func:`gmm_marginal_model` — but ``ln p(x | z)`` is computed as
    :func:`gmm_complete_data_model` computes it: one (N, P) @ (P, K) product, the column of
    ``z_n`` picked per row. The generative model's ``MvNormal(μ[z], Σ[z])`` factorizes N
    covariance matrices per evaluation, one at a time (measured on Old Faithful: 5.5 ms per
    log-density, 0.36 s per gradient), and a Gibbs sweep over ``z`` evaluates the whole
    log-density once per point; this graph gives the same numbers (tested to 1e-9) fast enough
    to sample (:mod:`models.gmm_latent_z`).

    Parameters
    ----------
    x : (N, D) observed data; others as :func:`gmm_marginal_model`.

    Returns
    -------
    pm.Model with the free variables of :func:`gmm_marginal_model`, the latent ``z`` (N,)
    (``pm.Categorical``, dims ``obs``), data ``x_std``, ``loc``, ``scale`` and the observed ``x``
    (N, D), whose per-row log-density is ln N(x_n | μ_{z_n}, Σ_{z_n}) in standardized units.
    """
    import pymc as pm

    spec, x = make_spec(x, n_components, covariance_type=covariance_type, priors=priors, columns=columns,
                        dirichlet_alpha=dirichlet_alpha, mu_prior_sd=mu_prior_sd, wishart_dof=wishart_dof,
                        kind="latent_z", standardization=standardization)
    with pm.Model(coords=model_coords(spec, x.shape[0])) as model:
        _standardization_data(spec)
        x_data = pm.Data("x_std", spec.standardization.apply(x), dims=("obs", "feature"))
        params = _free_parameters(spec)
        a, b0, u, _ = _graph_natural(spec, params)
        z = pm.Categorical("z", p=params["w"], dims="obs")
        pm.CustomDist("x", a, b0, z, params["mu"], u,
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

    spec, x = make_spec(x, n_components, covariance_type=covariance_type, priors=priors, columns=columns,
                        dirichlet_alpha=dirichlet_alpha, mu_prior_sd=mu_prior_sd, wishart_dof=wishart_dof,
                        kind="generative", standardization=standardization, n_features=n_features)
    if x is None:
        if isinstance(n_obs, (bool, np.bool_)) or not isinstance(n_obs, (int, np.integer)) or n_obs < 1:
            raise DataError(f"n_obs must be a whole number >= 1 when x is None, got {n_obs!r}.")
        n = int(n_obs)
    else:
        n = x.shape[0]
    with pm.Model(coords=model_coords(spec, n)) as model:
        _standardization_data(spec)
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
