"""The shipped data sets, installed with the package as ``models.datasets``.

This folder is mapped onto that package in ``pyproject.toml`` so its CSVs and README.md (their
provenance) are package data in every kind of install; ``models.data`` finds them there. This
file only makes the folder a regular package (a namespace package is not found through
setuptools' editable install, and ``importlib.resources`` would not give it a plain path).
"""
