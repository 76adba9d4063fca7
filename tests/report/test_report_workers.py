"""The report's atom pages drawn on worker processes are the pages drawn in this process."""
from pathlib import Path

import pytest

import deepatoms
from deepatoms.report import build
from deepatoms.store import Store

ATOMS = ("universal-approximation", "parity", "dataset-bias")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("store"))
    for name in ATOMS:
        deepatoms.run(name, preset="quick", seeds=2, device="cpu", store=store)
    return store


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".csv", ".png")}


def _pages_html(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((root / "atoms").glob("*.html"))}


def test_worker_pages_equal_in_process_pages(store, tmp_path, monkeypatch):
    monkeypatch.setattr(build, "_now", lambda: "2026-12-07 23:59 UTC")  # one build time for both
    monkeypatch.setattr(build, "PARALLEL_PAGES", 99)
    one = build.build_report(store, tmp_path / "one")
    used: list[int] = []
    real = build._pages_on_workers

    def spy(st, jobs, workers):
        used.append(workers)
        return real(st, jobs, workers)

    monkeypatch.setattr(build, "PARALLEL_PAGES", 2)
    monkeypatch.setattr("deepatoms.execution.executors.busy", lambda: False)
    monkeypatch.setattr("deepatoms.execution.executors.default_workers", lambda: 2)
    monkeypatch.setattr(build, "_pages_on_workers", spy)
    two = build.build_report(store, tmp_path / "two")
    assert used == [2]
    assert _files(one.parent) == _files(two.parent) and len(_files(one.parent)) >= 2 * len(ATOMS)
    assert _pages_html(one.parent) == _pages_html(two.parent)
    assert len(_pages_html(two.parent)) == len(ATOMS)


def test_pages_a_worker_lost_are_built_in_process(store, tmp_path, monkeypatch):
    monkeypatch.setattr(build, "PARALLEL_PAGES", 2)
    monkeypatch.setattr("deepatoms.execution.executors.busy", lambda: False)
    monkeypatch.setattr("deepatoms.execution.executors.default_workers", lambda: 2)
    monkeypatch.setattr(build, "_pages_on_workers", lambda st, jobs, workers: {})
    index = build.build_report(store, tmp_path / "lost")
    assert len(_pages_html(index.parent)) == len(ATOMS)
    assert all(len(list((index.parent / "atoms").glob(f"{n}/*.png"))) >= 1 for n in ATOMS)
