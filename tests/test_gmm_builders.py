"""Tests for models.gmm_builders: the PyMC GMM graphs against numpy, scipy and pymc-extras.

* log-density: generative + ``pymc_extras.marginalize`` == fast marginal model == numpy
  (:func:`models.gmm.gmm_logpdf`) == scipy, at seeded parameter points, to 1e-9 relative, for
  every covariance type and D = 1, 2, 3;
* forward (prior-predictive) draws of the generative model have the right shapes and labels;
* bad input is refused before any ``pm.Model`` exists.
"""

from __future__ import annotations

import numpy as np
import pytest
from gmm_cases import RTOL_DENSITY, TYPES, assert_close_rel, model_for, random_parameters, scipy_mixture_logpdf

from models import gmm
from models.data import load_dataset
from models.gmm_builders import gmm_complete_data_model, gmm_generative_model, gmm_marginal_model
from models.gmm_fitting import log_likelihood_function
from models.gmm_spec import mixture_log_density, parameters_to_point
from models.validation import DataError


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_dataset("faithful").values


# --------------------------------------------------------------------------- log-densities


@pytest.mark.parametrize("covariance_type", TYPES)
def test_fast_log_density_equals_numpy_and_scipy(faithful, covariance_type):
    model = model_for(faithful, 3, covariance_type, "weak")
    loglik = log_likelihood_function(model)
    rng = np.random.default_rng(100)
    for _ in range(3):
        w, mu, cov = random_parameters(rng, faithful, 3, covariance_type)
        point = parameters_to_point(model.gmm_spec, w, mu, cov)
        ours = loglik(point)
        reference = gmm.gmm_logpdf(faithful, w, mu, cov, covariance_type)
        assert ours.shape == (faithful.shape[0],)
        assert_close_rel(ours, reference, RTOL_DENSITY)
        assert_close_rel(ours, scipy_mixture_logpdf(faithful, w, mu, cov, covariance_type), RTOL_DENSITY)
        assert_close_rel(mixture_log_density(model.gmm_spec, faithful, point), reference, RTOL_DENSITY)


@pytest.mark.parametrize("d", [1, 3])
def test_fast_log_density_in_one_and_three_dimensions(d):
    rng = np.random.default_rng(200 + d)
    x = rng.normal(size=(150, d)) * np.arange(1, d + 1) + 10.0
    for covariance_type in ("full", "diag"):
        model = gmm_marginal_model(x, 2, covariance_type=covariance_type)
        w, mu, cov = random_parameters(rng, x, 2, covariance_type)
        ours = log_likelihood_function(model)(parameters_to_point(model.gmm_spec, w, mu, cov))
        assert_close_rel(ours, gmm.gmm_logpdf(x, w, mu, cov, covariance_type), RTOL_DENSITY)
        assert_close_rel(ours, scipy_mixture_logpdf(x, w, mu, cov, covariance_type), RTOL_DENSITY)


def test_generative_marginalized_equals_fast_model(faithful):
    """pymc_extras.marginalize of the seed's generative model is the fast model, prior terms included."""
    from pymc_extras import marginalize

    generative = gmm_generative_model(faithful, 2)
    marginal = marginalize(generative, ["z"])
    marginal.gmm_spec = generative.gmm_spec
    fast = model_for(faithful, 2, "full", "weak")
    assert {v.name for v in marginal.free_RVs} == {"w", "mu_first", "mu_rest", "prec_c", "prec_z"}
    total_marginal, total_fast = marginal.compile_logp(), fast.compile_logp()
    loglik_marginal, loglik_fast = log_likelihood_function(marginal), log_likelihood_function(fast)
    names = {v.name: marginal.values_to_rvs[v].name for v in marginal.value_vars}
    transforms = {v.name: marginal.rvs_to_transforms[marginal.values_to_rvs[v]] for v in marginal.value_vars}
    rng = np.random.default_rng(300)
    for _ in range(3):
        w, mu, cov = random_parameters(rng, faithful, 2, "full")
        point = parameters_to_point(fast.gmm_spec, w, mu, cov)
        values = {name: point[names[name]] if transforms[name] is None
                  else np.asarray(transforms[name].forward(point[names[name]]).eval()) for name in names}
        assert_close_rel(total_marginal(values), total_fast(values), RTOL_DENSITY)
        reference = gmm.gmm_logpdf(faithful, w, mu, cov)
        assert_close_rel(loglik_marginal(point), reference, RTOL_DENSITY)
        assert_close_rel(loglik_fast(point), reference, RTOL_DENSITY)


def test_generative_model_forward_samples_labels_and_data():
    import pymc as pm

    model = gmm_generative_model(None, 3, n_obs=400, n_features=2, columns=["a", "b"])
    with model:
        prior = pm.sample_prior_predictive(draws=5, random_seed=1)
    z = prior.prior["z"].values
    x = prior.prior["x"].values
    assert z.shape == (1, 5, 400) and x.shape == (1, 5, 400, 2)
    assert set(np.unique(z)) <= {0, 1, 2}
    assert np.all(np.isfinite(x))
    # D = 1 through the same builder.
    one = gmm_generative_model(None, 2, n_obs=50, n_features=1)
    with one:
        assert pm.sample_prior_predictive(draws=2, random_seed=2).prior["x"].values.shape == (1, 2, 50, 1)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gmm_marginal_model([[1.0, np.nan], [2.0, 3.0], [3.0, 1.0]], 2), "NaN"),
        (lambda: gmm_marginal_model(np.arange(10.0), 2), "2-D"),
        (lambda: gmm_marginal_model(np.ones((10, 2)), 2), "constant"),
        (lambda: gmm_marginal_model(np.random.default_rng(0).normal(size=(3, 2)), 4), "at least 4"),
        (lambda: gmm_marginal_model(np.random.default_rng(0).normal(size=(30, 2)), 0), ">= 1"),
        (lambda: gmm_marginal_model(np.random.default_rng(0).normal(size=(30, 2)), 2.5), "whole number"),
        (lambda: gmm_marginal_model(np.random.default_rng(0).normal(size=(30, 2)), 2, covariance_type="ful"),
         "covariance_type"),
        (lambda: gmm_marginal_model(np.random.default_rng(0).normal(size=(30, 2)), 2, priors="uniform"), "priors"),
        (lambda: gmm_marginal_model(np.random.default_rng(0).normal(size=(30, 2)), 2, mu_prior_sd=-1), "mu_prior_sd"),
        (lambda: gmm_marginal_model(np.random.default_rng(0).normal(size=(30, 2)), 2, columns=["a"]), "columns"),
        (lambda: gmm_marginal_model("faithful", 2), "string"),
        (lambda: gmm_complete_data_model(np.random.default_rng(0).normal(size=(30, 2)), np.zeros(30, int), 2),
         "every label"),
        (lambda: gmm_complete_data_model(np.random.default_rng(0).normal(size=(30, 2)), np.arange(30) % 3, 2),
         r"must lie in 0\.\.1"),
        (lambda: gmm_generative_model(None, 2, n_features=2), "n_obs"),
    ],
)
def test_bad_input_is_rejected_before_any_model_is_built(monkeypatch, call, match):
    import pymc as pm

    def refuse(*args, **kwargs):
        raise AssertionError("a pm.Model was created before the input was validated")

    monkeypatch.setattr(pm.Model, "__init__", refuse)
    with pytest.raises(DataError, match=match):
        call()
