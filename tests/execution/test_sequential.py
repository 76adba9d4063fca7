"""`--seeds auto`: the adaptive-seeds procedure keeps its error rate under optional stopping."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from deepatoms import stats
from deepatoms.atom import Atom
from deepatoms.errors import DeepatomsError
from deepatoms.params import Params, param
from deepatoms.execution.seeds import SeedPlan
from deepatoms.execution.runner import execute_adaptive
from deepatoms.store import Store
from deepatoms.verdict import decide, setting_label


def _sequential_outcome(draws: np.ndarray, plan: SeedPlan, threshold: float, level: float) -> str:
    """The procedure on one simulated experiment: judge at each look, stop when decided."""
    for n in plan.looks():
        with stats.at_confidence(level):
            ev = stats.above("m", draws[:n], threshold)
        if ev.supports is not None:
            return "support" if ev.supports else "contradict"
    return "undecided"


@pytest.mark.parametrize("start,max_seeds", [(5, 20), (3, 30)])
def test_false_support_under_optional_stopping_stays_below_alpha(start, max_seeds):
    """2,000 experiments with no effect (true mean = threshold): the adjusted procedure wrongly
    supports the claim in ≤ 2.5% (+ simulation noise); judging every look at 95% would not."""
    plan = SeedPlan(start, max_seeds, start)
    rng = np.random.default_rng(2024 + start)
    draws = rng.normal(0.5, 0.1, size=(2000, max_seeds))
    adjusted = [_sequential_outcome(row, plan, 0.5, plan.level) for row in draws]
    naive = [_sequential_outcome(row, plan, 0.5, stats.CONFIDENCE) for row in draws]
    false_adjusted = np.mean([o == "support" for o in adjusted])
    false_naive = np.mean([o == "support" for o in naive])
    assert false_adjusted <= 0.025 + 0.01
    assert false_naive > 0.025 + 0.01  # peeking without adjustment inflates the error
    assert np.mean([o != "undecided" for o in adjusted]) <= 0.05 + 0.012  # either direction


def test_a_real_effect_is_decided_with_more_seeds():
    plan = SeedPlan(5, 30, 5)
    rng = np.random.default_rng(5)
    draws = rng.normal(0.55, 0.1, size=(500, 30))  # effect of half a standard deviation
    first_look = np.mean([_sequential_outcome(r, SeedPlan(5, 5, 5), 0.5, 0.95) == "support"
                          for r in draws])
    sequential = np.mean([_sequential_outcome(r, plan, 0.5, plan.level) == "support" for r in draws])
    assert sequential > first_look + 0.2


def test_plan_looks_and_level():
    plan = SeedPlan(5, 20, 5)
    assert plan.looks() == (5, 10, 15, 20)
    assert plan.level == pytest.approx(1 - 0.05 / 4)
    assert SeedPlan(5, 12, 5).looks() == (5, 10, 12)
    assert SeedPlan(5, 5, 5).looks() == (5,)
    with pytest.raises(DeepatomsError, match="max-seeds"):
        SeedPlan(5, 4, 5)
    with pytest.raises(DeepatomsError):
        SeedPlan(1, 10, 1)


# --- through the runner, with a tiny atom whose truth is known ---------------------------------

@dataclass(frozen=True)
class NoisyParams(Params):
    effect: float = param(0.05, "true mean of the measured quantity")
    noise: float = param(0.1, "standard deviation across seeds", gt=0)


def _run(p: NoisyParams, lab) -> pd.DataFrame:
    return pd.DataFrame([dict(seed=s, metric="x", value=p.effect + p.noise
                              * float(lab.numpy_rng(s, "x").standard_normal())) for s in lab.seeds])


def _judge(table: pd.DataFrame):
    ev = stats.above("x", table.value.to_numpy(), 0.0, setting=setting_label(effect="*"))
    return decide([ev], f"mean {table.value.mean():.3f} over {table.seed.nunique()} seeds")


NOISY = Atom(name="noisy", family="atoms", title="t", question="q?", claim="x > 0", sources=("s",),
             method="m", Params=NoisyParams, run=_run, judge=_judge, figures=lambda t: {},
             presets={"quick": dict(noise=0.2)}, default_seeds=5)


def test_adaptive_run_adds_seeds_until_decided_and_says_so(tmp_path):
    store = Store(tmp_path)
    ex = execute_adaptive(NOISY, NOISY.params(), SeedPlan(5, 40, 5), store=store, device="cpu")
    n = ex.table.seed.nunique()
    assert ex.verdict.status == "reproduced" and 5 < n <= 40
    assert f"decided after {n} seeds" in ex.verdict.seeds_note
    assert set(ex.table.seed) == set(range(n))
    again = execute_adaptive(NOISY, NOISY.params(), SeedPlan(5, 40, 5), store=store, device="cpu")
    assert again.computed_s == 0.0 and again.verdict == ex.verdict  # every look's trials reused
    stored = store.latest_runs()["noisy"]["verdict"]
    assert stored["seeds_note"] == ex.verdict.seeds_note


def test_adaptive_run_stops_at_the_budget_when_nothing_decides():
    ex = execute_adaptive(NOISY, NOISY.params(effect=0.0, noise=1.0),
                          SeedPlan(4, 12, 4, first_seed=100), device="cpu")
    assert ex.verdict.status == "inconclusive" and list(ex.table.seed.unique()) == list(range(100, 112))
    assert "still undecided after 12 seeds" in ex.verdict.seeds_note and "3 looks" in ex.verdict.seeds_note
