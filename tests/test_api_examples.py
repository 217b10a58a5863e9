"""Every public function and method of fastbp has an Examples section, and
the examples of the modules that tests/test_docs.py does not run (streaming,
data-parallel, the build report) run here as doctests. The public classes
expose no undocumented internals."""
import inspect
import os
import subprocess
import sys

import pytest

import fastbp
from conftest import run_doctests

FUNCTIONS = [getattr(fastbp, n) for n in fastbp.__all__
             if inspect.isfunction(getattr(fastbp, n))]
CLASSES = [getattr(fastbp, n) for n in fastbp.__all__ if inspect.isclass(getattr(fastbp, n))]


def _own_methods(cls):
    """The public methods a fastbp class defines itself (or in fastbp's base
    classes): those inherited from scikit-learn carry scikit-learn's text."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        member = inspect.getattr_static(cls, name)
        func = getattr(member, "__func__", member)
        if callable(func) and (getattr(func, "__module__", "") or "").startswith("fastbp"):
            yield name, getattr(cls, name)


def _has_examples(obj):
    return "\nExamples\n--------\n" in "\n" + (inspect.getdoc(obj) or "") + "\n"


def _wrapped(func):
    # data_parallel is a contextmanager: its docstring is the generator's
    return getattr(func, "__wrapped__", func)


@pytest.mark.parametrize("func", FUNCTIONS, ids=lambda f: f.__name__)
def test_every_public_function_has_examples(func):
    assert _has_examples(func) or _has_examples(_wrapped(func)), func.__name__


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_public_method_has_examples(cls):
    missing = [name for name, method in _own_methods(cls) if not _has_examples(method)]
    assert not missing, f"{cls.__name__}: no Examples in {missing}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_public_names_of_classes_are_documented(cls):
    # A public attribute is a method or property with a docstring, or is
    # described in the class docstring (Attributes section).
    doc = inspect.getdoc(cls) or ""
    undocumented = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        member = inspect.getattr_static(cls, name)
        if isinstance(member, property):
            text = member.fget.__doc__
        elif callable(getattr(cls, name, None)):
            text = getattr(cls, name).__doc__
        else:
            text = name if name in doc else None
        if not text:
            undocumented.append(name)
    assert not undocumented, f"{cls.__name__}: {undocumented}"


def test_network_internals_are_not_public():
    for name in ("workspace", "SMALL_ROWS"):
        assert not hasattr(fastbp.Network, name), name


_run_doctests = run_doctests   # (the child process below calls it by this name)


@pytest.mark.parametrize("module", ["fastbp._stream", "fastbp._config"])
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    failures, _ = _run_doctests(module)
    assert failures == 0, f"{failures} failing example(s) in {module}"


def test_data_parallel_examples_run_in_their_own_process(tmp_path):
    # In a child: the example starts MPI, which this test process keeps out of.
    pytest.importorskip("mpi4py")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "import test_api_examples as t; "
            "failures, n = t._run_doctests('fastbp._parallel'); "
            "print(failures, n); sys.exit(1 if failures else 0)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(fastbp.__file__))
    proc = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    failures, n = map(int, proc.stdout.split()[-2:])
    assert failures == 0 and n >= 5
