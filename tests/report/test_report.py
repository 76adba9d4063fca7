"""The HTML report: built from the store alone, every link resolves, every string escaped."""
import dataclasses
import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import deepatoms
from deepatoms import registry
from deepatoms.report.build import build_report
from deepatoms.report.format import duration, unique_slug, value_text, when
from deepatoms.report.html import evidence_html
from deepatoms.store import Store
from deepatoms.verdict import Evidence, Verdict

ATOM = "universal-approximation"
EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _save_foreign_run(store: Store, name: str, with_trials: bool) -> None:
    """A run of an atom the catalog does not know, carrying markup in every user string."""
    canonical = json.dumps({"label": EVIL, "width": 3}, sort_keys=True, separators=(",", ":"))
    if with_trials:
        tables = {s: pd.DataFrame({"seed": [s], "metric": ["acc"], "value": [0.5 + s]}) for s in (0, 1)}
        store.save_trials(name, canonical, "0.0.1+old", tables, 0.1, "cpu")
    verdict = Verdict("inconclusive", f"finding with {EVIL}",
                      (Evidence(f"metric {EVIL}", 0.5, 0.1, 0.9, 2, "bootstrap", "> 0", None),))
    store.save_run(dict(atom=name, preset="default", params=canonical, code_version="0.0.1+old",
                        seeds=[0, 1], verdict=verdict.to_dict(), wall_s=1.5, computed_s=1.5,
                        env={"device": "cpu", "torch": EVIL}, command=f"deepatoms run {name} --set label='{EVIL}'"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A store with a quick run of one catalog atom and two runs of atoms not in the catalog."""
    store = Store(tmp_path_factory.mktemp("store"))
    deepatoms.run(ATOM, preset="quick", seeds=2, device="cpu", store=store, steps=50)
    _save_foreign_run(store, "retired-atom", with_trials=True)
    _save_foreign_run(store, "ghost-atom", with_trials=False)
    index = build_report(store)
    return store, index


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _pages(index: Path) -> list[Path]:
    return [index, *sorted((index.parent / "atoms").glob("*.html"))]


def test_index_and_one_page_per_stored_run(site):
    store, index = site
    assert index == store.root / "report" / "index.html"
    text = index.read_text(encoding="utf-8")
    assert registry.get(ATOM).title in text
    for name in store.latest_runs():
        page = index.parent / "atoms" / f"{name}.html"
        assert page.exists(), name
        assert f'href="atoms/{name}.html"' in text
    page = (index.parent / "atoms" / f"{ATOM}.html").read_text(encoding="utf-8")
    atom = registry.get(ATOM)
    for expected in (atom.title, atom.question, atom.sources[0], "deepatoms run universal-approximation",
                     "--set steps=50", "95% CI", store.latest_runs()[ATOM]["verdict"]["status"]):
        assert expected in page


def test_every_link_and_image_resolves_to_a_local_file(site):
    _, index = site
    for page in _pages(index):
        parsed = _parse(page)
        for target in parsed.links + parsed.images:
            assert "://" not in target, f"{page.name} links outside the site: {target}"
            assert (page.parent / target).is_file(), f"{page.name}: broken link {target}"
        assert "<link" not in page.read_text(encoding="utf-8")  # CSS is inlined


def test_figures_are_redrawn_as_valid_png(site):
    store, index = site
    page = index.parent / "atoms" / f"{ATOM}.html"
    images = _parse(page).images
    table = store.run_table(store.latest_runs()[ATOM])
    assert len(images) == len(registry.get(ATOM).figures(table)) >= 1  # one image per figure
    for src in images:
        data = (page.parent / src).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_user_strings_are_escaped(site):
    _, index = site
    for page in _pages(index):
        assert "<script" not in page.read_text(encoding="utf-8"), page.name
    retired = (index.parent / "atoms" / "retired-atom.html").read_text(encoding="utf-8")
    # parameter value, finding, evidence metric, environment and command
    assert retired.count(ESCAPED) >= 5
    assert ESCAPED in index.read_text(encoding="utf-8")  # the finding on the index


def test_atoms_not_in_the_catalog_get_a_page_that_says_so(site):
    _, index = site
    text = index.read_text(encoding="utf-8")
    assert "no longer in the catalog" in text
    retired = (index.parent / "atoms" / "retired-atom.html").read_text(encoding="utf-8")
    assert "no longer in the catalog" in retired
    assert (index.parent / "atoms" / "retired-atom" / "table.csv").is_file()
    ghost = (index.parent / "atoms" / "ghost-atom.html").read_text(encoding="utf-8")
    assert "stored table could not be loaded" in ghost


def test_parameters_marked_where_they_differ_from_the_default(site):
    _, index = site
    page = (index.parent / "atoms" / f"{ATOM}.html").read_text(encoding="utf-8")
    rows = {r.split("<code>")[1].split("</code>")[0]: r for r in page.split("<tr")[1:] if "<code>" in r}
    assert rows["steps"].startswith(' class="changed"') and "50" in rows["steps"]
    assert "10000" in rows["steps"]  # the default is shown next to the value
    assert not rows["n_points"].startswith(' class="changed"')


def test_figure_failure_is_reported_not_raised(site, monkeypatch, tmp_path):
    store, _ = site

    def broken(table):
        raise ValueError("no such column")
    monkeypatch.setitem(registry.all_atoms(), ATOM, dataclasses.replace(registry.get(ATOM), figures=broken))
    index = build_report(store, tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    page = (index.parent / "atoms" / f"{ATOM}.html").read_text(encoding="utf-8")
    assert "figures could not be drawn" in page and "ValueError: no such column" in page
    assert not list((index.parent / "atoms" / ATOM).glob("*.png"))


def test_empty_store_lists_every_catalog_atom_as_not_run(tmp_path):
    index = build_report(Store(tmp_path / "empty"))
    text = index.read_text(encoding="utf-8")
    for name in registry.all_atoms():
        assert f"<code>deepatoms run {name}</code>" in text
    n = len(registry.all_atoms())
    assert f'st-not-run">not run</span> <strong>{n}</strong>' in text
    assert not list((index.parent / "atoms").glob("*.html"))


def test_display_helpers_exact_values():
    assert duration(0.4219) == "0.42 s" and duration(3.44) == "3.4 s" and duration(42.4) == "42 s"
    assert duration(125) == "2 min 05 s" and duration(120) == "2 min" and duration(3780) == "1 h 03 min" and duration(None) == "—"
    assert when("2024-05-01T10:20:30+02:00") == "2024-05-01 08:20 UTC" and when("garbage") == "garbage"
    assert value_text([2, 4, 16]) == "2, 4, 16" and value_text(True) == "true"
    taken: set[str] = set()
    assert [unique_slug(s, taken) for s in ("a b", "a-b", "A-B", "../x", "")] == \
        ["a-b", "a-b-2", "A-B-3", "x", "item"]


def test_notebook_evidence_fragment_is_escaped():
    v = Verdict("reproduced", "f", (Evidence(EVIL, 1.0, 0.5, float("nan"), 3, "t", "> 0", True),))
    fragment = evidence_html(v)
    assert "<script" not in fragment and ESCAPED in fragment
    assert "[0.5, —]" in fragment and "supports" in fragment
