"""models.data: shipped data sets, user files, and clear errors for unreadable ones."""

import hashlib
import re
import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import models.data as data_module
from models.data import DATA_DIR, SHIPPED, load_dataset, parse_column_list, read_matrix
from models.validation import DataError

EXPECTED_SHAPES = {"faithful": (272, 2), "bdims": (507, 3), "heights": (1050, 2)}
REPO = Path(__file__).resolve().parents[1]
#: Every file that must be installed with the package: the CSVs and their provenance.
INSTALLED_FILES = [*SHIPPED.values(), "README.md"]


def test_data_dir_holds_every_shipped_file_and_the_provenance():
    assert isinstance(DATA_DIR, Path) and DATA_DIR.is_dir()
    missing = [f for f in INSTALLED_FILES if not (DATA_DIR / f).is_file()]
    assert not missing, f"{DATA_DIR} lacks {missing}"


def test_data_dir_is_the_installed_package_data():
    # The checkout's data/ in an editable install, site-packages/models/datasets otherwise. On an
    # editable install made before data/ was mapped to models.datasets: pip install -e . again.
    assert DATA_DIR == resources.files("models.datasets")


def test_pyproject_installs_data_folder_as_models_datasets():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "models.datasets" in setuptools["packages"]
    assert setuptools["package-dir"]["models.datasets"] == "data"
    patterns = setuptools["package-data"]["models.datasets"]
    for filename in INSTALLED_FILES:
        assert (REPO / "data" / filename).is_file(), filename
        assert any(fnmatch(filename, pattern) for pattern in patterns), f"{filename} would not be installed"


def test_missing_shipped_file_says_how_to_fix_the_install(monkeypatch, tmp_path):
    monkeypatch.setattr(data_module, "DATA_DIR", tmp_path)
    with pytest.raises(DataError, match=r"'faithful' is missing .*faithful\.csv.*models\.datasets.*pip install \."):
        load_dataset("faithful")


def test_without_models_datasets_the_checkout_data_folder_is_used(monkeypatch):
    def not_installed(package):
        raise ModuleNotFoundError(f"No module named {package!r}")

    monkeypatch.setattr(data_module.resources, "files", not_installed)
    assert data_module._shipped_dir() == Path(data_module.__file__).resolve().parent.parent / "data"


def _readme_checksums() -> dict[str, str]:
    text = (DATA_DIR / "README.md").read_text()
    return dict(re.findall(r"\| `(\w+)\.csv` \| [^|]+ \| `([0-9a-f]{64})` \|", text))


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_file_matches_provenance_checksum(name):
    digest = hashlib.sha256((DATA_DIR / SHIPPED[name]).read_bytes()).hexdigest()
    assert _readme_checksums()[name] == digest


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_shapes_and_dtype(name):
    ds = load_dataset(name)
    assert ds.values.shape == EXPECTED_SHAPES[name]
    assert ds.values.dtype == np.float64
    assert len(ds.columns) == ds.values.shape[1]


def test_faithful_equals_book_file(shared_data):
    book = np.loadtxt(shared_data / "old_faithful.txt")
    np.testing.assert_array_equal(load_dataset("faithful").values, book)


def test_book_txt_loads_with_known_figures(shared_data):
    ds = load_dataset(shared_data / "height_weight.txt")
    assert ds.values.shape == (25000, 2)
    assert ds.columns == ("col0", "col1")
    np.testing.assert_allclose(ds.values.mean(axis=0), [172.7025, 57.6422], atol=5e-5)


def test_bdims_sex_counts_as_documented():
    male = load_dataset("bdims").column("male")
    assert (male == 0).sum() == 260 and (male == 1).sum() == 247


def test_heights_match_published_inch_summary():
    # Irizarry, "Introduction to Data Science" (dslabs::heights, in inches): mean 68.32301, sd 4.078617.
    inches = load_dataset("heights").column("height_cm") / 2.54
    assert inches.mean() == pytest.approx(68.32301, abs=5e-6)
    assert inches.std(ddof=1) == pytest.approx(4.078617, abs=5e-6)


def test_select_by_name_and_position():
    ds = load_dataset("bdims", columns=["weight_kg", 0])
    assert ds.columns == ("weight_kg", "height_cm")
    np.testing.assert_array_equal(ds.values[:, 1], load_dataset("bdims").column("height_cm"))


def test_csv_integers_and_whitespace_txt(tmp_path):
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text("a,b\n1,2\n3,4\n\n")
    ds = load_dataset(csv_path)
    assert ds.name == "mine" and ds.columns == ("a", "b")
    np.testing.assert_array_equal(ds.values, [[1.0, 2.0], [3.0, 4.0]])
    txt = tmp_path / "mine.txt"
    txt.write_text("1.5  2\n3\t4e1\n")
    np.testing.assert_array_equal(load_dataset(txt).values, [[1.5, 2.0], [3.0, 40.0]])


@pytest.mark.parametrize(
    "filename, content, pattern",
    [
        ("ragged.csv", "a,b\n1,2\n3\n", r"line 3: 1 value\(s\) where 2.*ragged"),
        ("ragged.txt", "1 2\n3 4 5\n", r"line 2: 3 value\(s\) where 2"),
        ("header.txt", "height weight\n1 2\n", r"line 1: 'height weight' looks like a header.*save the file as \.csv"),
        ("text.csv", "a,b\n1,x\n", r"column\(s\) 'b' hold text \('x' in row 1\).*Numeric columns: a; pick numeric ones "
                                      r"with --columns a"),
        ("empty.csv", "", r"is empty"),
        ("header_only.csv", "a,b\n", r"no rows of data"),
        ("nan.csv", "a,b\n1,nan\n2,3\n", r"missing cells \(empty, NA or NaN\).*b: 1.*--dropna"),
        ("inf.csv", "a,b\n1,inf\n2,3\n", r"infinite"),
        ("binary.txt", b"\xff\xfe\x00\x81", r"not a UTF-8 text file"),
    ],
)
def test_malformed_files(tmp_path, filename, content, pattern):
    path = tmp_path / filename
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError, match=pattern):
        load_dataset(path)


def test_missing_file_names_the_shipped_alternatives(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such data file.*faithful"):
        load_dataset(tmp_path / "nope.csv")


def test_directory_is_refused(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_matrix(tmp_path)


def test_unknown_column(tmp_path):
    with pytest.raises(DataError, match=r"no column 'x'.*\['eruptions_min', 'waiting_min'\]"):
        load_dataset("faithful", columns=["x"])
    with pytest.raises(DataError, match=r"column 5 does not exist"):
        load_dataset("faithful").column(5)


# --------------------------------------------------------------------------- choosing columns, labels, missing rows

KAGGLE = ('"","sex","height","weight","note"\n'
          '"1","F",160.5,55,"ok"\n"2","M",NA,80,""\n"3","M",181,,"x"\n"4","F",165,60,NA\n"5","M",175,72,"y"\n')


@pytest.fixture
def kaggle(tmp_path):
    """An R-written CSV with row names, a text label, a free-text column and missing cells."""
    path = tmp_path / "people.csv"
    path.write_text(KAGGLE)
    return path


def test_columns_by_name_and_1_based_position_text_columns_left_alone(kaggle):
    ds = load_dataset(kaggle, columns=["weight", "2"], dropna=True)
    assert ds.columns == ("weight", "height")          # "2": the 2nd column once the row names are dropped
    np.testing.assert_array_equal(ds.values, [[55.0, 160.5], [60.0, 165.0], [72.0, 175.0]])
    assert ds.n_dropped == 2 and "dropped 2 of 5 rows with missing cells (weight: 1, height: 1)" in ds.notes
    assert any("R's write.csv row names" in n for n in ds.notes)


def test_without_columns_a_text_column_is_refused_with_the_line_to_use(kaggle):
    with pytest.raises(DataError, match=r"column\(s\) 'sex', 'note' hold text \('F' in row 1\).*Numeric columns: "
                                        r"height, weight; pick numeric ones with --columns height,weight"):
        load_dataset(kaggle)


def test_missing_cells_are_counted_per_column_and_name_dropna(kaggle):
    with pytest.raises(DataError, match=r"2 of 5 row\(s\) have missing cells .* height: 1, weight: 1 \(first in data "
                                        r"row 2\); drop those rows with --dropna"):
        load_dataset(kaggle, columns=["height", "weight"])
    # a missing cell in a column that is not used does not matter
    assert load_dataset(kaggle, columns=["height"], dropna=True).n_dropped == 1


def test_text_labels_become_codes_of_sorted_names(kaggle):
    ds = load_dataset(kaggle, columns=["height", "weight"], labels="sex", dropna=True)
    assert ds.label_column == "sex" and ds.label_names == ("F", "M")
    assert ds.labels.tolist() == [0, 0, 1] and ds.values[:, 0].tolist() == [160.5, 165.0, 175.0]
    # labels travel with a column selection
    assert ds.select(["weight"]).labels.tolist() == [0, 0, 1]
    # without columns: every other column, all of which must then be numeric
    numeric = load_dataset("bdims", labels="male")
    assert numeric.columns == ("height_cm", "weight_kg") and numeric.label_names == ("0", "1")
    assert np.bincount(numeric.labels).tolist() == [260, 247]


@pytest.mark.parametrize("columns, labels, pattern", [
    (["heigth"], None, r"--columns: .* has no column 'heigth'; its columns are \['sex', 'height', 'weight', 'note'\]"),
    (["9"], None, r"has 4 column\(s\), so position 9 does not exist"),
    (["sex"], None, r"--columns: column 'sex' .* holds text \('F' in row 1\).*--labels sex"),
    ([], None, r"selects no column"),
    (["height", "3", "height"], None, r"names column 'height' 2 times"),
    (["height", "sex"], "sex", r"both in --columns and --labels"),
    (["height"], "sexx", r"--labels: .* has no column 'sexx'"),
])
def test_bad_selections_are_refused(kaggle, columns, labels, pattern):
    with pytest.raises(DataError, match=pattern):
        load_dataset(kaggle, columns=columns, labels=labels, dropna=True)


def test_duplicate_header_names_are_refused_when_used(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,a,b\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"2 columns named 'a' \(positions 1, 2\); choose one by position"):
        load_dataset(path, columns=["a"])
    with pytest.raises(DataError, match=r"positions 1, 2 are all named 'a'; rename them"):
        load_dataset(path)
    assert load_dataset(path, columns=["2", "b"]).values.tolist() == [[2.0, 3.0], [5.0, 6.0]]


@pytest.mark.parametrize("text, expected", [("height,weight", ["height", "weight"]), (" a , 2 ", ["a", "2"])])
def test_parse_column_list(text, expected):
    assert parse_column_list(text) == expected


@pytest.mark.parametrize("text", ["", " , ", "a,,b"])
def test_parse_column_list_refuses_empty_items(text):
    with pytest.raises(DataError, match=r"empty"):
        parse_column_list(text)
