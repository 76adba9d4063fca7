"""engine/flat.py: flat parameter views share storage and unflatten."""
from __future__ import annotations

import torch

from deepatoms.engine.flat import FlatParams


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
