"""Issue 19 (7): `deepatoms bench --catalog` — each atom's standing run of a store counted again
under the FLOP recorder on worker processes, its bound per atom, family and catalog, the bound on
W workers, `make run`'s wall against it, and a rerun that computes nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepatoms import api
from deepatoms.bench import catalog_pool
from deepatoms.bench.catalog import run_catalog
from deepatoms.bench.catalog_format import catalog_rows
from deepatoms.cli import app
from deepatoms.execution.estimates import schedule_s
from deepatoms.store import Store

ATOMS = ("layer-convergence", "activation-functions")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Quick-preset runs of two cheap atoms, as a `make run` would store them."""
    root = tmp_path_factory.mktemp("catalog-store")
    with Store(root) as opened:
        for name in ATOMS:
            api.run(name, preset="quick", seeds=2, device="cpu", store=opened, workers=1)
    return root


def test_catalog_end_to_end_on_two_workers_then_resumed(store, tmp_path, monkeypatch):
    out = tmp_path / "bound.json"
    lines: list[str] = []
    result = run_catalog(store, workers=2, wall_s=30.0, out=out, note=lines.append)
    atoms = result["atoms"]
    assert set(atoms) == set(ATOMS) and not result["missing"] and not result["errors"]
    with Store(store, readonly=True) as opened:
        runs = {r["atom"]: r for r in opened.standing_runs()}
    for name, row in atoms.items():
        assert row["run_id"] == runs[name]["id"] and row["seeds"] == runs[name]["seeds"]
        assert row["computed_s"] == runs[name]["computed_s"] and row["scale"] == "reduced"
        assert row["flops"] > 0 and row["bound_s"] > 0 and row["bound_threads"] == 1
        assert row["ratio"] == row["computed_s"] / row["bound_s"]
    fam, cat = result["families"]["atoms"], result["catalog"]
    assert fam["bounded"] == fam["atoms"] == 2
    assert fam["bound_s"] == pytest.approx(sum(r["bound_s"] for r in atoms.values()))
    assert cat["bound_s"] == pytest.approx(fam["bound_s"]) and cat["workers"] == 2
    assert cat["bound_on_workers_s"] == schedule_s([r["bound_s"] for r in atoms.values()], 2)
    assert cat["bound_on_workers_s"] == max(r["bound_s"] for r in atoms.values())  # one each
    assert cat["wall_s"] == 30.0 and cat["wall_from"] == "--wall-s"
    assert cat["wall_ratio"] == 30.0 / cat["bound_on_workers_s"] and cat["met"] is False
    assert sorted(line.split(":")[0] for line in lines) == sorted(ATOMS)
    assert json.loads(out.read_text())["atoms"].keys() == atoms.keys()
    labels = dict(catalog_rows(result))
    assert "goal ≤ 1.5×: not met" in labels["wall / bound on 2 workers"]
    assert labels["threads"] == "computed and bound both at 1 thread per trial"

    def no_compute(task):  # the rerun must not count anything
        raise AssertionError(f"{task.atom} counted again")

    monkeypatch.setattr(catalog_pool, "atom_bound", no_compute)
    again = run_catalog(store, workers=2, out=out)
    assert sorted(again["reused"]) == sorted(ATOMS) and again["atoms"] == atoms
    assert again["catalog"]["wall_from"].startswith("the store's span")
    assert again["catalog"]["wall_s"] > 0


def test_an_interrupted_pass_keeps_its_finished_atoms(store, tmp_path, monkeypatch):
    out = tmp_path / "bound.json"
    real = catalog_pool._row

    def stop_after_first(task, row):
        if out.exists():
            raise KeyboardInterrupt
        return real(task, row)

    monkeypatch.setattr(catalog_pool, "_row", stop_after_first)
    with pytest.raises(KeyboardInterrupt):
        run_catalog(store, workers=1, wall_s=10.0, out=out)
    kept = json.loads(out.read_text())
    assert len(kept["atoms"]) == 1 and len(kept["missing"]) == 1


def _one_line_error(args: list[str], expected: str) -> None:
    result = CliRunner(env={"DEEPATOMS_STORE": None}).invoke(app, ["bench", "--catalog", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert "Traceback" not in result.output


def test_bad_input_is_one_line_each(store, tmp_path):
    _one_line_error(["--store", str(tmp_path / "none")], "no results in")
    empty = tmp_path / "empty"
    Store(empty).close()
    _one_line_error(["--store", str(empty)], "no runs of catalog atoms")
    _one_line_error(["--store", str(store), "--workers", "0"], "workers must be a whole number")
    _one_line_error(["--store", str(store), "--wall-s", "-3"], "--wall-s must be a positive")
    _one_line_error(["--store", str(store), "--quick"], "do not go with it")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    _one_line_error(["--store", str(store), "--out", str(bad)], "cannot read")
    assert not (empty / "bench-catalog.json").exists()
