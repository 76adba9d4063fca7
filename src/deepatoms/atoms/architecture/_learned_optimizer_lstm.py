"""The coordinatewise LSTM optimiser of Andrychowicz et al. (2016), one per seed, stacked.

Every coordinate of the optimisee's parameters is a row that goes through the same two-layer LSTM
(its weights are the seed's); the LSTM sees the preprocessed gradient and outputs the update
(times `OUTPUT_SCALE`). Parameters of S optimisers are stacked (S, ...); rows of seed s are
(S, R, ...) with R = that seed's coordinates. Also: the log-and-sign preprocessing, and the
hand-written baselines (SGD, momentum, RMSprop, Adam) over stacked parameters.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

OUTPUT_SCALE = 0.01


def preprocess(g: torch.Tensor, p: float = 10.0) -> torch.Tensor:
    """(..., ) gradient → (..., 2): (log|g|/p, sign g) if |g| ≥ e^−p, else (−1, e^p g)."""
    big = g.abs() >= math.exp(-p)
    first = torch.where(big, torch.log(g.abs().clamp_min(1e-38)) / p, torch.full_like(g, -1.0))
    second = torch.where(big, torch.sign(g), math.exp(p) * g)
    return torch.stack([first, second], dim=-1)


def init_lstm(gens: Sequence[torch.Generator], hidden: int = 20, inputs: int = 2,
              device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Per seed: layer-1 (inputs+hidden, 4h), its bias, layer-2 (2h, 4h), its bias, output (h,),
    its bias; uniform(±1/√h) like torch.nn.LSTM, each seed from its own generator."""
    bound = 1.0 / math.sqrt(hidden)
    shapes = [(inputs + hidden, 4 * hidden), (1, 4 * hidden), (2 * hidden, 4 * hidden),
              (1, 4 * hidden), (1, hidden), (1, 1)]
    params = []
    for shape in shapes:
        stacked = torch.stack([(torch.rand(shape, generator=g) * 2 - 1) * bound for g in gens])
        params.append(stacked.to(device).requires_grad_())
    return params


def zero_state(s: int, rows: int, hidden: int = 20, like: torch.Tensor | None = None):
    z = torch.zeros(s, rows, hidden, dtype=like.dtype if like is not None else torch.float32,
                    device=like.device if like is not None else "cpu")
    return (z, z.clone(), z.clone(), z.clone())


def _cell(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
    gates = torch.baddbmm(b, torch.cat([x, h], dim=-1), w)  # (S, R, 4h)
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_update(params: Sequence[torch.Tensor], grad: torch.Tensor, state, p: float = 10.0):
    """grad (S, R) → (update (S, R), new state). The update is OUTPUT_SCALE × the LSTM output."""
    w1, b1, w2, b2, wo, bo = params
    h1, c1, h2, c2 = state
    h1, c1 = _cell(preprocess(grad, p), h1, c1, w1, b1)
    h2, c2 = _cell(h1, h2, c2, w2, b2)
    out = (h2 * wo).sum(-1) + bo[..., 0]  # elementwise: no batch-size-dependent matvec
    return OUTPUT_SCALE * out, (h1, c1, h2, c2)


def baseline_step(name: str, g: torch.Tensor, state: dict, lr: torch.Tensor, t: int) -> torch.Tensor:
    """The update (to add) of a hand-written optimiser; `state` is mutated. lr broadcasts to g.
    momentum: heavy ball 0.9; RMSprop: decay 0.9, ε 1e-8 (TensorFlow's defaults, as the
    reference code); Adam: β = (0.9, 0.999), ε 1e-8."""
    if name == "sgd":
        return -lr * g
    if name == "momentum":
        state["m"] = 0.9 * state.get("m", torch.zeros_like(g)) + g
        return -lr * state["m"]
    if name == "rmsprop":
        state["v"] = 0.9 * state.get("v", torch.zeros_like(g)) + 0.1 * g * g
        return -lr * g / (state["v"].sqrt() + 1e-8)
    if name == "adam":
        state["m"] = 0.9 * state.get("m", torch.zeros_like(g)) + 0.1 * g
        state["v"] = 0.999 * state.get("v", torch.zeros_like(g)) + 0.001 * g * g
        m_hat = state["m"] / (1 - 0.9 ** (t + 1))
        v_hat = state["v"] / (1 - 0.999 ** (t + 1))
        return -lr * m_hat / (v_hat.sqrt() + 1e-8)
    raise ValueError(f"unknown optimiser {name!r}")


BASELINES = ("sgd", "momentum", "rmsprop", "adam")
