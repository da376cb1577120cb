"""The analysis CLI on bad --data: a clear one-line error, exit code 2, no traceback, nothing written."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from analyses import runner

ROOT = Path(__file__).resolve().parents[1]

#: file name -> (content, or None for "do not create", or "DIR" for a directory; expected message)
BAD_FILES = {
    "missing.csv": (None, r"No such data file"),
    "folder.csv": ("DIR", r"is a directory"),
    "ragged.csv": ("a,b\n1,2\n3\n", r"row"),
    "header.txt": ("height weight\n1 2\n3 4\n", r"header|non-numeric|not a number"),
    "nan.csv": ("a,b\n1,2\nnan,4\n3,5\n", r"NaN"),
    "inf.csv": ("a,b\n1,2\ninf,4\n3,5\n", r"infinite"),
    "empty.csv": ("", r"empty"),
    "words.csv": ("a,b\n1,x\n3,4\n", r"non-numeric|not a number|numeric"),
}


def _make(tmp_path: Path, name: str) -> Path:
    content = BAD_FILES[name][0]
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    return path


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_data_file_exits_two_with_message_and_writes_nothing(tmp_path, capsys, name):
    path = _make(tmp_path, name)
    out = tmp_path / "results"
    assert runner.main(["closed_forms", "--data", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert err.count("\n") == 1, "the error is one line"
    import re

    assert re.search(BAD_FILES[name][1], err, flags=re.IGNORECASE), err
    assert not out.exists()


def test_script_entry_point_exit_code_and_stderr(tmp_path):
    """The real process: ``python analyses/closed_forms.py --data missing`` exits 2 without a traceback."""
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(ROOT / "analyses" / "closed_forms.py"), "--data",
                           str(tmp_path / "nope.txt"), "--out", str(out)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: No such data file") and "Traceback" not in proc.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- file shapes and data options

#: A file as R's write.csv writes it: quoted row names under an empty header name, a text label.
R_CSV = ('"","sex","height","weight"\n"1","F",160.5,55\n"2","M",181,80\n"3","F",165,60\n"4","M",175,72\n'
         '"5","F",158,51\n"6","M",183,85\n')
#: name -> (file name, content, extra arguments, expected mean of each column used (height, weight))
ACCEPTED = {
    "R row names": ("r.csv", R_CSV, ["--columns", "height,weight"], [170.41666666666666, 67.16666666666667]),
    "tsv": ("t.tsv", "height\tweight\n160\t55\n180\t80\n170\t60\n", [], [170.0, 65.0]),
    "semicolon, decimal commas": ("s.csv", "height;weight\n160,5;55\n180;80,5\n170;60\n", [], [170.16666666666666, 65.16666666666667]),
    "BOM": ("b.csv", "\ufeffheight,weight\n160,55\n180,80\n170,60\n", [], [170.0, 65.0]),
    "quotes": ("q.csv", '"height","weight","note"\n"160","55","a, b"\n"180","80","c"\n"170","60",""\n',
               ["--columns", "height,weight"], [170.0, 65.0]),
    "NA dropped": ("n.csv", "height,weight\n160,55\nNA,80\n180,\n170,60\n176,70\n", ["--dropna"], [168.66666666666666, 61.666666666666664]),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_file_shapes_are_read_as_meant_through_the_cli(tmp_path, capsys, case):
    """Through ``python -m analyses closed_forms --quick``: exit 0, the data line printed, and the
    MLE mean vector closed_forms records equals the means of the columns meant (R's row numbers,
    a note column, NA rows or a BOM would each move it)."""
    filename, content, extra, means = ACCEPTED[case]
    path = tmp_path / filename
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "results"
    assert runner.main(["closed_forms", "--quick", "--data", str(path), "--out", str(out), *extra]) == 0
    printed = capsys.readouterr().out
    assert f"data: {path.stem} (" in printed and "columns height, weight)" in printed
    summary = json.loads((out / "summary.json").read_text())
    recorded = next(c for c in summary["checks"] if c["quantity"] == "mean vector (MLE)")
    assert recorded["value"] == pytest.approx(means, rel=1e-12)
    if case == "R row names":
        assert "skipped the first column: no header name, values 1..N: R's write.csv row names" in printed
    if case == "NA dropped":
        assert "data: dropped 2 of 5 rows with missing cells (height: 1, weight: 1)" in printed
        assert summary["settings"]["dropped_rows"] == 2 and summary["settings"]["dropna"] is True


#: name -> (file content or None for R_CSV, arguments after the file, expected message)
REFUSED = {
    "text column": ("sex,height\nF,170\nM,180\n", ["closed_forms"],
                    r"'sex' hold text \('F' in row 1\).*Numeric columns: height; pick numeric ones with --columns height"),
    "NA cells": ("a,b\n1,NA\n2,3\n", ["closed_forms"],
                 r"1 of 2 row\(s\) have missing cells \(empty, NA or NaN\).*b: 1 .*--dropna"),
    "empty cells": ("a,b\n1,\n,3\n4,5\n", ["closed_forms"], r"2 of 3 row\(s\) have missing cells.*a: 1, b: 1"),
    "pipe-separated": ("a|b\n1|2\n", ["closed_forms"], r"separated by '\|', not commas"),
    "unknown column": (None, ["closed_forms", "--columns", "heigth"], r"no column 'heigth'; its columns are"),
    "selected text column": (None, ["closed_forms", "--columns", "height,sex"], r"column 'sex' .*holds text.*--labels sex"),
    "empty selection": (None, ["closed_forms", "--columns", ","], r"--columns is empty"),
    "duplicate names": (None, ["closed_forms", "--columns", "height,3,height"], r"names column 'height' 2 times"),
    "duplicate header": ("a,a\n1,2\n3,4\n", ["closed_forms"], r"positions 1, 2 are all named 'a'"),
    "three label groups": ('"","sex","height","weight"\n"1","F",160,55\n"2","M",181,80\n"3","X",170,60\n',
                           ["body_gmm", "--columns", "height,weight", "--labels", "sex"],
                           r"--labels sex has 3 group\(s\) \(F, M, X\), but body_gmm compares 2"),
    "one column for a GMM": (None, ["old_faithful_gmm", "--columns", "height"],
                             r"old_faithful_gmm uses 2 columns, but --columns gives 1 \(height\)"),
    "labels nobody uses": (None, ["closed_forms", "--columns", "height", "--labels", "sex"],
                           r"--labels is used by body_gmm, and none of the analyses being run"),
    "dequantize widths": (None, ["choosing_k", "--columns", "height,weight", "--dequantize", "1,2,3"],
                          r"gives 3 widths for 2 columns"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_data_choices_exit_two_before_anything_runs(tmp_path, capsys, case):
    content, args, pattern = REFUSED[case]
    path = tmp_path / "data.csv"
    path.write_text(R_CSV if content is None else content)
    out = tmp_path / "results"
    assert runner.main([args[0], "--quick", "--data", str(path), "--out", str(out), *args[1:]]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert re.search(pattern, captured.err), captured.err
    assert "Traceback" not in captured.err and "[" + args[0] + "]" not in captured.out, "no analysis started"
    assert not out.exists()


@pytest.mark.parametrize("option", [["--columns", "a"], ["--dropna"], ["--labels", "sex"], ["--dequantize", "1"]])
def test_data_options_need_data(tmp_path, capsys, option):
    out = tmp_path / "results"
    assert runner.main(["body_gmm", "--out", str(out), *option]) == 2
    assert f"{option[0]} applies to a --data file" in capsys.readouterr().err and not out.exists()
