"""engine/straight_through.py: forward value and identity gradient."""

import torch

from deepatoms.data.step_targets import round_down
from deepatoms.engine.straight_through import straight_through


def test_straight_through_forward_value_identity_gradient():
    r = torch.tensor([0.05, 0.12, -0.3, 0.16], requires_grad=True)
    lv = torch.tensor([[-0.2, 0.0, 0.1, 0.15]]).expand(1, 4)
    out = straight_through(lambda t, lvl: round_down(t.unsqueeze(0), lvl)[0][0], r, lv)
    assert torch.allclose(out, torch.tensor([0.0, 0.1, -0.2, 0.15]))
    (out * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert torch.equal(r.grad, torch.tensor([1.0, 2.0, 3.0, 4.0]))
