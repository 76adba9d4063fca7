"""The atom architecture-search: its pieces against closed forms and references, and its claim test (slow tier)."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import deepatoms
from deepatoms.atoms.architecture import _architecture_search_space as search
from deepatoms.atoms.architecture import architecture_search as nas
from deepatoms import registry
from deepatoms.atoms.architecture import _architecture_search_cnns as cnnpop
from deepatoms.atoms.architecture import _architecture_search_tabular as tabular
from deepatoms.errors import ParamError


# ---- architecture search --------------------------------------------------------------------
def test_decode_uses_only_the_first_depth_widths():
    # family (0 = MLP), depth, width_1..3, activation, then the CNN decisions (ignored here)
    assert search.decode([0, 1, 3, 0, 2, 1, 1, 2, 2, 2, 2]) == ("mlp", (128, 16), "tanh")
    assert search.decode([0, 0, 2, 1, 1, 2, 0, 0, 0, 0, 0]) == ("mlp", (64,), "sigmoid")
    choices = search.uniform_choices(np.random.default_rng(0), 500)
    assert choices.shape == (500, 11)
    assert [choices[:, d].max() + 1 for d in range(11)] == [k for _, k in search.DECISIONS]


def test_reinforce_raises_the_probability_of_rewarded_choices():
    ctrl = search.Controller(lr=0.1)
    # a rewarded 1-layer MLP (all first choices) and an unrewarded 2-layer CNN (all last)
    choices = np.array([[0] * 11, [k - 1 for _, k in search.DECISIONS]] * 4)
    rewards = np.array([1.0, 0.0] * 4)
    ctrl.update(choices, rewards)
    probs = dict(zip([n for n, _ in search.DECISIONS], ctrl.probs()))
    unused = {"width_2", "width_3"}  # neither architecture uses them: no gradient
    assert all(p[0] > 1 / len(p) > p[-1] for n, p in probs.items() if n not in unused)
    assert all(np.allclose(probs[n], 1 / len(probs[n])) for n in unused)
    np.testing.assert_allclose([p.sum() for p in probs.values()], 1.0)


def _tiny_data():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((60, 64)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 10, 60))
    return (x[:40], y[:40], x[40:50], y[40:50], x[50:], y[50:])


def test_a_candidate_trains_the_same_alone_or_with_others():
    archs = [search.Arch("mlp", (16, 32), "relu"), search.Arch("mlp", (64,), "tanh"),
             search.Arch("mlp", (128, 128), "sigmoid")]
    tags = [100, 101, 102]
    all_val, all_test = search.train_candidates(archs, gens(*tags), gens(*[t + 50 for t in tags]),
                                                _tiny_data(), 5, 8, 1e-2)
    one_val, one_test = search.train_candidates(archs[:1], gens(100), gens(150), _tiny_data(),
                                                5, 8, 1e-2)
    assert one_val[0] == all_val[0] and one_test[0] == all_test[0]


def test_best_so_far_keeps_the_incumbent_on_a_tie_and_ranks_it_in_the_space():
    val = np.array([0.5, 0.7, 0.7, 0.8, 0.6])
    test = np.array([0.4, 0.6, 0.9, 0.7, 0.95])
    out = tabular.best_so_far(np.array([[0, 1, 2, 3], [4, 2, 1, 0]]), val, test)
    np.testing.assert_array_equal(out["best_val_so_far"], [[0.5, 0.7, 0.7, 0.8], [0.6, 0.7, 0.7, 0.7]])
    # candidate 3 ties the best validation accuracy: the first (test .6, .9) is kept
    np.testing.assert_array_equal(out["test_of_best_so_far"], [[0.4, 0.6, 0.6, 0.7], [0.95, 0.9, 0.9, 0.9]])
    # the rank: the share of the space's 5 with a higher test accuracy
    np.testing.assert_allclose(out["rank_of_best_so_far"][0], [4 / 5, 3 / 5, 3 / 5, 2 / 5])
    np.testing.assert_allclose(out["rank_of_best_so_far"][1], [0, 1 / 5, 1 / 5, 1 / 5])


def test_the_space_holds_every_architecture_once():
    archs = tabular.space()
    assert len(archs) == len(set(archs)) == 522
    assert sum(a.family == "mlp" for a in archs) == 252
    assert search.HAND_DESIGNED in archs
    assert {search.decode(c) for c in search.uniform_choices(np.random.default_rng(1), 20000)} \
        == set(archs)


def test_random_search_draws_each_decision_uniformly():
    draws = tabular.random_searches(np.random.default_rng(0), 50, 200)
    assert draws.shape == (50, 200) and draws.min() >= 0 and draws.max() < 522
    cnn = np.array([a.family == "cnn" for a in tabular.space()])[draws]
    assert abs(cnn.mean() - 0.5) < 0.02      # half CNNs, though 270 of 522 are CNNs


def test_rl_searches_learn_where_the_good_architectures_are():
    """On a table where only CNNs with kernel 5 score, the controllers end up drawing them."""
    archs = tabular.space()
    val = np.array([0.9 if a.family == "cnn" and a.layers[0][1] == 5 else 0.1 for a in archs])
    draws = tabular.rl_searches(np.random.default_rng(0), val, 4, 30, 8, 0.1, 0.9)
    assert draws.shape == (4, 240)
    early, late = val[draws[:, :16]].mean(), val[draws[:, -16:]].mean()
    assert early < 0.5 < 0.8 < late


def _table(val, test, budget=16):
    """An atom table of `val`, `test` (seeds, 522) with searches simulated as the atom does."""
    rows = []
    for j in range(len(val)):
        rows += [dict(seed=j, method="space", candidate=i + 1, metric=k, value=v)
                 for k, t in (("val_accuracy", val[j]), ("test_accuracy", test[j]))
                 for i, v in enumerate(t)]
        rows += [dict(seed=j, method="space", candidate=0, metric=k, value=v)
                 for k, v in (("judged_budget", budget), ("searches", 20))]
        for m, d in (("random", tabular.random_searches(np.random.default_rng(j), 20, 32)),
                     ("rl", tabular.rl_searches(np.random.default_rng(j), val[j], 20, 4, 8, 0.1,
                                                0.9))):
            curves = tabular.best_so_far(d, val[j], test[j]) | {"val_accuracy": val[j][d],
                                                                "is_cnn": d % 2}
            rows += [dict(seed=j, method=m, candidate=c + 1, metric=k, value=float(v))
                     for k, c_ in curves.items() for c, v in enumerate(c_.mean(0))]
    return pd.DataFrame(rows)


def test_controls_need_spread_and_headroom():
    rng = np.random.default_rng(3)
    val = np.clip(0.9 + 0.03 * rng.standard_normal((5, 522)), 0, 1)
    table = _table(val, val + 0.001 * rng.standard_normal((5, 522)))
    assert nas.n_validation() == 376
    assert nas._spread_control(table).supports is True
    assert nas._headroom_control(table).supports is True
    flat = np.full((5, 522), 0.9)         # every architecture alike: a search cannot matter
    for row in (nas._spread_control(_table(flat, flat)), nas._headroom_control(_table(flat, flat))):
        assert row.control and row.part == "*" and row.supports is not True


def test_judge_reads_the_budget_and_the_hand_design_from_the_table():
    rng = np.random.default_rng(4)
    val = np.clip(0.8 + 0.1 * rng.standard_normal((5, 522)), 0, 1)
    table = _table(val, val)
    hand = tabular.space().index(search.HAND_DESIGNED)
    np.testing.assert_array_equal(nas.hand_designed(table), val[:, hand])
    np.testing.assert_array_equal(nas.exhaustive(table), val.max(1))
    verdict = nas.judge(table)
    metrics = [e.metric for e in verdict.evidence]
    assert "expected test accuracy of the best of 16: RL − random" in metrics
    assert "mean validation accuracy of candidates 13…16: RL − random" in metrics
    assert "at 16 candidates" in verdict.finding


@pytest.mark.claim
def test_claim_architecture_search():
    """Measured (the whole 522-architecture space trained once per seed, 5 seeds; 100 simulated
    searches of each kind per seed's table): at 64 candidates RL's best has validation accuracy
    0.972 vs random's 0.971 (RL − random +0.0008 [0.0003, 0.0013], supported) but test accuracy
    0.968 vs 0.967 (+0.0005 [−0.0011, 0.0021], undecided), and along the budget curve 1…400
    +0.0009 [−0.0005, 0.0023]; the controller learns (its candidates 49…64 average 0.921 vs
    random's 0.858) and drifts to MLPs, which hold the space's top 10 in every seed. Control
    failed: exhaustive search (test 0.968) beats random search's best of 16 by only +0.0046
    [−0.0035, 0.0127], so the benchmark does not reward search beyond a few random draws at this
    scale, and the verdict is inconclusive rather than a refutation."""
    out = deepatoms.run("architecture-search", seeds=5, device="cpu")
    assert out.verdict.status == "inconclusive"
    by = {e.metric: e for e in out.verdict.evidence}
    assert by["expected best validation accuracy of 64: RL − random"].supports is True
    test = by["expected test accuracy of the best of 64: RL − random"]
    assert test.supports is None and abs(test.estimate) < 0.005
    assert by["mean validation accuracy of candidates 49…64: RL − random"].estimate > 0.03
    spread, headroom = out.verdict.controls
    assert spread.supports is True and headroom.supports is None

Arch = search.Arch


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def _data(n=60):
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((n, 64)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 10, n))
    return (x[:40], y[:40], x[40:50], y[40:50], x[50:], y[50:])


def test_sampled_architectures_are_valid_and_cover_both_families():
    choices = search.uniform_choices(np.random.default_rng(0), 3000)
    assert choices.shape == (3000, len(search.DECISIONS)) == (3000, 11)
    archs = [search.decode(c) for c in choices]
    cnns = [a for a in archs if a.family == "cnn"]
    assert 0.45 < len(cnns) / len(archs) < 0.55
    for a in archs:
        if a.family == "mlp":
            assert len(a.layers) in search.DEPTHS and set(a.layers) <= set(search.WIDTHS)
        else:
            assert len(a.layers) in search.CONV_LAYERS
            assert all(c in cnnpop.CHANNELS and k in cnnpop.KERNELS for c, k in a.layers)
        assert a.activation in search.ACTIVATIONS
        assert search.from_code(search.code(a)) == a
    kernels = [k for a in cnns for _, k in a.layers]
    assert set(kernels) == {1, 3, 5}
    assert max(abs(kernels.count(k) / len(kernels) - 1 / 3) for k in (1, 3, 5)) < 0.03


def test_decode_reads_the_kernel_and_channel_decisions():
    # family, depth, w1, w2, w3, act, conv_layers, ch1, k1, ch2, k2
    assert search.decode([1, 0, 0, 0, 0, 1, 1, 0, 2, 2, 1]) == Arch("cnn", ((8, 5), (32, 3)), "tanh")
    assert search.decode([1, 2, 3, 3, 3, 0, 0, 1, 0, 2, 2]) == Arch("cnn", ((16, 1),), "relu")
    assert search.decode([0, 1, 3, 0, 2, 2, 1, 2, 2, 2, 2]) == Arch("mlp", (128, 16), "sigmoid")
    assert search.describe(Arch("cnn", ((8, 5), (32, 3)), "tanh")) == "CNN 8c5-32c3 tanh"
    assert search.describe(search.HAND_DESIGNED) == "MLP 64-64 relu"
    c = [1, 2, 3, 3, 3, 0, 0, 1, 0, 2, 2]
    np.testing.assert_array_equal(search.choice_of(search.decode(c)),
                                  np.where(search.relevant(c), c, 0))


def test_only_the_decisions_an_architecture_uses_enter_the_log_probability():
    names = [n for n, _ in search.DECISIONS]
    mlp1 = [0, 0, 1, 2, 3, 0, 1, 2, 2, 1, 1]          # 1-layer MLP
    cnn1 = [1, 2, 1, 2, 3, 2, 0, 2, 2, 1, 1]          # 1-layer CNN
    used = lambda c: [n for n, u in zip(names, search.relevant(c)) if u]
    assert used(mlp1) == ["family", "depth", "width_1", "activation"]
    assert used(cnn1) == ["family", "activation", "conv_layers", "channels_1", "kernel_1"]
    ctrl = search.Controller(lr=0.1)
    grads = ctrl.gradient(np.array([mlp1, cnn1]), np.array([1.0, -0.5]))
    for d, n in enumerate(names):
        assert (np.abs(grads[d]).sum() > 0) == (n in used(mlp1) + used(cnn1)), n
    ctrl.update(np.array([mlp1, cnn1] * 4), np.array([1.0, 0.0] * 4))
    probs = dict(zip(names, ctrl.probs()))
    for n in ("width_2", "width_3", "channels_2", "kernel_2"):
        np.testing.assert_array_equal(probs[n], np.full(len(probs[n]), 1 / len(probs[n])))
    assert probs["family"][0] > 0.5 and probs["kernel_1"][2] < 1 / 3


def _reference(pop, i, x):
    """Member i of a CNNPop recomputed with conv2d / avg_pool2d / linear."""
    h = x.reshape(-1, 1, 8, 8)
    for l, k in enumerate(pop.kernels):
        h = F.conv2d(h, pop.weights[l][i].detach(), pop.biases[l][i].detach(), padding=k // 2)
        h = F.avg_pool2d(cnnpop.ACTIVATIONS[pop.activations[i]](h), 2)
    return h.flatten(1) @ pop.weights[-1][i].detach() + pop.biases[-1][i, 0].detach()


@pytest.mark.parametrize("layers", [((8, 1),), ((16, 3), (8, 5)), ((8, 5), (16, 1))])
def test_cnn_population_shapes_and_conv2d_reference(layers):
    acts = ["relu", "sigmoid", "sigmoid", "tanh"]
    pop = cnnpop.CNNPop([layers] * 4, gens(*range(4)), acts)
    x = _data()[0]
    out = pop(x)
    assert out.shape == (4, 40, 10)
    assert pop(x.expand(4, *x.shape)).shape == out.shape
    c_in = [1] + [c for c, _ in layers[:-1]]
    assert [tuple(w.shape) for w in pop.weights[:-1]] == [
        (4, c, ci, k, k) for (c, k), ci in zip(layers, c_in)]
    for i in range(4):
        torch.testing.assert_close(out[i].detach(), _reference(pop, i, x), rtol=1e-5, atol=1e-5)


def test_cnn_parameter_count():
    pop = cnnpop.CNNPop([((8, 3), (16, 5))], gens(0), ["sigmoid"])
    assert pop.n_params(0) == 8 * 9 + 8 + 8 * 25 * 16 + 16 + 16 * 4 * 10 + 10
    assert pop.n_params(0) == sum(p[0].numel() for p in pop.params)


def test_a_cnn_candidate_trains_the_same_alone_or_with_others():
    archs = [Arch("cnn", ((8, 3), (32, 5)), "relu"), Arch("mlp", (16,), "tanh"),
             Arch("cnn", ((32, 3), (16, 5)), "sigmoid"), Arch("cnn", ((16, 5),), "tanh")]
    val, test = search.train_candidates(archs, gens(1, 2, 3, 4), gens(5, 6, 7, 8), _data(), 6, 8, 1e-2)
    for i in (0, 3):
        one_val, one_test = search.train_candidates([archs[i]], gens(i + 1), gens(i + 5), _data(),
                                                    6, 8, 1e-2)
        assert one_val[0] == val[i] and one_test[0] == test[i]


@pytest.mark.parametrize("layers, match", [([((8, 2),)], "odd"), ([((8, 3),), ((8, 5),)], "kernel"),
                                           ([((0, 3),)], "channels"), ([((8, 3),), ((16, 3),)], "channels"),
                                           ([((8, 3),), ((8, 3), (8, 3))], "number")])
def test_bad_cnn_populations_are_refused(layers, match):
    with pytest.raises(ParamError, match=match):
        cnnpop.CNNPop(layers, gens(*range(len(layers))), ["relu"] * len(layers))
    with pytest.raises(ParamError, match="divisible"):
        cnnpop.CNNPop([((8, 3), (8, 3))], gens(0), ["relu"], image=6)


@pytest.mark.parametrize("bad", [dict(per_round=1), dict(steps=0), dict(baseline_decay=1.0),
                                 dict(budget=60), dict(budget=800), dict(searches=1)])
def test_bad_params_refused(bad):
    with pytest.raises(ParamError):
        registry.get("architecture-search").params(**bad)


def test_quick_run_reports_the_budget_curves_and_the_space():
    out = deepatoms.run("architecture-search", seeds=2, preset="quick", device="cpu")
    t = out.table
    assert set(t.metric) >= {"best_val_so_far", "test_of_best_so_far", "rank_of_best_so_far",
                             "is_cnn", "val_accuracy", "test_accuracy"}
    space = t[(t.method == "space") & (t.metric == "test_accuracy")]
    assert len(space) == 2 * 522 and space.value.between(0, 1).all()
    curve = t[(t.method == "rl") & (t.metric == "best_val_so_far")].pivot(
        index="seed", columns="candidate", values="value")
    assert curve.shape == (2, 64) and (curve.diff(axis=1).iloc[:, 1:] >= 0).all().all()
    assert "The space's best by test accuracy per seed: 0: " in out.verdict.finding
    fig = out.figures()["budget-curves"]
    assert [ax.get_title() for ax in fig.axes][2] == "share of CNNs drawn"
