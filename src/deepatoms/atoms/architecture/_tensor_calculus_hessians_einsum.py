"""A small Einstein-notation differentiator compiled to `torch.einsum` (tensor-calculus-hessians).

An expression is a sum of terms with explicit output indices (`Expr.out`); a term is a
coefficient times a product of factors, contracted as `einsum` does (indices of the term that
are not in `out` are summed). Factors are indexed tensors `T("A", "ij")`, Kronecker deltas
`Delta("i", "k")` and elementwise functions `Fn(g, arg)` of an indexed sub-expression (g a SymPy
function of one symbol; its indices are `arg.out`). Differentiation by `d(expr, var, new)`:

- d T(var, idx) / d var[new] = Π δ(idx_r, new_r); other tensors and deltas give 0;
- d Fn(g, arg) = Fn(g', arg) · d arg (g' by SymPy; a constant g' becomes a coefficient);
- product rule over the factors of each term, sums term by term;

then each delta with a summed index is contracted away by renaming that index (δ_pq x_p → x_q),
so the second derivative of xᵀAx is A_ij + A_ji with no delta left; deltas between two output
indices stay as identity matrices (the matrix-factorisation Hessian 2 δ_ik (VᵀV)_jl). Indices are
single letters; every expression below uses distinct letters for distinct sums.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Union

import sympy
import torch

Z = sympy.Symbol("z")


@dataclasses.dataclass(frozen=True)
class T:
    name: str
    idx: str


@dataclasses.dataclass(frozen=True)
class Delta:
    a: str
    b: str


@dataclasses.dataclass(frozen=True)
class Fn:
    g: sympy.Expr      # a function of Z
    arg: "Expr"


Factor = Union[T, Delta, Fn]


@dataclasses.dataclass(frozen=True)
class Expr:
    out: str
    terms: tuple[tuple[float, tuple[Factor, ...]], ...]


def _rename(f: Factor, old: str, new: str) -> Factor:
    if isinstance(f, T):
        return T(f.name, f.idx.replace(old, new))
    if isinstance(f, Delta):
        return Delta(f.a.replace(old, new), f.b.replace(old, new))
    if old not in f.arg.out:
        return f  # the index is not free in the sub-expression: its own sums are local
    arg = Expr(f.arg.out.replace(old, new),
               tuple((c, tuple(_rename(x, old, new) for x in fs)) for c, fs in f.arg.terms))
    return Fn(f.g, arg)


def _contract_deltas(out: str, coef: float, factors: tuple[Factor, ...]):
    """Remove every delta that has a summed index by renaming that index in the term."""
    factors = list(factors)
    changed = True
    while changed:
        changed = False
        for k, f in enumerate(factors):
            if not isinstance(f, Delta):
                continue
            if f.a == f.b:
                raise ValueError(f"trace δ_{f.a}{f.a} is not supported")
            old, new = (f.a, f.b) if f.a not in out else (f.b, f.a) if f.b not in out else ("", "")
            if old:
                rest = factors[:k] + factors[k + 1:]
                factors = [_rename(x, old, new) for x in rest]
                changed = True
                break
    return coef, tuple(factors)


def _d_factor(f: Factor, var: str, new: str) -> list[tuple[float, tuple[Factor, ...]]]:
    """d f / d var[new] as a list of (coefficient, factors) products."""
    if isinstance(f, T):
        if f.name != var:
            return []
        return [(1.0, tuple(Delta(a, b) for a, b in zip(f.idx, new)))]
    if isinstance(f, Delta):
        return []
    inner = d(f.arg, var, new, contract=False)
    g1 = sympy.simplify(sympy.diff(f.g, Z))
    if g1.is_number:
        if g1 == 0:
            return []
        return [(float(g1) * c, fs) for c, fs in inner.terms]
    return [(c, (Fn(g1, f.arg), *fs)) for c, fs in inner.terms]


def d(expr: Expr, var: str, new: str, contract: bool = True) -> Expr:
    """The derivative of `expr` by the tensor `var`, with new output indices `new`."""
    out = expr.out + new
    terms = []
    for coef, factors in expr.terms:
        for k, f in enumerate(factors):
            for c, dfs in _d_factor(f, var, new):
                term = (coef * c, factors[:k] + dfs + factors[k + 1:])
                terms.append(_contract_deltas(out, *term) if contract else term)
    return Expr(out, tuple(terms))


def _sizes(factors, env: dict[str, torch.Tensor], sizes: dict[str, int]) -> None:
    for f in factors:
        if isinstance(f, T):
            sizes.update(zip(f.idx, env[f.name].shape))
        elif isinstance(f, Fn):
            for _, fs in f.arg.terms:
                _sizes(fs, env, sizes)


TORCH_FUNCTIONS = {name: getattr(torch, name) for name in
                   ("exp", "log", "cosh", "sinh", "tanh", "sqrt", "sin", "cos")}


@functools.cache
def _compiled(g: sympy.Expr):
    return sympy.lambdify(Z, g, modules=[TORCH_FUNCTIONS])


def _apply(g: sympy.Expr, x: torch.Tensor) -> torch.Tensor:
    return _compiled(g)(x)


def evaluate(expr: Expr, env: dict[str, torch.Tensor], sizes: dict[str, int] | None = None
             ) -> torch.Tensor:
    """The expression's value, a tensor with one axis per index of `expr.out`. `sizes`: the
    length of indices no tensor of a term carries (a delta's, e.g. the variable's own)."""
    sizes = dict(sizes or {})
    for _, fs in expr.terms:
        _sizes(fs, env, sizes)
    like = next(iter(env.values()))
    total = None
    for coef, factors in expr.terms:
        subs, ops = [], []
        # deltas last: einsum contracts left to right, so the identities only widen the result
        for f in sorted(factors, key=lambda f: isinstance(f, Delta)):
            if isinstance(f, T):
                subs.append(f.idx), ops.append(env[f.name])
            elif isinstance(f, Delta):
                subs.append(f.a + f.b)
                ops.append(torch.eye(sizes[f.a], dtype=like.dtype, device=like.device))
            else:
                subs.append(f.arg.out), ops.append(_apply(f.g, evaluate(f.arg, env)))
        value = coef * torch.einsum(f"{','.join(subs)}->{expr.out}", *ops)
        total = value if total is None else total + value
    return total


def einsum_text(expr: Expr) -> str:
    """The compiled expression as text, e.g. '1·A[ij] + 1·A[ji]' (for the method text/tests)."""
    def show(f: Factor) -> str:
        if isinstance(f, T):
            return f"{f.name}[{f.idx}]"
        if isinstance(f, Delta):
            return f"δ[{f.a}{f.b}]"
        return f"({f.g})(z=…)[{f.arg.out}]"
    return " + ".join(f"{c:g}·" + "·".join(show(f) for f in fs) for c, fs in expr.terms)
