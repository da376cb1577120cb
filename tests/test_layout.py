"""The layout holds: data -> closed forms and EM (numpy/scipy) -> PyMC builders -> fitting -> analyses.

Read from the source with ``ast`` (every import, module level and inside functions):

* each module of ``models/`` sits in one layer of :data:`LAYERS` and imports only from its own
  layer or those below; a new module must be placed here before its test passes;
* the closed-form layers never import PyMC, PyTensor, ArviZ, pymc-extras or xarray — checked
  statically and by importing them in a fresh interpreter;
* ``models`` never imports ``analyses``; an analysis never imports another analysis (analyses
  share through ``analyses/common.py``);
* no module imports a private name (``_x``) or a private module (``a._b``) from another module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from analyses.runner import DEFAULT_ANALYSES, OPT_IN_ANALYSES

ROOT = Path(__file__).resolve().parents[1]

#: models' modules by layer, lowest first. A module may import from its layer and those below.
LAYERS: dict[str, tuple[str, ...]] = {
    "inputs": ("validation", "io", "datafile", "data", "ties", "datasets", "extract_rdatasets"),
    "closed forms": ("gaussian", "linear_gaussian", "conjugate", "conjugate_mvn", "sequential", "gmm", "em",
                     "gmm_spec", "gmm_metrics", "gmm_vb", "gmm_dp"),
    "builders": ("gaussian_models", "gmm_builders", "gmm_vb_model", "gmm_dp_builders"),
    "fitting": ("fitting", "gmm_fitting", "gmm_arviz", "gmm_advi", "sbc", "gmm_dp_fitting", "gmm_latent_z"),
}
NUMPY_ONLY_LAYERS = ("inputs", "closed forms")
PROBABILISTIC = ("pymc", "pytensor", "arviz", "pymc_extras", "xarray", "numpyro", "jax", "nutpie")


def layer_of(module: str) -> int:
    for i, members in enumerate(LAYERS.values()):
        if module in members:
            return i
    raise KeyError(module)


def source_files(folder: str) -> dict[str, Path]:
    """Module name (dotted, from the repository root) -> file; data/ is the package models.datasets."""
    out = {}
    for path in sorted((ROOT / folder).glob("*.py")):
        name = f"{folder}.{path.stem}" if path.stem != "__init__" else folder
        out[name.replace("data", "models.datasets", 1) if folder == "data" else name] = path
    return out


def imports(path: Path) -> list[tuple[str, str | None, int]]:
    """Every import in a file: (module, imported name or None, line)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
    return found


def imported_models(module: str, name: str | None) -> list[str]:
    """The models submodules an import statement refers to (``from models import gmm`` included)."""
    parts = module.split(".")
    if parts[0] != "models":
        return []
    if len(parts) >= 2:
        return [parts[1]]
    return [name] if name and name != "*" and (ROOT / "models" / f"{name}.py").exists() else []


MODELS = source_files("models") | source_files("data")
ANALYSES = source_files("analyses")
TESTS = {f"tests.{p.stem}": p for p in sorted((ROOT / "tests").glob("*.py"))}


def test_every_models_module_has_a_layer():
    unplaced = [name for name in MODELS if name != "models" and name.split(".")[-1] not in
                {m for members in LAYERS.values() for m in members}]
    assert not unplaced, f"place these modules in LAYERS (tests/test_layout.py): {unplaced}"


def layer_violations(module_name: str, path: Path) -> list[str]:
    """What a models module (``gmm_spec``, ...) imports from a higher layer, PyMC & co. included."""
    own = layer_of(module_name)
    layer_names = list(LAYERS)
    wrong = []
    for module, imported, line in imports(path):
        top = module.split(".")[0]
        if top == "analyses":
            wrong.append(f"line {line}: models must not import analyses ({module})")
        if layer_names[own] in NUMPY_ONLY_LAYERS and top in PROBABILISTIC:
            wrong.append(f"line {line}: the {layer_names[own]} layer is numpy/scipy only, imports {module}")
        for target in imported_models(module, imported):
            if target != "datasets" and layer_of(target) > own:
                wrong.append(f"line {line}: {layer_names[own]} module imports models.{target} "
                             f"({layer_names[layer_of(target)]}, a higher layer)")
    return wrong


def analysis_violations(name: str, path: Path) -> list[str]:
    """Imports of one analysis by another module of analyses/ (``name`` is ``analyses.x``)."""
    analyses = set(DEFAULT_ANALYSES + OPT_IN_ANALYSES)
    wrong = []
    for module, imported, line in imports(path):
        parts = module.split(".")
        if parts[0] != "analyses":
            continue
        target = parts[1] if len(parts) > 1 else imported
        if target in analyses and f"analyses.{target}" != name:
            wrong.append(f"line {line}: imports the analysis {target}; move what it needs to analyses/common.py")
    return wrong


def private_violations(path: Path) -> list[str]:
    """Imports of a private name (``_x``) or a private module (``a._b``) of models/analyses."""
    wrong = []
    for module, imported, line in imports(path):
        if module.split(".")[0] not in ("models", "analyses"):
            continue
        if any(p.startswith("_") and p not in ("__main__", "__init__") for p in module.split(".")):
            wrong.append(f"line {line}: imports the private module {module}")
        if imported and imported.startswith("_"):
            wrong.append(f"line {line}: imports the private name {imported} from {module}; make it public "
                         "(documented, tested) or keep it inside its module")
    return wrong


@pytest.mark.parametrize("name", [n for n in MODELS if n != "models"])
def test_models_import_only_their_layer_or_below(name):
    wrong = layer_violations(name.split(".")[-1], MODELS[name])
    assert not wrong, "\n".join(wrong)


def test_closed_forms_import_without_pymc_in_a_fresh_interpreter():
    """The static check misses what a module pulls in indirectly; a fresh import does not."""
    members = {m for layer in NUMPY_ONLY_LAYERS for m in LAYERS[layer]}
    modules = [name for name in MODELS if name.split(".")[-1] in members]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + f"print(sorted(p for p in {PROBABILISTIC!r} if p in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", f"closed-form modules pulled in {out.stdout.strip()}"


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_an_analysis_never_imports_another(name):
    wrong = analysis_violations(name, ANALYSES[name])
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(MODELS | ANALYSES | TESTS))
def test_no_private_name_crosses_a_module_boundary(name):
    wrong = private_violations((MODELS | ANALYSES | TESTS)[name])
    assert not wrong, "\n".join(wrong)


def test_each_rule_flags_a_file_written_to_break_it(tmp_path):
    """So that a passing run above means something."""
    library = tmp_path / "library.py"
    library.write_text("import numpy as np\n\n\ndef f():\n    import pymc\n    from models import gmm_builders\n"
                       "    from models.gmm_fitting import fit_gmm_map\n    from analyses.common import COLORS\n")
    layer = layer_violations("gmm_spec", library)
    assert len(layer) == 4, layer
    assert ["pymc" in layer[0], "gmm_builders" in layer[1], "gmm_fitting" in layer[2],
            "must not import analyses" in layer[3]] == [True] * 4
    assert layer_violations("gmm_advi", library) == [layer[3]]      # the fitting layer may import both
    script = tmp_path / "script.py"
    script.write_text("from analyses.closed_forms import run\nfrom analyses import height_mle, common\n"
                      "from models.gmm import _log_gaussian\nfrom analyses._runner import main\n")
    assert len(analysis_violations("analyses.common", script)) == 2
    assert analysis_violations("analyses.height_mle", script) == [
        "line 1: imports the analysis closed_forms; move what it needs to analyses/common.py"]
    private = private_violations(script)
    assert len(private) == 2 and "_log_gaussian" in private[0] and "analyses._runner" in private[1]
