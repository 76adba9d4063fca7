"""Private model helpers of the robustness atoms: a small convolutional network over stacked
per-model weights, and one minibatch training loop for any population (through `engine.train`).

Every layer is one matrix product per model (`affine`): torch's batched `baddbmm` rounds a
model's product differently depending on how many models share the call (~1e-9, found by the
alone-vs-batch test), a per-model `addmm` does not; the CNN's convolutions are likewise one
`conv2d` per model. Shapes: M models, B images, 1 channel, side S.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ...engine import Sampler, gather, train
from ...engine.fused_adam import FusedAdam
from ...lab import Lab

Forward = Callable[[torch.Tensor], torch.Tensor]


def affine(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h (M, B, n) · w (M, n, n') + b (M, 1, n') → (M, B, n'), one `addmm` per model."""
    return torch.stack([torch.addmm(b[i], h[i], w[i]) for i in range(w.shape[0])])


def mlp_logits(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor],
               x: torch.Tensor) -> torch.Tensor:
    """ReLU MLP over stacked weights (M, n_l, n_{l+1}) (e.g. an `engine.MLPPop`'s):
    x (M, B, d), or (B, d) shared → logits (M, B, out)."""
    h = x.expand(weights[0].shape[0], *x.shape) if x.dim() == 2 else x
    last = len(weights) - 1
    for l, (w, b) in enumerate(zip(weights, biases)):
        h = affine(h, w, b)
        h = h if l == last else torch.relu(h)
    return h


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy: logits (M, B, C), y (M, B) or (B,) → (M, B)."""
    m, b, c = logits.shape
    y = y.expand(m, b) if y.dim() == 1 else y
    return F.cross_entropy(logits.reshape(m * b, c), y.reshape(-1), reduction="none").view(m, b)


def fit(params: Sequence[torch.Tensor], loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        x: torch.Tensor, y: torch.Tensor, gens: Sequence[torch.Generator], lab: Lab, *,
        steps: int, batch: int, lr: float, description: str, rows: torch.Tensor | None = None,
        record: Callable[[int], None] | None = None, record_every: int = 0) -> None:
    """Adam (per-model fused kernel) on minibatches of the shared training set x (N, ...),
    y (N,): `loss(xb (M, B, ...), yb (M, B))` → per-example losses (M, B). One generator per
    model draws its batches ("epoch" mode: a permutation per epoch) — of all N rows, or of each
    model's own training rows `rows` (M, n). `record(step)` runs after every `record_every`
    steps."""
    n = len(y) if rows is None else rows.shape[1]
    sampler = Sampler(gens, n, min(batch, n), "epoch", device=x.device)

    def step_loss(idx: torch.Tensor, _step: int) -> torch.Tensor:
        picked = idx if rows is None else rows.gather(1, idx)
        return loss(gather(x, picked, shared=True), gather(y, picked, shared=True))

    train(params, step_loss, FusedAdam(params, lr=lr, per_model=True), steps, sampler=sampler,
          record=record, record_at=range(record_every, steps + 1, record_every) if record else (),
          iterate=lambda n: lab.steps(n, description))


@dataclasses.dataclass
class ConvPop:
    """M CNNs: conv3×3(1→c1) → act → avgpool2 → conv3×3(c1→c2) → act → avgpool2 → linear(→10).
    Weights stacked: conv l (M, k·k·c_in, c_out), bias (M, 1, c_out); head (M, c2·(S/4)², 10).
    `act(h)` is the nonlinearity (ReLU to train; a softplus surrogate for second derivatives)."""
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    side: int
    channels: tuple[int, int]

    @classmethod
    def create(cls, gens: Sequence[torch.Generator], side: int, channels: tuple[int, int] = (8, 16),
               classes: int = 10, device: torch.device | str = "cpu") -> "ConvPop":
        c1, c2 = channels
        fans = [(9, c1), (9 * c1, c2), (c2 * (side // 4) ** 2, classes)]
        ws, bs = [], []
        for fan_in, fan_out in fans:  # torch's default (Kaiming-uniform a=√5 → U(±1/√fan_in))
            bound = 1.0 / math.sqrt(fan_in)
            ws.append(torch.stack([(torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound
                                   for g in gens]))
            bs.append(torch.stack([(torch.rand(1, fan_out, generator=g) * 2 - 1) * bound
                                   for g in gens]))
        ws = [w.to(device).requires_grad_() for w in ws]
        bs = [b.to(device).requires_grad_() for b in bs]
        return cls(ws, bs, side, channels)

    @property
    def params(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def _conv(self, h: torch.Tensor, layer: int, side: int) -> torch.Tensor:
        """h (M, B, C, s, s) → (M, B, C', s, s), 3×3, zero padding 1: one `conv2d` per model
        (2.4× faster than im2col + matmul here, and like `affine` the same alone or batched).
        Stored weight (9C, C') is the im2col layout; its transpose reshapes to (C', C, 3, 3)."""
        c, w, b = h.shape[2], self.weights[layer], self.biases[layer]
        return torch.stack([F.conv2d(h[i], w[i].T.reshape(-1, c, 3, 3), b[i, 0], padding=1)
                            for i in range(w.shape[0])])

    @staticmethod
    def _pool(h: torch.Tensor) -> torch.Tensor:
        m, b, c, s, _ = h.shape
        return h.view(m, b, c, s // 2, 2, s // 2, 2).mean(dim=(4, 6))

    def forward(self, x: torch.Tensor, act: Callable[[torch.Tensor], torch.Tensor] = torch.relu
                ) -> torch.Tensor:
        """x (M, B, 1, S, S) per model (or (B, 1, S, S) shared) → logits (M, B, 10)."""
        m = self.weights[0].shape[0]
        h = x.expand(m, *x.shape) if x.dim() == 4 else x
        s = self.side
        h = self._pool(act(self._conv(h, 0, s)))
        h = self._pool(act(self._conv(h, 1, s // 2)))
        flat = h.reshape(m, h.shape[1], -1)
        return affine(flat, self.weights[2], self.biases[2])

    __call__ = forward


def softplus(beta: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """softplus(βh)/β: a smooth stand-in for ReLU (→ ReLU as β → ∞) whose Hessian exists."""
    return lambda h: F.softplus(h, beta=beta)
