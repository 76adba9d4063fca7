"""The atom lightweight-convolution: its pieces against closed forms and references, and its claim test (slow tier)."""
from __future__ import annotations

import math
import numpy as np
import pytest
import torch

import deepatoms
from deepatoms import registry
from deepatoms.atoms.architecture._lightweight_convolution_mixers import MIXERS, MixerPop, mix
from deepatoms.data.markov_sequences import markov_task
from deepatoms.errors import ParamError
from .architecture_helpers import _gen


# --- lightweight convolution -------------------------------------------------------------------
def test_markov_oracle_is_the_mean_negative_log_likelihood():
    task = markov_task(np.random.default_rng(0), 5, 0.5, 20, 30, 40)
    x = task.test
    direct = np.mean([-math.log(task.table[s[t - 2], s[t - 1], s[t]]) for s in x
                      for t in range(2, x.shape[1])])
    assert task.oracle_loss() == pytest.approx(direct)
    assert task.train.shape == (30, 20) and task.table.sum(-1) == pytest.approx(1.0)


def test_long_range_markov_task_depends_on_the_lagged_token():
    task = markov_task(np.random.default_rng(1), 4, 0.3, 30, 20, 25, lag=7)
    x = task.test
    direct = np.mean([-math.log(task.table[s[t - 7], s[t - 1], s[t]]) for s in x
                      for t in range(7, x.shape[1])])
    assert task.lag == 7 and task.oracle_loss() == pytest.approx(direct)
    # the default lag 2 is the order-2 source, drawn exactly as before the lag existed
    a, b = markov_task(np.random.default_rng(2), 5, 0.5, 20, 30, 40), markov_task(
        np.random.default_rng(2), 5, 0.5, 20, 30, 40, lag=2)
    assert np.array_equal(a.train, b.train) and a.lag == 2


def test_long_range_lag_must_exceed_the_kernel():
    with pytest.raises(ParamError, match="long_lag"):
        registry.get("lightweight-convolution").params(kernel=8, long_lag=8)


def test_long_range_control_row():
    """The control: on a task with a dependency beyond the kernel attention must beat the light
    convolution, or the local task's 'convolution matches attention' decides nothing."""
    import pandas as pd
    from deepatoms.atoms.architecture import lightweight_convolution as lc
    rows = [dict(seed=s, task=lc.LONG, model=m, metric="excess_loss", value=v + k * s)
            for s in range(5) for m, v, k in (("attention", 0.3, 0.01), ("light", 0.6, 0.02))]
    (row,) = lc._control(pd.DataFrame(rows))
    assert row.control and row.part == "*" and row.supports is True
    assert row.estimate == pytest.approx(0.32)


@pytest.mark.parametrize("mixer", MIXERS)
def test_mixers_are_causal(mixer):
    pop = MixerPop(mixer, [_gen(4)], vocab=5, d=8, heads=2, kernel=3)
    u = torch.randn(1, 2, 10, 8, generator=_gen(5), requires_grad=True)
    out = mix(mixer, pop.tensors, u, 2, 3)
    (g,) = torch.autograd.grad(out[0, :, 4].sum(), u)
    assert g[0, :, 5:].abs().max() == 0 and g[0, :, 4].abs().max() > 0


def test_light_conv_kernel_at_init_averages_the_last_k_positions():
    pop = MixerPop("light", [_gen(6)], vocab=5, d=4, heads=2, kernel=2)
    p = dict(pop.tensors)
    with torch.no_grad():
        # identity projections and a GLU that passes its first half (sigmoid(large) = 1)
        p["win"] = torch.cat([torch.eye(4), torch.zeros(4, 4)], 1).unsqueeze(0)
        p["win_b"] = torch.cat([torch.zeros(4), torch.full((4,), 50.0)]).unsqueeze(0)
        p["wo"], p["wo_b"] = torch.eye(4).unsqueeze(0), torch.zeros(1, 4)
    u = torch.randn(1, 1, 6, 4, generator=_gen(7))
    out = mix("light", p, u, heads=2, kernel=2)
    expected = 0.5 * (u + torch.cat([torch.zeros(1, 1, 1, 4), u[:, :, :-1]], 2))
    torch.testing.assert_close(out, expected)


def test_convolutions_have_fewer_parameters_than_attention():
    counts = {m: MixerPop(m, [_gen(0)], 8, 32, 4, 4).n_params() for m in MIXERS}
    assert counts["light"] < counts["dynamic"] < counts["attention"]
    assert counts["attention"] - counts["light"] == 32 * 32 + 32 - 16  # one d×d projection, − H·K


def test_mixer_population_member_equals_the_model_alone():
    gens = [_gen(8), _gen(9)]
    both = MixerPop("dynamic", gens, 6, 8, 2, 3)
    alone = MixerPop("dynamic", [_gen(9)], 6, 8, 2, 3)
    tokens = torch.randint(0, 6, (2, 3, 7), generator=_gen(10))
    assert torch.equal(both(tokens)[1], alone(tokens[1:])[0])


def test_lightweight_convolution_params_checked():
    atom = registry.get("lightweight-convolution")
    with pytest.raises(ParamError, match="width"):
        atom.params(width=30, heads=4)


def _timing_table(slope_of, rounds_per_seed=1, n_seeds=10, machine=None):
    """Fabricated seconds per step t = c·n^slope per mixer, seed and round; `machine` scales
    a whole round (load that changes between rounds, never inside one)."""
    import pandas as pd
    rows, k = [], 0
    for seed in range(n_seeds):
        for r in range(rounds_per_seed):
            c = 1.0 if machine is None else machine[k % len(machine)]
            k += 1
            for m in MIXERS:
                for n in (128, 256, 512, 1024, 2048):
                    rows.append(dict(seed=seed, task="local", model=m, length=n, round=r,
                                     metric="seconds_per_step", value=c * 1e-6 * n ** slope_of[m]))
    return pd.DataFrame(rows)


def test_timing_rows_are_rounds_with_every_mixer_at_every_length():
    from deepatoms.atoms.architecture import lightweight_convolution as lc
    from deepatoms.lab import Lab
    atom = registry.get("lightweight-convolution")
    p = atom.params("quick", timing_rounds=2, timing_repeats=1)
    rows = lc._timing(p, Lab((3,), stream=atom.stream), 3)
    assert len(rows) == 2 * len(MIXERS) * len(p.lengths)
    assert {(r["round"], r["model"]) for r in rows} == {(i, m) for i in (0, 1) for m in MIXERS}
    first = [r["model"] for r in rows if r["round"] == 0][::len(p.lengths)]
    second = [r["model"] for r in rows if r["round"] == 1][::len(p.lengths)]
    assert first != second and sorted(first) == sorted(second)  # the mixers' order rotates
    assert all(r["value"] > 0 for r in rows)


def test_slopes_are_per_round_and_a_machine_factor_cancels():
    from deepatoms.atoms.architecture import lightweight_convolution as lc
    truth = {"attention": 2.0, "light": 1.0, "dynamic": 1.1}
    table = _timing_table(truth, machine=[1, 30, .1, 7, 2])
    for m, slope in truth.items():
        got = lc.slopes(table, m)
        assert len(got) == 10 and np.allclose(got, slope)
        assert lc._slope_row(table, m).supports is True


def test_slope_rows_contradict_growth_on_the_wrong_side():
    from deepatoms.atoms.architecture import lightweight_convolution as lc
    table = _timing_table({"attention": 1.0, "light": 2.0, "dynamic": 1.0})
    assert lc._slope_row(table, "attention").supports is False
    assert lc._slope_row(table, "light").supports is False
    assert lc._slope_row(table, "dynamic").supports is True


def test_too_few_timing_rounds_cannot_decide_the_slopes():
    from deepatoms.atoms.architecture import lightweight_convolution as lc
    table = _timing_table({"attention": 2.0, "light": 1.0, "dynamic": 1.0}, n_seeds=5)
    assert lc._slope_row(table, "attention").supports is None  # 5 rounds: p = 1/32 > .025
    assert _timing_table({"attention": 2.0, "light": 1.0, "dynamic": 1.0}, 2, 3).pipe(
        lc._slope_row, "attention").supports is True  # 3 seeds × 2 rounds = 6


@pytest.mark.claim
def test_claim_lightweight_convolution():
    """Measured at the default 10 seeds: excess loss over the source entropy attention 0.219,
    light 0.053, dynamic 0.041 nats with 8,936 / 7,896 / 8,408 parameters; time-vs-length
    slopes 2.12 (attention), 0.79 (light), 0.86 (dynamic). Control (a dependency at lag 8,
    beyond the 4-tap kernel): light − attention 0.200 [0.077, 0.324] > 0.02 — attention's
    advantage can show here. Reproduced. At 5 seeds the control was undecided on seeds 200–204
    (0.235 [−0.064, 0.534], one seed where attention learned the lag): issue 16 §3's power
    calculation gave 10. CI once measured one seed's attention slope at 4.6 from two lengths
    timed under load (inconclusive); with interleaved timing rounds and a fit over three
    lengths, two runs beside two busy processes gave 2.03–2.11 (attention), 0.84–0.98 (light),
    0.85–0.95 (dynamic) per seed. Timing in rounds (issue 16 §1.5; one round per seed, the
    judge's replicates): mean slopes 2.12 / 0.84 / 0.85, each row decided by 10 of 10 rounds;
    5 consecutive timing passes at load 1.4–2.8 gave every round on the claimed side."""
    out = deepatoms.run("lightweight-convolution", device="cpu")
    assert out.seeds == tuple(range(10))
    assert out.verdict.status == "reproduced"
    assert [c.supports for c in out.verdict.controls] == [True, True]  # rounds, long-range
    by = {e.metric: e for e in out.verdict.evidence}
    assert by["excess loss: attention − light (nats)"].estimate > 0.05
