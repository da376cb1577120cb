"""The peers the benchmark measures this project against, each written the way its users write it.

* :func:`fit_sklearn` — scikit-learn's ``GaussianMixture`` (EM), same ``tol`` and k-means init.
* :func:`naive_pymc_model` — the PyMC a newcomer writes: raw (unstandardized) data, one
  ``pm.MvNormal`` per component in a Python list, ``pm.Mixture``, fitted with ``pm.find_MAP``'s
  defaults or ``pm.sample``'s defaults.
* :func:`numpyro_gmm` — the same mixture written natively in NumPyro (``MixtureSameFamily``),
  with the priors of this project's NUTS model so that wall times compare like with like.
* :func:`nutpie_sample` — a PyMC model compiled and sampled by nutpie (numba or JAX backend).
* :func:`numpy_loglik` — the floor: the mixture log-density in plain numpy, no gradient.

Timing helpers: :class:`Timer` (one wall-clock interval) and :func:`per_call_seconds` (best-of-5
mean time of a fast call).

Optional peers (scikit-learn, nutpie, NumPyro/JAX) are imported lazily: :func:`available` says
which are installed (``pip install -e ".[bench]"`` installs them all).
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np
from scipy.special import logsumexp

__all__ = ["available", "fit_sklearn", "naive_pymc_model", "numpyro_gmm", "sample_numpyro", "nutpie_sample",
           "numpy_loglik", "precision_cholesky", "Timer", "per_call_seconds"]


def available(package: str) -> bool:
    """True when ``package`` can be imported (without importing it)."""
    return importlib.util.find_spec(package) is not None


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds`` (wall clock, perf_counter)."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False


def numpy_loglik(x: np.ndarray, log_w: np.ndarray, mu: np.ndarray, prec_chol: np.ndarray) -> float:
    """The floor: the mixture log-density in numpy, no gradient, no validation.

    x (N, D), log_w (K,), mu (K, D), prec_chol (K, D, D) upper-triangular U_k with Σ_k⁻¹ = U_k U_kᵀ.
    """
    k, d = mu.shape
    # One BLAS matmul for all components: (N, D) @ (D, K*D).
    y = (x @ prec_chol.transpose(1, 0, 2).reshape(d, k * d)).reshape(-1, k, d)
    y -= np.einsum("kd,kde->ke", mu, prec_chol)
    log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    log_comp = -0.5 * (d * np.log(2 * np.pi) + np.sum(y * y, axis=2)) + log_det + log_w
    return float(logsumexp(log_comp, axis=1).sum())


def precision_cholesky(cov: np.ndarray) -> np.ndarray:
    """U_k upper-triangular with U_k U_kᵀ = Σ_k⁻¹ (scikit-learn's precisions_cholesky_)."""
    out = np.empty_like(cov)
    for k, c in enumerate(cov):
        lower = np.linalg.cholesky(c)
        out[k] = np.linalg.solve(lower, np.eye(c.shape[0])).T
    return out


def per_call_seconds(func, *, min_total: float = 0.3, max_calls: int = 2000) -> float:
    """Best-of-5 mean wall time of ``func()``, with enough calls per repeat to last min_total/5."""
    func()
    with Timer() as t:
        func()
    calls = int(min(max_calls, max(1, (min_total / 5) / max(t.seconds, 1e-7))))
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            func()
        best = min(best, (time.perf_counter() - start) / calls)
    return float(best)


# --------------------------------------------------------------------------- scikit-learn


def fit_sklearn(x: np.ndarray, n_components: int, *, seed: int, covariance_type: str = "full",
                tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 500):
    """scikit-learn EM with its defaults apart from the seed; returns (fitted estimator, seconds)."""
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(n_components, covariance_type=covariance_type, tol=tol, reg_covar=reg_covar,
                         max_iter=max_iter, random_state=seed)
    with Timer() as t:
        gm.fit(x)
    return gm, t.seconds


# --------------------------------------------------------------------------- naive PyMC


def naive_pymc_model(x: np.ndarray, n_components: int):
    """The newcomer's GMM: a Python list of ``MvNormal`` components inside ``pm.Mixture``.

    Raw data; priors wide and scaled to the data (so MAP ~ MLE), LKJ Cholesky covariances,
    no ordering. Parameters: x (N, D); returns a ``pm.Model`` with free variables ``w``,
    ``mu_k`` (D,) and ``chol_k`` for k = 0..K-1.
    """
    import pymc as pm

    x = np.asarray(x, dtype=float)
    d = x.shape[1]
    loc, scale = x.mean(axis=0), x.std(axis=0)
    with pm.Model() as model:
        w = pm.Dirichlet("w", a=np.ones(n_components))
        components = []
        for k in range(n_components):
            mu = pm.Normal(f"mu_{k}", mu=loc, sigma=10 * scale, shape=d)
            chol, _, _ = pm.LKJCholeskyCov(f"chol_{k}", n=d, eta=1.0,
                                           sd_dist=pm.HalfNormal.dist(sigma=10 * scale, shape=d),
                                           compute_corr=True)
            components.append(pm.MvNormal.dist(mu=mu, chol=chol))
        pm.Mixture("x", w=w, comp_dists=components, observed=x)
    return model


# --------------------------------------------------------------------------- NumPyro


def numpyro_gmm(x, prior: dict):
    """NumPyro twin of this project's NUTS model, on standardized data (N, D).

    Same priors and parametrization as :func:`models.gmm_builders.gmm_marginal_model` with weak
    priors: ``w ~ Dirichlet(alpha)``; ``mu_first`` ascending with Normal(``mu_first_loc``,
    ``mu_sd``) prior (ordered support); ``mu_rest ~ Normal(0, mu_sd)``; precisions by the
    Bartlett decomposition of Wishart(ν, I/ν): ``prec_c[k, i] ~ χ²(ν - i)``,
    ``prec_z ~ Normal(0, 1)``, ``Λ_k = U_k U_kᵀ``. The likelihood is written the way a NumPyro
    user writes it: ``MixtureSameFamily`` of ``MultivariateNormal(precision_matrix=Λ_k)``.
    ``prior`` holds ``alpha`` (K,), ``mu_first_loc`` (K,), ``mu_sd`` and ``nu``.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    alpha = jnp.asarray(prior["alpha"])
    k, d, nu = alpha.shape[0], x.shape[1], float(prior["nu"])
    w = numpyro.sample("w", dist.Dirichlet(alpha))
    first = numpyro.sample("mu_first", dist.ImproperUniform(constraints.ordered_vector, (), (k,)))
    numpyro.factor("mu_first_prior",
                   dist.Normal(jnp.asarray(prior["mu_first_loc"]), prior["mu_sd"]).log_prob(first).sum())
    if d > 1:
        rest = numpyro.sample("mu_rest", dist.Normal(0.0, prior["mu_sd"]).expand([k, d - 1]).to_event(2))
        mu = jnp.concatenate([first[:, None], rest], axis=1)
    else:
        mu = first[:, None]
    prec_c = numpyro.sample("prec_c", dist.Chi2(nu - jnp.arange(d)).expand([k, d]).to_event(2))
    u = jnp.sqrt(prec_c / nu)[:, :, None] * jnp.eye(d)
    if d > 1:
        rows, cols = np.tril_indices(d, -1)
        prec_z = numpyro.sample("prec_z", dist.Normal(0.0, 1.0).expand([k, rows.size]).to_event(2))
        u = u.at[:, rows, cols].set(prec_z / np.sqrt(nu))
    precision = u @ jnp.swapaxes(u, -1, -2)
    mixture = dist.MixtureSameFamily(dist.Categorical(probs=w),
                                     dist.MultivariateNormal(mu, precision_matrix=precision))
    numpyro.sample("x", mixture, obs=x)


def sample_numpyro(x: np.ndarray, prior: dict, *, draws: int, tune: int, chains: int, seed: int,
                   target_accept: float = 0.8, init_values: dict | None = None):
    """NUTS on :func:`numpyro_gmm`; returns (arviz InferenceData, compile+warmup seconds, sampling seconds).

    ``init_values``: constrained starting values by site name (``init_to_value``); default
    NumPyro's ``init_to_uniform``.

    Chains run sequentially (``chain_method="sequential"``), as JAX uses one device here.
    Compilation and warm-up are timed together (JAX compiles on first call), sampling apart.
    """
    import arviz as az
    import jax
    import numpyro
    from numpyro.infer import MCMC, NUTS, init_to_uniform, init_to_value

    numpyro.enable_x64()  # float64 like the PyMC models it is compared with

    init = init_to_uniform if init_values is None else init_to_value(values=init_values)
    kernel = NUTS(numpyro_gmm, target_accept_prob=target_accept, init_strategy=init)
    mcmc = MCMC(kernel, num_warmup=tune, num_samples=draws, num_chains=chains, chain_method="sequential",
                progress_bar=False)
    key = jax.random.PRNGKey(seed)
    with Timer() as warm:
        mcmc.warmup(key, x=x, prior=prior, extra_fields=("num_steps", "diverging"), collect_warmup=False)
    with Timer() as run:
        mcmc.run(mcmc.post_warmup_state.rng_key, x=x, prior=prior, extra_fields=("num_steps", "diverging"))
        jax.block_until_ready(mcmc.get_samples())
    idata = az.from_numpyro(mcmc)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    idata.sample_stats["n_steps"] = (("chain", "draw"), np.asarray(extra["num_steps"]))
    return idata, warm.seconds, run.seconds


# --------------------------------------------------------------------------- nutpie


def nutpie_sample(model, *, backend: str, draws: int, tune: int, chains: int, seed: int,
                  initial_points: dict | None = None):
    """Compile ``model`` with nutpie's ``backend`` ("numba" or "jax") and sample it.

    ``initial_points``: constrained starting values by variable name (as PyMC's ``initvals``).

    Returns (InferenceData, compile seconds, sampling seconds).
    """
    import nutpie

    kwargs = {"backend": backend, "initial_points": initial_points}
    if backend == "jax":
        kwargs["gradient_backend"] = "jax"
    with Timer() as comp:
        compiled = nutpie.compile_pymc_model(model, **kwargs)
    with Timer() as run:
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed, cores=chains,
                              progress_bar=False)
    return idata, comp.seconds, run.seconds
