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
numpydoc_show_inherited_class_members = False
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
html_static_path = []
html_show_sourcelink = False

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
}

# Examples print ConvergenceWarnings where they stop early on purpose.
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")
os.environ.setdefault("MPLBACKEND", "agg")
