"""Architecture search on digits: the search space, a REINFORCE controller, and the brief
training of a batch of candidate MLPs as populations (one per depth).

A candidate is (depth, widths, activation). The controller (Zoph & Le 2017, without the RNN: one
independent softmax per decision) samples each decision from its logits and is updated by
REINFORCE with an exponential-moving-average baseline and Adam on the logits.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...engine import Adam, MLPPop, Sampler, gather, train

DEPTHS = (1, 2, 3)
WIDTHS = (16, 32, 64, 128)
ACTIVATIONS = ("relu", "tanh", "sigmoid")
# decision name -> number of choices; width_k is used only when depth > k
DECISIONS = (("depth", len(DEPTHS)), ("width_1", len(WIDTHS)), ("width_2", len(WIDTHS)),
             ("width_3", len(WIDTHS)), ("activation", len(ACTIVATIONS)))
HAND_DESIGNED = (2, (64, 64), "relu")  # a sensible default MLP: two hidden layers of 64, ReLU


def decode(choice: Sequence[int]) -> tuple[int, tuple[int, ...], str]:
    """Decision indices → (depth, hidden widths, activation)."""
    depth = DEPTHS[choice[0]]
    return depth, tuple(WIDTHS[c] for c in choice[1:1 + depth]), ACTIVATIONS[choice[4]]


def uniform_choices(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 5) decision indices drawn uniformly (random search)."""
    return np.stack([rng.integers(0, k, n) for _, k in DECISIONS], axis=1)


@dataclasses.dataclass
class Controller:
    """Independent softmax per decision; REINFORCE with an EMA baseline; Adam on the logits."""
    lr: float = 0.1
    baseline_decay: float = 0.9

    def __post_init__(self):
        self.logits = [np.zeros(k) for _, k in DECISIONS]
        self._m = [np.zeros(k) for _, k in DECISIONS]
        self._v = [np.zeros(k) for _, k in DECISIONS]
        self.t, self.baseline = 0, None

    def probs(self) -> list[np.ndarray]:
        return [np.exp(z - z.max()) / np.exp(z - z.max()).sum() for z in self.logits]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.stack([rng.choice(len(p), size=n, p=p) for p in self.probs()], axis=1)

    def update(self, choices: np.ndarray, rewards: np.ndarray) -> None:
        """One REINFORCE step (gradient ascent on E[R]) from a batch of (choices, rewards)."""
        mean = float(np.mean(rewards))
        self.baseline = mean if self.baseline is None else (
            self.baseline_decay * self.baseline + (1 - self.baseline_decay) * mean)
        adv = rewards - self.baseline
        self.t += 1
        for d, p in enumerate(self.probs()):
            onehot = np.eye(len(p))[choices[:, d]]                       # (n, k)
            g = -(adv[:, None] * (onehot - p)).mean(0)                   # ascent → minimise −J
            self._m[d] = 0.9 * self._m[d] + 0.1 * g
            self._v[d] = 0.999 * self._v[d] + 0.001 * g * g
            m_hat, v_hat = self._m[d] / (1 - 0.9 ** self.t), self._v[d] / (1 - 0.999 ** self.t)
            self.logits[d] = self.logits[d] - self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def _accuracy(pop: MLPPop, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return (pop(x).argmax(-1) == y).double().mean(1).cpu().numpy()


def train_candidates(archs: Sequence[tuple], gens_init, gens_batch, data, steps: int,
                     batch: int, lr: float, iterate=range) -> tuple[np.ndarray, np.ndarray]:
    """Train each candidate briefly (Adam, cross-entropy); returns (validation, test) accuracy,
    each (n,). One population per depth, padded to the space's widest layers by a throw-away
    member of maximal widths, so a candidate's numbers never depend on its companions."""
    x_tr, y_tr, x_va, y_va, x_te, y_te = data
    val, test = np.zeros(len(archs)), np.zeros(len(archs))
    for depth in sorted({a[0] for a in archs}):
        idx = [i for i, a in enumerate(archs) if a[0] == depth]
        sizes = [(x_tr.shape[1], *archs[i][1], 10) for i in idx] + [
            (x_tr.shape[1], *([max(WIDTHS)] * depth), 10)]
        acts = [archs[i][2] for i in idx] + ["relu"]
        gi = [gens_init[i] for i in idx] + [torch.Generator().manual_seed(0)]
        gb = [gens_batch[i] for i in idx] + [torch.Generator().manual_seed(1)]
        pop = MLPPop(sizes, gi, activation=acts, init="xavier_uniform",
                     device=x_tr.device)
        sampler = Sampler(gb, x_tr.shape[0], batch, "subset", device=x_tr.device)

        def loss(b, step):
            z = pop(gather(x_tr, b, shared=True))
            return F.cross_entropy(z.transpose(1, 2), gather(y_tr, b, shared=True),
                                   reduction="none")

        train(pop.params, loss, Adam(pop.params, lr=lr), steps, sampler=sampler, iterate=iterate)
        val[idx], test[idx] = _accuracy(pop, x_va, y_va)[:-1], _accuracy(pop, x_te, y_te)[:-1]
    return val, test
