"""The documentation site's pages run: every ``.. code-block:: python`` of
docs/*.rst and docs/user_guide/*.rst, page by page (the blocks of a page in
order, in one namespace, as a reader runs them), except blocks that need an
MPI launcher. The README's blocks and the docstrings' examples run in
test_docs.py.

Also pinned here: the troubleshooting page that fastbp's convergence and
divergence messages name exists under that name and is reached from the
landing page.
"""
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.rst")) + sorted((DOCS / "user_guide").glob("*.rst"))
needs_docs = pytest.mark.skipif(not PAGES, reason="no docs/ beside tests/")

# A block that needs several ranks under `mpiexec -n P python -m mpi4py`
# cannot run inside pytest; tests/test_mpi.py launches data_parallel fits
# under mpiexec instead.
MPI_REASON = ("needs an MPI launcher (mpiexec -n P python -m mpi4py script.py); "
              "tests/test_mpi.py runs data_parallel under mpiexec")


# Modules of fastbp's optional extras (and scikit-learn 1.9's callbacks):
# a page that imports one runs where it is installed.
OPTIONAL = {"onnx", "onnxruntime", "skl2onnx", "dask", "dask.array", "dask_ml",
            "dask_ml.wrappers", "dask.distributed", "distributed", "sklearn.callback",
            "h5py", "zarr", "matplotlib", "matplotlib.pyplot", "tqdm"}


def python_blocks(page):
    """The ``.. code-block:: python`` blocks of an rst page, dedented."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)\.\. code-block:: python\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        i += 1
        while i < len(lines) and lines[i].lstrip().startswith(":"):   # options
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip()
                                  or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        text = "\n".join(body).strip("\n")
        width = min(len(l) - len(l.lstrip()) for l in text.splitlines() if l.strip())
        blocks.append("\n".join(l[width:] for l in text.splitlines()) + "\n")
    return blocks


def needs_mpi(code):
    return "mpi4py" in code


def _page_id(page):
    return str(page.relative_to(DOCS))


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p)]


@needs_docs
def test_the_pages_have_python_blocks_to_run():
    names = {_page_id(p) for p in PAGES_WITH_CODE}
    for page in ("getting_started.rst", "user_guide/estimators.rst",
                 "user_guide/network.rst", "user_guide/troubleshooting.rst",
                 "user_guide/scale.rst"):
        assert page in names, page


@needs_docs
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_page_id)
def test_user_guide_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # blocks may write files
    pytest.importorskip("matplotlib").use("Agg")
    blocks = [b for b in python_blocks(page) if not needs_mpi(b)]
    imported = {m for b in blocks
                for m in re.findall(r"^\s*(?:import|from) ([\w.]+)", b, flags=re.M)}
    for module in sorted(imported & OPTIONAL):   # the extras a page needs
        pytest.importorskip(module)
    namespace = {"__name__": f"docs_{page.stem}"}
    environ = dict(os.environ)  # dask's LocalCluster sets OMP_NUM_THREADS
    try:
        for i, code in enumerate(blocks):
            with warnings.catch_warnings():
                # a block that stops early on purpose may warn; it must not fail
                warnings.simplefilter("ignore", ConvergenceWarning)
                with np.errstate(all="ignore"):
                    exec(compile(code, f"{_page_id(page)} python block {i}", "exec"),
                         namespace)
    finally:
        os.environ.clear()
        os.environ.update(environ)


MPI_BLOCKS = [(p, i) for p in PAGES_WITH_CODE
              for i, b in enumerate(python_blocks(p)) if needs_mpi(b)]


@needs_docs
@pytest.mark.parametrize("page,index", MPI_BLOCKS,
                         ids=[f"{_page_id(p)}-{i}" for p, i in MPI_BLOCKS])
def test_mpi_blocks_compile_and_are_skipped_for_their_launcher(page, index):
    code = python_blocks(page)[index]
    compile(code, f"{_page_id(page)} python block {index}", "exec")
    assert "data_parallel" in code
    pytest.skip(MPI_REASON)


@needs_docs
def test_only_the_mpi_block_is_skipped():
    assert [(_page_id(p), i) for p, i in MPI_BLOCKS] == [("user_guide/scale.rst", 1)]


# -- the troubleshooting page the messages name ------------------------------

GUIDE_NAME = "Practical use and troubleshooting"


def _title(page):
    lines = page.read_text(encoding="utf-8").splitlines()
    for a, b in zip(lines, lines[1:]):
        if a.strip() and re.fullmatch(r"=+", b.strip()):
            return a.strip()
    return None


@needs_docs
def test_the_page_the_messages_name_exists_and_the_landing_page_links_it():
    page = DOCS / "user_guide" / "troubleshooting.rst"
    assert _title(page) == GUIDE_NAME
    from fastbp import _solver

    assert f"'{GUIDE_NAME}'" in _solver.SEE_GUIDE
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    assert ":doc:`user_guide/troubleshooting`" in index
    toc = (DOCS / "user_guide" / "index.rst").read_text(encoding="utf-8")
    assert "troubleshooting" in toc and "training" in toc
    text = page.read_text(encoding="utf-8")
    for words in ("GPU", "dropout", "macOS", "Windows", "ConvergenceWarning",
                  "Training diverged", "dead ReLU", "Pipeline", "float32",
                  "Which solver"):
        assert words.lower() in text.lower(), words


@needs_docs
def test_threads_page_says_a_forked_child_keeps_its_threads():
    text = (DOCS / "user_guide" / "threads.rst").read_text(encoding="utf-8")
    processes = text[text.index("Processes\n---------"):]
    assert "omp_pause_resource" in processes
    assert "starts threads of its own" in processes
    from fastbp import _threads

    assert hasattr(_threads, "_pause_openmp")   # what the section describes


@needs_docs
def test_no_page_points_to_a_design_file_that_is_not_there():
    for path in [ROOT / "README.md", ROOT / "fastbp" / "_stream.py", *PAGES]:
        if path.is_file():
            assert "DESIGN.md" not in path.read_text(encoding="utf-8"), path
