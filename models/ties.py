r"""Tied values in data for a mixture model: how many, whether they are heavy, and dequantization.

Real measurements are rounded (whole minutes, whole centimetres or inches), so many rows share
a value. That does no harm to a Gaussian, but a Gaussian *mixture* can put one component on a
set of tied points: on the line x_j = c through them its variance along x_j goes to zero and
the likelihood grows without bound. Those near-degenerate optima attract EM, MAP and NUTS
when a large share of a column sits on a few exact values; started differently, the three
methods then stop at different optima (measured: two overlapping 2-D clusters, N = 272, with a
fifth of one column rounded to multiples of 10, i.e. onto three or four values: in 3 of 10
simulated data sets EM or the flat-prior MAP, both from k-means++, collapsed onto a line —
smallest covariance eigenvalue 1e-16 in standardized units — while the other agreed with the
regular fit; once the column was dequantized none collapsed, and EM and MAP agreed in 8 of 10,
the other 2 stopping at different regular local optima, as overlapping clusters allow).

:func:`tie_report` counts, per column, the rows that share their value with another row and
finds **heaps**: values that each hold at least :data:`HEAP_FACTOR` times the average number of
rows per distinct value (and at least 3 rows). A column's ties are **heavy** when its heaps
hold at least :data:`HEAVY_SHARE` of the rows, or when its :data:`FEW` most common values hold
at least :data:`DISCRETE_SHARE` of them (a column with a handful of values). On the shipped
data: Old Faithful's waiting times, all whole minutes, have no heaps (each minute holds at most
15 of 272 rows, about 3x the average) and are not heavy; bdims heights, a quarter of them
recorded in whole inches (177.8 cm holds 27 rows), are (the fits there agree all the same:
the tie-outs check it).

The standard remedy is to **dequantize**: add uniform noise of the rounding width,
:func:`dequantize`, x + U(-w/2, w/2) per column, seeded — what the value could have been
before rounding. Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.validation import DataError, resolve_seed, validate_samples_2d

__all__ = ["ColumnTies", "tie_report", "heavy_ties", "ties_message", "dequantize", "parse_widths",
           "HEAP_FACTOR", "HEAVY_SHARE", "FEW", "DISCRETE_SHARE"]

#: A heap holds at least this many times the average number of rows per distinct value.
HEAP_FACTOR = 4.0
#: Ties are heavy when heaps hold at least this share of a column's rows ...
HEAVY_SHARE = 0.10
#: ... or when the FEW most common values hold at least DISCRETE_SHARE of them.
FEW = 5
DISCRETE_SHARE = 0.5


@dataclass(frozen=True)
class ColumnTies:
    """Ties in one column.

    Attributes
    ----------
    column : its name. n_rows : N. n_values : distinct values.
    n_tied : rows whose value another row shares.
    heaps : ((value, rows), ...) of the heaps, most rows first.
    heaped_rows : rows on heaps.
    top_share : share of the rows on the FEW most common repeated values.
    heavy : see the module docstring.
    step : median gap between neighbouring heap values (the likely rounding width), or None.
    """

    column: str
    n_rows: int
    n_values: int
    n_tied: int
    heaps: tuple[tuple[float, int], ...]
    heaped_rows: int
    top_share: float
    heavy: bool
    step: float | None

    def as_dict(self) -> dict:
        """For summary.json (the ten largest heaps)."""
        return {"column": self.column, "rows": self.n_rows, "distinct_values": self.n_values,
                "rows_on_repeated_values": self.n_tied, "heaped_rows": self.heaped_rows,
                "heaps": [[v, n] for v, n in self.heaps[:10]], "top_share": self.top_share, "heavy": self.heavy,
                "step": self.step}

    def describe(self) -> str:
        """``waiting_min: 264 of 272 rows on repeated values`` (+ the heaps when heavy)."""
        text = f"{self.column}: {self.n_tied} of {self.n_rows} rows on repeated values ({self.n_values} distinct)"
        if not self.heavy:
            return text
        if self.heaps:
            shown = ", ".join(f"{v:g} ×{n}" for v, n in self.heaps[:4]) + (", …" if len(self.heaps) > 4 else "")
            text += (f"; {self.heaped_rows} rows ({100 * self.heaped_rows / self.n_rows:.0f} %) on {len(self.heaps)} "
                     f"heaped value(s): {shown}")
        else:
            text += f"; {100 * self.top_share:.0f} % on its {min(FEW, self.n_values)} most common values"
        return text + (f", about {self.step:g} apart" if self.step else "")


def _column_ties(name: str, x: np.ndarray) -> ColumnTies:
    values, counts = np.unique(x, return_counts=True)
    n = x.size
    threshold = max(3.0, HEAP_FACTOR * n / values.size)
    heap = counts >= threshold
    order = np.argsort(-counts[heap], kind="stable")
    heaps = tuple((float(v), int(c)) for v, c in zip(values[heap][order], counts[heap][order]))
    heaped = int(counts[heap].sum())
    top_share = float(np.sort(counts[counts > 1])[::-1][:FEW].sum() / n)
    heavy = heaped >= HEAVY_SHARE * n or (values.size > 1 and top_share >= DISCRETE_SHARE)
    grid = np.sort(values[heap]) if heap.sum() >= 2 else (values if values.size <= 2 * FEW else np.array([]))
    step = float(np.median(np.diff(grid))) if grid.size >= 2 else None
    return ColumnTies(name, n, int(values.size), int(counts[counts > 1].sum()), heaps, heaped, top_share,
                      bool(heavy), step)


def tie_report(x, columns=None) -> list[ColumnTies]:
    """Ties per column of ``x`` (N, D); ``columns``: D names (default ``x0``, ``x1``, ...).

    Example
    -------
    >>> import numpy as np
    >>> from models.ties import tie_report
    >>> x = np.column_stack([np.arange(10.0), [1.0] * 6 + [2.0, 3.0, 4.0, 5.0]])
    >>> [(t.column, t.n_tied, t.heavy) for t in tie_report(x, ["a", "b"])]
    [('a', 0, False), ('b', 6, True)]
    """
    x = validate_samples_2d(x, name="x", allow_constant=True)
    names = list(columns) if columns is not None else [f"x{j}" for j in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise DataError(f"columns names {len(names)} column(s) but x has {x.shape[1]}; pass one name per column.")
    return [_column_ties(str(name), x[:, j]) for j, name in enumerate(names)]


def heavy_ties(report: list[ColumnTies]) -> list[ColumnTies]:
    """The columns of ``report`` whose ties are heavy."""
    return [t for t in report if t.heavy]


def ties_message(report: list[ColumnTies]) -> str:
    """One paragraph for a user: the heavy columns, what ties do to a mixture, and the remedy
    (``--dequantize`` with a width per column: the heap spacing where one was found, else 0)."""
    heavy = heavy_ties(report)
    if not heavy:
        return "ties: " + "; ".join(t.describe() for t in report) + " (none heavy)"
    widths = ",".join(f"{t.step:g}" if t.heavy and t.step else ("WIDTH" if t.heavy else "0") for t in report)
    return ("heavy ties — " + "; ".join(t.describe() for t in heavy) + ". A mixture component can collapse onto "
            "a line of tied points, where the likelihood is unbounded: EM, MAP and NUTS may then stop at different, "
            "near-degenerate optima and fail their tie-outs. Remedy: add uniform noise of each column's rounding "
            f"width before fitting, e.g. --dequantize {widths} (one width per column, 0 leaves a column as it is).")


def parse_widths(text, n_columns: int) -> np.ndarray:
    """``--dequantize`` as typed: one width for every column, or one per column. Returns (D,)."""
    try:
        widths = np.array([float(w) for w in str(text).split(",")], dtype=float)
    except ValueError:
        raise DataError(f"--dequantize {text!r}: give rounding widths as numbers, e.g. --dequantize 1 or "
                        "--dequantize 0.1,1 (one per column used).") from None
    if widths.size == 1:
        widths = np.repeat(widths, n_columns)
    if widths.size != n_columns:
        raise DataError(f"--dequantize {text!r} gives {widths.size} widths for {n_columns} columns; give one width, "
                        f"or one per column used ({n_columns}), 0 for a column to leave as it is.")
    if not np.all(np.isfinite(widths)) or np.any(widths < 0) or not np.any(widths > 0):
        raise DataError(f"--dequantize {text!r}: widths must be finite, >= 0, and at least one > 0 (the step the "
                        "values were rounded to, e.g. 1 for whole minutes).")
    return widths


def dequantize(x, widths, seed) -> np.ndarray:
    """x + U(-w_j/2, w_j/2), independently per cell, seeded.

    Parameters
    ----------
    x : (N, D). widths : (D,) rounding widths, >= 0 (0 leaves a column unchanged).
    seed : int or ``numpy.random.Generator`` (:func:`models.validation.resolve_seed`).

    Returns
    -------
    (N, D) float64, a new array.

    Example
    -------
    >>> import numpy as np
    >>> from models.ties import dequantize
    >>> x = np.array([[1.0, 5.0], [1.0, 6.0]])
    >>> y = dequantize(x, [1.0, 0.0], seed=0)
    >>> bool(np.all(np.abs(y[:, 0] - 1.0) <= 0.5)), y[:, 1].tolist()
    (True, [5.0, 6.0])
    """
    x = validate_samples_2d(x, name="x", allow_constant=True)
    widths = np.asarray(widths, dtype=float)
    if widths.shape != (x.shape[1],) or not np.all(np.isfinite(widths)) or np.any(widths < 0):
        raise DataError(f"widths must be {x.shape[1]} finite numbers >= 0, one per column; got {widths.tolist()}.")
    rng = np.random.default_rng(resolve_seed(seed)) if not isinstance(seed, np.random.Generator) else seed
    return x + (rng.random(x.shape) - 0.5) * widths
