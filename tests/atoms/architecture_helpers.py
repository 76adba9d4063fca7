"""Helpers shared by the architecture atoms' tests (seeded generators)."""
from __future__ import annotations

import torch



def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]
