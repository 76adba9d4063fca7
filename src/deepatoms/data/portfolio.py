"""The synthetic portfolio task of Shalev-Shwartz et al. 2017 §3.2 (authors' code version).

Inputs are the d one-hot vectors e_j (j uniform); input j has a fixed "best asset" y_j among k.
Per sample, the return vector z ∈ {±1}^k has z_{y_j} = 1 and every other entry uniform ±1, so
E[z] = e_{y_j}: the expected return of a portfolio p is p_{y_j}.
"""
from __future__ import annotations

from typing import Sequence

import torch


def best_assets(gen: torch.Generator, d: int, k: int) -> torch.Tensor:
    """y_j ~ U{0..k−1} for each of the d inputs: (d,) int64."""
    return torch.randint(0, k, (d,), generator=gen)


def sample_returns(gen: torch.Generator, best: torch.Tensor, k: int) -> torch.Tensor:
    """z for each entry of `best` (n,): (n, k) float32 in {±1} with z[i, best[i]] = 1."""
    z = torch.randint(0, 2, (best.shape[0], k), generator=gen, dtype=torch.int8).to(torch.float32)
    z = z * 2 - 1
    z[torch.arange(best.shape[0]), best] = 1.0
    return z


class PortfolioStream:
    """Fresh samples for P independent tasks sharing d and k: `next()` →
    (j (P, B) input indices, y (P, B) best assets, z (P, B, k) returns).

    Task p has its own best-asset table bests[p] (d,) and draws only from gens[p].
    """

    def __init__(self, gens: Sequence[torch.Generator], bests: Sequence[torch.Tensor], k: int,
                 batch: int, device: torch.device | str = "cpu"):
        self.gens, self.k, self.batch = list(gens), k, batch
        self.bests = torch.stack(list(bests))  # (P, d)
        self.d = self.bests.shape[1]
        self.device = torch.device(device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        js, zs = [], []
        for p, g in enumerate(self.gens):
            j = torch.randint(0, self.d, (self.batch,), generator=g)
            js.append(j)
            zs.append(sample_returns(g, self.bests[p, j], self.k))
        j = torch.stack(js)
        y = torch.gather(self.bests, 1, j)
        to = dict(device=self.device)
        return j.to(**to), y.to(**to), torch.stack(zs).to(**to)
