"""The mixture that chooses its own K: a truncated Dirichlet-process (stick-breaking) GMM by NUTS.

On Old Faithful and bdims height/weight (or the first two chosen columns of ``--data``):

* **NUTS** on :func:`models.gmm_dp_builders.gmm_dp_model` (full covariances, T sticks, α ~
  Gamma(a, b) integrated out and drawn from α | r afterwards) through
  :func:`models.gmm_dp_fitting.sample_dp_posterior` → the posterior of the number of components
  with weight > 1 %, the posterior of α (prior overlaid in the figure), the sorted weights.
* **The truncation**: the last stick's expected weight given α, averaged over α's posterior,
  must be below 1e-3 (a check; else a WARNING saying to raise ``--truncation``).
* **The convergence gate** uses label-invariant quantities only — the per-draw log-likelihood,
  E[α | r] and the weights sorted by size (:data:`models.gmm_dp_fitting.GATED`) — with R-hat,
  bulk/tail ESS and divergences. Why: the stick-breaking components are exchangeable in the
  likelihood and only weakly ordered by the prior, so a cluster may sit on stick 1 in one chain
  and stick 2 in another (or move within one chain); R-hat of ``mu[1]`` would then flag a
  relabelling, not a failure to converge, or pass a chain stuck in one labelling. Ordering the
  components by expected weight afterwards is not an identification either: two clusters of
  similar weight swap ranks from draw to draw, and the sorted summaries mix them. Quantities
  that are the same under every relabelling are what the gate (and the answers) can trust.
* **Tie-outs**: PyMC's per-draw log-likelihood equals :func:`models.gmm.gmm_log_likelihood` of
  the same draws in data units (1e-9); the mean of the α draws equals the mean of E[α | r]
  within 4 Monte Carlo standard errors of the conditional draws.
* **Comparisons**, each reported with where and why they disagree:
  scikit-learn's variational ``BayesianGaussianMixture(weight_concentration_prior_type=
  "dirichlet_process")`` (same T, concentration fixed at the prior mean a/b, ``n_init`` starts,
  seeded; number of weights > 1 % and the sorted weights) — scikit-learn is a test/benchmark
  dependency, imported only here, and when it is missing the comparison is reported as not run;
  BIC of the project's EM over K = 1..T-1 (computed here); and ``choosing_k``'s PSIS-LOO answer,
  read from ``<out>/choosing_k/record.json`` when that record ran on the same data (no analysis
  imports another), else reported as not available with the command that produces it.

Ties: every data set goes through :func:`analyses.common.mixture_ready` (a WARNING with the count
of tied values and the remedy, ``--dequantize``), and a fit that fails on heavily tied data says
so (:func:`analyses.common.explains_ties`).

Options: ``--truncation T`` (default 10), ``--alpha-shape a`` and ``--alpha-rate b`` (default
Gamma(1, 1)), checked before anything runs (T < 2, a or b <= 0: exit 2); T > N is refused once
the data are read, before any model is built. ``--quick``: 2 x 600 draws after 500 tuning steps,
a gate labelled "quick run" that requires ESS >= 100 (:data:`QUICK_ESS_MIN`; the full run: 400),
and 3 scikit-learn starts.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from scipy import stats

from analyses.common import (
    CATEGORY_COLORS,
    DataNeeds,
    Table,
    axis_label,
    explains_ties,
    grid_for,
    load_faithful,
    mixture_ready,
)
from analyses.results_record import data_sha256
from models import gmm
from models.data import load_dataset
from models.gmm_dp import (
    ACTIVE_WEIGHT,
    ALPHA_RATE,
    ALPHA_SHAPE,
    DEFAULT_TRUNCATION,
    TRUNCATION_TOL,
    DPPrior,
    alpha_conditional,
    dp_prior,
)
from models.gmm_dp_builders import gmm_dp_model
from models.gmm_dp_fitting import (
    GATED,
    active_component_posterior,
    alpha_draws,
    diagnose_dp,
    em_bic_over_k,
    label_invariant_draws,
    sample_dp_posterior,
    truncation_check,
)
from models.gmm_fitting import posterior_parameters
from models.ties import tie_report
from models.validation import DataError

TITLE = ("Dirichlet-process mixture (truncated stick-breaking, NUTS): how many components, α, the truncation; "
         "vs scikit-learn's variational DP, BIC and LOO")
#: The first two chosen columns of --data; ties checked, --dequantize taken.
DATA = DataNeeds(columns=2, dequantize=True)

#: NUTS draws and tuning steps per chain (2 chains). bdims mixes slowly between 2 and 3 active
#: components, which the per-draw log-likelihood follows: measured bulk ESS 394 of 2 x 1000 draws,
#: and tail ESS 125 of 2 x 500 (an efficiency of 0.12-0.2 per draw), so the full run takes 2 x 3000
#: draws to clear ESS 400 with room to spare.
NUTS_FULL = {"draws": 3000, "tune": 1000}
NUTS_QUICK = {"draws": 600, "tune": 500}
#: The ESS a --quick run's gate requires (the full run: models.fitting.ESS_MIN = 400). At bdims'
#: efficiency a quick run cannot reach 20 % of its draws (the project's usual quick rule), so the
#: quick gate is labelled as such and asks for 100 (the full run keeps 400).
QUICK_ESS_MIN = 100
#: scikit-learn's variational fit: random restarts (best lower bound kept) and iterations.
SKLEARN_INIT_FULL, SKLEARN_INIT_QUICK, SKLEARN_MAX_ITER = 10, 3, 2000
#: EM starts per K for the BIC table, and its tolerance on the mean log-likelihood (scikit-learn's
#: default; BIC differences between K are tens of units, far above what a tighter one changes).
#: Measured on the loaded 2-core machine: K = 1..9 on Old Faithful, 5 starts, 22 s at 1e-3 against
#: 132 s at 1e-6.
EM_INIT, EM_TOL = 3, 1e-3
#: Posterior draws used for the log-likelihood tie-out and for the figures' density.
TIE_OUT_DRAWS, DENSITY_DRAWS, ELLIPSE_DRAWS = 20, 200, 40
#: Monte Carlo standard errors allowed in the α check.
Z_MC = 4.0
#: An active component whose sd in a heavily tied column is below this many rounding steps has
#: collapsed onto the ties (:func:`narrowest_on_ties`).
COLLAPSE_RATIO = 0.5
#: choosing_k's record settings that must equal ours for its LOO answer to be about our data.
SAME_DATA_KEYS = ("data", "data_sha256", "columns", "dropna", "dequantize")


# --------------------------------------------------------------------------- options


def _as_setting_error(check, text: str):
    try:
        return check(text)
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def truncation_level(text: str) -> int:
    """argparse type: T, a whole number >= 2 (:func:`models.gmm_dp.dp_prior`'s message otherwise)."""
    def parse(value):
        try:
            number = int(value)
        except ValueError:
            raise DataError(f"truncation T must be a whole number >= 2, got {value!r}; use the default "
                            f"T = {DEFAULT_TRUNCATION}.") from None
        return dp_prior(number).truncation
    return _as_setting_error(parse, text)


def alpha_shape(text: str) -> float:
    """argparse type: a of α ~ Gamma(a, b), > 0."""
    return _as_setting_error(lambda v: dp_prior(DEFAULT_TRUNCATION, _number(v, "alpha_shape"), ALPHA_RATE).alpha_shape,
                             text)


def alpha_rate(text: str) -> float:
    """argparse type: b (rate) of α ~ Gamma(a, b), > 0."""
    return _as_setting_error(lambda v: dp_prior(DEFAULT_TRUNCATION, ALPHA_SHAPE, _number(v, "alpha_rate")).alpha_rate,
                             text)


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{name} must be a number > 0, got {text!r}.") from None


def add_arguments(parser) -> None:
    """This analysis' options (the runner passes them as ``ctx.options``)."""
    parser.add_argument("--truncation", type=truncation_level, default=DEFAULT_TRUNCATION, metavar="T",
                        help="sticks of the truncated DP, >= 2 and <= the number of rows (default %(default)s); "
                             "raise it when the truncation check warns")
    parser.add_argument("--alpha-shape", type=alpha_shape, default=ALPHA_SHAPE, metavar="A",
                        help="shape a of the concentration's prior alpha ~ Gamma(a, b), > 0 (default %(default)g)")
    parser.add_argument("--alpha-rate", type=alpha_rate, default=ALPHA_RATE, metavar="B",
                        help="rate b of alpha ~ Gamma(a, b), > 0 (default %(default)g; prior mean a/b)")


# --------------------------------------------------------------------------- data


def datasets(ctx) -> list[Table]:
    """Old Faithful and bdims height/weight, or the first two chosen columns of ``--data``; ties checked."""
    if ctx.settings.data:
        return [load_faithful(ctx)]
    bdims = load_dataset("bdims").select(["height_cm", "weight_kg"])
    values = mixture_ready(ctx, bdims.values, bdims.columns, dataset="bdims", user=False)
    return [load_faithful(ctx),
            Table("bdims", values, tuple(bdims.columns), tuple(axis_label(c) for c in bdims.columns))]


# --------------------------------------------------------------------------- posterior summaries


def alpha_summary(alpha: np.ndarray) -> dict:
    """Posterior mean, sd, median and 90 % interval (5 %, 95 % quantiles) of α draws (any shape)."""
    a = np.ravel(alpha)
    lo, median, hi = np.quantile(a, [0.05, 0.5, 0.95])
    return {"mean": float(a.mean()), "sd": float(a.std(ddof=1)), "median": float(median),
            "interval_90": [float(lo), float(hi)]}


def alpha_draw_error(idata, prior: DPPrior) -> float:
    """Standard error of (mean of one α draw per posterior draw) − (mean of E[α | r]) over the S
    draws: given r each α draw has variance shape/rate², so ``sqrt(mean(shape/rate²) / S)``."""
    r = idata.posterior["v_raw"].transpose("chain", "draw", "stick").values
    shape, rate = alpha_conditional(r, prior)
    return float(np.sqrt(np.mean(shape / rate**2) / shape.size))


def mixture_density(points: np.ndarray, w: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Posterior-mean predictive density at ``points`` (G, D): the average over S draws of
    Σ_t w_t N(x | μ_t, Σ_t); w (S, T), mu (S, T, D), cov (S, T, D, D). Returns (G,)."""
    out = np.zeros(points.shape[0])
    for ws, ms, cs in zip(w, mu, cov):
        out += np.exp(gmm.gmm_logpdf(points, ws, ms, cs))
    return out / len(w)


def narrowest_on_ties(x: np.ndarray, cov: np.ndarray, w: np.ndarray, ties) -> dict:
    """For each heavily tied column (:func:`models.ties.tie_report`): the posterior median, over
    draws, of the smallest sd among the active components (weight > 1 %) in that column, divided
    by the rounding step (the heaps' spacing, else the smallest gap between distinct values).
    Below 1/2 a component sits on one or two rounded values: it has collapsed onto tied points
    rather than fitted a cluster.

    x : (N, D) the data fitted; cov : (S, T, D, D) in data units; w : (S, T); ties : one
    :class:`models.ties.ColumnTies` per column. Returns {column: {"step", "median_min_sd", "ratio"}}.
    """
    out = {}
    for j, column in enumerate(ties):
        if not column.heavy:
            continue
        step = column.step or float(np.min(np.diff(np.unique(x[:, j]))))
        sd = np.sqrt(cov[..., j, j])
        smallest = np.min(np.where(w > ACTIVE_WEIGHT, sd, np.inf), axis=-1)            # (S,)
        median = float(np.median(smallest))
        out[column.column] = {"step": step, "median_min_sd": median, "ratio": median / step}
    return out


def thin(n_total: int, n: int) -> np.ndarray:
    """``n`` evenly spaced indices of ``n_total`` flattened draws (all of them when fewer)."""
    return np.unique(np.linspace(0, n_total - 1, min(n, n_total)).round().astype(int))


# --------------------------------------------------------------------------- the comparisons


def sklearn_dp(x: np.ndarray, truncation: int, concentration: float, *, seed: int, n_init: int,
               max_iter: int = SKLEARN_MAX_ITER) -> dict:
    """scikit-learn's variational DP mixture of ``x`` (N, D): full covariances, ``truncation``
    components, ``weight_concentration_prior = concentration``, ``n_init`` k-means starts (the
    best lower bound kept), seeded. scikit-learn is imported here only (a test/benchmark
    dependency, not a runtime one).

    Returns
    -------
    dict: ``run`` True, ``n_active`` (weights > 1 %), ``weights_sorted`` (T,), ``means`` (T, D)
    and ``covariances`` (T, D, D) in the same order, ``converged``, ``n_iter``, ``lower_bound``
    and the settings; or ``run`` False and ``reason`` (how to install it) when scikit-learn is
    missing.
    """
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture
    except ImportError:
        return {"run": False, "reason": "scikit-learn is not installed, so the comparison with its variational DP "
                                        "was not run; install it with pip install -e '.[test]' (or pip install "
                                        "scikit-learn) and run again"}
    bgm = BayesianGaussianMixture(n_components=truncation, covariance_type="full",
                                  weight_concentration_prior_type="dirichlet_process",
                                  weight_concentration_prior=concentration, n_init=n_init, max_iter=max_iter,
                                  random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)     # reported through ``converged``
        bgm.fit(x)
    order = np.argsort(-bgm.weights_, kind="stable")
    weights = bgm.weights_[order]
    return {"run": True, "n_active": int(np.sum(weights > ACTIVE_WEIGHT)), "weights_sorted": weights,
            "means": bgm.means_[order], "covariances": bgm.covariances_[order], "converged": bool(bgm.converged_),
            "n_iter": int(bgm.n_iter_), "lower_bound": float(bgm.lower_bound_),
            "settings": {"n_components": truncation, "weight_concentration_prior": float(concentration),
                         "n_init": n_init, "max_iter": max_iter, "random_state": seed, "covariance_type": "full"}}


def bic_table(x: np.ndarray, ks, *, seed: int, n_init: int = EM_INIT) -> dict:
    """BIC of the project's EM fit (full covariances, ``n_init`` k-means++ starts, seeded, tolerance
    :data:`EM_TOL`) for each K
    in ``ks``; a K whose fit collapsed (:class:`models.em.EMCollapseWarning`) is left out and listed.

    Returns dict: ``bic`` {K: value}, ``best`` (the K of the lowest BIC), ``collapsed`` [K, ...].
    """
    fits, collapsed = em_bic_over_k(x, ks, seed=seed, n_init=n_init, tol=EM_TOL, max_iter=500)
    values = {k: score for k, (_, score) in fits.items()}
    return {"bic": values, "best": int(min(values, key=values.get)), "collapsed": collapsed}


def choosing_k_answer(out: Path, settings: dict, dataset: str, *, shipped_default: str = "faithful") -> dict:
    """choosing_k's LOO answer from ``<out>/choosing_k/record.json``, when it ran on the same data.

    settings : this run's record settings (``data``, ``data_sha256``, ``columns``, ``dropna``,
        ``dequantize``, ``seed``); dataset : the data set's name here. choosing_k fits Old Faithful
        (``shipped_default``) without ``--data``, the first two chosen columns with it.

    Returns dict: ``available`` True with ``k`` (LOO's preferred K), ``indistinguishable`` (the K
    within two standard errors of it), ``ks``, ``quick``, ``covariance_type``, ``failed_checks``
    (the quantities of choosing_k's failed checks: its answer is then not to be trusted); or
    ``available`` False with ``reason`` and ``command`` (what to run to get it).
    """
    data = settings.get("data")
    options = "".join(f" --{key} {settings[key]}" for key in ("columns", "dequantize") if settings.get(key))
    options += " --dropna" if settings.get("dropna") else ""
    if data:
        command = f"python -m analyses choosing_k dp_mixture --data {data}{options} --out {out}"
    elif dataset == shipped_default:
        command = f"python -m analyses choosing_k dp_mixture --out {out}"
    else:
        command = (f"python -m analyses choosing_k dp_mixture --data {dataset} --columns height_cm,weight_kg "
                   f"--out {out}" if dataset == "bdims" else f"python -m analyses choosing_k --data FILE --out {out}")
    missing = {"available": False, "command": command}
    if not data and dataset != shipped_default:
        return missing | {"reason": f"choosing_k fits {shipped_default} unless given --data; its LOO answer for "
                                    f"{dataset} needs both analyses run with --data {dataset}"}
    path = Path(out) / "choosing_k" / "record.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return missing | {"reason": f"no choosing_k record in {out}"}
    theirs = record.get("settings", {})
    keys = SAME_DATA_KEYS + (("seed",) if settings.get("dequantize") else ())   # dequantization noise is seeded
    differ = [key for key in keys if theirs.get(key) != settings.get(key)]
    if differ:
        shown = ", ".join(f"{key} {theirs.get(key)!r} (here {settings.get(key)!r})" for key in differ)
        return missing | {"reason": f"choosing_k's record in {out} ran on other data: {shown}"}
    extra = record.get("extra", {})
    try:
        k = int(extra["preferred"]["LOO"])
    except (KeyError, TypeError, ValueError):
        return missing | {"reason": f"choosing_k's record in {out} holds no LOO answer"}
    failed = [c.get("quantity", "?") for c in record.get("checks", []) if not c.get("passed")]
    return {"available": True, "k": k, "indistinguishable": [int(v) for v in extra.get("loo_indistinguishable", [])],
            "ks": extra.get("ks"), "quick": bool(theirs.get("quick")),
            "covariance_type": extra.get("covariance_type"), "finish_time": record.get("finish_time"),
            "failed_checks": failed}


def comparison_text(dataset: str, dp: dict, sklearn: dict, bic_k: int, loo: dict) -> tuple[str, list[str]]:
    """One verdict sentence and the reasons for each disagreement with the DP's answer.

    dp : ``posterior`` {K: probability} of the number of active components; sklearn :
    :func:`sklearn_dp`'s dict; bic_k : BIC's K; loo : :func:`choosing_k_answer`'s dict.
    """
    posterior = {int(k): float(p) for k, p in dp["posterior"].items()}
    mode = max(posterior, key=posterior.get)
    answers = {"BIC (EM)": bic_k}
    if sklearn.get("run"):
        answers["scikit-learn VB"] = int(sklearn["n_active"])
    if loo.get("available"):
        answers["LOO (choosing_k)"] = int(loo["k"])
    shown = "; ".join(f"{name} K = {k}" for name, k in answers.items())
    dp_text = (f"{dataset}: the DP posterior puts {100 * posterior[mode]:.0f} % on {mode} active components "
               f"(weight > 1 %)")
    differ = {name: k for name, k in answers.items() if k != mode}
    if not differ:
        verdict = f"{dp_text}; {shown}: all agree on K = {mode}."
    else:
        verdict = f"{dp_text}; {shown}: " + ", ".join(
            f"{name} disagrees (K = {k}, DP posterior probability {100 * posterior.get(k, 0.0):.0f} %)"
            for name, k in differ.items()) + "."
    runner_up = sorted(posterior, key=posterior.get)[-2] if len(posterior) > 1 else None
    if runner_up is not None and posterior[runner_up] >= 0.1:
        verdict += (f" The DP also gives {100 * posterior[runner_up]:.0f} % to K = {runner_up}: an uncertainty that "
                    "the single K of BIC, LOO or scikit-learn's point estimate cannot express.")
    missing = []
    if loo.get("available") and loo.get("failed_checks"):
        failed = loo["failed_checks"]
        missing.append(f"{dataset}: choosing_k's LOO answer (K = {loo['k']}) comes from a run with {len(failed)} "
                       f"failed check(s) ({'; '.join(failed[:3])}{'; ...' if len(failed) > 3 else ''}): not to be trusted "
                       "until choosing_k passes.")
    if not sklearn.get("run"):
        missing.append(f"{dataset}: scikit-learn comparison NOT RUN: {sklearn.get('reason')}.")
    if not loo.get("available"):
        missing.append(f"{dataset}: choosing_k's LOO answer not available ({loo.get('reason')}); to get it: "
                       f"{loo.get('command')}.")
    reasons = []
    for name, k in differ.items():
        direction = "fewer" if k < mode else "more"
        if name.startswith("BIC"):
            reasons.append(
                f"{dataset}: BIC picks one K with {direction} components than the DP's mode: BIC charges every "
                "full-covariance component its parameters times ln N, a penalty for complexity that ignores how much weight the "
                "component carries, while the DP's count includes any component above 1 % — a small one that "
                "mends a non-Gaussian cluster shape costs the DP only its stick-breaking prior, whose penalty "
                "on extra components grows with small α (the Gamma prior's mode is α = 0).")
        elif name.startswith("scikit-learn"):
            reasons.append(
                f"{dataset}: scikit-learn's variational DP reports {direction} components: it is one local "
                "optimum of a mean-field approximation, which underestimates posterior uncertainty and cannot say 'K or K+1 "
                "with these probabilities'; its concentration is fixed (here at the prior mean a/b) where the "
                "NUTS fit learns α, and its priors on the components are scikit-learn's data-based defaults, "
                "not the project's weak prior.")
        else:
            reasons.append(
                f"{dataset}: LOO prefers {direction} components: it ranks predictive accuracy, not the number of "
                "clusters; K values whose elpd lies within two standard errors of the best "
                f"({', '.join(map(str, loo.get('indistinguishable', []))) or 'none'}) are not distinguishable, and a "
                "nearly empty extra component changes the predictive density little.")
    return verdict, missing + reasons


# --------------------------------------------------------------------------- figures


def figure_components_alpha(name, posterior, alpha, prior: DPPrior, w_sorted, sklearn, bic_k, loo) -> Figure:
    """(a) Posterior of the number of active components, with the other methods' K; α's posterior
    with its prior; the sorted weights (median and 90 % interval) with scikit-learn's."""
    fig = Figure(figsize=(15, 4.4))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    t = prior.truncation
    ks = np.arange(1, t + 1)
    ax1.bar(ks, [posterior.get(int(k), 0.0) for k in ks], color=CATEGORY_COLORS[0], alpha=0.8,
            label="DP posterior (NUTS)")
    marks = [("BIC (EM)", bic_k, CATEGORY_COLORS[1], "--")]
    if sklearn.get("run"):
        marks.append(("scikit-learn VB", sklearn["n_active"], CATEGORY_COLORS[2], ":"))
    if loo.get("available"):
        marks.append(("LOO (choosing_k)", loo["k"], CATEGORY_COLORS[4], "-."))
    for i, (label, k, color, style) in enumerate(marks):
        ax1.axvline(k + 0.08 * (i - 1), color=color, ls=style, lw=2, label=f"{label}: K = {k}")
    ax1.set(xlabel="components with weight > 1 %", ylabel="posterior probability", xticks=ks, ylim=(0, 1.05),
            title=f"{name}: how many components")
    ax1.legend(fontsize=7)

    a = np.ravel(alpha)
    hi = float(np.quantile(a, 0.995))
    grid = np.linspace(1e-4, max(hi, 3 * prior.alpha_shape / prior.alpha_rate), 400)
    ax2.hist(a, bins=60, range=(0, hi), density=True, color=CATEGORY_COLORS[0], alpha=0.6, label="posterior")
    ax2.plot(grid, stats.gamma.pdf(grid, prior.alpha_shape, scale=1 / prior.alpha_rate), color=CATEGORY_COLORS[1],
             lw=2, label=f"prior Gamma({prior.alpha_shape:g}, {prior.alpha_rate:g})")
    for q in np.quantile(a, [0.05, 0.95]):
        ax2.axvline(q, color="k", lw=0.8, ls=":")
    ax2.set(xlim=(0, grid[-1]), xlabel="concentration α", ylabel="density",
            title=f"α: mean {a.mean():.2f}, 90 % interval {np.quantile(a, 0.05):.2f}–{np.quantile(a, 0.95):.2f}")
    ax2.legend(fontsize=7)

    ws = np.reshape(w_sorted, (-1, t))
    lo, med, up = np.quantile(ws, [0.05, 0.5, 0.95], axis=0)
    floor = 1e-6
    ranks = np.arange(1, t + 1)
    ax3.errorbar(ranks, np.maximum(med, floor), yerr=[np.maximum(med, floor) - np.maximum(lo, floor),
                                                    np.maximum(up, floor) - np.maximum(med, floor)],
                 fmt="o", color=CATEGORY_COLORS[0], capsize=3, label="DP posterior: median, 90 %")
    if sklearn.get("run"):
        ax3.plot(ranks, np.maximum(sklearn["weights_sorted"], floor), "s", mfc="none", color=CATEGORY_COLORS[2],
                 label="scikit-learn VB")
    ax3.axhline(ACTIVE_WEIGHT, color="k", lw=0.8, ls="--", label="1 % (active)")
    ax3.set(yscale="log", ylim=(floor / 2, 1.5), xticks=ranks, xlabel="rank (largest weight first, per draw)",
            ylabel="weight", title="sorted weights (ranks are not labels)")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _ellipse(ax, mean, cov, color, **kw):
    vals, vecs = np.linalg.eigh(cov)
    angle = float(np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1])))
    ax.add_patch(Ellipse(mean, 2 * 2 * np.sqrt(vals[-1]), 2 * 2 * np.sqrt(vals[0]), angle=angle, fill=False,
                         color=color, **kw))


def figure_density(t: Table, params: dict, sklearn: dict) -> Figure:
    """(b) The data with the posterior-mean predictive density; the 2-sd ellipses of the active
    components of a few draws (and of scikit-learn's fit)."""
    x = t.values
    w, mu, cov = (params[k].reshape((-1,) + params[k].shape[2:]) for k in ("w", "mu", "cov"))
    fig = Figure(figsize=(13, 5.5))
    ax1, ax2 = fig.subplots(1, 2, sharex=True, sharey=True)
    gx, gy, pts = grid_for(x)
    pick = thin(len(w), DENSITY_DRAWS)
    dens = mixture_density(pts, w[pick], mu[pick], cov[pick]).reshape(gx.shape)
    ax1.scatter(x[:, 0], x[:, 1], s=7, color="0.55")
    ax1.contour(gx, gy, dens, levels=8, colors=CATEGORY_COLORS[0], linewidths=0.9)
    ax1.plot([], [], color=CATEGORY_COLORS[0], label=f"DP posterior-mean predictive density ({len(pick)} draws)")
    if sklearn.get("run"):
        sk = np.exp(gmm.gmm_logpdf(pts, sklearn["weights_sorted"], sklearn["means"], sklearn["covariances"]))
        ax1.contour(gx, gy, sk.reshape(gx.shape), levels=8, colors=CATEGORY_COLORS[2], linewidths=0.8,
                    linestyles="--")
        ax1.plot([], [], color=CATEGORY_COLORS[2], ls="--", label="scikit-learn VB density")
    ax1.set(xlabel=t.labels[0], ylabel=t.labels[1], title=f"{t.name}: predictive density")
    ax1.legend(fontsize=7, loc="upper left")

    ax2.scatter(x[:, 0], x[:, 1], s=7, color="0.55")
    for s in thin(len(w), ELLIPSE_DRAWS):
        for k in np.flatnonzero(w[s] > ACTIVE_WEIGHT):
            _ellipse(ax2, mu[s, k], cov[s, k], CATEGORY_COLORS[0], lw=0.6, alpha=0.35)
    ax2.plot([], [], color=CATEGORY_COLORS[0], lw=0.6, label=f"active components of {ELLIPSE_DRAWS} draws (2 sd)")
    if sklearn.get("run"):
        for k in np.flatnonzero(sklearn["weights_sorted"] > ACTIVE_WEIGHT):
            _ellipse(ax2, sklearn["means"][k], sklearn["covariances"][k], CATEGORY_COLORS[1], lw=1.6, ls="--")
        ax2.plot([], [], color=CATEGORY_COLORS[1], ls="--", lw=1.6, label="scikit-learn VB components > 1 %")
    # The data's range: an occasional broad low-weight component would otherwise widen both panels.
    ax2.set(xlabel=t.labels[0], title="components: posterior draws' ellipses", xlim=(gx.min(), gx.max()),
            ylim=(gy.min(), gy.max()))
    ax2.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- one data set


def study(ctx, t: Table, prior: DPPrior, index: int) -> dict:
    x = t.values
    nuts = NUTS_QUICK if ctx.quick else NUTS_FULL
    seed = ctx.seed + index
    start = time.perf_counter()
    model = gmm_dp_model(x, truncation=prior.truncation, alpha_shape=prior.alpha_shape,
                         alpha_rate=prior.alpha_rate, columns=t.columns)
    idata = sample_dp_posterior(model, draws=nuts["draws"], tune=nuts["tune"], chains=2, seed=seed,
                                progressbar=ctx.progressbar)
    nuts_seconds = time.perf_counter() - start
    diagnostics = diagnose_dp(idata, prior, ess_min=QUICK_ESS_MIN if ctx.quick else None)
    label = f"{t.name}: DP NUTS, label-invariant ({', '.join(GATED)})"
    if ctx.quick:
        label += f", quick run: ESS >= {QUICK_ESS_MIN}"
    gated = ctx.record_diagnostics(label, diagnostics, dataset=t.name)

    # PyMC's per-draw log-likelihood (standardized units) against numpy in data units.
    spec = model.gmm_spec
    params = posterior_parameters(idata, spec)
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in params.items()}
    pick = thin(len(flat["w"]), TIE_OUT_DRAWS)
    pymc_ll = (idata.log_likelihood["x"].stack(s=("chain", "draw")).transpose("s", ...).values[pick].sum(axis=1)
               + x.shape[0] * spec.standardization.log_jacobian)
    numpy_ll = np.array([gmm.gmm_log_likelihood(x, flat["w"][s], flat["mu"][s], flat["cov"][s]) for s in pick])
    ctx.check(f"{t.name}: log-likelihood of {len(pick)} posterior draws", pymc_ll, numpy_ll,
              method="gmm_dp_model's log_likelihood (PyTensor, standardized + Jacobian)",
              reference="models.gmm.gmm_log_likelihood (numpy, data units)", rtol=1e-9, dataset=t.name,
              basis="1e-9 relative: round-off")

    for column, found in narrowest_on_ties(x, flat["cov"], flat["w"], tie_report(x, t.columns)).items():
        ctx.check_bound(f"{t.name}: narrowest active component's sd in {column} / rounding step",
                        found["ratio"], COLLAPSE_RATIO, kind=">=", method="DP posterior (median over draws)",
                        dataset=t.name, basis=f"a component with sd < {COLLAPSE_RATIO:g} step sits on one or two "
                                              "rounded values: collapsed onto tied points",
                        note=f"heavy ties, step {found['step']:g}")
        if found["ratio"] < COLLAPSE_RATIO:
            ctx.log(f"WARNING: {t.name}: a DP component has collapsed onto the tied values of {column} (sd "
                    f"{found['median_min_sd']:.3g} < {COLLAPSE_RATIO:g} x step {found['step']:g}); rerun with "
                    "--dequantize and the widths the ties WARNING above names")

    alpha = alpha_draws(idata, prior, seed=seed)
    invariant = label_invariant_draws(idata, prior)
    ctx.check(f"{t.name}: posterior mean of α, draws vs E[α | r]", float(alpha.mean()),
              float(invariant["alpha_mean"].mean()), method="alpha_draws (one Gamma draw per posterior draw)",
              reference="mean of E[α | r] = (a + T - 1) / (b + Σ r)", atol=Z_MC * alpha_draw_error(idata, prior),
              dataset=t.name, basis=f"{Z_MC:g} MCSE of the conditional draws",
              note="given r each α draw has variance shape/rate²; catches a shape/rate mix-up")
    posterior = active_component_posterior(idata)
    mode = max(posterior, key=posterior.get)
    alpha_stats = alpha_summary(alpha)
    truncation = truncation_check(idata, prior, seed=seed, warn=False)
    ctx.check_bound(f"{t.name}: truncation, E[w_T | α] averaged over α's posterior",
                    truncation["expected_last_weight"], TRUNCATION_TOL, kind="<=", method=f"truncation_check (T = {prior.truncation})", dataset=t.name,
                    probability=True, basis=f"the last stick's expected weight below {TRUNCATION_TOL:g}: the "
                                            "truncation leaves out a negligible share of the DP")
    if not truncation["adequate"]:
        ctx.log(f"WARNING: {t.name}: the truncation T = {prior.truncation} may cut the DP short: E[w_T] = "
                f"{truncation['expected_last_weight']:.2g} >= {TRUNCATION_TOL:g}; raise it, e.g. "
                f"--truncation {2 * prior.truncation}, and run again")
    shown = ", ".join(f"{k}: {100 * p:.3g} %" for k, p in posterior.items())
    ctx.log(f"{t.name}: active components (weight > 1 %) {shown}; α mean {alpha_stats['mean']:.3f}, 90 % interval "
            f"{alpha_stats['interval_90'][0]:.3f}-{alpha_stats['interval_90'][1]:.3f}; E[w_T] "
            f"{truncation['expected_last_weight']:.2g}; NUTS {nuts_seconds:.1f} s "
            f"(2 x {nuts['draws']} draws after {nuts['tune']}; EM starts with K = {idata.attrs['start_components']})")

    concentration = prior.alpha_shape / prior.alpha_rate
    sk = sklearn_dp(x, prior.truncation, concentration, seed=seed,
                    n_init=SKLEARN_INIT_QUICK if ctx.quick else SKLEARN_INIT_FULL)
    if sk["run"]:
        ctx.log(f"{t.name}: scikit-learn VB DP: {sk['n_active']} components > 1 %, sorted weights "
                + ", ".join(f"{w:.3f}" for w in sk["weights_sorted"][: max(sk["n_active"] + 1, 3)])
                + f"; converged {sk['converged']} in {sk['n_iter']} iterations")
        if not sk["converged"]:
            ctx.log(f"WARNING: {t.name}: scikit-learn did not converge in {sk['settings']['max_iter']} iterations")
    else:
        ctx.log(f"WARNING: {t.name}: {sk['reason']}")
    bics = bic_table(x, range(1, prior.truncation), seed=seed)
    if bics["collapsed"]:
        ctx.log(f"{t.name}: EM collapsed at K = {bics['collapsed']} (left out of the BIC table)")
    ctx.log(f"{t.name}: BIC (EM, full covariances) prefers K = {bics['best']}")
    loo = choosing_k_answer(ctx.settings.out, record_data_settings(ctx), t.name)
    verdict, reasons = comparison_text(t.name, {"posterior": posterior}, sk, bics["best"], loo)
    for line in [verdict] + reasons:
        ctx.log(line)

    w_sorted = invariant["w_sorted"].values
    ctx.save_figure(figure_components_alpha(t.name, posterior, alpha, prior, w_sorted, sk, bics["best"], loo),
                    f"{t.name}_components_alpha.png")
    ctx.save_figure(figure_density(t, params, sk), f"{t.name}_density.png")
    idata.posterior["alpha"] = (("chain", "draw"), alpha[..., 0])
    for name in ("alpha_mean", "w_sorted", "n_active", "log_lik"):
        idata.posterior[f"invariant_{name}"] = invariant[name]
    del idata.log_likelihood                                                 # N x draws: large, and not needed again
    ctx.save_netcdf(idata, f"{t.name}_dp_posterior.nc")
    return {"n_rows": int(x.shape[0]), "prior": {"truncation": prior.truncation, "alpha_shape": prior.alpha_shape,
                                                  "alpha_rate": prior.alpha_rate},
            "nuts": {**nuts, "chains": 2, "seed": seed, "seconds": round(nuts_seconds, 2),
                     "start_components": idata.attrs["start_components"], "gated": bool(gated)},
            "active_components": {"posterior": posterior, "mode": int(mode),
                                  "mean": float(sum(k * p for k, p in posterior.items()))},
            "alpha": alpha_stats, "truncation": truncation,
            "w_sorted": {"mean": w_sorted.mean(axis=(0, 1)), "q05": np.quantile(w_sorted, 0.05, axis=(0, 1)),
                         "q95": np.quantile(w_sorted, 0.95, axis=(0, 1))},
            "sklearn": {k: v for k, v in sk.items() if k not in ("means", "covariances")},
            "bic": bics, "loo": loo, "verdict": verdict, "reasons": reasons}


def record_data_settings(ctx) -> dict:
    """The settings that say which data a record used, as the runner records them."""
    s = ctx.settings
    return {"data": s.data, "data_sha256": data_sha256(s.data), "columns": s.columns, "dropna": s.dropna or None,
            "dequantize": s.dequantize, "seed": s.seed}


def run(ctx) -> None:
    tables = datasets(ctx)
    priors = {}
    for t in tables:                           # T > N is refused here, before any model is built
        try:
            priors[t.name] = dp_prior(ctx.options["truncation"], ctx.options["alpha_shape"],
                                      ctx.options["alpha_rate"], n_obs=t.values.shape[0])
        except DataError as exc:
            raise DataError(f"dp_mixture on {t.name}: {exc} (--truncation)") from None

    @explains_ties
    def fit_all(ctx) -> None:
        for i, t in enumerate(tables):
            ctx.extra[t.name] = study(ctx, t, priors[t.name], i)
        notes = [line for t in tables for line in [ctx.extra[t.name]["verdict"]] + ctx.extra[t.name]["reasons"]]
        ctx.extra["notes"] = notes
        ctx.extra["identification"] = (
            "The convergence gate and every answer use label-invariant quantities (per-draw log-likelihood, "
            "E[alpha | r], weights sorted by size, the number of components > 1 %): the stick-breaking components "
            "are only weakly ordered by the prior, so a cluster can sit on different sticks in different chains; "
            "ordering components by expected weight is not an identification (clusters of similar weight swap "
            "ranks between draws).")

    fit_all(ctx)


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
