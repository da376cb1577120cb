"""Variational Bayes for the GMM (PRML 10.2): exact VB vs PyMC ADVI (mean-field, full-rank) vs NUTS.

One model, three approximations of its posterior, on Old Faithful (K = 2) and bdims height/weight
(K = 2). The model is the Bayesian GMM of :mod:`models.gmm_vb` (Dirichlet(α0 = 1) weights,
Normal-Wishart(m0, β0, W0, ν0) components with scikit-learn's data-based defaults: m0 the data
mean, β0 = 1, W0⁻¹ the sample covariance, ν0 = D), full covariances:

* **VB** — :func:`models.gmm_vb.fit_vb`, exact coordinate ascent (tied to scikit-learn and to a
  Monte Carlo ELBO in ``tests/test_gmm_vb.py``); its ELBO is exact, every constant included.
* **ADVI** — ``pm.fit`` (mean-field and full-rank) on :func:`models.gmm_vb_model.gmm_normal_wishart_model`,
  the same prior and likelihood in PyMC with z summed out, started at VB's posterior means; its
  ELBO is estimated by Monte Carlo from the fitted Gaussian q (draws ζ, ``E[ln p(x, ζ) - ln q(ζ)]``
  with PyMC's ``model.logp`` including every Jacobian and constant).
* **NUTS** — the same PyMC model, 2 chains from VB's means, gated on R-hat/ESS/divergences.

Both ELBOs bound the same ln p(x) (p(x) does not depend on the parametrization of θ). VB keeps
q(z) and factorizes it from q(θ); ADVI integrates z out exactly but restricts q(θ) to a Gaussian
in the unconstrained space. Which is tighter is measured, not assumed. A third number bounds
both from above: the evidence of the mode every fit sits in, ``ln p_mode(x) = ln E_q[p(x, θ) /
q(θ)]``, by importance sampling (z summed out) from VB's q(θ) or an ADVI q, whichever has the
larger effective sample size (all recorded; the checks need ESS >= 100). A q confined
to one of the K! = 2 exchangeable modes has ELBO <= ln p_mode(x) = ln p(x) - ln 2 (for
well-separated modes), and every ELBO is checked against it.

Components are labelled by the first coordinate of μ (sorted per draw), so all methods speak of
the same component. Posterior means and sds of w, μ, Σ side by side, the VB/NUTS sd ratio per
parameter (mean-field under-dispersion), the ELBOs, figures: ELBO traces, overlaid marginal
densities, fitted densities over the data. ``--data FILE`` runs on the file's first two columns
only. ``--quick``: fewer ADVI steps and draws.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
from matplotlib.figure import Figure
from scipy import stats
from scipy.special import logsumexp

from analyses.common import (
    CATEGORY_COLORS,
    DataNeeds,
    explains_ties,
    Table,
    axis_label,
    density_contour,
    gate,
    load_faithful,
    mixture_ready,
    nuts_settings,
)
from models import gmm
from models.data import load_dataset
from models.fitting import sample_nuts, to_unconstrained
from models.gmm_vb import fit_vb, vb_prior
from models.gmm_vb_model import gmm_normal_wishart_model, start_from_vb

TITLE = "Variational Bayes for the GMM: exact VB vs ADVI (mean-field, full-rank) vs NUTS on one Normal-Wishart model"
#: The first two chosen columns of --data; ties checked, --dequantize taken.
DATA = DataNeeds(columns=2, dequantize=True)

K = 2
METHODS = ("VB", "ADVI mean-field", "ADVI full-rank", "NUTS")
COLORS = dict(zip(METHODS, CATEGORY_COLORS))
#: Monte Carlo standard errors allowed in the one-sided ELBO <= ln p_mode(x) checks.
Z_MC = 4.0
#: Smallest importance-sampling ESS for which ln p_mode(x) is trusted.
IS_ESS_MIN = 100
#: Adam's step size for ADVI (the free variables are O(1): χ² logs and standard normals).
LEARNING_RATE = 0.01


def positive_count(text: str) -> int:
    """argparse type: a whole number >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def add_arguments(parser) -> None:
    """This analysis' options (the runner passes them as ``ctx.options``)."""
    parser.add_argument("--advi-steps", type=positive_count, default=30_000,
                        help="ADVI optimization steps (default %(default)s; --quick: 10000)")
    parser.add_argument("--draws", type=positive_count, default=4000,
                        help="draws from each q for summaries and ELBOs (default %(default)s; --quick: 1000)")


def datasets(ctx) -> list[Table]:
    if ctx.settings.data:
        return [load_faithful(ctx)]                       # first two columns of --data
    bdims = load_dataset("bdims").select(["height_cm", "weight_kg"])
    values = mixture_ready(ctx, bdims.values, bdims.columns, dataset="bdims", user=False)
    return [load_faithful(ctx),
            Table("bdims", values, tuple(bdims.columns), tuple(axis_label(c) for c in bdims.columns))]


# --------------------------------------------------------------------------- draws in (w, μ, Σ)


def relabel(w, mu, sigma):
    """Sort components by the first coordinate of μ, per draw: (S, K), (S, K, D), (S, K, D, D)."""
    order = np.argsort(mu[:, :, 0], axis=1)
    take = np.arange(len(w))[:, None]
    return w[take, order], mu[take, order], sigma[take, order]


def vb_draws(res, n, rng):
    """(w, μ, Σ) draws from VB's q(θ) and ln q(θ) per draw (Dirichlet × Π Wishart × Gaussian)."""
    k, d = res.m.shape
    w = rng.dirichlet(res.alpha, size=n)
    log_q = stats.dirichlet.logpdf(w.T, res.alpha)
    lam = np.empty((n, k, d, d))
    mu = np.empty((n, k, d))
    for j in range(k):
        dist = stats.wishart(df=res.nu[j], scale=np.linalg.inv(res.W_inv[j]))
        lam[:, j] = dist.rvs(size=n, random_state=rng).reshape(n, d, d)
        log_q += dist.logpdf(np.moveaxis(lam[:, j], 0, -1))
        chol = np.linalg.cholesky(res.beta[j] * lam[:, j])                     # β Λ = L Lᵀ
        eps = rng.standard_normal((n, d))
        mu[:, j] = res.m[j] + np.linalg.solve(np.swapaxes(chol, 1, 2), eps[..., None])[..., 0]
        log_q += (np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1) - 0.5 * d * math.log(2 * math.pi)
                  - 0.5 * np.sum(eps**2, axis=1))
    return w, mu, np.linalg.inv(lam), lam, log_q


def log_joint(x, prior, w, mu, lam):
    """ln p(x, θ) = ln p(θ) + Σ_n ln p(x_n | θ) per draw, in numpy/scipy (z summed out)."""
    n, k, _d = mu.shape
    out = stats.dirichlet.logpdf(w.T, np.full(k, prior.alpha0))
    w0 = np.linalg.inv(prior.W0_inv)
    for j in range(k):
        out += stats.wishart(df=prior.nu0, scale=w0).logpdf(np.moveaxis(lam[:, j], 0, -1))
        for s in range(n):
            out[s] += stats.multivariate_normal.logpdf(mu[s, j], prior.m0, np.linalg.inv(prior.beta0 * lam[s, j]))
    for s in range(n):
        out[s] += gmm.gmm_log_likelihood(x, w[s], mu[s], np.linalg.inv(lam[s]))
    return out


def advi(model, start, method, steps, n_draws, seed):
    """Fit ADVI; returns (approx, ELBO estimate, its MC se, (w, μ, Σ) draws, seconds)."""
    import pymc as pm
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    # one BLAS thread: the graph is many tiny matrix products (see models.fitting.sample_nuts)
    with model, warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")
        approx = pm.fit(n=steps, method=method, start=start, random_seed=seed, progressbar=False,
                        obj_optimizer=pm.adam(learning_rate=LEARNING_RATE))
    seconds = time.perf_counter() - t0
    mean = np.asarray(approx.mean.eval())
    cov = np.asarray(approx.cov.eval())
    rng = np.random.default_rng(seed)
    zeta = rng.multivariate_normal(mean, cov, size=n_draws)
    log_q = stats.multivariate_normal(mean, cov).logpdf(zeta)
    ordering = approx.groups[0].ordering
    logp = model.compile_logp()                                                   # jacobian=True
    outs = model.replace_rvs_by_values([model["w"], model["mu"], model["Sigma"]])
    params = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    log_p, w, mu, sigma = [], [], [], []
    for z in zeta:
        point = {name: z[slc].reshape(shape) for name, slc, shape, _ in ordering.values()}
        log_p.append(float(logp(point)))
        a, b, c = params(point)
        w.append(a), mu.append(b), sigma.append(c)
    diff = np.array(log_p) - log_q                                               # ln p(x, ζ) - ln q(ζ)
    return approx, diff, relabel(np.array(w), np.array(mu), np.array(sigma)), seconds


def importance_estimate(log_w):
    """ln mean exp(log_w) (the evidence under the proposal's support), its delta-method se, the ESS."""
    n = log_w.size
    weights = np.exp(log_w - log_w.max())
    value = float(logsumexp(log_w) - math.log(n))
    se = float(np.std(weights, ddof=1) / math.sqrt(n) / np.mean(weights))
    return value, se, float(weights.sum() ** 2 / np.sum(weights**2))


def flat(w, mu, sigma):
    """(S, P) scalars: w_k, μ_kd, Σ_k,ij (i <= j), and their names."""
    k, d = mu.shape[1:]
    iu = np.triu_indices(d)
    names = [f"w[{j}]" for j in range(k)] + [f"mu[{j},{i}]" for j in range(k) for i in range(d)]
    names += [f"Sigma[{j},{a},{b}]" for j in range(k) for a, b in zip(*iu)]
    cols = [w, mu.reshape(len(w), -1), sigma[:, :, iu[0], iu[1]].reshape(len(w), -1)]
    return np.concatenate(cols, axis=1), names


# --------------------------------------------------------------------------- figures


def figure_traces(vb, fits, name) -> Figure:
    fig = Figure(figsize=(10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(np.arange(vb.trace.size), vb.trace, "o-", color=COLORS["VB"], ms=3)
    ax1.set(xlabel="iteration", ylabel="ELBO (nats)", title=f"{name}: VB's exact ELBO")
    for label, fit in fits.items():
        hist = -np.asarray(fit["approx"].hist)
        window = max(1, hist.size // 200)
        smooth = np.convolve(hist, np.ones(window) / window, mode="valid")
        ax2.plot(smooth, color=COLORS[label], label=f"{label} (running mean)")
    ax2.axhline(vb.elbo, color=COLORS["VB"], ls="--", label="VB ELBO")
    lo = vb.elbo - 30
    ax2.set(ylim=(lo, vb.elbo + 10), xlabel="step", ylabel="ELBO estimate", title="ADVI's stochastic ELBO")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_marginals(table, names, name) -> Figure:
    p = len(names)
    cols = 4
    fig = Figure(figsize=(3.0 * cols, 2.3 * math.ceil(p / cols)))
    axes = fig.subplots(math.ceil(p / cols), cols).ravel()
    for i, ax in enumerate(axes):
        if i >= p:
            ax.set_visible(False)
            continue
        lo = min(np.quantile(v[:, i], 0.001) for v in table.values())
        hi = max(np.quantile(v[:, i], 0.999) for v in table.values())
        bins = np.linspace(lo, hi, 50)
        for label, values in table.items():
            ax.hist(values[:, i], bins=bins, density=True, histtype="step", color=COLORS[label], label=label)
        ax.set_title(names[i], fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"{name}: posterior marginals (VB, ADVI, NUTS)")
    fig.tight_layout()
    return fig


def figure_densities(t, means) -> Figure:
    fig = Figure(figsize=(6.5, 5))
    ax = fig.subplots()
    ax.scatter(t.values[:, 0], t.values[:, 1], s=6, color="0.6")
    for label, (w, mu, sigma) in means.items():
        density_contour(ax, t.values, w, mu, sigma, color=COLORS[label], label=label, levels=6)
    ax.set(xlabel=t.labels[0], ylabel=t.labels[1], title=f"{t.name}: mixture density at each method's posterior mean")
    ax.legend(fontsize=7)
    return fig


# --------------------------------------------------------------------------- one data set


def study(ctx, t: Table) -> dict:
    x = t.values
    steps = 10_000 if ctx.quick else int(ctx.options.get("advi_steps", 30_000))
    n_draws = 1000 if ctx.quick else int(ctx.options.get("draws", 4000))
    prior = vb_prior(x, K, alpha0=1.0)
    vb = fit_vb(x, K, prior=prior, seed=ctx.seed, tol=1e-10, max_iter=5000)
    ctx.log(f"{t.name}: VB converged={vb.converged} in {vb.n_iter} iterations, ELBO {vb.elbo:.4f}")
    ctx.check_bound(f"{t.name}: VB ELBO step, smallest (never decreases)", float(np.min(np.diff(vb.trace))),
                    -1e-10 * abs(vb.elbo), kind=">=", method="models.gmm_vb.fit_vb", dataset=t.name,
                    basis="coordinate ascent (PRML 10.2): monotone up to 1e-10 relative round-off")

    model = gmm_normal_wishart_model(x, K, prior, columns=t.columns)
    start = start_from_vb(vb)
    loglik = model.compile_fn(model.replace_rvs_by_values([model["log_likelihood"]])[0], inputs=model.value_vars,
                              on_unused_input="ignore")
    values = {v.name: to_unconstrained(model.rvs_to_transforms.get(model.values_to_rvs[v]),
                                       np.asarray(start[model.values_to_rvs[v].name], dtype=float))
              for v in model.value_vars}
    ctx.check(f"{t.name}: PyMC model log-likelihood at VB's means", float(loglik(values)),
              gmm.gmm_log_likelihood(x, vb.weights, vb.m, vb.covariances),
              method="models.gmm_vb_model.gmm_normal_wishart_model", reference="models.gmm.gmm_log_likelihood",
              rtol=1e-10, dataset=t.name, basis="1e-10 relative: round-off")

    rng = ctx.rng(1)
    w, mu, sigma, lam, log_q = vb_draws(vb, n_draws, rng)
    evidence = {"VB": importance_estimate(log_joint(x, prior, w, mu, lam) - log_q)}
    draws = {"VB": relabel(w, mu, sigma)}

    fits, elbos = {}, {"VB": (vb.elbo, 0.0)}
    for label, method in (("ADVI mean-field", "advi"), ("ADVI full-rank", "fullrank_advi")):
        approx, log_w, d, seconds = advi(model, start, method, steps, n_draws, ctx.seed)
        elbo, se = float(log_w.mean()), float(log_w.std(ddof=1) / math.sqrt(n_draws))
        evidence[label] = importance_estimate(log_w)
        fits[label] = {"approx": approx, "seconds": seconds}
        elbos[label] = (elbo, se)
        draws[label] = d
        ctx.log(f"{t.name}: {label}: ELBO {elbo:.3f} ± {se:.3f} ({steps} steps, {seconds:.1f} s)")

    idata = sample_nuts(model, **nuts_settings(ctx), seed=ctx.seed, initvals=start)
    ok = gate(ctx, f"{t.name}: NUTS", idata, var_names=["w", "mu", "Sigma"], dataset=t.name)
    post = idata.posterior
    draws["NUTS"] = relabel(post["w"].values.reshape(-1, K), post["mu"].values.reshape(-1, K, x.shape[1]),
                            post["Sigma"].values.reshape(-1, K, x.shape[1], x.shape[1]))

    table, names = {}, None
    for label, d in draws.items():
        table[label], names = flat(*d)
    mean = {label: v.mean(axis=0) for label, v in table.items()}
    sd = {label: v.std(axis=0, ddof=1) for label, v in table.items()}
    ratio = {label: sd[label] / sd["NUTS"] for label in METHODS[:3]}

    header = f"{'parameter':>16} " + " ".join(f"{m:>24}" for m in METHODS)
    ctx.log(f"{t.name}: posterior mean (sd)\n" + header + "\n" + "\n".join(
        f"{n:>16} " + " ".join(f"{mean[m][i]:>12.4g} ({sd[m][i]:8.3g})" for m in METHODS) for i, n in enumerate(names)))
    ctx.log(f"{t.name}: sd / NUTS sd: " + "; ".join(
        f"{m}: {np.min(r):.3f}-{np.max(r):.3f} (median {np.median(r):.3f})" for m, r in ratio.items()))

    if ok:
        for label in METHODS[:3]:
            ctx.check(f"{t.name}: {label} posterior means vs NUTS, in NUTS sds", (mean[label] - mean["NUTS"]) / sd["NUTS"],
                      np.zeros(len(names)), method=label, reference="NUTS (gated)", atol=1.0, dataset=t.name,
                      basis="an approximation of the same mode: every posterior mean within one NUTS "
                            "posterior sd (the approximations' known biases are fractions of an sd)")
        ctx.check_bound(f"{t.name}: VB/NUTS sd ratio, largest", float(np.max(ratio["VB"])), 1.15, kind="<=",
                        method="VB q(θ) draws vs NUTS", dataset=t.name,
                        basis="mean-field VB under-disperses; 1.15 allows the Monte Carlo error of a NUTS sd "
                              "(~1/sqrt(2 ESS), ESS >= 400: 3.5 %) several times over")
    # ln p_mode(x) from the proposal with the largest importance ESS (q_VB, or an ADVI q)
    proposal = max(evidence, key=lambda m: evidence[m][2])
    log_p_mode, is_se, is_ess = evidence[proposal]
    ctx.log(f"{t.name}: importance sampling ESS of {n_draws} draws: "
            + ", ".join(f"q {m}: {e[2]:.0f}" for m, e in evidence.items()) + f"; using q {proposal}")
    if is_ess >= IS_ESS_MIN:
        for label, (elbo, se) in elbos.items():
            tol = Z_MC * math.hypot(se, is_se)
            ctx.check_bound(f"{t.name}: {label} ELBO - ln p_mode(x)", elbo - log_p_mode, tol, kind="<=",
                            method=label, dataset=t.name,
                            basis=f"an ELBO is a lower bound; ln p_mode(x) by importance sampling from q {proposal} "
                                  f"({n_draws} draws, ESS {is_ess:.0f}); {Z_MC:g} Monte Carlo standard errors")
    else:
        ctx.log(f"WARNING: {t.name}: importance ESS {is_ess:.0f} < {IS_ESS_MIN}: ln p_mode(x) not reliable, "
                "the ELBO <= ln p_mode(x) checks are skipped")
    gap = {label: (vb.elbo - e, s) for label, (e, s) in elbos.items() if label != "VB"}
    ctx.log(f"{t.name}: ln p_mode(x) ≈ {log_p_mode:.3f} ± {is_se:.3f}; ln p(x) ≈ {log_p_mode + math.log(2):.3f} "
            "(two exchangeable modes); VB - ADVI ELBO: "
            + "; ".join(f"{m}: {g:+.3f} ± {s:.3f}" for m, (g, s) in gap.items()))

    ctx.save_figure(figure_traces(vb, fits, t.name), f"{t.name}_elbo_traces.png")
    ctx.save_figure(figure_marginals(table, names, t.name), f"{t.name}_marginals.png")
    ctx.save_figure(figure_densities(t, {m: tuple(a.mean(axis=0) for a in draws[m]) for m in METHODS}),
                    f"{t.name}_densities.png")
    return {"prior": {"alpha0": prior.alpha0, "beta0": prior.beta0, "m0": prior.m0, "W0_inv": prior.W0_inv,
                      "nu0": prior.nu0},
            "vb": {"elbo": vb.elbo, "n_iter": vb.n_iter, "converged": vb.converged},
            "elbo": {m: {"value": e, "mc_se": s} for m, (e, s) in elbos.items()},
            "vb_minus_advi_elbo": {m: {"value": g, "mc_se": s} for m, (g, s) in gap.items()},
            "log_p_mode": {"value": log_p_mode, "mc_se": is_se, "is_ess": is_ess, "draws": n_draws,
                           "proposal": proposal, "ess_by_proposal": {m: e[2] for m, e in evidence.items()}},
            "parameters": names, "mean": mean, "sd": sd, "sd_ratio_to_nuts": ratio,
            "advi": {m: {"steps": steps, "seconds": f["seconds"]} for m, f in fits.items()},
            "nuts_gated": bool(ok)}


@explains_ties
def run(ctx) -> None:
    for t in datasets(ctx):
        ctx.extra[t.name] = study(ctx, t)


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
