"""engine/weight_shared.py: the shared-depth population against models trained alone."""
from __future__ import annotations

import pytest
import torch

from deepatoms.engine import Adam
from deepatoms.engine.losses import weighted_cross_entropy
from deepatoms.engine.weight_shared import SharedDepthPop
from deepatoms.lab import derive_seed


def _gen(*tags: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(0, *tags))


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
