"""Private helper of pretraining: greedy layer-wise pre-training of a stack of denoising
autoencoders (Vincent et al. 2008), one population over seeds.

Layer l's autoencoder: h = sigmoid(x̃ W + b), r = sigmoid(h Wᵀ + c) (tied weights), x̃ = x with
a fraction `corruption` of its inputs set to 0 (masking noise), loss = Σ_j cross-entropy(x_j,
r_j) per example (inputs in [0, 1]), plain SGD. Its input x is the previous layers' clean codes.
Weights (S, n_in, n_out), biases (S, 1, n): the layout of `engine.MLPPop`.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from ...engine import SGD, Sampler, train
from ...engine.init import init_tensor


def encode(layers: Sequence[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
    """The codes of x (N, d) shared, or (S, N, d), through the trained encoders → (S, N, n)."""
    h = x.expand(layers[0][0].shape[0], *x.shape) if x.dim() == 2 else x
    for w, b in layers:
        h = torch.sigmoid(torch.baddbmm(b, h, w))
    return h


def reconstruction_loss(w, b, c, x, keep) -> torch.Tensor:
    """Per-example denoising cross-entropy (S, B); x (S, B, n_in) in [0, 1], keep its mask."""
    h = torch.sigmoid(torch.baddbmm(b, x * keep, w))
    logits = torch.baddbmm(c, h, w.transpose(1, 2))
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def _layer(gens_init, gens_noise, gens_batch, inputs, width, corruption, lr, steps, batch,
           iterate) -> tuple[torch.Tensor, torch.Tensor]:
    s, n, n_in = inputs.shape
    dev = inputs.device
    spec = f"uniform:{4 * math.sqrt(6.0 / (n_in + width))}"      # the sigmoid autoencoders' usual
    w = torch.stack([init_tensor(spec, (n_in, width), n_in, width, g)
                     for g in gens_init]).to(dev).requires_grad_()
    b = torch.zeros(s, 1, width, device=dev, requires_grad=True)
    c = torch.zeros(s, 1, n_in, device=dev, requires_grad=True)
    sampler = Sampler(gens_batch, n, batch, "epoch", device=dev)
    rows = torch.arange(s, device=dev).unsqueeze(1)

    def loss(idx, step):
        keep = torch.stack([(torch.rand(batch, n_in, generator=g) >= corruption).float()
                            for g in gens_noise]).to(dev)
        return reconstruction_loss(w, b, c, inputs[rows, idx], keep)

    train([w, b, c], loss, SGD([w, b, c], lr=lr), steps, sampler=sampler, iterate=iterate)
    return w.detach(), b.detach()


def pretrain_stack(lab, seeds, x: torch.Tensor, widths: Sequence[int], corruption: float,
                   lr: float, steps: int, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Greedy layer-wise DAE pre-training: [(W_l (S, n_{l-1}, n_l), b_l (S, 1, n_l))] for every
    layer of `widths`; x (N, d) shared training inputs in [0, 1]."""
    layers: list[tuple[torch.Tensor, torch.Tensor]] = []
    for l, width in enumerate(widths):
        with torch.no_grad():
            inputs = encode(layers, x) if layers else x.expand(len(seeds), *x.shape).contiguous()
        gen = lambda tag: [lab.torch_generator(s, tag, l) for s in seeds]
        layers.append(_layer(gen("dae-init"), gen("dae-noise"), gen("dae-batches"), inputs,
                             width, corruption, lr, steps, batch,
                             lambda k: lab.steps(k, f"pretraining: autoencoder {l + 1}")))
    return layers
