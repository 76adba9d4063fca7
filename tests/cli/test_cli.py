"""The `deepatoms` command line: help, list, show, run (JSON, cache, --set), report, bench,
export, and every kind of bad input (exit 2, one line on stderr, nothing written).

Only `universal-approximation` is used (quick preset, 1 seed, 50 steps) so the file runs fast.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from deepatoms import registry
from deepatoms.cli import app
from deepatoms.cli.run import plan_runs
from deepatoms.cli.render import RichProgress
from deepatoms.errors import ParamError
from deepatoms.store import DB_NAME, Store
from deepatoms.verdict import STATUSES

ATOM = "universal-approximation"
FAST = ["--preset", "quick", "--seeds", "1", "--set", "steps=50"]
COMMANDS = ["list", "show", "run", "probe", "report", "bench", "export", "serve"]


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner(env={"DEEPATOMS_STORE": None, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, dict]:
    """One real run (hidden given as a list) into a fresh store, shared by several tests."""
    store = tmp_path_factory.mktemp("store")
    runner = CliRunner(env={"DEEPATOMS_STORE": None})
    result = runner.invoke(app, ["run", ATOM, *FAST, "--set", "hidden=2,4",
                                 "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    return store, json.loads(result.stdout)[0]


def _same_run(store: Path, *extra: str) -> list[str]:
    return ["run", ATOM, *FAST, "--set", "hidden=2,4", "--store", str(store), *extra]


# ---------------------------------------------------------------- help, list, show

@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_every_command_has_help(cli, command):
    result = cli.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout
    assert len(result.stdout.split()) > 25  # explains, not just a usage line


def test_list_table_and_json(cli, tmp_path):
    store = tmp_path / "never-created"
    table = cli.invoke(app, ["list", "--store", str(store)])
    assert table.exit_code == 0, table.output
    assert ATOM in table.stdout and "not run" in table.stdout
    parsed = cli.invoke(app, ["list", "--family", "atoms", "--json", "--store", str(store)])
    rows = {r["name"]: r for r in json.loads(parsed.stdout)}
    assert rows[ATOM]["family"] == "atoms" and rows[ATOM]["last_run"] is None
    from deepatoms.execution.measured_costs import per_seed_s
    atom, measured = registry.get(ATOM), per_seed_s(ATOM)  # measured cost first, else declared
    expected = atom.runtime_s if measured is None else round(measured * atom.default_seeds, 1)
    assert rows[ATOM]["runtime_s"] == expected
    assert not store.exists()  # listing never creates a store


def test_show_lists_claim_parameters_and_presets(cli):
    text = cli.invoke(app, ["show", ATOM])
    assert text.exit_code == 0, text.output
    for piece in ("Question", "Claim", "Method", "Cybenko", "hidden", "list of integers",
                  "quick preset", ">= 1"):
        assert piece in text.stdout, piece
    data = json.loads(cli.invoke(app, ["show", ATOM, "--json"]).stdout)
    params = {p["name"]: p for p in data["parameters"]}
    assert params["hidden"]["type"] == "a list of integers (a,b,c)"
    assert params["hidden"]["default"] == "2,4,16"
    assert params["steps"]["presets"] == {"quick": "800"}
    assert data["sources"] and data["claim"] == registry.get(ATOM).claim


# ---------------------------------------------------------------- run

def test_run_json_has_verdict_evidence_params(first_run):
    store, out = first_run
    assert out["atom"] == ATOM and out["status"] in STATUSES
    assert isinstance(out["finding"], str) and out["finding"]
    assert out["evidence"] and {"metric", "estimate", "ci_low", "ci_high", "n",
                                "supports"} <= set(out["evidence"][0])
    assert out["params"]["hidden"] == [2, 4]  # --set list parsing
    assert out["params"]["steps"] == 50 and out["preset"] == "quick"
    assert out["seeds"] == [0] and out["cached_seeds"] == [] and out["wall_s"] >= 0
    stored = Store(store).latest_runs()[ATOM]
    assert stored["verdict"]["status"] == out["status"] and stored["seeds"] == [0]


def test_second_run_hits_cache_via_env_store(cli, first_run):
    store, first = first_run
    env = {"DEEPATOMS_STORE": str(store)}
    again = cli.invoke(app, ["run", ATOM, *FAST, "--set", "hidden=2,4", "--json"], env=env)
    assert again.exit_code == 0, again.output
    out = json.loads(again.stdout)[0]
    assert out["cached_seeds"] == [0] and out["computed_s"] == 0.0
    assert out["finding"] == first["finding"]
    table = cli.invoke(app, ["run", ATOM, *FAST, "--set", "hidden=2,4"], env=env)
    assert table.exit_code == 0, table.output
    assert "1/1" in table.stdout and "store:" in table.stdout and out["label"] in table.stdout
    assert f"running {ATOM}" in table.stderr


def test_force_recomputes(cli, first_run):
    store, _ = first_run
    result = cli.invoke(app, _same_run(store, "--json", "--force"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["cached_seeds"] == []


def test_list_shows_last_verdict(cli, first_run):
    store, out = first_run
    rows = json.loads(cli.invoke(app, ["list", "--json", "--store", str(store)]).stdout)
    last = {r["name"]: r for r in rows}[ATOM]["last_run"]
    assert last["status"] == out["status"] and last["preset"] == "quick"


def test_preset_fallback_only_for_family_or_all():
    atom = registry.get(ATOM)
    plans, notes = plan_runs([atom], "paper", "2", {"steps": "50"}, fallback=True)
    assert plans[0].preset == "default" and plans[0].params.steps == 50
    assert plans[0].seeds == (0, 1) and "no 'paper' preset" in notes[0]
    with pytest.raises(ParamError, match="unknown preset 'paper'"):
        plan_runs([atom], "paper", "2", {}, fallback=False)


# ---------------------------------------------------------------- bad input

BAD_RUNS = [
    (["run", "universal-aproximation", *FAST], "did you mean universal-approximation"),
    (["run", ATOM, "universal-approximatio", *FAST], "unknown atom"),  # 2nd name bad: none run
    (["run", ATOM, *FAST, "--set", "stepz=5"], "unknown parameter 'stepz'"),
    (["run", ATOM, *FAST, "--set", "lr=fast"], "parameter 'lr' must be a number"),
    (["run", ATOM, *FAST, "--set", "hidden=-4"], "'hidden' must be >= 1"),
    (["run", ATOM, *FAST, "--set", "hidden="], "'hidden' must not be empty"),
    (["run", ATOM, "--preset", "quick", "--seeds", "0"], "number of seeds must be between 1 and 10,000"),
    (["run", ATOM, "--preset", "quick", "--seeds", "a,b"], "--seeds must be a count"),
    (["run", ATOM, "--preset", "paper", "--seeds", "1"], "unknown preset 'paper'"),
    (["run", ATOM, "--preset", "fast", "--seeds", "1"], "unknown preset 'fast'"),
    (["run", "--family", "nope", *FAST], "unknown family 'nope'"),
    (["run", ATOM, *FAST, "--set", "steps50"], "--set expects key=value"),
    (["run", ATOM, *FAST, "--set", "steps=5", "--set", "steps=6"], "given twice"),
    (["run", ATOM, *FAST, "--device", "tpu"], "unknown device 'tpu'"),
    (["run", *FAST], "name the atoms to run"),
    (["run", ATOM, "--all", *FAST], "exactly one"),
]


def _assert_clean_error(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in result.output and result.stdout == ""


@pytest.mark.parametrize("args,expected", BAD_RUNS, ids=[" ".join(a[:4]) for a, _ in BAD_RUNS])
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, args, expected):
    store = tmp_path / "store"
    result = CliRunner(env={"DEEPATOMS_STORE": None}).invoke(app, [*args, "--store", str(store)])
    _assert_clean_error(result, expected)
    assert not (store / DB_NAME).exists()


def test_cuda_requested_without_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    store = tmp_path / "store"
    result = CliRunner().invoke(app, ["run", ATOM, *FAST, "--device", "cuda", "--store", str(store)])
    _assert_clean_error(result, "CUDA is not available")
    assert not (store / DB_NAME).exists()


def test_unwritable_store(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(app, ["run", ATOM, *FAST, "--store", str(blocker / "sub")])
    _assert_clean_error(result, "cannot write the store")


def test_corrupted_store_is_left_untouched(tmp_path):
    garbage = bytes(range(256)) * 16
    (tmp_path / DB_NAME).write_bytes(garbage)
    for args in (["run", ATOM, *FAST], ["list"], ["export", str(tmp_path / "o.csv")]):
        result = CliRunner().invoke(app, [*args, "--store", str(tmp_path)])
        _assert_clean_error(result, "not a readable deepatoms database")
    assert (tmp_path / DB_NAME).read_bytes() == garbage
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("args,expected", [
    (["show", "nope"], "unknown atom 'nope'"),
    (["list", "--family", "nope"], "unknown family"),
    (["report"], "no results in"),
    (["export", "out.txt"], "must end in .csv or .parquet"),
])
def test_other_commands_bad_input(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    result = CliRunner(env={"DEEPATOMS_STORE": None}).invoke(app, args)
    _assert_clean_error(result, expected)
    assert not (tmp_path / "deepatoms-runs").exists()


def test_typer_usage_error_exits_2(cli):
    result = cli.invoke(app, ["run", ATOM, "--seeds"])
    assert result.exit_code == 2 and "Traceback" not in result.output


# ---------------------------------------------------------------- report, export, bench

def test_report_prints_index_path(cli, first_run, tmp_path):
    store, _ = first_run
    result = cli.invoke(app, ["report", "--store", str(store), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    index = Path(result.stdout.split("report:", 1)[1].strip())
    assert index.name == "index.html" and index.is_file() and index.parent == tmp_path / "site"


def test_export_csv(cli, first_run, tmp_path):
    store, out = first_run
    target = tmp_path / "runs.csv"
    result = cli.invoke(app, ["export", str(target), "--store", str(store)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(target)
    assert set(table["atom"]) == {ATOM} and set(table["hidden_units"]) == {2, 4}
    missing_dir = cli.invoke(app, ["export", str(tmp_path / "no" / "x.csv"), "--store", str(store)])
    _assert_clean_error(missing_dir, "does not exist")


def test_bench_table_and_json(cli, monkeypatch):
    import deepatoms.bench as bench
    seen = {}

    def fake_run_bench(quick, device, progress, **kwargs):
        seen.update(quick=quick, device=device)
        progress.begin("bench", 2), progress.advance(2), progress.end()
        return {"speedup": 12.5, "peak": float("nan")}

    monkeypatch.setattr(bench, "run_bench", fake_run_bench)
    monkeypatch.setattr(bench, "format_rows", lambda r: [("population speed-up", "12.5x")])
    table = cli.invoke(app, ["bench", "--quick"])
    assert table.exit_code == 0, table.output
    assert "population speed-up" in table.stdout and "12.5x" in table.stdout
    assert seen == {"quick": True, "device": "cpu"}
    data = json.loads(cli.invoke(app, ["bench", "--json"]).stdout)
    assert data == {"speedup": 12.5, "peak": None}  # NaN becomes null: valid JSON
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _assert_clean_error(cli.invoke(app, ["bench", "--device", "cuda"]), "CUDA is not available")


# ---------------------------------------------------------------- progress, end to end

def test_progress_bars_name_the_atom_and_count_steps():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with RichProgress(console) as bar:
        bar.atom = ATOM
        bar.begin(ATOM, 50)
        bar.begin("inner", 4)  # nested loops stack
        bar.advance(4)
        bar.end()
        bar.advance(50)
        bar._bars.refresh()
        bar.end()
        assert bar._tasks == []
    text = buf.getvalue()
    assert ATOM in text and f"{ATOM} · inner" in text and "50/50" in text and "steps" in text


def _cli_process(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("DEEPATOMS_STORE", None)
    return subprocess.run([sys.executable, "-m", "deepatoms.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_end_to_end_process_json_stdout_is_clean(tmp_path):
    ok = _cli_process("run", ATOM, *FAST, "--store", str(tmp_path), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["atom"] == ATOM  # progress and notes went to stderr
    bad = _cli_process("run", ATOM, *FAST, "--set", "n_points=1", "--store", str(tmp_path / "b"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["error: parameter 'n_points' must be >= 2, got 1"]


def test_seeds_per_batch_stores_each_batch(tmp_path):
    """--seeds-per-batch 1: one population per seed, every seed stored, same table as one batch."""
    import sqlite3
    store = tmp_path / "s"
    args = ["run", ATOM, "--preset", "quick", "--set", "steps=50", "--seeds", "3", "--json", "--store"]
    batched = json.loads(CliRunner().invoke(app, [*args, str(tmp_path / "t")]).stdout)
    result = CliRunner().invoke(app, [*args, str(store), "--seeds-per-batch", "1"])
    assert result.exit_code == 0, result.output
    rows = sqlite3.connect(store / "deepatoms.sqlite").execute(
        "SELECT seed FROM trials ORDER BY seed").fetchall()
    assert rows == [(0,), (1,), (2,)]
    assert json.loads(result.stdout)[0]["evidence"] == batched[0]["evidence"]
    bad = CliRunner().invoke(app, [*args, str(store), "--seeds-per-batch", "0"])
    assert bad.exit_code == 2
