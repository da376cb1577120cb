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


#: Rough seconds of the shared --quick run (what the first ``quick_run`` reader pays), for the
#: schedule below; a slow test states its own as ``@pytest.mark.slow(seconds=...)`` (default 60).
QUICK_RUN_SECONDS = 240
SLOW_DEFAULT_SECONDS = 60


def _seconds(item) -> float:
    marker = item.get_closest_marker("slow")
    return float(marker.kwargs.get("seconds", SLOW_DEFAULT_SECONDS)) if marker is not None else 1.0


def pytest_collection_modifyitems(config, items):
    """Order for pytest-xdist's ``--dist worksteal`` (pyproject.toml), which first hands worker
    i the i-th contiguous slice of the collection (equal counts) and later lets an idle worker
    steal from the *end* of a busy worker's queue.

    So each slice is built to hold an equal share of the long work, started first: the first
    test that needs ``quick_run`` opens slice 0 (its worker runs the nine --quick analyses at
    once), the slow tests go to the slices longest first, each to the slice with the least work
    so far (``@pytest.mark.slow(seconds=...)``), then the fast tests fill the slices to their
    counts, and the other ``quick_run`` readers close the slices (no worker waits on its lock
    while there is other work, and they are the first to be stolen). Without xdist the order
    is the same as with one worker.
    """
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    readers = [item for item in items if "quick_run" in getattr(item, "fixturenames", ())]
    others = [item for item in items if item not in readers]
    slow = sorted((item for item in others if item.get_closest_marker("slow")), key=_seconds, reverse=True)
    fast = [item for item in others if not item.get_closest_marker("slow")]

    sizes = []  # what the scheduler sends each worker: len(pending) // workers_remaining
    left = len(items)
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    heads = [[] for _ in range(workers)]
    work = [0.0] * workers
    if readers:
        heads[0].append(readers[0])
        work[0] += QUICK_RUN_SECONDS
    for item in slow:
        i = min(range(workers), key=lambda j: (work[j], j))
        heads[i].append(item)
        work[i] += _seconds(item)
    tails = [[] for _ in range(workers)]
    for n, item in enumerate(readers[1:]):
        tails[n % workers].append(item)
    ordered, rest = [], iter(fast)
    for i in range(workers):
        room = max(0, sizes[i] - len(heads[i]) - len(tails[i]))
        ordered += heads[i] + [item for _, item in zip(range(room), rest)] + tails[i]
    ordered += list(rest)
    assert sorted(map(id, ordered)) == sorted(map(id, items))
    items[:] = ordered
