"""The three Hessians of tensor-calculus-hessians and the three ways of computing them.

Functions (variable first):
- quadratic: f(x) = xᵀAx, x ∈ ℝⁿ, A (n, n) ~ N(0, 1); H = A + Aᵀ (n, n);
- logistic: f(w) = Σ_k log(1 + exp(−y_k x_kᵀw)), X (2n, n) ~ N(0, 1/n), y = ±1, w ~ N(0, 1/n);
  H = Σ_k σ'(z_k) y_k² x_k x_kᵀ (n, n);
- factorisation: f(U) = ‖T − UVᵀ‖²_F, U (n, r), V (c, r), T (n, c) ~ N(0, 1); H = 2 δ (VᵀV),
  shape (n, r, n, r), i.e. (n·r)² entries.
Methods: `rowwise` (reverse mode, one backward pass per gradient entry — what tf.hessians and a
loop over torch.autograd.grad do), `functorch` (torch.func.hessian: forward-over-reverse,
vectorised), `symbolic` (the einsum expression derived by _tensor_calculus_hessians_einsum).
"""
from __future__ import annotations

import functools
import warnings
from typing import Callable

import sympy
import torch

from . import _tensor_calculus_hessians_einsum as ec

FUNCTIONS = ("quadratic", "logistic", "factorisation")
METHODS = ("rowwise", "functorch", "symbolic")


@functools.cache
def hessian_expr(function: str) -> ec.Expr:
    """The symbolic Hessian of `function`, derived once (index letters as in the docstring)."""
    if function == "quadratic":
        f = ec.Expr("", ((1.0, (ec.T("x", "a"), ec.T("A", "ab"), ec.T("x", "b"))),))
        return ec.d(ec.d(f, "x", "i"), "x", "j")
    if function == "logistic":
        z = ec.Expr("k", ((1.0, (ec.T("y", "k"), ec.T("X", "ki"), ec.T("w", "i"))),))
        f = ec.Expr("", ((1.0, (ec.Fn(sympy.log(1 + sympy.exp(-ec.Z)), z),)),))
        return ec.d(ec.d(f, "w", "p"), "w", "q")
    residual = ec.Expr("ab", ((1.0, (ec.T("T", "ab"),)), (-1.0, (ec.T("U", "ac"), ec.T("V", "bc")))))
    f = ec.Expr("", ((1.0, (ec.Fn(ec.Z ** 2, residual),)),))
    return ec.d(ec.d(f, "U", "ij"), "U", "kl")


def problem(function: str, n: int, gen: torch.Generator, rank: int, cols: int
            ) -> tuple[str, dict[str, torch.Tensor]]:
    """(variable name, tensors) of one random instance, float32 on the CPU."""
    if function == "quadratic":
        return "x", {"A": torch.randn(n, n, generator=gen), "x": torch.randn(n, generator=gen)}
    if function == "logistic":
        x = torch.randn(2 * n, n, generator=gen) / n ** 0.5
        y = torch.where(torch.rand(2 * n, generator=gen) < 0.5, -1.0, 1.0)
        return "w", {"X": x, "y": y, "w": torch.randn(n, generator=gen) / n ** 0.5}
    return "U", {"T": torch.randn(n, cols, generator=gen), "U": torch.randn(n, rank, generator=gen),
                 "V": torch.randn(cols, rank, generator=gen)}


def objective(function: str, env: dict[str, torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """f as a function of its variable (the other tensors held fixed)."""
    if function == "quadratic":
        return lambda x: x @ env["A"] @ x
    if function == "logistic":
        return lambda w: torch.nn.functional.softplus(-env["y"] * (env["X"] @ w)).sum()
    return lambda u: ((env["T"] - u @ env["V"].T) ** 2).sum()


def rowwise(f: Callable, x: torch.Tensor) -> torch.Tensor:
    """Reverse mode row by row: the gradient with a graph, then one backward pass per entry."""
    x = x.detach().requires_grad_()
    g = torch.autograd.grad(f(x), x, create_graph=True)[0].reshape(-1)
    rows = [torch.autograd.grad(g[i], x, retain_graph=True)[0].reshape(-1) for i in range(g.numel())]
    return torch.stack(rows).reshape(*x.shape, *x.shape)


def symbolic(function: str, var: str, env: dict[str, torch.Tensor]) -> torch.Tensor:
    shape = env[var].shape
    out = hessian_expr(function).out
    sizes = dict(zip(out, (*shape, *shape)))
    return ec.evaluate(hessian_expr(function), env, sizes)


def compute(method: str, function: str, var: str, env: dict[str, torch.Tensor]) -> torch.Tensor:
    f = objective(function, env)
    if method == "rowwise":
        return rowwise(f, env[var])
    if method == "functorch":
        with warnings.catch_warnings():  # torch's first forward-mode call scripts decompositions
            warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
            return torch.func.hessian(f)(env[var])
    return symbolic(function, var, env)


def warm_up(device: torch.device) -> None:
    """One untimed call of every method (torch.func's first call pays a one-off set-up)."""
    _warm_up(str(device))


@functools.cache
def _warm_up(device: str) -> None:
    gen = torch.Generator().manual_seed(0)
    for function in FUNCTIONS:
        var, env = problem(function, 3, gen, 2, 2)
        env = {k: v.to(device) for k, v in env.items()}
        for method in METHODS:
            compute(method, function, var, env)
