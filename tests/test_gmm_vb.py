"""Tests for models.gmm_vb: scikit-learn step for step, the full ELBO (monotone, Monte Carlo through a
PyMC joint, scikit-learn's dropped constant), fixed points, the EM limit, empty components, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.mixture import BayesianGaussianMixture

from models import gmm
from models.em import fit_em
from models.gmm_vb import (
    VBConvergenceWarning,
    elbo,
    fit_vb,
    sklearn_dropped_constant,
    variational_m_step,
    vb_prior,
)
from models.validation import DataError

TYPES = gmm.COVARIANCE_TYPES
TRUE_W = np.array([0.2, 0.3, 0.5])
TRUE_MU = np.array([[-6.0, 0.0], [0.0, 6.0], [5.0, -2.0]])
TRUE_COV = np.array([[[1.0, 0.4], [0.4, 0.8]], [[0.6, -0.2], [-0.2, 1.2]], [[1.5, 0.0], [0.0, 0.5]]])

#: Same updates, different code (ours vs scikit-learn's), after 25 iterations.
ATOL_SKLEARN = 1e-8
#: Round-off allowed in "the ELBO never decreases", relative to |ELBO|.
RTOL_MONOTONE = 1e-10


def synthetic(seed: int, n: int) -> np.ndarray:
    return gmm.sample_gmm(np.random.default_rng(seed), n, TRUE_W, TRUE_MU, TRUE_COV)[0]


def overlapping(seed: int = 0) -> np.ndarray:
    """Two overlapping clusters fitted with K = 3: VB has work to do for many iterations."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, 1.0, (60, 2)),
                           rng.normal(3.0, 0.5, (40, 2)) @ np.array([[1.0, 0.3], [0.0, 1.0]])])


def random_resp(n: int, k: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


class _FromResp(BayesianGaussianMixture):
    """scikit-learn's VB started from given responsibilities (its own ``_initialize(X, resp)``)."""

    resp0: np.ndarray

    def _initialize_parameters(self, X, random_state, xp=None):
        self._initialize(X, self.resp0)


def sklearn_vb(x, prior, resp, max_iter):
    k = resp.shape[1]
    b = _FromResp(n_components=k, covariance_type=prior.covariance_type,
                  weight_concentration_prior_type="dirichlet_distribution", weight_concentration_prior=prior.alpha0,
                  mean_precision_prior=prior.beta0, mean_prior=prior.m0, degrees_of_freedom_prior=prior.nu0,
                  covariance_prior=prior.W0_inv, reg_covar=0.0, tol=0.0, max_iter=max_iter)
    b.resp0 = resp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # its ConvergenceWarning at tol=0
        b.fit(x)
    return b


def max_q_diff(res, b) -> float:
    return max(float(np.max(np.abs(a - c))) for a, c in [
        (res.alpha, b.weight_concentration_), (res.beta, b.mean_precision_), (res.m, b.means_),
        (res.nu, b.degrees_of_freedom_), (res.covariances, b.covariances_)])


def prior_for(x, k, covariance_type):
    return vb_prior(x, k, covariance_type=covariance_type, alpha0=0.5, beta0=0.7, nu0=3.5)


# --------------------------------------------------------------------------- scikit-learn


@pytest.mark.parametrize("covariance_type", TYPES)
def test_sklearn_updates_equal_sklearn(covariance_type):
    """updates="sklearn" is BayesianGaussianMixture step for step, for every type."""
    x, k = overlapping(), 3
    prior, r0 = prior_for(x, k, covariance_type), random_resp(len(x), k)
    res = fit_vb(x, k, covariance_type=covariance_type, prior=prior, init=r0, updates="sklearn", tol=0, max_iter=25)
    b = sklearn_vb(x, prior, r0, 25)
    assert res.n_iter == b.n_iter_ == 25
    assert max_q_diff(res, b) < ATOL_SKLEARN


def test_exact_full_equals_sklearn_and_its_bound_up_to_the_dropped_constant():
    """For "full" coordinate ascent *is* scikit-learn's algorithm; its lower_bound_ is the ELBO
    minus a constant (module docstring), the same at every iteration count."""
    x, k = overlapping(), 3
    prior, r0 = prior_for(x, k, "full"), random_resp(len(x), k)
    const = sklearn_dropped_constant(prior, len(x), k)
    for n in (1, 7, 25):
        res = fit_vb(x, k, prior=prior, init=r0, tol=0, max_iter=n)
        b = sklearn_vb(x, prior, r0, n)
        assert max_q_diff(res, b) < ATOL_SKLEARN
        assert res.elbo - b.lower_bound_ == pytest.approx(const, abs=1e-8 * abs(res.elbo))


@pytest.mark.parametrize("covariance_type", ["tied", "diag", "spherical"])
def test_exact_updates_differ_from_sklearn_only_where_documented(covariance_type):
    """The first q(θ) (an M-step from the same r) is scikit-learn's for diag and spherical; the
    E-step's E[ln|Λ|] (and the tied dof) are where coordinate ascent and scikit-learn part."""
    x, k = overlapping(), 3
    prior, r0 = prior_for(x, k, covariance_type), random_resp(len(x), k)
    res = fit_vb(x, k, covariance_type=covariance_type, prior=prior, init=r0, tol=0, max_iter=5)
    b = sklearn_vb(x, prior, r0, 5)
    assert max_q_diff(res, b) > 1e-6
    first = fit_vb(x, k, covariance_type=covariance_type, prior=prior, init=r0, tol=0, max_iter=1)
    skl = fit_vb(x, k, covariance_type=covariance_type, prior=prior, init=r0, tol=0, max_iter=1, updates="sklearn")
    if covariance_type == "tied":
        assert first.nu == pytest.approx(prior.nu0 + len(x)) and skl.nu == pytest.approx(prior.nu0 + len(x) / k)
    else:
        # same M-step from r0 (trace[0] is that q(θ)), different E-steps afterwards
        assert first.trace[0] == pytest.approx(skl.trace[0], rel=1e-12)


# --------------------------------------------------------------------------- the ELBO


@pytest.mark.parametrize("covariance_type", TYPES)
def test_elbo_never_decreases(covariance_type):
    x, k = overlapping(), 3
    res = fit_vb(x, k, covariance_type=covariance_type, prior=prior_for(x, k, covariance_type),
                 init=random_resp(len(x), k), tol=0, max_iter=200)
    steps = np.diff(res.trace)
    assert np.all(steps >= -RTOL_MONOTONE * np.abs(res.trace[1:])), steps.min()
    assert res.trace[-1] - res.trace[0] > 1.0


def test_elbo_function_matches_trace():
    x, k = overlapping(), 3
    res = fit_vb(x, k, prior=prior_for(x, k, "full"), init=random_resp(len(x), k), tol=0, max_iter=10)
    assert elbo(x, res) == pytest.approx(res.elbo, rel=1e-13)


def _pymc_joint(x, k, prior, d):
    """ln p(x, z, π, μ, Λ) of the Bayesian GMM (PRML 10.37-10.40) as a PyMC model.

    Written from the model, not from gmm_vb: π ~ Dirichlet(α0), per component (or shared, tied)
    precision with the prior of the module docstring's table (a Wishart, or Gammas, which are the
    1-D Wisharts), μ_k | Λ_k ~ MvNormal(m0, τ = β0 Λ_k), z_n ~ Categorical(π), x_n ~ MvNormal(μ_z, Σ = Λ_z⁻¹).
    These are the densities whose expectations PRML 10.71-10.74 write out, so E_q[ln p - ln q]
    is the ELBO that gmm_vb computes in closed form. No transforms, no Jacobians: the values are
    the model's own variables.
    """
    import pymc as pm
    import pytensor.tensor as pt

    ctype = prior.covariance_type
    with pm.Model() as model:
        pi = pm.Dirichlet("pi", a=np.full(k, prior.alpha0), default_transform=None)
        if ctype in ("full", "tied"):
            w0 = np.linalg.inv(prior.W0_inv)
            lam = [pm.Wishart(f"lam{j}", nu=prior.nu0, V=w0) for j in range(k if ctype == "full" else 1)]
            lam = pt.stack(lam * (k if ctype == "tied" else 1))
        elif ctype == "diag":
            g = pm.Gamma("lam", alpha=prior.nu0 / 2, beta=np.asarray(prior.W0_inv) / 2, shape=(k, d),
                         default_transform=None)
            lam = g[:, :, None] * np.eye(d)
        else:
            g = pm.Gamma("lam", alpha=d * prior.nu0 / 2, beta=d * prior.W0_inv / 2, shape=(k,),
                         default_transform=None)
            lam = g[:, None, None] * np.eye(d)
        mu = pt.stack([pm.MvNormal(f"mu{j}", mu=prior.m0, tau=prior.beta0 * lam[j]) for j in range(k)])
        z = pm.Categorical("z", p=pi, shape=len(x))
        # batched precisions are not supported by MvNormal(tau=...); the same density through cov = Λ⁻¹
        pm.MvNormal("x", mu=mu[z], cov=pt.linalg.inv(lam)[z], observed=x)
    return model, model.compile_logp(jacobian=False)


def _q_draw(res, rng, d):
    """One draw of (π, Λ, μ, z) from q and its ln q, in scipy (shapes: Λ (K or 1, …))."""
    ctype, k = res.covariance_type, len(res.alpha)
    nu = np.broadcast_to(res.nu, (k,))
    pi = rng.dirichlet(res.alpha)
    log_q = stats.dirichlet.logpdf(pi, res.alpha)
    point = {"pi": pi}
    if ctype in ("full", "tied"):
        blocks = res.W_inv[None] if ctype == "tied" else res.W_inv
        lams = []
        for j, w_inv in enumerate(blocks):
            dist = stats.wishart(df=nu[j], scale=np.linalg.inv(w_inv))
            lam = dist.rvs(random_state=rng).reshape(d, d)
            log_q += dist.logpdf(lam)
            point[f"lam{j}"] = lam
            lams.append(lam)
        lam_k = np.stack(lams * (k if ctype == "tied" else 1))
    else:
        shape, rate = ((nu[:, None] / 2 + 0 * res.W_inv, res.W_inv / 2) if ctype == "diag"
                       else (d * nu / 2, d * res.W_inv / 2))
        g = rng.gamma(shape, 1.0 / rate)
        log_q += np.sum(stats.gamma.logpdf(g, shape, scale=1.0 / rate))
        point["lam"] = g
        lam_k = g[:, :, None] * np.eye(d) if ctype == "diag" else g[:, None, None] * np.eye(d)
    for j in range(k):
        cov = np.linalg.inv(res.beta[j] * lam_k[j])
        mu = rng.multivariate_normal(res.m[j], cov)
        log_q += stats.multivariate_normal.logpdf(mu, res.m[j], cov)
        point[f"mu{j}"] = mu
    r = res.responsibilities
    z = (rng.random(len(r))[:, None] > np.cumsum(r, axis=1)).sum(axis=1).clip(max=k - 1)
    log_q += np.sum(np.log(r[np.arange(len(r)), z]))
    point["z"] = z
    return point, log_q


@pytest.mark.parametrize("covariance_type", TYPES)
def test_elbo_equals_monte_carlo_through_the_pymc_joint(covariance_type):
    """E_q[ln p(x, z, θ) - ln q(z, θ)] by 2000 draws, ln p from a PyMC model: within 4 standard errors."""
    x = synthetic(3, 60)
    k, d = 2, 2
    # An integer nu0: pm.Wishart casts nu to int (nu = 3.5 would silently be a Wishart(3)).
    prior = vb_prior(x, k, covariance_type=covariance_type, alpha0=0.5, beta0=0.7, nu0=4.0)
    res = fit_vb(x, k, covariance_type=covariance_type, prior=prior, init=random_resp(len(x), k), tol=0, max_iter=3)
    _, logp = _pymc_joint(x, k, prior, d)
    rng = np.random.default_rng(7)
    values = []
    for _ in range(2000):
        point, log_q = _q_draw(res, rng, d)
        values.append(float(logp(point)) - log_q)
    values = np.array(values)
    se = values.std(ddof=1) / np.sqrt(values.size)
    z_score = (values.mean() - res.elbo) / se
    print(f"{covariance_type}: ELBO {res.elbo:.4f}, MC {values.mean():.4f} ± {se:.4f}, z = {z_score:+.2f}")
    assert abs(z_score) < 4


# --------------------------------------------------------------------------- fixed point and EM limit


@pytest.mark.parametrize("covariance_type", TYPES)
def test_one_step_from_a_fixed_point_is_the_identity(covariance_type):
    x = synthetic(5, 300)
    res = fit_vb(x, 3, covariance_type=covariance_type, seed=2, tol=0, max_iter=400)
    again = fit_vb(x, 3, covariance_type=covariance_type, prior=res.prior, init=res, tol=0, max_iter=1)
    for name in ("alpha", "beta", "m", "nu", "W_inv"):
        np.testing.assert_allclose(getattr(again, name), getattr(res, name), rtol=1e-10, atol=1e-10)
    assert again.elbo == pytest.approx(res.elbo, rel=1e-12)


def _vb_em_gap(n: int) -> float:
    """max |m_k - μ_k^MLE| for two overlapping clusters, scikit-learn's default prior with α0 = 1.

    The prior's weight relative to the data is β0/N_k, ν0/N_k, ‖W0⁻¹‖/N_k: it weakens as N grows,
    so VB's q(μ) should concentrate on the MLE with a gap of order 1/N.
    """
    w, mu = np.array([0.4, 0.6]), np.array([[0.0, 0.0], [2.5, 1.0]])
    cov = np.array([[[1.0, 0.3], [0.3, 1.0]], [[0.8, -0.2], [-0.2, 0.6]]])
    x = gmm.sample_gmm(np.random.default_rng(11), n, w, mu, cov)[0]
    prior = vb_prior(x, 2, alpha0=1.0)
    r0 = gmm.responsibilities(x, w, mu, cov)
    vb = fit_vb(x, 2, prior=prior, init=r0, tol=1e-11, max_iter=5000)
    em = fit_em(x, 2, init=(vb.weights, vb.m, vb.covariances), reg_covar=0.0, tol=1e-14, max_iter=5000)
    return float(np.max(np.abs(vb.m - em.means)))


def test_vb_means_approach_the_em_mle_as_n_grows():
    small, large = _vb_em_gap(200), _vb_em_gap(5000)
    print(f"max |m_VB - mu_EM|: N=200 {small:.3g}, N=5000 {large:.3g}")
    assert large < small / 5


# --------------------------------------------------------------------------- hard cases and bad input


@pytest.mark.parametrize("covariance_type", TYPES)
def test_empty_component_returns_to_its_prior(covariance_type):
    x = synthetic(5, 200)
    r0 = np.zeros((len(x), 4))
    r0[:, :3] = random_resp(len(x), 3)
    prior = vb_prior(x, 4, covariance_type=covariance_type)
    first = fit_vb(x, 4, covariance_type=covariance_type, prior=prior, init=r0, tol=0, max_iter=1)
    res = fit_vb(x, 4, covariance_type=covariance_type, prior=prior, init=r0, tol=0, max_iter=50)
    assert np.all(np.isfinite(res.trace)) and np.all(np.diff(res.trace) >= -RTOL_MONOTONE * np.abs(res.trace[1:]))
    for r in (first, res):
        assert all(np.all(np.isfinite(getattr(r, a))) for a in ("alpha", "beta", "m", "nu", "W_inv"))


def test_empty_component_q_is_the_prior():
    x = synthetic(5, 200)
    r0 = np.zeros((len(x), 3))
    r0[:, :2] = random_resp(len(x), 2)
    prior = vb_prior(x, 3)
    alpha, beta, m, nu, w_inv = variational_m_step(x, r0, prior)
    assert alpha[2] == prior.alpha0 and beta[2] == prior.beta0 and nu[2] == prior.nu0
    np.testing.assert_allclose(m[2], prior.m0)
    np.testing.assert_allclose(w_inv[2], prior.W0_inv)


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha0": 0.0}, "alpha0"), ({"alpha0": -1.0}, "alpha0"), ({"beta0": 0.0}, "beta0"),
    ({"nu0": 1.0}, "nu0"), ({"nu0": 0.5}, "nu0"), ({"W0_inv": -np.eye(2)}, "W0_inv"),
    ({"W0_inv": np.zeros((2, 2))}, "W0_inv"), ({"m0": [1.0, 2.0, 3.0]}, "m0"),
])
def test_bad_priors_raise_before_any_update(kwargs, match):
    x = synthetic(5, 50)
    with pytest.raises(DataError, match=match):
        vb_prior(x, 2, **kwargs)


@pytest.mark.parametrize("covariance_type, w0_inv", [("diag", [1.0, -1.0]), ("spherical", 0.0)])
def test_bad_scale_for_non_full_types(covariance_type, w0_inv):
    with pytest.raises(DataError, match="W0_inv"):
        vb_prior(synthetic(5, 50), 2, covariance_type=covariance_type, W0_inv=w0_inv)


def test_more_components_than_points_and_bad_settings():
    x = synthetic(5, 5)
    with pytest.raises(DataError, match="at least one observation per component"):
        fit_vb(x, 6)
    with pytest.raises(DataError, match="updates"):
        fit_vb(x, 2, updates="fast")
    with pytest.raises(DataError, match="responsibilities"):
        fit_vb(x, 2, init=np.full((5, 2), 0.7))
    with pytest.raises(DataError, match="covariance_type"):
        fit_vb(x, 2, covariance_type="banded")


def test_iteration_limit_warns_with_the_last_change():
    x = overlapping()
    with pytest.warns(VBConvergenceWarning, match=r"last ELBO change was [0-9.e+-]+ nats"):
        res = fit_vb(x, 3, init=random_resp(len(x), 3), tol=1e-12, max_iter=3)
    assert not res.converged and res.n_iter == 3


def test_converges_and_is_reproducible_from_a_seed():
    x = synthetic(5, 300)
    a = fit_vb(x, 3, seed=9)
    b = fit_vb(x, 3, seed=a.seed)
    assert a.converged and a.seed == 9
    np.testing.assert_array_equal(a.m, b.m)
    # three well-separated clusters: q(μ_k) sits on the MLE pulled towards m0 by β0/β_k (PRML 10.61)
    em = fit_em(x, 3, init=(a.weights, a.m, a.covariances), tol=1e-10)
    pulled = em.means + a.prior.beta0 * (a.prior.m0 - em.means) / a.beta[:, None]
    np.testing.assert_allclose(a.m, pulled, atol=1e-3)
