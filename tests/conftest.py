"""Shared test fixtures.

``shared_data`` gives the book's reference files in ``../shared/data`` (beside the checkout);
tests that use it skip cleanly when that folder is absent. ``quick_run`` runs every default
analysis once in --quick mode for the whole session (the tests of the analyses share it).
"""

import contextlib
import fcntl
import io
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEED = 20261124


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"book reference data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    """One BLAS thread per process for the whole session (see models.fitting.sample_nuts)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> SimpleNamespace:
    """``python -m analyses --quick`` (every default analysis, the default seed), run once per
    session: ``code`` (exit status), ``out`` (the output folder), ``summary`` (summary.json) and
    ``stdout`` (what it printed).

    Once per session *across pytest-xdist workers* too: the first worker to need it runs it under
    an exclusive lock in the directory the workers share and leaves its exit status and output
    there; the others wait on the lock and read them (pytest-xdist's documented recipe for a
    session fixture that must run once; its ``--dist loadgroup`` does not group with pytest 9).
    """
    from analyses.runner import DEFAULT_ANALYSES, main

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by every worker of this session
    out, done = root / "quick_run" / "results", root / "quick_run.json"
    with open(root / "quick_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            out.parent.mkdir(exist_ok=True)
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                code = main([*DEFAULT_ANALYSES, "--quick", "--out", str(out)])
            done.write_text(json.dumps({"code": code, "stdout": printed.getvalue()}))
        record = json.loads(done.read_text())
    return SimpleNamespace(code=record["code"], out=out, summary=json.loads((out / "summary.json").read_text()),
                           stdout=record["stdout"])


def pytest_collection_modifyitems(config, items):
    """Order for pytest-xdist: the first test that needs ``quick_run`` goes first (one worker
    starts the nine analyses at once), then the slow tests (the longest ones, so that none
    starts last and runs alone), then the rest, and the other ``quick_run`` readers last (no
    worker waits on its lock while there is other work). ``--dist worksteal`` (pyproject.toml)
    lets an idle worker take queued tests from a busy one."""
    readers = [item for item in items if "quick_run" in getattr(item, "fixturenames", ())]
    others = [item for item in items if item not in readers]
    slow = [item for item in others if item.get_closest_marker("slow")]
    rest = [item for item in others if not item.get_closest_marker("slow")]
    items[:] = readers[:1] + slow + rest + readers[1:]
