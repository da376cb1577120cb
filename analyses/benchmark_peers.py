"""The peers the benchmark measures this project against, each written the way its users write it.

* :func:`fit_sklearn` — scikit-learn's ``GaussianMixture`` (EM), same ``tol`` and k-means init.
* :func:`naive_pymc_model` — the PyMC a newcomer writes: raw (unstandardized) data, one
  ``pm.MvNormal`` per component in a Python list, ``pm.Mixture``; with ``ordered=True`` the
  means' first coordinate gets PyMC's ``ordered`` transform and an ``initval``, as in PyMC's
  ``NormalMixture`` docstring example. Fitted with ``pm.find_MAP``'s or ``pm.sample``'s defaults.
* :func:`numpyro_gmm` — the same mixture written natively in NumPyro (``MixtureSameFamily``),
  with the priors of this project's NUTS model so that wall times compare like with like.
* :func:`nutpie_sample` — a PyMC model compiled and sampled by nutpie (numba or JAX backend).
* :func:`numpyro_subprocess` — one NumPyro NUTS run (the native model, or ``pm.sample`` with
  ``nuts_sampler="numpyro"`` on this project's model) in a fresh interpreter, where
  ``numpyro.set_host_device_count`` can still give JAX one CPU device per chain.
* :func:`numpy_loglik` — the floor: the mixture log-density in plain numpy, no gradient.

Every NUTS row is summarized the same way (:func:`nuts_summary`: ``models.fitting.diagnose``
over the run's free variables, bulk and tail ESS) and split into set-up (build, compile,
start, post-processing), warm-up and sampling wherever the peer allows it (:func:`nuts_row`,
:func:`pymc_phases`, :func:`union_seconds`). Timing helpers: :class:`Timer` (one wall-clock
interval) and :func:`per_call_seconds` (best-of-5 mean time of a fast call).

Optional peers (scikit-learn, nutpie, NumPyro/JAX) are imported lazily: :func:`available` says
which are installed (``pip install -e ".[bench]"``, :data:`BENCH_EXTRA`, installs them all).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

__all__ = ["BENCH_EXTRA", "GMM_FREE_VARIABLES", "available", "fit_sklearn", "naive_pymc_model", "naive_point", "numpyro_gmm",
           "numpyro_worker", "numpyro_subprocess", "nutpie_sample", "naive_find_map", "pymc_nuts",
           "logp_dlogp_seconds", "jax_logp_grad_seconds", "nuts_summary", "nuts_row", "pymc_phases",
           "union_seconds", "numpy_loglik", "precision_cholesky", "Timer", "per_call_seconds"]

#: What installs every optional peer.
BENCH_EXTRA = 'pip install -e ".[bench]"'


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


def naive_pymc_model(x: np.ndarray, n_components: int, *, ordered: bool = False):
    """The newcomer's GMM: a Python list of ``MvNormal`` components inside ``pm.Mixture``.

    Raw data; priors wide and scaled to the data (so MAP ~ MLE), LKJ Cholesky covariances.
    ``ordered=False``: free variables ``w``, ``mu_k`` (D,) and ``chol_k`` for k = 0..K-1, no
    ordering (the labels switch between chains). ``ordered=True``: the way PyMC's own example
    breaks the symmetry (``NormalMixture`` docstring, pymc-examples' mixture notebooks) — the
    means' first coordinate ``mu_first`` (K,) gets ``transform=ordered`` and an increasing
    ``initval`` (quantiles of the data), the other coordinates are ``mu_rest`` (K, D-1).
    Parameters: x (N, D); returns a ``pm.Model``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    x = np.asarray(x, dtype=float)
    d = x.shape[1]
    loc, scale = x.mean(axis=0), x.std(axis=0)
    with pm.Model() as model:
        w = pm.Dirichlet("w", a=np.ones(n_components))
        if ordered:
            first = pm.Normal("mu_first", mu=loc[0], sigma=10 * scale[0], shape=n_components,
                              transform=pm.distributions.transforms.ordered,
                              initval=np.quantile(x[:, 0], np.linspace(0.25, 0.75, n_components)))
            if d > 1:
                rest = pm.Normal("mu_rest", mu=loc[1:], sigma=10 * scale[1:], shape=(n_components, d - 1))
                means = [pt.concatenate([first[k:k + 1], rest[k]]) for k in range(n_components)]
            else:
                means = [first[k:k + 1] for k in range(n_components)]
        else:
            means = [pm.Normal(f"mu_{k}", mu=loc, sigma=10 * scale, shape=d) for k in range(n_components)]
        components = []
        for k in range(n_components):
            chol, _, _ = pm.LKJCholeskyCov(f"chol_{k}", n=d, eta=1.0,
                                           sd_dist=pm.HalfNormal.dist(sigma=10 * scale, shape=d),
                                           compute_corr=True)
            components.append(pm.MvNormal.dist(mu=means[k], chol=chol))
        pm.Mixture("x", w=w, comp_dists=components, observed=x)
    return model


def naive_point(w: np.ndarray, mu: np.ndarray, cov: np.ndarray, *, ordered: bool = False) -> dict:
    """Parameters (data units: w (K,), mu (K, D), cov (K, D, D)) as constrained values of
    :func:`naive_pymc_model`'s free variables, for ``pm.sample(initvals=...)``.

    With ``ordered`` the components are sorted by the first coordinate of the mean (the model's
    ordering); ``chol_k`` is the packed lower triangle of cholesky(cov_k), as PyMC stores it.
    """
    w, mu, cov = np.asarray(w, float), np.asarray(mu, float), np.asarray(cov, float)
    order = np.argsort(mu[:, 0]) if ordered else np.arange(w.size)
    w, mu, cov = w[order], mu[order], cov[order]
    point = {"w": w}
    if ordered:
        point["mu_first"] = mu[:, 0]
        if mu.shape[1] > 1:
            point["mu_rest"] = mu[:, 1:]
    else:
        point |= {f"mu_{k}": mu[k] for k in range(w.size)}
    rows, cols = np.tril_indices(mu.shape[1])
    point |= {f"chol_{k}": np.linalg.cholesky(cov[k])[rows, cols] for k in range(w.size)}
    return point


def naive_find_map(x: np.ndarray, k: int) -> dict:
    """``pm.find_MAP`` with its defaults on the naive model; compile is inside find_MAP."""
    import pymc as pm

    from models.gmm import gmm_log_likelihood

    with Timer() as build:
        model = naive_pymc_model(x, k)
    with Timer() as fit, model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        point = pm.find_MAP(progressbar=False)
    w = np.asarray(point["w"])
    mu = np.array([point[f"mu_{j}"] for j in range(k)])
    sd = [np.asarray(point[f"chol_{j}_stds"]) for j in range(k)]
    cov = np.array([np.outer(sd[j], sd[j]) * point[f"chol_{j}_corr"] for j in range(k)])
    return {"build_s": build.seconds, "total_s": build.seconds + fit.seconds,
            "loglik": float(gmm_log_likelihood(x, w, mu, cov)), "weights": w.tolist()}


# --------------------------------------------------------------------------- NUTS rows


def nuts_summary(idata, var_names: list[str]) -> dict:
    """Convergence of one NUTS run over ``var_names`` (its free variables): ``models.fitting.diagnose``
    (worst R-hat, smallest bulk and tail ESS, divergences), and leapfrog steps per draw."""
    from models.fitting import diagnose

    d = diagnose(idata, var_names=var_names)
    stats = idata.sample_stats
    steps = next((name for name in ("n_steps", "tree_size") if name in stats), None)
    return {"ess_bulk_min": d.ess_bulk_min, "ess_tail_min": d.ess_tail_min, "rhat_max": d.rhat_max,
            "divergences": d.divergences, "n_draws": d.n_draws, "converged": d.converged,
            "problems": d.problems, "gated_variables": list(var_names),
            "leapfrog_per_draw": float(stats[steps].mean()) if steps else None}


def nuts_row(summary: dict, *, setup_s: float, warmup_s: float | None, sampling_s: float, chain_method: str,
             cores: int, phases: str = "set-up, warm-up and sampling timed apart", **extra) -> dict:
    """One row of the NUTS table: :func:`nuts_summary` plus the timings and how the chains ran.

    ``setup_s``: everything that is neither warm-up nor sampling (model build, compilation,
    start, post-processing). ``warmup_s`` None when the peer times warm-up together with
    sampling: ``sampling_s`` then holds both and ``phases`` says so. ``cores``: chains running
    at once on separate cores. ESS/s uses the smallest bulk ESS, over the total and over
    warm-up + sampling.
    """
    run_s = sampling_s + (warmup_s or 0.0)
    total = setup_s + run_s
    return summary | {"setup_s": setup_s, "warmup_s": warmup_s, "sampling_s": sampling_s, "run_s": run_s,
                      "total_s": total, "ess_per_s_total": summary["ess_bulk_min"] / total,
                      "ess_per_s_run": summary["ess_bulk_min"] / run_s, "chain_method": chain_method,
                      "cores": cores, "phases": phases} | extra


def pymc_phases(idata, wall_s: float) -> tuple[float, float, float]:
    """(set-up, warm-up, sampling) seconds of a ``pm.sample`` run with PyMC's NUTS that took ``wall_s``.

    PyMC reports warm-up and sampling together (``posterior.attrs["sampling_time"]``), but its NUTS
    records ``perf_counter_start`` / ``perf_counter_diff`` of every kept draw: the slowest chain's
    span from its first kept draw to the end of its last is the sampling phase; the rest of
    ``sampling_time`` is warm-up (worker start included); the rest of ``wall_s`` is set-up.
    """
    stats = idata.sample_stats
    start = np.asarray(stats["perf_counter_start"].values, dtype=float)   # (chain, draw)
    diff = np.asarray(stats["perf_counter_diff"].values, dtype=float)
    sampling = float(np.max(start[:, -1] + diff[:, -1] - start[:, 0]))
    both = float(idata.posterior.attrs["sampling_time"])
    return wall_s - both, both - sampling, sampling


def pymc_nuts(model, *, draws: int, tune: int, seed: int, initvals: dict | None = None) -> dict:
    """A :func:`nuts_row` of ``pm.sample`` with PyMC's defaults (target_accept 0.8, jitter+adapt_diag),
    2 chains on 2 cores (``cores=2``), summarized over the model's free variables."""
    import pymc as pm

    with Timer() as wall, model, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its convergence warnings: the row records R-hat and ESS
        idata = pm.sample(draws=draws, tune=tune, chains=2, cores=2, random_seed=seed, progressbar=False,
                          initvals=initvals, compute_convergence_checks=False)
    setup, warm, sampling = pymc_phases(idata, wall.seconds)
    return nuts_row(nuts_summary(idata, [v.name for v in model.free_RVs]), setup_s=setup, warmup_s=warm,
                    sampling_s=sampling, chain_method="parallel (2 processes)", cores=2)


def union_seconds(spans, start: float, end: float) -> float:
    """Length of the union of the intervals ``spans`` [(s, e), ...] clipped to [start, end]
    (nested JAX compile events overlap; each second counts once)."""
    clipped = sorted((max(s, start), min(e, end)) for s, e in spans if e > start and s < end)
    total, lo, hi = 0.0, None, None
    for s, e in clipped:
        if hi is None or s > hi:
            total += 0.0 if hi is None else hi - lo
            lo, hi = s, e
        else:
            hi = max(hi, e)
    return total + (0.0 if hi is None else hi - lo)


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


#: The free variables of this project's GMM, which numpyro_gmm's sample sites mirror by name.
GMM_FREE_VARIABLES = ["w", "mu_first", "mu_rest", "prec_c", "prec_z"]
_ROW_MARKER = "BENCHMARK_ROW "


def numpyro_worker(spec: dict) -> dict:
    """One NumPyro NUTS run in *this* process, which must not have initialized JAX yet.

    ``spec``: ``kind`` ("native": :func:`numpyro_gmm` on standardized ``xs`` with ``prior``;
    "pymc": ``pm.sample(nuts_sampler="numpyro")`` on this project's model of raw ``x`` with K =
    ``k``), ``chain_method`` ("parallel" or "vectorized"), ``devices`` (host CPU devices, set by
    ``numpyro.set_host_device_count`` as NumPyro's documentation says, before JAX starts),
    ``chains``, ``draws``, ``tune``, ``seed``, ``start`` (constrained values by name). Both
    kinds run in float64, like the PyMC rows, with NumPyro's / PyMC's default adaptation and
    target acceptance (0.8).

    Returns a :func:`nuts_row` with ``ready_at`` (``time.time()`` when imports were done),
    ``devices`` (what JAX reports), ``jax_compile_s`` and every warning raised while sampling.
    The native run times ``warmup()`` and ``run()`` apart and moves JAX compilation inside each
    (``jax.monitoring`` compile events) into set-up; ``pm.sample`` runs warm-up, sampling and
    the sampler's JIT compilation in one ``MCMC.run``, so that row times them together.
    """
    if spec["kind"] not in ("native", "pymc"):
        raise ValueError(f"kind must be 'native' or 'pymc', got {spec['kind']!r}")
    import numpyro

    numpyro.set_host_device_count(spec["devices"])
    import jax

    spans = []
    jax.monitoring.register_event_time_span_listener(
        lambda event, s, e, **_: spans.append((s, e)) if event.startswith("/jax/core/compile/") else None)
    numpyro.enable_x64()
    import arviz as az
    from numpyro.infer import MCMC, NUTS, init_to_value

    if spec["kind"] == "pymc":
        import pymc as pm

        from models.gmm_builders import gmm_marginal_model
    ready_at = time.time()
    start = {name: np.asarray(v, dtype=float) for name, v in spec["start"].items()}
    chains, method = spec["chains"], spec["chain_method"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if spec["kind"] == "native":
            xs = np.asarray(spec["xs"], dtype=float)
            prior = {name: np.asarray(v, dtype=float) for name, v in spec["prior"].items()}
            mcmc = MCMC(NUTS(numpyro_gmm, init_strategy=init_to_value(values=start)), num_warmup=spec["tune"],
                        num_samples=spec["draws"], num_chains=chains, chain_method=method, progress_bar=False)
            fields = ("num_steps", "diverging")
            t0 = time.time()
            mcmc.warmup(jax.random.PRNGKey(spec["seed"]), x=xs, prior=prior, extra_fields=fields,
                        collect_warmup=False)
            jax.block_until_ready(mcmc.post_warmup_state)
            t1 = time.time()
            mcmc.run(mcmc.post_warmup_state.rng_key, x=xs, prior=prior, extra_fields=fields)
            jax.block_until_ready(mcmc.get_samples())
            t2 = time.time()
            idata = az.from_numpyro(mcmc, log_likelihood=False)
            idata.sample_stats["n_steps"] = (("chain", "draw"),
                                             np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"]))
            compile_warm, compile_run = union_seconds(spans, t0, t1), union_seconds(spans, t1, t2)
            timing = {"setup_s": compile_warm + compile_run, "warmup_s": t1 - t0 - compile_warm,
                      "sampling_s": t2 - t1 - compile_run}
            phases = "JAX compilation (inside warmup() and run()) is the set-up; warm-up and sampling apart"
        else:
            t0 = time.time()
            model = gmm_marginal_model(np.asarray(spec["x"], dtype=float), spec["k"])
            with model:
                idata = pm.sample(draws=spec["draws"], tune=spec["tune"], chains=chains, random_seed=spec["seed"],
                                  initvals=start, nuts_sampler="numpyro", progressbar=False,
                                  nuts_sampler_kwargs={"chain_method": method}, compute_convergence_checks=False)
            t2 = time.time()
            both = float(idata.posterior.attrs["sampling_time"])
            timing = {"setup_s": t2 - t0 - both, "warmup_s": None, "sampling_s": both}
            phases = ("pm.sample runs warm-up, sampling and the sampler's JIT compilation in one MCMC.run: "
                      "timed together")
    row = nuts_row(nuts_summary(idata, GMM_FREE_VARIABLES), **timing, chain_method=method,
                   cores=chains if method == "parallel" else 1, phases=phases)
    return row | {"ready_at": ready_at, "devices": jax.local_device_count(), "dtype": "float64",
                  "jax_compile_s": union_seconds(spans, t0, t2),
                  "warnings": sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})}


def numpyro_subprocess(spec: dict, *, timeout: float = 1800) -> dict:
    """:func:`numpyro_worker` (``spec``) in a fresh interpreter; the row, with ``startup_s`` (launch
    until imports were done; not part of ``total_s``, as no in-process row counts its imports),
    or ``{"error": ...}`` when the run failed."""
    from models.io import to_jsonable

    launched = time.time()
    try:
        proc = subprocess.run([sys.executable, "-m", "analyses.benchmark_peers"], input=json.dumps(to_jsonable(spec)),
                              capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith(_ROW_MARKER)]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit status {proc.returncode}: {proc.stderr[-2000:]}"}
    row = json.loads(lines[-1][len(_ROW_MARKER):])
    row["startup_s"] = row.pop("ready_at") - launched
    return row


def logp_dlogp_seconds(model) -> float:
    """Time of one compiled log-density + gradient of ``model`` (as NUTS calls it), at its initial point."""
    fn = model.logp_dlogp_function(ravel_inputs=True)
    fn.set_extra_values({})
    point = model.initial_point()
    flat = np.concatenate([np.ravel(point[v.name]) for v in fn._grad_vars])
    return per_call_seconds(lambda: fn(flat))


def jax_logp_grad_seconds(x: np.ndarray, prior: dict) -> float:
    """One jitted value_and_grad of :func:`numpyro_gmm`'s potential (``prior`` as there) at its initial point."""
    import jax
    import numpyro
    from numpyro.infer.util import initialize_model

    numpyro.enable_x64()  # float64 like the PyMC models
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    info = initialize_model(jax.random.PRNGKey(0), numpyro_gmm, model_kwargs={"x": xs, "prior": prior})
    f = jax.jit(jax.value_and_grad(info.potential_fn))
    params = info.param_info.z
    return per_call_seconds(lambda: jax.block_until_ready(f(params)))


# --------------------------------------------------------------------------- nutpie


def nutpie_sample(model, *, backend: str, draws: int, tune: int, chains: int, seed: int,
                  initial_points: dict | None = None):
    """Compile ``model`` with nutpie's ``backend`` ("numba" or "jax") and sample it with nutpie's
    defaults (its adaptation, target acceptance 0.8, ``cores`` = min(chains, CPUs), chains in threads).

    ``initial_points``: constrained starting values by variable name (as PyMC's ``initvals``).

    Returns (InferenceData, compile seconds, warm-up + sampling seconds, cores used).
    """
    import nutpie

    kwargs = {"backend": backend, "initial_points": initial_points}
    if backend == "jax":
        kwargs["gradient_backend"] = "jax"
    with Timer() as comp:
        compiled = nutpie.compile_pymc_model(model, **kwargs)
    with Timer() as run:
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed, progress_bar=False)
    return idata, comp.seconds, run.seconds, min(chains, os.cpu_count() or 1)


if __name__ == "__main__":
    from models.io import to_jsonable

    print(_ROW_MARKER + json.dumps(to_jsonable(numpyro_worker(json.loads(sys.stdin.read())))), flush=True)
