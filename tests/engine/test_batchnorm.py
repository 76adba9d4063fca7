"""engine/batchnorm.py: the batch-norm MLP population against torch modules trained alone."""

import pytest
import torch

from deepatoms.engine import Adam
from deepatoms.engine.batchnorm import BatchNormMLPPop
from deepatoms.errors import ParamError


# ---------------------------------------------------------------- batch-norm population
def _torch_reference(pop: BatchNormMLPPop, i: int, flag: bool, act: str) -> torch.nn.Sequential:
    layers, ws = [], pop.mlp.model_weights(i)
    for l, (w, b) in enumerate(ws):
        hidden = l < len(ws) - 1
        lin = torch.nn.Linear(*w.shape, bias=not (hidden and flag))
        lin.weight.data = w.T.clone()
        if lin.bias is not None:
            lin.bias.data = b.clone()
        layers.append(lin)
        if hidden:
            if flag:
                layers.append(torch.nn.BatchNorm1d(w.shape[1]))
            layers.append(torch.nn.Sigmoid() if act == "sigmoid" else torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def test_batchnorm_population_matches_torch_modules_trained_alone():
    flags, acts = [True, False, True], ["sigmoid", "relu", "relu"]
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    pop = BatchNormMLPPop((4, 6, 5, 2), gens, flags, activation=acts)
    refs = [_torch_reference(pop, i, f, a) for i, (f, a) in enumerate(zip(flags, acts))]
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(3, 8, 4, generator=g), torch.randint(0, 2, (3, 8), generator=g)
    opt, opts = Adam(pop.params, lr=0.01), [torch.optim.Adam(r.parameters(), lr=0.01) for r in refs]
    for _ in range(20):
        out = pop(x)
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, 2), y.reshape(-1), reduction="none")
        opt.zero_grad()
        loss.view(3, -1).mean(1).sum().backward()
        opt.step()
        for i, (r, o) in enumerate(zip(refs, opts)):
            o.zero_grad()
            torch.nn.functional.cross_entropy(r.train()(x[i]), y[i]).backward()
            o.step()
    with torch.no_grad():
        evaluated = pop(x, train=False)  # running averages
        for i, r in enumerate(refs):
            torch.testing.assert_close(evaluated[i], r.eval()(x[i]), atol=1e-5, rtol=1e-4)
        trained = pop(x, train=True)  # batch statistics
        for i, r in enumerate(refs):
            torch.testing.assert_close(trained[i], r.train()(x[i]), atol=1e-5, rtol=1e-4)
    assert (pop.mlp.biases[0][0] == 0).all() and (pop.mlp.biases[0][1] != 0).any()


def test_batchnorm_population_needs_two_points_and_a_hidden_layer():
    gens = [torch.Generator().manual_seed(0)]
    pop = BatchNormMLPPop((3, 4, 2), gens, [True])
    with pytest.raises(ParamError, match="2 points"):
        pop(torch.zeros(1, 1, 3))
    assert pop(torch.zeros(1, 1, 3), train=False).shape == (1, 1, 2)
    with pytest.raises(ParamError, match="hidden layer"):
        BatchNormMLPPop((3, 2), gens, [True])
