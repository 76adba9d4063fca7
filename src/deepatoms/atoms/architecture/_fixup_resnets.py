"""Populations of deep residual MLPs with three initialisations, for the fixup atom.

Model: h₀ = ReLU(x W_in + b_in) (64 → w), then L blocks h ← ReLU(h + branch(h)), then logits =
(h + c) W_out + b_out. Branches (m = 2 layers each), as in Zhang et al.'s reference ResNet block:
- standard: W₂ ReLU(W₁ h + b₁) + b₂, He-normal W₁, W₂, zero biases, no normalisation;
- fixup: s · W₂ (ReLU(W₁ (h + a₁) + a₂) + a₃) + a₄ with scalar biases a (0) and multiplier s (1),
  W₁ He-normal × L^(−1/(2m−2)) = L^(−1/2), W₂ = 0, and W_out = 0, b_out = 0, c = 0;
- batchnorm: BN₂(W₂ ReLU(BN₁(W₁ h))), He-normal W₁, W₂, γ = 1, β = 0 (batch statistics of each
  model's own minibatch in training, running averages with momentum 0.1 at test time).
W_in He-normal, W_out U(±1/√w) except Fixup's. Stacked over M models: block weights (M, L, w, w).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

SCHEMES = ("standard", "fixup", "batchnorm")
EPS, MOMENTUM = 1e-5, 0.1
SCALARS = ("a1", "a2", "a3", "a4", "s", "c")
LAYERED = ("w1", "w2", "b1", "b2", "a1", "a2", "a3", "a4", "s", "g1", "g2", "be1", "be2")


def _he(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=gen) * math.sqrt(2.0 / shape[-2])


def _member(scheme: str, depth: int, width: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    t = {"w_in": _he(gen, 64, width), "b_in": torch.zeros(1, width),
         "w1": _he(gen, depth, width, width), "w2": _he(gen, depth, width, width)}
    bound = 1.0 / math.sqrt(width)
    t["w_out"] = (torch.rand(width, 10, generator=gen) * 2 - 1) * bound
    t["b_out"] = torch.zeros(1, 10)
    if scheme == "standard":
        t["b1"], t["b2"] = torch.zeros(depth, 1, width), torch.zeros(depth, 1, width)
    elif scheme == "fixup":
        t["w1"] = t["w1"] * depth ** (-1.0 / (2 * 2 - 2))
        t["w2"] = torch.zeros(depth, width, width)
        t["w_out"], t["b_out"] = torch.zeros(width, 10), torch.zeros(1, 10)
        t.update({k: torch.zeros(depth, 1, 1) for k in SCALARS[:4]}, s=torch.ones(depth, 1, 1),
                 c=torch.zeros(1, 1))
    else:
        for k in ("g1", "g2"):
            t[k] = torch.ones(depth, 1, width)
        for k in ("be1", "be2"):
            t[k] = torch.zeros(depth, 1, width)
    return t


class ResMLPPop:
    """M residual MLPs of one scheme and depth; `tensors` are stacked leaves (M, ...)."""

    def __init__(self, scheme: str, depth: int, width: int, gens: Sequence[torch.Generator],
                 device: torch.device | str = "cpu"):
        self.scheme, self.depth, self.m = scheme, depth, len(gens)
        self.momentum = MOMENTUM  # of the running statistics (1: replace them by the batch's)
        members = [_member(scheme, depth, width, g) for g in gens]
        self.tensors = {k: torch.stack([mem[k] for mem in members]).to(device).requires_grad_()
                        for k in members[0]}
        shape = (self.m, depth, 1, width)
        self.running = ({k: torch.zeros(shape, device=device) for k in ("mean1", "mean2")}
                        | {k: torch.ones(shape, device=device) for k in ("var1", "var2")})

    def groups(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(weights, scalars): Fixup's scalar biases and multipliers get their own learning rate."""
        scal = [v for k, v in self.tensors.items() if k in SCALARS]
        return [v for k, v in self.tensors.items() if k not in SCALARS], scal

    def _bn(self, t, h, l: int, k: str, train: bool, update: bool) -> torch.Tensor:
        gamma, beta = t[f"g{k}"], t[f"be{k}"]
        if not train:
            mean, var = self.running[f"mean{k}"][:, l], self.running[f"var{k}"][:, l]
            return (h - mean) * torch.rsqrt(var + EPS) * gamma + beta
        mean = h.mean(dim=1, keepdim=True)
        centred = h - mean
        var = (centred * centred).mean(dim=1, keepdim=True)
        if update:
            n = h.shape[1]
            with torch.no_grad():
                self.running[f"mean{k}"][:, l].lerp_(mean, self.momentum)
                self.running[f"var{k}"][:, l].lerp_(var * (n / (n - 1)), self.momentum)
        return centred * torch.rsqrt(var + EPS) * gamma + beta

    def running_stat(self, name: str) -> torch.Tensor:
        """A running statistic ("mean1", "var2", ...) as (M, L, w)."""
        return self.running[name][:, :, 0]

    def block(self, t, h: torch.Tensor, l: int, train: bool = True, update: bool = True):
        """h (M, B, w) → block l's output."""
        return self._block({k: t[k][:, l] for k in self.per_layer(t)}, h, l, train, update)

    @staticmethod
    def per_layer(t) -> list[str]:
        """The keys of `t` that hold one tensor per block (dimension 1)."""
        return [k for k in t if k in LAYERED]

    def _block(self, t, h: torch.Tensor, l: int, train: bool, update: bool) -> torch.Tensor:
        """h (M, B, w) → the block's output; `t` holds block l's own tensors."""
        w1, w2 = t["w1"], t["w2"]
        if self.scheme == "standard":
            r = torch.relu(torch.bmm(h, w1) + t["b1"])
            r = torch.bmm(r, w2) + t["b2"]
        elif self.scheme == "fixup":
            r = torch.relu(torch.bmm(h + t["a1"], w1) + t["a2"])
            r = torch.bmm(r + t["a3"], w2) * t["s"] + t["a4"]
        else:
            r = torch.relu(self._bn(t, torch.bmm(h, w1), l, "1", train, update))
            r = self._bn(t, torch.bmm(r, w2), l, "2", train, update)
        return torch.relu(h + r)

    def stem(self, t, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.bmm(x, t["w_in"]) + t["b_in"])

    def head(self, t, h: torch.Tensor) -> torch.Tensor:
        if self.scheme == "fixup":
            h = h + t["c"]
        return torch.bmm(h, t["w_out"]) + t["b_out"]

    def forward(self, x: torch.Tensor, train: bool = True, tensors=None, update: bool = True):
        """x (M, B, 64) → logits (M, B, 10)."""
        t = tensors if tensors is not None else self.tensors
        # Split the stacked block tensors once: indexing [:, l] in every block would make the
        # backward pass write a full-size zero gradient per block (quadratic in depth).
        split = {k: t[k].unbind(1) for k in self.per_layer(t)}
        h = self.stem(t, x)
        for l in range(self.depth):
            h = self._block({k: v[l] for k, v in split.items()}, h, l, train, update)
        return self.head(t, h)

    __call__ = forward
