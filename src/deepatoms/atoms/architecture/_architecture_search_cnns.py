"""Small CNN candidates of architecture-search, trained as populations.

A CNN on the 8×8 digit images: L conv layers ('same' padding, odd kernel k_l, c_l channels), each
followed by the activation and a 2×2 average pool, then a linear read-out of the flattened
(c_L · (8/2^L)²) features. A population stacks members with the same kernel sizes; channels are
padded to a fixed width (padded channels are masked to zero, so they neither contribute nor
learn). A convolution is an `unfold` then one batched matmul per layer, as in `engine.MLPPop`, so
a member's numbers never depend on its companions.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...engine import Adam, Sampler, gather, train
from ...engine.init import init_bias, init_tensor
from ...engine.population import ACTIVATIONS, activate_groups, runs
from ...errors import ParamError

CHANNELS = (8, 16, 32)
KERNELS = (1, 3, 5)
IMAGE = 8  # digits are 8×8


def _check(layers: Sequence[Sequence[tuple[int, int]]], width: int, image: int) -> None:
    if len({len(a) for a in layers}) != 1 or not layers[0]:
        raise ParamError("all CNNs of a population need the same number (>= 1) of conv layers")
    if len({tuple(k for _, k in a) for a in layers}) != 1:
        raise ParamError("all CNNs of a population need the same kernel sizes")
    for a in layers:
        for c, k in a:
            if k < 1 or k % 2 == 0:
                raise ParamError(f"kernel sizes must be odd and >= 1 ('same' padding), got {k}")
            if not 1 <= c <= width:
                raise ParamError(f"channels must be in [1, {width}], got {c}")
    if image % 2 ** len(layers[0]):
        raise ParamError(f"image size {image} is not divisible by 2^{len(layers[0])} (pools)")


class CNNPop:
    """M CNNs; `layers[m]` = ((channels, kernel), ...) of member m; input (M, B, image²) or
    (B, image²) shared; output (M, B, 10)."""

    def __init__(self, layers, gens: Sequence[torch.Generator], activation: Sequence[str],
                 width: int = max(CHANNELS), image: int = IMAGE, device="cpu"):
        _check(layers, width, image)
        if len(gens) != len(layers) or len(activation) != len(layers):
            raise ValueError("one generator and one activation per member")
        for a in activation:
            if a not in ACTIVATIONS:
                raise ParamError(f"unknown activation '{a}'; allowed: {', '.join(ACTIVATIONS)}")
        self.m, self.layers, self.width, self.image = len(layers), [tuple(a) for a in layers], width, image
        self.kernels = [k for _, k in self.layers[0]]
        self.activations = list(activation)
        self._groups = runs(self.activations)
        self.weights, self.biases = self._build(gens)
        self.weights = [w.to(device).requires_grad_() for w in self.weights]
        self.biases = [b.to(device).requires_grad_() for b in self.biases]
        self.masks = [torch.tensor([[[float(j < a[l][0]) for j in range(width)]] for a in self.layers],
                                   device=device) for l in range(len(self.kernels))]

    def _build(self, gens):
        n, w = len(self.kernels), self.width
        ins = [1] + [w] * (n - 1)
        last = (self.image // 2 ** n) ** 2
        ws = [torch.zeros(self.m, ins[l] * k * k, w) for l, k in enumerate(self.kernels)]
        ws.append(torch.zeros(self.m, last * w, 10))
        bs = [torch.zeros(self.m, 1, w) for _ in self.kernels] + [torch.zeros(self.m, 1, 10)]
        for i, (arch, gen) in enumerate(zip(self.layers, gens)):
            c_in = 1
            for l, (c, k) in enumerate(arch):
                view = ws[l][i].view(ins[l], k * k, w)
                view[:c_in, :, :c] = init_tensor("xavier_uniform", (c_in, k * k, c), c_in * k * k,
                                                 c * k * k, gen)
                bs[l][i, 0, :c] = init_bias("xavier_uniform", c, c_in * k * k, gen)
                c_in = c
            ws[n][i].view(last, w, 10)[:, :c_in] = init_tensor("xavier_uniform", (last, c_in, 10),
                                                               last * c_in, 10, gen)
            bs[n][i, 0] = init_bias("xavier_uniform", 10, last * c_in, gen)
        return ws, bs

    def n_params(self, i: int) -> int:
        """Member i's number of (unpadded) parameters."""
        c_in, n = 1, 0
        for c, k in self.layers[i]:
            n, c_in = n + c_in * k * k * c + c, c
        return n + (self.image // 2 ** len(self.kernels)) ** 2 * c_in * 10 + 10

    @property
    def params(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def activate(self, h: torch.Tensor) -> torch.Tensor:
        return activate_groups(h, self._groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.expand(self.m, *x.shape) if x.dim() == 2 else x
        m, b, s = self.m, h.shape[1], self.image
        h = h.reshape(m * b, 1, s, s)
        for l, k in enumerate(self.kernels):
            c_in = h.shape[1]
            cols = F.unfold(h, k, padding=k // 2).view(m, b, c_in * k * k, s * s)
            z = torch.baddbmm(self.biases[l], cols.transpose(2, 3).reshape(m, b * s * s, -1),
                              self.weights[l])                          # (M, B·s², width)
            z = self.activate(z) * self.masks[l]
            z = _pool(z, m, b, s, self.width)
            s //= 2
            h = z.permute(0, 1, 4, 2, 3).reshape(m * b, self.width, s, s)
        feats = z.reshape(m, b, s * s * self.width)
        return torch.baddbmm(self.biases[-1], feats, self.weights[-1])

    __call__ = forward


def _pool(z: torch.Tensor, m: int, b: int, s: int, width: int) -> torch.Tensor:
    """2×2 average pooling of channels-last maps (M, B·s², width) → (M, B, s/2, s/2, width):
    row pairs summed first (a contiguous reduction), then column pairs. The same numbers as
    `.view(m, b, s/2, 2, s/2, 2, width).mean((3, 5))` to float rounding, 2.5–3× faster forward
    and backward (that strided mean was 16 % of the atom's time)."""
    rows = z.view(m, b * s // 2, 2, s // 2, 2 * width).sum(2)
    return rows.view(m, b, s // 2, s // 2, 2, width).sum(4).mul(0.25)


def accuracy(pop, x: torch.Tensor, y: torch.Tensor, chunk: int = 128) -> np.ndarray:
    """(M,) accuracy on shared (x, y), evaluated `chunk` examples at a time."""
    with torch.no_grad():
        hits = sum((pop(x[a:a + chunk]).argmax(-1) == y[a:a + chunk]).double().sum(1)
                   for a in range(0, x.shape[0], chunk))
        return (hits / x.shape[0]).cpu().numpy()


def fit(pop, gens_batch, data, steps: int, batch: int, lr: float, iterate=range):
    """Adam on softmax cross-entropy with each member's own minibatches; (val, test) accuracy."""
    x_tr, y_tr, x_va, y_va, x_te, y_te = data
    sampler = Sampler(gens_batch, x_tr.shape[0], batch, "subset", device=x_tr.device)

    def loss(b, step):
        z = pop(gather(x_tr, b, shared=True))
        return F.cross_entropy(z.transpose(1, 2), gather(y_tr, b, shared=True), reduction="none")

    train(pop.params, loss, Adam(pop.params, lr=lr), steps, sampler=sampler, iterate=iterate)
    return accuracy(pop, x_va, y_va), accuracy(pop, x_te, y_te)


def train_cnns(archs, gens_init, gens_batch, data, steps: int, batch: int, lr: float,
               iterate=range) -> tuple[np.ndarray, np.ndarray]:
    """One population per tuple of kernel sizes, channels padded to max(CHANNELS)."""
    val, test = np.zeros(len(archs)), np.zeros(len(archs))
    for kernels in sorted({tuple(k for _, k in a.layers) for a in archs}):
        idx = [i for i, a in enumerate(archs) if tuple(k for _, k in a.layers) == kernels]
        pop = CNNPop([archs[i].layers for i in idx], [gens_init[i] for i in idx],
                     [archs[i].activation for i in idx], device=data[0].device)
        val[idx], test[idx] = fit(pop, [gens_batch[i] for i in idx], data, steps, batch, lr,
                                  iterate)
    return val, test
