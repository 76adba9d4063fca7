"""The functional MLP over stacked weights that the generalization atoms share (the layout of
`engine.MLPPop`: layer l weight (M, n_l, n_{l+1}), bias (M, 1, n_{l+1})), with a choice of
hidden activation, optional per-model dropout masks and, for EWC's Fisher, every layer's inputs
and pre-activations; the per-example cross-entropy (optionally over a task's allowed outputs
only), accuracy, error counts and mean losses over a data set, in chunks of rows.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ...engine import ACTIVATIONS

Tensors = Sequence[torch.Tensor]


def forward(ws: Tensors, bs: Tensors, x: torch.Tensor, activation: str = "relu",
            keep: Sequence[torch.Tensor | None] | None = None, return_all: bool = False):
    """Logits (M, B, out). x (M, B, d) per model or (B, d) shared by every model. `keep[l]`
    multiplies the input of layer l (inverted dropout masks, already scaled, broadcastable to
    it), or None. With `return_all`: (logits, inputs of every layer, pre-activations of every
    layer)."""
    act = ACTIVATIONS[activation]
    h = x.expand(ws[0].shape[0], *x.shape) if x.dim() == 2 else x
    inputs, pre = [], []
    last = len(ws) - 1
    for l, (w, b) in enumerate(zip(ws, bs)):
        if keep is not None and keep[l] is not None:
            h = h * keep[l]
        z = torch.baddbmm(b, h, w)
        if return_all:
            inputs.append(h)
            pre.append(z)
        h = z if l == last else act(z)
    return (h, inputs, pre) if return_all else h


def dropout_masks(gens: Sequence[torch.Generator], batch: int, widths: Sequence[int],
                  rates: Sequence[float], device) -> list[torch.Tensor]:
    """Inverted-dropout keep masks (M, B, n_l) for the inputs of each layer; model i's masks
    come from its own generator (so they do not depend on the population). rate 0 → ones."""
    out = []
    for width, rate in zip(widths, rates):
        if rate == 0:
            out.append(None)
            continue
        u = torch.stack([torch.rand(batch, width, generator=g) for g in gens])
        out.append(((u >= rate).float() / (1 - rate)).to(device))
    return out


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example softmax cross-entropy (M, B); y (M, B) long."""
    return -F.log_softmax(logits, -1).gather(-1, y.unsqueeze(-1)).squeeze(-1)


def masked_nll(logits: torch.Tensor, y: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Per-example cross-entropy (M, B) over the allowed logits only (`allowed` (M, B, C) bool,
    or None for all): a task-incremental ("multi-head") loss when each task owns some outputs."""
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    return cross_entropy(logits, y)


def correct(logits: torch.Tensor, y: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """(M, B) bool: the argmax over the allowed logits is the label."""
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    return logits.argmax(-1) == y


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, temperature: float
                       ) -> torch.Tensor:
    """Per-example cross-entropy (M, B) of softmax(logits / T) against probability `targets`
    (M, B, C). Its gradient w.r.t. the logits is (q − p) / T, hence the T² factor in
    distillation to keep it on the scale of the hard term."""
    return -(targets * F.log_softmax(logits / temperature, -1)).sum(-1)


@torch.no_grad()
def error_counts(ws: Tensors, bs: Tensors, x: torch.Tensor, y: torch.Tensor,
                 activation: str = "relu", chunk: int = 4096) -> torch.Tensor:
    """(M,) misclassified examples of a shared set x (N, d), y (N,), in chunks of rows."""
    wrong = torch.zeros(ws[0].shape[0], dtype=torch.long, device=x.device)
    for a in range(0, x.shape[0], chunk):
        pred = forward(ws, bs, x[a:a + chunk], activation).argmax(-1)
        wrong += (pred != y[a:a + chunk]).sum(1)
    return wrong


@torch.no_grad()
def mean_loss(ws: Tensors, bs: Tensors, x: torch.Tensor, y: torch.Tensor,
              activation: str = "relu", chunk: int = 4096) -> torch.Tensor:
    """(M,) mean cross-entropy on a shared set x (N, d), y (N,)."""
    total = torch.zeros(ws[0].shape[0], dtype=x.dtype, device=x.device)
    for a in range(0, x.shape[0], chunk):
        logits = forward(ws, bs, x[a:a + chunk], activation)
        yy = y[a:a + chunk].expand(logits.shape[0], -1)
        total += cross_entropy(logits, yy).sum(1)
    return total / x.shape[0]


@torch.no_grad()
def loss_and_accuracy(logits_of, x: torch.Tensor, y: torch.Tensor, chunk: int = 2048
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy (M,) over a whole data set, in chunks of rows.
    `logits_of(x_chunk)` → (M, b, classes); x (N, d) shared or (M, N, d); y (N,) or (M, N)."""
    n = x.shape[-2]
    total_loss, total_hits = 0.0, 0.0
    for a in range(0, n, chunk):
        xs = x[..., a:a + chunk, :]
        logits = logits_of(xs)
        ys = (y[..., a:a + chunk]).expand(logits.shape[:2])
        nll = cross_entropy(logits, ys)
        # one 1-D sum per model: a reduction over an (M, b) block may round differently with M
        total_loss = total_loss + torch.stack([row.sum() for row in nll])
        total_hits = total_hits + (logits.argmax(-1) == ys).sum(1).to(logits.dtype)
    return total_loss / n, total_hits / n


class MaxNorm:
    """Wraps a population optimiser: after each step every unit's incoming weight vector
    (a column of a weight (M, n_in, n_out)) is scaled down to norm ≤ `limit` (the weight
    constraint of dropout nets, Srivastava et al. 2014)."""

    def __init__(self, optimizer, weights: Sequence[torch.Tensor], limit: float):
        self.optimizer, self.weights, self.limit = optimizer, list(weights), float(limit)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    @torch.no_grad()
    def step(self) -> None:
        self.optimizer.step()
        for w in self.weights:
            norm = w.norm(dim=1, keepdim=True)                     # (M, 1, n_out)
            w.mul_(torch.clamp(self.limit / torch.clamp(norm, min=1e-12), max=1.0))
