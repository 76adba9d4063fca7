"""Atoms of seed 003 (universal-approximation, depth-separation, more-data, class-imbalance,
memorization-capacity) and the engine pieces they add: exact values on tiny inputs, population vs
one-by-one training, bad-input errors, and (claim tier) the verdicts measured at default settings."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import deepatoms
from deepatoms import registry
from deepatoms.atoms.atoms import class_imbalance as ci
from deepatoms.atoms.atoms import depth_separation as ds
from deepatoms.atoms.atoms import memorization_capacity as mc
from deepatoms.atoms.atoms import more_data as md
from deepatoms.atoms.atoms import universal_approximation as ua
from deepatoms.data.gaussian import bayes_accuracy, class_means
from deepatoms.engine import Adam
from deepatoms.engine.flat import FlatParams
from deepatoms.engine.losses import weighted_cross_entropy
from deepatoms.engine.weight_shared import SharedDepthPop
from deepatoms.errors import ParamError
from deepatoms.lab import Lab, derive_seed


def _gen(*tags: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(0, *tags))


# --- engine: flat parameters, weight-shared population, subset minibatches -----------------------

def test_flat_params_views_share_storage_and_unflatten():
    a, b = torch.arange(6.0).view(2, 1, 3), torch.arange(4.0).view(2, 2)
    fp = FlatParams([a, b])
    assert fp.per_model == 5 and fp.flat.shape == (2, 5)
    va, vb = fp.views()
    assert torch.equal(va, a) and torch.equal(vb, b)
    with torch.no_grad():
        fp.flat[1, 0] = 42.0
    assert fp.views()[0][1, 0, 0] == 42.0
    parts = fp.unflatten(fp.flat[0].detach())
    assert torch.equal(parts[0], a[0]) and torch.equal(parts[1], b[0])


@pytest.mark.parametrize("depth", range(1, 9))
def test_shared_depth_net_has_152_parameters_at_every_depth(depth):
    pop = SharedDepthPop(1, 10, 2, [depth], [_gen("p", depth)])
    assert pop.n_params_per_model == 152


def _reference_forward(params: list[torch.Tensor], depth: int, x: torch.Tensor) -> torch.Tensor:
    """One weight-shared ReLU net written out plainly. x (B, 1) → (B, 2)."""
    w_in, b_in, w, b, w_out, b_out = params
    h = torch.relu(x @ w_in + b_in)
    for _ in range(depth):
        h = torch.relu(h @ w + b)
    return h @ w_out + b_out


def test_shared_depth_population_matches_models_trained_alone():
    depths, steps = [3, 1, 2, 3], 25
    x = torch.linspace(0, 1, 9).view(9, 1)
    y = (torch.arange(9) % 2).long()
    pop = SharedDepthPop(1, 5, 2, depths, [_gen("m", i) for i in range(len(depths))])
    opt = Adam(pop.params, lr=0.01)
    w = torch.full((len(depths), 9), 1 / 9)
    for _ in range(steps):
        loss = weighted_cross_entropy(pop(x), y.expand(len(depths), -1), w)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    for i, depth in enumerate(depths):
        alone = SharedDepthPop(1, 5, 2, [depth], [_gen("m", i)])
        params = [p[0].detach().clone().requires_grad_() for p in alone.store.views()]
        ref = torch.optim.Adam(params, lr=0.01)
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(_reference_forward(params, depth, x), y)
            ref.zero_grad()
            loss.backward()
            ref.step()
        got = pop.store.unflatten(pop.store.flat[i].detach())
        for g, r in zip(got, params):
            torch.testing.assert_close(g.reshape(r.shape), r.detach(), rtol=1e-5, atol=1e-6)


def test_weighted_cross_entropy_with_uniform_weights_is_the_mean():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    labels = torch.tensor([[0, 0, 1]])
    got = weighted_cross_entropy(logits, labels, torch.full((1, 3), 1 / 3))
    want = (math.log(1 + math.exp(-2)) + math.log(1 + math.e) + math.log(2)) / 3
    assert got.item() == pytest.approx(want, rel=1e-6)


# --- depth-separation -----------------------------------------------------------------------------

def test_alternating_points_exact():
    x, y = ds.alternating_points(4)
    np.testing.assert_array_equal(x[:, 0], [0.0, 0.25, 0.5, 0.75])
    np.testing.assert_array_equal(y, [1, 0, 1, 0])


def test_depth_separation_bad_inputs():
    atom = registry.get("depth-separation")
    with pytest.raises(ParamError, match="batch_size"):
        atom.params(batch_size=17)
    with pytest.raises(ParamError, match="depths"):
        atom.params(depths=())
    with pytest.raises(ParamError, match="depths"):
        atom.params(depths=(0, 1))
    with pytest.raises(ParamError, match="width"):
        atom.params(width=-3)
    with pytest.raises(ParamError, match="depths.*at least two"):  # no trend from one depth
        atom.params(depths=(3,))
    with pytest.raises(ParamError, match="repeat"):
        atom.params(depths=(1, 1, 2))


def test_depth_separation_judge_covers_every_depth_run():
    rows = [dict(seed=s, depth=L, metric="train_accuracy", value=0.5 + 0.05 * L + 0.01 * (s % 3))
            for s in range(10) for L in (1, 2, 5)]
    verdict = ds.judge(pd.DataFrame(rows))
    assert verdict.status == "reproduced"
    assert [e.setting for e in verdict.evidence] == ["depth=*"]


def test_depth_separation_minibatch_mode_runs():
    out = deepatoms.run("depth-separation", preset="quick", seeds=1, device="cpu", steps=20,
                        batch_size=8, record_every=10)
    acc = out.table[out.table.metric == "train_accuracy"]
    assert len(acc) == 3 and acc.value.between(0, 1).all()


# --- class-imbalance ------------------------------------------------------------------------------

def test_minmax_uses_the_reference_set():
    ref = np.array([[0.0, 10.0], [2.0, 20.0]])
    x = np.array([[1.0, 15.0], [4.0, 10.0]])
    np.testing.assert_allclose(ci.minmax(x, ref), [[0.5, 0.5], [2.0, 0.0]])


def test_oversampling_weights_equal_tiling_the_minority():
    """Weighted mean loss with weight r on minority rows == mean loss over the tiled set."""
    y = np.array([0, 1, 1, 1, 1, 1])
    ratio = 5
    w = ci._weights(y, ratio, "oversample")
    losses = np.array([0.7, 0.1, 0.2, 0.3, 0.4, 0.5])
    tiled = np.concatenate([np.tile(losses[y == 0], ratio), losses[y == 1]])
    assert float((w * losses).sum()) == pytest.approx(tiled.mean(), rel=1e-6)
    np.testing.assert_allclose(ci._weights(y, ratio, "none"), np.full(6, 1 / 6), rtol=1e-6)


def test_imbalanced_training_sets_and_balanced_test_set():
    p = ci.ImbalanceParams(ratios=(1, 3, 100))
    data = ci.seed_data(p, Lab([0]), 0)
    assert np.bincount(data["y_test"]).tolist() == [150, 150]
    for r in p.ratios:
        x_tr, y_tr, x_te = data[r]
        assert np.sum(y_tr == 0) == 1200 // (r + 1) and len(y_tr) == 1200
        assert x_tr.min() == 0.0 and x_tr.max() == 1.0  # min-max scaled by itself
        assert x_te.shape == (300, 2)


def test_class_imbalance_bad_inputs():
    atom = registry.get("class-imbalance")
    with pytest.raises(ParamError, match="ratios"):
        atom.params(ratios=(0, 2))
    with pytest.raises(ParamError, match="ratios"):
        atom.params(ratios=())
    with pytest.raises(ParamError, match="minority"):
        atom.params(n_train=50, ratios=(1, 100))
    with pytest.raises(ParamError, match="normalisation"):
        atom.params(normalisation="zscore")
    with pytest.raises(ParamError, match="must include 1"):  # the claim starts from 1:1
        atom.params(ratios=(2, 10, 100))
    with pytest.raises(ParamError, match="at least two"):
        atom.params(ratios=(1,))
    with pytest.raises(ParamError, match="repeat"):
        atom.params(ratios=(1, 10, 10))


def test_prior_rule_accuracy_closed_form_against_monte_carlo():
    """The training priors' Bayes rule, scored on a balanced sample, matches the closed form; with
    equal priors it is the Bayes ceiling."""
    rng = np.random.default_rng(3)
    c, mu = rng.uniform(0, 1, (2, 2)), class_means(2, "1/i")
    assert ci.prior_rule_accuracy(c, mu, 0.5) == pytest.approx(bayes_accuracy(c, mu, 0.5), abs=1e-12)
    sigma_inv = np.linalg.inv(c.T @ c)
    prior0, n = 1 / 11, 200_000
    x0 = rng.standard_normal((n, 2)) @ c
    x1 = rng.standard_normal((n, 2)) @ c + mu
    llr = lambda x: x @ sigma_inv @ mu - 0.5 * mu @ sigma_inv @ mu  # log p1(x)/p0(x)
    cut = np.log(prior0 / (1 - prior0))
    mc_acc = 0.5 * np.mean(llr(x0) < cut) + 0.5 * np.mean(llr(x1) > cut)
    assert ci.prior_rule_accuracy(c, mu, prior0) == pytest.approx(mc_acc, abs=0.005)
    assert ci.prior_rule_accuracy(c, mu, prior0) < ci.prior_rule_accuracy(c, mu, 0.5)


def test_class_imbalance_judge_covers_ratios_and_variants():
    rows = []
    for s in range(5):
        for i, r in enumerate((1, 10, 100)):
            rows.append(dict(seed=s, ratio=r, variant="none", metric="test_accuracy",
                             value=0.9 - 0.15 * i - 0.01 * s))
            rows.append(dict(seed=s, ratio=r, variant="oversample", metric="test_accuracy",
                             value=0.9 - 0.02 * i - 0.005 * s))
        rows.append(dict(seed=s, metric="bayes_accuracy", value=0.92))
    verdict = ci.judge(pd.DataFrame(rows))
    assert verdict.status == "reproduced"
    assert {e.setting for e in verdict.evidence} == {"ratio=*; variant=none", "ratio=100; variant=*"}
    assert "ceilings" in verdict.finding


# --- memorization-capacity ------------------------------------------------------------------------

def test_random_labels_are_a_permutation_of_the_true_ones():
    p = mc.MemoParams()
    x, labels, ceiling = mc.make_data(p, Lab([0]), 0)
    assert x.shape == (300, 6) and 0.5 <= ceiling <= 1.0
    assert np.bincount(labels["true"]).tolist() == np.bincount(labels["random"]).tolist() == [150, 150]
    assert 0.3 < np.mean(labels["true"] == labels["random"]) < 0.7


def test_accuracy_counts_only_each_models_own_points():
    class Fixed:  # predicts class 1 everywhere
        def __call__(self, x):
            return torch.stack([torch.zeros(x.shape[:2]), torch.ones(x.shape[:2])], dim=2)
    x = torch.zeros(2, 4, 1)
    y = torch.tensor([[1, 0, 1, 1], [1, 1, 0, 0]])
    in_set = torch.tensor([[1.0, 1, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(mc._accuracy(Fixed(), x, y, in_set), [0.5, 0.5])


def test_memorization_bad_inputs():
    atom = registry.get("memorization-capacity")
    with pytest.raises(ParamError, match="curve_size"):
        atom.params(curve_size=175)
    with pytest.raises(ParamError, match="sizes"):
        atom.params(sizes=(50, 50, 150))
    with pytest.raises(ParamError, match="hidden"):
        atom.params(hidden=(200, 0))


def _memo_table(true_at_300: list[float], ceilings: list[float]) -> pd.DataFrame:
    """Random labels fit up to n = 100 then fall; true labels near 1 except at n = 300."""
    rows = []
    for s, (t300, c) in enumerate(zip(true_at_300, ceilings)):
        rows.append(dict(seed=s, metric="bayes_accuracy", value=c))
        for n, rnd in ((50, 1.0 - 0.002 * s), (100, 0.97 - 0.01 * s), (150, 0.9), (300, 0.7 + 0.01 * s)):
            true = t300 if n == 300 else 0.99 - 0.003 * s
            for kind, a in (("true", true), ("random", rnd)):
                rows.append(dict(seed=s, labels=kind, n=n, metric="train_accuracy", value=a))
                if n == 150:
                    rows += [dict(seed=s, labels=kind, n=n, step=st, metric="train_accuracy_curve",
                                  value=a * st / 3 if kind == "random" else min(1.0, a * st / 2))
                             for st in (1, 2, 3)]
    return pd.DataFrame(rows)


def test_memorization_true_labels_are_judged_against_each_seeds_ceiling():
    """The same low true-label accuracy (.76–.80 at n = 300) trains well on hard draws (ceiling
    .80) and not on easy ones (ceiling 1.0)."""
    low = [0.76, 0.78, 0.80, 0.77, 0.79]
    hard = mc.judge(_memo_table(low, [0.80, 0.81, 0.82, 0.79, 0.80]))
    easy = mc.judge(_memo_table(low, [1.0] * 5))
    row = lambda v: next(e for e in v.evidence if e.setting == "labels=true; n=300")
    assert row(hard).supports is True and row(easy).supports is False
    assert hard.status == "reproduced" and easy.status == "not reproduced"
    assert {e.setting for e in hard.evidence} >= {"labels=random; n=*", "labels=*; n=150",
                                                  "labels=true; n=50"}


# --- more-data ------------------------------------------------------------------------------------

def test_more_data_nested_training_sets_and_fixed_test_set():
    p = md.MoreDataParams()
    x_tr, y_tr, x_te, y_te = md.seed_data(p, Lab([0]), 0)
    assert x_tr.shape == (8000, 12) and x_te.shape == (2000, 12)
    assert [md.n_train(p, n) for n in (20, 50, 10000)] == [16, 40, 8000]


def test_more_data_bad_inputs():
    atom = registry.get("more-data")
    with pytest.raises(ParamError, match="learners"):
        atom.params(learners=("svm", "svm"))
    with pytest.raises(ParamError, match="learners"):
        atom.params(learners=("forest",))
    with pytest.raises(ParamError, match="sizes"):
        atom.params(sizes=(5, 100), test_fraction=0.8)
    with pytest.raises(ParamError, match="test_fraction"):
        atom.params(test_fraction=1.0)


def test_more_data_judge_on_a_hand_made_table():
    """Nets beat SVM and tree at every n (margins vary by seed); deep ≥ shallow; at the largest n
    deep is at its seed's Bayes ceiling and shallow ≈ .04 below it (not saturated)."""
    rows = []
    for seed in range(6):
        jitter = 0.01 * ((seed * 7) % 5 - 2)  # differs between seeds, so margins have spread
        rows.append(dict(seed=seed, metric="bayes_accuracy", value=0.765 + 0.01 * seed))
        for i, n in enumerate((20, 200, 2000)):
            base = 0.5 + 0.1 * i + 0.01 * seed
            for learner, acc in (("svm", base), ("tree", base - 0.05), ("shallow", base + 0.03 + jitter),
                                 ("deep", base + 0.06 + 0.002 * seed)):
                rows.append(dict(seed=seed, learner=learner, n=n, metric="test_accuracy", value=acc))
    verdict = md.judge(pd.DataFrame(rows))
    assert len(verdict.evidence) == 4 + 2 * 3 + 1 + 2
    by_metric = {e.metric: e for e in verdict.evidence}
    assert all(e.supports for m, e in by_metric.items() if "best of" in m or "vs n" in m)
    assert by_metric["deep − shallow, mean over n"].supports is True
    assert by_metric["deep, n = 2000: test accuracy − seed's Bayes ceiling"].supports is True
    assert by_metric["shallow, n = 2000: test accuracy − seed's Bayes ceiling"].supports is False
    assert verdict.status == "not reproduced"
    assert "learner=shallow; n=20" in {e.setting for e in verdict.evidence}


def test_more_data_sklearn_preset_uses_the_sources_learners():
    out = deepatoms.run("more-data", preset="sklearn", seeds=1, device="cpu", sizes=(20, 100))
    acc = out.table[out.table.metric == "test_accuracy"]
    assert sorted(acc.learner.unique()) == sorted(md.LEARNERS) and len(acc) == 8
    assert acc.value.between(0, 1).all()
    again = deepatoms.run("more-data", preset="sklearn", seeds=1, device="cpu", sizes=(20, 100))
    pd.testing.assert_frame_equal(out.table, again.table)  # every learner seeded from the lab


# --- universal-approximation ----------------------------------------------------------------------

def test_universal_approximation_bad_inputs():
    atom = registry.get("universal-approximation")
    with pytest.raises(ParamError, match="hidden_units"):
        atom.params(hidden_units=(0, 4))
    with pytest.raises(ParamError, match="hidden_units"):
        atom.params(hidden_units=())
    with pytest.raises(ParamError, match="functions"):
        atom.params(functions=("cos",))


def _ua_table(sin_stuck: int, seeds: int = 20) -> pd.DataFrame:
    """sin(12x) with 16 units stays on the plateau (MSE .5) in `sin_stuck` seeds, else fits."""
    rows = [dict(seed=0, function="sin", hidden_units=2, x=float(x), metric="prediction", value=0.0)
            for x in np.linspace(-1, 1, 100)]
    mse = {"sin": (0.45, 0.30, 0.01), "poly": (0.03, 1e-3, 1e-5), "abs": (0.08, 0.01, 1e-4)}
    for s in range(seeds):
        for f, vals in mse.items():
            for h, v in zip((2, 4, 16), vals):
                if f == "sin" and h == 16 and s < sin_stuck:
                    v = 0.5
                rows.append(dict(seed=s, function=f, hidden_units=h, x=np.nan, metric="train_mse",
                                 value=v * (1 + 0.01 * s)))
    return pd.DataFrame(rows)


def test_universal_approximation_judges_a_bimodal_outcome_as_a_rate():
    """sin with 16 units fits in 16 of 20 seeds: the rate of MSE(16) < MSE(2) is above one half
    (Clopper–Pearson lower bound .56); in 14 of 20 it cannot tell (lower bound .46)."""
    most = ua.judge(_ua_table(sin_stuck=4))
    assert most.status == "reproduced"
    sin = next(e for e in most.evidence if e.metric.startswith("sin: seeds"))
    assert sin.estimate == pytest.approx(0.8) and sin.ci_low > 0.5 and sin.note == "in 16 of 20 seeds"
    assert "sin 0/20, 20/20, 16/20" in most.finding  # seeds that escaped the plateau per width
    fewer = ua.judge(_ua_table(sin_stuck=6))
    assert next(e for e in fewer.evidence if e.metric.startswith("sin: seeds")).supports is None
    assert fewer.status == "inconclusive"
    assert {e.setting for e in most.evidence} == {"function=sin; hidden_units=*",
                                                  "function=poly; hidden_units=*",
                                                  "function=abs; hidden_units=*",
                                                  "function=*; hidden_units=2"}


def test_linear_fit_mse_is_the_plateau_level():
    x = np.linspace(-1, 1, 100)
    assert ua.linear_fit_mse(x, 3 * x - 1) == pytest.approx(0.0, abs=1e-20)
    assert ua.linear_fit_mse(x, np.abs(x)) == pytest.approx(np.var(np.abs(x)), rel=1e-9)  # even


# --- claim tier: default configurations (measured verdicts) ---------------------------------------

@pytest.mark.claim
def test_claim_depth_separation():
    """Measured (10 seeds): 61.3 / 72.5 / 75.0 % for L = 1 / 2 / 3, but Page's trend test gives a
    one-sided p of .028, short of the .025 a 95 % two-sided level asks of each direction:
    inconclusive (the old per-seed Spearman interval on the previous data stream said reproduced)."""
    out = deepatoms.run("depth-separation", seeds=10, device="cpu")
    assert out.verdict.status == "inconclusive"
    (row,) = out.verdict.evidence
    assert row.supports is None and row.setting == "depth=*" and row.estimate > 0.3
    acc = out.table[out.table.metric == "train_accuracy"].groupby("depth").value.mean()
    assert acc[3] - acc[1] > 0.1  # measured 0.137 (61.3 → 75.0 %)


@pytest.mark.claim
def test_claim_class_imbalance():
    """Measured: .94 at 1:1 → .60 at 1:100 without resampling (falling, Page's test), oversampled
    .95 at 1:100 (+.35, CI [.08, .62]); ceilings 1.0 in 4 of 5 seeds (.72 in seed 1)."""
    out = deepatoms.run("class-imbalance", seeds=5, device="cpu")
    assert out.verdict.status == "reproduced"
    acc = out.table[out.table.metric == "test_accuracy"]
    none = acc[acc.variant == "none"].groupby("ratio").value.mean()
    over = acc[acc.variant == "oversample"].groupby("ratio").value.mean()
    assert none[100] < none[1] - 0.2 and over[100] > none[100] + 0.2
    ceiling = out.table[out.table.metric == "bayes_accuracy"].value
    assert len(ceiling) == 5 and abs(ceiling.mean() - 0.943) < 0.01


@pytest.mark.claim
def test_claim_universal_approximation():
    """Measured (20 seeds): poly and |x| reproduce (MSE(16) < MSE(2) in 20 of 20 seeds, Page's
    trend over widths); sin(12x) is the hardest at 2 units in 20 of 20; but sin(12x) with 16 units
    beats 2 units in only 13 of 20 seeds (rate .65, Clopper–Pearson [.41, .85]): it fits (MSE <
    .02) in 6 seeds and stays near the best straight line (.41–.50) in most others: inconclusive."""
    out = deepatoms.run("universal-approximation", device="cpu")
    assert out.seeds == tuple(range(20))
    assert out.verdict.status == "inconclusive"
    flags = {e.metric: e.supports for e in out.verdict.evidence}
    assert flags["sin: seeds with MSE(16) < MSE(2) units"] is None
    assert flags["poly: seeds with MSE(16) < MSE(2) units"] is True
    assert flags["abs: seeds with MSE(16) < MSE(2) units"] is True
    assert flags["MSE(2): seeds where sin is above every other function"] is True
    assert all(v for k, v in flags.items() if "vs hidden units" in k)
    final = out.table[out.table.metric == "train_mse"]
    poly16 = final[(final.function == "poly") & (final.hidden_units == 16)].value
    assert poly16.max() < 1e-3  # measured median ≈ 3e-5 (original 0)
    assert "sin 10/20, 12/20, 13/20" in out.verdict.finding


@pytest.mark.claim
def test_claim_more_data():
    """Measured: all learners improve with n; each net beats the better of SVM and tree on average
    at 9 of 9 sizes, decided at 5 (shallow) and 6 (deep) of 9 (the others' CIs reach 0 with 5
    seeds; seed 2's hard draw, ceiling .88, widens them); deep ≥ shallow (+.027); at n = 10,000 the nets are .016–.018
    below their seeds' Bayes ceilings (mean .947), undecided against the .02 gap: inconclusive."""
    out = deepatoms.run("more-data", seeds=5, device="cpu")
    assert out.verdict.status == "inconclusive"
    acc = out.table[out.table.metric == "test_accuracy"]
    big = acc[acc.n == 10000].groupby("learner").value.mean()
    assert big["tree"] < big["svm"] < min(big["shallow"], big["deep"])  # .626 < .891 < .93
    ev = out.verdict.evidence
    margins = [e for e in ev if "best of" in e.metric]
    assert len(margins) == 18 and all(e.estimate > 0 for e in margins)
    assert sum(e.supports is True for e in margins) == 11
    assert not any(e.supports is False for e in ev)
    assert all(e.supports for e in ev if "vs n" in e.metric or "deep − shallow" in e.metric)
    ceiling = out.table[out.table.metric == "bayes_accuracy"].value
    assert abs(ceiling.mean() - 0.947) < 0.005


@pytest.mark.claim
def test_claim_memorization_capacity():
    """Measured: random labels fit fully up to n = 150 (.98), then .90/.84/.73 for n = 200…300
    (falling, Page's test); true labels train well against each seed's Bayes ceiling at every n
    (their lowest accuracy .76–1.00 sits on draws whose ceilings are .75–.99; the absolute '≥ .93'
    failed on the hard draws); but n = 50 random labels are 1.0 in all 5 seeds (a zero-width
    interval: the exact sign test needs 6 seeds), and true − random speed at n = 150 is +.099 with
    a CI reaching −.008: inconclusive."""
    out = deepatoms.run("memorization-capacity", seeds=5, device="cpu")
    assert out.verdict.status == "inconclusive"
    final = out.table[out.table.metric == "train_accuracy"]
    rnd = final[final.labels == "random"].groupby("n").value.mean()
    assert rnd[50] > 0.99 and rnd[150] > 0.9 and rnd[300] < 0.85
    rows = {e.setting: e for e in out.verdict.evidence}
    assert all(rows[f"labels=true; n={n}"].supports is True for n in (50, 100, 150, 200, 250, 300))
    assert rows["labels=random; n=*"].supports is True
    assert rows["labels=random; n=50"].supports is None  # 5 identical seeds are not support
    speed = rows["labels=*; n=150"]
    assert speed.supports is None and speed.estimate > 0.05  # measured 0.099 [-0.008, 0.206]
