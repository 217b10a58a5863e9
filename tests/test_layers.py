"""fastbp's modules form one-way layers (docs/architecture.rst): each imports
only from the layers below it, imports inside functions included, so there
is no import circle. Read from the source files themselves, so a new
module or import that breaks the order fails here."""
import ast
from pathlib import Path

import pytest

import fastbp

PACKAGE = Path(fastbp.__file__).resolve().parent

# From the ground up. A module may import from its own layer or below,
# and no two modules may import each other (directly or around a circle).
LAYERS = [
    # the compiled core: imports nothing of the package
    ["_core", "_core.*"],
    # leaves: input checks, threads, progress, callbacks, plots, the CSV
    # reader, the version, the configuration report
    ["_checks", "_threads", "_progress", "_callbacks", "_plot", "_csv",
     "_labels", "_version", "_config"],
    ["_network"],                 # the model and input preparation
    ["_solver"],                  # optimizer state, schedules, stopping
    ["_stream"],                  # out-of-core sources
    ["_agreement", "_parallel"],  # data-parallel over MPI ranks
    ["_loop", "_windows"],        # the one epoch loop; prediction in windows
    ["_io", "_refit"],            # model files (a registry the estimators fill);
                                  # the model a predict sees during a refit
    ["_estimators"],              # MLPClassifier, MLPRegressor
    # on top: the public package, ONNX, the command line, the benchmark
    ["__init__", "__main__", "_onnx", "_cli", "_cli.*",
     "_bench", "_bench.*"],
]


def _layer_of(name):
    for i, layer in enumerate(LAYERS):
        for pattern in layer:
            if name == pattern or (pattern.endswith(".*")
                                   and name.startswith(pattern[:-1])):
                return i
    return None


def _modules():
    """{module name relative to fastbp: path} for every .py and .pyx."""
    out = {}
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".py", ".pyx") or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_module(name, modules):
    return name in modules


def _imports(name, path, modules):
    """The fastbp modules `name` imports, anywhere in its source."""
    if path.suffix == ".pyx":
        # Cython: only Python-level imports matter (cimports are compiled in)
        lines = [ln for ln in path.read_text().splitlines()
                 if ln.lstrip().startswith(("import fastbp", "from fastbp"))
                 and " cimport " not in ln]
        tree = ast.parse("\n".join(ln.strip() for ln in lines))
    else:
        tree = ast.parse(path.read_text())
    package = name.rsplit(".", 1)[0] if (
        "." in name and not (path.name == "__init__.py")) else (
        name if path.name == "__init__.py" else "")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "fastbp" or alias.name.startswith("fastbp."):
                    found.add(alias.name[len("fastbp."):] or "__init__")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(base + ([node.module] if node.module else []))
            elif node.module == "fastbp" or (node.module or "").startswith("fastbp."):
                mod = node.module[len("fastbp."):] if node.module != "fastbp" else ""
            else:
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}" if mod else alias.name
                if _is_module(sub, modules):
                    found.add(sub)
                else:
                    found.add(mod or "__init__")
    found.discard(name)
    return found


MODULES = _modules()
GRAPH = {name: _imports(name, path, MODULES) for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if _layer_of(m) is None]
    assert not missing, f"add these modules to a layer in LAYERS: {missing}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_from_its_layer_or_below(name):
    own = _layer_of(name)
    upward = sorted(t for t in GRAPH[name]
                    if _layer_of(t) is not None and _layer_of(t) > own)
    assert not upward, (f"fastbp.{name} (layer {own}) imports from layers "
                        f"above it: {upward}")


def test_no_import_circle():
    # depth-first search for a back edge
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(GRAPH.get(m, ())):
            if t not in GRAPH:
                continue
            if state.get(t) == "open":
                circle = stack[stack.index(t):] + [t]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    # the test itself: an import of a higher layer inside a function counts
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    from fastbp._estimators import MLPClassifier\n"
                   "    from fastbp import _loop\n")
    assert _imports("_checks", src, MODULES) == {"_estimators", "_loop"}
