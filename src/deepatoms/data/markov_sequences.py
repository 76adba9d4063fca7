"""The generated sequence task of lightweight-convolution: an order-2 Markov source.

Per seed: a vocabulary of V tokens and, for every context (a, b) of the two previous tokens, a
next-token distribution P(· | a, b) ~ Dirichlet(α·1). Sequences start with two uniform tokens.
Next-token prediction therefore has purely local structure (the last two tokens), and the
best possible test loss is known exactly: the mean of −log P(x_t | x_{t−2}, x_{t−1}) over the
test positions t ≥ 2 (`oracle_loss`), which every model's loss is judged against.
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

    def oracle_loss(self) -> float:
        """Mean −log P(x_t | x_{t−2}, x_{t−1}) over the test positions t ≥ 2 (nats)."""
        x = self.test
        p = self.table[x[:, :-2], x[:, 1:-1], x[:, 2:]]
        return float(-np.log(p).mean())


def markov_task(rng: np.random.Generator, vocab: int, alpha: float, length: int,
                n_train: int, n_test: int) -> MarkovTask:
    table = rng.dirichlet(np.full(vocab, alpha), size=(vocab, vocab))
    table = np.maximum(table, 1e-12)
    table /= table.sum(axis=-1, keepdims=True)
    seqs = _sample(rng, table, n_train + n_test, length)
    return MarkovTask(seqs[:n_train], seqs[n_train:], table)


def _sample(rng: np.random.Generator, table: np.ndarray, n: int, length: int) -> np.ndarray:
    vocab = table.shape[0]
    x = np.empty((n, length), dtype=np.int64)
    x[:, :CONTEXT] = rng.integers(0, vocab, size=(n, CONTEXT))
    cum = np.cumsum(table, axis=-1)
    for t in range(CONTEXT, length):
        c = cum[x[:, t - 2], x[:, t - 1]]                       # (n, V)
        u = rng.random((n, 1))
        x[:, t] = np.minimum((u > c).sum(axis=1), vocab - 1)
    return x
