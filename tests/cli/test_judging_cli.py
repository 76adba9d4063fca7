"""`--seeds auto`, `deepatoms probe`, and reduced-scale verdicts through the CLI, API and report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import deepatoms
from deepatoms.cli import app
from deepatoms.errors import DeepatomsError, ParamError
from deepatoms.store import Store

ATOM = "activation-functions"
TINY = ["--preset", "quick", "--set", "steps=60"]


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner(env={"DEEPATOMS_STORE": None, "COLUMNS": "200"})


def _err(result) -> str:
    return " ".join(result.stderr.split())


@pytest.mark.parametrize("args,message", [
    (["run", ATOM, *TINY, "--seeds", "auto", "--max-seeds", "3"], "must be at least"),
    (["run", ATOM, *TINY, "--seeds", "4", "--max-seeds", "9"], "--max-seeds goes with --seeds auto"),
    (["probe", ATOM, "--vary", "steps=60"], "at least two values"),
    (["probe", ATOM, "--vary", "steps=60,60"], "repeats a value"),
    (["probe", ATOM, "--vary", "stepz=1,2"], "unknown parameter 'stepz'"),
    (["probe", ATOM, "--vary", "steps"], "--vary expects key=v1,v2"),
    (["probe", ATOM, "--vary", "steps=60,-5", *TINY[:2]], "must be >= 1"),
    (["probe", ATOM, "--vary", "steps=60,80", "--set", "steps=5"], "both varied"),
    (["probe", "no-such-atom", "--vary", "steps=1,2"], "unknown atom"),
])
def test_bad_adaptive_and_probe_input_is_one_line_and_exit_2(cli, tmp_path, args, message):
    result = cli.invoke(app, [*args, "--store", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in _err(result) and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "deepatoms.sqlite").exists() or not Store(tmp_path).latest_runs()


def test_quick_run_json_says_reduced_and_never_not_reproduced(cli, tmp_path):
    result = cli.invoke(app, ["run", ATOM, *TINY, "--seeds", "2", "--store", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)[0]
    assert out["scale"] == "reduced" and out["status"] == "inconclusive"
    assert out["label"].startswith("indicative: ") and out["indicative"] in (
        "reproduced", "not reproduced", "inconclusive")
    assert any("quick" in r for r in out["scale_reasons"])
    table = cli.invoke(app, ["run", ATOM, *TINY, "--seeds", "2", "--store", str(tmp_path)])
    assert "indicative" in table.stdout and "reduced scale, not a verdict" in table.stdout
    assert "not reproduced" not in table.stdout


def test_shrinking_a_scale_parameter_below_the_default_is_reduced():
    out = deepatoms.run(ATOM, seeds=2, device="cpu", steps=60)
    assert out.verdict.scale == "reduced"
    assert any(r.startswith("steps=60") for r in out.verdict.scale_reasons)


def test_adaptive_seeds_through_the_api_and_the_cli(cli, tmp_path):
    out = deepatoms.run(ATOM, "quick", "auto", max_seeds=24, device="cpu", store=tmp_path, steps=60)
    assert len(out.seeds) in (12, 24) and out.seeds == tuple(range(len(out.seeds)))
    assert "seeds" in out.verdict.seeds_note and "--seeds auto" in out.verdict.seeds_note
    result = cli.invoke(app, ["run", ATOM, *TINY, "--seeds", "auto", "--max-seeds", "24",
                              "--store", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["seeds_note"] == out.verdict.seeds_note  # all cached


def test_probe_runs_each_value_stores_it_and_the_report_draws_it(cli, tmp_path):
    result = cli.invoke(app, ["probe", ATOM, "--vary", "steps=40,80", *TINY[:2], "--seeds", "2",
                              "--store", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)
    assert [p["value"] for p in rec["points"]] == ["40", "80"] and rec["key"] == "steps"
    assert all(p["n"] == 2 and p["label"].startswith("indicative") for p in rec["points"])
    stored = Store(tmp_path).latest_probes()[ATOM]
    assert stored["points"] == rec["points"]
    again = deepatoms.probe(ATOM, {"steps": [40, 80]}, "quick", 2, device="cpu", store=tmp_path)
    assert [p["estimate"] for p in again.points] == [p["estimate"] for p in rec["points"]]
    report = cli.invoke(app, ["report", "--store", str(tmp_path)])
    assert report.exit_code == 0, report.output
    page = (tmp_path / "report" / "atoms" / f"{ATOM}.html").read_text()
    assert "Where does the claim hold?" in page and "probe.png" in page
    assert (tmp_path / "report" / "atoms" / ATOM / "probe.png").stat().st_size > 1000
    assert "Reduced scale" in page and "st-indicative" in page


def test_probe_metric_selects_an_evidence_row_or_says_which_exist(tmp_path):
    with pytest.raises(ParamError, match="rows:"):
        deepatoms.probe(ATOM, {"steps": [40, 80]}, "quick", 2, metric="no such row", device="cpu")
    with pytest.raises(DeepatomsError, match="one or two parameters"):  # two: a grid
        deepatoms.probe(ATOM, {"steps": [40, 80], "lr": [1, 2], "d": [3, 4]})
