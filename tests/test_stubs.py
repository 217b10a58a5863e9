"""The .pyi stubs of the compiled modules agree with the modules: the same
public names, and the same parameter names for every function and method."""
import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import fastbp._core

CORE = Path(fastbp._core.__file__).parent
# Every compiled module of fastbp._core (by its extension file).
MODULES = sorted({p.name.split(".")[0] for p in CORE.iterdir()
                  if p.suffix in (".so", ".pyd")})


def _stub(name):
    path = CORE / f"{name}.pyi"
    assert path.exists(), f"{path.name} missing from the installed package"
    return ast.parse(path.read_text())


def _stub_names(body):
    """{name: node} of the definitions in a stub's module or class body."""
    out = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node
    return out


def _params(node):
    """Parameter names of a stub function, in order (self dropped), with
    the keyword-only ones marked."""
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    if a.vararg:
        names.append("*" + a.vararg.arg)
    names += ["kw:" + x.arg for x in a.kwonlyargs]
    if a.kwarg:
        names.append("**" + a.kwarg.arg)
    return names


def _sig_params(sig):
    names = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls") and not names:
            continue
        if p.kind is p.VAR_POSITIONAL:
            names.append("*" + p.name)
        elif p.kind is p.VAR_KEYWORD:
            names.append("**" + p.name)
        elif p.kind is p.KEYWORD_ONLY:
            names.append("kw:" + p.name)
        else:
            names.append(p.name)
    return names


def _embedded_params(doc, qualname):
    """Parameter names of the signature Cython embeds as the first line of
    a docstring (embedsignature), for the slots (__init__, __call__) whose
    signature inspect cannot read. Cython writes typed parameters as
    "Layout layout" and may put the `*` after a keyword-only parameter
    without a default, so names are compared there, not kinds."""
    first = (doc or "").split("\n", 1)[0].strip()
    m = re.fullmatch(rf"{re.escape(qualname)}\((.*)\)", first)
    assert m, f"no embedded signature for {qualname}: {first!r}"
    names = []
    for part in m.group(1).split(","):
        part = part.split("=")[0].strip()
        if part and part not in ("*", "/", "self"):
            names.append(part.split()[-1].lstrip("*"))
    return names


def _public(module):
    return {n for n in dir(module) if not n.startswith("_")
            and not inspect.ismodule(getattr(module, n))}


@pytest.mark.parametrize("name", MODULES)
def test_stub_names_match_the_module(name):
    module = importlib.import_module(f"fastbp._core.{name}")
    stub = _stub_names(_stub(name).body)
    missing = sorted(n for n in stub if not hasattr(module, n))
    assert not missing, f"{name}.pyi names what the module lacks: {missing}"
    unlisted = sorted(_public(module) - set(stub))
    assert not unlisted, f"{name}.pyi leaves out {unlisted}"


@pytest.mark.parametrize("name", MODULES)
def test_stub_signatures_match_the_module(name):
    module = importlib.import_module(f"fastbp._core.{name}")
    stub = _stub_names(_stub(name).body)
    for fname, node in stub.items():
        obj = getattr(module, fname)
        if isinstance(node, ast.FunctionDef):
            assert _params(node) == _sig_params(inspect.signature(obj)), \
                f"{name}.{fname}"
        elif isinstance(node, ast.ClassDef):
            members = _stub_names(node.body)
            public = {n for n in dir(obj) if not n.startswith("_")}
            unlisted = sorted(public - set(members))
            assert not unlisted, f"{name}.pyi leaves out {fname}.{unlisted}"
            for mname, mnode in members.items():
                if not isinstance(mnode, ast.FunctionDef) or any(
                        isinstance(d, ast.Name) and d.id == "property"
                        for d in mnode.decorator_list):
                    assert hasattr(obj, mname), f"{name}.{fname}.{mname}"
                    continue
                if mname in ("__init__", "__call__"):
                    want = [p.split(":")[-1].lstrip("*") for p in _params(mnode)]
                    got = (_embedded_params(obj.__doc__, fname)
                           if mname == "__init__" else
                           _embedded_params(getattr(obj, mname).__doc__,
                                            f"{fname}.{mname}"))
                    assert want == got, f"{name}.{fname}.{mname}"
                    continue
                got = _sig_params(inspect.signature(getattr(obj, mname)))
                assert _params(mnode) == got, f"{name}.{fname}.{mname}"


def test_the_stub_check_sees_a_wrong_parameter_name():
    # The comparison itself: a stub that renames a parameter differs.
    from fastbp._core import _kernels
    node = ast.parse("def activation(kind, values): ...").body[0]
    assert _params(node) != _sig_params(inspect.signature(_kernels.activation))
