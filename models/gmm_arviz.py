"""A GMM posterior as an ArviZ user wants it: data units, under the data's column names.

:func:`models.gmm_fitting.sample_gmm_posterior` samples the model in standardized units (its
``mu``, ``prec_c``, ... are what NUTS moves); :func:`posterior_in_data_units` adds the
posterior of each component's mean and sd in the data's units, on the model's ``component``
and ``feature`` coordinates (the feature coordinate holds the data's column names), and puts a
posterior predictive in data units, so that ``az.summary``, ``az.plot_trace``,
``az.plot_pair`` and ``az.plot_ppc`` of the result — or of the NetCDF file it is saved to —
speak the data's language.
"""

from __future__ import annotations

import numpy as np

from models.gmm_fitting import posterior_parameters, predictive_in_data_units
from models.gmm_spec import GMMSpec, gmm_spec

__all__ = ["posterior_in_data_units"]


def _variances(spec: GMMSpec, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Per-component variances (..., K, D) from covariances in ``spec``'s covariance type."""
    return {"full": lambda: np.diagonal(cov, axis1=-2, axis2=-1),
            "tied": lambda: np.broadcast_to(np.diagonal(cov, axis1=-2, axis2=-1)[..., None, :], mu.shape),
            "diag": lambda: cov,
            "spherical": lambda: np.broadcast_to(cov[..., None], mu.shape)}[spec.covariance_type]()


def posterior_in_data_units(idata, model_or_spec):
    """Add data-unit variables to a GMM posterior (in place; also returned).

    Parameters
    ----------
    idata : InferenceData from :func:`models.gmm_fitting.sample_gmm_posterior`.
    model_or_spec : the model it sampled (from :func:`models.gmm_builders.gmm_marginal_model`),
        or its ``gmm_spec``.

    Returns
    -------
    ``idata``, whose posterior gains ``means`` and ``sds`` (chain, draw, component, feature) in
    data units; the sampler's own variables stay, in standardized units. A posterior predictive
    ``x`` and the observed ``x`` are put in data units too.

    Example
    -------
    >>> import arviz as az
    >>> from models import gmm_marginal_model, load_dataset, posterior_in_data_units, sample_gmm_posterior
    >>> x = load_dataset("faithful").values
    >>> model = gmm_marginal_model(x, 2, columns=["eruptions", "waiting"])
    >>> idata = posterior_in_data_units(sample_gmm_posterior(model, draws=100, tune=100, seed=1), model)
    >>> summary = az.summary(idata, var_names=["means"], kind="stats")
    >>> list(summary.index)
    ['means[0, eruptions]', 'means[0, waiting]', 'means[1, eruptions]', 'means[1, waiting]']
    >>> bool(50 < summary.loc["means[0, waiting]", "mean"] < 60)     # minutes, not standardized units
    True
    """
    spec = model_or_spec if isinstance(model_or_spec, GMMSpec) else gmm_spec(model_or_spec)
    p = posterior_parameters(idata, spec)
    dims = ("chain", "draw", "component", "feature")
    idata.posterior["means"] = (dims, p["mu"])
    idata.posterior["sds"] = (dims, np.sqrt(_variances(spec, p["mu"], p["cov"])))
    idata.posterior.attrs["units"] = ("means, sds: data units; the sampler's variables (mu, prec_c, ...): "
                                      "standardized by constant_data loc and scale")
    if "posterior_predictive" in idata.groups() and idata.posterior_predictive.attrs.get("units") != "data":
        predicted = idata.posterior_predictive["x"]
        idata.posterior_predictive["x"] = predicted.copy(data=predictive_in_data_units(idata, spec))
        observed = idata.observed_data["x"]
        idata.observed_data["x"] = observed.copy(data=spec.standardization.invert(observed.values))
        idata.posterior_predictive.attrs["units"] = idata.observed_data.attrs["units"] = "data"
    return idata
