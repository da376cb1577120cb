"""Shared test fixtures.

``shared_data`` gives the book's reference files in ``../shared/data`` (beside the checkout);
tests that use it skip cleanly when that folder is absent. ``quick_run`` runs every default
analysis once in --quick mode for the whole session (the tests of the analyses share it).
"""

import contextlib
import io
import json
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
    ``stdout`` (what it printed)."""
    from analyses.runner import DEFAULT_ANALYSES, main

    out = tmp_path_factory.mktemp("quick_run") / "results"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main([*DEFAULT_ANALYSES, "--quick", "--out", str(out)])
    return SimpleNamespace(code=code, out=out, summary=json.loads((out / "summary.json").read_text()),
                           stdout=printed.getvalue())
