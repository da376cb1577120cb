"""Tests for models.gmm_fitting: MAP and NUTS of the PyMC GMMs against EM, closed forms,
scikit-learn and pymc-extras.

* complete data (z observed): flat-prior MAP == closed-form complete-data MLE to 1e-6;
* flat-prior MAP == EM MLE (and scikit-learn) on Old Faithful and on synthetic data with known
  truth: log-likelihood to 1e-6 relative, parameters to 1e-4 in standardized units;
* the MAP objective is the mean negative log-likelihood, its gradient the finite-difference one;
* NUTS on Old Faithful K=2 converges, without label switching, near the MLE; posterior
  responsibilities agree with EM's and with ``pymc_extras.recover_marginals``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gmm_cases import (
    RTOL_LOGLIK,
    TRUE_COV,
    TRUE_MU,
    TRUE_W,
    TYPES,
    assert_close_rel,
    assert_same_fit,
    model_for,
    random_parameters,
)
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
from models.gmm_spec import GMMSpec, parameters_to_point
from models.validation import DataError


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_dataset("faithful").values


@pytest.fixture(scope="module")
def synthetic() -> np.ndarray:
    return gmm.sample_gmm(np.random.default_rng(11), 600, TRUE_W, TRUE_MU, TRUE_COV)[0]


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


def test_map_compiled_in_c_equals_em_and_the_default_python_mode(faithful):
    """At 272 points the default objective is compiled without C (models.fitting.map_compile_mode);
    the C-compiled objective (FAST_RUN) must reach EM's maximum too, at the same point."""
    model = model_for(faithful, 2, "full", "flat")
    default = fit_gmm_map(model, start="kmeans++", seed=1, gtol=1e-9)
    in_c = fit_gmm_map(model, start="kmeans++", seed=1, gtol=1e-9, compile_mode="FAST_RUN")
    assert (default.compile_mode, in_c.compile_mode) == ("FAST_COMPILE", "FAST_RUN")
    em = tight_em(faithful, 2, "full", seed=1)
    assert in_c.log_likelihood == pytest.approx(em.log_likelihood, rel=RTOL_LOGLIK)
    assert_same_fit(in_c.weights, in_c.means, in_c.covariances, em.weights, em.means, em.covariances, "full",
                    faithful.std(axis=0))
    np.testing.assert_allclose(in_c.means, default.means, rtol=1e-7)
    with pytest.raises(ValueError, match="compile_mode"):
        fit_gmm_map(model, compile_mode="C")


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


def test_map_objective_is_the_mean_negative_log_likelihood_and_its_gradient(faithful):
    """The function fit_gmm_map minimizes (flat priors): -(1/N) Σ ln p(x_n) in standardized units,
    checked against numpy's mixture density, and its gradient against central differences."""
    model = model_for(faithful, 2, "full", "flat")
    spec = model.gmm_spec
    objective = map_objective(model)
    rng = np.random.default_rng(600)
    w, mu, cov = random_parameters(rng, faithful, 2, "full")
    point = parameters_to_point(spec, w, mu, cov)
    theta = objective.to_flat(point)
    value, grad = objective.fn(theta)
    # Flat priors: the log-density is the log-likelihood of the standardized data (the Dirichlet(1)
    # density on two weights is Γ(2) = 1; Flat/HalfFlat add 0), ln p(x_s) = ln p(x) + Σ_d ln scale_d.
    ll_std = gmm.gmm_logpdf(faithful, w, mu, cov) - spec.standardization.log_jacobian
    assert value == pytest.approx(-ll_std.sum() / faithful.shape[0], rel=1e-9)
    step = 1e-6
    numeric = np.array([(objective.fn(theta + step * e)[0] - objective.fn(theta - step * e)[0]) / (2 * step)
                        for e in np.eye(theta.size)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    # to_point inverts to_flat.
    back = objective.to_point(theta)
    for name, v in back.items():
        np.testing.assert_allclose(v, point[name], rtol=1e-10, atol=1e-12)


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


def test_nuts_refuses_flat_priors_and_map_refuses_generative(faithful):
    with pytest.raises(DataError, match="proper priors"):
        sample_gmm_posterior(model_for(faithful, 2, "full", "flat"))
    with pytest.raises(DataError, match="marginal model"):
        fit_gmm_map(gmm_generative_model(faithful, 2))
