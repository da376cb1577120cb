"""models.datafile: every file shape a user brings is read as meant, or refused with the fix.

Each case writes the file itself; the reference is what the bytes mean (written out by hand in
the case), and every float is compared with Python's own ``float`` of the cell.
"""

import numpy as np
import pytest

from models.datafile import read_table
from models.validation import DataError


def _write(tmp_path, name, content) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _numbers(table) -> dict[str, list[float]]:
    return {c.name: c.values.tolist() for c in table.columns if c.numeric}


#: file name -> (content, {column: values} expected, note expected or None)
READ_AS_MEANT = {
    "plain.csv": ("a,b\n1,2\n3.5,-4e1\n", {"a": [1.0, 3.5], "b": [2.0, -40.0]}, None),
    "bom.csv": ("\ufeffheight,weight\n170,65\n180,80\n", {"height": [170.0, 180.0], "weight": [65.0, 80.0]}, None),
    "quoted.csv": ('"height","weight"\n"170","65.5"\n"180","80"\n', {"height": [170.0, 180.0], "weight": [65.5, 80.0]},
                   None),
    "r_rownames.csv": ('"","x","y"\n"1",1.5,2\n"2",3,4\n"3",5,6\n', {"x": [1.5, 3.0, 5.0], "y": [2.0, 4.0, 6.0]},
                       "R's write.csv row names"),
    "r_unquoted.csv": (',x\n1,10\n2,20\n', {"x": [10.0, 20.0]}, "R's write.csv row names"),
    "pandas_index.csv": (',x\n0,10\n1,20\n2,30\n', {"x": [10.0, 20.0, 30.0]}, "pandas index"),
    "semicolon.csv": ("a;b\n1,5;2\n-0,25;4\n", {"a": [1.5, -0.25], "b": [2.0, 4.0]}, "';'"),
    "semicolon_dots.csv": ("a;b\n1.5;2\n3;4\n", {"a": [1.5, 3.0], "b": [2.0, 4.0]}, "';'"),
    "tab_named.csv": ("a\tb\n1\t2\n", {"a": [1.0], "b": [2.0]}, "tab"),
    "tabs.tsv": ("a\tb\n1\t2\n3\t4\n", {"a": [1.0, 3.0], "b": [2.0, 4.0]}, None),
    "no_header.csv": ("1.5,2\n3,4\n", {"col0": [1.5, 3.0], "col1": [2.0, 4.0]}, "no header line"),
    "crlf_blank_lines.csv": ("a,b\r\n1,2\r\n\r\n3,4\r\n", {"a": [1.0, 3.0], "b": [2.0, 4.0]}, None),
    "comments.txt": ("# the book's format\n1 2\n3\t4  # trailing\n\n5 6\n",
                     {"col0": [1.0, 3.0, 5.0], "col1": [2.0, 4.0, 6.0]}, None),
    "one_column.csv": ("h\n170\n180\n", {"h": [170.0, 180.0]}, None),
}


@pytest.mark.parametrize("name", sorted(READ_AS_MEANT))
def test_file_shapes_are_read_as_meant(tmp_path, name):
    content, expected, note = READ_AS_MEANT[name]
    table = read_table(_write(tmp_path, name, content))
    assert _numbers(table) == expected
    assert table.names == tuple(expected)
    if note is None:
        assert table.notes == ()
    else:
        assert any(note in n for n in table.notes), table.notes


def test_text_columns_and_missing_cells_are_kept_for_the_caller(tmp_path):
    table = read_table(_write(tmp_path, "mixed.csv", 'sex,height,name\nF,170,"Smith, J"\nM,NA,Doe\n,180,\n'))
    sex, height, name = table.columns
    assert (sex.numeric, height.numeric, name.numeric) == (False, True, False)
    assert sex.values.tolist() == ["F", "M", None] and name.values.tolist() == ["Smith, J", "Doe", None]
    assert np.isnan(height.values[1]) and height.values[[0, 2]].tolist() == [170.0, 180.0]
    assert sex.missing.tolist() == [False, False, True] and height.missing.tolist() == [False, True, False]
    assert sex.first_text() == (0, "F")


def test_text_row_names_are_skipped(tmp_path):
    table = read_table(_write(tmp_path, "mtcars.csv", '"","mpg","cyl"\n"Mazda RX4",21,6\n"Datsun 710",22.8,4\n'))
    assert table.names == ("mpg", "cyl") and "2 distinct labels" in table.notes[0]


def test_an_empty_header_name_over_data_is_kept_and_named(tmp_path):
    # values 3, 1, 2 are not a row-number sequence: they are data whose header cell is blank
    table = read_table(_write(tmp_path, "blank.csv", ",x\n3,1\n1,2\n2,3\n"))
    assert table.names == ("col0", "x") and _numbers(table)["col0"] == [3.0, 1.0, 2.0]
    assert "column 1 has no header name" in table.notes[0]


def test_every_float_is_parsed_as_python_parses_it(tmp_path, rng):
    """17-digit random doubles, subnormals, the largest double, signed zero and short decimals."""
    bits = rng.integers(0, 2**63, size=4000, dtype=np.uint64) | np.uint64(1) << np.uint64(62)
    doubles = bits.view(np.float64)
    doubles = doubles[np.isfinite(doubles) & (np.abs(doubles) < 1e300)][:2000]
    cells = [repr(float(v)) for v in doubles] + ["5e-324", "2.2250738585072014e-308", "1.7976931348623157e308",
                                                  "-0.0", "0.1", "0.3", "1e-7", "123456789012345678"]
    cells += [f"{v:.3f}" for v in rng.normal(70, 13, 2000)]
    text = "x\n" + "\n".join(cells) + "\n"
    got = read_table(_write(tmp_path, "floats.csv", text)).columns[0].values
    expected = np.array([float(c) for c in cells])
    assert np.array_equal(got.view(np.uint64), expected.view(np.uint64)), "bit-identical to float()"


@pytest.mark.parametrize(
    "filename, content, pattern",
    [
        ("ragged_long.csv", "a,b\n1,2\n3,4,5\n", r"line 3: 3 value\(s\) where 2 were expected \(ragged rows\)"),
        ("ragged_short.csv", "a,b\n1,2\n3\n4,5\n", r"line 3: 1 value\(s\) where 2 were expected \(ragged rows\)"),
        ("ragged.txt", "1 2\n3 4 5\n", r"line 2: 3 value\(s\) where 2"),
        ("ragged_short.txt", "1 2\n3\n", r"line 2: 1 value\(s\) where 2"),
        ("header.txt", "height weight\n1 2\n", r"line 1: 'height weight' looks like a header.*save the file as \.csv"),
        ("pipes.csv", "a|b\n1|2\n", r"separated by '\|', not commas; save the file comma-separated"),
        ("spaces.csv", "a b\n1 2\n", r"separated by spaces, not commas"),
        ("commas.tsv", "a,b\n1,2\n", r"comma-separated, not tab-separated.*rename it to \.csv"),
        ("empty.csv", "\n \n", r"is empty"),
        ("header_only.csv", "a,b\n", r"no rows of data"),
        ("only_row_names.csv", '""\n"1"\n"2"\n', r"holds only row names"),
        ("latin1.csv", "h\u00f6he\n1\n".encode("latin-1"), r"not a UTF-8 text file.*save it as UTF-8"),
    ],
)
def test_malformed_files_are_refused_with_the_fix(tmp_path, filename, content, pattern):
    with pytest.raises(DataError, match=pattern):
        read_table(_write(tmp_path, filename, content))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such data file.*faithful"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path)
