"""Small CNN candidates of architecture-search, trained as populations.

A CNN on the 8×8 digit images: L conv layers ('same' padding, odd kernel k_l, c_l channels), each
followed by the activation and a 2×2 average pool, then a linear read-out of the flattened
(c_L · (8/2^L)²) features. A population stacks members of one shape (the same channels and
kernels per layer; activations may differ) as the groups of a grouped convolution: member m's
images are input channel m, its maps are channels m·c … (m + 1)·c − 1 of every layer, so no member
sees another's numbers. Grouped `conv2d` is 2–5× faster forward and backward on a CPU than an
`unfold` and a batched matmul per layer (the earlier layout, which padded every member to 32
channels).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...engine import Adam, Sampler, gather, train
from ...engine.init import init_bias, init_tensor
from ...engine.population import ACTIVATIONS, runs
from ...errors import ParamError

CHANNELS = (8, 16, 32)
KERNELS = (1, 3, 5)
IMAGE = 8  # digits are 8×8


def _check(layers: Sequence[Sequence[tuple[int, int]]], image: int) -> None:
    if len({tuple(a) for a in layers}) != 1 or not layers[0]:
        raise ParamError("all CNNs of a population need the same (>= 1) conv layers: the same "
                         "number, channels and kernel sizes")
    for c, k in layers[0]:
        if k < 1 or k % 2 == 0:
            raise ParamError(f"kernel sizes must be odd and >= 1 ('same' padding), got {k}")
        if c < 1:
            raise ParamError(f"channels must be >= 1, got {c}")
    if image % 2 ** len(layers[0]):
        raise ParamError(f"image size {image} is not divisible by 2^{len(layers[0])} (pools)")


class CNNPop:
    """M CNNs of one shape `layers[m]` = ((channels, kernel), ...); input (M, B, image²) or
    (B, image²) shared; output (M, B, 10). Every parameter leads with the member dimension (as
    the engine's optimisers expect): conv weights (M, c_l, c_{l−1}, k, k) and biases (M, c_l),
    used as one grouped convolution; read-out (M, c_L·s², 10) and (M, 1, 10) on each member's
    (channel, row, column)-flattened maps."""

    def __init__(self, layers, gens: Sequence[torch.Generator], activation: Sequence[str],
                 image: int = IMAGE, device="cpu"):
        _check(layers, image)
        if len(gens) != len(layers) or len(activation) != len(layers):
            raise ValueError("one generator and one activation per member")
        for a in activation:
            if a not in ACTIVATIONS:
                raise ParamError(f"unknown activation '{a}'; allowed: {', '.join(ACTIVATIONS)}")
        self.m, self.shape, self.image = len(layers), tuple(layers[0]), image
        self.kernels = [k for _, k in self.shape]
        self.activations = list(activation)
        self._groups = runs(self.activations)
        ws, bs = zip(*(self._member(g) for g in gens))
        self.weights = [torch.stack(w).to(device).requires_grad_() for w in zip(*ws)]
        self.biases = [torch.stack(b).to(device).requires_grad_() for b in zip(*bs)]

    def _member(self, gen: torch.Generator):
        """One member's Xavier-uniform weights and biases (fans c_in·k², c·k²)."""
        ws, bs, c_in = [], [], 1
        for c, k in self.shape:
            w = init_tensor("xavier_uniform", (c_in, k * k, c), c_in * k * k, c * k * k, gen)
            ws.append(w.permute(2, 0, 1).reshape(c, c_in, k, k))
            bs.append(init_bias("xavier_uniform", c, c_in * k * k, gen))
            c_in = c
        last = (self.image // 2 ** len(self.shape)) ** 2 * c_in
        ws.append(init_tensor("xavier_uniform", (last, 10), last, 10, gen))
        bs.append(init_bias("xavier_uniform", 10, last, gen).view(1, 10))
        return ws, bs

    def n_params(self, i: int = 0) -> int:
        """A member's number of parameters (all members have the same)."""
        c_in, n = 1, 0
        for c, k in self.shape:
            n, c_in = n + c_in * k * k * c + c, c
        return n + (self.image // 2 ** len(self.shape)) ** 2 * c_in * 10 + 10

    @property
    def params(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def activate(self, h: torch.Tensor) -> torch.Tensor:
        """Each member's activation on its channels of h (B, M·c, s, s)."""
        if len(self._groups) == 1:
            return ACTIVATIONS[self._groups[0][2]](h)
        c = h.shape[1] // self.m
        parts = h.split([(b - a) * c for a, b, _ in self._groups], 1)  # a split's backward is a
        return torch.cat([ACTIVATIONS[g[2]](part) for g, part in zip(self._groups, parts)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.expand(self.m, *x.shape) if x.dim() == 2 else x
        b, s = h.shape[1], self.image
        h = h.reshape(self.m, b, s, s).transpose(0, 1)               # (B, M, s, s)
        for l, k in enumerate(self.kernels):
            h = F.conv2d(h, self.weights[l].flatten(0, 1), self.biases[l].flatten(),
                         padding=k // 2, groups=self.m)
            h = F.avg_pool2d(self.activate(h), 2)
        feats = h.reshape(b, self.m, -1).transpose(0, 1)             # (M, B, c_L·s²)
        return torch.baddbmm(self.biases[-1], feats, self.weights[-1])

    __call__ = forward


def accuracy(pop, x: torch.Tensor, y: torch.Tensor, chunk: int = 256) -> np.ndarray:
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
    """One population per shape (channels and kernels per layer), its members sorted by
    activation so each activation is one run of channels."""
    val, test = np.zeros(len(archs)), np.zeros(len(archs))
    for shape in sorted({a.layers for a in archs}):
        idx = sorted((i for i, a in enumerate(archs) if a.layers == shape),
                     key=lambda i: archs[i].activation)
        pop = CNNPop([shape] * len(idx), [gens_init[i] for i in idx],
                     [archs[i].activation for i in idx], device=data[0].device)
        val[idx], test[idx] = fit(pop, [gens_batch[i] for i in idx], data, steps, batch, lr,
                                  iterate)
    return val, test
