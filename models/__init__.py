"""The Gaussian and the Gaussian mixture model: closed forms, EM, and PyMC models.

Modules (each with one job):

* :mod:`models.validation` — the one input validator every entry point calls.
* :mod:`models.data` — shipped data sets and user files as float64 matrices.
* :mod:`models.io` — atomic writing of results.

Importing this package points pytensor at the system OpenBLAS when one is installed and the
user has not chosen BLAS flags; without it pytensor falls back to a slow BLAS.
"""

from __future__ import annotations

import glob
import os


def _configure_pytensor_blas() -> None:
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "blas__ldflags" in flags or "blas.ldflags" in flags:
        return
    # Linking with -lopenblas needs the development symlink (Debian: libopenblas-dev).
    if glob.glob("/usr/lib*/libopenblas.so") or glob.glob("/usr/lib*/*/libopenblas.so"):
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, "blas__ldflags=-lopenblas") if f)


_configure_pytensor_blas()
