"""Helpers shared by the Gaussian-mixture analyses: data, labels, plots, NUTS gating.

Not an analysis itself (the runner only loads the names in ``DEFAULT_ANALYSES``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from models import gmm
from models.data import load_dataset

#: One colour per component / class, used by every GMM figure.
COLORS = ("#1d3557", "#e76f51", "#2a9d8f", "#e9c46a", "#8d5a97")


@dataclass(frozen=True)
class Table2D:
    """A named bivariate sample: values (N, 2), column names, axis labels with units."""

    name: str
    values: np.ndarray
    columns: tuple[str, str]
    labels: tuple[str, str]
    is_book_faithful: bool = False


def axis_label(column: str) -> str:
    """``eruptions_min`` -> ``eruptions (min)``; header-less ``col0`` -> ``column 0 (data units)``."""
    if column.startswith("col") and column[3:].isdigit():
        return f"column {column[3:]} (data units)"
    stem, _, unit = column.rpartition("_")
    return f"{stem.replace('_', ' ')} ({unit})" if stem and unit.isalpha() and len(unit) <= 4 else column


def unit_of(label: str) -> str:
    return label[label.rfind("(") + 1: -1] if label.endswith(")") else "units"


def load_faithful(ctx) -> Table2D:
    """Old Faithful (eruption duration, waiting time), or the first two columns of ``--data``.

    ``is_book_faithful`` is True when the values are exactly the shipped Old Faithful rows (also
    true for the book's ``old_faithful.txt``), so the book's printed numbers apply.
    """
    shipped = load_dataset("faithful")
    if ctx.settings.data:
        ds = load_dataset(ctx.settings.data)
        if ds.values.shape[1] < 2:
            from models.validation import DataError

            raise DataError(f"{ds.source} has {ds.values.shape[1]} column(s); the GMM analyses need two.")
        ds = ds.select([0, 1])
        same = ds.values.shape == shipped.values.shape and np.array_equal(ds.values, shipped.values)
        columns = shipped.columns if same and ds.columns[0].startswith("col") else ds.columns
        return Table2D(ds.name, ds.values, tuple(columns), tuple(axis_label(c) for c in columns), same)
    return Table2D("faithful", shipped.values, tuple(shipped.columns),
                   tuple(axis_label(c) for c in shipped.columns), True)


def grid_for(x: np.ndarray, n: int = 160, pad: float = 0.12):
    """A (n, n) grid covering the data with a margin; returns (gx, gy, points (n*n, 2))."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    span = hi - lo
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad * span[0], hi[0] + pad * span[0], n),
                         np.linspace(lo[1] - pad * span[1], hi[1] + pad * span[1], n))
    return gx, gy, np.column_stack([gx.ravel(), gy.ravel()])


def density_contour(ax, x, w, mu, cov, covariance_type="full", *, color="k", label=None, levels=8):
    """Contours of the mixture density p(x) = Σ_k w_k N(x | μ_k, Σ_k) over the data's range."""
    gx, gy, pts = grid_for(x)
    dens = np.exp(gmm.gmm_logpdf(pts, w, mu, cov, covariance_type)).reshape(gx.shape)
    cs = ax.contour(gx, gy, dens, levels=levels, colors=color, linewidths=0.9, alpha=0.8)
    if label:
        ax.plot([], [], color=color, lw=0.9, label=label)
    return cs


def gate_nuts(ctx, label: str, idata, *, var_names=None, dataset: str = "") -> bool:
    """ctx.record_diagnostics on models.fitting.diagnose — every NUTS result goes through here."""
    from models.fitting import diagnose

    return ctx.record_diagnostics(label, diagnose(idata, var_names=var_names), dataset=dataset)


def check_pareto_k(ctx, label: str, loo, *, dataset: str = "") -> None:
    """LOO reliability: the largest Pareto k must be <= 0.7 (Vehtari et al. 2017)."""
    ctx.check_bound(f"{label}: max Pareto k (PSIS-LOO)", float(np.max(loo.pareto_k.values)), 0.7, kind="<=",
                    method="arviz.loo", dataset=dataset, note="PSIS-LOO is reliable when every k <= 0.7")


def fig_from_axes(axes) -> Figure:
    """The figure that ArviZ drew into (it returns axes)."""
    return np.ravel(np.asarray(axes, dtype=object))[0].figure
