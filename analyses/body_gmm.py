"""Body measurements, K = 2: the complete-data fit (sex known) against the marginal fit (sex hidden).

Height and weight of 507 physically active adults (``bdims``), with sex recorded. Seed 000: "if z
is observed the log-sum disappears" — so the two fits differ only in whether z is known:

1. **Complete data** (z = sex observed): the MLE is closed form — class proportions, class
   means, class covariances (/N_k) — and the MAP of the PyMC complete-data model with flat
   priors equals it to 1e-6.
2. **Marginal** (z hidden): EM from k-means++ (tight tolerance, no ridge) and the flat-prior MAP
   of the PyMC marginal model agree (log-likelihood to 1e-6 relative, parameters to 1e-4 in
   standardized units). The marginal log-likelihood at the complete-data MLE is below the
   marginal maximum (the MLE maximizes it; the sexes overlap, so the clusters are not the sexes).
3. **Clustering vs sex**: each person goes to the component with the larger responsibility at the
   marginal MAP; the adjusted Rand index of that clustering against sex is reported (checked
   against a direct pair count), with the misclassification rate after matching labels.

``--data FILE``: the first two columns (or those named by ``--columns``), with the known groups
from ``--labels COLUMN`` (two groups, text or numbers, e.g. ``--labels sex``); without
``--labels`` only the marginal fit runs. Ties are checked before fitting and ``--dequantize``
removes them (:func:`analyses.common.mixture_ready`).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from analyses.common import (
    CATEGORY_COLORS,
    DataNeeds,
    axis_label,
    density_contour,
    explains_ties,
    mixture_ready,
    round_off,
    user_data,
)
from models import gmm, gmm_metrics
from models.data import load_dataset
from models.em import fit_em
from models.gmm_builders import gmm_complete_data_model, gmm_marginal_model
from models.gmm_fitting import fit_gmm_map
from models.gmm_metrics import adjusted_rand_index
from models.validation import DataError

TITLE = "Body GMM: complete-data fit (sex known) vs marginal fit (sex hidden), and the adjusted Rand index"

SEX = ("female", "male")
#: Two chosen columns of --data, --labels with two groups, --dequantize.
DATA = DataNeeds(columns=2, label_groups=2, dequantize=True)
RTOL_LOGLIK = 1e-6
ATOL_PARAMS_STD = 1e-4


def load_body(ctx):
    """(name, x (N, 2), labels (N,) or None, group names, what the groups are, column names, axis
    labels): bdims with sex, or the first two chosen columns of ``--data`` with the ``--labels``
    groups; ties checked first."""
    if ctx.settings.data:
        ds = user_data(ctx)
        if ds.values.shape[1] < 2:
            raise DataError(f"{ds.source} has {ds.values.shape[1]} column(s); body_gmm needs two.")
        groups = ds.label_names
        if ds.labels is not None and len(groups) != 2:
            raise DataError(f"--labels {ds.label_column} has {len(groups)} group(s) ({', '.join(groups)}); body_gmm "
                            "compares 2.")
        if ds.labels is None:
            ctx.log("no --labels: only the marginal fit runs (name a column of two groups with --labels COLUMN "
                    "for the complete-data fit)")
    else:
        ds, groups = load_dataset("bdims", columns=["height_cm", "weight_kg"], labels="male"), SEX
    what = ds.label_column if ctx.settings.data else "sex"
    pair = ds.select([0, 1])
    cols = tuple(pair.columns)
    x = mixture_ready(ctx, pair.values, cols, dataset=ds.name, user=bool(ctx.settings.data))
    return ds.name, x, ds.labels, tuple(groups), what, cols, tuple(axis_label(c) for c in cols)


def rand_index_by_pairs(a, b) -> float:
    """Adjusted Rand index by counting every pair directly (the reference for the contingency formula)."""
    i, j = np.triu_indices(a.size, k=1)
    same_a, same_b = a[i] == a[j], b[i] == b[j]
    index = np.sum(same_a & same_b)
    n_pairs = i.size
    expected = np.sum(same_a) * np.sum(same_b) / n_pairs
    return float((index - expected) / (0.5 * (np.sum(same_a) + np.sum(same_b)) - expected))


def describe(w, mu, cov, columns) -> dict:
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    return {"weights": w, "means": {c: mu[:, j] for j, c in enumerate(columns)},
            "sds": {c: sd[:, j] for j, c in enumerate(columns)}, "correlations": cov[:, 0, 1] / (sd[:, 0] * sd[:, 1])}


def figure_fits(name, x, z, groups, what, labels, complete, marginal, clusters, ari, wrong) -> Figure:
    fig = Figure(figsize=(13, 5.5))
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    panels = []
    if complete is not None:
        panels.append((axes[0], z, [f"{groups[k]} (z = {k})" for k in range(2)], complete,
                       "complete data: groups known, closed-form MLE"))
    panels.append((axes[-1] if complete is not None else axes[0], clusters,
                   [f"cluster {k}" for k in range(2)], marginal, "marginal: groups hidden, MAP == EM MLE"))
    for ax, lab, names, (w, mu, cov), title in panels:
        for k in range(2):
            ax.scatter(x[lab == k, 0], x[lab == k, 1], s=9, alpha=0.6, color=CATEGORY_COLORS[k], label=names[k])
        density_contour(ax, x, w, mu, cov, label="fitted mixture density", levels=7)
        ax.set(title=title, xlabel=labels[0], ylabel=labels[1])
    if wrong is not None:
        axes[1].scatter(x[wrong, 0], x[wrong, 1], marker="x", s=18, color="k", lw=0.8,
                        label=f"cluster ≠ {what} ({wrong.sum()} rows)")
    for ax in axes:
        ax.legend(fontsize=8, loc="upper left")
    suffix = f"; adjusted Rand index of clusters vs {what} = {ari:.3f}" if ari is not None else ""
    fig.suptitle(f"{name}: two-component GMM of height and weight{suffix}")
    fig.tight_layout()
    return fig


@explains_ties
def run(ctx) -> None:
    name, x, z, groups, what, columns, labels = load_body(ctx)
    scale = x.std(axis=0)
    ctx.log(f"data: {name} ({x.shape[0]} rows; {labels[0]}, {labels[1]}; labels: {'yes' if z is not None else 'no'})")

    complete = None
    if z is not None:
        w_c, mu_c, cov_c = gmm.complete_data_mle(x, z, 2)
        fit_c = fit_gmm_map(gmm_complete_data_model(x, z, 2, columns=columns), start=None, gtol=1e-9)
        method = "MAP of gmm_complete_data_model (flat priors, BFGS)"
        reference = "closed-form complete-data MLE (models.gmm)"
        converged = "1e-6 relative: optimizer convergence (BFGS gtol 1e-9)"
        ctx.check("complete data: weights", fit_c.weights, w_c, method=method, reference=reference, rtol=1e-6,
                  dataset=name, basis=converged, probability=True)
        ctx.check("complete data: means", fit_c.means, mu_c, method=method, reference=reference, rtol=1e-6,
                  dataset=name, basis=converged)
        ctx.check("complete data: covariances", fit_c.covariances, cov_c, method=method, reference=reference,
                  rtol=1e-6, dataset=name, basis=converged)
        complete = (w_c, mu_c, cov_c)

    em = fit_em(x, 2, seed=ctx.seed, tol=1e-12, max_iter=50_000, reg_covar=0.0)
    fit_m = fit_gmm_map(gmm_marginal_model(x, 2, priors="flat", columns=columns), start="kmeans++", seed=ctx.seed,
                        gtol=1e-9)
    method, reference = "MAP of gmm_marginal_model (flat priors)", "EM MLE (k-means++, tol 1e-12)"
    converged = "optimizer convergence (BFGS gtol 1e-9, EM tol 1e-12)"
    ctx.check("marginal: log-likelihood", fit_m.log_likelihood, em.log_likelihood, method=method,
              reference=reference, rtol=RTOL_LOGLIK, dataset=name, basis=f"{RTOL_LOGLIK:g} relative: {converged}")
    perm = gmm_metrics.match_components(em.means / scale, fit_m.means / scale)
    params = f"{ATOL_PARAMS_STD:g} standardized: {converged}"
    ctx.check("marginal: weights", fit_m.weights[perm], em.weights, method=method, reference=reference,
              atol=ATOL_PARAMS_STD, dataset=name, basis=params, probability=True)
    ctx.check("marginal: means / sd", fit_m.means[perm] / scale, em.means / scale, method=method,
              reference=reference, atol=ATOL_PARAMS_STD, dataset=name, note="standardized units", basis=params)
    ctx.check("marginal: covariances / (sd sdᵀ)", fit_m.covariances[perm] / np.outer(scale, scale),
              em.covariances / np.outer(scale, scale), method=method, reference=reference, atol=ATOL_PARAMS_STD,
              dataset=name, note="standardized units", basis=params)

    resp = gmm.responsibilities(x, fit_m.weights, fit_m.means, fit_m.covariances)
    clusters = np.argmax(resp, axis=1)
    marginal = (fit_m.weights, fit_m.means, fit_m.covariances)
    extra = {"marginal_fit": describe(*marginal, columns), "marginal_log_likelihood": fit_m.log_likelihood}
    ari = wrong = None
    if z is not None:
        at_complete = gmm.gmm_log_likelihood(x, *complete)
        ctx.check_bound("marginal log-likelihood: maximum minus value at the complete-data MLE",
                        fit_m.log_likelihood - at_complete, 0.0, kind=">=", method="models.gmm.gmm_log_likelihood",
                        dataset=name, note="the marginal MLE maximizes the marginal likelihood",
                        basis="theorem: the MLE maximizes the likelihood")
        ari = adjusted_rand_index(clusters, z)
        ctx.check(f"adjusted Rand index, MAP clusters vs {what}", ari, rand_index_by_pairs(clusters, z),
                  method="contingency table (models.gmm_metrics.adjusted_rand_index)",
                  reference="direct count over all N(N-1)/2 pairs", rtol=1e-12, dataset=name,
                  basis=round_off(1e-12))
        match = gmm_metrics.match_components(mu_c / scale, fit_m.means / scale)      # cluster match[k] ~ group k
        wrong = match[z] != clusters
        error_rate = float(np.mean(wrong))
        ctx.log(f"adjusted Rand index of the MAP clusters vs {what}: {ari:.3f}; "
                f"{100 * error_rate:.1f}% of rows are in the other group's cluster")
        extra.update({"complete_data_fit": describe(*complete, columns), "adjusted_rand_index": ari,
                      "misclassification_rate": error_rate, "marginal_log_likelihood_at_complete_mle": at_complete})
    ctx.save_figure(figure_fits(name, x, z, groups, what, labels, complete, marginal, clusters, ari, wrong),
                    "body_gmm_fits.png")
    ctx.extra.update(extra)


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
