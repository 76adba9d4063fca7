"""Populations of one-block causal sequence models whose token mixer is self-attention, a
lightweight convolution or a dynamic convolution (Wu et al. 2019), for lightweight-convolution.

Every model: token embedding (V, d) → h + mixer(LN(h)) → h + FFN(LN(h)) (d → 2d → d, ReLU) →
linear read-out to V logits; LN has no affine parameters. Mixers, on u (M, B, L, d):
- attention: H heads, Q/K/V/O projections (4d² + 4d), causal mask, sinusoidal positions added to
  the embedding (no parameters);
- light: GLU input projection d → 2d, then out_t = Σ_k softmax(w_h)_k u_{t−K+1+k} per channel,
  one K-tap kernel per head shared by its d/H channels (H·K weights), output projection d → d;
- dynamic: as light, but the kernel of every position is predicted from that position,
  softmax(W_k u_t) (d·H·K + H·K weights).
All tensors carry a leading model dimension M; member i is drawn from generator i alone.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

MIXERS = ("attention", "light", "dynamic")


def _shapes(mixer: str, vocab: int, d: int, heads: int, kernel: int) -> dict[str, tuple[int, ...]]:
    shapes = {"embed": (vocab, d), "ff1": (d, 2 * d), "ff1_b": (2 * d,), "ff2": (2 * d, d),
              "ff2_b": (d,), "out": (d, vocab), "out_b": (vocab,)}
    if mixer == "attention":
        shapes.update({f"w{n}": (d, d) for n in "qkvo"}, **{f"w{n}_b": (d,) for n in "qkvo"})
        return shapes
    shapes.update(win=(d, 2 * d), win_b=(2 * d,), wo=(d, d), wo_b=(d,))
    if mixer == "light":
        shapes["kernel"] = (heads, kernel)
    else:
        shapes.update(wdyn=(d, heads * kernel), wdyn_b=(heads * kernel,))
    return shapes


def _draw(name: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    if name == "embed":
        return torch.randn(shape, generator=gen)
    if name == "kernel":
        return torch.zeros(shape)  # uniform softmax kernel at the start
    if len(shape) == 1:
        return torch.zeros(shape)  # biases
    bound = 1.0 / math.sqrt(shape[0])  # weights (fan_in, fan_out): U(±1/√fan_in)
    return (torch.rand(shape, generator=gen) * 2 - 1) * bound


class MixerPop:
    """M models with one mixer; `params` are stacked leaf tensors (M, ...)."""

    def __init__(self, mixer: str, gens: Sequence[torch.Generator], vocab: int, d: int,
                 heads: int, kernel: int, device: torch.device | str = "cpu"):
        self.mixer, self.m, self.d, self.heads, self.kernel = mixer, len(gens), d, heads, kernel
        shapes = _shapes(mixer, vocab, d, heads, kernel)
        members = [{k: _draw(k, s, g) for k, s in shapes.items()} for g in gens]
        self.tensors = {k: torch.stack([mem[k] for mem in members]).to(device).requires_grad_()
                        for k in shapes}

    @property
    def params(self) -> list[torch.Tensor]:
        return list(self.tensors.values())

    def n_params(self) -> int:
        """Parameters of one member."""
        return sum(t[0].numel() for t in self.tensors.values())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (M, B, L) → logits (M, B, L, V)."""
        p = self.tensors
        m, b, length = tokens.shape
        vocab = p["embed"].shape[1]
        offset = (torch.arange(m, device=tokens.device) * vocab).view(m, 1, 1)
        h = p["embed"].reshape(m * vocab, self.d)[tokens + offset]          # (M, B, L, d)
        if self.mixer == "attention":
            h = h + sinusoid(length, self.d, h.device, h.dtype)
        h = h + mix(self.mixer, p, _ln(h), self.heads, self.kernel)
        ff = torch.relu(linear(_ln(h), p["ff1"], p["ff1_b"]))
        h = h + linear(ff, p["ff2"], p["ff2_b"])
        return linear(h, p["out"], p["out_b"])

    __call__ = forward


def _ln(x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:])


def per_model(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a[i] @ b[i] for every model i, one product each: a batched product over the model
    dimension may pick a kernel (and rounding) that depends on M, so a seed's numbers would
    depend on the seeds trained with it."""
    return torch.stack([a[i] @ b[i] for i in range(a.shape[0])])


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x (M, ..., n) @ w (M, n, k) + b (M, k)."""
    m, n = x.shape[0], x.shape[-1]
    y = per_model(x.reshape(m, -1, n), w) + b.unsqueeze(1)
    return y.reshape(*x.shape[:-1], w.shape[-1])


def sinusoid(length: int, d: int, device, dtype) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float64).unsqueeze(1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, device=device,
                                                      dtype=torch.float64) / d)
    pe = torch.zeros(length, d, device=device, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe.to(dtype)


def mix(mixer: str, p: dict[str, torch.Tensor], u: torch.Tensor, heads: int, kernel: int
        ) -> torch.Tensor:
    """The token mixer on u (M, B, L, d) → (M, B, L, d)."""
    if mixer == "attention":
        return _attention(p, u, heads)
    g = linear(u, p["win"], p["win_b"])
    g = g[..., : u.shape[-1]] * torch.sigmoid(g[..., u.shape[-1]:])     # GLU
    m, b, length, d = g.shape
    g = g.view(m, b, length, heads, d // heads)
    if mixer == "light":
        w = torch.softmax(p["kernel"], dim=-1).view(m, 1, 1, heads, 1, kernel)   # (M, ., ., H, ., K)
    else:
        w = torch.softmax(linear(g.reshape(m, b, length, d), p["wdyn"], p["wdyn_b"])
                          .view(m, b, length, heads, kernel), -1).unsqueeze(-2)  # (M, B, L, H, 1, K)
    # causal taps, summed in a fixed order (elementwise, so no kernel choice depends on M):
    # out_t = Σ_k w_k · g_{t − (K − 1 − k)}
    out = torch.zeros_like(g)
    for k in range(kernel):
        shift = kernel - 1 - k
        past = F.pad(g, (0, 0, 0, 0, shift, 0))[:, :, :length] if shift else g
        out = out + w[..., k] * past
    return linear(out.reshape(m, b, length, d), p["wo"], p["wo_b"])


def _attention(p: dict[str, torch.Tensor], u: torch.Tensor, heads: int) -> torch.Tensor:
    m, b, length, d = u.shape

    def split(name: str) -> torch.Tensor:  # (M, B, H, L, d/H)
        return linear(u, p[name], p[name + "_b"]).view(m, b, length, heads, -1).transpose(2, 3)

    q, k, v = split("wq"), split("wk"), split("wv")
    scores = per_model(q, k.transpose(-1, -2)) / math.sqrt(d // heads)    # (M, B, H, L, L)
    causal = torch.ones(length, length, dtype=torch.bool, device=u.device).triu(1)
    att = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
    out = per_model(att, v).transpose(2, 3).reshape(m, b, length, d)
    return linear(out, p["wo"], p["wo_b"])
