"""Tests for models.gmm_latent_z (and the builder gmm_latent_z_model): the GMM sampled with its labels.

* the latent-z graph has the seed's generative log-density (gmm_generative_model) to 1e-9, at
  random points and labels;
* pm.sample's step assignment: BinaryGibbsMetropolis for z when K = 2, CategoricalGibbsMetropolis
  when K = 3, NUTS for the rest;
* the comparison helpers fail when they should (a shifted mean, a frequency off its reference, a
  label that never moves although its reference is far from 0) and pass when they should;
* slow: on a small synthetic data set drawn from known parameters, the compound-step posterior
  equals the marginalized NUTS posterior within Monte Carlo error, both near the truth, and z's
  frequencies equal the responsibilities recovered by pymc_extras and by the vectorized numpy
  version, for every point.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from models import gmm
from models.fitting import diagnose
from models.gmm_builders import gmm_generative_model, gmm_latent_z_model, gmm_marginal_model
from models.gmm_latent_z import (
    bonferroni_z,
    compare_frequencies,
    compare_moments,
    label_frequencies,
    parameter_draws,
    same_starts,
    sample_latent_z,
    sample_marginal,
    step_assignment,
)
from models.validation import DataError

TRUE_W = np.array([0.4, 0.6])
TRUE_MU = np.array([[0.0, 0.0], [5.0, 4.0]])
TRUE_COV = np.array([[[1.0, 0.3], [0.3, 0.8]], [[0.8, -0.2], [-0.2, 1.0]]])


def synthetic(n: int = 40, seed: int = 5) -> np.ndarray:
    """Two well-separated clusters drawn from TRUE_*, plus two points between them whose labels are
    genuinely uncertain (p(z = 1 | x) 0.25 and 0.55 at the true parameters), so the per-point
    comparison has something to test. With the means 4 apart instead of (5, 4) apart, 36 points
    had a second mode (one component nearly empty, w ~ 0.02): NUTS on the marginal model reached
    R-hat 1.05 and bulk ESS 63 there."""
    x = gmm.sample_gmm(np.random.default_rng(seed), n - 2, TRUE_W, TRUE_MU, TRUE_COV)[0]
    return np.vstack([x, [[2.7, 2.15], [2.85, 2.3]]])


def test_latent_z_model_has_the_generative_log_density():
    x = synthetic()
    fast, reference = gmm_latent_z_model(x, 2), gmm_generative_model(x, 2)
    logp_fast = fast.compile_logp(mode="FAST_COMPILE")
    logp_ref = reference.compile_logp(mode="FAST_COMPILE")
    rng = np.random.default_rng(0)
    start = fast.initial_point()
    for _ in range(4):
        point = {k: rng.integers(0, 2, v.shape) if k == "z" else v + rng.uniform(-1, 1, np.shape(v))
                 for k, v in start.items()}
        np.testing.assert_allclose(logp_fast(point), logp_ref(point), rtol=1e-9)
    # ... and per point, for the observed x given z:
    ll_fast, ll_ref = (m.compile_fn(m.logp(vars=[m["x"]], sum=False)[0], inputs=m.value_vars,
                                    on_unused_input="ignore", mode="FAST_COMPILE") for m in (fast, reference))
    np.testing.assert_allclose(ll_fast(point), ll_ref(point), rtol=1e-9)


def test_pymc_assigns_binary_gibbs_to_z_when_k_is_2_and_categorical_gibbs_when_k_is_3():
    x = synthetic()
    two = step_assignment(gmm_latent_z_model(x, 2))
    assert two == {"w": "NUTS", "mu_first": "NUTS", "mu_rest": "NUTS", "prec_c": "NUTS", "prec_z": "NUTS",
                   "z": "BinaryGibbsMetropolis"}
    three = step_assignment(gmm_latent_z_model(x, 3))
    assert three["z"] == "CategoricalGibbsMetropolis"
    assert {v for k, v in three.items() if k != "z"} == {"NUTS"}


def test_bonferroni_threshold():
    assert bonferroni_z(1) == pytest.approx(2.5758293, abs=1e-6)          # the two-sided 99 % normal quantile
    z = bonferroni_z(272)
    # Independent standard normals: the family-wise probability of any |z_i| above it is <= 1 %.
    assert 1 - (1 - 2 * stats.norm.sf(z)) ** 272 <= 0.01
    with pytest.raises(ValueError):
        bonferroni_z(0)


def _draws(values: np.ndarray):
    return xr.DataArray(values, dims=("chain", "draw", "scalar"), coords={"scalar": ["a", "b"]})


def test_compare_moments_passes_equal_posteriors_and_fails_a_shift():
    rng = np.random.default_rng(1)
    a = _draws(rng.normal(size=(2, 2000, 2)))
    b = _draws(rng.normal(size=(2, 2000, 2)))
    assert compare_moments(a, b)["agree"]
    shifted = _draws(b.values + np.array([0.0, 0.2]))        # 0.2 ≈ 6 combined MCSEs of a mean (0.032)
    out = compare_moments(a, shifted)
    assert not out["agree"] and np.argmax(out["z_mean"]) == 1
    wider = _draws(b.values * np.array([1.0, 1.15]))          # sd 1.15 vs 1: ~7 combined MCSEs of an sd
    assert not compare_moments(a, wider)["agree"]


def test_compare_frequencies_per_point():
    rng = np.random.default_rng(2)
    p = np.array([1e-9, 0.3, 0.5, 0.97])                     # the reference p(z_n = 1 | x)
    labels = (rng.random((2, 1000, 4)) < p).astype(int)
    one_hot = (labels[..., None] == np.arange(2)).astype(float)
    resp = np.broadcast_to(np.stack([1 - p, p], axis=-1), (2, 1000, 4, 2))
    assert compare_frequencies(one_hot, resp)["agree"]
    off = resp.copy()
    off[..., 1, :] = [0.6, 0.4]                              # 0.4 vs ~0.3: ~7 binomial standard errors
    out = compare_frequencies(one_hot, off)
    assert not out["agree"] and out["worst_point"] == 1
    # A label that never moved: no MCSE from its own draws; the binomial floor at the reference
    # still refuses a reference of 0.3 and accepts one of 1e-9.
    stuck = one_hot.copy()
    stuck[..., 1, :] = [1.0, 0.0]
    assert not compare_frequencies(stuck, resp)["agree"]
    assert compare_frequencies(stuck[..., [0], :], resp[..., [0], :])["agree"]


def test_same_starts_are_shared_seeded_and_refuse_another_k():
    from models.em import fit_em

    x = synthetic()
    model = gmm_marginal_model(x, 2)
    em = fit_em(x, 2, seed=0)
    a = same_starts(model, em, chains=2, seed=3, jitter=1.0)
    b = same_starts(model, em, chains=2, seed=3, jitter=1.0)
    assert len(a) == 2 and set(a[0]) == {"w", "mu_first", "mu_rest", "prec_c", "prec_z", "z"}
    for s, t in zip(a, b):
        for k in s:
            np.testing.assert_array_equal(s[k], t[k])
    assert not np.allclose(a[0]["w"], a[1]["w"])             # jittered per chain
    exact = same_starts(model, em, chains=2, seed=3)[0]       # default: exactly at the EM fit
    np.testing.assert_allclose(exact["w"], em.weights[np.argsort(em.means[:, 0])], rtol=1e-9)
    # z starts at the most probable labels of the start point: the far clusters are labelled apart.
    assert a[0]["z"][np.argmin(x[:, 0])] != a[0]["z"][np.argmax(x[:, 0])]
    with pytest.raises(DataError, match="K = 3"):
        same_starts(model, fit_em(x, 3, seed=0), chains=2, seed=3)


@pytest.mark.slow(seconds=120)  # two runs of 2 x 2000 iterations; the Gibbs sweep evaluates the model 0.8 N times: ~2 min
def test_compound_step_posterior_equals_the_marginalized_posterior():
    from pymc_extras import marginalize, recover_marginals
    from scipy.special import logsumexp

    from models.em import fit_em
    from models.gmm_fitting import posterior_parameters, responsibility_draws

    x = synthetic()
    marginal, explicit = gmm_marginal_model(x, 2), gmm_latent_z_model(x, 2)
    starts = same_starts(marginal, fit_em(x, 2, seed=0), chains=2, seed=4)
    kw = {"draws": 1500, "tune": 500, "seed": 4}        # 1000 draws: tail ESS 382 < 400 (covariances, N = 40)
    idata_m = sample_marginal(marginal, starts, **kw)
    idata_z = sample_latent_z(explicit, starts, **kw)
    assert "'z': 'BinaryGibbsMetropolis'" in idata_z.attrs["steps"]
    for label, idata in (("marginal", idata_m), ("explicit z", idata_z)):
        d = diagnose(idata, var_names=["w", "mu", "prec_c", "prec_z"])
        assert d.converged, (label, d.problems)

    # The same posterior of (w, μ, Σ), within the two runs' Monte Carlo errors.
    draws_z, draws_m = parameter_draws(idata_z, explicit.gmm_spec), parameter_draws(idata_m, marginal.gmm_spec)
    moments = compare_moments(draws_z, draws_m)
    assert moments["agree"], (moments["z_max"], moments["threshold"])
    # The known answer: both posteriors put the truth within 3 posterior sds (weights and means).
    for idata, spec in ((idata_z, explicit.gmm_spec), (idata_m, marginal.gmm_spec)):
        p = posterior_parameters(idata, spec)
        for name, truth in (("w", TRUE_W), ("mu", TRUE_MU)):
            draws = p[name].reshape((-1,) + truth.shape)
            assert np.all(np.abs(draws.mean(axis=0) - truth) <= 3 * draws.std(axis=0)), name

    # z's frequencies == recovered responsibilities, every point; the half-way points are uncertain.
    labels = label_frequencies(idata_z, 2)
    ours = responsibility_draws(idata_m, x, marginal.gmm_spec)
    out = compare_frequencies(labels, ours)
    assert out["agree"], (out["z_max"], out["threshold"], out["worst_point"])
    assert np.all((out["responsibility"][-2:, 0] > 0.05) & (out["responsibility"][-2:, 0] < 0.95))
    thin = idata_m.sel(draw=slice(0, None, 5))
    recovered = recover_marginals(thin, model=marginalize(gmm_generative_model(x, 2), ["z"]), var_names=["z"],
                                  return_samples=False, extend_inferencedata=False)
    lp = recovered["lp_z"].values
    theirs = np.exp(lp - logsumexp(lp, axis=-1, keepdims=True))
    np.testing.assert_allclose(theirs, ours[:, ::5], atol=1e-9)
    assert compare_frequencies(labels, theirs)["agree"]
