"""A population of weight-shared ("recurrent") MLPs whose depth varies at a fixed parameter count.

Model m: h = act(x W_in + b_in), then the same (W, b) layer applied depth[m] times, then
out = h W_out + b_out. Every model has d_in·w + w + w·w + w + w·d_out + d_out parameters,
whatever its depth (152 for d_in = 1, w = 10, d_out = 2). Models of different depths train in one
batched computation: the shared layer runs max(depth) times and a model keeps its previous hidden
state once its own depth is reached, so it gets exactly the updates it would get alone.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ParamError
from .flat import FlatParams
from .init import init_bias, init_tensor
from .population import ACTIVATIONS


class SharedDepthPop:
    """M weight-shared MLPs with per-model depth. Parameters, as views of one (M, P) leaf:
    w_in (M, d_in, w), b_in (M, 1, w), w (M, w, w), b (M, 1, w), w_out (M, w, d_out), b_out (M, 1, d_out).
    """

    def __init__(self, d_in: int, width: int, d_out: int, depths: Sequence[int],
                 gens: Sequence[torch.Generator], activation: str = "relu",
                 init: str = "xavier_uniform", device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        if len(gens) != len(depths):
            raise ValueError("one generator per model")
        if min(d_in, width, d_out) < 1 or any(int(k) < 1 for k in depths):
            raise ParamError(f"sizes and depths must be >= 1, got {(d_in, width, d_out)}, {list(depths)}")
        if activation not in ACTIVATIONS:
            raise ParamError(f"unknown activation '{activation}'; allowed: {', '.join(ACTIVATIONS)}")
        self.m, self.activation, self.act = len(depths), activation, ACTIVATIONS[activation]
        self.depths = torch.tensor([int(k) for k in depths], device=device)
        self.max_depth = int(self.depths.max())
        shapes = [(d_in, width), (width,), (width, width), (width,), (width, d_out), (d_out,)]
        # the original creates w_in, b_in, w_shared, b_shared, w_out, b_out in this order
        per_model = [[self._draw(init, s, g) for s in shapes] for g in gens]
        stacked = [torch.stack([p[k] for p in per_model]) for k in range(len(shapes))]
        # biases as (M, 1, n) rows; all parameters live in one (M, 152) leaf for a cheap optimiser
        self.store = FlatParams([t.unsqueeze(1) if t.dim() == 2 else t for t in stacked],
                                device=device, dtype=dtype)
        # (depth step k) → which models still apply the shared layer: (max_depth, M, 1, 1)
        steps = torch.arange(self.max_depth, device=device).view(-1, 1, 1, 1)
        self._active = steps < self.depths.view(1, -1, 1, 1)
        self._all_active = [bool(a.all()) for a in self._active]  # decided once, not per step

    @staticmethod
    def _draw(init: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
        if len(shape) == 1:
            return init_bias(init, shape[0], shape[0], gen)
        return init_tensor(init, shape, shape[0], shape[1], gen)

    @property
    def params(self) -> list[torch.Tensor]:
        """The trainable leaf: [(M, P)]."""
        return [self.store.flat]

    @property
    def n_params_per_model(self) -> int:
        return self.store.per_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, d_in) shared by all models or (M, B, d_in) → outputs (M, B, d_out)."""
        w_in, b_in, w, b, w_out, b_out = self.store.views()
        h = x.expand(self.m, *x.shape) if x.dim() == 2 else x
        h = self.act(torch.baddbmm(b_in, h, w_in))  # (M, B, w)
        for k in range(self.max_depth):
            new = self.act(torch.baddbmm(b, h, w))
            h = new if self._all_active[k] else torch.where(self._active[k], new, h)
        return torch.baddbmm(b_out, h, w_out)

    __call__ = forward
