"""A regular (non-editable) install works away from the source tree.

The shipped data sets must be installed with the package (as ``models.datasets``) and an
analysis must run from an unrelated directory. The wheel is built from a copy of the checkout
with the test environment's setuptools (no build isolation, no package index: works offline)
and installed with ``--no-deps`` into a fresh virtual environment that sees the test
environment's packages (the dependencies) through a ``.pth`` file. A ``.pth`` line only adds a
folder to ``sys.path``; the ``.pth`` files inside that folder (such as an editable install's
finder pointing at this checkout) are not run, so ``models`` can only come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow(seconds=15)

REPO = Path(__file__).resolve().parents[1]
#: Not copied for the build: version control, environments, build and run leftovers, tests.
_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "results", "tests"
)
_TIMEOUT = 600


def _run(cmd, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=_TIMEOUT
    )


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
        f"\n--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc


def _clean_env(tmp: Path) -> dict[str, str]:
    """The current environment without anything that would put the source tree on sys.path."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PYTHONNOUSERSITE="1", MPLBACKEND="Agg", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_INPUT="1", PIP_CACHE_DIR=str(tmp / "pip-cache"))
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of the fresh environment, its site-packages, an empty working folder, env vars)."""
    tmp = tmp_path_factory.mktemp("install")
    env = _clean_env(tmp)
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=_IGNORE)
    wheels = tmp / "wheels"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
              "--check-build-dependencies", "--no-index", "-w", wheels, src], cwd=tmp, env=env))
    (wheel,) = wheels.glob("gaussian_models-*.whl")

    venv_dir = tmp / "venv"
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", venv_dir], cwd=tmp, env=env))
    python = venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(_ok(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                            cwd=tmp, env=env)).stdout.strip())
    (purelib / "_test_environment.pth").write_text("".join(f"{p}\n" for p in site.getsitepackages()))
    # pip comes from the test environment; --ignore-installed: that environment's own
    # gaussian-models (this checkout, editable) is visible to pip but must be left alone.
    _ok(_run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", wheel],
             cwd=tmp, env=env))

    work = tmp / "work"  # cwd of every run: no models/ or analyses/ in it
    work.mkdir()
    return python, purelib, work, env


def test_models_and_data_come_from_the_new_environment(installed):
    python, purelib, work, env = installed
    code = ("import json, sys, models, analyses, models.data as d; "
            "print(json.dumps({'models': models.__file__, 'analyses': analyses.__file__, "
            "'data_dir': str(d.DATA_DIR), 'path': sys.path}))")
    seen = json.loads(_ok(_run([python, "-c", code], cwd=work, env=env)).stdout)
    assert Path(seen["models"]).resolve() == (purelib / "models" / "__init__.py").resolve()
    assert Path(seen["analyses"]).resolve() == (purelib / "analyses" / "__init__.py").resolve()
    assert Path(seen["data_dir"]).resolve() == (purelib / "models" / "datasets").resolve()
    assert REPO not in [(work / p).resolve() for p in seen["path"]]  # "" (for -c) is the cwd, work


def test_shipped_data_set_loads_from_another_directory(installed):
    python, _, work, env = installed
    code = "from models.data import load_dataset; print(load_dataset('faithful').values.shape)"
    assert _ok(_run([python, "-c", code], cwd=work, env=env)).stdout.strip() == "(272, 2)"


def test_closed_forms_runs_from_another_directory(installed):
    python, _, work, env = installed
    out = work.parent / "out"
    _ok(_run([python, "-m", "analyses", "closed_forms", "--quick", "--out", out], cwd=work, env=env))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["analyses"]["closed_forms"]["heights"]["N"] == 1050  # the shipped data set
    assert summary["checks"] and all(c["passed"] for c in summary["checks"])
