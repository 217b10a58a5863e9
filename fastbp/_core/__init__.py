"""Compiled core of fastbp: BLAS wrappers, activation and loss kernels,
forward/backward passes, the epoch loop and in-place optimizers."""

import importlib.util as _util
import os as _os

if _util.find_spec(__name__ + "._backprop") is None:
    # The source folder of a clone, found first on sys.path (python -c,
    # python -m in the clone's root) before a build put the modules here.
    raise ImportError(
        "fastbp's compiled modules are missing from "
        f"{_os.path.dirname(_os.path.abspath(__file__))}: this is the source "
        "folder of a clone, not built for this Python. Run `make demo` (or "
        "`make test`) in the clone: it builds fastbp into ./.venv and copies "
        "the compiled modules here. Then use that environment's Python "
        "(`source .venv/bin/activate`, or .venv/bin/python). Or `pip install "
        ".` into your own environment and start Python outside the clone's "
        "root folder.")
