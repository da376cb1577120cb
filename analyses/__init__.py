"""Runnable analyses: ``python -m analyses`` runs them all; see :mod:`analyses.runner`."""
