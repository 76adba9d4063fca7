"""A population of M independent MLPs stored as stacked tensors.

Layer l of every model: weight (M, n_l, n_{l+1}), bias (M, 1, n_{l+1}); a forward pass is one
batched matmul per layer. Models may differ in hidden widths (padded units are masked to zero so
they neither contribute nor learn), in activation, and in initialiser. Each model's weights are
drawn from its own generator, exactly as if it were built alone.
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import torch
import torch.nn.functional as F

from ..errors import ParamError
from .init import init_bias, init_tensor


def _sign_zero_grad(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x)  # autograd: zero gradient everywhere (as tf.sign)


T = TypeVar("T")

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "identity": lambda x: x,
    "square": lambda x: x * x, "sin": torch.sin, "sign": _sign_zero_grad, "softplus": F.softplus,
}


def runs(values: Sequence[T]) -> list[tuple[int, int, T]]:
    """Contiguous runs of equal values (e.g. models' activations or batch-norm flags):
    [(start, stop, value), ...]."""
    out: list[tuple[int, int, T]] = []
    for i, v in enumerate(values):
        if out and out[-1][2] == v:
            out[-1] = (out[-1][0], i + 1, v)
        else:
            out.append((i, i + 1, v))
    return out


def activate_groups(h: torch.Tensor, groups: list) -> torch.Tensor:
    """Each model's activation on its rows of h (M, ...): `groups` from `runs`, runs of
    consecutive models with the same activation."""
    if len(groups) == 1:
        return ACTIVATIONS[groups[0][2]](h)
    return torch.cat([ACTIVATIONS[name](h[a:b]) for a, b, name in groups], dim=0)


class MLPPop:
    """M independent MLPs. `sizes[m]` = (d_in, h_1, ..., d_out) of model m (same depth for all)."""

    def __init__(self, sizes: Sequence[Sequence[int]], gens: Sequence[torch.Generator],
                 activation: str | Sequence[str] = "relu", init: str | Sequence[str] = "xavier_uniform",
                 bias_init: str | Sequence[str] | None = None, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.m = len(sizes)
        if len(gens) != self.m:
            raise ValueError("one generator per model")
        if len({len(s) for s in sizes}) != 1:
            raise ParamError("all models of a population need the same depth")
        for s in sizes:
            if any(int(n) < 1 for n in s):
                raise ParamError(f"layer sizes must be >= 1, got {tuple(s)}")
        self.sizes = [tuple(int(n) for n in s) for s in sizes]
        self.widths = tuple(max(s[l] for s in self.sizes) for l in range(len(self.sizes[0])))
        acts = [activation] * self.m if isinstance(activation, str) else list(activation)
        for a in acts:
            if a not in ACTIVATIONS:
                raise ParamError(f"unknown activation '{a}'; allowed: {', '.join(ACTIVATIONS)}")
        self.activations = acts
        self._groups = runs(acts)
        inits = [init] * self.m if isinstance(init, str) else list(init)
        binit = bias_init if bias_init is not None else inits
        binits = [binit] * self.m if isinstance(binit, str) else list(binit)
        self.weights, self.biases = self._build(gens, inits, binits, device, dtype)
        self.masks = self._masks(device, dtype)

    def _build(self, gens, inits, binits, device, dtype):
        n_layers = len(self.widths) - 1
        ws = [torch.zeros(self.m, self.widths[l], self.widths[l + 1]) for l in range(n_layers)]
        bs = [torch.zeros(self.m, 1, self.widths[l + 1]) for l in range(n_layers)]
        for i, (size, gen) in enumerate(zip(self.sizes, gens)):
            for l in range(n_layers):
                fan_in, fan_out = size[l], size[l + 1]
                ws[l][i, :fan_in, :fan_out] = init_tensor(inits[i], (fan_in, fan_out), fan_in, fan_out, gen)
                bs[l][i, 0, :fan_out] = init_bias(binits[i], fan_out, fan_in, gen)
        to = dict(device=device, dtype=dtype)
        return ([w.to(**to).requires_grad_() for w in ws], [b.to(**to).requires_grad_() for b in bs])

    def _masks(self, device, dtype) -> list[torch.Tensor | None]:
        masks: list[torch.Tensor | None] = []
        for l in range(1, len(self.widths) - 1):
            if all(s[l] == self.widths[l] for s in self.sizes):
                masks.append(None)
                continue
            mask = torch.zeros(self.m, 1, self.widths[l])
            for i, s in enumerate(self.sizes):
                mask[i, 0, :s[l]] = 1.0
            masks.append(mask.to(device=device, dtype=dtype))
        return masks

    @property
    def params(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def activate(self, h: torch.Tensor) -> torch.Tensor:
        return activate_groups(h, self._groups)

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """x: (M, B, d_in) per model, or (B, d_in) shared → output (M, B, d_out)."""
        h = x.expand(self.m, *x.shape) if x.dim() == 2 else x
        hidden = []
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)  # (M, B, n_{l+1})
            if l < last:
                h = self.activate(h)
                if self.masks[l] is not None:
                    h = h * self.masks[l]
                hidden.append(h)
        return (h, hidden) if return_hidden else h

    __call__ = forward

    def model_weights(self, i: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Model i's unpadded (weight (in, out), bias (out,)) per layer: detached copies."""
        s = self.sizes[i]
        return [(w[i, :s[l], :s[l + 1]].detach().clone(), b[i, 0, :s[l + 1]].detach().clone())
                for l, (w, b) in enumerate(zip(self.weights, self.biases))]
