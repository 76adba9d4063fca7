"""Cross-atom dispatch (dispatch.py): a multi-atom run on workers computes every atom's trials
in one pool, longest first; the tables equal the in-process run's to the bit, the run records
count them as computed (not cached), and a trial that fails in a worker is left to its atom's
own run."""
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import deepatoms
from deepatoms.execution import dispatch
from deepatoms import registry
from deepatoms.cli import app
from deepatoms.execution.executors import ExecOptions, ExecutorError, checked_trial, local_pool
from deepatoms.store import Store
from deepatoms.execution.trials import Trial, TrialFailure

A, B = "universal-approximation", "depth-separation"


def _job(name, seeds, preset="quick", per_batch=None):
    atom = registry.get(name)
    return dispatch.Job(atom, atom.params(preset), tuple(seeds), per_batch)


def test_slots_follow_the_single_atom_rule(monkeypatch):
    jobs = [_job(A, range(2)), _job(B, range(2))]
    assert dispatch.slots_for(jobs, ExecOptions(workers=2)) == 2
    assert dispatch.slots_for(jobs[:1], ExecOptions(workers=2)) == 1  # one atom: its own split
    assert dispatch.slots_for(jobs, ExecOptions(workers=1)) == 1
    monkeypatch.setenv("DEEPATOMS_WORKERS", "2")
    assert dispatch.slots_for(jobs, ExecOptions()) == 1  # quick runs: under PARALLEL_MIN_S
    big = [_job(A, range(20), "default"), _job(B, range(40), "default")]
    # the measured costs move with each regeneration; fix them so that 60 seeds take 120 s
    monkeypatch.setattr(dispatch, "estimate_s", lambda atom, params, n: 2.0 * n)
    monkeypatch.setattr("deepatoms.execution.executors.busy", lambda: False)
    assert dispatch.slots_for(big, ExecOptions()) == 2
    monkeypatch.setattr("deepatoms.execution.executors.busy", lambda: True)
    assert dispatch.slots_for(big, ExecOptions()) == 1


def test_the_plan_is_longest_first_and_skips_stored_seeds(tmp_path):
    store = Store(tmp_path / "runs")
    deepatoms.run(A, preset="quick", seeds=[0], device="cpu", store=store)
    jobs = [_job(A, range(3)), _job(B, range(4), per_batch=2), _job(A, range(2), "default")]
    trials = dispatch.plan(jobs, ("cpu", "float32"), store, force=False)
    est = [registry.get(t.atom).runtime_s * len(t.seeds) for t in trials]
    assert [t.seeds for t in trials if t.params == jobs[0].params] == [(1, 2)]  # seed 0 stored
    assert sorted(t.seeds for t in trials if t.atom == B) == [(0, 1), (2, 3)]
    assert trials[0].params == jobs[2].params  # the default preset: estimated longest
    assert len(trials) == 4 and est[0] >= max(est[1:])
    every = dispatch.plan(jobs, ("cpu", "float32"), store, force=True)
    assert [t.seeds for t in every if t.params == jobs[0].params] == [(0, 1, 2)]


def test_atoms_that_measure_time_are_prefetched_but_time_alone_in_a_single_run():
    """Timing atoms judge per-round ratios or slopes of their own thread's CPU time, so the
    prefetch runs them beside another worker (issue 16); a run of one such atom does not split
    its seeds over workers."""
    timed = "lightweight-convolution"
    atom = registry.get(timed)
    assert atom.timing_metrics
    trials = dispatch.plan([_job(timed, range(2)), _job(A, range(2))], ("cpu", "float32"), None,
                           force=False)
    assert {t.atom for t in trials} == {timed, A}
    assert ExecOptions(workers=2).slots(atom, atom.params("quick"), 5) == 1
    assert ExecOptions(workers=2).slots(registry.get(A), registry.get(A).params("quick"), 5) == 2


def test_take_hands_each_prefetched_seed_out_once():
    from deepatoms.execution import ledger
    ledger.clear()
    key = ("x", "{}", "v", "cpu", "float32")
    ledger.LEDGER[key] = {0: (pd.DataFrame({"a": [1]}), 2.0), 1: (pd.DataFrame(), 3.0)}
    assert set(ledger.take(key, [0, 5])) == {0}
    assert set(ledger.take(key, [0, 1])) == {1}
    assert key not in ledger.LEDGER and ledger.take(key, [1]) == {}


def test_a_settled_failure_is_a_value_in_process_and_from_a_worker():
    atom = registry.get(A)
    bad = Trial(A, atom.params("quick", steps=10), (0,), "cpu", "float32", "0.0.0+other")
    out = checked_trial(bad, settle=True)
    assert isinstance(out, TrialFailure) and "code version mismatch" in out.error
    good = Trial(A, atom.params("quick", steps=10), (1,), "cpu", "float32", atom.code_version)
    got = list(local_pool(2, 1).map([bad, good], settle=True))
    assert sorted(type(r).__name__ for r in got) == ["TrialFailure", "TrialResult"]
    with pytest.raises(ExecutorError, match="mismatch"):
        checked_trial(bad)


def _rows(store, out):
    st = Store(store, readonly=True)
    return {r["atom"]: (st.run_table(st.run(r["run_id"])), r) for r in out}


def test_a_two_atom_run_on_workers_equals_the_in_process_run(tmp_path):
    cli = CliRunner()
    common = [A, B, "--preset", "quick", "--seeds", "3", "--device", "cpu", "--json"]
    one = cli.invoke(app, ["run", *common, "--workers", "1", "--store", str(tmp_path / "one")])
    two = cli.invoke(app, ["run", *common, "--workers", "2", "--store", str(tmp_path / "two")])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert f"computed {A} (seeds 0–2)" in two.stderr and f"computed {B}" in two.stderr
    assert "computing" not in one.stderr and f"computed {A} (seeds" not in one.stderr
    alone, spread = _rows(tmp_path / "one", json.loads(one.stdout)), _rows(
        tmp_path / "two", json.loads(two.stdout))
    for name in (A, B):
        pd.testing.assert_frame_equal(alone[name][0], spread[name][0], check_exact=True)
        record = spread[name][1]
        assert record["cached_seeds"] == [] and record["computed_s"] > 0
    again = cli.invoke(app, ["run", *common, "--workers", "2", "--store", str(tmp_path / "two")])
    assert "computing" not in again.stderr  # everything stored: nothing sent to the workers
    assert all(r["cached_seeds"] == [0, 1, 2] for r in json.loads(again.stdout))
    from deepatoms.execution import ledger
    assert ledger.LEDGER == {}


def test_a_prefetched_run_records_its_computed_time_and_where(tmp_path):
    """The trials a prefetch computed on workers are this run's cost: its record carries their
    seconds and the place, though its own step only judged (wall ≈ 0.01 s)."""
    from deepatoms.execution import ledger
    from deepatoms.execution.runner import save_result
    from deepatoms.execution.trials import run_trial
    atom = registry.get(A)
    params = atom.params("quick", steps=30)
    result = run_trial(Trial(A, params, (0, 1), "cpu", "float32", atom.code_version))
    ledger.clear()
    ledger.keep(result.trial, {s: (t, result.elapsed_s / 2) for s, t in result.tables.items()},
                dispatch.places(ExecOptions(workers=2), 2))
    store = Store(tmp_path)
    save_result(store, result, ("cpu", "float32"))  # the driver stores what workers return
    out = deepatoms.run(A, preset="quick", seeds=2, device="cpu", store=store, steps=30)
    assert out.computed_s == pytest.approx(result.elapsed_s) and out.cached_seeds == ()
    where = "2 worker processes (cross-atom prefetch)"
    assert out.env["computed_on"] == where
    assert store.latest_runs()[A]["env"]["computed_on"] == where
    again = deepatoms.run(A, preset="quick", seeds=2, device="cpu", store=store, steps=30)
    assert again.computed_s == 0 and again.env["computed_on"] == "nothing (all cached)"
    fresh = deepatoms.run(A, preset="quick", seeds=[5], device="cpu", store=store, steps=30)
    assert fresh.computed_s > 0 and fresh.env["computed_on"] == "this process"


def test_the_prefetch_bar_counts_estimated_seconds_not_trials(monkeypatch):
    """Trials run longest first, so counting them made the time left 3× too long for most of
    make run (13.4 min left at 11.3 min of a 16-min run): the bar counts their estimates."""
    from deepatoms.execution.trials import run_trial

    class InProcess:
        def map(self, trials, settle=False):
            return (run_trial(t) for t in trials)

    class Bar:
        def __init__(self):
            self.total, self.steps = None, []

        def begin(self, description, total):
            self.total, self.description = total, description

        def advance(self, n):
            self.steps.append(n)

        def end(self):
            pass

    costs = {A: 30.0, B: 4.0}  # seconds per seed
    monkeypatch.setattr(dispatch, "estimate_s", lambda atom, params, n: costs[atom.name] * n)
    monkeypatch.setattr(dispatch, "pool_executor", lambda options, slots: InProcess())
    from deepatoms.execution import ledger
    bar = Bar()
    jobs = [_job(A, range(2)), _job(B, range(3))]
    try:
        assert dispatch.prefetch(jobs, ExecOptions(workers=2), None, "cpu", progress=bar) == []
    finally:  # the prefetched tables were never stored: a later run must not take them
        ledger.clear()
    assert bar.total == 60 + 12 and "estimated s" in bar.description
    assert bar.steps == [60, 12]  # longest first, each trial its estimate
