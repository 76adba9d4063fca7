"""`--config study.toml` (run, probe grids, history), `--set ATOM.key=value`, and `deepatoms
check --expect FILE [--junit-xml]`. Real runs use layer-convergence (quick, 1-2 seeds, few steps)
so the file runs in seconds."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepatoms import registry
from deepatoms.cli import app
from deepatoms.cli.check import read_expectations
from deepatoms.cli.config import load
from deepatoms.cli.run import plan_runs
from deepatoms.errors import DeepatomsError, ParamError

STUDY = """
[run]
atoms = ["layer-convergence"]
preset = "quick"
seeds = [3, 4]
[params]
steps = 30
[params.layer-convergence]
lr = 0.01
"""


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner(env={"DEEPATOMS_STORE": None, "COLUMNS": "200"})


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_run_config_sets_params_and_history_shows_it(cli, tmp_path):
    study, store = _write(tmp_path, "study.toml", STUDY), tmp_path / "s"
    out = cli.invoke(app, ["run", "--config", str(study), "--store", str(store), "--json"])
    assert out.exit_code == 0, out.output
    run = json.loads(out.stdout)[0]
    assert (run["preset"], run["seeds"]) == ("quick", [3, 4])
    assert (run["params"]["steps"], run["params"]["lr"]) == (30, 0.01)
    hist = cli.invoke(app, ["history", "layer-convergence", "--store", str(store), "--json"])
    config = json.loads(hist.stdout)[-1]["config"]
    assert config["file"] == str(study)
    assert config["params"] == {"steps": 30, "layer-convergence.lr": 0.01}
    assert config["used"]["seeds"] == [3, 4] and config["used"]["params"]["steps"] == 30
    table = cli.invoke(app, ["history", "layer-convergence", "--store", str(store)])
    assert "--config" in table.stdout and "steps=30; lr=0.01" in table.stdout


def test_command_line_wins_over_config(tmp_path):
    from deepatoms.cli.config import choose
    study = load(_write(tmp_path, "study.toml", STUDY))
    chosen = choose(study, None, None, False, "default", "2", None, {"steps": "40"})
    assert (chosen.names, chosen.preset, chosen.seeds) == (["layer-convergence"], "default", "2")
    assert chosen.sets_for(["layer-convergence"]) == {"steps": "40", "layer-convergence.lr": 0.01}
    assert chosen.sets_for(["parity"]) == {"steps": "40"}  # [params.ATOM] of atoms not run: left out
    kept = choose(study, None, None, False, None, None, None, {})
    assert (kept.preset, kept.seeds) == ("quick", "3,4")


@pytest.mark.parametrize("text, expected", [
    ("[run]\natom = ['parity']\n", "unknown key 'atom' in [run] (did you mean atoms?)"),
    ("[runs]\n", "unknown key 'runs' in the config file"),
    ("[run\n", "not valid TOML"),
    ("[run]\nseeds = true\n", "seeds must be a count"),
    ("[probe]\nvary = { a = [1], b = [2], c = [3] }\n", "one or two parameters"),
])
def test_bad_config_is_one_line_exit_2(cli, tmp_path, text, expected):
    study = _write(tmp_path, "bad.toml", text)
    out = cli.invoke(app, ["run", "layer-convergence", "--config", str(study),
                           "--store", str(tmp_path / "s")])
    assert out.exit_code == 2
    assert expected in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_bad_parameter_in_config_gets_the_set_error(cli, tmp_path):
    study = _write(tmp_path, "study.toml", STUDY.replace("lr = 0.01", "lrate = 0.01"))
    out = cli.invoke(app, ["run", "--config", str(study), "--store", str(tmp_path / "s")])
    assert out.exit_code == 2
    assert "error: unknown parameter 'lrate'; allowed: d, " in out.stderr
    assert not (tmp_path / "s").exists()


def test_set_aims_at_one_atom_and_plain_keys_skip_atoms_without_them():
    atoms = [registry.get("layer-convergence"), registry.get("transfer-learning")]
    plans, notes = plan_runs(atoms, "quick", "1", {"steps": "30", "transfer-learning.lr": "0.5",
                                                   "lr": "0.02"}, fallback=False)
    lc, tl = (p.params for p in plans)
    assert (lc.steps, lc.lr, tl.lr) == (30, 0.02, 0.5)
    assert plans[1].overrides == {"lr": "0.5"}
    assert notes == ["--set steps=30 applies to 1 of 2 atoms; ignored by transfer-learning "
                     "(no parameter 'steps')"]
    with pytest.raises(ParamError, match="none of the atoms run has it"):
        plan_runs(atoms, "quick", "1", {"stepz": "20"}, fallback=False)
    with pytest.raises(DeepatomsError, match="'parity' is not one of the atoms run"):
        plan_runs(atoms, "quick", "1", {"parity.steps": "20"}, fallback=False)
    with pytest.raises(ParamError, match="unknown parameter 'steps'"):
        plan_runs(atoms[1:], "quick", "1", {"steps": "20"}, fallback=False)


def test_probe_config_grid_has_a_verdict_per_cell(cli, tmp_path):
    study = _write(tmp_path, "grid.toml", STUDY + "[probe]\nvary = { steps = [30, 40], "
                                                  "lr = [0.01, 0.02, 0.03] }\n")
    store = tmp_path / "s"
    out = cli.invoke(app, ["probe", "--config", str(study), "--seeds", "1", "--store",
                           str(store), "--json"])
    assert out.exit_code == 0, out.output
    grid = json.loads(out.stdout)
    assert grid["values"] == {"steps": ["30", "40"], "lr": ["0.01", "0.02", "0.03"]}
    assert len(grid["cells"]) == 6
    assert {(c["x"], c["y"]) for c in grid["cells"]} == {(x, y) for x in ("30", "40")
                                                         for y in ("0.01", "0.02", "0.03")}
    assert all(c["label"].startswith("indicative") and c["n"] == 1 for c in grid["cells"])
    table = cli.invoke(app, ["probe", "--config", str(study), "--seeds", "1", "--store",
                             str(store)])
    assert (store / "probes" / "layer-convergence-steps-lr.png").stat().st_size > 1000
    assert "lr \\ steps" in table.stdout and "[6/6] layer-convergence" in table.stderr


# ---------------------------------------------------------------- check

def test_expectations_file_parses_and_refuses_bad_lines(tmp_path):
    good = _write(tmp_path, "e.yaml", "# claims\nparity: reproduced\n\nlayer-convergence: "
                                      "'not reproduced'  # a comment\n")
    assert read_expectations(good) == {"parity": "reproduced",
                                       "layer-convergence": "not reproduced"}
    for text, message in (("parity reproduced\n", ":1: expected `atom: verdict`"),
                          ("parity: yes\n", "must be one of"),
                          ("parity: reproduced\nparity: reproduced\n", "expected twice"),
                          ("parityy: reproduced\n", "parity"),
                          ("# nothing\n", "names no atom")):
        with pytest.raises(DeepatomsError, match=message):
            read_expectations(_write(tmp_path, "bad.yaml", text))


def _check(cli, tmp_path, verdict: str):
    expect = _write(tmp_path, f"{verdict}.yaml", f"layer-convergence: {verdict}\n")
    junit = tmp_path / "claims.xml"
    out = cli.invoke(app, ["check", "--expect", str(expect), "--preset", "quick", "--seeds", "2",
                           "--set", "steps=30", "--store", str(tmp_path / "s"),
                           "--junit-xml", str(junit)])
    return out, ET.parse(junit).getroot()


def test_check_passes_then_fails_with_junit(cli, tmp_path):
    out, suite = _check(cli, tmp_path, "inconclusive")
    assert out.exit_code == 0, out.output
    assert "1 of 1 claims hold" in out.stdout
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    assert suite.find("testcase").get("name") == "layer-convergence"
    out, suite = _check(cli, tmp_path, "reproduced")
    assert out.exit_code == 1
    assert "0 of 1 claims hold; differ: layer-convergence" in out.stdout
    assert suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure.get("message") == ("expected reproduced, got inconclusive (indicative, "
                                      "reduced scale)")


def test_check_bad_input_exits_2(cli, tmp_path):
    out = cli.invoke(app, ["check", "--expect", str(tmp_path / "missing.yaml")])
    assert out.exit_code == 2 and "cannot read the expectations file" in out.stderr
