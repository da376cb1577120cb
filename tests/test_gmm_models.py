"""Tests for models.gmm_models: the PyMC GMMs against numpy, scipy, pymc-extras, EM and scikit-learn.

What must agree (issue 4):

* log-density: generative + ``pymc_extras.marginalize`` == fast marginal model == numpy
  (:func:`models.gmm.gmm_logpdf`) == scipy, at seeded parameter points, to 1e-9 relative;
* complete data (z observed): flat-prior MAP == closed-form complete-data MLE to 1e-6;
* flat-prior MAP == EM MLE (and scikit-learn) on Old Faithful and on synthetic data with known
  truth: log-likelihood to 1e-6 relative, parameters to 1e-4 in standardized units;
* NUTS on Old Faithful K=2 converges, without label switching, near the MLE; posterior
  responsibilities agree with EM's and with ``pymc_extras.recover_marginals``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

from models import gmm, gmm_metrics
from models.data import load_dataset
from models.em import fit_em
from models.gmm_builders import gmm_complete_data_model, gmm_generative_model, gmm_marginal_model
from models.gmm_fitting import (
    fit_gmm_map,
    log_likelihood_function,
    map_objective,
    posterior_parameters,
    posterior_responsibilities,
    sample_gmm_posterior,
)
from models.gmm_spec import GMMSpec, mixture_log_density, parameters_to_point, point_to_parameters
from models.validation import DataError

TYPES = gmm.COVARIANCE_TYPES

#: Synthetic truth: three well-separated 2-D components (as in test_em).
TRUE_W = np.array([0.2, 0.3, 0.5])
TRUE_MU = np.array([[-6.0, 0.0], [0.0, 6.0], [5.0, -2.0]])
TRUE_COV = np.array([[[1.0, 0.4], [0.4, 0.8]], [[0.6, -0.2], [-0.2, 1.2]], [[1.5, 0.0], [0.0, 0.5]]])

#: Same formula, different code path (PyTensor graph vs numpy vs scipy).
RTOL_DENSITY = 1e-9
#: MAP vs EM/closed form (issue 4).
RTOL_LOGLIK = 1e-6
ATOL_PARAMS_STD = 1e-4


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_dataset("faithful").values


@pytest.fixture(scope="module")
def synthetic() -> np.ndarray:
    return gmm.sample_gmm(np.random.default_rng(11), 600, TRUE_W, TRUE_MU, TRUE_COV)[0]


_MODELS: dict = {}


def model_for(x: np.ndarray, k: int, covariance_type: str = "full", priors: str = "flat", tag: str = ""):
    """Build each distinct model once per test session (compilation is the expensive part)."""
    key = (tag or id(x), x.shape, k, covariance_type, priors)
    if key not in _MODELS:
        _MODELS[key] = gmm_marginal_model(x, k, covariance_type=covariance_type, priors=priors)
    return _MODELS[key]


def random_parameters(rng, x: np.ndarray, k: int, covariance_type: str):
    """Well-conditioned random (w, mu, cov) on the data's scale, in covariance_type's shape."""
    d = x.shape[1]
    loc, sd = x.mean(axis=0), x.std(axis=0)
    w = rng.dirichlet(np.full(k, 3.0))
    mu = loc + sd * rng.normal(size=(k, d))
    a = rng.normal(size=(k, d, d)) * 0.5
    full = (a @ np.swapaxes(a, 1, 2) + 0.3 * np.eye(d)) * np.outer(sd, sd)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.2, 1.5, size=(k, d)) * sd**2,
        "spherical": rng.uniform(0.2, 1.5, size=k) * np.mean(sd**2),
    }[covariance_type]
    return w, mu, cov


def scipy_mixture_logpdf(x, w, mu, cov, covariance_type):
    """ln Σ_k w_k N(x_n | μ_k, Σ_k) with scipy's multivariate normal, (N,)."""
    full = gmm.full_covariances(cov, covariance_type, len(w), x.shape[1])
    per = np.column_stack([stats.multivariate_normal(mu[k], full[k]).logpdf(x).reshape(-1) for k in range(len(w))])
    return logsumexp(per + np.log(w), axis=1)


def assert_close_rel(actual, expected, rtol):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    err = np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), 1.0))
    assert err <= rtol, f"max relative error {err:.3g} > {rtol:g}"


def assert_same_fit(fit_w, fit_mu, fit_cov, ref_w, ref_mu, ref_cov, covariance_type, scale):
    """Parameters equal within ATOL_PARAMS_STD in standardized units, after matching components."""
    perm = gmm_metrics.match_components(ref_mu / scale, fit_mu / scale)
    w, mu = fit_w[perm], fit_mu[perm]
    cov = fit_cov if covariance_type == "tied" else fit_cov[perm]
    assert np.max(np.abs(w - ref_w)) <= ATOL_PARAMS_STD
    assert np.max(np.abs(mu - ref_mu) / scale) <= ATOL_PARAMS_STD
    cov_scale = {
        "full": np.outer(scale, scale), "tied": np.outer(scale, scale), "diag": scale**2,
        "spherical": np.mean(scale**2),
    }[covariance_type]
    assert np.max(np.abs(cov - ref_cov) / cov_scale) <= ATOL_PARAMS_STD


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


def test_numpy_transform_mirrors_match_pymc(faithful):
    """The MAP path maps points with numpy copies of PyMC's transforms; they must be PyMC's."""
    from models.fitting import to_constrained, to_unconstrained

    model = model_for(faithful, 3, "full", "weak")
    rng = np.random.default_rng(400)
    for v in model.value_vars:
        rv = model.values_to_rvs[v]
        t = model.rvs_to_transforms[rv]
        shape = np.asarray(model.initial_point()[v.name]).shape
        raw = rng.normal(size=shape)
        constrained = to_constrained(t, raw)
        if t is not None:
            np.testing.assert_allclose(constrained, t.backward(raw).eval(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(to_unconstrained(t, constrained), raw, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_point_roundtrip_in_data_units(faithful, covariance_type):
    spec = model_for(faithful, 3, covariance_type, "weak").gmm_spec
    w, mu, cov = random_parameters(np.random.default_rng(500), faithful, 3, covariance_type)
    point = parameters_to_point(spec, w, mu, cov)
    assert np.all(np.diff(point["mu_first"]) > 0)            # ordered as the model requires
    w2, mu2, cov2 = point_to_parameters(spec, point)
    perm = np.argsort(mu[:, 0])
    np.testing.assert_allclose(w2, w[perm], rtol=1e-12)
    np.testing.assert_allclose(mu2, mu[perm], rtol=1e-12)
    np.testing.assert_allclose(cov2, cov if covariance_type == "tied" else cov[perm], rtol=1e-10)


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


# --------------------------------------------------------------------------- complete data


def test_complete_data_map_equals_closed_form_mle():
    """Seed 000: with z observed (sex in bdims) the log-sum disappears and the MLE is closed form."""
    ds = load_dataset("bdims")
    x = ds.select(["height_cm", "weight_kg"]).values
    z = ds.column("male").astype(int)
    model = gmm_complete_data_model(x, z, 2, columns=["height_cm", "weight_kg"])
    fit = fit_gmm_map(model, start=None, gtol=1e-9)
    w, mu, cov = gmm.complete_data_mle(x, z, 2)
    assert fit.converged
    assert_close_rel(fit.weights, w, 1e-6)
    np.testing.assert_allclose(fit.means, mu, rtol=1e-6)
    np.testing.assert_allclose(fit.covariances, cov, rtol=1e-6)
    # The maximized log-density is the complete-data log-likelihood (standardized units).
    shift = x.shape[0] * np.sum(np.log(model.gmm_spec.standardization.scale))
    assert fit.log_density == pytest.approx(gmm.complete_data_log_likelihood(x, z, w, mu, cov) + shift, rel=1e-9)


# --------------------------------------------------------------------------- MAP vs EM and scikit-learn


def tight_em(x, k, covariance_type, seed):
    return fit_em(x, k, covariance_type=covariance_type, seed=seed, tol=1e-13, max_iter=20_000, reg_covar=0.0)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_map_equals_em_on_old_faithful(faithful, covariance_type):
    model = model_for(faithful, 2, covariance_type, "flat")
    fit = fit_gmm_map(model, start="kmeans++", seed=1, gtol=1e-9)     # independent of EM
    em = tight_em(faithful, 2, covariance_type, seed=1)
    assert fit.converged, fit.message
    assert fit.log_likelihood == pytest.approx(em.log_likelihood, rel=RTOL_LOGLIK)
    assert_same_fit(fit.weights, fit.means, fit.covariances, em.weights, em.means, em.covariances,
                    covariance_type, faithful.std(axis=0))
    # The PyMC model's own log-likelihood at its MAP is the numpy one.
    assert np.sum(log_likelihood_function(model)(fit.point)) == pytest.approx(fit.log_likelihood, rel=1e-12)


def test_map_equals_em_on_synthetic_data_and_recovers_the_truth(synthetic):
    model = model_for(synthetic, 3, "full", "flat", tag="synthetic")
    fit = fit_gmm_map(model, start="kmeans++", seed=2, gtol=1e-9)
    em = tight_em(synthetic, 3, "full", seed=2)
    assert fit.log_likelihood == pytest.approx(em.log_likelihood, rel=RTOL_LOGLIK)
    scale = synthetic.std(axis=0)
    assert_same_fit(fit.weights, fit.means, fit.covariances, em.weights, em.means, em.covariances, "full", scale)
    perm = gmm_metrics.match_components(TRUE_MU, fit.means)
    n_k = synthetic.shape[0] * TRUE_W
    se_mu = np.sqrt(np.diagonal(TRUE_COV, axis1=1, axis2=2) / n_k[:, None])
    assert np.all(np.abs(fit.means[perm] - TRUE_MU) < 4 * se_mu)
    assert np.all(np.abs(fit.weights[perm] - TRUE_W) < 4 * np.sqrt(TRUE_W * (1 - TRUE_W) / synthetic.shape[0]))


def test_map_in_one_dimension_equals_em(faithful):
    x = faithful[:, :1]
    fit = fit_gmm_map(gmm_marginal_model(x, 2, priors="flat"), start="kmeans++", seed=0, gtol=1e-9)
    em = tight_em(x, 2, "full", seed=0)
    assert fit.log_likelihood == pytest.approx(em.log_likelihood, rel=RTOL_LOGLIK)
    assert_same_fit(fit.weights, fit.means, fit.covariances, em.weights, em.means, em.covariances, "full",
                    x.std(axis=0))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_map_equals_sklearn(faithful, covariance_type):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = GaussianMixture(2, covariance_type=covariance_type, tol=1e-12, max_iter=20_000, reg_covar=0.0,
                             random_state=0).fit(faithful)
    fit = fit_gmm_map(model_for(faithful, 2, covariance_type, "flat"), start="kmeans++", seed=1, gtol=1e-9)
    assert fit.mean_log_likelihood == pytest.approx(sk.score(faithful), rel=RTOL_LOGLIK)
    assert_same_fit(fit.weights, fit.means, fit.covariances, sk.weights_, sk.means_, sk.covariances_,
                    covariance_type, faithful.std(axis=0))


def test_map_starts_agree_and_compile_once(faithful):
    """k-means++, EM and given starts reach the same optimum; only the first fit compiles."""
    model = gmm_marginal_model(faithful, 2, priors="flat")
    first = fit_gmm_map(model, start="kmeans++", seed=5, gtol=1e-9)
    from_em = fit_gmm_map(model, seed=5)                              # default: EM, then BFGS
    given = fit_gmm_map(model, start=(first.weights, first.means, first.covariances), gtol=1e-9)
    assert first.compile_seconds > 0
    assert from_em.compile_seconds == 0 and given.compile_seconds == 0
    for other in (from_em, given):
        assert other.log_likelihood == pytest.approx(first.log_likelihood, rel=1e-10)
        np.testing.assert_allclose(other.means, first.means, rtol=1e-5)
    assert (first.start, from_em.start, given.start) == ("kmeans++", "em", "given")
    # Loose: a warm MAP on 272 points takes milliseconds; one second means something regressed.
    assert from_em.seconds < 1.0


def test_one_logp_and_gradient_costs_about_a_numpy_evaluation(faithful):
    """Loose regression guard (the benchmark measures the ratio): logp+grad within 10x numpy."""
    model = model_for(faithful, 2, "full", "flat")
    fit = fit_gmm_map(model, seed=1)
    objective = map_objective(model)
    theta = objective.to_flat(fit.point)

    def best_of(fn, reps=300):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            times.append((time.perf_counter() - t0) / reps)
        return min(times)

    ours = best_of(lambda: objective.fn(theta))
    chol = gmm.cholesky_factors(fit.covariances, "full")
    numpy_only = best_of(lambda: logsumexp(gmm.weighted_log_densities(faithful, fit.weights, fit.means, chol, "full"),
                                           axis=1).sum())
    assert ours < 10 * numpy_only, (ours, numpy_only)


# --------------------------------------------------------------------------- NUTS


@pytest.fixture(scope="module")
def faithful_posterior(faithful):
    model = gmm_marginal_model(faithful, 2, columns=["eruptions_min", "waiting_min"])
    idata = sample_gmm_posterior(model, draws=1000, tune=1000, chains=2, seed=7)
    return model, idata


def test_nuts_on_old_faithful_converges_near_the_mle(faithful, faithful_posterior):
    from models.fitting import diagnose

    model, idata = faithful_posterior
    spec: GMMSpec = model.gmm_spec
    d = diagnose(idata, var_names=["w", "mu", "prec_c", "prec_z"])
    assert d.rhat_max <= 1.01 and d.ess_bulk_min >= 400 and d.divergences == 0, d.problems
    em = tight_em(faithful, 2, "full", seed=7)
    order = np.argsort(em.means[:, 0])                       # the model's ordering
    params = posterior_parameters(idata, spec)
    # No label switching: every chain's mean lines up with the MLE without permuting.
    for chain_mu in params["mu"].mean(axis=1):
        np.testing.assert_array_equal(gmm_metrics.match_components(em.means[order], chain_mu), np.arange(2))
    for name, mle in (("w", em.weights[order]), ("mu", em.means[order]), ("cov", em.covariances[order])):
        draws = params[name].reshape((-1,) + params[name].shape[2:])
        z = np.abs(draws.mean(axis=0) - mle) / draws.std(axis=0)
        assert np.all(z < 3), (name, z)
    # log_likelihood is in data units: never above the maximum, and on average below it by the
    # weak prior's pull (MLE minus the log-likelihood at the weak-prior MAP; ~10 here, the
    # Wishart prior's mean precision I is far from these tight clusters') plus the Laplace
    # approximation's P/2 (the drop from the mode is ~χ²_P / 2, P = 11 parameters): 15.7.
    # Measured over seeds 7-10: 15.03-15.29.
    total = idata.log_likelihood["x"].sum("obs").values
    assert total.max() <= em.log_likelihood + 1e-6
    weak_map = fit_gmm_map(model, seed=7)
    expected_drop = (em.log_likelihood - weak_map.log_likelihood) + 11 / 2
    assert abs((em.log_likelihood - total.mean()) - expected_drop) < 2.0


def test_posterior_responsibilities_match_em_and_recover_marginals(faithful, faithful_posterior):
    from pymc_extras import marginalize, recover_marginals

    model, idata = faithful_posterior
    spec = model.gmm_spec
    resp, sd = posterior_responsibilities(idata, faithful, spec, return_sd=True)
    assert resp.shape == sd.shape == (272, 2)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    em = tight_em(faithful, 2, "full", seed=7)
    em_resp = em.responsibilities[:, np.argsort(em.means[:, 0])]
    # E[γ_nk | x] is not γ_nk at the MLE, but the plug-in value must sit inside the posterior
    # spread of γ_nk: within 3 posterior sd for every point (boundary points differ by ~0.15
    # with sd ~0.14; points deep inside a cluster agree to 1e-4).
    assert np.all(np.abs(resp - em_resp) <= 3 * sd + 1e-9)
    assert np.mean(np.argmax(resp, axis=1) == np.argmax(em_resp, axis=1)) >= 0.99
    # The same quantity from pymc-extras on a thinned posterior, draw by draw.
    thin = idata.sel(draw=slice(0, None, 100))
    generative = gmm_generative_model(faithful, 2, columns=["eruptions_min", "waiting_min"])
    recovered = recover_marginals(thin, model=marginalize(generative, ["z"]), var_names=["z"],
                                  return_samples=False, extend_inferencedata=False)
    lp = recovered["lp_z"].values                                             # (chain, draw, N, K)
    theirs = np.exp(lp - logsumexp(lp, axis=-1, keepdims=True)).mean(axis=(0, 1))
    ours = posterior_responsibilities(thin, faithful, spec)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


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
         "every label"),
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


def test_nuts_refuses_flat_priors_and_map_refuses_generative(faithful):
    with pytest.raises(DataError, match="proper priors"):
        sample_gmm_posterior(model_for(faithful, 2, "full", "flat"))
    with pytest.raises(DataError, match="marginal model"):
        fit_gmm_map(gmm_generative_model(faithful, 2))
