"""The lab's atom page shows a stored run's claim parts (status, a failed control's reason) and
marks control rows in its evidence table, in headless Chromium. Skipped, saying so, where
Chromium or Playwright is absent."""
from __future__ import annotations

import pytest

from ..common import CHROMIUM, needs_chromium
from ..report.test_parts_display import ATOM, BN, DEEP, _store, _verdict

pytestmark = needs_chromium("the lab's parts test")


def test_the_atom_page_lists_parts_and_marks_controls(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (the test extra)")
    from .server import Server
    _store(tmp_path / "store", [_verdict(False).to_dict()])
    srv = Server(tmp_path / "store")
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.goto(srv.url + f"atom/{ATOM}")
                page.wait_for_selector("#verdict ul.parts li")
                items = page.locator("#verdict ul.parts li").all_inner_texts()
                assert "central claim" in items[0] and "reproduced" in items[0]
                assert BN in items[1] and "inconclusive" in items[1]
                assert f"control failed: {DEEP}" in items[1]
                control = page.locator("#verdict table.evidence tr.control").all_inner_texts()
                assert len(control) == 1 and f"control ({BN})" in control[0]
                page.screenshot(path=str(tmp_path / "lab-parts.png"), full_page=True)
            finally:
                browser.close()
    finally:
        assert srv.stop() == 0
