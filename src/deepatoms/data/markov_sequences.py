"""The generated sequence tasks of lightweight-convolution: order-2 Markov sources.

Per seed: a vocabulary of V tokens and, for every context (a, b) = (x_{t−lag}, x_{t−1}), a
next-token distribution P(· | a, b) ~ Dirichlet(α·1). Sequences start with `lag` uniform tokens.
With lag 2 (the default) next-token prediction has purely local structure (the last two tokens);
a larger lag makes a dependency longer than a short convolution kernel can see. The best possible
test loss is known exactly: the mean of −log P(x_t | x_{t−lag}, x_{t−1}) over the test positions
t ≥ lag (`oracle_loss`), which every model's loss is judged against.
"""
from __future__ import annotations

import dataclasses

import numpy as np

CONTEXT = 2  # positions before t that the source conditions on


@dataclasses.dataclass(frozen=True)
class MarkovTask:
    train: np.ndarray       # (N_train, L) int64 tokens
    test: np.ndarray        # (N_test, L)
    table: np.ndarray       # (V, V, V): P(c | a, b)
    lag: int = CONTEXT      # a = x_{t−lag}, b = x_{t−1}

    def oracle_loss(self) -> float:
        """Mean −log P(x_t | x_{t−lag}, x_{t−1}) over the test positions t ≥ lag (nats)."""
        x, k = self.test, self.lag
        p = self.table[x[:, :-k], x[:, k - 1:-1], x[:, k:]]
        return float(-np.log(p).mean())


def markov_task(rng: np.random.Generator, vocab: int, alpha: float, length: int,
                n_train: int, n_test: int, lag: int = CONTEXT) -> MarkovTask:
    if not 2 <= lag < length:
        raise ValueError(f"lag must be in [2, length), got {lag}")
    table = rng.dirichlet(np.full(vocab, alpha), size=(vocab, vocab))
    table = np.maximum(table, 1e-12)
    table /= table.sum(axis=-1, keepdims=True)
    seqs = _sample(rng, table, n_train + n_test, length, lag)
    return MarkovTask(seqs[:n_train], seqs[n_train:], table, lag)


def _sample(rng: np.random.Generator, table: np.ndarray, n: int, length: int,
            lag: int) -> np.ndarray:
    vocab = table.shape[0]
    x = np.empty((n, length), dtype=np.int64)
    x[:, :lag] = rng.integers(0, vocab, size=(n, lag))
    cum = np.cumsum(table, axis=-1)
    for t in range(lag, length):
        c = cum[x[:, t - lag], x[:, t - 1]]                     # (n, V)
        u = rng.random((n, 1))
        x[:, t] = np.minimum((u > c).sum(axis=1), vocab - 1)
    return x
