"""Private helper of loss-interpolation: points on straight lines in parameter space,
a batch-norm MLP evaluated at any (interpolated) parameters and statistics, and the largest
rise of a loss curve (the height of an obstacle on the way).

A network is a dict of stacked tensors (K, ...): an MLP's "w0", "w1", ... weights, "b0", ...
biases and, with batch norm, "g*", "beta*" (its affine parameters) and "mean*", "var*" (its
running statistics); the CNN's are named as its module's parameters ("conv1.weight", ...), and
`line` mixes any such dict (variances in log space, so they stay positive). A batch-norm
network on the line is evaluated with its statistics recomputed at each α (`recalibrate`: each
normalised layer's mean and variance over the training set, layer by layer), as a network with
those weights would have them: the running statistics of an initialisation are (0, 1), those of a
solution belong to its own weights, and neither fits the weights in between.
"""
from __future__ import annotations

import numpy as np
import torch

EPS = 1e-5  # torch.nn.BatchNorm1d's


def line(start: dict, end: dict, alphas: np.ndarray) -> dict:
    """θ(α) = (1 − α)·start + α·end for every α: tensors (K, ...) from single models (1, ...).
    Variances ("var*") are mixed in log space."""
    first = next(iter(start.values()))
    a = torch.as_tensor(alphas, dtype=first.dtype, device=first.device)
    out = {}
    for k, s in start.items():
        al = a.view(-1, *([1] * (s.dim() - 1)))
        if k.startswith("var"):
            out[k] = torch.exp((1 - al) * torch.log(s) + al * torch.log(end[k]))
        else:
            out[k] = (1 - al) * s + al * end[k]
    return out


def recalibrate(net: dict, x: torch.Tensor) -> dict:
    """`net` with every batch-norm layer's "mean*"/"var*" replaced by the statistics (mean and
    biased variance, as batch norm's training mode) of its pre-activations over `x` (B, d),
    computed in order, each layer normalised by its new statistics; a net without batch norm is
    returned as it is."""
    if "mean0" not in net:
        return net
    out, layers = dict(net), sum(1 for k in net if k[0] == "w" and k[1:].isdigit())
    h = x.expand(net["w0"].shape[0], *x.shape)
    for l in range(layers - 1):
        h = torch.baddbmm(net[f"b{l}"], h, net[f"w{l}"])
        out[f"mean{l}"] = h.mean(dim=1, keepdim=True)
        out[f"var{l}"] = h.var(dim=1, unbiased=False, keepdim=True)
        h = torch.relu((h - out[f"mean{l}"]) * torch.rsqrt(out[f"var{l}"] + EPS) * net[f"g{l}"]
                       + net[f"beta{l}"])
    return out


def forward(net: dict, x: torch.Tensor) -> torch.Tensor:
    """ReLU MLP, with batch norm in eval mode (running statistics) after each hidden linear
    layer when `net` has "mean*" entries. x (B, d) shared → logits (K, B, classes)."""
    layers = sum(1 for k in net if k[0] == "w" and k[1:].isdigit())
    h = x.expand(net["w0"].shape[0], *x.shape)
    for l in range(layers):
        h = torch.baddbmm(net[f"b{l}"], h, net[f"w{l}"])
        if l < layers - 1:
            if f"mean{l}" in net:
                h = (h - net[f"mean{l}"]) * torch.rsqrt(net[f"var{l}"] + EPS) * net[f"g{l}"] \
                    + net[f"beta{l}"]
            h = torch.relu(h)
    return h


def largest_rise(alphas: np.ndarray, loss: np.ndarray) -> float:
    """max over α ∈ [0, 1] of L(α) − min_{α' ≤ α} L(α'): 0 for a non-increasing curve, the
    height of the highest bump climbed after the lowest point so far otherwise."""
    keep = (alphas >= -1e-12) & (alphas <= 1 + 1e-12)
    v = loss[keep][np.argsort(alphas[keep])]
    return float(np.max(v - np.minimum.accumulate(v)))
