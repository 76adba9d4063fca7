"""Initialisers, drawn one model at a time from that model's own generator.

Spec strings: `xavier_uniform`, `he_normal`, `trunc_normal` (std 1/√fan_in cut at ±2 std, the
failures paper's code), `torch_default` (U(±1/√fan_in)), `zeros`, `ones`, `normal:STD`,
`uniform:A` (U(−A, A)).
"""
from __future__ import annotations

import math

import torch

from ..errors import ParamError

NAMES = ("xavier_uniform", "he_normal", "trunc_normal", "torch_default", "zeros", "ones",
         "normal:STD", "uniform:A")


def init_tensor(spec: str, shape: tuple[int, ...], fan_in: int, fan_out: int,
                gen: torch.Generator) -> torch.Tensor:
    """A float32 CPU tensor of `shape` initialised by `spec`."""
    name, _, arg = spec.partition(":")
    if name == "xavier_uniform":
        a = math.sqrt(6.0 / (fan_in + fan_out))
        return (torch.rand(shape, generator=gen) * 2 - 1) * a
    if name == "torch_default":
        a = 1.0 / math.sqrt(fan_in)
        return (torch.rand(shape, generator=gen) * 2 - 1) * a
    if name == "he_normal":
        return torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)
    if name == "trunc_normal":
        std = 1.0 / math.sqrt(fan_in)
        t = torch.empty(shape)
        torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std, generator=gen)
        return t
    if name == "zeros":
        return torch.zeros(shape)
    if name == "ones":
        return torch.ones(shape)
    if name in ("normal", "uniform") and arg:
        scale = float(arg)
        if name == "normal":
            return torch.randn(shape, generator=gen) * scale
        return (torch.rand(shape, generator=gen) * 2 - 1) * scale
    raise ParamError(f"unknown initialiser '{spec}'; allowed: {', '.join(NAMES)}")


def init_bias(spec: str, n: int, fan_in: int, gen: torch.Generator) -> torch.Tensor:
    """Bias of length n. For Xavier, a 1-D tensor has fan_in = fan_out = n (as in TF/Keras)."""
    if spec == "xavier_uniform":
        return init_tensor(spec, (n,), n, n, gen)
    return init_tensor(spec, (n,), fan_in, n, gen)
