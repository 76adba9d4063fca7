"""engine/gradient_gram.py against explicit per-sample gradients."""

import torch

from deepatoms.engine import MLPPop
from deepatoms.engine.gradient_gram import gradient_gram
from deepatoms.engine.scalar_head import forward_scalar
from ..atoms.failure_helpers import gen


def test_gradient_gram_matches_explicit_per_sample_gradients():
    pop = MLPPop([(3, 7, 5, 1), (2, 4, 5, 1)], [gen(3), gen(4)], init="trunc_normal",
                 bias_init="normal:0.3")
    x = torch.randn(2, 6, 3, generator=gen(5))
    x[1, :, 2] = 0  # model 1 has 2 inputs (zero-padded)
    gram = gradient_gram(pop, x)
    for m in range(2):
        rows = []
        for i in range(6):
            grads = torch.autograd.grad(forward_scalar(pop, x)[m, i], pop.params)
            rows.append(torch.cat([g[m].reshape(-1) for g in grads]).double())
        jac = torch.stack(rows)
        assert torch.allclose(gram[m], jac @ jac.T, atol=1e-5)
