"""Tests for models.gmm_dp: the stick-breaking map, the truncation bound, the settings check and
the numpy log-density of the truncated DP mixture, each against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from models.gmm_dp import (
    ACTIVE_WEIGHT,
    DEFAULT_TRUNCATION,
    active_components,
    alpha_conditional,
    dp_log_density,
    dp_marginal_log_density,
    dp_prior,
    last_stick_expected_weight,
    mixture_log_likelihood,
    stick_breaking_weights,
    stick_fractions,
    stick_log_marginal,
    stick_log_prior,
)
from models.gmm_spec import make_spec, precision_factors
from models.validation import DataError


def test_stick_breaking_weights_match_a_hand_computation_and_sum_to_one():
    # v = (1/2, 1/3, 1/4): w = (1/2, 1/2 * 1/3, 1/2 * 2/3 * 1/4, 1/2 * 2/3 * 3/4) = (1/2, 1/6, 1/12, 1/4).
    w = stick_breaking_weights([0.5, 1 / 3, 0.25])
    np.testing.assert_allclose(w, [1 / 2, 1 / 6, 1 / 12, 1 / 4], rtol=1e-15, atol=0)
    v = np.random.default_rng(1).uniform(size=(4, 3, 9))                     # leading draw axes kept
    w = stick_breaking_weights(v)
    assert w.shape == (4, 3, 10)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=0, atol=1e-14)
    # A loop over the definition, written out once more.
    for t in range(9):
        np.testing.assert_allclose(w[..., t], v[..., t] * np.prod(1 - v[..., :t], axis=-1), rtol=1e-13)


def test_stick_fractions_invert_the_weights():
    np.testing.assert_allclose(stick_fractions([1 / 2, 1 / 6, 1 / 12, 1 / 4]), [0.5, 1 / 3, 0.25], rtol=1e-14)
    v = np.random.default_rng(5).uniform(0.01, 0.99, size=(7, 9))
    np.testing.assert_allclose(stick_fractions(stick_breaking_weights(v)), v, rtol=1e-10)


@pytest.mark.parametrize(("alpha", "t"), [(0.7, 10), (3.0, 4)])
def test_last_stick_expected_weight_matches_monte_carlo(alpha, t):
    """Catches a wrong exponent (T vs T - 1) or ratio: at (0.7, 10) T instead of T - 1 is off by 41 %."""
    v = np.random.default_rng(2).beta(1.0, alpha, size=(200_000, t - 1))
    last = stick_breaking_weights(v)[:, -1]
    se = last.std() / np.sqrt(last.size)
    assert abs(last.mean() - last_stick_expected_weight(alpha, t)) < 5 * se
    assert abs(last.mean() - last_stick_expected_weight(alpha, t + 1)) > 5 * se


def test_active_components_counts_weights_above_one_percent():
    w = np.array([[0.5, 0.3, 0.19, 0.01, 0.0], [0.98, 0.005, 0.005, 0.005, 0.005]])
    np.testing.assert_array_equal(active_components(w), [3, 1])        # 0.01 itself is not above 1 %
    assert ACTIVE_WEIGHT == 0.01


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"truncation": 1}, "truncation T must be a whole number >= 2"),
    ({"truncation": 0}, "truncation T must be a whole number >= 2"),
    ({"truncation": 2.5}, "truncation T must be a whole number >= 2"),
    ({"truncation": True}, "truncation T must be a whole number >= 2"),
    ({"truncation": 11, "n_obs": 10}, "exceeds the number of points N = 10"),
    ({"alpha_shape": 0.0}, "alpha_shape must be > 0"),
    ({"alpha_shape": -1.0}, "alpha_shape must be > 0"),
    ({"alpha_rate": 0}, "alpha_rate must be > 0"),
    ({"alpha_rate": float("nan")}, "must be finite"),
])
def test_bad_settings_are_refused_with_the_fix(kwargs, message):
    with pytest.raises(DataError, match=message):
        dp_prior(**kwargs)


def test_good_settings_pass_through():
    prior = dp_prior(n_obs=10)
    assert (prior.truncation, prior.alpha_shape, prior.alpha_rate) == (DEFAULT_TRUNCATION, 1.0, 1.0)
    assert dp_prior(2, 2, 3.5, n_obs=2).truncation == 2


def random_dp_point(rng, t: int, d: int) -> dict:
    """A point of the DP model's constrained variables (components from broad distributions)."""
    point = {"v": rng.uniform(0.05, 0.95, t - 1), "alpha": rng.gamma(2.0),
             "mu": rng.normal(0, 1.5, (t, d)), "prec_c": rng.chisquare(4.0, (t, d)) + 0.1}
    if d > 1:
        point["prec_z"] = rng.normal(0, 1, (t, d * (d - 1) // 2))
    return point


@pytest.mark.parametrize("d", [1, 2, 3])
def test_mixture_log_likelihood_equals_scipy(d):
    rng = np.random.default_rng(3 + d)
    t = 4
    x = rng.normal(size=(30, d))
    spec, _ = make_spec(x, t, covariance_type="full", priors="weak", columns=None, dirichlet_alpha=1.0,
                        mu_prior_sd=2.0, wishart_dof=None, kind="dp")
    point = random_dp_point(rng, t, d)
    w = stick_breaking_weights(point["v"])
    u = precision_factors(spec, point["prec_c"], point.get("prec_z"))
    cov = np.linalg.inv(u @ np.swapaxes(u, -1, -2))
    dens = sum(w[k] * stats.multivariate_normal(point["mu"][k], cov[k]).pdf(x) for k in range(t))
    np.testing.assert_allclose(mixture_log_likelihood(x, w, point["mu"], u), np.log(dens), rtol=1e-10)


def test_dp_log_density_sums_its_parts_by_scipy():
    """The whole joint density by scipy, term by term, for T = 3 and D = 2 written out."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(20, 2))
    spec, _ = make_spec(x, 3, covariance_type="full", priors="weak", columns=None, dirichlet_alpha=1.0,
                        mu_prior_sd=2.0, wishart_dof=None, kind="dp")
    prior = dp_prior(3, 2.0, 0.5)
    point = random_dp_point(rng, 3, 2)
    nu = spec.wishart_dof                                                     # D + 2 = 4
    expected = stats.gamma.logpdf(point["alpha"], 2.0, scale=2.0)
    expected += sum(stats.beta.logpdf(v, 1.0, point["alpha"]) for v in point["v"])
    expected += stats.norm.logpdf(point["mu"], 0, 2.0).sum()
    expected += stats.chi2.logpdf(point["prec_c"][:, 0], nu).sum() + stats.chi2.logpdf(point["prec_c"][:, 1], nu - 1).sum()
    expected += stats.norm.logpdf(point["prec_z"]).sum()
    w = stick_breaking_weights(point["v"])
    u = precision_factors(spec, point["prec_c"], point["prec_z"])
    cov = np.linalg.inv(u @ np.swapaxes(u, -1, -2))
    expected += np.log(sum(w[k] * stats.multivariate_normal(point["mu"][k], cov[k]).pdf(x) for k in range(3))).sum()
    assert dp_log_density(x, point, spec, prior) == pytest.approx(expected, rel=1e-10)


def test_stick_log_marginal_integrates_alpha_out_of_the_joint_by_quadrature():
    """ln ∫ Gamma(α | a, b) Π_t Beta(v_t | 1, α) dα, moved to the depths r = -ln(1 - v) by the
    Jacobian -Σ r, equals the closed form; a wrong exponent (a + T vs a + T - 1) is off by ~ln(b + Σ r)."""
    prior = dp_prior(6, 1.5, 0.7)
    v = np.random.default_rng(8).uniform(0.05, 0.95, 5)
    r = -np.log1p(-v)
    joint = lambda a: np.exp(stick_log_prior(v, a, prior))
    integral, _ = integrate.quad(joint, 0, np.inf, epsabs=0, epsrel=1e-12, limit=200)
    assert stick_log_marginal(r, prior) == pytest.approx(np.log(integral) - r.sum(), rel=1e-10)


def test_alpha_conditional_is_the_joint_over_the_marginal():
    """p(α | r) = p(r, α) / p(r) at several α: the Gamma(a + T - 1, b + Σ r) density."""
    prior = dp_prior(5, 2.0, 1.0)
    v = np.random.default_rng(9).uniform(0.05, 0.95, 4)
    r = -np.log1p(-v)
    shape, rate = alpha_conditional(r, prior)
    for a in (0.1, 0.8, 3.0):
        log_joint = stick_log_prior(v, a, prior) - r.sum()
        assert stats.gamma.logpdf(a, shape, scale=1 / rate) == pytest.approx(log_joint - stick_log_marginal(r, prior),
                                                                             rel=1e-11)


def test_marginal_log_density_is_the_joint_density_without_alpha():
    """dp_log_density (over v and α) - Σ r (to depths) = dp_marginal_log_density + ln p(α | r)."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(25, 2))
    spec, _ = make_spec(x, 4, covariance_type="full", priors="weak", columns=None, dirichlet_alpha=1.0,
                        mu_prior_sd=2.0, wishart_dof=None, kind="dp")
    prior = dp_prior(4, 1.0, 1.0)
    point = random_dp_point(rng, 4, 2)
    r = -np.log1p(-point["v"])
    marginal = dp_marginal_log_density(x, point | {"v_raw": r}, spec, prior)
    shape, rate = alpha_conditional(r, prior)
    joint = dp_log_density(x, point, spec, prior) - r.sum()
    assert joint == pytest.approx(marginal + stats.gamma.logpdf(point["alpha"], shape, scale=1 / rate), rel=1e-11)
