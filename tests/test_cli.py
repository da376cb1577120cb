"""The analysis CLI on bad --data: a clear one-line error, exit code 2, no traceback, nothing written."""

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
