# Developer tasks for fastbp. A fresh machine needs only Python (>= 3.10) and
# a C compiler: pip builds the package first with build isolation, fetching
# Cython, numpy and scipy from the package index into its temporary build
# environment, and installs the build tools into the venv, where later
# builds run (see PIP_BUILD).
#
#   make demo          build into .venv and run `fastbp demo`
#   make test          build into .venv (with the `test` extra), run the tests
#   make checked-test  build into .venv-checked with Cython's bounds, wraparound
#                      and initialization checks on, run the tests there
#   make docs          build into .venv (with the `docs` extra) and build the
#                      documentation into docs/_build/html, warnings as errors,
#                      running every gallery example; then check the site
#                      (tests/test_docs_site.py: nothing loaded from the
#                      network, API pages linked to examples and user guide)
#   make clean         remove the virtualenvs and every build output
#
# Override e.g. `make test PYTHON=python3.12 PYTEST_ARGS='-x tests/test_x.py'`.

PYTHON ?= python3
VENV ?= .venv
VENV_CHECKED ?= .venv-checked
DEMO_EXTRAS ?= progress,plot
TEST_EXTRAS ?= test
DOCS_EXTRAS ?= test,docs
SPHINXOPTS ?= -W --keep-going -n
# The build tests (tests/test_build.py) rebuild the package from source without
# build isolation, so the test environments also get the build requirements
# (setuptools>=77 reads the SPDX license string; a 3.11 venv comes with 65).
BUILD_TOOLS ?= "setuptools>=77" "Cython>=3.0" build
PYTEST_OPTS ?= -q -rfEs
PYTEST_ARGS ?= tests benchmarks

# Anything that changes the installed package triggers a reinstall.
SOURCES := pyproject.toml setup.py MANIFEST.in \
	$(wildcard fastbp/*.py fastbp/_bench/*.py fastbp/_core/*.py fastbp/_core/*.pyx fastbp/_core/*.pxd fastbp/_core/*.pyi fastbp/_core/*.h)

# Builds share build/ in this tree: never run two at once.
.NOTPARALLEL:
# bash for `set -o pipefail` in PIP_BUILD.
SHELL := /bin/bash
.PHONY: demo test checked-test docs clean

# pytest runs as the venv's `pytest` script, not `python -m pytest` (which puts
# the current directory, the repository root, first on sys.path), so `import
# fastbp` in the tests finds the installed, compiled package and never the
# source folder fastbp/. pytest's default import mode puts only tests/ on
# sys.path (it has no __init__.py), which the tests' `from conftest import`
# needs. FASTBP_TEST_INSTALLED=1 makes tests/test_build.py check all this.
RUN_PYTEST = env -u PYTHONPATH FASTBP_TEST_INSTALLED=1

demo: $(VENV)/.installed-demo
	$(VENV)/bin/fastbp demo
	@echo
	@echo "fastbp is installed in $(VENV): run $(VENV)/bin/fastbp, or first"
	@echo "  source $(VENV)/bin/activate"
	@echo "to have fastbp, python and pytest of that environment on your PATH."

test: $(VENV)/.installed-test
	$(RUN_PYTEST) $(VENV)/bin/pytest $(PYTEST_OPTS) $(PYTEST_ARGS)

checked-test: $(VENV_CHECKED)/.installed-test
	$(RUN_PYTEST) $(VENV_CHECKED)/bin/pytest $(PYTEST_OPTS) $(PYTEST_ARGS)

# Sphinx with numpydoc and sphinx-gallery: -W turns every warning into an
# error, -n (nitpicky) makes every cross-reference resolve; the gallery's
# examples run as the pages are built (an example that fails fails the build).
docs: $(VENV)/.installed-docs
	rm -rf docs/_build docs/auto_examples docs/generated docs/sg_execution_times.rst
	env -u PYTHONPATH MPLBACKEND=agg $(VENV)/bin/sphinx-build $(SPHINXOPTS) -b html docs docs/_build/html
	$(RUN_PYTEST) FASTBP_DOCS_BUILT=1 $(VENV)/bin/pytest $(PYTEST_OPTS) tests/test_docs_site.py
	@echo "open docs/_build/html/index.html"

# The venv ignores itself in git (as Python 3.13's venv does).
%/.venv-created:
	rm -rf $*
	$(PYTHON) -m venv $*
	echo '*' > $*/.gitignore
	$*/bin/python -m pip install --upgrade pip
	touch $@

# The compiled modules of the .venv build are also copied next to their
# sources: Python started in this folder finds the source folder fastbp/
# first on sys.path (python -c, python -m), and it then imports as well.
# (-I: this copy itself must import the installed package.)
COPY_INPLACE = $(VENV)/bin/python -I -c "import glob, os, shutil, fastbp._core as c; \
	[shutil.copy2(f, 'fastbp/_core/') for f in glob.glob(os.path.join(os.path.dirname(c.__file__), '*.so'))]"

# One build per change of a source, shared by demo, test and docs: each of
# them then adds only the dependencies of its extras, which pip installs
# beside the fastbp already there (asked for as "fastbp[extras]", not as
# ".[extras]": a local directory is always rebuilt). So `make test` after
# `make demo` tests at once when no source changed.
#
# pip shows a build's output only with -v: the whole of it goes to
# build.log in the venv, and the terminal gets the build's own progress
# lines (setup.py's "fastbp build:" and Cython's "Cythonizing"), or the
# log's end when pip fails. $(1): the venv, $(2): what to install, $(3):
# the build's environment switches.
#
# Once the venv holds the build tools (Cython, setuptools; numpy and scipy
# are dependencies), it builds without pip's isolated environment: a fresh
# one each time makes every .pyx look older than the .pxd files it cimports
# from there, so Cython and the compiler redo every module; in the venv,
# only what changed is rebuilt.
#
# `pip install .` copies the Python files through build/lib*, which keeps
# files deleted or moved from the source: those copies go first (the
# compiled modules there stay: setuptools rebuilds a module only when it is
# older than its sources).
PIP_BUILD = [ ! -d build ] || find build -path 'build/lib*' -name '*.py' -delete; set -o pipefail; $(3) $(1)/bin/python -m pip install -v \
	$(if $(wildcard $(1)/bin/cython),--no-build-isolation) $(2) $(BUILD_TOOLS) 2>&1 \
	| tee $(1)/build.log \
	| grep --line-buffered -E "fastbp build:|Cythonizing|^Successfully installed" \
	|| { tail -n 40 $(1)/build.log; echo "pip failed; its whole output is in $(1)/build.log"; exit 1; }

$(VENV)/.built: $(VENV)/.venv-created $(SOURCES) Makefile
	@echo "building fastbp into $(VENV) (a few minutes the first time)"
	$(call PIP_BUILD,$(VENV),.)
	$(COPY_INPLACE)
	touch $@

$(VENV)/.installed-demo: $(VENV)/.built
	$(VENV)/bin/python -m pip install "fastbp[$(DEMO_EXTRAS)]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.built
	$(VENV)/bin/python -m pip install "fastbp[$(TEST_EXTRAS)]"
	touch $@

$(VENV)/.installed-docs: $(VENV)/.built
	$(VENV)/bin/python -m pip install "fastbp[$(DOCS_EXTRAS)]"
	touch $@

$(VENV_CHECKED)/.installed-test: $(VENV_CHECKED)/.venv-created $(SOURCES) Makefile
	$(call PIP_BUILD,$(VENV_CHECKED),".[$(TEST_EXTRAS)]",FASTBP_CHECKED=1)
	touch $@

clean:
	rm -rf $(VENV) $(VENV_CHECKED) build dist *.egg-info .pytest_cache .benchmarks
	rm -rf docs/_build docs/auto_examples docs/generated docs/sg_execution_times.rst
	rm -f fastbp/_core/*.c fastbp/_core/*.html fastbp/_core/*.so
	find fastbp tests benchmarks -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
