"""The HTML report in a real browser: headless Chromium renders the index and an atom page.

Each page is loaded from a copy with a small script appended that measures what only a browser
knows — images decoded, elements overflowing their table cell, the page wider than the window —
and writes it into the DOM, which `--dump-dom` returns; `--screenshot` gives a PNG that must be
the window's size and not blank. Skipped, saying so, where Chromium is not installed (Debian:
`apt-get install chromium`; `make test` installs it when it can). DEEPATOMS_CHROMIUM names
another binary.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import deepatoms
from deepatoms import registry
from deepatoms.report.build import build_report
from deepatoms.store import Store

from ..common import CHROMIUM, needs_chromium

pytestmark = needs_chromium("the report's browser test")

ATOM = "universal-approximation"
WINDOW = (1200, 1600)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=10000"]

# Appended to a copy of a page: what the browser measured, as JSON in <pre id="browser-check">.
PROBE = r"""<script>
(function () {
  function check() {
    var out = {viewport: window.innerWidth, width: document.documentElement.scrollWidth,
               stylesheets: document.styleSheets.length, images: [], overflow: []};
    Array.prototype.forEach.call(document.images, function (img) {
      out.images.push({src: img.getAttribute("src"), w: img.naturalWidth, h: img.naturalHeight,
                       shown: img.getBoundingClientRect().width});
    });
    document.querySelectorAll("td .badge, td a, td code").forEach(function (el) {
      var cell = el.closest("td").getBoundingClientRect(), box = el.getBoundingClientRect();
      if (box.right > cell.right + 1 || box.left < cell.left - 1) out.overflow.push(el.textContent);
    });
    out.midword = [];  // a badge drawn on more lines than it has words broke inside a word
    document.querySelectorAll(".badge").forEach(function (el) {
      var range = document.createRange(), tops = {};
      range.selectNodeContents(el);
      Array.prototype.forEach.call(range.getClientRects(), function (r) { tops[Math.round(r.top)] = 1; });
      if (Object.keys(tops).length > el.textContent.trim().split(/\s+/).length) out.midword.push(el.textContent);
    });
    out.headers = [];  // table headers drawn over each other or spilling out of their cell
    document.querySelectorAll("thead th").forEach(function (th) {
      if (th.getClientRects().length && th.scrollWidth > th.clientWidth + 1) out.headers.push(th.textContent);
    });
    var pre = document.createElement("pre");
    pre.id = "browser-check";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  if (document.readyState === "complete") check(); else window.addEventListener("load", check);
})();
</script>
"""


def _chromium(*args: str, window: tuple[int, int] = WINDOW) -> subprocess.CompletedProcess:
    size = f"--window-size={window[0]},{window[1]}"
    with tempfile.TemporaryDirectory(prefix="deepatoms-chromium-") as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, size, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _render(page: Path, window: tuple[int, int] = WINDOW) -> tuple[str, dict]:
    """The page's DOM after loading in Chromium, and the probe's measurements."""
    copy = page.with_name(f"_browser_{page.name}")  # same folder: relative links still resolve
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                    encoding="utf-8")
    dom = _chromium("--dump-dom", copy.as_uri(), window=window).stdout
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', dom, re.S)
    assert found, f"the page's script did not run; DOM starts: {dom[:500]}"
    return dom, json.loads(found[1].replace("&quot;", '"').replace("&amp;", "&"))


def _screenshot(page: Path, png: Path) -> "object":
    from PIL import Image
    _chromium(f"--screenshot={png}", page.as_uri())
    return Image.open(png).convert("RGB")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    store = Store(tmp_path_factory.mktemp("store"))
    deepatoms.run(ATOM, preset="quick", seeds=2, device="cpu", store=store, steps=50)
    return build_report(store)


def test_index_in_a_browser(site):
    dom, seen = _render(site)
    assert "<title>" in dom and "deepatoms" in dom
    rows = re.findall(r'<tr[^>]*>\s*<td class="atom-cell"', dom)
    assert len(rows) == len(registry.all_atoms())  # every catalog atom has its row
    assert f'href="atoms/{ATOM}.html"' in dom and "indicative" in dom
    assert seen["stylesheets"] >= 1  # the inline style sheet was applied
    assert seen["width"] <= seen["viewport"], "the index is wider than a 1200-px window"
    assert seen["overflow"] == [], f"spills out of its table cell: {seen['overflow']}"


def test_atom_page_in_a_browser(site):
    page = site.parent / "atoms" / f"{ATOM}.html"
    dom, seen = _render(page)
    atom = registry.get(ATOM)
    assert atom.title in dom and "evidence" in dom.lower()
    pngs = sorted((page.parent / ATOM).glob("*.png"))
    assert pngs and len(seen["images"]) >= len(pngs)  # every redrawn figure is on the page
    broken = [i["src"] for i in seen["images"] if i["w"] == 0 or i["h"] == 0 or i["shown"] == 0]
    assert broken == [], f"figures that did not load or show: {broken}"
    assert seen["width"] <= seen["viewport"], "the atom page is wider than a 1200-px window"
    assert seen["overflow"] == [], f"spills out of its table cell: {seen['overflow']}"


@pytest.mark.parametrize("which", ["index", "atom"])
def test_screenshot_is_the_window_and_not_blank(site, tmp_path, which):
    page = site if which == "index" else site.parent / "atoms" / f"{ATOM}.html"
    image = _screenshot(page, tmp_path / f"{which}.png")
    assert image.size == WINDOW
    pixels = np.asarray(image.resize((120, 160)), dtype=int)  # (rows, cols, rgb)
    ink = float((pixels.min(axis=2) < 200).mean())  # text, figures, badges, the header bar
    assert 0.03 < ink < 0.9, f"{which}: {ink:.0%} of the screenshot is not background"
    colours = len({tuple(p) for p in pixels.reshape(-1, 3)})
    assert colours > 50, f"{which}: the screenshot has only {colours} distinct colours"
    assert pixels[:4].mean() < 100  # the dark site header is drawn at the top


@pytest.mark.parametrize("width", [600, 1400])
@pytest.mark.parametrize("which", ["index", "atom"])
def test_pages_hold_at_narrow_and_wide_windows(site, which, width):
    """At 600 px the index is one card per atom and wide tables scroll in their own box: no
    page wider than the window, no header over another, no badge broken inside a word."""
    page = site if which == "index" else site.parent / "atoms" / f"{ATOM}.html"
    _, seen = _render(page, (width, 1600))
    assert seen["width"] <= seen["viewport"], f"{which} is wider than a {width}-px window"
    assert seen["midword"] == [], f"badges broken inside a word: {seen['midword']}"
    assert seen["headers"] == [], f"headers spilling over their neighbours: {seen['headers']}"
    assert seen["overflow"] == [], f"spills out of its table cell: {seen['overflow']}"
