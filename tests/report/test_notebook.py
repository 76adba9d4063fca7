"""Jupyter displays: `_repr_html_` of a probe, a grid, the history and a diff hold the numbers,
and the results keep their data access (a DataFrame, a dict)."""
from __future__ import annotations

import pandas as pd
import pytest

import deepatoms
from deepatoms.studies.grid import GridResult
from deepatoms.studies.probe import ProbeResult

POINT = dict(status="inconclusive", label="indicative: for the claim", metric="gap",
             estimate=0.1234, ci_low=0.05, ci_high=0.2, n=3, finding="f")


def test_probe_html_holds_each_value_and_its_estimate():
    result = ProbeResult("parity", "steps", "quick", "gap",
                         [dict(POINT, value="200"), dict(POINT, value="400", estimate=0.5)])
    text = result._repr_html_()
    assert "probe of parity: steps" in text and "<th>200</th>" in text and "<th>400</th>" in text
    assert "0.1234 [0.05, 0.2] · 3 seeds" in text and "0.5 [0.05, 0.2]" in text
    assert "indicative: for the claim" in text


def test_grid_html_is_a_table_of_cells():
    cells = [dict(POINT, x=x, y=y, estimate=float(i)) for i, (y, x) in
             enumerate((y, x) for y in ("0.1", "0.01") for x in ("200", "400"))]
    text = GridResult("parity", "quick", "gap", {"steps": ["200", "400"], "lr": ["0.1", "0.01"]},
                      cells)._repr_html_()
    assert "lr (rows) × steps (columns)" in text
    assert text.count("<td>") == 4 and "<th>0.01</th>" in text
    assert [f"{v:g} [" in text for v in (0.0, 1.0, 2.0, 3.0)] == [True] * 4


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    a = deepatoms.run("layer-convergence", preset="quick", seeds=1, store=store, steps=30)
    b = deepatoms.run("layer-convergence", preset="quick", seeds=1, store=store, steps=40)
    return store, a, b


def test_history_is_a_dataframe_that_draws_its_runs(two_runs):
    store, a, b = two_runs
    runs = deepatoms.history("layer-convergence", store=store)
    assert isinstance(runs, pd.DataFrame) and list(runs.id) == [a.run_id, b.run_id]
    assert list(runs[runs.id == b.run_id].preset) == ["quick"]  # slicing still works
    text = runs._repr_html_()
    assert "runs of layer-convergence" in text
    assert f"<td>{a.run_id}</td>" in text and text.count(a.verdict.label) == 2


def test_diff_is_a_dict_that_draws_both_runs(two_runs):
    store, a, b = two_runs
    d = deepatoms.diff(a.run_id, b.run_id, store=store)
    assert isinstance(d, dict) and d["params"] == [{"name": "steps", "a": 30, "b": 40}]
    text = d._repr_html_()
    assert f"run {a.run_id} vs run {b.run_id}" in text
    assert "<td>steps</td><td>30</td><td>40</td>" in text
    first = d["evidence"][0]
    assert f"<td>{first['a']['estimate']:.4g}</td>" in text
    assert any(f"<td>{n['a']:.4g}</td>" in text for n in d["numbers"])
