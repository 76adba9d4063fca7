"""Architecture search on a tabular benchmark (as NAS-Bench-101, Ying et al. 2019): every
architecture of the space is trained once per seed, and searches are simulated on that table, so
a search's expected outcome at every budget is measured over many searches instead of one.

A search is a sequence of drawn architectures (indices into `space()`); a draw that repeats an
earlier architecture still costs a candidate, as it would cost a training in a live search.
"""
from __future__ import annotations

import itertools

import numpy as np

from ._architecture_search_space import (ACTIVATIONS, CHANNELS, CONV_LAYERS, DEPTHS, KERNELS,
                                         WIDTHS, Arch, Controller, choice_of, decode,
                                         uniform_choices)


def space() -> list[Arch]:
    """Every architecture of the search space once (252 MLPs, 270 CNNs), in a fixed order."""
    out = []
    for act in ACTIVATIONS:
        out += [Arch("mlp", w, act) for d in DEPTHS for w in itertools.product(WIDTHS, repeat=d)]
        out += [Arch("cnn", layers, act) for n in CONV_LAYERS
                for layers in itertools.product(itertools.product(CHANNELS, KERNELS), repeat=n)]
    return out


def _index() -> dict[tuple, int]:
    return {tuple(choice_of(a)): i for i, a in enumerate(space())}


def _lookup(choices: np.ndarray, index: dict) -> np.ndarray:
    """Decision vectors → indices into `space()` (unused decisions ignored)."""
    return np.array([index[tuple(choice_of(decode(c)))] for c in choices])


def random_searches(rng: np.random.Generator, searches: int, n: int) -> np.ndarray:
    """(searches, n) indices: each decision drawn uniformly (random search)."""
    index = _index()
    return _lookup(uniform_choices(rng, searches * n), index).reshape(searches, n)


def rl_searches(rng: np.random.Generator, val: np.ndarray, searches: int, rounds: int,
                per_round: int, lr: float, decay: float) -> np.ndarray:
    """(searches, rounds · per_round) indices drawn by fresh REINFORCE controllers, each
    rewarded by the table's validation accuracy `val` (indexed like `space()`)."""
    index, out = _index(), np.zeros((searches, rounds * per_round), dtype=int)
    for s in range(searches):
        ctrl = Controller(lr, decay)
        for r in range(rounds):
            picks = ctrl.sample(rng, per_round)
            idx = _lookup(picks, index)
            ctrl.update(picks, val[idx])
            out[s, r * per_round:(r + 1) * per_round] = idx
    return out


def best_so_far(draws: np.ndarray, val: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    """Per search and candidate count: the best validation accuracy so far, the test accuracy
    of that candidate (the first to reach it), and its rank in the space — the share of the
    space's architectures with a higher test accuracy (0 = the best of the space)."""
    v = val[draws]
    best = np.maximum.accumulate(v, axis=1)
    prev = np.concatenate([np.full((v.shape[0], 1), -np.inf), best[:, :-1]], axis=1)
    first = np.where(v > prev, np.arange(v.shape[1]), 0)  # a tie keeps the incumbent
    pick = np.take_along_axis(draws, np.maximum.accumulate(first, axis=1), axis=1)
    above = len(test) - np.searchsorted(np.sort(test), test[pick], side="right")
    rank = above / len(test)
    return {"best_val_so_far": best, "test_of_best_so_far": test[pick], "rank_of_best_so_far": rank}
