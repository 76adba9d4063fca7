"""The CUDA path: skipped where no GPU is present (CI); run on a GPU machine."""
import pytest
import torch

import deepatoms
from deepatoms import registry
from deepatoms.engine import Adam, MLPPop, Sampler, gather
from deepatoms.verdict import STATUSES

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _train(device: str) -> list[torch.Tensor]:
    gens = [torch.Generator().manual_seed(s) for s in range(8)]
    sizes = [(5, 8 + s, 3) for s in range(8)]
    pop = MLPPop(sizes, gens, activation="tanh", device=device)
    data = torch.randn(8, 64, 5, generator=torch.Generator().manual_seed(99)).to(device)
    target = torch.randint(3, (8, 64), generator=torch.Generator().manual_seed(98)).to(device)
    stream = Sampler([torch.Generator().manual_seed(50 + s) for s in range(8)], 64, 16,
                     "replacement", device=device)
    opt = Adam(pop.params, lr=torch.linspace(1e-3, 1e-2, 8))
    for _ in range(30):
        idx = stream.next()
        logits = pop(gather(data, idx))  # (M, B, 3)
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), gather(target, idx),
                                                 reduction="none").mean(dim=1)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    return [p.detach().cpu() for p in pop.params]


@cuda
def test_population_on_cuda_matches_cpu():
    for a, b in zip(_train("cpu"), _train("cuda")):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@cuda
@pytest.mark.parametrize("name", sorted(registry.all_atoms()))
def test_quick_preset_runs_on_cuda(name):
    out = deepatoms.run(name, preset="quick", seeds=2, device="cuda")
    assert out.env["device"].startswith("cuda")
    assert out.verdict.status in STATUSES
