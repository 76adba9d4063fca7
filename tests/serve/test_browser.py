"""`deepatoms serve` in a real browser: headless Chromium (Debian's `chromium`) driven by
Playwright opens the catalog, opens an atom, changes a parameter, runs the quick preset and sees
the progress move, the live chart gain points grouped by setting (a legend naming the atom's
settings) and the verdict badge appear. Screenshots of the catalog and of the atom page mid-run
are saved (DEEPATOMS_SCREENSHOTS: a folder to keep them, e.g. docs/images). Skipped, saying so,
where Chromium or Playwright is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..common import CHROMIUM, needs_chromium

pytestmark = needs_chromium("the lab's browser test")
ATOM = "layer-convergence"
RUN = "universal-approximation"  # a population of 3 functions × 3 widths × seeds, named
SETTINGS = 9


@pytest.fixture()
def server(tmp_path):
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from .server import Server
    srv = Server(tmp_path / "store")
    yield srv
    assert srv.stop() == 0


def test_catalog_atom_run_in_chromium(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (the test extra)")
    shots = Path(os.environ.get("DEEPATOMS_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            _catalog(page, server.url, shots)
            _atom_run(page, shots)
        finally:
            browser.close()


def _catalog(page, url: str, shots: Path) -> None:
    page.goto(url)
    page.wait_for_selector(f'a.card[data-name="{ATOM}"]')
    assert page.locator("a.card").count() == 42
    page.fill("#search", "layer")
    assert 1 <= page.locator("a.card").count() < 42
    page.fill("#search", "")
    page.screenshot(path=str(shots / "lab-catalog.png"))
    page.click(f'a.card[data-name="{RUN}"]')


def _atom_run(page, shots: Path) -> None:
    page.wait_for_selector('[data-field="lr"] input')
    page.fill('[data-field="lr"] input', "-1")  # a bad value: the error at the field, no run
    page.click("#run")
    page.wait_for_selector('[data-field="lr"].bad')
    assert "must be > 0" in page.inner_text('[data-field="lr"] .err')
    page.fill('[data-field="lr"] input', "0.003")
    page.fill('[data-field="steps"] input', "3000")
    page.fill("#seeds", "3")
    page.wait_for_function("!document.querySelector('.field.bad')")
    page.click("#run")
    page.wait_for_function("Number(document.getElementById('charts').dataset.points || 0) >= 25")
    # the bar moves with the progress events (they may trail the first chart points)
    page.wait_for_function("parseFloat(document.getElementById('bar').style.width || 0) > 0")
    # the curves are grouped by setting: a colour and a legend entry per (function, width)
    loss = 'canvas.chart[data-series="loss"]'
    page.wait_for_function(f"document.querySelector('{loss}').dataset.settings === '{SETTINGS}'")
    keys = page.locator(".chart-box", has=page.locator(loss)).locator(".legend .key")
    assert keys.count() == SETTINGS
    assert "sin, h=2" in keys.all_inner_texts()
    page.screenshot(path=str(shots / "lab-atom-running.png"), full_page=True)
    page.wait_for_selector("#outcome .badge", timeout=120_000)
    assert page.get_attribute("#outcome", "data-state") == "done"
    points = int(page.get_attribute("#charts", "data-points"))
    assert points >= 3
    assert page.eval_on_selector("#bar", "e => parseFloat(e.style.width)") == 100
    page.wait_for_selector("#history table tr:nth-child(2)")
