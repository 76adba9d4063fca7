"""Helpers shared by the failures atoms' tests and their engine pieces (seeded generators)."""

import torch



def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
