"""A damaged or tampered store never crashes `history`, `diff`, `export` or `list`: each reads
through store/damage.py, names every run it cannot fully read in one `warning:` line (or, when
nothing can be exported, one `error:` line with exit 2) and leaves the store file untouched.
Also: `diff` keeps evidence rows that share a name, and warns when the two runs are of
different atoms."""
from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import pytest

import deepatoms
from deepatoms.cli.entry import main as cli_main
from deepatoms.errors import StoreError
from deepatoms.store import DB_NAME, Store
from deepatoms.store.damage import DamagedRunWarning, repair
from deepatoms.store.history import DifferentAtomsWarning, evidence_pairs

from .tampering import digest, loose_runs, tampered

ATOM = "layer-convergence"
FAST = dict(preset="quick", seeds=1, steps=24, record_every=2)
RUN_COLUMNS = ("atom, preset, params, params_key, code_version, seeds, status, verdict, wall_s, "
               "computed_s, env, command, created, cached_seeds, device, dtype")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A real store with two runs of one small atom (run 2 a copy of run 1)."""
    root = tmp_path_factory.mktemp("base")
    deepatoms.run(ATOM, store=root, **FAST)
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.execute(f"INSERT INTO runs ({RUN_COLUMNS}) SELECT {RUN_COLUMNS} FROM runs")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return root


def _loose(change: str) -> str:
    """Rebuild `runs` without its NOT NULL constraints and types, then apply `change` to run 2."""
    return loose_runs(f"{change} WHERE id=2")


# (id, SQL damaging run 2, what the warning names)
DAMAGE = [
    ("verdict-a-list", "UPDATE runs SET verdict='[1, 2]' WHERE id=2", "verdict is not a verdict"),
    ("verdict-json-null", "UPDATE runs SET verdict='null' WHERE id=2", "verdict is not a verdict"),
    ("verdict-sql-null", _loose("UPDATE runs SET verdict=NULL"), "verdict field is not valid JSON"),
    ("seeds-a-number", "UPDATE runs SET seeds='5' WHERE id=2", "seeds is not a list of seeds"),
    ("env-null", "UPDATE runs SET env='null' WHERE id=2", "env is not an environment record"),
    ("preset-binary", _loose("UPDATE runs SET preset=x'00ff'"), "preset is not text"),
    ("wall-text", "UPDATE runs SET wall_s='slow' WHERE id=2", "wall_s is not a duration"),
    ("evidence-a-dict",
     """UPDATE runs SET verdict=json_set(verdict, '$.evidence', json('{"a": 1}')) WHERE id=2""",
     "evidence is not a list of records"),
    ("trial-rows-garbage", "UPDATE trials SET rows='garbage'", ""),
]
COMMANDS = {"history": ["history", ATOM], "diff": ["diff", "1", "2"],
            "export": ["export", "{out}"], "list": ["list"]}
CASES = [(d, c) for d in DAMAGE for c in COMMANDS]


@pytest.mark.parametrize("damage, command", CASES, ids=[f"{d[0]}-{c}" for d, c in CASES])
def test_a_damaged_run_is_named_never_a_traceback(base, tmp_path, capsys, damage, command):
    _, sql, named = damage
    root = tampered(base, tmp_path, sql)
    before, out = digest(root / DB_NAME), tmp_path / "out.csv"
    args = [a.replace("{out}", str(out)) for a in COMMANDS[command]]
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # each test sees its warning, however often it repeats
        code = cli_main([*args, "--store", str(root)])
    got = capsys.readouterr()
    assert "Traceback" not in got.out + got.err
    lines = got.err.strip().splitlines()
    if code == 2:  # nothing readable to export: one error line, nothing written
        assert command == "export" and len(lines) >= 1 and lines[-1].startswith("error: ")
        assert not out.exists()
    else:
        assert code == 0, got.err
        assert all(line.startswith("warning: ") for line in lines), lines
        if named:
            assert any("run 2 (layer-convergence) is damaged" in line and named in line
                       for line in lines), lines
    if damage[0] == "trial-rows-garbage" and command == "export":
        assert code == 2 and "lacks readable trials" in lines[-1]
    assert digest(root / DB_NAME) == before


def test_export_leaves_out_only_the_unreadable_run(base, tmp_path, capsys):
    """Run 2's trials are its own (another seed): only they are damaged, run 1 is exported."""
    root = tampered(base, tmp_path, "INSERT INTO trials SELECT atom, params_key, code_version, "
                     "device, dtype, 7, params, 'garbage', wall_s, torch, threads, created FROM "
                     "trials; UPDATE runs SET seeds='[7]' WHERE id=2")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code = cli_main(["export", str(tmp_path / "o.csv"), "--all-runs", "--store", str(root)])
    err = capsys.readouterr().err
    assert code == 0 and "run 2 (layer-convergence) is left out" in err
    import pandas as pd
    assert set(pd.read_csv(tmp_path / "o.csv").run_id) == {1}


def test_the_api_reads_damaged_runs_with_a_warning(base, tmp_path):
    root = tampered(base, tmp_path, "UPDATE runs SET seeds='5', verdict='[1]' WHERE id=2")
    with pytest.warns(DamagedRunWarning, match="run 2 .*seeds is not a list"):
        table = deepatoms.history(ATOM, store=root)
    assert list(table.id) == [1, 2] and list(table.verdict)[1] == "unreadable"
    assert table.damaged[0] == [] and len(table.damaged[1]) == 2
    with pytest.warns(DamagedRunWarning):
        diff = deepatoms.diff(1, 2, store=root)
    assert diff["runs"][1]["status"] == "unreadable" and diff["runs"][1]["seeds"] == []
    assert all(e["b"] is None for e in diff["evidence"])


def test_the_strict_reading_names_the_run(base, tmp_path):
    root = tampered(base, tmp_path, "UPDATE runs SET env='[1]' WHERE id=2")
    with pytest.raises(StoreError, match="run 2 .*env is not an environment record"):
        Store(root, readonly=True).runs()
    runs = Store(root, readonly=True).runs(tolerant=True)
    assert [r["damaged"] == [] for r in runs] == [True, False] and runs[1]["env"] == {}


@pytest.mark.parametrize("record", [None, 5, "x", [1], {"verdict": {"status": 3}},
                                    {"verdict": {"status": "reproduced", "evidence": ["x"]}}])
def test_repair_gives_well_typed_fields(record):
    run, problems = repair(record)
    assert problems and isinstance(run["seeds"], list) and isinstance(run["params"], dict)
    assert run["verdict"] is None or isinstance(run["verdict"]["evidence"], list)


# ---------------------------------------------------------------- diff: evidence and atoms

def _run(*evidence: tuple[str, str, float]) -> dict:
    return {"verdict": {"status": "reproduced", "evidence": [
        {"setting": s, "metric": m, "estimate": e} for s, m, e in evidence]}}


def test_evidence_rows_that_share_a_name_are_all_kept():
    a = _run(("d=2", "gap", 1.0), ("d=2", "gap", 2.0), ("d=4", "gap", 3.0))
    b = _run(("d=2", "gap", 1.5), ("d=2", "gap", 2.5))
    pairs = evidence_pairs(a, b)
    assert [(p["setting"], p["metric"]) for p in pairs] == [("d=2", "gap")] * 2 + [("d=4", "gap")]
    assert [p["delta"] for p in pairs[:2]] == [0.5, 0.5]
    assert pairs[2]["b"] is None and pairs[2]["a"]["estimate"] == 3.0


def test_diff_of_two_atoms_says_so(base, tmp_path, capsys):
    root = tampered(base, tmp_path, "UPDATE runs SET atom='parity' WHERE id=2")
    with pytest.warns(DifferentAtomsWarning, match="run 1 is layer-convergence and run 2 is parity"):
        deepatoms.diff(1, 2, store=root)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code = cli_main(["diff", "1", "2", "--store", str(root)])
    out = capsys.readouterr()
    assert code == 0 and "run 1 vs run 2" in out.out
    assert out.err.startswith("warning: run 1 is layer-convergence and run 2 is parity")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        deepatoms.diff(1, 1, store=root)  # one atom: no warning


@pytest.mark.parametrize("run_id", ["²", "99999999999999999999", "0", "-1", "1.5", "#", "١",
                                    True, 1.0, 2**63, None, b"1"])
def test_bad_run_ids_are_one_store_error(base, run_id):
    for args in ((run_id, 1), (1, run_id)):
        with pytest.raises(StoreError, match="a run id is a whole number") as info:
            deepatoms.diff(*args, store=base)
        assert "\n" not in str(info.value)


def test_good_run_ids(base):
    import numpy as np
    assert deepatoms.diff(" #1", np.int64(2), store=base)["runs"][1]["id"] == 2
    with pytest.raises(StoreError, match="no run with id"):
        deepatoms.diff(1, 2**63 - 1, store=base)


def test_an_unreadable_trial_is_computed_again(base, tmp_path):
    """A trial whose stored rows cannot be decoded counts as not stored: the run recomputes
    it (instead of crashing on the cache) and the store holds a readable one afterwards."""
    from deepatoms.execution import ledger
    root = tampered(base, tmp_path, "UPDATE trials SET rows='garbage'")
    ledger.clear()  # nothing kept in this process from the fixture's run
    outcome = deepatoms.run(ATOM, store=root, **FAST)
    assert outcome.cached_seeds == () and len(outcome.rows) > 0
    st = Store(root, readonly=True)
    assert len(st.run_table(st.run(outcome.run_id))) == len(outcome.rows)
