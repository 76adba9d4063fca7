"""Per-example learning statistics of forgetting-events (Toneva et al. 2019), from the records
taken each time an example is in a minibatch.

A *forgetting event* is a presentation at which an example is misclassified after being
classified correctly at its previous presentation. An example never classified correctly is
"forgotten infinitely often" (count = inf); an *unforgettable* example was learned and never
forgotten. Margins (correct logit − best other logit) are accumulated per example over all its
presentations — the authors' code returned only the last sample's margins; here every example's
own running sum is kept and tested.
"""
from __future__ import annotations

import numpy as np
import torch


class ForgettingTracker:
    """State per model m and example n of (M models, N examples each)."""

    def __init__(self, m: int, n: int, device="cpu"):
        self.last = torch.full((m, n), -1, dtype=torch.int8, device=device)  # -1 unseen, 0/1
        self.events = torch.zeros(m, n, dtype=torch.long, device=device)
        self.learned = torch.zeros(m, n, dtype=torch.bool, device=device)
        self.presented = torch.zeros(m, n, dtype=torch.long, device=device)
        self.margin_sum = torch.zeros(m, n, dtype=torch.float64, device=device)

    def update(self, idx: torch.Tensor, correct: torch.Tensor,
               margin: torch.Tensor | None = None, weight: torch.Tensor | None = None) -> None:
        """One minibatch: idx (M, B) example indices (distinct within a row), correct (M, B) bool
        from the forward pass of this step, margin (M, B) optional; weight (M, B): 0 marks
        unused slots (ignored)."""
        use = torch.ones_like(correct, dtype=torch.bool) if weight is None else weight > 0
        prev = self.last.gather(1, idx)
        cur = correct.to(torch.int8)
        forgot = (prev == 1) & (cur == 0) & use
        self.events.scatter_add_(1, idx, forgot.long())
        self.presented.scatter_add_(1, idx, use.long())
        self.learned.scatter_(1, idx, self.learned.gather(1, idx) | (correct & use))
        self.last.scatter_(1, idx, torch.where(use, cur, prev))
        if margin is not None:
            self.margin_sum.scatter_add_(1, idx, torch.where(use, margin.double(), 0.0))

    def counts(self) -> np.ndarray:
        """(M, N) forgetting counts, inf for examples never learned (nan if never presented)."""
        c = self.events.double().cpu().numpy()
        c[~self.learned.cpu().numpy()] = np.inf
        c[self.presented.cpu().numpy() == 0] = np.nan
        return c

    def mean_margin(self) -> np.ndarray:
        p = self.presented.double()
        return (self.margin_sum / p.clamp(min=1)).masked_fill(p == 0, float("nan")).cpu().numpy()


def margins(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Correct-class logit minus the largest other logit, (M, B)."""
    true = logits.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    other = logits.scatter(-1, y.unsqueeze(-1), float("-inf")).max(-1).values
    return true - other


def summed_counts(counts: np.ndarray, presentations: int) -> np.ndarray:
    """(N,) forgetting counts summed over runs (rows of `counts`, (R, N)), as the authors'
    `sort_examples_by_forgetting` does: a run that never learned an example adds `presentations`
    (its number of epochs) instead of inf; never-presented examples (nan) add nothing."""
    c = np.where(np.isinf(counts), float(presentations), counts)
    return np.nansum(c, axis=0)


def removal_order(counts: np.ndarray, margin: np.ndarray | None = None,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices from least to most forgotten (never-learned or nan last); ties broken by the
    larger mean margin first (the more confidently learned example goes first), then at random
    (`rng`) or by index."""
    keyed = np.where(np.isnan(counts), np.inf, counts)
    by_margin = np.zeros(len(keyed)) if margin is None else -np.nan_to_num(margin, nan=-np.inf)
    last = rng.random(len(keyed)) if rng is not None else np.arange(len(keyed))
    return np.lexsort((last, by_margin, keyed))
