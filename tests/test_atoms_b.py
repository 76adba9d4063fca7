"""Atoms of seed 003 §6–§10 (pca-preprocessing, activation-functions, batch-size, loss-functions,
initialization) and the pieces they add: fused Adam, random-subset minibatches, two moons, random
rotations, the source's losses. Unit tests first, then the claim tier (default configuration,
5 seeds)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from deepatoms.atoms.atoms import _classifier_training as ct
from deepatoms.atoms.atoms import (activation_functions, batch_size, initialization,
                                   loss_functions, pca_preprocessing)
from deepatoms.data.rotations import haar_frame, rotate_rows
from deepatoms.data.two_moons import two_moons
from deepatoms.engine import Adam, MLPPop
from deepatoms.engine.fused_adam import FusedAdam
from deepatoms.engine import Sampler
from deepatoms.errors import ParamError
from deepatoms.runner import Execution, execute

# Imported directly (not through the registry) so these tests do not depend on other families.
ATOMS = {m.ATOM.name: m.ATOM for m in (pca_preprocessing, activation_functions, batch_size,
                                       loss_functions, initialization)}


def _run(name: str, preset: str = "default", seeds=None, **overrides) -> Execution:
    atom = ATOMS[name]
    seeds = tuple(range(atom.default_seeds)) if seeds is None else seeds
    return execute(atom, atom.params(preset, **overrides), tuple(seeds), preset=preset,
                   overrides=overrides, device="cpu")

SHAPES = [(3, 4, 5), (3, 1, 5), (3, 5, 2)]


def _params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g) for s in SHAPES]


def _run_optimizer(opt_cls, lr, weight_decay, steps: int = 30) -> list[torch.Tensor]:
    params = _params(0)
    opt = opt_cls(params, lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    return params


@pytest.mark.parametrize("lr, decay", [(0.01, 0.0), (0.01, 1e-2), ([0.01, 0.002, 0.05], 0.0),
                                       (0.01, [0.0, 1e-2, 0.1])])
def test_fused_adam_matches_engine_adam(lr, decay):
    ref = _run_optimizer(Adam, lr, decay)
    got = _run_optimizer(FusedAdam, lr, decay)
    for a, b in zip(ref, got):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_fused_adam_matches_torch_adam_for_one_model():
    w0 = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(2))
    ours = w0.clone()
    theirs = w0[0].clone().requires_grad_()
    opt, ref = FusedAdam([ours], lr=0.003), torch.optim.Adam([theirs], lr=0.003)
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        grad = torch.randn(1, 4, 3, generator=g)
        ours.grad, theirs.grad = grad.clone(), grad[0].clone()
        opt.step()
        ref.step()
    torch.testing.assert_close(ours[0], theirs.detach(), rtol=1e-5, atol=1e-7)


def _gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_subset_sampler_draws_distinct_points_and_is_seeded():
    stream = Sampler(_gens(0, 1), 10, 6, chunk=7)
    draws = torch.stack([stream.next() for _ in range(20)])  # (20, 2, 6), crosses a refill
    assert draws.shape == (20, 2, 6)
    for row in draws.reshape(-1, 6):
        assert len(set(row.tolist())) == 6 and 0 <= int(row.min()) and int(row.max()) < 10
    again = Sampler(_gens(0, 1), 10, 6, chunk=7)
    assert torch.equal(draws, torch.stack([again.next() for _ in range(20)]))
    assert not torch.equal(draws[:, 0], draws[:, 1])  # the two streams differ


def test_subset_sampler_edge_sizes_and_uniformity():
    full = Sampler(_gens(0), 5, 5).next()
    assert sorted(full[0].tolist()) == [0, 1, 2, 3, 4]
    single = torch.stack([Sampler(_gens(0), 4, 1).next() for _ in range(3)])
    assert single.shape == (3, 1, 1)
    stream = Sampler(_gens(5), 8, 3)
    counts = torch.bincount(torch.cat([stream.next().flatten() for _ in range(4000)]), minlength=8)
    expected = 4000 * 3 / 8  # binomial sd ≈ 30
    assert (counts.float() - expected).abs().max() < 6 * math.sqrt(expected * (1 - 3 / 8))


@pytest.mark.parametrize("batch, mode", [(0, "subset"), (0, "replacement"), (11, "epoch")])
def test_sampler_rejects_impossible_batch(batch, mode):
    with pytest.raises(ParamError, match="batch"):
        Sampler(_gens(0), 10, batch, mode)


def test_two_moons_lie_on_their_arcs_without_noise():
    x, y = two_moons(np.random.default_rng(0), 11, noise=0.0)
    assert x.shape == (11, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert (y == 0).sum() == 5 and (y == 1).sum() == 6
    np.testing.assert_allclose(np.hypot(*x[y == 0].T), 1, atol=1e-6)
    np.testing.assert_allclose(np.hypot(x[y == 1, 0] - 1, x[y == 1, 1] - 0.5), 1, atol=1e-6)
    a, _ = two_moons(np.random.default_rng(1), 11, noise=0.1)
    b, _ = two_moons(np.random.default_rng(2), 11, noise=0.1)
    assert not np.allclose(a, b)
    with pytest.raises(ParamError, match="noise"):
        two_moons(np.random.default_rng(0), 10, noise=-1)


@pytest.mark.parametrize("n, dim", [(30, 7), (6, 40)])
def test_rotate_rows_keeps_all_distances_and_angles(n, dim):
    x = np.random.default_rng(0).standard_normal((n, dim))
    r = rotate_rows(np.random.default_rng(1), x)
    assert r.shape == (n, dim)
    np.testing.assert_allclose(r @ r.T, x @ x.T, atol=1e-9)  # Gram matrix preserved
    assert not np.allclose(r, x)
    assert not np.allclose(r, rotate_rows(np.random.default_rng(2), x))


def test_haar_frame_is_orthonormal():
    q = haar_frame(np.random.default_rng(0), 9, 4)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)


def _loss(name: str, z, y) -> float:
    return float(ct.LOSSES[name](torch.tensor([z], dtype=torch.float32), torch.tensor([y]))[0])


def test_losses_exact_values_on_tiny_inputs():
    assert _loss("cross_entropy", [[0.0, 0.0]], [0]) == pytest.approx(math.log(2))
    for name in ("abs", "square", "fourth_power"):
        assert _loss(name, [[1.0, 0.0]], [0]) == 0.0
        assert _loss(name, [[0.0, 0.0]], [0]) == pytest.approx(0.5)  # one of two outputs off by 1
    assert _loss("square", [[3.0, 0.0]], [0]) == pytest.approx(2.0)  # (2² + 0) / 2
    assert _loss("fourth_power", [[3.0, 0.0]], [0]) == pytest.approx(8.0)
    assert _loss("hinge", [[0.0, 0.0]], [1]) == pytest.approx(1.0)
    assert _loss("hinge", [[-2.0, 2.0]], [1]) == 0.0
    assert _loss("hinge", [[0.5, 0.0]], [0]) == pytest.approx((0.5 + 1.0) / 2)


def test_constant_loss_has_zero_gradient():
    z = torch.randn(2, 5, 2, requires_grad=True)
    ct.LOSSES["constant"](z, torch.zeros(2, 5, dtype=torch.long)).sum().backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_loss_by_model_equals_per_model_losses():
    names = ["hinge", "hinge", "square", "cross_entropy", "square"]
    z, y = torch.randn(5, 7, 2), torch.randint(2, (5, 7))
    got = ct.loss_by_model(names)(z, y)
    want = torch.stack([ct.LOSSES[n](z[i:i + 1], y[i:i + 1])[0] for i, n in enumerate(names)])
    torch.testing.assert_close(got, want)


def test_accuracy_counts_argmax_and_flags_divergence():
    z = torch.tensor([[[2.0, 1.0], [0.0, 3.0]], [[1.0, 0.0], [float("nan"), 0.0]]])
    y = torch.tensor([[0, 0], [0, 1]])
    acc = ct.accuracy(z, y)
    assert acc[0] == 0.5 and math.isnan(acc[1])


def test_unit_symmetry_sees_constant_layers():
    pop = MLPPop([(3, 6, 4, 2)] * 3, _gens(0, 1, 2), activation="sigmoid",
                 init=["zeros", "ones", "xavier_uniform"],
                 bias_init=["zeros", "ones", "xavier_uniform"])
    distinct, spread = initialization.unit_symmetry(pop)
    assert distinct.tolist() == [[1, 1], [1, 1], [6, 4]]
    assert spread[:2].tolist() == [[0.0, 0.0], [0.0, 0.0]] and (spread[2] > 0.1).all()
    with torch.no_grad():
        pop.weights[0][1, 0, 2] += 0.5  # model "ones", layer 1, unit 2: spread 0.5 / 1.5
    distinct, spread = initialization.unit_symmetry(pop)
    assert distinct[1].tolist() == [2, 1] and spread[1, 0] == pytest.approx(0.5 / 1.5)


def test_pca_project_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA
    rng = np.random.default_rng(0)
    xtr, xte = rng.standard_normal((30, 8)), rng.standard_normal((10, 8))
    ptr, pte = pca_preprocessing.pca_project(xtr, xte, 3)
    ref = PCA(n_components=3).fit(xtr)
    np.testing.assert_allclose(np.abs(ptr), np.abs(ref.transform(xtr)), atol=1e-10)
    np.testing.assert_allclose(np.abs(pte), np.abs(ref.transform(xte)), atol=1e-10)


def test_pca_groups_pad_only_to_similar_widths():
    widths = {"a": 5, "b": 10, "c": 12, "d": 110, "e": 2010, "f": 2010, "g": 30}
    got = sorted(sorted(g) for g in pca_preprocessing.groups(widths))
    assert got == [["a", "b", "c"], ["d"], ["e", "f"], ["g"]]


def test_batch_size_epoch_ends_and_first_crossing():
    assert batch_size.epoch_ends(3, 400, 256) == [2, 3, 5]  # 1.5625, 3.125, 4.6875 rounded
    assert batch_size.epoch_ends(2, 400, 1) == [400, 800]
    assert batch_size.first_crossing(np.array([0.5, 0.79, 0.8, 0.9]), 0.8) == 2
    assert batch_size.first_crossing(np.array([0.5, 0.6]), 0.8) == -1


@pytest.mark.parametrize("name, overrides, match", [
    ("loss-functions", dict(batch_size=401), "batch_size"),
    ("loss-functions", dict(losses=("square", "hinge")), "cross_entropy"),
    ("loss-functions", dict(losses=("cross_entropy", "cross_entropy")), "twice"),
    ("loss-functions", dict(losses=()), "empty"),
    ("loss-functions", dict(hidden_units=(100, -1)), "hidden_units"),
    ("initialization", dict(initializers=("xavier_uniform", "normal:-1")), "initialiser"),
    ("initialization", dict(initializers=("xavier_uniform", "gauss")), "initialiser"),
    ("initialization", dict(initializers=("zeros",)), "xavier_uniform"),
    ("activation-functions", dict(activations=("sign", "identity")), "non-linearity"),
    ("activation-functions", dict(activations=("relu", "swish")), "activations"),
    ("activation-functions", dict(noise=-0.1), "noise"),
    ("batch-size", dict(batch_sizes=(1, 401)), "batch_sizes"),
    ("batch-size", dict(batch_sizes=(0, 4)), "batch_sizes"),
    ("batch-size", dict(target_accuracy=1.5), "target_accuracy"),
    ("pca-preprocessing", dict(pca_dims=(0, 12), dummy_dims=(1, 5)), "pca_dims"),
    ("pca-preprocessing", dict(pca_dims=(0, 90), dummy_dims=(200,)), "pca_dims"),
    ("pca-preprocessing", dict(dummy_dims=(-1, 5)), "dummy_dims"),
    ("pca-preprocessing", dict(n=5), "'n'"),
    ("pca-preprocessing", dict(pca_dims=(10, 5)), "must include 0"),
    ("pca-preprocessing", dict(dummy_dims=(1, 20, 100)), "2n"),
    ("pca-preprocessing", dict(pca_dims=(0, 1)), "fewer than 5"),
    ("pca-preprocessing", dict(mixings=("rotation",)), "standardised_control"),
    ("pca-preprocessing", dict(mixings=("uniform", "uniform")), "twice"),
    ("batch-size", dict(batch_sizes=(64,)), "at least two"),
    ("batch-size", dict(epoch_basis="test"), "epoch_basis"),
])
def test_impossible_parameters_rejected(name, overrides, match):
    with pytest.raises(ParamError, match=match):
        ATOMS[name].params(**overrides)


def test_initialization_expectation_by_kind():
    want = {"xavier_uniform": "well", "he_normal": "well", "torch_default": "well",
            "normal:0.01": "well", "normal:0.1": "well", "uniform:0.1": "well",
            "normal:1": "slower", "normal:0.2": "slower", "uniform:0.2": "slower",
            "ones": "fails", "zeros": "eventually"}
    assert {spec: initialization.expectation(spec) for spec in want} == want


def test_two_moons_oracle_separates_small_noise_and_not_huge_noise():
    rng = np.random.default_rng(0)
    x, y = two_moons(rng, 4000, noise=0.1)
    assert activation_functions.oracle_accuracy(x, y, 4000, 0.1) > 0.995
    x, y = two_moons(rng, 4000, noise=3.0)
    assert 0.5 < activation_functions.oracle_accuracy(x, y, 4000, 3.0) < 0.6
    assert activation_functions.oracle_accuracy(x, y, 4000, 0.0) == 1.0


def test_two_moons_oracle_beats_a_trained_rule_on_the_same_points():
    """The Bayes rule is the best rule in expectation: on 20,000 points at noise 0.3 it is at
    least as accurate as a nearest-arc-point rule (the noiseless limit of the same model)."""
    rng = np.random.default_rng(1)
    n = 20_000
    x, y = two_moons(rng, n, noise=0.3)
    bayes = activation_functions.oracle_accuracy(x, y, n, 0.3)
    arcs = activation_functions._arcs(n)
    dist = [np.min(((x[:, None, :] - a[None, ::50]) ** 2).sum(-1), axis=1) for a in arcs]
    nearest = float(((dist[1] < dist[0]).astype(np.int64) == y).mean())
    assert bayes >= nearest - 0.002 and 0.8 < bayes < 0.99


def test_pca_standardise_uses_training_statistics():
    rng = np.random.default_rng(0)
    xtr, xte = rng.normal(5, 3, (50, 4)), rng.normal(5, 3, (20, 4))
    xtr[:, 3] = 1.0  # a constant input stays finite
    ztr, zte = pca_preprocessing.standardise(xtr, xte)
    np.testing.assert_allclose(ztr[:, :3].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(ztr[:, :3].std(0), 1, atol=1e-12)
    np.testing.assert_allclose(zte, (xte - xtr.mean(0)) / np.where(xtr.std(0) > 0, xtr.std(0), 1))
    assert np.isfinite(ztr).all()


def _loss_table(acc: dict[str, list[float]], ceilings: list[float]) -> pd.DataFrame:
    rows = [dict(seed=s, metric=ct.CEILING, value=c) for s, c in enumerate(ceilings)]
    rows += [dict(seed=s, loss=loss, metric="test_accuracy", value=v)
             for loss, values in acc.items() for s, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_loss_functions_judge_on_a_hand_made_table():
    """Cross-entropy is judged against each seed's ceiling, the fourth power by its rate."""
    ceilings = [0.72, 0.98, 0.90, 0.85, 1.0]
    ce = [0.70, 0.95, 0.88, 0.81, 0.97]  # within .05 of a ceiling that varies by seed
    table = _loss_table({"cross_entropy": ce, "square": [a + e for a, e in zip(ce, (0.01, -0.02, 0.0, 0.02, -0.01))],
                         "fourth_power": [0.66, 0.93, 0.89, 0.75, 0.90],  # below in 4 of 5
                         "constant": [0.50, 0.47, 0.52, 0.55, 0.49]}, ceilings)
    v = loss_functions.judge(table)
    rows = {e.setting: e for e in v.evidence}
    assert rows["loss=cross_entropy"].supports is True  # absolute .85 would fail on seed 0
    # 4 of 5: the rate's Clopper–Pearson interval [.28, .99] includes 1/2: undecided
    assert rows["loss=fourth_power"].supports is None and rows["loss=fourth_power"].note == "in 4 of 5 seeds"
    assert v.status == "inconclusive"
    seven = ceilings + ceilings[:2]
    worse = _loss_table({"cross_entropy": ce + ce[:2], "square": ce + ce[:2],
                         "fourth_power": [a - 0.02 for a in ce + ce[:2]],  # below in 7 of 7
                         "constant": [0.5] * 7}, seven)
    assert loss_functions.judge(worse).status == "reproduced"
    better = _loss_table({"cross_entropy": ce + ce[:2],
                          "fourth_power": [a + 0.01 for a in ce + ce[:2]]}, seven)  # 0 of 7
    assert loss_functions.judge(better).status == "not reproduced"


def _rows(table: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    for key, value in where.items():
        mask &= (table[key] == value).to_numpy()
    return table[mask].drop(columns=[c for c in table.columns if table[c].isna().all()])


def test_population_member_gets_the_updates_it_would_get_alone():
    """Cross-entropy models trained beside other losses = trained alone (same seed)."""
    both = _run("loss-functions", "quick", [4], losses=("cross_entropy", "hinge")).table
    alone = _run("loss-functions", "quick", [4], losses=("cross_entropy",)).table
    a = _rows(both, loss="cross_entropy").reset_index(drop=True)
    b = _rows(alone, loss="cross_entropy").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_a_seed_gets_the_same_result_alone_or_batched_with_others():
    """The runner may compute seeds in any batches; a seed's rows must not depend on that."""
    pair = _run("batch-size", "quick", [0, 1]).table
    one = _run("batch-size", "quick", [1]).table
    pd.testing.assert_frame_equal(_rows(pair, seed=1).reset_index(drop=True),
                                  one.reset_index(drop=True))


# ---- claim tier: default configuration, the atom's default seeds; statuses and numbers as
# measured (issue 6: per-atom random streams, ceiling-relative judging) ----------------------

def _evidence(outcome: Execution, prefix: str):
    rows = [e for e in outcome.verdict.evidence if e.metric.startswith(prefix)]
    assert len(rows) == 1, prefix
    return rows[0]


def _near(outcome: Execution, prefix: str, measured: float, ci: tuple[float, float]) -> None:
    """The estimate stays inside the 95% CI measured when the claim test was written."""
    est = _evidence(outcome, prefix).estimate
    assert ci[0] <= est <= ci[1], f"{prefix}: {est:.3f} outside {ci} (measured {measured})"


@pytest.mark.claim
def test_claim_activation_functions():
    out = _run("activation-functions")
    assert out.verdict.status == "reproduced"
    _near(out, "seed's oracle − identity", 0.112, (0.079, 0.145))  # identity .886, source ≈ .89
    _near(out, "smooth non-linearities − sign", 0.073, (0.015, 0.130))  # sign .92, source .97
    for act in ("relu", "tanh", "square", "sin"):
        assert _evidence(out, act).estimate >= -0.016  # accuracy − oracle (oracle ≈ .998)


@pytest.mark.claim
def test_claim_loss_functions():
    out = _run("loss-functions")
    assert len(out.table.seed.unique()) == 10
    # real losses agree within 3 points of cross-entropy and the constant loss stays at chance;
    # the fourth power is below cross-entropy in 6 of 10 seeds: its rate is undecided
    assert out.verdict.status == "inconclusive"
    cross = _evidence(out, "cross_entropy: test accuracy − seed's ceiling")
    assert cross.supports is None  # .067 below the ceiling on average: [-.127, -.007] vs -.1
    _near(out, "cross_entropy: test accuracy − seed's ceiling", -0.067, (-0.127, -0.007))
    worse = _evidence(out, "fourth_power below cross_entropy")
    assert worse.supports is None and worse.note == "in 6 of 10 seeds"
    _near(out, "constant", 0.495, (0.469, 0.521))


@pytest.mark.claim
def test_claim_initialization():
    out = _run("initialization")
    # ordering as in the source, but relative to each draw's Bayes ceiling Xavier / N(0, .01)
    # end .07 below it on average (some draws' ceilings ≈ 1.0 are not reached in 500 steps)
    assert out.verdict.status == "inconclusive"
    _near(out, "xavier_uniform: test accuracy − seed's ceiling", -0.074, (-0.146, -0.002))
    _near(out, "xavier_uniform − normal:1", 0.241, (0.210, 0.272))
    _near(out, "ones", 0.475, (0.455, 0.495))
    _near(out, "zeros", 0.793, (0.698, 0.888))
    spread = out.table[(out.table.initializer == "zeros") & (out.table.metric == "unit_spread")]
    assert spread.value.max() < initialization.SYMMETRIC_SPREAD  # zeros stay (almost) symmetric


@pytest.mark.claim
def test_claim_batch_size():
    out = _run("batch-size")
    # the source's curve (training accuracy) falls as in the source (.995 → .83), but test
    # accuracy rises with batch size (.72 → .80, best at 256): the worded claim does not hold
    assert out.verdict.status == "not reproduced"
    _near(out, "final training accuracy vs batch size", -0.814, (-1.130, -0.497))
    _near(out, "training accuracy(batch 1) − (batch 400)", 0.165, (0.020, 0.310))
    assert _evidence(out, "final training accuracy vs batch size").supports is True
    assert _evidence(out, "final test accuracy vs batch size").supports is False


@pytest.mark.claim
def test_claim_batch_size_original_code():
    out = _run("batch-size", "original-code")
    assert out.verdict.status == "not reproduced"
    assert _evidence(out, "final training accuracy vs batch size").supports is True
    _near(out, "final training accuracy vs batch size", -0.844, (-0.937, -0.750))
    assert int(out.table[out.table.metric == "updates"].value.max()) == 75_000  # 150 · 500 / 1
    assert _evidence(out, "final test accuracy vs batch size").supports is False


@pytest.mark.claim
def test_claim_pca_preprocessing_both_mixings_and_control():
    out = _run("pca-preprocessing")
    # the U[0,1] mixing collapses (.37, source .43), a true rotation does not (.96), and
    # standardising the U[0,1]-mixed features removes the collapse (.94)
    assert out.verdict.status == "not reproduced"
    _near(out, "uniform: no PCA, k ≥ 200", 0.370, (0.299, 0.441))
    assert _evidence(out, "uniform: no PCA, k ≥ 200").supports is True
    _near(out, "rotation: no PCA, k ≥ 200", 0.960, (0.909, 1.011))
    _near(out, "standardised uniform: no PCA, k ≥ 200", 0.942, (0.875, 1.010))
    _near(out, "uniform: PCA 10 − PCA 1", 0.106, (0.083, 0.130))


@pytest.mark.claim
def test_claim_pca_preprocessing_original_code():
    out = _run("pca-preprocessing", "original-code")
    # the source's experiment alone: collapse and PCA 1 loss reproduce; PCA 5 / 10 at k ≥ 200
    # (.93 / .94) do not clear .9 with 5 seeds
    assert out.verdict.status == "inconclusive"
    _near(out, "uniform: no PCA, k ≥ 200", 0.370, (0.299, 0.441))
    _near(out, "uniform: PCA 5, k ≥ 200", 0.932, (0.849, 1.016))
