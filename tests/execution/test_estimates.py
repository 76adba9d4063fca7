"""Time estimates: measured per-atom costs first, and a multi-atom run's total as the
longest-first schedule over the workers that the cross-atom prefetch follows (dispatch.py) — so
the dry run of `run --all` is within ±30 % of the measured `make run`."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from deepatoms import registry
from deepatoms.cli import app
from deepatoms.execution import measured_costs
from deepatoms.execution.estimates import estimate_s, per_seed_s, schedule_s
from deepatoms.execution.executors import ExecOptions
from deepatoms.execution.planning import plan_row, plan_total


def test_schedule_is_longest_first_onto_the_least_loaded_worker():
    assert schedule_s([5, 4, 3, 3, 3], 2) == 10  # 5+3 | 4+3+3 (longest first, not optimal 9)
    assert schedule_s([5, 4, 3, 3, 3], 1) == 18
    assert schedule_s([100, 1, 1], 2) == 100  # one long atom bounds the run
    assert schedule_s([], 2) == 0


def test_a_measured_cost_is_preferred_to_the_declared_runtime(tmp_path, monkeypatch):
    atom = registry.get("parity")
    path = tmp_path / "costs.json"
    path.write_text(json.dumps({"atoms": {"parity": {"per_seed_s": 7.5, "seeds": 6}}}))
    monkeypatch.setattr(measured_costs, "PATH", path)
    measured_costs._read.cache_clear()
    try:
        assert per_seed_s(atom) == 7.5
        assert estimate_s(atom, atom.params("default"), 4) == pytest.approx(1.0 + 30.0)
        other = registry.get("fixup")
        assert per_seed_s(other) == other.runtime_s / other.default_seeds  # not measured
    finally:
        measured_costs._read.cache_clear()


def test_the_total_runs_prefetched_atoms_side_by_side_timing_atoms_included():
    names = ["parity", "fixup", "lightweight-convolution"]  # the last times itself: prefetched too
    atoms = [registry.get(n) for n in names]
    rows = [{"estimate_s": e, "to_compute": 1} for e in (100.0, 60.0, 30.0)]
    two = plan_total(rows, atoms, ExecOptions(workers=2))
    assert two == {"total_s": 100.0, "serial_s": 190.0, "workers": 2}  # 100 | 60 + 30
    assert plan_total(rows, atoms, ExecOptions(workers=1))["total_s"] == 190.0
    cached = [dict(r, to_compute=0) for r in rows]
    assert plan_total(cached, atoms, ExecOptions(workers=2))["total_s"] == 0.0


def _all_rows():
    atoms = list(registry.all_atoms().values())
    rows = [plan_row(a, "default", a.params("default"), tuple(range(a.default_seeds)), None)
            for a in atoms]
    return rows, atoms


def test_the_dry_run_of_all_is_within_30_percent_of_the_measured_make_run():
    wall = measured_costs.make_run_wall_s()
    if not measured_costs.PATH.is_file() or not wall:
        pytest.skip("no measured_costs.json with the wall time of a measured `make run`: "
                    "python -m deepatoms.execution.measured_costs --store DIR --wall-s SECONDS")
    rows, atoms = _all_rows()
    total = plan_total(rows, atoms, ExecOptions(workers=2))["total_s"]
    assert 0.7 * wall <= total <= 1.3 * wall, (total, wall)


def test_the_cli_dry_run_prints_the_scheduled_total(tmp_path):
    from deepatoms.cli.render import fmt_seconds
    result = CliRunner(env={"DEEPATOMS_STORE": None, "COLUMNS": "120"}).invoke(
        app, ["run", "--all", "--dry-run", "--workers", "2", "--store", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    rows, atoms = _all_rows()
    timing = plan_total(rows, atoms, ExecOptions(workers=2))
    assert f"about {fmt_seconds(timing['total_s'])} (2 workers side by side" in result.stdout
    assert not (tmp_path / "s").exists()


def test_list_shows_the_measured_default_runtime(tmp_path, monkeypatch):
    path = tmp_path / "costs.json"
    path.write_text(json.dumps({"atoms": {"parity": {"per_seed_s": 10.0, "seeds": 6}}}))
    monkeypatch.setattr(measured_costs, "PATH", path)
    measured_costs._read.cache_clear()
    try:
        result = CliRunner(env={"DEEPATOMS_STORE": None}).invoke(
            app, ["list", "--json", "--store", str(tmp_path / "none")])
        rows = {r["name"]: r for r in json.loads(result.stdout)}
        assert rows["parity"]["runtime_s"] == 10.0 * registry.get("parity").default_seeds
        assert rows["fixup"]["runtime_s"] == registry.get("fixup").runtime_s
    finally:
        measured_costs._read.cache_clear()
