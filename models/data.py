"""Load the shipped data sets, or a user's file, as a float64 matrix with column names.

:func:`load_dataset` reads a shipped name or a file (``.csv``, ``.tsv``, whitespace ``.txt``: see
:mod:`models.datafile` for the formats, delimiters, quotes, byte-order marks and R's row
names) and chooses what the models get:

* ``columns`` — the columns to use, by name or position; text columns may sit in the file as
  long as they are not chosen. Without ``columns`` every column is used, and a file with a
  text column is refused with a message that lists the numeric columns and the ``--columns``
  line that picks them.
* ``labels`` — a column of group labels (text or numbers), kept apart as integer codes.
* ``dropna`` — rows with a missing cell in a used column are refused, counted per column,
  unless ``dropna=True`` drops them (the count is kept in :attr:`Dataset.n_dropped`).

Shipped names (see ``data/README.md`` for provenance): ``faithful``, ``bdims``, ``heights``.
The CSVs live in the repository's top-level ``data/`` folder, which is installed with the
package as ``models.datasets`` (``pyproject.toml`` maps that package onto the folder), so they
are found in an editable install and a regular ``pip install .`` alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from models.datafile import Column, TextTable, read_table
from models.validation import DataError, validate_samples_2d

__all__ = ["Dataset", "DATA_DIR", "SHIPPED", "load_dataset", "read_matrix", "parse_column_list"]


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
    """A named data matrix, with the group labels and reading notes that came with it.

    Attributes
    ----------
    name : short name (shipped name, or the file's stem).
    values : ndarray, shape (N, D), float64, finite.
    columns : D column names (``col0``, ``col1``, ... for header-less files).
    source : where it was read from.
    labels : (N,) int codes 0..G-1 of the ``label_column``, or None.
    label_names : the G label values (as text) that the codes stand for, sorted.
    label_column : the column the labels came from, or None.
    notes : what reading and choosing decided (delimiter, row names skipped, rows dropped).
    n_dropped : rows dropped for missing cells (``dropna=True``).

    Example
    -------
    >>> from models.data import load_dataset
    >>> body = load_dataset("bdims", columns=["height_cm", "weight_kg"], labels="male")
    >>> body.values.shape, body.label_names
    ((507, 2), ('0', '1'))
    """

    name: str
    values: np.ndarray
    columns: tuple[str, ...]
    source: str
    labels: np.ndarray | None = None
    label_names: tuple[str, ...] = ()
    label_column: str | None = None
    notes: tuple[str, ...] = ()
    n_dropped: int = 0

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    def column(self, key: str | int) -> np.ndarray:
        """One column, shape (N,), by name or position."""
        return self.values[:, self._index(key)]

    def select(self, keys) -> "Dataset":
        """A dataset restricted to the given columns (names or positions), in that order."""
        idx = [self._index(k) for k in keys]
        return replace(self, values=self.values[:, idx], columns=tuple(self.columns[i] for i in idx))

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


def parse_column_list(text: str) -> list[str]:
    """``--columns`` as typed, ``"height,2"`` -> ``["height", "2"]`` (names, or 1-based positions).

    Raises DataError for an empty selection or an empty item (``"a,,b"``).
    """
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise DataError("--columns is empty; name at least one column, e.g. --columns height,weight "
                        "(names or 1-based positions).")
    if not all(items):
        raise DataError(f"--columns {text!r} has an empty item; separate names with single commas, "
                        "e.g. --columns height,weight.")
    return items


def _position(table: TextTable, key, option: str) -> int:
    """0-based index of ``key``: a name, a 0-based int, or a string of digits (1-based, as typed)."""
    names = table.names
    if isinstance(key, str):
        if key in names:
            where = [j for j, n in enumerate(names) if n == key]
            if len(where) > 1:
                raise DataError(f"{table.source} has {len(where)} columns named {key!r} (positions "
                                f"{', '.join(str(j + 1) for j in where)}); choose one by position, e.g. "
                                f"{option} {where[0] + 1}, or rename them in the file.")
            return where[0]
        if key.isdigit():
            key = int(key) - 1
            if not 0 <= key < len(names):
                raise DataError(f"{option}: {table.source} has {len(names)} column(s), so position {key + 1} does "
                                f"not exist; its columns are {list(names)}.")
            return key
        raise DataError(f"{option}: {table.source} has no column {key!r}; its columns are {list(names)} "
                        "(names or 1-based positions).")
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and -len(names) <= key < len(names):
        return int(key) % len(names)
    raise DataError(f"{table.source} has {len(names)} column(s) {list(names)}; column {key!r} does not exist. "
                    "Pass a file with more columns.")


def _text_hint(column: Column) -> str:
    found = column.first_text()
    return f"{found[1]!r} in row {found[0] + 1}" if found else "text"


def _choose(table: TextTable, columns, label: int | None) -> list[int]:
    """Indices of the columns to use: ``columns`` as given, or every column but the labels."""
    numeric = [c.name for j, c in enumerate(table.columns) if c.numeric and j != label]
    if columns is None:
        chosen = [j for j in range(len(table.columns)) if j != label]
        text = [table.columns[j] for j in chosen if not table.columns[j].numeric]
        if text:
            first = text[0]
            pick = (f"pick numeric ones with --columns {','.join(numeric)} (columns=[...] from Python)" if numeric
                    else "the file has no numeric column to use")
            raise DataError(f"{table.source}: column(s) {', '.join(repr(c.name) for c in text)} hold text "
                            f"({_text_hint(first)}); the models need numbers. Numeric columns: "
                            f"{', '.join(numeric) or 'none'}; {pick}"
                            f"{'; a text column can be group labels: --labels NAME' if numeric else ''}.")
        return chosen
    if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
        raise DataError(f"columns must be a list of names or positions, got {columns!r}.")
    keys = list(columns)
    if not keys:
        raise DataError("--columns selects no column; name at least one, e.g. --columns height,weight.")
    chosen = [_position(table, key, "--columns") for key in keys]
    for j in set(chosen):
        if chosen.count(j) > 1:
            raise DataError(f"--columns names column {table.columns[j].name!r} {chosen.count(j)} times; name each "
                            "column once.")
    if label is not None and label in chosen:
        raise DataError(f"column {table.columns[label].name!r} is both in --columns and --labels; labels are not "
                        "measurements: drop it from --columns.")
    text = [table.columns[j] for j in chosen if not table.columns[j].numeric]
    if text:
        raise DataError(f"--columns: column {text[0].name!r} of {table.source} holds text ({_text_hint(text[0])}), "
                        f"not numbers; choose numeric columns ({', '.join(numeric) or 'none in this file'}), or pass "
                        f"it as --labels {text[0].name} if it names groups.")
    return chosen


def _refuse_duplicate_names(table: TextTable, used: list[int]) -> None:
    names = [table.columns[j].name for j in used]
    for name in dict.fromkeys(names):
        if names.count(name) > 1:
            where = [j + 1 for j in used if table.columns[j].name == name]
            raise DataError(f"{table.source}: the columns at positions {', '.join(map(str, where))} are all named "
                            f"{name!r}; rename them in the file so that each name is used once.")


def _missing_rows(table: TextTable, used: list[int], dropna: bool) -> tuple[np.ndarray, str]:
    """(rows to keep (N,) bool, note); refuses missing cells without ``dropna``."""
    missing = {table.columns[j].name: table.columns[j].missing for j in used}
    counts = {name: int(m.sum()) for name, m in missing.items() if m.any()}
    if not counts:
        return np.ones(table.n_rows, dtype=bool), ""
    bad = np.logical_or.reduce(list(missing.values()))
    per_column = ", ".join(f"{name}: {n}" for name, n in counts.items())
    if not dropna:
        first = int(np.argmax(bad)) + 1
        raise DataError(f"{table.source}: {int(bad.sum())} of {table.n_rows} row(s) have missing cells (empty, NA or "
                        f"NaN) in the columns used — {per_column} (first in data row {first}); drop those rows with "
                        "--dropna (dropna=True from Python), or fill the cells in the file.")
    if bad.all():
        raise DataError(f"{table.source}: every row has a missing cell in the columns used ({per_column}); "
                        "nothing is left after --dropna. Choose other columns with --columns.")
    return ~bad, f"dropped {int(bad.sum())} of {table.n_rows} rows with missing cells ({per_column})"


def _label_codes(column: Column) -> tuple[np.ndarray, tuple[str, ...]]:
    """(N,) int codes and the sorted label values as text."""
    if column.numeric:
        values, codes = np.unique(column.values, return_inverse=True)
        return codes.astype(int), tuple(f"{v:g}" for v in values)
    values, codes = np.unique(column.values.astype(str), return_inverse=True)
    return codes.astype(int), tuple(str(v) for v in values)


def _read(name_or_path) -> tuple[TextTable, str]:
    key = str(name_or_path)
    if key in SHIPPED:
        path = DATA_DIR / SHIPPED[key]
        if not path.is_file():
            raise DataError(
                f"The shipped data set {key!r} is missing from this installation: no file {path}. "
                "The CSVs are package data of models.datasets (the repository's data/ folder); "
                "reinstall from a complete checkout, e.g. `pip install .` (or `pip install -e .`) "
                "in the repository root, or pass the path of a data file instead."
            )
        return read_table(path), key
    path = Path(key).expanduser()
    return read_table(path), path.stem


def read_matrix(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read an all-numeric file (any format of :mod:`models.datafile`).

    Returns
    -------
    values : ndarray, shape (N, D), float64 (not yet validated: missing cells are NaN).
    columns : D column names.
    """
    table = read_table(path)
    _choose(table, None, None)  # refuses text columns
    return np.column_stack([c.values for c in table.columns]), table.names


def load_dataset(name_or_path: str | Path, *, columns=None, labels=None, dropna: bool = False) -> Dataset:
    """Load a shipped data set by name, or a user's file by path, and choose what to use.

    Parameters
    ----------
    name_or_path : ``"faithful"``, ``"bdims"``, ``"heights"``, or a file path (``.csv``,
        ``.tsv``, whitespace ``.txt``; see :mod:`models.datafile`).
    columns : the columns to use, in order: names, 0-based ints, or strings of digits (1-based
        positions, as ``--columns`` takes them). Default: every column but ``labels``, which must
        then all be numeric.
    labels : a column (name or position, as in ``columns``) of group labels, text or numbers.
    dropna : drop the rows with a missing cell in a used column (default: refuse them).

    Returns
    -------
    Dataset with ``values`` of shape (N, D), validated: finite, numeric, not empty.

    Raises
    ------
    DataError
        Unknown, duplicate or text columns, missing cells without ``dropna``, NaN/inf, ...:
        one line saying what was wrong and how to fix it.

    Example
    -------
    >>> from models.data import load_dataset
    >>> faithful = load_dataset("faithful")
    >>> faithful.columns, faithful.values.shape
    (('eruptions_min', 'waiting_min'), (272, 2))
    """
    table, name = _read(name_or_path)
    label = _position(table, labels, "--labels") if labels is not None else None
    chosen = _choose(table, columns, label)
    used = chosen + ([label] if label is not None else [])
    _refuse_duplicate_names(table, used)
    keep, dropped = _missing_rows(table, used, dropna)
    values = np.column_stack([table.columns[j].values[keep] for j in chosen])
    # Constant columns are legal in a file (e.g. one sex only); models that need variance
    # check the columns they use.
    values = validate_samples_2d(values, name=table.source, allow_constant=True)
    codes, names, label_column = None, (), None
    if label is not None:
        column = table.columns[label]
        codes, names = _label_codes(Column(column.name, column.values[keep], column.numeric))
        label_column = column.name
    return Dataset(name=name, values=values, columns=tuple(table.columns[j].name for j in chosen),
                   source=table.source, labels=codes, label_names=names, label_column=label_column,
                   notes=table.notes + ((dropped,) if dropped else ()), n_dropped=int((~keep).sum()))
