r"""The GMM sampled with its labels: PyMC's compound step against the marginalized NUTS posterior.

The generative model keeps :math:`z_n \sim \mathrm{Categorical}(w)` as a variable
(:func:`models.gmm_builders.gmm_latent_z_model`). ``pm.sample`` cannot take a gradient with
respect to an integer, so it builds a compound step: NUTS for the continuous variables
(``w``, ``mu_first``, ``mu_rest``, ``prec_c``, ``prec_z``) and a Metropolis-within-Gibbs step for
``z``, chosen by each step class's ``competence`` (:func:`step_assignment` asks PyMC's own
``assign_step_methods``, the function ``pm.sample`` calls). For a ``Categorical`` with K = 2
categories ``BinaryGibbsMetropolis`` declares itself IDEAL and ``CategoricalGibbsMetropolis``
only COMPATIBLE, so **K = 2 gets BinaryGibbsMetropolis** (one point at a time, in random order:
with probability ``transit_p = 0.8`` propose the other label, accept by Metropolis);
K > 2 gets ``CategoricalGibbsMetropolis``. Either way each update of one ``z_n`` evaluates the
whole model's log-density, so a sweep over the N labels costs O(N²).

The marginalized model (:func:`models.gmm_builders.gmm_marginal_model`, the same priors and
standardization) sums ``z`` out and runs NUTS alone. Both target the same posterior of
(w, μ, Σ); what this module measures:

* :func:`same_starts` — one start per chain for both models (the EM fit; ``z`` at its most
  probable labels);
* :func:`sample_latent_z`, :func:`sample_marginal` — the two runs, from those starts;
* :func:`parameter_draws` — (w, μ, Σ) in data units as named scalars (chain, draw);
* :func:`compare_moments` — posterior means and sds of both runs, with the z-score of each
  difference against the two runs' Monte Carlo standard errors (ArviZ ``mcse``);
* :func:`label_frequencies`, :func:`compare_frequencies` — the explicit ``z``'s frequency per
  point against the responsibilities recovered from the marginal posterior, per-point MCSE;
* :func:`efficiency` — ESS per second and per gradient evaluation, and a weight's autocorrelation;
* :func:`bonferroni_z` — the threshold for "every one of m comparisons within Monte Carlo error".
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from models.em import EMResult
from models.fitting import sample_nuts, to_constrained, to_unconstrained
from models.gmm import responsibilities
from models.gmm_fitting import posterior_parameters
from models.gmm_spec import GMMSpec, gmm_spec, parameters_to_point, point_to_parameters
from models.validation import DataError

__all__ = [
    "FAMILY_ALPHA",
    "GIBBS_TRANSIT_P",
    "step_assignment",
    "same_starts",
    "sample_latent_z",
    "sample_marginal",
    "parameter_draws",
    "bonferroni_z",
    "compare_moments",
    "label_frequencies",
    "compare_frequencies",
    "efficiency",
]

#: Family-wise false-alarm probability of a set of "within Monte Carlo error" comparisons.
FAMILY_ALPHA = 0.01
#: ``BinaryGibbsMetropolis``'s default probability of proposing the other label (PyMC 5).
GIBBS_TRANSIT_P = 0.8


def step_assignment(model) -> dict[str, str]:
    """``{variable name: step class name}`` that ``pm.sample`` assigns to ``model``'s free variables.

    Asks ``pymc.sampling.mcmc.assign_step_methods`` — the function ``pm.sample`` itself calls
    when no step is given — without compiling or sampling anything. Names are the free
    variables' (``w``, not its value variable ``w_simplex__``).
    """
    from pymc.sampling.mcmc import assign_step_methods

    _, selected = assign_step_methods(model, None)
    return {model.values_to_rvs[v].name: cls.__name__ for cls, value_vars in selected.items() for v in value_vars}


def same_starts(marginal_model, em: EMResult, *, chains: int, seed: int, jitter: float = 0.0) -> list[dict]:
    """One starting point per chain, shared by the marginal and the explicit-z model.

    Each chain starts at the EM fit ``em`` (data units), by default exactly there, as
    :mod:`models.gmm_dp_fitting` starts its chains; ``jitter > 0`` moves each chain's start by
    U(-jitter, jitter) in every unconstrained coordinate (``jitter=1`` is ``pm.sample``'s own
    ``jitter+adapt_diag``), drawn here once (seeded) so that both models get the same points.
    PyMC's ±1 is a factor e on every precision and on the gap between the ordered means: on
    36 points it started a chain at weights (0.78, 0.22) with the means 4.8 standardized units
    apart instead of 1.9. ``z`` starts at each point's most probable labels.

    Returns
    -------
    list of ``chains`` dicts of constrained values: ``w``, ``mu_first``, ``mu_rest``,
    ``prec_c``, ``prec_z`` (as the model has them) and ``z`` (N,) int.
    """
    spec = gmm_spec(marginal_model)
    if em.covariance_type != spec.covariance_type or em.weights.size != spec.n_components:
        raise DataError(f"the EM fit has K = {em.weights.size}, covariance_type={em.covariance_type!r}; the model "
                        f"has K = {spec.n_components}, {spec.covariance_type!r}.")
    x = spec.standardization.invert(np.asarray(marginal_model["x_std"].get_value()))
    base = parameters_to_point(spec, em.weights, em.means, em.covariances)
    transforms = {marginal_model.values_to_rvs[v].name: marginal_model.rvs_to_transforms[marginal_model.values_to_rvs[v]]
                  for v in marginal_model.value_vars}
    rng = np.random.default_rng(seed)
    starts = []
    for _ in range(chains):
        point = {}
        for name, value in base.items():
            free = to_unconstrained(transforms[name], np.asarray(value, dtype=float))
            point[name] = to_constrained(transforms[name], free + rng.uniform(-jitter, jitter, free.shape))
        w, mu, cov = point_to_parameters(spec, point)
        point["z"] = np.argmax(responsibilities(x, w, mu, cov, spec.covariance_type), axis=1).astype(np.int64)
        starts.append(point)
    return starts


def sample_latent_z(model, starts: list[dict], *, draws: int = 1000, tune: int = 1000, seed: int = 0,
                    target_accept: float = 0.9, progressbar: bool = False):
    """``pm.sample`` on :func:`models.gmm_builders.gmm_latent_z_model` with the step PyMC assigns.

    No step is passed: PyMC chooses (:func:`step_assignment`, recorded in ``attrs``). With a
    discrete variable ``pm.sample`` neither jitters nor runs its NUTS initialisation, so each
    chain starts exactly at its ``starts`` entry (``z`` included).

    Returns
    -------
    arviz.InferenceData (:func:`models.fitting.sample_nuts`): posterior with ``z`` (chain, draw,
    obs); sample_stats are NUTS's (``n_steps``, ``diverging``, ...) — the Gibbs step records none.
    """
    spec = gmm_spec(model)
    if spec.kind != "latent_z":
        raise DataError("sample_latent_z samples a model from gmm_latent_z_model (z latent).")
    idata = sample_nuts(model, draws=draws, tune=tune, chains=len(starts), seed=seed, target_accept=target_accept,
                        progressbar=progressbar, initvals=[dict(s) for s in starts])
    idata.attrs.update({"model": "gmm_latent_z", "steps": str(step_assignment(model)), "start": "same_starts"})
    return idata


def sample_marginal(model, starts: list[dict], *, draws: int = 1000, tune: int = 1000, seed: int = 0,
                    target_accept: float = 0.9, progressbar: bool = False):
    """NUTS on :func:`models.gmm_builders.gmm_marginal_model`, each chain exactly at its start.

    ``init="adapt_diag"`` (no further jitter): the chains start where the explicit-z chains
    start (``z`` dropped), with the same diagonal mass-matrix adaptation.
    """
    spec = gmm_spec(model)
    if spec.kind != "marginal":
        raise DataError("sample_marginal samples a model from gmm_marginal_model.")
    names = spec.value_shapes()
    initvals = [{k: v for k, v in s.items() if k in names} for s in starts]
    idata = sample_nuts(model, draws=draws, tune=tune, chains=len(starts), seed=seed, target_accept=target_accept,
                        progressbar=progressbar, initvals=initvals, init="adapt_diag")
    idata.attrs.update({"model": "gmm_marginal", "start": "same_starts"})
    return idata


def parameter_draws(idata, spec: GMMSpec):
    """(w, μ, Σ) in data units as one xarray.DataArray (chain, draw, scalar), full covariances.

    The scalars are ``w[k]``, ``mu[k, feature]`` and the upper triangle ``cov[k, i, j]`` (i <= j)
    of each Σ_k, named in the ``scalar`` coordinate; the group of each (``w``, ``mu``, ``cov``)
    is the ``group`` coordinate.
    """
    import xarray as xr

    if spec.covariance_type != "full":
        raise DataError("parameter_draws handles full covariances (the explicit-z comparison's model).")
    p = posterior_parameters(idata, spec)
    k, d = spec.n_components, spec.n_features
    cols, names, groups = [], [], []
    for j in range(k):
        cols.append(p["w"][..., j])
        names.append(f"w[{j}]")
        groups.append("w")
    for j in range(k):
        for i, c in enumerate(spec.columns):
            cols.append(p["mu"][..., j, i])
            names.append(f"mu[{j}, {c}]")
            groups.append("mu")
    for j in range(k):
        for a in range(d):
            for b in range(a, d):
                cols.append(p["cov"][..., j, a, b])
                names.append(f"cov[{j}, {spec.columns[a]}, {spec.columns[b]}]")
                groups.append("cov")
    return xr.DataArray(np.stack(cols, axis=-1), dims=("chain", "draw", "scalar"),
                        coords={"scalar": names, "group": ("scalar", groups)})


def bonferroni_z(n_comparisons: int, alpha: float = FAMILY_ALPHA) -> float:
    """z with P(any of ``n_comparisons`` standard normals exceeds |z|) <= ``alpha`` (Bonferroni):
    ``Φ⁻¹(1 - alpha / (2 m))``; at α = 0.01: 2.58 for m = 1, 3.53 for m = 24, 4.13 for m = 272."""
    if n_comparisons < 1:
        raise ValueError("n_comparisons must be >= 1")
    return float(stats.norm.isf(alpha / (2.0 * n_comparisons)))


def _moments(draws) -> dict[str, np.ndarray]:
    """Mean, sd and their ArviZ MCSEs of every scalar of a (chain, draw, scalar) DataArray."""
    import arviz as az

    ds = draws.to_dataset(name="v")
    return {"mean": draws.mean(("chain", "draw")).values, "sd": draws.std(("chain", "draw"), ddof=1).values,
            "mcse_mean": az.mcse(ds, method="mean")["v"].values, "mcse_sd": az.mcse(ds, method="sd")["v"].values}


def compare_moments(draws_a, draws_b, *, alpha: float = FAMILY_ALPHA) -> dict:
    """Posterior means and sds of two runs, scalar by scalar, against their Monte Carlo errors.

    For each scalar, ``z = |m_a - m_b| / sqrt(mcse_a² + mcse_b²)`` for the mean (ArviZ
    ``mcse(method="mean")``) and for the sd (``mcse(method="sd")``). The two runs agree within
    Monte Carlo error when every z of the 2m comparisons (m scalars) is below
    :func:`bonferroni_z` (2m, ``alpha``).

    Returns
    -------
    dict: ``scalar`` names (m,); ``a``, ``b``: per-run ``mean``, ``sd``, ``mcse_mean``, ``mcse_sd``
    (m,); ``z_mean``, ``z_sd`` (m,); ``z_max`` (the largest of both), ``threshold``, ``agree``.
    """
    a, b = _moments(draws_a), _moments(draws_b)
    z_mean = np.abs(a["mean"] - b["mean"]) / np.hypot(a["mcse_mean"], b["mcse_mean"])
    z_sd = np.abs(a["sd"] - b["sd"]) / np.hypot(a["mcse_sd"], b["mcse_sd"])
    threshold = bonferroni_z(2 * z_mean.size, alpha)
    z_max = float(np.max(np.concatenate([z_mean, z_sd])))     # NaN (undefined MCSE) propagates: not agreed
    return {"scalar": [str(s) for s in draws_a["scalar"].values], "a": a, "b": b, "z_mean": z_mean, "z_sd": z_sd,
            "z_max": z_max, "threshold": threshold, "alpha": alpha, "agree": bool(z_max <= threshold)}


def label_frequencies(idata, n_components: int) -> np.ndarray:
    """One-hot draws of the explicit ``z``: (chain, draw, N, K) floats, whose mean over (chain,
    draw) is the posterior frequency of each label per point."""
    z = np.asarray(idata.posterior["z"].values)
    return (z[..., None] == np.arange(n_components)).astype(float)


def _mean_and_mcse(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over (chain, draw) and ArviZ's MCSE of the mean, for (chain, draw, ...) draws."""
    import arviz as az
    import xarray as xr

    da = xr.DataArray(draws, dims=("chain", "draw") + tuple(f"d{i}" for i in range(draws.ndim - 2)))
    with warnings.catch_warnings():  # a label that never moved: NaN MCSE (sqrt of 0/0), handled by the caller
        warnings.simplefilter("ignore", RuntimeWarning)
        mcse = az.mcse(da.to_dataset(name="v"), method="mean")["v"].values
    return draws.mean(axis=(0, 1)), np.asarray(mcse, dtype=float)


def compare_frequencies(label_draws: np.ndarray, resp_draws: np.ndarray, *, alpha: float = FAMILY_ALPHA) -> dict:
    r"""The explicit ``z``'s frequency per point against recovered responsibilities, every point.

    ``label_draws`` (chain, draw, N, K) one-hot labels of the explicit-z run; ``resp_draws``
    (chain', draw', N, K) per-draw responsibilities γ_nk(θ) of the marginal run. For each point
    and component, ``z = |f_nk - r_nk| / sqrt(se_f² + se_r²)`` with ArviZ's MCSE of each mean.
    A label that never changed (every draw 0, or every draw 1) has no MCSE from its own draws;
    its se_f is then the binomial ``sqrt(r (1 - r) / S)`` at the reference r (the error of S
    independent draws — a chain that never moved is no better than that), and that floor
    applies to every point (``max`` of the two). Only component 1 is compared when K = 2 (the
    other is its complement). The threshold is :func:`bonferroni_z` over the N(K-1) comparisons.

    Returns
    -------
    dict: ``frequency``, ``responsibility``, ``se_frequency``, ``se_responsibility``, ``z``
    (N, K'); ``z_max``, ``worst_point``, ``threshold``, ``alpha``, ``agree``.
    """
    keep = slice(1, 2) if label_draws.shape[-1] == 2 else slice(None)
    f, se_f = _mean_and_mcse(label_draws[..., keep])
    r, se_r = _mean_and_mcse(resp_draws[..., keep])
    n_draws = label_draws.shape[0] * label_draws.shape[1]
    floor = np.sqrt(np.clip(r * (1.0 - r), 0.0, None) / n_draws)
    se_f = np.fmax(np.nan_to_num(se_f, nan=0.0), floor)
    se_r = np.nan_to_num(se_r, nan=0.0)
    diff = np.abs(f - r)
    se = np.hypot(se_f, se_r)
    z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff > 0, np.inf, 0.0))
    threshold = bonferroni_z(z.size, alpha)
    worst = int(np.unravel_index(np.argmax(z), z.shape)[0])
    return {"frequency": f, "responsibility": r, "se_frequency": se_f, "se_responsibility": se_r, "z": z,
            "z_max": float(np.max(z)), "worst_point": worst, "threshold": threshold, "alpha": alpha,
            "agree": bool(np.max(z) <= threshold)}


def efficiency(idata, draws, *, weight: str = "w[1]", max_lag: int = 50, n_obs: int | None = None) -> dict:
    """What a run's draws of (w, μ, Σ) cost: bulk ESS per second and per gradient evaluation.

    Parameters
    ----------
    idata : the run (posterior ``attrs["sampling_time"]``, sample_stats ``n_steps``).
    draws : its :func:`parameter_draws` (chain, draw, scalar).
    weight : the scalar whose autocorrelation is returned.
    n_obs : N for an explicit-z run: its Gibbs step's expected log-density evaluations per
        iteration, ``transit_p · N + 1`` (PyMC records none), are reported too.

    Returns
    -------
    dict: ``ess_bulk`` (m,) per scalar, ``ess_bulk_min``, ``seconds`` (sampling wall time,
    tuning included, chains in parallel), ``gradients`` (leapfrog steps of the kept draws, all
    chains: NUTS's ``n_steps``), ``ess_per_second``, ``ess_per_gradient`` (of the smallest ESS),
    ``gradients_per_draw``, ``autocorrelation`` (max_lag + 1,) of ``weight`` averaged over
    chains, ``integrated_time`` (draws / ESS of ``weight``), and ``gibbs_logp_per_iteration``.
    """
    import arviz as az

    ess = np.asarray(az.ess(draws.to_dataset(name="v"), method="bulk")["v"].values, dtype=float)
    seconds = float(idata.posterior.attrs["sampling_time"])
    gradients = float(idata.sample_stats["n_steps"].values.sum())
    series = draws.sel(scalar=weight).values                                   # (chain, draw)
    acf = np.mean([az.autocorr(c)[: max_lag + 1] for c in series], axis=0)
    ess_weight = float(ess[list(draws["scalar"].values).index(weight)])
    out = {"scalar": [str(s) for s in draws["scalar"].values], "ess_bulk": ess, "ess_bulk_min": float(ess.min()),
           "seconds": seconds, "gradients": gradients,
           "gradients_per_draw": gradients / series.size, "ess_per_second": float(ess.min()) / seconds,
           "ess_per_gradient": float(ess.min()) / gradients, "weight": weight, "autocorrelation": acf,
           "integrated_time": series.size / ess_weight, "ess_weight": ess_weight}
    if n_obs is not None:
        out["gibbs_logp_per_iteration"] = GIBBS_TRANSIT_P * n_obs + 1
    return out

