"""Input validation: the one place every public entry point checks what it was given.

Every function that accepts data, a parameter or a setting calls one of these first, so bad
input fails *before* anything is computed or any model is built, with a message that says what
was wrong and how to fix it. All errors are :class:`DataError`, a subclass of
:class:`ValueError`. Numpy/scipy only.

* samples: :func:`validate_samples_1d`, :func:`validate_samples_2d`, :func:`validate_samples`;
* numbers and settings: :func:`validate_scalar`, :func:`validate_count`,
  :func:`validate_nonnegative`, :func:`validate_n_components`, :func:`resolve_seed`;
* Gaussian parameters: :func:`validate_vector`, :func:`validate_covariance`, :func:`validate_spd`;
* mixture parameters: :func:`validate_covariance_type`, :func:`validate_weights`,
  :func:`validate_means`, :func:`validate_mixture_covariances`, :func:`validate_labels`.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import linalg

__all__ = [
    "DataError",
    "MAX_ABS_VALUE",
    "SYMMETRY_RTOL",
    "COVARIANCE_TYPES",
    "WEIGHTS_ATOL",
    "validate_samples_1d",
    "validate_samples_2d",
    "validate_samples",
    "validate_n_components",
    "validate_scalar",
    "validate_count",
    "validate_nonnegative",
    "resolve_seed",
    "validate_vector",
    "validate_covariance",
    "validate_spd",
    "validate_covariance_type",
    "validate_weights",
    "validate_means",
    "mixture_covariance_shape",
    "validate_mixture_covariances",
    "validate_labels",
]

#: Largest magnitude accepted. Squares of larger values overflow float64 (max ~1.8e308),
#: which would turn variances and log-densities into inf without any error.
MAX_ABS_VALUE = 1e150

#: Relative asymmetry ``max|Σ - Σᵀ| / max|Σ|`` accepted (and then symmetrized away): enough
#: for round-off from ``A @ A.T`` or a text file, far below any real asymmetry.
SYMMETRY_RTOL = 1e-8

#: The covariance parametrizations of a mixture, named and shaped as scikit-learn's.
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

#: |Σ w_k - 1| accepted before mixing weights are renormalised (scikit-learn's tolerance).
WEIGHTS_ATOL = 1e-8


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


def validate_samples(x, *, name: str, min_rows: int = 1, why: str | None = None,
                     allow_constant: bool = False) -> np.ndarray:
    """Validate (N,) or (N, D) samples, keeping the dimensionality the caller passed."""
    try:
        ndim = np.ndim(x)
    except ValueError:  # ragged nested lists: the 2-D validator explains
        ndim = 2
    if ndim > 2:
        raise DataError(f"{name} must be 1-D (N,) or 2-D (N, D), got {ndim}-D shape {np.shape(x)}; "
                        "flatten the extra axes, e.g. x.reshape(-1, D).")
    if ndim == 2:
        return validate_samples_2d(x, name=name, min_rows=min_rows, why=why, allow_constant=allow_constant)
    return validate_samples_1d(x, name=name, min_rows=min_rows, why=why, allow_constant=allow_constant)


# --------------------------------------------------------------------------- numbers and settings


def validate_scalar(value, *, name: str, positive: bool = False, greater_than: float | None = None) -> float:
    """A finite real number (optionally ``> 0`` or ``> greater_than``) as ``float``, else DataError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)):
        raise DataError(f"{name} must be a real number, got {value!r:.60} ({type(value).__name__}).")
    arr = np.asarray(value)
    if arr.ndim != 0 and arr.size != 1:
        raise DataError(f"{name} must be a single number, got an array of shape {arr.shape}.")
    if arr.dtype.kind not in "iuf":
        raise DataError(f"{name} must be a real number, got dtype {arr.dtype}.")
    v = float(arr.reshape(()))
    if not np.isfinite(v):
        raise DataError(f"{name} must be finite, got {v}.")
    if abs(v) > MAX_ABS_VALUE:
        raise DataError(f"{name} = {v:.3g} is beyond {MAX_ABS_VALUE:.0e}: its square overflows float64. "
                        "Rescale (change units) first.")
    if positive and not v > 0:
        raise DataError(f"{name} must be > 0, got {v:g}; it is a scale (a standard deviation, rate or count).")
    if greater_than is not None and not v > greater_than:
        raise DataError(f"{name} must be > {greater_than:g}, got {v:g}.")
    return v


def validate_nonnegative(value, name: str) -> float:
    """A finite real number >= 0 (a tolerance or regularization) as ``float``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise DataError(f"{name} must be a real number >= 0, got {value!r}.")
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise DataError(f"{name} must be a finite number >= 0, got {v}.")
    return v


def validate_count(value, name: str) -> int:
    """A whole number >= 1 (an iteration limit, a number of restarts) as ``int``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise DataError(f"{name} must be a whole number >= 1, got {value!r}.")
    return int(value)


def resolve_seed(seed) -> int:
    """An int that reproduces the run: the given int, one drawn from a Generator, or fresh entropy."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)) and seed >= 0:
        return int(seed)
    raise DataError(f"seed must be an int >= 0, a numpy.random.Generator or None, got {seed!r}.")


# --------------------------------------------------------------------------- Gaussian parameters


def validate_vector(mu, *, name: str, size: int) -> np.ndarray:
    """A finite float vector of length ``size`` (a mean or location), shape (size,)."""
    if isinstance(mu, numbers.Real) and not isinstance(mu, (bool, np.bool_)) and size == 1:
        mu = [mu]
    arr = validate_samples_1d(mu, name=name, allow_constant=True)
    if arr.shape != (size,):
        raise DataError(f"{name} must have shape ({size},) to match D = {size}, got {arr.shape}.")
    return arr


def _symmetric_matrix(cov, *, name: str, n_features: int | None) -> np.ndarray:
    """Finite, square, symmetric float matrix (symmetrized), shape (D, D)."""
    arr = validate_samples_2d(cov, name=name, allow_constant=True)
    d = arr.shape[0]
    if arr.shape != (d, d):
        raise DataError(f"{name} must be a square (D, D) matrix, got shape {arr.shape}.")
    if n_features is not None and d != n_features:
        raise DataError(f"{name} must be ({n_features}, {n_features}) to match the data's D = {n_features}, "
                        f"got {arr.shape}.")
    scale = float(np.max(np.abs(arr)))
    asym = float(np.max(np.abs(arr - arr.T)))
    if asym > SYMMETRY_RTOL * scale:
        raise DataError(f"{name} is not symmetric (max |{name} - {name}.T| = {asym:.3g}); a covariance must "
                        "equal its transpose, e.g. use (C + C.T) / 2.")
    return 0.5 * (arr + arr.T)


def _cholesky(cov: np.ndarray, *, name: str) -> np.ndarray:
    """Lower Cholesky factor L with ``cov = L Lᵀ``, shape (D, D); DataError if not positive definite."""
    try:
        chol, _ = linalg.cho_factor(cov, lower=True, check_finite=False)
        chol = np.tril(chol)
        # A pivot at round-off level means a singular matrix that Cholesky happened to get through
        # (e.g. exactly collinear columns); its "inverse" would be noise, so refuse it too.
        pivot_floor = cov.shape[0] * np.finfo(float).eps * float(np.max(np.diag(cov)))
        if float(np.min(np.diag(chol))) ** 2 <= pivot_floor:
            raise linalg.LinAlgError("numerically singular")
    except linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(cov)[0])
        raise DataError(
            f"{name} is not positive definite; its smallest eigenvalue is {smallest:.3g}. A covariance must be "
            "symmetric with strictly positive eigenvalues: check for duplicated or collinear columns, use more "
            "observations than dimensions, or add a small value to the diagonal."
        ) from None
    return chol


def validate_spd(cov, *, name: str = "cov", n_features: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validated symmetric positive-definite matrix and its lower Cholesky factor, both (D, D)."""
    sym = _symmetric_matrix(cov, name=name, n_features=n_features)
    return sym, _cholesky(sym, name=name)


def validate_covariance(cov, *, name: str = "cov", n_features: int | None = None) -> np.ndarray:
    """Validate a covariance (or precision / scale) matrix.

    Parameters
    ----------
    cov : array_like, shape (D, D); finite, symmetric (to relative round-off ``SYMMETRY_RTOL``),
        positive definite.
    n_features : required D, if any.

    Returns
    -------
    ndarray, shape (D, D): a symmetrized float64 copy.

    Raises
    ------
    DataError
        "... is not positive definite; its smallest eigenvalue is ..." and the like.
    """
    return validate_spd(cov, name=name, n_features=n_features)[0]


# --------------------------------------------------------------------------- mixture parameters


def validate_covariance_type(covariance_type) -> str:
    """One of :data:`COVARIANCE_TYPES`."""
    if not isinstance(covariance_type, str) or covariance_type not in COVARIANCE_TYPES:
        raise DataError(f"covariance_type must be one of {list(COVARIANCE_TYPES)}, got {covariance_type!r}.")
    return covariance_type


def validate_weights(w, *, n_components: int | None = None, name: str = "w") -> np.ndarray:
    """Mixing weights: finite, >= 0, summing to 1 (then renormalised exactly), shape (K,)."""
    w = validate_samples_1d(w, name=name, allow_constant=True)
    if n_components is not None and w.shape[0] != n_components:
        raise DataError(f"{name} has {w.shape[0]} weight(s) but there are {n_components} components.")
    if np.any(w < 0):
        k = int(np.flatnonzero(w < 0)[0])
        raise DataError(f"{name} must be nonnegative; weight of component {k} is {w[k]:g}.")
    total = float(w.sum())
    if abs(total - 1.0) > WEIGHTS_ATOL:
        raise DataError(f"{name} must sum to 1, got {total:.10g}; divide the weights by their sum.")
    return w / total


def validate_means(mu, *, n_components: int, n_features: int, name: str = "mu") -> np.ndarray:
    """Component means, shape (K, D)."""
    mu = validate_samples_2d(mu, name=name, allow_constant=True)
    if mu.shape != (n_components, n_features):
        raise DataError(f"{name} must have shape (K, D) = ({n_components}, {n_features}), got {mu.shape}.")
    return mu


def mixture_covariance_shape(covariance_type: str, n_components: int, n_features: int) -> tuple[int, ...]:
    """Shape of a mixture's covariances: (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def validate_mixture_covariances(cov, covariance_type: str, *, n_components: int, n_features: int,
                                 name: str = "cov") -> np.ndarray:
    """Covariances in ``covariance_type``'s shape: finite, symmetric (then symmetrized) float copy.

    Positive definiteness is checked where they are factorized
    (:func:`models.gmm.cholesky_factors`), which names the offending component.
    """
    arr = _as_float_array(cov, name)
    shape = mixture_covariance_shape(covariance_type, n_components, n_features)
    if arr.shape != shape:
        raise DataError(
            f"{name} must have shape {shape} for covariance_type={covariance_type!r} with K = {n_components}, "
            f"D = {n_features}, got {arr.shape}."
        )
    _check_values(arr, name)
    if covariance_type in ("full", "tied"):
        scale = np.max(np.abs(arr), axis=(-2, -1))
        asym = np.max(np.abs(arr - np.swapaxes(arr, -1, -2)), axis=(-2, -1))
        bad = np.flatnonzero(np.atleast_1d(asym > SYMMETRY_RTOL * scale))
        if bad.size:
            which = f"covariance of component {int(bad[0])}" if covariance_type == "full" else "the tied covariance"
            raise DataError(f"{which} is not symmetric; a covariance must equal its transpose, "
                            "e.g. use (C + C.T) / 2.")
        arr = 0.5 * (arr + np.swapaxes(arr, -1, -2))
    return arr


def validate_labels(z, *, n_rows: int, n_components: int, every_label: bool = False) -> np.ndarray:
    """Integer class labels in [0, K), shape (N,) int64 (whole floats are accepted).

    ``every_label``: also require each of the K labels at least once (a model that estimates
    one component per label needs data for each).
    """
    arr = np.asarray(z)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu" or arr.dtype == bool:
        raise DataError(f"z must be integer class labels 0..K-1, got dtype {arr.dtype}.")
    if arr.shape != (n_rows,):
        raise DataError(f"z must have shape ({n_rows},) (one label per row of x), got {arr.shape}.")
    if arr.size and (arr.min() < 0 or arr.max() >= n_components):
        raise DataError(f"z must lie in 0..{n_components - 1} for n_components={n_components}, "
                        f"got values in {int(arr.min())}..{int(arr.max())}.")
    if every_label:
        missing = np.flatnonzero(np.bincount(arr, minlength=n_components) == 0)
        if missing.size:
            raise DataError(f"z must use every label 0..{n_components - 1} at least once; label(s) "
                            f"{missing.tolist()[:10]} never occur. Use fewer components or relabel.")
    return arr.astype(np.int64)
