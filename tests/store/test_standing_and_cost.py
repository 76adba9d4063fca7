"""Which run stands for an atom (its latest full-scale run; quick runs beside it, never over it)
and what a run cost (computed seconds and where, not the judging step's wall time): in the
store, `list`, `history`, `diff`, `export` and the report."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from deepatoms.cli import app
from deepatoms.report.build import build_report
from deepatoms.store import Store
from deepatoms.store.cost import cost_text, run_cost
from deepatoms.store.export import export_runs, export_store
from deepatoms.verdict import Evidence, Verdict

ATOM = "universal-approximation"
OTHER = "layer-convergence"
PREFETCH = "2 worker processes (cross-atom prefetch)"


def _cli(*args: str):
    return CliRunner(env={"DEEPATOMS_STORE": None, "COLUMNS": "160"}).invoke(app, list(args))


def _save(store: Store, atom: str, preset: str, status: str, seeds: list[int], *,
          reduced: bool = False, computed_s: float = 49.0, wall_s: float = 0.031,
          where: str = PREFETCH) -> int:
    canonical = json.dumps({"preset": preset, "seeds": seeds})
    tables = {s: pd.DataFrame({"seed": [s], "metric": ["m"], "value": [float(s)]}) for s in seeds}
    store.save_trials(atom, canonical, "v1", tables, computed_s / len(seeds), "cpu", threads=1)
    verdict = Verdict(status, f"{status} at {preset}. A second sentence that tables leave out.",
                      (Evidence("m", 0.5, 0.1, 0.9, len(seeds), "t", "> 0",
                                None if status == "inconclusive" else True),))
    if reduced:
        verdict = verdict.at_scale("reduced", ("quick preset",))
    return store.save_run(dict(atom=atom, preset=preset, params=canonical, code_version="v1",
                               device="cpu", seeds=seeds, verdict=verdict.to_dict(),
                               wall_s=wall_s, computed_s=computed_s,
                               env={"device": "cpu", "threads": 2, "computed_on": where},
                               command=f"deepatoms run {atom}"))


@pytest.fixture
def full_then_quick(tmp_path):
    """ATOM: a full-scale run, then a quick one; OTHER: only a quick run."""
    with Store(tmp_path) as store:
        _save(store, ATOM, "default", "not reproduced", [0, 1, 2, 3, 4])
        _save(store, ATOM, "quick", "reproduced", [0, 1], reduced=True, computed_s=3.0,
              where="this process")
        _save(store, OTHER, "quick", "reproduced", [0, 1], reduced=True, computed_s=0.0,
              where="")
    return tmp_path


# ---------------------------------------------------------------- the standing run
def test_the_latest_full_scale_run_stands_after_a_quick_run(full_then_quick):
    store = Store(full_then_quick, readonly=True)
    latest = store.latest_runs()
    assert latest[ATOM]["id"] == 1 and latest[ATOM]["verdict"]["status"] == "not reproduced"
    assert latest[OTHER]["id"] == 3  # no full run: its reduced run stands
    assert store.latest_runs(scale="any")[ATOM]["id"] == 2
    assert list(store.latest_runs(scale="full")) == [ATOM]
    assert [r["id"] for r in store.standing_runs("all")] == [1, 2, 3]


def test_list_shows_the_full_verdict_and_the_later_quick_run_beside(full_then_quick):
    result = _cli("list", "--store", str(full_then_quick), "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows[ATOM]["last_run"]["status"] == "not reproduced"
    assert rows[ATOM]["last_run"]["scale"] == "full"
    assert rows[ATOM]["newer_reduced"]["label"].startswith("indicative")
    assert rows[ATOM]["last_run"]["computed_s"] == 49.0
    assert rows[ATOM]["last_run"]["computed_on"] == PREFETCH
    assert rows[OTHER]["last_run"]["scale"] == "reduced" and rows[OTHER]["newer_reduced"] is None
    table = _cli("list", "--store", str(full_then_quick)).stdout
    assert "not reproduced" in table and "later quick run" in table


def test_export_chooses_the_scale(full_then_quick, tmp_path):
    store = Store(full_then_quick, readonly=True)
    assert [r["id"] for r in export_runs(store)] == [1, 3]
    assert [r["id"] for r in export_runs(store, scale="full")] == [1]
    assert [r["id"] for r in export_runs(store, scale="reduced")] == [2, 3]
    assert [r["id"] for r in export_runs(store, scale="all")] == [1, 2, 3]
    assert [r["id"] for r in export_runs(store, all_runs=True, scale="reduced")] == [2, 3]
    table = pd.read_csv(export_store(store, tmp_path / "x.csv", scale="all"))
    assert table.groupby("run_id").scale.first().to_dict() == {1: "full", 2: "reduced",
                                                               3: "reduced"}
    out = tmp_path / "cli.csv"
    result = _cli("export", str(out), "--store", str(full_then_quick), "--scale", "full")
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(out).run_id) == {1}
    bad = _cli("export", str(tmp_path / "y.csv"), "--store", str(full_then_quick),
               "--scale", "big")
    assert bad.exit_code == 2 and bad.output.strip().startswith("error: unknown --scale 'big'")
    assert not (tmp_path / "y.csv").exists()


def test_report_index_shows_the_full_verdict_with_the_quick_run_beside(full_then_quick, tmp_path):
    index = build_report(Store(full_then_quick, readonly=True), tmp_path / "site")
    html = index.read_text()
    row = html[html.index(f">{ATOM}</a>"):]
    row = row[:row.index("</tr>")]
    assert "not reproduced" in row and "later quick run" in row and "indicative" in row
    assert "49 s on 2 worker processes (cross-atom prefetch)" in row
    assert "A second sentence" not in row  # the index shows the one-line finding
    page = (tmp_path / "site" / "atoms" / f"{ATOM}.html").read_text()
    assert "A second sentence" in page and "stands as the verdict" in page


# ---------------------------------------------------------------- the cost
def test_run_cost_is_the_computed_time_and_where():
    run = {"computed_s": 49.0, "wall_s": 0.031, "env": {"computed_on": PREFETCH}}
    assert run_cost(run) == (49.0, PREFETCH)
    assert cost_text(run, lambda s: f"{s:.0f} s") == f"49 s on {PREFETCH}"
    assert cost_text({"computed_s": 0.0, "wall_s": 0.2, "env": {}}, str) == "cached"
    assert cost_text({"computed_s": 12.0, "env": {}}, lambda s: f"{s:.0f} s") == "12 s"


def test_history_and_diff_show_computed_time_not_the_judging_step(full_then_quick):
    result = _cli("history", ATOM, "--store", str(full_then_quick))
    assert result.exit_code == 0, result.output
    assert "49 s on 2 worker processes" in result.stdout and "0.0 s" not in result.stdout
    rows = json.loads(_cli("history", ATOM, "--store", str(full_then_quick), "--json").stdout)
    assert [(r["computed_s"], r["computed_on"]) for r in rows] == [(49.0, PREFETCH),
                                                                  (3.0, "this process")]
    diff = _cli("diff", "1", "2", "--store", str(full_then_quick))
    assert diff.exit_code == 0 and "computed_on" in diff.stdout and "49" in diff.stdout


def test_report_pages_show_computed_time_and_the_trials_threads(full_then_quick, tmp_path):
    index = build_report(Store(full_then_quick, readonly=True), tmp_path / "site")
    page = (tmp_path / "site" / "atoms" / f"{ATOM}.html").read_text()
    head = page[page.index('class="verdict-head"'):page.index("</section>")]
    assert "computed 49 s on 2 worker processes (cross-atom prefetch)" in head
    assert "31 ms" not in head and "0.031" not in head
    env = page[page.index("<h2>Environment</h2>"):]
    assert "<th>threads</th><td>1 (per trial)</td>" in env  # the trials' threads, not the driver's 2
    summary = index.read_text()
    summary = summary[summary.index("<h2>Environment</h2>"):]
    assert "1 (per trial)" in summary and "<th>computed_on</th>" not in summary
