"""What the analyses share: data loading, axis labels and units, grids, colours, NUTS settings
and gating, Monte Carlo checks against closed forms, and figure helpers.

An analysis imports its helpers from here, never from another analysis; model knowledge
(closed forms, conjugate priors such as ``NormalGamma.weak_from_data``) lives in :mod:`models`.
Not an analysis itself: the runner only loads the names in ``DEFAULT_ANALYSES`` and
``OPT_IN_ANALYSES``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from models import gmm
from models.data import Dataset, load_dataset, parse_column_list
from models.fitting import diagnose, posterior_moment_errors
from models.ties import dequantize, heavy_ties, parse_widths, tie_report, ties_message
from models.validation import DataError

#: Monte Carlo comparisons pass within this many Monte Carlo standard errors.
Z_MC = 4.0
#: Float-arithmetic tie-outs (the same formula by a different code path).
RTOL_EXACT = 1e-12
#: MAP with flat priors against the closed-form MLE.
RTOL_MAP = 1e-6


def round_off(rtol: float) -> str:
    """The ``basis`` of a float-arithmetic tie-out: ``"1e-12 relative: round-off"``."""
    return f"{rtol:g} relative: round-off"

#: Colours of the Gaussian figures, one per source of an estimate: the data, the closed form,
#: PyMC's NUTS, MAP, and one more.
METHOD_COLORS = {"data": "#c9d6e8", "exact": "#1d3557", "nuts": "#e76f51", "map": "#2a9d8f", "extra": "#8d5a97"}
#: Colours of the mixture figures, one per category: a mixture component, a class, a covariance
#: type or a compared series, in order.
CATEGORY_COLORS = ("#1d3557", "#e76f51", "#2a9d8f", "#e9c46a", "#8d5a97")


# --------------------------------------------------------------------------- data, labels, units


@dataclass(frozen=True)
class Series:
    """A named univariate sample: values (N,), the data set's name, and an axis label with units."""

    name: str
    values: np.ndarray
    label: str


@dataclass(frozen=True)
class Table:
    """A named bivariate sample: values (N, 2), column names, and axis labels with units.

    ``is_book_faithful`` is True when the values are exactly the shipped Old Faithful rows, so
    the book's printed numbers apply (set by :func:`load_faithful` only).
    """

    name: str
    values: np.ndarray
    columns: tuple[str, str]
    labels: tuple[str, str]
    is_book_faithful: bool = False


def axis_label(column: str, *, keep_unnamed: bool = False) -> str:
    """An axis label from a column name: ``eruptions_min`` -> ``eruptions (min)``; names without
    a unit suffix are kept.

    A header-less file's columns are named ``col0``, ``col1``, ...: they become
    ``column 0 (data units)``, or stay ``col0`` with ``keep_unnamed`` (the Gaussian analyses,
    whose check quantities, PyMC coordinates and figure labels name such columns ``col0``).
    """
    if not keep_unnamed and column.startswith("col") and column[3:].isdigit():
        return f"column {column[3:]} (data units)"
    stem, _, unit = column.rpartition("_")
    return f"{stem.replace('_', ' ')} ({unit})" if stem and unit.isalpha() and len(unit) <= 4 else column


def unit_of(label: str) -> str:
    """``height (cm)`` -> ``cm``; a label without a parenthesised unit -> ``units``."""
    return label[label.rfind("(") + 1 : -1] if label.endswith(")") else "units"


@dataclass(frozen=True)
class DataNeeds:
    """What an analysis takes from ``--data`` (its module's ``DATA``; default ``DataNeeds()``).

    ``columns``: how many of the chosen columns it uses, the first ones (0: it does not use
    ``--data``); ``label_groups``: the number of groups ``--labels`` must have, or None when it
    takes no labels; ``dequantize``: it is a mixture analysis, which checks ties and takes
    ``--dequantize``.
    """

    columns: int = 1
    label_groups: int | None = None
    dequantize: bool = False


#: The --data options as typed on the command line, by Settings field.
DATA_OPTIONS = {"columns": "--columns", "dropna": "--dropna", "labels": "--labels", "dequantize": "--dequantize"}


def _read_user_data(settings) -> Dataset:
    columns = parse_column_list(settings.columns) if settings.columns else None
    return load_dataset(settings.data, columns=columns, labels=settings.labels, dropna=settings.dropna)


def prepare_data(settings, analyses: dict, every: dict | None = None) -> Dataset | None:
    """Read ``--data`` once, as ``--columns``, ``--labels`` and ``--dropna`` say, and check it against
    what each analysis to run needs (``analyses``: {name: module}; ``every``: all known analyses,
    to name those that take an option nobody running takes). Prints what was read and decided;
    stores the data set on ``settings.dataset`` and what is recorded (rows dropped,
    dequantization widths and seed) on ``settings.data_record``. Raises DataError — before any
    analysis runs or anything is written — for a bad file, selection, label column or option.
    """
    needs = {name: getattr(module, "DATA", DataNeeds()) for name, module in analyses.items()}
    given = [flag for field_name, flag in DATA_OPTIONS.items() if getattr(settings, field_name)]
    if not settings.data:
        if given:
            raise DataError(f"{given[0]} applies to a --data file; add --data FILE, or drop {given[0]} (the shipped "
                            "data sets have their columns chosen already).")
        return None
    every_needs = {name: getattr(module, "DATA", DataNeeds()) for name, module in (every or analyses).items()}
    for flag, wanted in (("--labels", lambda need: need.label_groups), ("--dequantize", lambda need: need.dequantize)):
        if flag in given and not any(wanted(need) for need in needs.values()):
            users = [name for name, need in every_needs.items() if wanted(need)]
            raise DataError(f"{flag} is used by {', '.join(users) or 'no analysis'}, and none of the analyses being run "
                            f"({', '.join(analyses)}) is one of them; add one, or drop {flag}.")
    ds = _read_user_data(settings)
    labels = f"; labels {ds.label_column} ({', '.join(ds.label_names)})" if ds.label_column else ""
    print(f"data: {ds.name} ({ds.n_rows} rows; columns {', '.join(ds.columns)}{labels})", flush=True)
    for note in ds.notes:
        print(f"data: {note}", flush=True)
    chosen = "--columns" if settings.columns else "the file"
    for name, need in needs.items():
        if need.columns > ds.values.shape[1]:
            raise DataError(f"{name} uses {need.columns} columns, but {chosen} gives {ds.values.shape[1]} "
                            f"({', '.join(ds.columns)}); name {need.columns} numeric columns with --columns, or do "
                            f"not run {name}.")
        if need.label_groups and ds.labels is not None and len(ds.label_names) != need.label_groups:
            shown = ", ".join(ds.label_names[:6]) + (", …" if len(ds.label_names) > 6 else "")
            raise DataError(f"--labels {ds.label_column} has {len(ds.label_names)} group(s) ({shown}), but {name} "
                            f"compares {need.label_groups}; pass a column with {need.label_groups} groups, or keep only "
                            f"the rows of {need.label_groups} groups in the file.")
    record = {"dropped_rows": ds.n_dropped} if settings.dropna else {}
    if settings.dequantize:
        used = max(need.columns for need in needs.values() if need.dequantize)
        widths = parse_widths(settings.dequantize, used)
        record |= {"dequantize_widths": dict(zip(ds.columns[:used], widths.tolist())),
                   "dequantize_seed": settings.seed,
                   "dequantize_noise": "x + U(-w/2, w/2) per cell, models.ties.dequantize(x, widths, seed)"}
    settings.dataset, settings.data_record = ds, record
    return ds


def user_data(ctx) -> Dataset:
    """The ``--data`` set as ``--columns``, ``--labels`` and ``--dropna`` chose it, read once per run."""
    if ctx.settings.dataset is None:
        ctx.settings.dataset = _read_user_data(ctx.settings)
    return ctx.settings.dataset


def load_gaussian_data(ctx) -> tuple[Series, Table | None]:
    """The Gaussian analyses' data: ``heights`` (height_cm) and ``bdims`` (height_cm, weight_kg),
    or the user's ``--data`` (its first chosen column; its first two, or None when it has one)."""
    if ctx.settings.data:
        ds = user_data(ctx)
        series = Series(ds.name, ds.column(0), axis_label(ds.columns[0], keep_unnamed=True))
        if ds.values.shape[1] < 2:
            ctx.log(f"{ds.name} has one column: skipping the bivariate parts")
            return series, None
        pair = ds.select([0, 1])
        return series, Table(ds.name, pair.values, tuple(pair.columns),
                             tuple(axis_label(c, keep_unnamed=True) for c in pair.columns))
    heights = load_dataset("heights")
    bdims = load_dataset("bdims").select(["height_cm", "weight_kg"])
    return (Series("heights", heights.column("height_cm"), axis_label("height_cm", keep_unnamed=True)),
            Table("bdims", bdims.values, tuple(bdims.columns),
                  tuple(axis_label(c, keep_unnamed=True) for c in bdims.columns)))


def mixture_ready(ctx, values: np.ndarray, columns, *, dataset: str, user: bool) -> np.ndarray:
    """Every GMM analysis' data pass through here before any fit: the ties per column are logged
    (a WARNING with what they do to a mixture and the remedy when they are heavy,
    :mod:`models.ties`) and recorded in ``ctx.extra["ties"][dataset]``; the user's data
    (``user``) are dequantized when ``--dequantize`` asks (seeded by the run seed, recorded in
    ``ctx.extra["dequantize"]``). Returns the values (N, D) to fit."""
    before = tie_report(values, columns)
    record = {"before": [t.as_dict() for t in before]}
    if user and ctx.settings.dequantize:
        widths = parse_widths(ctx.settings.dequantize, values.shape[1])
        values = dequantize(values, widths, seed=ctx.settings.seed)
        after = tie_report(values, columns)
        record["after_dequantize"] = [t.as_dict() for t in after]
        shown = ", ".join(f"{c} {w:g}" for c, w in zip(columns, widths))
        ctx.log(f"dequantized {dataset}: uniform noise of width {shown} added (seed {ctx.settings.seed}); before, "
                + "; ".join(t.describe() for t in before))
        ctx.extra["dequantize"] = {"widths": dict(zip(columns, widths.tolist())), "seed": ctx.settings.seed,
                                   "dataset": dataset}
        before = after
    message = ties_message(before)
    if heavy_ties(before) and not user:
        message += f" (For the shipped {dataset}, name it as --data {dataset} to pass --dequantize.)"
    ctx.log(f"{dataset}: {'WARNING: ' if heavy_ties(before) else ''}{message}")
    ctx.extra.setdefault("ties", {})[dataset] = record | {"heavy": [t.column for t in heavy_ties(before)],
                                                          "message": message}
    return values


def explains_ties(run):
    """Decorator of a GMM analysis' ``run(ctx)``: when a fit fails with a DataError (a covariance
    that collapsed) on data whose ties :func:`mixture_ready` found heavy, the one-line error says
    that the ties are the likely cause and what to pass."""

    @functools.wraps(run)
    def run_explained(ctx):
        try:
            return run(ctx)
        except DataError as exc:
            heavy = {name: r["heavy"] for name, r in ctx.extra.get("ties", {}).items() if r.get("heavy")}
            if not heavy:
                raise
            where = "; ".join(f"{name}: {', '.join(columns)}" for name, columns in heavy.items())
            raise DataError(f"{str(exc).rstrip('.')}. The likely cause: heavy ties ({where}), onto which a component "
                            "collapsed (see the WARNING above); rerun with --dequantize and the rounding widths "
                            "it names.") from None

    return run_explained


def load_faithful(ctx) -> Table:
    """Old Faithful (eruption duration, waiting time), or the first two chosen columns of ``--data``;
    ties checked and, with ``--dequantize``, removed (:func:`mixture_ready`).

    ``is_book_faithful`` is True when the values are exactly the shipped Old Faithful rows (also
    true for the book's ``old_faithful.txt``), so the book's printed numbers apply.
    """
    shipped = load_dataset("faithful")
    if ctx.settings.data:
        ds = user_data(ctx)
        if ds.values.shape[1] < 2:
            raise DataError(f"{ds.source} has {ds.values.shape[1]} column(s); the GMM analyses need two.")
        ds = ds.select([0, 1])
        values = mixture_ready(ctx, ds.values, ds.columns, dataset=ds.name, user=True)
        same = values.shape == shipped.values.shape and np.array_equal(values, shipped.values)
        columns = shipped.columns if same and ds.columns[0].startswith("col") else ds.columns
        return Table(ds.name, values, tuple(columns), tuple(axis_label(c) for c in columns), same)
    values = mixture_ready(ctx, shipped.values, shipped.columns, dataset="faithful", user=False)
    return Table("faithful", values, tuple(shipped.columns), tuple(axis_label(c) for c in shipped.columns), True)


# --------------------------------------------------------------------------- grids and figures


def grid_for(x: np.ndarray, n: int = 160, pad: float = 0.12):
    """An (n, n) grid over the range of ``x`` (N, 2) widened by ``pad`` of the span on each side;
    returns (gx (n, n), gy (n, n), points (n*n, 2))."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    span = hi - lo
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad * span[0], hi[0] + pad * span[0], n),
                         np.linspace(lo[1] - pad * span[1], hi[1] + pad * span[1], n))
    return gx, gy, np.column_stack([gx.ravel(), gy.ravel()])


def histogram_bins(x: np.ndarray) -> np.ndarray | int:
    """Bin edges, (B + 1,). For rounded data (e.g. heights self-reported in whole inches) the bins are
    centred on the rounding grid, so the histogram shows the distribution, not the rounding."""
    values, counts = np.unique(x, return_counts=True)
    if values.size > x.size / 3:
        return 40
    frequent = np.sort(values[np.argsort(counts)[-20:]])
    gaps = np.diff(frequent)
    grid = float(np.min(gaps[gaps > 0])) if np.any(gaps > 0) else 1.0
    fd = np.histogram_bin_edges(x, "fd")
    width = grid * max(1, round((fd[1] - fd[0]) / grid))
    first = frequent[0] - 0.5 * grid
    first -= width * np.ceil((first - x.min()) / width)
    return np.arange(first, x.max() + width, width)


def sigma_density(post, grid: np.ndarray) -> np.ndarray:
    """Density of σ = τ^(-1/2) on ``grid`` (G,) when τ ~ Gam(a_N, b_N) (``post.marginal_tau()``):
    Gam(σ⁻² | a_N, b_N) · 2σ⁻³ (change of variables)."""
    return post.marginal_tau().pdf(grid**-2.0) * 2.0 * grid**-3.0


def density_contour(ax, x, w, mu, cov, covariance_type="full", *, color="k", label=None, levels=8):
    """Contours of the mixture density p(x) = Σ_k w_k N(x | μ_k, Σ_k) over the range of ``x`` (N, 2)."""
    gx, gy, pts = grid_for(x)
    dens = np.exp(gmm.gmm_logpdf(pts, w, mu, cov, covariance_type)).reshape(gx.shape)
    cs = ax.contour(gx, gy, dens, levels=levels, colors=color, linewidths=0.9, alpha=0.8)
    if label:
        ax.plot([], [], color=color, lw=0.9, label=label)
    return cs


def fig_from_axes(axes) -> Figure:
    """The figure ArviZ drew into (it returns axes)."""
    return np.ravel(np.asarray(axes, dtype=object))[0].figure


# --------------------------------------------------------------------------- NUTS: settings and gating


def nuts_settings(ctx, *, univariate: bool = False) -> dict:
    """Keyword arguments for ``models.fitting.sample_nuts`` in the Gaussian analyses: 2 chains x
    1000 draws after 1000 tuning steps; --quick halves the tuning but keeps the draws.

    Why not fewer draws: the gate is R-hat <= 1.01 on every scalar of the posterior, and with 500
    draws per chain the sampling noise of R-hat alone, maximised over a dozen quantities, crosses
    1.01 in a noticeable fraction of runs (measured on the univariate models: 5-15 % of seeds; on
    the Normal-Wishart fit of the book's data: R-hat 1.014 with bulk ESS ~1000 of 1000 draws, i.e.
    perfect mixing). With 1000 draws per chain no run failed.

    Univariate Gaussians get target_accept = 0.65: NUTS takes 1- or 3-step trajectories on these
    near-Gaussian, 1- or 2-parameter posteriors, and larger steps make the draws nearly antithetic.
    Measured on the PRML fig. 2.12 model (20 seeds, 2 x 1000 draws): median bulk ESS 1400 at 0.65,
    850 at 0.8, 740 at 0.9 (sample_nuts' default, kept for the multivariate models); largest R-hat
    1.0085, 1.0074 (one seed of the analysis reached 1.0126) and 1.0073; no divergences.
    """
    settings = {"draws": 1000, "tune": 500 if ctx.quick else 1000, "chains": 2, "progressbar": ctx.progressbar}
    if univariate:
        settings["target_accept"] = 0.65
    return settings


def gate(ctx, label: str, idata, *, var_names=None, exclude=(), dataset: str = "") -> bool:
    """Every NUTS result goes through here: ``ctx.record_diagnostics`` on
    ``models.fitting.diagnose`` (R-hat, bulk and tail ESS, divergences) of ``var_names`` (default:
    every posterior variable) less ``exclude`` (deterministics with constant elements). Returns
    True when every criterion is met."""
    return ctx.record_diagnostics(label, diagnose(idata, var_names=var_names, exclude=exclude), dataset=dataset)


def check_pareto_k(ctx, label: str, loo, *, dataset: str = "") -> None:
    """LOO reliability: the largest Pareto k must be <= 0.7 (Vehtari et al. 2017)."""
    ctx.check_bound(f"{label}: max Pareto k (PSIS-LOO)", float(np.max(loo.pareto_k.values)), 0.7, kind="<=",
                    method="arviz.loo", dataset=dataset, note="PSIS-LOO is reliable when every k <= 0.7",
                    basis="PSIS reliability threshold 0.7 (Vehtari et al. 2017)")


# --------------------------------------------------------------------------- NUTS against closed forms


def check_moments(ctx, label: str, draws, mean, sd, *, reference: str, dataset: str, method: str = "NUTS") -> None:
    """Posterior mean and sd of ``draws`` (chain, draw[, ...]) against exact values, each within
    Z_MC Monte Carlo standard errors (ArviZ mcse of the mean / of the sd)."""
    got = posterior_moment_errors(draws)
    n = int(draws.sizes["chain"] * draws.sizes["draw"])
    for moment, exact, mcse in (("mean", mean, got["mcse_mean"]), ("sd", sd, got["mcse_sd"])):
        ctx.check(f"{label}: posterior {moment}", got[moment], exact, method=f"{method} ({n} draws)",
                  reference=reference, atol=Z_MC * float(np.max(mcse)), dataset=dataset,
                  note=f"{Z_MC:g} Monte Carlo standard errors (ArviZ mcse_{moment})", basis=f"{Z_MC:g} MCSE")


def check_quantiles(ctx, label: str, draws, dist, *, reference: str, dataset: str,
                    probs=(0.05, 0.25, 0.5, 0.75, 0.95)) -> None:
    """Quantiles of predictive draws (chain, draw) against ``dist.ppf``, within Z_MC ArviZ quantile MCSEs."""
    import arviz as az

    ds = draws.to_dataset(name="v")
    values = draws.values
    got = np.array([np.quantile(values, p) for p in probs])
    mcse = np.array([float(az.mcse(ds, method="quantile", prob=p)["v"]) for p in probs])
    exact = np.array([dist.ppf(p) for p in probs])
    # one check per quantile: each has its own Monte Carlo error
    for p, g, e, m in zip(probs, got, exact, mcse):
        ctx.check(f"{label}: {100 * p:g} % quantile", g, e, method=f"NUTS posterior predictive ({values.size} draws)",
                  reference=reference, atol=Z_MC * m, dataset=dataset,
                  note=f"{Z_MC:g} Monte Carlo standard errors (ArviZ quantile mcse)", basis=f"{Z_MC:g} MCSE")


def check_probability(ctx, label: str, indicator, exact: float, *, reference: str, dataset: str) -> None:
    """A probability estimated as the mean of 0/1 ``indicator`` draws (chain, draw) against ``exact``."""
    got = posterior_moment_errors(indicator.astype(float))
    ctx.check(label, got["mean"], exact, method=f"NUTS posterior predictive ({indicator.size} draws)",
              reference=reference, atol=Z_MC * float(got["mcse_mean"]) + 1e-12, dataset=dataset,
              note=f"{Z_MC:g} Monte Carlo standard errors", basis=f"{Z_MC:g} MCSE", probability=True)


def check_ks(ctx, quantity: str, draws, dist, *, alpha: float, method: str, reference: str, dataset: str) -> float:
    """Independent draws (n,) against a continuous law ``dist`` (a frozen scipy distribution): the
    Kolmogorov–Smirnov distance sup|ECDF − F| must not exceed the exact critical value at level
    ``alpha`` (``scipy.stats.kstwo``). Returns the distance."""
    from scipy import stats

    draws = np.ravel(draws)
    distance = float(stats.kstest(draws, dist.cdf).statistic)
    crit = float(stats.kstwo(draws.size).ppf(1 - alpha))
    ctx.check_bound(quantity, distance, crit, kind="<=", method=method, dataset=dataset, probability=True,
                    basis=f"KS critical value, level {alpha:g}",
                    note=f"Kolmogorov–Smirnov distance to {reference}, {draws.size} draws")
    return distance


def check_map(ctx, label: str, value, mle, *, dataset: str, reference: str) -> float:
    """MAP (flat priors) against the closed-form MLE, relative tolerance RTOL_MAP; returns the
    largest relative error."""
    value, mle = np.asarray(value, float), np.asarray(mle, float)
    ctx.check(label, value, mle, method="MAP, flat priors (models.fitting.fit_map, BFGS)", reference=reference,
              rtol=RTOL_MAP, dataset=dataset, basis=f"{RTOL_MAP:g} relative: optimizer convergence")
    return float(np.max(np.abs(value - mle)) / np.max(np.abs(mle)))
