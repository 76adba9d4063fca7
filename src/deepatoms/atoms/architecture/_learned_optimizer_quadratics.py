"""Random quadratics f(θ) = ‖Wθ − y‖² (Andrychowicz et al. 2016 §3.1), meta-training of the
LSTM optimiser on them by truncated backpropagation, and optimisers' loss curves on them.

Shapes: W (S, Q, d, d), y (S, Q, d), θ (S, Q, d) — S seeds, Q functions each. Products are
written elementwise (multiply and sum), so a seed's numbers do not depend on the batch of seeds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ...engine import Adam, unrolled
from ._learned_optimizer_lstm import BASELINES, baseline_step, init_lstm, lstm_update, zero_state

THETA_STD = 0.01  # start θ ~ N(0, 0.01²), as the reference code's quadratic problem


def sample(gens: Sequence[torch.Generator], q: int, d: int, device="cpu"):
    """Per seed, q functions: W, y uniform on [0, 1) (the reference code's quadratic problem:
    TensorFlow's default random_uniform_initializer) and the start θ0 ~ N(0, 0.01²), one
    generator per seed."""
    ws, ys, ts = [], [], []
    for g in gens:
        ws.append(torch.rand(q, d, d, generator=g))
        ys.append(torch.rand(q, d, generator=g))
        ts.append(THETA_STD * torch.randn(q, d, generator=g))
    return tuple(torch.stack(a).to(device) for a in (ws, ys, ts))


def loss(w: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(..., Q) values of ‖Wθ − y‖²; θ may carry extra leading dims broadcasting against W."""
    r = (w * theta.unsqueeze(-2)).sum(-1) - y
    return (r * r).sum(-1)


def grad(w: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """∇θ ‖Wθ − y‖² = 2 Wᵀ(Wθ − y), same shape as θ."""
    r = (w * theta.unsqueeze(-2)).sum(-1) - y
    return 2 * (w * r.unsqueeze(-1)).sum(-2)


def meta_train(gens_init, gens_data, epochs: int, q: int, d: int, unroll: int, horizon: int,
               meta_lr: float, hidden: int = 20, device="cpu", iterate=range, after_epoch=None):
    """Meta-train S LSTM optimisers (one per seed). Each epoch draws q fresh functions per seed
    and runs `horizon` steps as horizon/unroll truncated unrolls, one Adam step on the LSTM
    after each. The optimisee's gradient enters the LSTM detached (the paper's ∂∇/∂φ = 0).
    Returns the LSTM parameters and the meta-loss per epoch (S, epochs): the mean over the
    horizon and the functions of log10 f. `after_epoch(e, params)` (optional) sees the
    parameters after each epoch e (0-based); it must not change them."""
    params = init_lstm(gens_init, hidden, device=device)
    opt = Adam(params, lr=meta_lr)
    s = len(gens_init)
    curve = np.zeros((s, epochs))
    for e in iterate(epochs):
        w, y, theta = sample(gens_data, q, d, device)
        state = zero_state(s, q * d, hidden, theta)
        logs = []
        for k in range(horizon // unroll):
            holder = {"state": state}

            def f(current, t):
                value = loss(w, y, current[0])  # (S, Q)
                logs.append(torch.log10(value.detach()).mean(1))
                return value.sum()

            def update(current, grads, t):
                upd, holder["state"] = lstm_update(params, grads[0].detach().reshape(s, -1),
                                                   holder["state"])
                return [current[0] + upd.reshape(current[0].shape)]

            final, total = unrolled([theta.requires_grad_()], f, update, unroll,
                                    start=k * unroll)
            opt.zero_grad()
            (total / q).backward()
            opt.step()
            theta = final[0].detach()
            state = tuple(x.detach() for x in holder["state"])
        curve[:, e] = torch.stack(logs, 1).mean(1).cpu().numpy()
        if after_epoch is not None:
            after_epoch(e, [p.detach() for p in params])
    return [p.detach() for p in params], curve


@torch.no_grad()
def learned_curve(params, w, y, theta, steps: int, hidden: int = 20) -> np.ndarray:
    """(S, steps + 1) log10 of the mean over functions of f, optimised by the LSTMs."""
    s = theta.shape[0]
    state = zero_state(s, theta[0].numel(), hidden, theta)
    out = [loss(w, y, theta).mean(-1)]
    for _ in range(steps):
        upd, state = lstm_update(params, grad(w, y, theta).reshape(s, -1), state)
        theta = theta + upd.reshape(theta.shape)
        out.append(loss(w, y, theta).mean(-1))
    return torch.log10(torch.stack(out, -1)).cpu().numpy()


@torch.no_grad()
def baseline_curves(name: str, lrs: Sequence[float], w, y, theta, steps: int) -> np.ndarray:
    """(S, L, steps + 1) log10 of the mean f over functions, one curve per learning rate."""
    lr = torch.tensor(list(lrs), dtype=theta.dtype, device=theta.device).view(1, -1, 1, 1)
    wl, yl = w.unsqueeze(1), y.unsqueeze(1)
    th = theta.unsqueeze(1).expand(-1, len(lrs), -1, -1).clone()  # (S, L, Q, d)
    state: dict = {}
    out = [loss(wl, yl, th).mean(-1)]
    for t in range(steps):
        th = th + baseline_step(name, grad(wl, yl, th), state, lr, t)
        out.append(loss(wl, yl, th).mean(-1))
    return torch.log10(torch.stack(out, -1)).cpu().numpy()


def best_lr_index(final_log: np.ndarray) -> np.ndarray:
    """Per seed, the learning rate with the lowest final log-loss (NaN/inf count as worst).
    final_log (S, L) → (S,) indices."""
    return np.argmin(np.where(np.isfinite(final_log), final_log, np.inf), axis=1)


__all__ = ["BASELINES", "baseline_curves", "best_lr_index", "grad", "learned_curve", "loss",
           "meta_train", "sample"]
