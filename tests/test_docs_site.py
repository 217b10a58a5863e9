"""The built documentation site (docs/_build/html, made by `make docs`):
it loads nothing from the network (math included: MathJax is in the site),
each API page links to the gallery examples that use its object and to its
user-guide page, the Methods tables are complete, and no scikit-learn version
note passes for fastbp's.

`make docs` runs this file right after building, with FASTBP_DOCS_BUILT=1:
a missing site then fails. In a plain `make test` the site is usually not
built, and these tests skip.
"""
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import fastbp

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"

if not (SITE / "index.html").is_file():
    if os.environ.get("FASTBP_DOCS_BUILT"):
        raise AssertionError(f"FASTBP_DOCS_BUILT is set but {SITE} holds no site")
    pytest.skip(f"the documentation is not built ({SITE} is missing): run `make docs`",
                allow_module_level=True)

# (_static holds the theme's own files, among them HTML templates, not pages)
PAGES = sorted(p for p in SITE.rglob("*.html") if "_static" not in p.relative_to(SITE).parts)
REMOTE = re.compile(r"^\s*(https?:)?//", re.I)


class _Loads(HTMLParser):
    """Every resource a page makes the browser load: scripts, stylesheets,
    fonts, icons and preloads (<link>), images, frames and inline styles'
    url(...)/@import. Hyperlinks (<a href>) are not loads."""

    def __init__(self):
        super().__init__()
        self.loads = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for attr in {"script": ["src"], "link": ["href"], "img": ["src", "srcset"],
                     "iframe": ["src"], "source": ["src", "srcset"],
                     "embed": ["src"], "object": ["data"]}.get(tag, []):
            if attrs.get(attr):
                self.loads.append((tag, attrs[attr]))
        if attrs.get("style"):
            self.loads += [("style", u) for u in _css_urls(attrs["style"])]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.loads += [("style", u) for u in _css_urls(data)]


def _css_urls(css):
    return [a or b for a, b in re.findall(
        r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""", css)]


def _loads(page):
    parser = _Loads()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.loads


def test_the_site_has_pages():
    assert len(PAGES) > 10
    assert (SITE / "api.html").is_file()


def test_no_page_loads_anything_from_the_network():
    remote = {}
    for page in PAGES:
        bad = [f"<{tag}> {url}" for tag, url in _loads(page) if REMOTE.match(url)]
        if bad:
            remote[str(page.relative_to(SITE))] = bad
    assert not remote, remote


def test_every_local_resource_a_page_loads_is_in_the_site():
    missing = set()
    for page in PAGES:
        for tag, url in _loads(page):
            if REMOTE.match(url) or url.startswith(("data:", "#", "mailto:")):
                continue
            path = url.split("#")[0].split("?")[0].split()[0]
            if path and not (page.parent / path).resolve().exists():
                missing.add(f"{page.relative_to(SITE)}: <{tag}> {url}")
    assert not missing, sorted(missing)[:20]


def test_no_stylesheet_in_the_site_loads_from_the_network():
    remote = {}
    for css in SITE.rglob("*.css"):
        urls = [u for u in _css_urls(css.read_text(encoding="utf-8", errors="replace"))
                if REMOTE.match(u)]
        if urls:
            remote[str(css.relative_to(SITE))] = urls
    assert not remote, remote


def test_math_is_typeset_by_the_mathjax_in_the_site():
    with_math = [p for p in PAGES if 'class="math' in p.read_text(encoding="utf-8")]
    assert with_math, "no page has math"
    for page in with_math:
        scripts = [url for tag, url in _loads(page) if tag == "script"]
        mathjax = [u for u in scripts if "mathjax" in u.lower()]
        assert mathjax, f"{page.relative_to(SITE)} loads no MathJax"
        for url in mathjax:
            assert not REMOTE.match(url), url
            assert (page.parent / url.split("?")[0]).resolve().is_file(), url
    # the fonts MathJax's CommonHTML output asks for, relative to its script
    fonts = SITE / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert any(fonts.glob("MathJax_Main-Regular.woff"))


def _api_page(name):
    page = SITE / "generated" / f"fastbp.{name}.html"
    assert page.is_file(), page
    return page.read_text(encoding="utf-8")


API_NAMES = ["MLPClassifier", "MLPRegressor", "Network", "save", "load",
             "plot_loss_curve", "to_onnx", "register_skl2onnx", "stream",
             "data_parallel", "show_config"]


@pytest.mark.parametrize("name", API_NAMES)
def test_every_api_page_links_to_its_user_guide_page(name):
    html = _api_page(name)
    (m,) = re.findall(r'Read more in the user guide: <a class="reference internal" '
                      r'href="\.\./(user_guide/\w+\.html)', html)
    assert (SITE / m).is_file()


def _examples_using(name):
    """The gallery examples whose code names fastbp.<name> (or imports it)."""
    found = []
    for path in sorted((ROOT / "examples").glob("plot_*.py")):
        code = path.read_text(encoding="utf-8")
        if re.search(rf"\bfastbp\.{name}\b|from fastbp import[^\n]*\b{name}\b", code):
            found.append(path.stem)
    return found


@pytest.mark.parametrize("name", API_NAMES)
def test_every_api_page_shows_the_gallery_examples_using_it(name):
    html = _api_page(name)
    expected = _examples_using(name)
    if not expected:
        assert "Gallery examples using" not in html
        pytest.skip(f"no gallery example uses fastbp.{name}")
    assert "Gallery examples using" in html
    for stem in expected:
        assert f"../auto_examples/{stem}.html" in html, (name, stem)


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_methods_table_lists_inherited_methods(name):
    html = _api_page(name)
    table = html[html.index('<p class="rubric">Methods</p>'):]
    table = table[:table.index("</table>")]
    listed = set(re.findall(rf'href="#fastbp\.{name}\.(\w+)"', table))
    for method in ("fit", "partial_fit", "predict", "score", "get_params", "set_params",
                   "save", "set_callbacks"):
        if hasattr(getattr(fastbp, name), method):
            assert method in listed, (method, sorted(listed))


def test_no_api_page_shows_scikit_learns_version_notes():
    for page in (SITE / "generated").glob("fastbp.*.html"):
        html = page.read_text(encoding="utf-8")
        notes = re.findall(r"(?:Added|Changed) in version ([\w.]+)", html)
        assert not notes, (page.name, notes)


def test_site_has_a_favicon_and_a_source_link():
    html = (SITE / "index.html").read_text(encoding="utf-8")
    (icon,) = re.findall(r'<link rel="icon" href="([^"]+)"', html)
    assert (SITE / icon).is_file()
    page = _api_page("MLPClassifier")
    (src,) = set(re.findall(r'href="(\.\./_sources/generated/fastbp\.MLPClassifier[^"]*)"',
                            page))
    assert (SITE / "generated" / src).resolve().is_file()


def test_right_hand_contents_show_method_names_whole():
    html = _api_page("MLPClassifier")
    nav = html[html.index('id="pst-page-toc-nav"'):]
    nav = nav[:nav.index("</nav>")]
    entries = re.findall(r"<code[^>]*>(?:<span[^>]*>)?([^<]+)", nav)
    assert "fit()" in entries and "set_partial_fit_request()" in entries, entries
    assert not [e for e in entries if e.startswith("MLPClassifier.")], entries
    # and the stylesheet that lets them wrap instead of cutting them short
    assert "_static/fastbp.css" in html
    css = (SITE / "_static" / "fastbp.css").read_text()
    assert ".page-toc .nav-link span.pre" in css
    assert "text-overflow: clip" in css and "white-space: normal" in css
