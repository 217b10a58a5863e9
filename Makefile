# Developer tasks for fastbp. A fresh machine needs only Python (>= 3.10) and
# a C compiler: pip builds the package with build isolation, fetching Cython,
# numpy and scipy from the package index into its temporary build environment.
#
#   make demo          build into .venv and run `fastbp demo`
#   make test          build into .venv (with the `test` extra), run the tests
#   make checked-test  build into .venv-checked with Cython's bounds, wraparound
#                      and initialization checks on, run the tests there
#   make clean         remove the virtualenvs and every build output
#
# Override e.g. `make test PYTHON=python3.12 PYTEST_ARGS='-x tests/test_x.py'`.

PYTHON ?= python3
VENV ?= .venv
VENV_CHECKED ?= .venv-checked
DEMO_EXTRAS ?= progress,plot
TEST_EXTRAS ?= test
# The build tests (tests/test_build.py) rebuild the package from source without
# build isolation, so the test environments also get the build requirements
# (setuptools>=77 reads the SPDX license string; a 3.11 venv comes with 65).
BUILD_TOOLS ?= "setuptools>=77" "Cython>=3.0" build
PYTEST_OPTS ?= -q -rfEs
PYTEST_ARGS ?= tests benchmarks

# Anything that changes the installed package triggers a reinstall.
SOURCES := pyproject.toml setup.py MANIFEST.in \
	$(wildcard fastbp/*.py fastbp/_core/*.py fastbp/_core/*.pyx fastbp/_core/*.pxd fastbp/_core/*.h)

# Builds share build/ in this tree: never run two at once.
.NOTPARALLEL:
.PHONY: demo test checked-test clean

# pytest runs as the venv's `pytest` script, not `python -m pytest` (which puts
# the current directory, the repository root, first on sys.path), so `import
# fastbp` in the tests finds the installed, compiled package and never the
# source folder fastbp/. pytest's default import mode puts only tests/ on
# sys.path (it has no __init__.py), which the tests' `from conftest import`
# needs. FASTBP_TEST_INSTALLED=1 makes tests/test_build.py check all this.
RUN_PYTEST = env -u PYTHONPATH FASTBP_TEST_INSTALLED=1

demo: $(VENV)/.installed-demo
	$(VENV)/bin/fastbp demo

test: $(VENV)/.installed-test
	$(RUN_PYTEST) $(VENV)/bin/pytest $(PYTEST_OPTS) $(PYTEST_ARGS)

checked-test: $(VENV_CHECKED)/.installed-test
	$(RUN_PYTEST) $(VENV_CHECKED)/bin/pytest $(PYTEST_OPTS) $(PYTEST_ARGS)

# The venv ignores itself in git (as Python 3.13's venv does).
%/.venv-created:
	rm -rf $*
	$(PYTHON) -m venv $*
	echo '*' > $*/.gitignore
	$*/bin/python -m pip install --upgrade pip
	touch $@

# `pip install .` always rebuilds and reinstalls a local directory.
$(VENV)/.installed-demo: $(VENV)/.venv-created $(SOURCES) Makefile
	$(VENV)/bin/python -m pip install ".[$(DEMO_EXTRAS)]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.venv-created $(SOURCES) Makefile
	$(VENV)/bin/python -m pip install ".[$(TEST_EXTRAS)]" $(BUILD_TOOLS)
	touch $@

$(VENV_CHECKED)/.installed-test: $(VENV_CHECKED)/.venv-created $(SOURCES) Makefile
	FASTBP_CHECKED=1 $(VENV_CHECKED)/bin/python -m pip install ".[$(TEST_EXTRAS)]" $(BUILD_TOOLS)
	touch $@

clean:
	rm -rf $(VENV) $(VENV_CHECKED) build dist *.egg-info .pytest_cache .benchmarks
	rm -f fastbp/_core/*.c fastbp/_core/*.html fastbp/_core/*.so
	find fastbp tests benchmarks -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
