"""engine/denormals.py: flushing denormals inside a block and restoring the setting."""
from __future__ import annotations

import torch

from deepatoms.engine.denormals import flushed, flushing


def test_flushed_zeroes_denormals_inside_and_restores_the_setting():
    tiny = torch.tensor([1e-39], dtype=torch.float32)
    assert not flushing() and float(tiny * 1.0) > 0
    with flushed():
        assert flushing() and float(tiny * 1.0) == 0.0
        assert float(torch.sigmoid(torch.tensor([-90.0]))) == 0.0  # e^-90 is a denormal
    assert not flushing() and float(tiny * 1.0) > 0
    torch.set_flush_denormal(True)
    try:
        with flushed():
            pass
        assert flushing()  # a setting made before the block is kept
    finally:
        torch.set_flush_denormal(False)
