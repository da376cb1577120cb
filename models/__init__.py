"""The Gaussian and the Gaussian mixture model: closed forms, EM, and PyMC models.

Modules (each with one job):

* :mod:`models.validation` — the one input validator every entry point calls.
* :mod:`models.data` — shipped data sets and user files as float64 matrices.
* :mod:`models.io` — atomic writing of results.

Importing this package points pytensor at the system OpenBLAS when one is installed and the
user has not chosen BLAS flags; without it pytensor falls back to a slow BLAS.

The names a notebook or script needs are importable from here, ``from models import
fit_gmm_map, ...`` (see :data:`__all__` and the README's "Use it from Python"); each is
imported from its module on first use, so ``import models`` stays light (no PyMC until a PyMC
name is asked for).
"""

from __future__ import annotations

import glob
import importlib
import os

#: Public name -> the module that defines it.
_EXPORTS = {
    # data
    "load_dataset": "models.data",
    "tie_report": "models.ties",
    "dequantize": "models.ties",
    # closed forms
    "mle_mean": "models.gaussian",
    "mle_var": "models.gaussian",
    "mle_cov": "models.gaussian",
    "NormalGamma": "models.conjugate",
    "fit_em": "models.em",
    "responsibilities": "models.gmm",
    # PyMC models
    "normal_model": "models.gaussian_models",
    "gmm_marginal_model": "models.gmm_builders",
    "gmm_dp_model": "models.gmm_dp_builders",
    # fitting
    "fit_map": "models.fitting",
    "fit_gmm_map": "models.gmm_fitting",
    "sample_gmm_posterior": "models.gmm_fitting",
    "posterior_in_data_units": "models.gmm_arviz",
    "sample_dp_posterior": "models.gmm_dp_fitting",
    "diagnose_dp": "models.gmm_dp_fitting",
    "active_component_posterior": "models.gmm_dp_fitting",
    "truncation_check": "models.gmm_dp_fitting",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """``from models import fit_gmm_map``: import the defining module on first use (PEP 562)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _configure_pytensor_blas() -> None:
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "blas__ldflags" in flags or "blas.ldflags" in flags:
        return
    # Linking with -lopenblas needs the development symlink (Debian: libopenblas-dev).
    if glob.glob("/usr/lib*/libopenblas.so") or glob.glob("/usr/lib*/*/libopenblas.so"):
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, "blas__ldflags=-lopenblas") if f)


_configure_pytensor_blas()
