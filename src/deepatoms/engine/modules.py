"""A population of M copies of any `nn.Module`, run as one batched computation with `torch.func`.

Each member is built by `factory()` under its own seed, exactly as the module would be built
alone after `torch.manual_seed(seed)` (the global RNG is forked, so the caller's stream is
untouched). Parameters and buffers are stacked along a leading model dimension M
(`torch.func.stack_module_state`), and `forward` maps `functional_call` over the members with
`vmap`. The stacked parameters are ordinary leaf tensors of shape (M, ...), so the population
optimisers of `engine.optim` train them exactly as they train `MLPPop`'s.

Batch norm: in training mode the running statistics of each member are updated in place in its
slice of the stacked buffers, as `nn.BatchNorm` updates them alone. Modules that draw random
numbers in `forward` (dropout) cannot match a member trained alone and are refused in training
mode (`randomness="error"`); use them in eval mode or give the noise as an input.
"""
from __future__ import annotations

import copy
import warnings
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap


def build_alone(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """`factory()` after `torch.manual_seed(seed)`, without disturbing the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return factory()


class ModulePop:
    """M independent copies of `factory()`; member i is built under `seeds[i]`. `input_dims`:
    the number of dimensions of one member's input batch (2 for (B, d), 4 for (B, C, H, W))."""

    def __init__(self, factory: Callable[[], nn.Module], seeds: Sequence[int], *,
                 input_dims: int = 2, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        if not seeds:
            raise ValueError("a population needs at least one seed")
        members = [build_alone(factory, s).to(device=device, dtype=dtype) for s in seeds]
        self.m, self.input_dims = len(members), int(input_dims)
        params, buffers = stack_module_state(members)
        self.names = list(params)
        self.param_dict = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
        self.buffers = {k: v.detach().clone() for k, v in buffers.items()}
        self.base = copy.deepcopy(members[0]).to("meta")
        self.training = True

    @property
    def params(self) -> list[torch.Tensor]:
        return [self.param_dict[k] for k in self.names]

    def train(self, mode: bool = True) -> "ModulePop":
        self.training = mode
        self.base.train(mode)
        return self

    def eval(self) -> "ModulePop":
        return self.train(False)

    def _call(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, (params, buffers), (x,))

    def forward(self, x: torch.Tensor, params: dict | None = None) -> torch.Tensor:
        """x: (B, ...) of `input_dims` dimensions, shared by every member, or (M, B, ...) with
        one batch per member → (M, B, ...) outputs. `params`: stacked parameters to use
        instead of the population's own (same keys; e.g. a point on an interpolation path)."""
        if x.dim() == self.input_dims:
            in_x = None
        elif x.dim() == self.input_dims + 1 and x.shape[0] == self.m:
            in_x = 0
        else:
            raise ValueError(f"expected inputs of {self.input_dims} dims (shared) or "
                             f"{self.input_dims + 1} with {self.m} members first, got {tuple(x.shape)}")
        p = self.param_dict if params is None else params
        with warnings.catch_warnings():
            # torch's fused CPU attention has no batching rule yet: vmap loops over members
            # (same numbers, slower); the warning says only that
            warnings.filterwarnings("ignore", message=".*not yet implemented the batching rule")
            return vmap(self._call, in_dims=(0, 0, in_x), randomness="error")(p, self.buffers, x)

    __call__ = forward

    def member(self, i: int, factory: Callable[[], nn.Module]) -> nn.Module:
        """Member i as a plain module (a copy of its current parameters and buffers)."""
        module = factory()
        state = {k: v[i].detach().clone() for k, v in {**self.param_dict, **self.buffers}.items()}
        module.load_state_dict(state)
        return module.train(self.training)

    def per_example_grads(self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                          x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Gradient of `loss(output (1, ...), target (1, ...))` for every example of every member:
        x (M, B, ...) and y (M, B, ...) → {name: (M, B, *param_shape)}. Buffers are read, never
        updated (each example is evaluated alone)."""
        def one(p, b, xi, yi):
            out = functional_call(self.base, (p, b), (xi.unsqueeze(0),))
            return loss(out, yi.unsqueeze(0))
        per_member = vmap(grad(one), in_dims=(None, None, 0, 0))
        detached = {k: v.detach() for k, v in self.param_dict.items()}
        return vmap(per_member, in_dims=(0, 0, 0, 0))(detached, self.buffers, x, y)

    def state(self) -> dict[str, torch.Tensor]:
        """Detached copies of the stacked parameters (for interpolation paths and snapshots)."""
        return {k: v.detach().clone() for k, v in self.param_dict.items()}
