r"""Read a user's text file into named columns, as the user meant it, or refuse it with the fix.

Formats, by suffix:

* ``.csv`` — a header line of column names, then one row per observation. The delimiter is
  read off the header line: ``,``; or ``;`` (a spreadsheet's export in a locale whose decimal
  mark is the comma: a column written entirely with decimal commas, ``1,5``, is read as
  numbers); or a tab. A header split only by another character (``|``, spaces) is refused,
  naming it.
* ``.tsv`` — tab-separated, with a header line.
* anything else (``.txt``, ``.dat``, ...) — whitespace-separated numbers without a header,
  ``#`` comments (the format of ``numpy.loadtxt`` and of the book's data files).

In every format a UTF-8 byte-order mark is ignored, quoted fields (``"a,b"``, ``"1"``) work and
blank lines are skipped. Missing cells — empty, ``NA``, ``NaN``, ``N/A``, ``NULL``, ``None`` and
the rest of pandas' default list — are kept as missing (NaN in a numeric column, None in a text
column); :func:`models.data.load_dataset` decides what to do with them. A ``.csv``/``.tsv``
whose first line is all numbers has no header: its columns are named ``col0``, ``col1``, ...
as in a header-less ``.txt``, and a note says so.

R's ``write.csv`` (and pandas' ``to_csv``) write the row names first, under an empty header
name: values 1..N (0..N-1 for pandas), often quoted. Such a column — an empty header name over
1..N, 0..N-1, or N distinct text labels — is dropped with a note, never read as data. Any
other column without a header name is called ``col<j>`` (0-based position).

Reader: ``pandas.read_csv`` with its C engine, measured against the hand-written
``csv.reader`` + ``float()`` loop it replaces, on a 10⁶-row, two-column file of 17-digit floats
(60 MB; one core of the project's 2-core machine, peak resident memory above the ~100 MB the
imports take): comma-separated 0.10 s and +93 MB, against 4.1 s and +225 MB; whitespace-separated
0.24 s and +49 MB against 3.6 s and +225 MB; pandas' pyarrow engine took 0.19 s (+105 MB) and
``numpy.loadtxt`` 0.70 s. Every reader gave bit-identical float64 values (those of Python's
``float``), so the fastest, the C engine, is used; it also gives each malformed line's number.

Not ``csv.Sniffer``: it guesses from character frequencies over a sample and raises "Could
not determine delimiter" on any one-column file; the header line settles the question exactly.
Ragged rows: the C engine refuses a row with too many fields but fills a short one with
missing cells, so when missing cells turn up the file is scanned once more for short rows,
which are refused as ragged (a truncated row is a damaged file, not a missing value).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.validation import DataError

__all__ = ["Column", "TextTable", "read_table", "FORMATS"]

#: Suffix -> how the file is read (anything else: whitespace-separated numbers, no header).
FORMATS = {".csv": "comma- or semicolon-separated, header line", ".tsv": "tab-separated, header line"}

#: Delimiters detected on a .csv header line, in order of preference, and how notes name them.
_DELIMITERS = {",": "','", ";": "';'", "\t": "tab"}
#: Delimiters recognised only to refuse them by name.
_REFUSED = {"|": "'|'", " ": "spaces"}
#: A number written with a decimal comma: 1,5  -0,25  ,5  3  1,5e3.
_DECIMAL_COMMA = re.compile(r"[+-]?(\d+(,\d*)?|,\d+)([eE][+-]?\d+)?")
_PANDAS_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass(frozen=True)
class Column:
    """One column of a file.

    Attributes
    ----------
    name : as in the header (stripped), or ``col<j>``.
    values : (N,) float64 with NaN for missing cells when ``numeric``; otherwise (N,) object
        array of stripped strings with None for missing cells.
    numeric : every present cell is a number.
    """

    name: str
    values: np.ndarray
    numeric: bool

    @property
    def missing(self) -> np.ndarray:
        """(N,) bool: which cells are missing."""
        return np.isnan(self.values) if self.numeric else np.array([v is None for v in self.values], dtype=bool)

    def first_text(self) -> tuple[int, str] | None:
        """(0-based row, cell) of the first present cell that is not a number, for messages."""
        if self.numeric:
            return None
        for i, cell in enumerate(self.values):
            if cell is not None and not _is_number(cell):
                return i, cell
        return None


@dataclass(frozen=True)
class TextTable:
    """A file as named columns: ``columns`` (each (N,)), ``source`` (the path), and ``notes``:
    what the reader decided that the user should hear (delimiter, row names dropped, no header)."""

    source: str
    columns: tuple[Column, ...]
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def n_rows(self) -> int:
        return int(self.columns[0].values.shape[0]) if self.columns else 0


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _utf8_error(path: Path, exc: UnicodeDecodeError) -> DataError:
    return DataError(f"{path} is not a UTF-8 text file ({exc.reason} at byte {exc.start}); save it as UTF-8 "
                     "text (CSV UTF-8 in a spreadsheet) and pass it again.")


def _first_lines(path: Path, n: int = 2, comment: str | None = None) -> list[str]:
    """The first ``n`` lines with content (BOM removed, line ends and ``comment`` parts stripped)."""
    lines = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for line in handle:
                line = line.split(comment, 1)[0] if comment else line
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                    if len(lines) == n:
                        break
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, exc) from None
    return lines


def _fields(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter))


def _refused_delimiter(path: Path, lines: list[str], expected: str) -> None:
    """Raise when the header and the first row are both split by a delimiter that is not read."""
    for char, label in _REFUSED.items():
        split = [len(line.split()) if char == " " else len(_fields(line, char)) for line in lines]
        if split and min(split) > 1 and len(set(split)) == 1:
            raise DataError(f"{path}: the header line {lines[0]!r} is separated by {label}, not {expected}; save the "
                            "file comma-separated (.csv) or tab-separated (.tsv), or, for numbers without a header, "
                            "as whitespace-separated .txt.")


def _delimiter(path: Path, lines: list[str], suffix: str) -> tuple[str, list[str]]:
    """The delimiter of a .csv/.tsv, read off its header line, and the notes to print."""
    header = lines[0]
    if suffix == ".tsv":
        if len(_fields(header, "\t")) == 1 and len(_fields(header, ",")) > 1:
            raise DataError(f"{path} is comma-separated, not tab-separated (header {header!r}); rename it to .csv.")
        if len(_fields(header, "\t")) == 1:
            _refused_delimiter(path, lines, "tabs")
        return "\t", []
    for delimiter, label in _DELIMITERS.items():
        if len(_fields(header, delimiter)) > 1:
            return delimiter, ([] if delimiter == "," else [f"delimiter: {label} (detected on the header line)"])
    _refused_delimiter(path, lines, "commas")
    return ",", []  # one column


def _ragged(path: Path, line: int, got: int, expected: int) -> DataError:
    return DataError(f"{path}, line {line}: {got} value(s) where {expected} were expected (ragged rows); every row "
                     "must have the same number of columns as the header (or, in a .txt, as the first row).")


def _short_row(path: Path, delimiter: str | None, expected: int) -> DataError | None:
    """The first row with fewer fields than ``expected`` (scanned only when cells are missing)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if delimiter is None:
            for number, line in enumerate(handle, start=1):
                cells = line.split("#", 1)[0].split()
                if cells and len(cells) < expected:
                    return _ragged(path, number, len(cells), expected)
            return None
        reader = csv.reader(handle, delimiter=delimiter)
        for row in reader:
            if any(cell.strip() for cell in row) and len(row) < expected:
                return _ragged(path, reader.line_num, len(row), expected)
    return None


def _refuse_header_in_txt(path: Path, frame) -> None:
    """A whitespace file is numbers only: a first line of words over rows of numbers is a header
    it cannot have."""
    import pandas as pd

    first = [frame[c].iloc[0] for c in frame.columns]
    rest = frame.iloc[1:]
    words = all(isinstance(v, str) and not _is_number(v) for v in first)
    numbers_below = all((pd.to_numeric(rest[c], errors="coerce").notna() | rest[c].isna()).all() for c in rest.columns)
    if words and numbers_below:
        raise DataError(f"{path}, line 1: {' '.join(first)!r} looks like a header line, but a whitespace-separated "
                        f"{path.suffix or 'file'} is read as numbers without one; save the file as .csv or .tsv "
                        "(header kept) or delete the line.")


def _text_values(series) -> np.ndarray:
    """A pandas column that is not numeric as (N,) object: stripped strings, None when missing."""
    import pandas as pd

    return np.array([None if pd.isna(v) else str(v).strip() for v in series], dtype=object)


def _decimal_commas(values: np.ndarray) -> np.ndarray | None:
    """Float values of a text column written with decimal commas, or None when it is not one."""
    present = [v for v in values if v is not None]
    if not present or not any("," in v for v in present) or not all(_DECIMAL_COMMA.fullmatch(v) for v in present):
        return None
    return np.array([np.nan if v is None else float(v.replace(",", ".")) for v in values], dtype=np.float64)


def _to_column(name: str, series, *, decimal_comma: bool) -> tuple[Column, bool]:
    """A pandas column as a :class:`Column`; also whether decimal commas were converted."""
    if series.dtype.kind in "iuf":
        return Column(name, series.to_numpy(dtype=np.float64, na_value=np.nan), True), False
    values = _text_values(series)
    if decimal_comma and (converted := _decimal_commas(values)) is not None:
        return Column(name, converted, True), True
    return Column(name, values, False), False


def _row_names(column: Column) -> str | None:
    """Why a column with an empty header name is a row-names column, or None when it is not one."""
    n = column.values.shape[0]
    if column.numeric:
        values = column.values
        if np.array_equal(values, np.arange(1, n + 1)):
            return "values 1..N: R's write.csv row names"
        if np.array_equal(values, np.arange(n)):
            return "values 0..N-1: a pandas index"
        return None
    present = [v for v in column.values if v is not None]
    if len(present) == n and len(set(present)) == n:
        return f"{n} distinct labels: row names"
    return None


def read_table(path: str | Path) -> TextTable:
    """Read a .csv, .tsv or whitespace text file (formats in the module docstring).

    Returns
    -------
    TextTable with one :class:`Column` per column (N rows, N >= 1), numeric or text, missing
    cells kept.

    Raises
    ------
    FileNotFoundError
        No such file.
    DataError
        A directory, an empty file, a header without rows, ragged rows, a delimiter that is not
        read, a file that is not UTF-8 — each message says how to fix it.
    """
    import pandas as pd

    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"No such data file: {path}. Pass a path to a CSV (with header), TSV or whitespace .txt file, or one of "
            "the shipped names ['bdims', 'faithful', 'heights'].")
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a data file; pass the path of a CSV or .txt file inside it.")
    suffix = path.suffix.lower()
    lines = _first_lines(path, comment=None if suffix in FORMATS else "#")
    if not lines:
        raise DataError(f"{path} is empty; pass a file with at least one row of numbers"
                        f"{' under a header line' if suffix in FORMATS else ''}.")
    notes: list[str] = []
    if suffix in FORMATS:
        delimiter, notes = _delimiter(path, lines, suffix)
        header = [name.strip() for name in _fields(lines[0], delimiter)]
        has_header = not all(name and _is_number(name) for name in header)
        if not has_header:
            notes.append("no header line (the first line is numbers): columns named col0, col1, ...")
        options = {"sep": delimiter, "header": 0 if has_header else None}
    else:
        delimiter, header, has_header = None, [], False
        options = {"sep": r"\s+", "header": None, "comment": "#"}
    width = len(header) if has_header else len(_fields(lines[0], delimiter) if delimiter else lines[0].split())
    try:
        frame = pd.read_csv(path, names=[f"c{j}" for j in range(width)], index_col=False, encoding="utf-8-sig",
                            low_memory=False, engine="c", **options)
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, exc) from None
    except pd.errors.ParserError as exc:
        found = _PANDAS_RAGGED.search(str(exc))
        if found:
            expected, line, got = (int(g) for g in found.groups())
            raise _ragged(path, line, got, expected) from None
        raise DataError(f"{path} could not be parsed ({str(exc).strip()}); check its quotes and delimiters.") from None
    if frame.shape[0] == 0:
        raise DataError(f"{path} has no rows of data; pass a file with at least one observation.")
    if frame.isna().to_numpy().any():
        short = _short_row(path, delimiter, width)
        if short is not None:
            raise short
    names = header if has_header else [f"col{j}" for j in range(width)]
    if delimiter is None:
        _refuse_header_in_txt(path, frame)
    columns, converted = [], []
    for j, key in enumerate(frame.columns):
        column, comma = _to_column(names[j], frame[key], decimal_comma=delimiter == ";")
        columns.append(column)
        if comma:
            converted.append(column.name)
    if converted:
        notes.append(f"decimal commas read as decimal points in {', '.join(converted)}")
    if has_header and names[0] == "" and (why := _row_names(columns[0])) is not None:
        notes.append(f"skipped the first column: no header name, {why}")
        columns = columns[1:]
        if not columns:
            raise DataError(f"{path} holds only row names; pass a file with at least one column of data.")
    start = len(names) - len(columns)
    for j, column in enumerate(columns):
        if not column.name:
            columns[j] = Column(f"col{j + start}", column.values, column.numeric)
            notes.append(f"column {j + start + 1} has no header name: called col{j + start}")
    return TextTable(str(path), tuple(columns), tuple(notes))
