"""A population of MLPs with optional batch normalisation (Ioffe & Szegedy 2015) per model.

Every hidden layer computes linear → [batch norm] → activation, as `torch.nn.Linear` followed by
`torch.nn.BatchNorm1d` and the activation would; as usual the linear layer before a batch
norm has no bias (β takes its role): it is held at zero. Batch statistics are taken over each model's
own minibatch (dim 1), so each model gets exactly the update it would get alone. Models with
`batch_norm=False` skip the normalisation; their γ, β exist but receive zero gradient.
Shapes: M models, B points, n units; weights (M, n_in, n_out), γ, β, running stats (M, 1, n).
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ParamError
from .population import MLPPop, runs

EPS = 1e-5        # torch.nn.BatchNorm1d defaults
MOMENTUM = 0.1


class BatchNormMLPPop:
    """M MLPs of identical layer sizes `size` = (d_in, h_1, ..., d_out)."""

    def __init__(self, size: Sequence[int], gens: Sequence[torch.Generator],
                 batch_norm: Sequence[bool], activation: str | Sequence[str] = "relu",
                 init: str = "xavier_uniform", device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        if len(batch_norm) != len(gens):
            raise ValueError("one batch_norm flag per model")
        self.mlp = MLPPop([tuple(size)] * len(gens), gens, activation=activation, init=init,
                          device=device, dtype=dtype)
        self.m = self.mlp.m
        self._runs = runs([bool(f) for f in batch_norm])  # contiguous (start, stop, flag)
        hidden = list(size[1:-1])
        if not hidden:
            raise ParamError("a batch-norm MLP needs at least one hidden layer")
        to = dict(device=device, dtype=dtype)
        self.gammas = [torch.ones(self.m, 1, n, **to).requires_grad_() for n in hidden]
        self.betas = [torch.zeros(self.m, 1, n, **to).requires_grad_() for n in hidden]
        self.running_mean = [torch.zeros(self.m, 1, n, **to) for n in hidden]
        self.running_var = [torch.ones(self.m, 1, n, **to) for n in hidden]
        # 0 for batch-norm models: their hidden biases are held at zero (no gradient reaches them)
        self._bias_kept = torch.tensor([0.0 if f else 1.0 for f in batch_norm], **to).view(-1, 1, 1)
        with torch.no_grad():
            for b in self.mlp.biases[:-1]:
                b.mul_(self._bias_kept)

    @property
    def params(self) -> list[torch.Tensor]:
        return [*self.mlp.params, *self.gammas, *self.betas]

    def _normalise(self, h: torch.Tensor, layer: int, train: bool, lo: int, hi: int) -> torch.Tensor:
        """Batch norm of models lo:hi; h (hi − lo, B, n)."""
        gamma, beta = self.gammas[layer][lo:hi], self.betas[layer][lo:hi]
        if not train:
            mean, var = self.running_mean[layer][lo:hi], self.running_var[layer][lo:hi]
            return (h - mean) * torch.rsqrt(var + EPS) * gamma + beta
        n = h.shape[1]
        if n < 2:
            raise ParamError("batch normalisation needs at least 2 points per batch")
        mean = h.mean(dim=1, keepdim=True)
        centred = h - mean
        var = (centred * centred).mean(dim=1, keepdim=True)  # biased, as torch normalises
        with torch.no_grad():  # torch keeps the unbiased variance in the running estimate
            self.running_mean[layer][lo:hi].lerp_(mean, MOMENTUM)
            self.running_var[layer][lo:hi].lerp_(var * (n / (n - 1)), MOMENTUM)
        return centred * torch.rsqrt(var + EPS) * gamma + beta

    def _norm_layer(self, h: torch.Tensor, layer: int, train: bool) -> torch.Tensor:
        pieces = [self._normalise(h[a:b], layer, train, a, b) if flag else h[a:b]
                  for a, b, flag in self._runs]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=0)

    def forward(self, x: torch.Tensor, train: bool = True) -> torch.Tensor:
        """x: (M, B, d_in) or shared (B, d_in) → logits (M, B, d_out). `train`: batch statistics
        (and running-average updates); otherwise the running averages."""
        h = x.expand(self.m, *x.shape) if x.dim() == 2 else x
        last = len(self.mlp.weights) - 1
        for l, (w, b) in enumerate(zip(self.mlp.weights, self.mlp.biases)):
            if l < last:
                h = torch.baddbmm(b * self._bias_kept, h, w)  # (M, B, n_{l+1})
                h = self.mlp.activate(self._norm_layer(h, l, train))
            else:
                h = torch.baddbmm(b, h, w)
        return h

    __call__ = forward
