"""models/__init__.py: the names a notebook imports (``from models import ...``), each defined where
``_EXPORTS`` says, importable without loading PyMC until asked for, and each with a docstring
example that runs (doctest) and prints what it says."""

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import models

ROOT = Path(__file__).resolve().parents[1]


def test_every_exported_name_is_defined_where_the_table_says():
    assert models.__all__ == sorted(models.__all__) and len(models.__all__) >= 12
    for name in models.__all__:
        module = importlib.import_module(models._EXPORTS[name])
        assert getattr(models, name) is getattr(module, name)
        assert name in dir(models)
    with pytest.raises(AttributeError, match="no attribute 'fit_everything'"):
        models.fit_everything  # noqa: B018


def test_import_models_does_not_load_pymc():
    code = "import sys, models; from models import load_dataset, mle_mean; print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def _examples(name):
    return doctest.DocTestFinder(recurse=False).find(getattr(models, name), name, globs={})


@pytest.mark.parametrize("name", models.__all__)
def test_docstring_example_runs(name):
    tests = _examples(name)
    assert sum(len(t.examples) for t in tests) >= 2, f"{name}'s docstring has no runnable Example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{name}'s example printed something else (see the output above)"
