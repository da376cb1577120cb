"""Load the shipped data sets, or a user's file, as a float64 matrix with column names.

Two file formats are read:

* ``.csv`` — comma-separated, one header line of column names, numeric cells only;
* anything else (``.txt``, ``.dat``, ...) — whitespace-separated numbers, no header, one
  observation per line (the format of ``numpy.loadtxt`` and of the book's data files).

Shipped names (see ``data/README.md`` for provenance): ``faithful``, ``bdims``, ``heights``.
The CSVs live in the repository's top-level ``data/`` folder, which is installed with the
package as ``models.datasets`` (``pyproject.toml`` maps that package onto the folder), so they
are found in an editable install and a regular ``pip install .`` alike.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from models.validation import DataError, validate_samples_2d

__all__ = ["Dataset", "DATA_DIR", "SHIPPED", "load_dataset", "read_matrix"]


def _shipped_dir() -> Path:
    """The folder holding the shipped CSVs: the package data of ``models.datasets``.

    That is ``site-packages/models/datasets`` in a regular install and the checkout's ``data/``
    folder in an editable one. When ``models.datasets`` cannot be imported (the source tree used
    without installing, or an editable install made before the data were package data), the
    checkout's ``data/`` folder beside ``models/``.
    """
    try:
        folder = resources.files("models.datasets")
    except ModuleNotFoundError:
        folder = None
    if isinstance(folder, Path):
        return folder
    return Path(__file__).resolve().parent.parent / "data"


#: The folder holding the shipped CSVs and their provenance (``README.md``).
DATA_DIR = _shipped_dir()

#: Shipped name -> file name in ``DATA_DIR``.
SHIPPED = {
    "faithful": "faithful.csv",
    "bdims": "bdims.csv",
    "heights": "heights.csv",
}


@dataclass(frozen=True)
class Dataset:
    """A named data matrix.

    Attributes
    ----------
    name : short name (shipped name, or the file's stem).
    values : ndarray, shape (N, D), float64.
    columns : D column names (``col0``, ``col1``, ... for header-less files).
    source : where it was read from.
    """

    name: str
    values: np.ndarray
    columns: tuple[str, ...]
    source: str

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    def column(self, key: str | int) -> np.ndarray:
        """One column, shape (N,), by name or position."""
        return self.values[:, self._index(key)]

    def select(self, keys) -> "Dataset":
        """A dataset restricted to the given columns (names or positions), in that order."""
        idx = [self._index(k) for k in keys]
        return Dataset(self.name, self.values[:, idx], tuple(self.columns[i] for i in idx), self.source)

    def _index(self, key: str | int) -> int:
        if isinstance(key, str):
            if key not in self.columns:
                raise DataError(f"{self.source} has no column {key!r}; its columns are {list(self.columns)}.")
            return self.columns.index(key)
        if not -len(self.columns) <= key < len(self.columns):
            raise DataError(
                f"{self.source} has {len(self.columns)} column(s) {list(self.columns)}; "
                f"column {key} does not exist. Pass a file with more columns."
            )
        return int(key) % len(self.columns)


def _parse_float(cell: str, path: Path, line: int, col: int) -> float:
    try:
        return float(cell)
    except ValueError:
        raise DataError(
            f"{path}, line {line}, column {col + 1}: {cell.strip()!r} is not a number. "
            "Only numeric cells are supported; remove text columns"
            + (" or, for a header line, save the file as .csv" if path.suffix.lower() != ".csv" else "")
            + "."
        ) from None


def _read_rows(path: Path, csv_format: bool):
    """Yield (line number, list of cells) for every non-blank line."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            if csv_format:
                for i, row in enumerate(csv.reader(handle), start=1):
                    if row and any(c.strip() for c in row):
                        yield i, row
            else:
                for i, line in enumerate(handle, start=1):
                    if line.strip() and not line.lstrip().startswith("#"):
                        yield i, line.split()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a UTF-8 text file ({exc.reason}); pass a CSV or whitespace .txt file.") from None


def read_matrix(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read a numeric text file.

    Returns
    -------
    values : ndarray, shape (N, D), float64 (not yet validated for NaN etc.).
    columns : D column names.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"No such data file: {path}. Pass a path to a CSV (with header) or whitespace .txt file, "
            f"or one of the shipped names {sorted(SHIPPED)}."
        )
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a data file; pass the path of a CSV or .txt file inside it.")
    csv_format = path.suffix.lower() == ".csv"
    rows = _read_rows(path, csv_format)
    columns = None
    if csv_format:
        first = next(rows, None)
        if first is None:
            raise DataError(f"{path} is empty; a CSV needs a header line and at least one row of numbers.")
        columns = tuple(c.strip() for c in first[1])
    values = []
    for line, cells in rows:
        if columns is None:
            columns = tuple(f"col{j}" for j in range(len(cells)))
        if len(cells) != len(columns):
            raise DataError(
                f"{path}, line {line}: {len(cells)} value(s) where {len(columns)} were expected "
                "(ragged rows); every row must have the same number of columns."
            )
        values.append([_parse_float(c, path, line, j) for j, c in enumerate(cells)])
    if not values:
        raise DataError(f"{path} has no rows of data; pass a file with at least one observation.")
    return np.asarray(values, dtype=np.float64), columns


def load_dataset(name_or_path: str | Path, *, columns=None) -> Dataset:
    """Load a shipped data set by name, or a user's file by path.

    Parameters
    ----------
    name_or_path : ``"faithful"``, ``"bdims"``, ``"heights"``, or a file path.
    columns : optional column names or positions to keep, in order.

    Returns
    -------
    Dataset with ``values`` of shape (N, D), validated: finite, numeric, not empty.
    """
    key = str(name_or_path)
    if key in SHIPPED:
        path, name = DATA_DIR / SHIPPED[key], key
        if not path.is_file():
            raise DataError(
                f"The shipped data set {key!r} is missing from this installation: no file {path}. "
                "The CSVs are package data of models.datasets (the repository's data/ folder); "
                "reinstall from a complete checkout, e.g. `pip install .` (or `pip install -e .`) "
                "in the repository root, or pass the path of a data file instead."
            )
    else:
        path = Path(key).expanduser()
        name = path.stem
    values, names = read_matrix(path)
    # Constant columns are legal in a file (e.g. one sex only); models that need variance
    # check the columns they use.
    values = validate_samples_2d(values, name=str(path), allow_constant=True)
    dataset = Dataset(name=name, values=values, columns=names, source=str(path))
    return dataset.select(columns) if columns is not None else dataset
