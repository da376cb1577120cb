"""Shared test fixtures.

``shared_data`` gives the book's reference files in ``../shared/data`` (beside the checkout);
tests that use it skip cleanly when that folder is absent.
"""

from pathlib import Path

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
