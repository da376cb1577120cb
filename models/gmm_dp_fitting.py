"""Posterior summaries of the truncated DP mixture that do not depend on the labels, and its checks.

The stick-breaking components are not identified (:func:`models.gmm_dp_builders.gmm_dp_model`),
so nothing here looks at a component by its index: the per-draw log-likelihood, E[α | r], the
weights sorted in decreasing order and the number of components with weight > 1 % are the same whatever
the labels. Convergence is gated on those (:func:`diagnose_dp`), never on ``mu`` or ``w`` by index.

* :func:`label_invariant_draws` — those quantities per draw, as an xarray Dataset;
* :func:`alpha_draws` — posterior draws of α from α | r (the model integrates α out);
* :func:`diagnose_dp` — R-hat, ESS and divergences of the continuous ones
  (:func:`models.fitting.diagnose`);
* :func:`active_component_posterior` — posterior probabilities of the number of active components;
* :func:`truncation_check` — ``E[w_T]`` averaged over the posterior of α, with a warning to
  raise T when it is not below 1e-3;
* :func:`dp_start_point` and :func:`sample_dp_posterior` — NUTS started in the posterior's
  dominant arrangement of the sticks (below).

Why a start point
-----------------
The stick-breaking prior is not exchangeable: a component that holds a cluster *behind* an
empty one forces the empty one's fraction ``v_t`` towards 0, which costs prior mass (about
``ln(α / N)`` per empty stick ahead) and drags α and the small weights along. NUTS cannot swap
components, so a chain that starts with its clusters on sticks 0, 1 and 6 stays there
(measured on the slow test's data with a first version that sampled α and v: two chains from
PyMC's default start, clusters on sticks {0, 1, 6} and {0, 1, 3}, posterior means of α 1.14
and 0.65, R-hat of α 1.25; the empty stick ahead then also counted as a fourth active
component in 19 % of the draws). The dominant arrangement puts the
occupied components first, largest first. :func:`dp_start_point` starts every chain there (PyMC
still jitters the start per chain): the EM fit with the lowest BIC over K = 1..T-1 (an EM fit
whose component collapses is skipped), its components sorted by weight on the first sticks,
the other sticks sharing a weight of 1e-3 at the data's mean and covariance. The number of
active components is then the sampler's, not BIC's: a spare stick right behind the occupied
ones can take up a cluster and the last occupied one can drain.
"""

from __future__ import annotations

import warnings

import numpy as np

from models.em import EMCollapseWarning, fit_em
from models.fitting import Diagnostics, diagnose, sample_nuts
from models.gmm_dp import (
    ACTIVE_WEIGHT,
    TRUNCATION_TOL,
    DPPrior,
    active_components,
    alpha_conditional,
    last_stick_expected_weight,
    stick_breaking_weights,
    stick_fractions,
)
from models.gmm_metrics import bic
from models.gmm_spec import parameters_to_point

__all__ = [
    "TruncationWarning",
    "GATED",
    "alpha_draws",
    "label_invariant_draws",
    "diagnose_dp",
    "active_component_posterior",
    "truncation_check",
    "SPARE_WEIGHT",
    "em_bic_over_k",
    "dp_start_point",
    "sample_dp_posterior",
]

#: Total weight the start point gives the sticks behind the occupied ones.
SPARE_WEIGHT = 1e-3

#: The label-invariant quantities the convergence gate uses. The active-component count is not
#: among them: it is discrete and often constant, and R-hat/ESS of a constant are undefined.
GATED = ("log_lik", "alpha_mean", "w_sorted")


class TruncationWarning(UserWarning):
    """The truncation level T may cut off posterior mass (raise T)."""


def alpha_draws(idata, prior: DPPrior, *, seed: int = 0, per_draw: int = 1) -> np.ndarray:
    """Posterior draws of α: for each posterior draw of the depths r, ``per_draw`` draws of
    α | r ~ Gamma(a + T - 1, b + Σ r) (:func:`models.gmm_dp.alpha_conditional`), seeded.

    Returns (chain, draw, per_draw).
    """
    r = idata.posterior["v_raw"].transpose("chain", "draw", "stick").values
    shape, rate = alpha_conditional(r, prior)
    rng = np.random.default_rng(seed)
    return rng.gamma(shape[..., None], 1.0 / rate[..., None], size=shape.shape + (per_draw,))


def label_invariant_draws(idata, prior: DPPrior, threshold: float = ACTIVE_WEIGHT):
    """Per-draw quantities that do not depend on the component labels.

    idata : InferenceData of :func:`models.gmm_dp_builders.gmm_dp_model` with a posterior
        (``v_raw``, ``w``) and a ``log_likelihood`` group (``x``, per point);
    prior : the model's ``dp_prior``.

    Returns
    -------
    xarray.Dataset with dims (chain, draw[, rank]): ``log_lik`` (total over the points,
    standardized units), ``alpha_mean`` (E[α | r], the Rao-Blackwellized α of each draw),
    ``n_active`` (weights > ``threshold``), ``w_sorted`` (T weights, largest first).
    """
    import xarray as xr

    post = idata.posterior
    w = post["w"].transpose("chain", "draw", "component").values
    dims = ("chain", "draw")
    coords = {"chain": post["chain"].values, "draw": post["draw"].values}
    loglik = idata.log_likelihood["x"]
    point_dims = [dim for dim in loglik.dims if dim not in dims]
    return xr.Dataset(
        {"log_lik": (dims, loglik.sum(point_dims).transpose(*dims).values),
         "alpha_mean": (dims, np.divide(*alpha_conditional(post["v_raw"].transpose(*dims, "stick").values,
                                                            prior))),
         "n_active": (dims, active_components(w, threshold)),
         "w_sorted": (dims + ("rank",), -np.sort(-w, axis=-1))},
        coords=coords | {"rank": np.arange(w.shape[-1])})


def diagnose_dp(idata, prior: DPPrior, *, ess_min: float | None = None) -> Diagnostics:
    """:func:`models.fitting.diagnose` on the label-invariant :data:`GATED` quantities (and divergences).

    Example
    -------
    Independent draws of the depths of T = 4 sticks pass the gate (R-hat ~1, ESS ~ the draws):

    >>> import arviz as az
    >>> import numpy as np
    >>> from models import diagnose_dp
    >>> from models.gmm_dp import dp_prior, stick_breaking_weights
    >>> rng = np.random.default_rng(0)
    >>> r = rng.exponential(1.0, size=(2, 500, 3))
    >>> idata = az.from_dict(posterior={"v_raw": r, "w": stick_breaking_weights(-np.expm1(-r))},
    ...                      log_likelihood={"x": rng.normal(size=(2, 500, 10))},
    ...                      sample_stats={"diverging": np.zeros((2, 500), dtype=bool)},
    ...                      dims={"v_raw": ["stick"], "w": ["component"], "x": ["obs"]})
    >>> diagnostics = diagnose_dp(idata, dp_prior(4))
    >>> diagnostics.converged, diagnostics.n_draws, sorted(diagnostics.table)
    (True, 1000, ['alpha_mean', 'log_lik', 'w_sorted'])
    """
    import arviz as az

    gated = az.InferenceData(posterior=label_invariant_draws(idata, prior)[list(GATED)],
                             sample_stats=idata.sample_stats)
    return diagnose(gated) if ess_min is None else diagnose(gated, ess_min=ess_min)


def active_component_posterior(idata, threshold: float = ACTIVE_WEIGHT) -> dict[int, float]:
    """Posterior probability of each number of active components (weight > ``threshold``),
    ``{k: fraction of draws}`` for the k that occur, ascending.

    Example
    -------
    >>> import arviz as az
    >>> import numpy as np
    >>> from models import active_component_posterior
    >>> w = np.array([[[0.7, 0.29, 0.005, 0.005], [0.5, 0.3, 0.15, 0.05]]])    # 1 chain, 2 draws, T = 4
    >>> active_component_posterior(az.from_dict(posterior={"w": w}, dims={"w": ["component"]}))
    {2: 0.5, 4: 0.5}
    """
    counts = active_components(idata.posterior["w"].transpose("chain", "draw", "component").values,
                               threshold).ravel()
    values, freq = np.unique(counts, return_counts=True)
    return {int(k): float(f / counts.size) for k, f in zip(values, freq)}


def truncation_check(idata, prior: DPPrior, *, tol: float = TRUNCATION_TOL, seed: int = 0,
                     per_draw: int = 20, warn: bool = True) -> dict:
    """Is the truncation level T large enough? ``E[w_T | α] = (α/(1+α))^(T-1)``, averaged over
    the posterior of α (:func:`alpha_draws`, ``per_draw`` per posterior draw, seeded), must be
    below ``tol`` (1e-3).

    Returns
    -------
    dict: ``truncation`` T, ``expected_last_weight`` (the average above), ``posterior_last_weight``
    (posterior mean of the fitted w_T, for comparison), ``tol``, ``adequate`` (bool), ``seed``.
    Warns :class:`TruncationWarning` with the fix when not adequate (``warn=False`` to only report).

    Example
    -------
    Deep sticks (v = 1 - e^-5) leave α | r small, so T = 10 is ample:

    >>> import arviz as az
    >>> import numpy as np
    >>> from models import truncation_check
    >>> from models.gmm_dp import dp_prior, stick_breaking_weights
    >>> r = np.full((1, 2, 9), 5.0)
    >>> idata = az.from_dict(posterior={"v_raw": r, "w": stick_breaking_weights(-np.expm1(-r))},
    ...                      dims={"v_raw": ["stick"], "w": ["component"]})
    >>> out = truncation_check(idata, dp_prior(10))
    >>> out["adequate"], out["truncation"], out["expected_last_weight"] < 1e-6
    (True, 10, True)
    """
    t = prior.truncation
    expected = float(np.mean(last_stick_expected_weight(alpha_draws(idata, prior, seed=seed, per_draw=per_draw), t)))
    out = {"truncation": t, "expected_last_weight": expected,
           "posterior_last_weight": float(idata.posterior["w"].isel(component=-1).mean()), "tol": float(tol),
           "adequate": bool(expected < tol), "seed": int(seed)}
    if warn and not out["adequate"]:
        warnings.warn(f"the truncated DP may be cut short: the last stick's expected weight given alpha, "
                      f"averaged over the posterior, is {expected:.2g} >= {tol:g} with T = {t}; "
                      f"raise T (e.g. truncation={2 * t}) and fit again.", TruncationWarning, stacklevel=2)
    return out


def em_bic_over_k(x: np.ndarray, ks, *, seed: int, **em_options) -> tuple[dict, list[int]]:
    """The project's EM fit (full covariances, :func:`models.em.fit_em` with ``seed`` and
    ``em_options``) and its BIC for each K in ``ks``; a K whose fit collapsed
    (:class:`models.em.EMCollapseWarning`) is left out and listed.

    x : (N, D) data. Returns ``({K: (EMResult, BIC)}, [collapsed K, ...])``.
    """
    fits, collapsed = {}, []
    for k in ks:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = fit_em(x, int(k), seed=seed, **em_options)
        if any(issubclass(c.category, EMCollapseWarning) for c in caught):
            collapsed.append(int(k))
            continue
        fits[int(k)] = (fit, bic(x, fit.weights, fit.means, fit.covariances))
    return fits, collapsed


def dp_start_point(model, *, seed: int = 0) -> tuple[dict, int]:
    """A start for NUTS with the occupied components on the first sticks, largest first.

    model : built by :func:`models.gmm_dp_builders.gmm_dp_model`. seed : for EM's k-means++.

    Returns
    -------
    (point, k): ``point`` the constrained start (``v_raw`` (T-1,), ``mu_first``,
    ``mu_rest``, ``prec_c``, ``prec_z``) for ``pm.sample(initvals=...)``; ``k`` the number of
    components of the EM fit it came from (module docstring).
    """
    spec, t = model.gmm_spec, model.dp_prior.truncation
    x = spec.standardization.invert(np.asarray(model["x_std"].get_value()))
    fits, _ = em_bic_over_k(x, range(1, t), seed=seed, n_init=3)
    fit = min(fits.values(), key=lambda pair: pair[1])[0]   # K = 1 never collapses on validated data
    k = fit.weights.size
    order = np.argsort(-fit.weights, kind="stable")
    spare = (np.ones(1) if t - k == 1 else stick_breaking_weights(np.full(t - k - 1, 0.5))) * SPARE_WEIGHT
    w = np.concatenate([fit.weights[order] * (1.0 - SPARE_WEIGHT), spare])
    mu = np.concatenate([fit.means[order], np.repeat(x.mean(axis=0)[None, :], t - k, axis=0)])
    cov_data = np.atleast_2d(np.cov(x, rowvar=False, bias=True))
    cov = np.concatenate([fit.covariances[order], np.repeat(cov_data[None], t - k, axis=0)])
    point = parameters_to_point(spec, w, mu, cov, order=False)
    point.pop("w")
    point["v_raw"] = -np.log1p(-stick_fractions(w))                         # r = -ln(1 - v)
    return point, k


def sample_dp_posterior(model, *, draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 0,
                        target_accept: float = 0.9, progressbar: bool = False):
    """NUTS (:func:`models.fitting.sample_nuts`) with chain c started at :func:`dp_start_point`
    (EM seed ``seed + c``) exactly, without PyMC's jitter: a jitter of ±1 standardized unit moves
    a mean off its cluster, and a chain then merged two clusters into one component for good
    (measured: 1 chain in 2, on the slow test's data, log-likelihood -558 against -453).
    ``attrs`` also record ``start_components`` (the EM fits' K, per chain). Check the result with
    :func:`diagnose_dp` and :func:`truncation_check`.

    Example
    -------
    >>> import numpy as np
    >>> from models import active_component_posterior, gmm_dp_model, sample_dp_posterior
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(-3.0, 1.0, (60, 2)), rng.normal(3.0, 1.0, (40, 2))])
    >>> idata = sample_dp_posterior(gmm_dp_model(x, truncation=4), draws=100, tune=200, seed=1)
    >>> idata.attrs["start_components"]                # the EM fits' K (lowest BIC), per chain
    [2, 2]
    >>> posterior = active_component_posterior(idata)
    >>> max(posterior, key=posterior.get)
    2
    """
    starts = [dp_start_point(model, seed=seed + c) for c in range(chains)]
    idata = sample_nuts(model, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept,
                        progressbar=progressbar, initvals=[point for point, _ in starts], init="adapt_diag")
    idata.attrs["start_components"] = [int(k) for _, k in starts]
    return idata
