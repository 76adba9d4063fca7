"""The atom adversarial-examples: its pieces against closed forms and references, and its claim test (slow tier)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import deepatoms
from deepatoms.atoms.robustness import _adversarial_examples_attacks as K
from deepatoms.atoms.robustness import _adversarial_examples_models as AM
from deepatoms.atoms.robustness import _adversarial_examples_stopping as ES
from deepatoms.lab import Lab
from deepatoms.errors import ParamError
from deepatoms import registry


def _linear(w: torch.Tensor, b: torch.Tensor):
    """Logits of softmax regression for x (M, B, d): x W + b."""
    return lambda x: x @ w + b


def test_fgsm_matches_the_hand_computed_linear_case():
    # softmax regression: ∇ₓ CE = W (p − e_y), so the step is ε·sign(W (p − e_y))
    w = torch.tensor([[1.0, -2.0, 0.5], [-1.0, 0.5, 3.0]])  # (d=2, C=3)
    b = torch.tensor([0.1, 0.0, -0.2])
    x = torch.tensor([[[0.5, 0.5], [0.0, 1.0]]])  # (M=1, B=2, d=2)
    y = torch.tensor([0, 2])
    p = torch.softmax(x @ w + b, -1)
    grad = (p - F.one_hot(y, 3)) @ w.T
    expected = (x + 0.25 * grad.sign()).clamp(0, 1)
    got = K.fgsm(_linear(w, b), x, y, 0.25)
    assert torch.equal(got, expected)
    assert (got - x).abs().max() <= 0.25 + 1e-7 and got.min() >= 0 and got.max() <= 1
    # the second image sits on the box corner: the clip keeps it there where the sign pushes out
    assert got[0, 1, 0] == 0.0


def test_random_sign_is_within_budget_seeded_and_per_model():
    x = torch.full((2, 3, 16), 0.5)
    gens = lambda: [torch.Generator().manual_seed(s) for s in (0, 1)]
    a, b = K.random_sign(x, 0.1, gens()), K.random_sign(x, 0.1, gens())
    assert torch.equal(a, b)
    assert torch.allclose((a - x).abs(), torch.full_like(x, 0.1))
    assert not torch.equal(a[0], a[1])
    alone = K.random_sign(x[1:], 0.1, [torch.Generator().manual_seed(1)])
    assert torch.equal(alone[0], a[1])


def test_pgd_reaches_the_fgsm_corner_of_a_two_class_linear_model():
    # two classes, logits x·w and 0: the loss is monotone in x·w, so the ℓ∞ ball's worst point
    # is the corner x − ε·sign(w) (label 0) or x + ε·sign(w) (label 1) = FGSM's, reached by PGD
    # from any random start inside the ball; the budget and the box hold; seeded per model
    w = torch.tensor([[1.0, 0.0], [-2.0, 0.0], [0.5, 0.0], [3.0, 0.0]])  # (d=4, C=2)
    x = torch.tensor([[[0.3, 0.5, 0.7, 0.4], [0.6, 0.4, 0.5, 0.3]]]).expand(2, 2, 4)
    y = torch.tensor([0, 1])
    gens = lambda: [torch.Generator().manual_seed(s) for s in (0, 1)]
    got = K.pgd(_linear(w, torch.zeros(2)), x, y, 0.1, 10, gens())
    torch.testing.assert_close(got, K.fgsm(_linear(w, torch.zeros(2)), x, y, 0.1))
    assert (got - x).abs().max() <= 0.1 + 1e-7
    start = K.pgd(_linear(w, torch.zeros(2)), x, y, 0.1, 1, gens())
    assert torch.equal(start, K.pgd(_linear(w, torch.zeros(2)), x, y, 0.1, 1, gens()))


def test_numpy_mlp_loss_and_input_gradient_match_autograd():
    rng = np.random.default_rng(0)
    layers = [(rng.standard_normal((6, 5)), rng.standard_normal(5)),
              (rng.standard_normal((5, 4)), rng.standard_normal(4))]
    x, t = rng.random((3, 6)), np.array([0, 3, 1])
    loss, grad = K.mlp_loss_grad(layers)(x, t)
    xt = torch.tensor(x, requires_grad=True)
    h = torch.relu(xt @ torch.tensor(layers[0][0]) + torch.tensor(layers[0][1]))
    z = h @ torch.tensor(layers[1][0]) + torch.tensor(layers[1][1])
    ce = F.cross_entropy(z, torch.tensor(t), reduction="none")
    (g,) = torch.autograd.grad(ce.sum(), xt)
    np.testing.assert_allclose(loss, ce.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, g.numpy(), rtol=1e-10, atol=1e-12)


def test_lbfgs_minimal_perturbation_reaches_the_target_inside_the_box():
    rng = np.random.default_rng(1)
    layers = [(rng.standard_normal((8, 10)), rng.standard_normal(10) * 0.1)]
    f = K.mlp_loss_grad(layers)
    x = rng.random((5, 8))
    pred = K._predict(f, x)
    target = (pred + 1) % 10
    r, found = K.minimal_perturbation(f, x, target)
    assert found.all()
    assert (K._predict(f, x + r) == target).all()
    assert (x + r >= -1e-12).all() and (x + r <= 1 + 1e-12).all()
    # the search keeps the largest working penalty: a solve at a 4× larger penalty fails for
    # some image or gives no smaller perturbation
    big = K.lbfgs_solve(f, x, target, np.full(5, 1e2))
    assert not (K._predict(f, x + big) == target).all()


def test_adversarial_params_reject_a_claim_eps_outside_the_sweep():
    atom = registry.get("adversarial-examples")
    with pytest.raises(ParamError, match="claim_eps"):
        atom.params(eps=(0.1, 0.2))


def test_validation_split_is_seeded_disjoint_and_shared_by_the_models_of_a_seed():
    rngs = lambda: [np.random.default_rng(s) for s in (0, 1)]
    train, val = ES.split_rows(50, 0.2, rngs())
    assert train.shape == (2, 40) and val.shape == (2, 10)
    for t, v in zip(train, val):
        assert not set(t) & set(v) and set(t) | set(v) == set(range(50))
    assert not np.array_equal(val[0], val[1])  # one split per seed
    again = ES.split_rows(50, 0.2, rngs())
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again))
    none_held, empty = ES.split_rows(50, 0.0, rngs())
    assert empty.shape == (2, 0) and (none_held == np.arange(50)).all()
    # the atom's split: the same generator for every model of a seed, drawn from the training
    # split only (the test set is passed separately and never indexed by these rows)
    p = registry.get("adversarial-examples").params("quick")
    lab = Lab([3, 4], stream="adversarial-examples")
    x, y = torch.rand(30, 4), torch.arange(30) % 10
    a, b = AM.split_training_set(p, lab, x, y), AM.split_training_set(p, lab, x, y)
    assert torch.equal(a.val_rows, b.val_rows) and a.val_rows.shape == (2, 6)
    assert int(a.val_rows.max()) < 30 and int(a.train_rows.max()) < 30


def _toy_fit(steps: int, eval_every: int, seen: list, snapshots: list):
    """A 2-member softmax regression early-stopped on a noisy validation set: x's first column
    is the row number, so the training loss can log which rows it drew."""
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.arange(40.0).unsqueeze(1) / 40, torch.rand(40, 3, generator=g)], 1)
    y = torch.randint(0, 3, (40,), generator=g)
    w = torch.zeros(2, 4, 3, requires_grad=True)
    train, val = (torch.as_tensor(r) for r in ES.split_rows(40, 0.25, [np.random.default_rng(s)
                                                                         for s in (0, 1)]))
    xv, yv = x[val], y[val]

    def loss(xb, yb):
        seen.append((xb[..., 0] * 40).round().long())
        return torch.nn.functional.cross_entropy((xb @ w).transpose(1, 2), yb, reduction="none")

    def criterion():
        snapshots.append(w.detach().clone())
        logits = xv @ w
        err = (logits.argmax(-1) != yv).double().mean(1)
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), yv, reduction="none")
        return err, ce.double().mean(1)
    keeper = ES.fit_early_stopped([w], loss, x, y, train, [torch.Generator().manual_seed(s)
                                  for s in (0, 1)], Lab([0, 1]), steps=steps, batch=8, lr=0.3,
                                  criterion=criterion, eval_every=eval_every, description="toy")
    return w, keeper, train, val


def test_early_stopping_keeps_the_argmin_of_the_recorded_validation_errors():
    seen, snapshots = [], []
    w, keeper, train, val = _toy_fit(60, 7, seen, snapshots)
    steps = [t for t, _, _ in keeper.history]
    assert steps == [7, 14, 21, 28, 35, 42, 49, 56, 60]  # every eval_every steps and the last
    err = np.stack([e for _, e, _ in keeper.history])
    loss = np.stack([l for _, _, l in keeper.history])
    for i in range(2):
        k = np.lexsort((loss[:, i], err[:, i]))[0]  # lowest error, then lowest loss, then first
        assert err[k, i] == err[:, i].min()
        assert keeper.step[i] == steps[k]
        assert torch.equal(w[i], snapshots[k][i])
    # training drew only each member's training rows, never a validation row
    drawn = torch.cat(seen, 1)
    for i in range(2):
        assert set(drawn[i].tolist()) <= set(train[i].tolist())
        assert not set(drawn[i].tolist()) & set(val[i].tolist())


def test_the_adversarially_trained_nets_criterion_is_its_fgsm_validation_error():
    p = registry.get("adversarial-examples").params("quick")
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(20, 5, generator=g), torch.randint(0, 10, (20,), generator=g)
    w, b = torch.randn(2, 5, 10, generator=g), torch.randn(2, 1, 10, generator=g)
    net = lambda z: torch.baddbmm(b, z if z.dim() == 3 else z.expand(2, *z.shape), w)
    split = AM.Split(x, y, torch.arange(16).expand(2, 16), torch.tensor([[16, 17, 18, 19]] * 2))
    xv, yv = x[16:].expand(2, 4, 5), y[16:]
    adv = K.fgsm(net, xv, yv, p.eps_train)
    err, _ = AM._criterion(p, "mlp_adv", net, split)()
    torch.testing.assert_close(err, (net(adv).argmax(-1) != yv).double().mean(1))
    clean, _ = AM._criterion(p, "mlp", net, split)()
    torch.testing.assert_close(clean, (net(xv).argmax(-1) != yv).double().mean(1))
    assert AM._criterion(p, "mlp", net, AM.Split(x, y, split.train_rows,
                                                 torch.zeros(2, 0, dtype=torch.long))) is None


@pytest.mark.claim
def test_claim_adversarial_examples():
    out = deepatoms.run("adversarial-examples", device="cpu")
    v = out.verdict
    assert out.seeds == tuple(range(10))  # a power calculation: at 5 the clean-error row
    # (standard − adversarially trained, > −.01; mean −.0027, SD .0060) decides with power .54
    assert out.verdict.status == "reproduced"
    # the 512-512 adversarially trained MLP, early-stopped on its FGSM validation error within
    # 800 steps: FGSM error ratio .31 [.30, .33] (600 steps without early stopping: .33; 100-100:
    # .545, inconclusive); PGD breaks it (ratio .96 [.94, .98]) while the PGD control holds:
    # FGSM robustness here is gradient masking, the secondary part is not reproduced
    assert [p.status for p in v.parts] == ["reproduced", "not reproduced"]
    assert all(e.supports for e in v.controls)
    ratio = next(e for e in v.evidence
                 if e.metric == "adversarial error ratio, adversarially trained / standard MLP")
    assert ratio.supports is True and ratio.ci_high < 0.5
