"""Sphinx configuration of fastbp's documentation (``make docs``)."""
import os
import warnings

import fastbp

project = "fastbp"
author = "the fastbp developers"
copyright = "2026, the fastbp developers"
release = fastbp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax itself, copied into the site's _static: math renders with no
    # network (tests/test_docs_offline.py checks that no page loads a
    # script, stylesheet or font from elsewhere).
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json"]
templates_path = ["_templates"]

# Every cross-reference must resolve (make docs runs with -W -n). There is no
# network at build time, hence no intersphinx: names of other projects are
# written as literals, and the few that numpydoc or autodoc generate are
# listed here.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|scipy|sklearn|matplotlib|onnx|onnxruntime|skl2onnx|pandas)\..*"),
    (r"py:class", r"(array-like|ndarray|sparse matrix|optional|callable|default.*"
                  r"|Axes|ModelProto|RandomState.*|estimator.*|path-like|file.*)"),
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autoclass_content = "class"
numpydoc_show_class_members = True
# The Methods table lists every method the page documents, those from
# scikit-learn's base classes (fit's siblings score, get_params, ...) too.
numpydoc_show_inherited_class_members = True
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

html_theme = "pydata_sphinx_theme"
html_title = f"fastbp {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": [], "changelog": []}
html_static_path = ["_static"]
html_css_files = ["fastbp.css"]
html_favicon = "_static/favicon.svg"
html_logo = "_static/favicon.svg"
# Each page links to its reStructuredText source, copied into the site ("Show
# Source"): the source of the docs travels with them, whatever the host.
html_show_sourcelink = True
html_copy_source = True
# The right-hand contents name a method as `fit()`, not
# `MLPClassifier.fit()`: short enough to be read whole.
toc_object_entries_show_parents = "hide"

# Each class and function page links to its part of the user guide (the
# autosummary templates in _templates/ read this).
user_guide_pages = {
    "MLPClassifier": "user_guide/estimators",
    "MLPRegressor": "user_guide/estimators",
    "Network": "user_guide/network",
    "save": "user_guide/model_files",
    "load": "user_guide/model_files",
    "plot_loss_curve": "user_guide/estimators",
    "to_onnx": "user_guide/onnx",
    "register_skl2onnx": "user_guide/onnx",
    "stream": "user_guide/scale",
    "data_parallel": "user_guide/scale",
    "show_config": "user_guide/threads",
}
autosummary_context = {"user_guide_pages": user_guide_pages}

sphinx_gallery_conf = {
    "examples_dirs": os.path.join("..", "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    # An example that fails fails the build.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    # The execution-times page loads jQuery and DataTables from CDNs: left
    # out, so that the site needs no network.
    "write_computation_times": False,
    # Which example uses which public name: each API page lists them (the
    # minigallery in _templates/autosummary/).
    "doc_module": ("fastbp",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
}

# Examples print ConvergenceWarnings where they stop early on purpose.
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")
os.environ.setdefault("MPLBACKEND", "agg")


def _drop_scikit_learn_version_notes(app, what, name, obj, options, lines):
    """Remove "Added in version 1.3"-style notes from the docstrings of the
    methods fastbp inherits from scikit-learn (set_fit_request, ...): the
    versions are scikit-learn's, not fastbp's."""
    if (getattr(obj, "__module__", None) or "").startswith("fastbp"):
        return
    out, indent = [], None   # indent: of the note being dropped
    for line in lines:
        stripped = line.lstrip()
        depth = len(line) - len(stripped)
        if indent is not None and (not stripped or depth > indent):
            continue                      # the note's body
        indent = None
        if stripped.startswith((".. versionadded::", ".. versionchanged::")):
            indent = depth
            continue
        out.append(line)
    lines[:] = out


def setup(app):
    # before numpydoc (priority 500) turns the docstring into reST
    app.connect("autodoc-process-docstring", _drop_scikit_learn_version_notes,
                priority=400)
