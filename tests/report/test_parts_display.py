"""Claim parts and controls in every view (issue 16 §1.3): the CLI's run table, history and diff,
the report's atom page and index, the notebook fragment, the lab's verdict summary, the JSON and
the MLflow tags; a run stored before verdicts had parts still renders, without part lines."""
from __future__ import annotations

import json
import types

import pandas as pd
from rich.console import Console
from typer.testing import CliRunner

from deepatoms.cli import app
from deepatoms.cli.render import AtomResult, verdict_table
from deepatoms.report.build import build_report
from deepatoms.report.html import evidence_html
from deepatoms.report.parts import evidence_part, part_lines, secondary_lines
from deepatoms.serve.schema import verdict_summary
from deepatoms.store import Store
from deepatoms.store.mlflow_metrics import evidence_tags, part_tags
from deepatoms.verdict import Evidence, decide

ATOM = "fixup"
BN = "batch norm at 1,000 blocks, shared lr"
DEEP = "BN trains at the shallowest depth"


def _verdict(control_holds: bool = True):
    """Central part reproduced; the BN part not reproduced, or inconclusive by its control."""
    rows = [Evidence("fixup accuracy", 0.66, 0.6, 0.7, 5, "t", "> 0.5", True, setting="L=1000"),
            Evidence("BN accuracy", 0.12, 0.1, 0.14, 5, "t", "> 0.5", False, setting="L=1000",
                     part=BN),
            Evidence(DEEP, 0.52 if control_holds else 0.3, 0.45 if control_holds else 0.2,
                     0.6 if control_holds else 0.4, 5, "t", "> 0.4", control_holds,
                     setting="L=10", part=BN, control=True, note="at 390 steps it would pass")]
    return decide(rows, "Fixup trains 1,000 blocks.")


def _old_verdict_dict() -> dict:
    """A verdict as stored before parts existed (no `parts`, no `part`/`control` in rows)."""
    d = _verdict().to_dict()
    d.pop("parts")
    for e in d["evidence"]:
        e.pop("part"), e.pop("control")
    return d


def _store(root, verdicts) -> Store:
    store = Store(root)
    canonical = json.dumps({"x": 1})
    tables = {s: pd.DataFrame({"seed": [s], "metric": ["m"], "value": [0.5]}) for s in (0, 1)}
    store.save_trials(ATOM, canonical, "v1", tables, 1.0, "cpu", threads=1)
    for verdict in verdicts:
        store.save_run(dict(atom=ATOM, preset="default", params=canonical, code_version="v1",
                            device="cpu", seeds=[0, 1], verdict=verdict, wall_s=2.0,
                            computed_s=2.0, env={"device": "cpu"}, command="deepatoms run x"))
    return store


def test_the_text_helpers_name_each_part_and_mark_controls():
    v = _verdict(control_holds=False)
    assert [p.status for p in v.parts] == ["reproduced", "inconclusive"]
    lines = part_lines(v)
    assert lines[0] == "central claim: reproduced"
    assert lines[1].startswith(f"{BN}: inconclusive — control failed: {DEEP} (L=10) = 0.3")
    assert "at 390 steps it would pass" in lines[1]
    assert secondary_lines(v) == lines[1:]  # the headline says the central part
    assert [evidence_part(e) for e in v.evidence] == ["", BN, f"control ({BN})"]
    assert part_lines(_verdict()) == ["central claim: reproduced", f"{BN}: not reproduced"]


def test_the_run_table_has_one_line_per_part_under_the_atom():
    outcome = types.SimpleNamespace(verdict=_verdict(), seeds=(0, 1), cached_seeds=(),
                                    computed_s=1.0, env={})
    console = Console(width=200, record=True)
    console.print(verdict_table([AtomResult(ATOM, "architecture", outcome)]))
    text = console.export_text()
    assert "• central claim: reproduced" in text and f"• {BN}: not reproduced" in text


def test_history_and_diff_show_parts_and_controls(tmp_path):
    store = _store(tmp_path / "s", [_old_verdict_dict(), _verdict(False).to_dict()])
    runner = CliRunner()
    out = runner.invoke(app, ["history", ATOM, "--store", str(store.root)], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert f"• {BN}: inconclusive — control failed" in out.output
    assert out.output.count("• central claim") == 1  # the old run has no part lines
    rows = json.loads(runner.invoke(app, ["history", ATOM, "--store", str(store.root),
                                          "--json"]).output)
    assert rows[0]["parts"] == [] and [p["status"] for p in rows[1]["parts"]] == [
        "reproduced", "inconclusive"]
    diff = runner.invoke(app, ["diff", "1", "2", "--store", str(store.root)],
                         env={"COLUMNS": "250"})
    assert diff.exit_code == 0, diff.output
    assert f"[control ({BN})] {DEEP}" in diff.output and f"[{BN}] BN accuracy" in diff.output
    pairs = json.loads(runner.invoke(app, ["diff", "1", "2", "--store", str(store.root),
                                           "--json"]).output)["evidence"]
    assert [(p["part"], p["control"]) for p in pairs] == [("", False), (BN, False), (BN, True)]


def test_the_report_shows_parts_reasons_and_controls(tmp_path):
    store = _store(tmp_path / "s", [_verdict(False).to_dict()])
    build_report(store, tmp_path / "site")
    page = (tmp_path / "site" / "atoms" / f"{ATOM}.html").read_text()
    parts = page[page.index('<ul class="parts">'):]
    parts = parts[:parts.index("</ul>")]
    assert "central claim" in parts and BN in parts and "st-inconclusive" in parts
    assert "control failed: " + DEEP in parts and "at 390 steps it would pass" in parts
    assert "<th>part</th>" in page and page.count('<tr class="control">') == 1
    assert '<span class="control-mark">control</span>' in page
    assert ">control fails</span>" in page  # a failed control does not "contradict" the claim
    index = (tmp_path / "site" / "index.html").read_text()
    assert f"{BN}: inconclusive — control failed: {DEEP}" in index


def test_an_old_run_without_parts_renders_as_before(tmp_path):
    store = _store(tmp_path / "s", [_old_verdict_dict()])
    build_report(store, tmp_path / "site")
    page = (tmp_path / "site" / "atoms" / f"{ATOM}.html").read_text()
    assert '<ul class="parts">' not in page and "<th>part</th>" not in page
    assert "BN accuracy" in page
    assert verdict_summary(store.runs()[0])["parts"] == []


def test_json_notebook_lab_and_mlflow_carry_the_parts(tmp_path):
    v = _verdict(False)
    assert [p["title"] for p in v.to_dict()["parts"]] == ["central claim", BN]
    fragment = evidence_html(v)
    assert "<ul class='parts'>" in fragment and f"control ({BN})" in fragment
    store = _store(tmp_path / "s", [v.to_dict()])
    run = store.runs()[0]
    assert [p["status"] for p in verdict_summary(run)["parts"]] == ["reproduced", "inconclusive"]
    tags = part_tags(run)
    assert tags["verdict.part00"] == "central claim: reproduced"
    assert tags["verdict.part01"].startswith(f"{BN}: inconclusive — control failed")
    assert evidence_tags(run)["evidence.ev02"] == f"[control ({BN})] L=10 {DEEP}"


def test_check_and_list_carry_the_parts(tmp_path):
    from deepatoms.cli.check import claims_table, junit_xml
    v = _verdict(False)
    outcome = types.SimpleNamespace(verdict=v, seeds=(0, 1), cached_seeds=(), computed_s=1.0,
                                    env={}, wall_s=1.0)
    result = AtomResult(ATOM, "architecture", outcome)
    console = Console(width=250, record=True)
    console.print(claims_table([result], {ATOM: "reproduced"}))
    assert f"{BN}: inconclusive — control failed" in console.export_text()
    xml = junit_xml([result], {ATOM: "reproduced"}, {ATOM: 1.0}).decode()
    assert f"{BN}: inconclusive — control failed" in xml
    store = _store(tmp_path / "s", [v.to_dict()])
    rows = json.loads(CliRunner().invoke(app, ["list", "--json", "--store",
                                               str(store.root)]).output)
    last = next(r["last_run"] for r in rows if r["name"] == ATOM)
    assert [p["status"] for p in last["parts"]] == ["reproduced", "inconclusive"]
