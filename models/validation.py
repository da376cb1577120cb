"""Input validation shared by every public entry point.

Every function that accepts data or a number of components calls one of these first, so
bad input fails *before* any model is built, with a message that says what was wrong and
how to fix it. All errors are :class:`DataError`, a subclass of :class:`ValueError`.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "DataError",
    "validate_samples_1d",
    "validate_samples_2d",
    "validate_n_components",
    "MAX_ABS_VALUE",
]

#: Largest magnitude accepted. Squares of larger values overflow float64 (max ~1.8e308),
#: which would turn variances and log-densities into inf without any error.
MAX_ABS_VALUE = 1e150


class DataError(ValueError):
    """Bad input data or settings; the message says what was wrong and what to do."""


def _as_float_array(x, name: str) -> np.ndarray:
    if x is None:
        raise DataError(f"{name} is None; pass an array of numbers.")
    if isinstance(x, (str, bytes)):
        raise DataError(f"{name} is a string ({x!r:.40}); pass an array of numbers, or a path to load_dataset().")
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise DataError(f"{name} is ragged (rows of different lengths): {exc}. Pass a rectangular array.") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise DataError(
            f"{name} has non-numeric content (dtype {arr.dtype}); convert it to numbers first, "
            "e.g. drop text columns or map categories to 0/1."
        )
    if arr.dtype.kind == "c":
        raise DataError(f"{name} is complex (dtype {arr.dtype}); pass real numbers.")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{name} has unsupported dtype {arr.dtype}; pass real numbers.")
    return arr.astype(np.float64, copy=True)


def _check_values(arr: np.ndarray, name: str) -> None:
    if arr.size == 0:
        raise DataError(f"{name} is empty (shape {arr.shape}); pass at least one observation.")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)
        n_nan = int(np.isnan(arr).sum())
        n_inf = int((~finite).sum()) - n_nan
        first = tuple(int(i) for i in bad[0])
        raise DataError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite value(s) (first at index {first}); "
            "remove or impute those rows before fitting (PyMC would otherwise silently treat NaN "
            "as a missing value to impute)."
        )
    biggest = float(np.abs(arr).max())
    if biggest > MAX_ABS_VALUE:
        raise DataError(
            f"{name} has values as large as {biggest:.3g}, beyond {MAX_ABS_VALUE:.0e}: their squares overflow "
            "float64. Rescale the data (e.g. change units or standardize) before fitting."
        )


def _check_rows(n: int, min_rows: int, name: str, why: str | None) -> None:
    if n < min_rows:
        reason = f" ({why})" if why else ""
        raise DataError(f"{name} has {n} row(s) but at least {min_rows} are needed{reason}; pass more observations.")


def validate_samples_1d(x, *, name: str = "x", min_rows: int = 1, why: str | None = None,
                        allow_constant: bool = False) -> np.ndarray:
    """Validate univariate samples.

    Parameters
    ----------
    x : array_like, shape (N,) or (N, 1)
    min_rows : smallest acceptable N.
    why : what needs ``min_rows`` (used in the error message).
    allow_constant : accept zero variance (e.g. for a known-variance model); default False.

    Returns
    -------
    ndarray, shape (N,), float64 copy.
    """
    arr = _as_float_array(x, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(
            f"{name} must be 1-D (N,) for a univariate model, got shape {arr.shape}; "
            "select one column, e.g. x[:, 0]."
        )
    _check_values(arr, name)
    _check_rows(arr.shape[0], min_rows, name, why)
    if not allow_constant and arr.shape[0] > 1 and np.ptp(arr) == 0:
        raise DataError(f"{name} is constant (every value is {arr[0]:g}); its variance is zero, so no Gaussian fits it.")
    return arr


def validate_samples_2d(x, *, name: str = "x", min_rows: int = 1, why: str | None = None,
                        n_features: int | None = None, allow_constant: bool = False) -> np.ndarray:
    """Validate multivariate samples.

    Parameters
    ----------
    x : array_like, shape (N, D)
    min_rows : smallest acceptable N (e.g. D + 1 for a covariance, K for K components).
    n_features : required D, if any.
    allow_constant : accept zero-variance columns; default False.

    Returns
    -------
    ndarray, shape (N, D), float64 copy.
    """
    arr = _as_float_array(x, name)
    if arr.ndim != 2:
        hint = "reshape it with x.reshape(-1, 1) for one feature" if arr.ndim == 1 else "flatten the extra axes"
        raise DataError(f"{name} must be 2-D (N, D), got {arr.ndim}-D shape {arr.shape}; {hint}.")
    if n_features is not None and arr.shape[1] != n_features:
        raise DataError(f"{name} must have {n_features} column(s), got {arr.shape[1]} (shape {arr.shape}).")
    _check_values(arr, name)
    _check_rows(arr.shape[0], min_rows, name, why)
    if not allow_constant and arr.shape[0] > 1:
        constant = np.flatnonzero(np.ptp(arr, axis=0) == 0)
        if constant.size:
            raise DataError(
                f"{name} has constant column(s) {constant.tolist()} (zero variance), so the covariance is "
                "singular; drop those columns."
            )
    return arr


def validate_n_components(k, *, name: str = "n_components") -> int:
    """Validate a number of mixture components: an integer >= 1 (bools and 2.5 are refused)."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        if isinstance(k, numbers.Real) and not isinstance(k, (bool, np.bool_)) and float(k).is_integer():
            k = int(k)
        else:
            raise DataError(f"{name} must be a whole number >= 1, got {k!r}.")
    k = int(k)
    if k < 1:
        raise DataError(f"{name} must be >= 1, got {k}; a mixture needs at least one component.")
    return k
