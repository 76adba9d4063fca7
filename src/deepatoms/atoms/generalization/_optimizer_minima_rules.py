"""Private helper of optimizer-minima: one optimiser over a stacked population whose models each
follow their own update rule (SGD, momentum, RMSprop, Adam, Adadelta), and may switch rule
mid-training.

Each rule's state is a full-size (M, ...) tensor per parameter, zero for models that never used
it, so a model switched to a new rule starts it exactly as a freshly built optimiser would
(torch's momentum buffer starts at g, which is 0·μ + g; RMSprop, Adam and Adadelta start their
averages at zero; Adam counts its own steps per model). The formulas are torch.optim's
(default hyper-parameters except the learning rates), written with single-rounding operations
only (no addcmul/lerp/alpha=), so a model's update is bitwise the same whatever the size of its
rule's group — a seed alone or in a population gets the same numbers.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch

RULES = ("sgd", "momentum", "rmsprop", "adam", "adadelta")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "rmsprop": 1e-3, "adam": 1e-3, "adadelta": 1.0}
MOMENTUM, RMS_ALPHA, ADAM_BETAS, ADADELTA_RHO = 0.9, 0.99, (0.9, 0.999), 0.9
EPS = {"rmsprop": 1e-8, "adam": 1e-8, "adadelta": 1e-6}


def _rows(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return t.view(-1, *([1] * (p.dim() - 1)))


class RuleOptimizer:
    """`rules[i]`: model i's update rule; `lr`: rule → learning rate. `switch(rules)` changes
    some models' rules from the next step on (their new rule's state starts fresh)."""

    def __init__(self, params: Sequence[torch.Tensor], rules: Sequence[str],
                 lr: Mapping[str, float]):
        self.params = list(params)
        self.lr = dict(lr)
        self.state = {r: [[torch.zeros_like(p) for p in self.params] for _ in range(2)]
                      for r in RULES}
        self.adam_t = [0] * self.params[0].shape[0]
        self.switch(rules)

    def switch(self, rules: Sequence[str]) -> None:
        unknown = set(rules) - set(RULES)
        if unknown:
            raise ValueError(f"unknown rules {sorted(unknown)}; allowed: {', '.join(RULES)}")
        self.rules = list(rules)
        dev = self.params[0].device
        self.groups = {r: torch.tensor([i for i, x in enumerate(rules) if x == r], device=dev)
                       for r in RULES if r in rules}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for rule, idx in self.groups.items():
            factor = self._adam_factors(idx) if rule == "adam" else None
            for k, p in enumerate(self.params):
                g = p.grad[idx] if p.grad is not None else torch.zeros_like(p[idx])
                s0, s1 = self.state[rule][0][k], self.state[rule][1][k]
                p[idx] = p[idx] - self._update(rule, g, s0, s1, idx, factor, p)

    def _adam_factors(self, idx: torch.Tensor):
        steps = []
        for i in idx.tolist():
            self.adam_t[i] += 1
            steps.append(self.adam_t[i])
        lr = self.lr["adam"]
        b1, b2 = ADAM_BETAS
        size = [lr / (1 - b1 ** t) for t in steps]
        root = [math.sqrt(1 - b2 ** t) for t in steps]
        dev, dt = self.params[0].device, self.params[0].dtype
        return torch.tensor(size, device=dev, dtype=dt), torch.tensor(root, device=dev, dtype=dt)

    def _update(self, rule, g, s0, s1, idx, factor, p) -> torch.Tensor:
        lr = self.lr[rule]
        if rule == "sgd":
            return g * lr
        if rule == "momentum":
            buf = s0[idx] * MOMENTUM + g
            s0[idx] = buf
            return buf * lr
        sq = g * g
        if rule == "rmsprop":
            v = s0[idx] * RMS_ALPHA + sq * (1 - RMS_ALPHA)
            s0[idx] = v
            return g * lr / (v.sqrt() + EPS[rule])
        if rule == "adam":
            b1, b2 = ADAM_BETAS
            m = s0[idx] * b1 + g * (1 - b1)
            v = s1[idx] * b2 + sq * (1 - b2)
            s0[idx], s1[idx] = m, v
            size, root = factor
            return m * _rows(size, p) / (v.sqrt() / _rows(root, p) + EPS[rule])
        v = s0[idx] * ADADELTA_RHO + sq * (1 - ADADELTA_RHO)           # adadelta
        delta = (s1[idx] + EPS[rule]).sqrt() / (v + EPS[rule]).sqrt() * g
        s0[idx] = v
        s1[idx] = s1[idx] * ADADELTA_RHO + delta * delta * (1 - ADADELTA_RHO)
        return delta * lr
