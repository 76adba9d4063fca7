"""engine/scalar_head.py: forward_scalar equals the population forward."""

import torch

from deepatoms.engine import MLPPop
from deepatoms.engine.scalar_head import forward_scalar
from ..atoms.failure_helpers import gen


# ------------------------------------------------------------- shared engine pieces
def test_forward_scalar_equals_population_forward():
    pop = MLPPop([(3, 7, 5, 1), (2, 4, 5, 1)], [gen(0), gen(1)], init="trunc_normal",
                 bias_init="normal:0.3")
    x = torch.randn(2, 9, 3, generator=gen(2))
    x[1, :, 2] = 0
    assert torch.allclose(forward_scalar(pop, x), pop(x)[..., 0], atol=1e-6)
    assert torch.allclose(forward_scalar(pop, x[0]), pop(x[0])[..., 0], atol=1e-6)
