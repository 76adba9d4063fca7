"""loss-interpolation's small CNN: the population against CNNs built alone, the ends of the line
against the networks it joins, and shapes (the CNN's claim is checked in tests/test_gen_a.py with the MLPs')."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import deepatoms
from deepatoms.atoms.generalization import _loss_interpolation_cnn as cnn
from deepatoms.atoms.generalization import _loss_interpolation_paths as paths
from deepatoms.atoms.generalization import loss_interpolation as li
from deepatoms.atoms.generalization._stacked_mlp import loss_and_accuracy
from deepatoms.data.images import image_data
from deepatoms.engine.modules import build_alone
from deepatoms.errors import ParamError
from deepatoms.lab import Lab

CHANNELS, SIDE = (8, 16), 8


def _digits(n: int = 200):
    d = image_data("digits")
    return torch.tensor(d.x_train[:n]), torch.tensor(d.y_train[:n])


def _alone_loss(module: torch.nn.Module, x, y) -> torch.Tensor:
    with torch.no_grad():
        return loss_and_accuracy(lambda xs: module(xs).unsqueeze(0), x, y)[0]


def test_small_cnn_shapes_and_parameter_count():
    net = cnn.SmallCNN(CHANNELS, SIDE)
    assert sum(t.numel() for t in net.parameters()) == 80 + 1168 + 2570 == 3818
    assert all(torch.count_nonzero(b) == 0 for n, b in net.named_parameters() if "bias" in n)
    x, _ = _digits(5)
    assert net(x).shape == (5, 10)
    assert cnn.image_side(64) == 8 and cnn.image_side(784) == 28
    with pytest.raises(ValueError, match="square"):
        cnn.image_side(63)
    with pytest.raises(ParamError, match="channels"):
        li.LossInterpolationParams(channels=(8, 16, 32))


def test_population_members_equal_cnns_built_alone():
    pop = cnn.population(CHANNELS, SIDE, [3, 11, 7])
    x, _ = _digits(50)
    out = pop(x)                                                      # (3, 50, 10)
    assert out.shape == (3, 50, 10)
    for i, seed in enumerate((3, 11, 7)):
        alone = build_alone(cnn.factory(CHANNELS, SIDE), seed)
        for name, t in alone.named_parameters():
            assert pop.param_dict[name].shape[0] == 3
            assert torch.equal(pop.param_dict[name][i], t.detach())  # bitwise the same init
        torch.testing.assert_close(out[i], alone(x), rtol=1e-5, atol=1e-6)
    assert not torch.equal(pop.param_dict["conv1.weight"][0], pop.param_dict["conv1.weight"][1])


def test_line_ends_give_the_initial_and_trained_losses_exactly():
    lab, p = Lab([0]), li.LossInterpolationParams(steps=30)
    x, y = _digits()
    members, starts, ends, at = li._train(p, lab, "cnn", x, y, [0])
    assert members == [(0, "a"), (0, "b")]
    alphas = np.linspace(-0.5, 1.5, 101)                              # holds α = 0 and 1 exactly
    net = paths.line(starts[0], ends[0], alphas)
    assert net["conv2.weight"].shape == (101, 16, 8, 3, 3)
    logits = at(net)(x)
    assert logits.shape == (101, len(x), 10)
    loss = loss_and_accuracy(at(net), x, y)[0]
    i0, i1 = int(np.argmin(np.abs(alphas))), int(np.argmin(np.abs(alphas - 1)))
    built = build_alone(cnn.factory(CHANNELS, SIDE), lab.derive(0, "init", "a"))
    assert loss[i0] == _alone_loss(built, x, y)[0]                     # the CNN built alone
    trained = cnn.factory(CHANNELS, SIDE)()
    trained.load_state_dict({k: v[0] for k, v in ends[0].items()})
    assert loss[i1] == _alone_loss(trained, x, y)[0]                   # the trained CNN
    assert loss[i1] < 0.8 * loss[i0]                                   # 30 steps trained it
    # the population's own (vmapped) forward agrees with the line's per-point evaluation
    z = cnn.population(CHANNELS, SIDE, [lab.derive(0, "init", "a")])(x)
    torch.testing.assert_close(F.cross_entropy(z[0], y), loss[i0], rtol=1e-6, atol=0)


def test_cnn_rows_of_the_table():
    out = deepatoms.run("loss-interpolation", preset="quick", seeds=[4], device="cpu",
                        archs=("cnn",), steps=40)
    t = out.rows                                      # measurements and the drawn curves
    assert set(t.arch) == {"cnn"} and set(t.seed) == {4}
    for path in li.PATHS:
        curve = t[(t.path == path) & (t.metric == "train_loss_curve")]
        assert len(curve) == 21 and curve.alpha.min() == -0.5 and curve.alpha.max() == 1.5
    assert not (t.metric == "stale_statistics_loss_curve").any()     # no batch norm to go stale
    one = t[t.alpha.isna()].set_index(["path", "metric"]).value
    assert one["init→solution", "loss_at_0"] > one["init→solution", "loss_at_1"]
    assert one["solution→solution", "loss_at_0"] == one["init→solution", "loss_at_1"]
    assert {e.setting for e in out.verdict.evidence} == {"arch=cnn; path=init→solution",
                                                          "arch=cnn; path=solution→solution"}
    fig = out.figures()["loss-along-line"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [f"cnn: {path}" for path in li.PATHS]
    assert len(fig.axes[0].get_lines()) == 1 + 1 + 2                 # seed, mean, α = 0 and 1
