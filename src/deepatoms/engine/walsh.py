"""Exact variance, over all 2^d parities, of the hinge-loss gradient of a one-hidden-layer ReLU
net (Shalev-Shwartz et al. 2017, Theorem 1), via a fast Walsh–Hadamard transform.

For a parity target y = χ_S(x) = ∏_{i∈S} x_i and hinge loss ℓ = max(0, 1 − y·p(x)), the
per-sample gradient is −y·1[y·p < 1]·J(x) with J = ∂p/∂w. Writing a = 1[p < 1], b = 1[p > −1],
−y·1[y·p < 1] = (b − a)/2 − y·(a + b)/2, so the population gradient is
g_S = E_x[(b − a)/2 · J] − φ̂(S), with φ = (a + b)/2 · J and φ̂(S) = E_x[χ_S(x) φ(x)] its Walsh
coefficient. Hence Var_S g_S = Var_S φ̂(S), computed exactly from all 2^d inputs by one FWHT per
parameter column. Theorem 1: Var ≤ G²/2^d with G² = E_x ‖J(x)‖².
"""
from __future__ import annotations

import torch

from ..data.parity import all_sign_vectors
from ..errors import ParamError

MAX_D = 16  # 2^16 inputs × (#parameters) per column block: seconds on a CPU; beyond, minutes+
BLOCK_ELEMENTS = 2 ** 22  # cap on the (2^d, columns) block transformed at once (memory)


def fwht(a: torch.Tensor) -> torch.Tensor:
    """Unnormalised Walsh–Hadamard transform along dim 0.

    a: (2^d, C) → (2^d, C) with out[s] = Σ_n (−1)^{popcount(s & n)} a[n].
    """
    n = a.shape[0]
    if n & (n - 1):
        raise ValueError(f"fwht needs a power-of-two length, got {n}")
    out = a.reshape(n, -1)
    h = 1
    while h < n:
        v = out.view(n // (2 * h), 2, h, -1)  # index = block·2h + j·h + i, j = bit log2(h)
        out = torch.stack((v[:, 0] + v[:, 1], v[:, 0] - v[:, 1]), dim=1).reshape(n, -1)
        h *= 2
    return out.reshape(a.shape)


def _jacobian_blocks(x, w1, b1, w2, hidden_chunk):
    """Yield column blocks of J = ∂p/∂(w1, b1, w2, b2) over all inputs: (N, C) each."""
    z = x @ w1 + b1  # (N, H)
    gate = (z > 0).to(x.dtype) * w2  # ∂p/∂z: (N, H)
    n, d = x.shape
    for h0 in range(0, w1.shape[1], hidden_chunk):
        g = gate[:, h0:h0 + hidden_chunk]
        yield (x.unsqueeze(2) * g.unsqueeze(1)).reshape(n, -1)  # ∂p/∂w1[:, h0:h1]: (N, d·hc)
    yield gate  # ∂p/∂b1
    yield torch.relu(z)  # ∂p/∂w2
    yield torch.ones(n, 1, dtype=x.dtype)  # ∂p/∂b2


def parity_gradient_variance(w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                             b2: float | torch.Tensor) -> tuple[float, float]:
    """(Var_S ‖g_S‖ summed over parameters, G² = E_x ‖∂p/∂w‖²) for p(x) = w2ᵀ relu(w1ᵀx + b1) + b2.

    w1: (d, H), b1: (H,), w2: (H,), b2: scalar. Exact over all 2^d inputs and all 2^d parities
    (including the empty one). Computed in float64 on the CPU.
    """
    d = w1.shape[0]
    if d > MAX_D:
        raise ParamError(f"parameter 'variance_dims' contains d={d}: the exact gradient variance "
                         f"enumerates all 2^d inputs and parities, allowed d <= {MAX_D}")
    w1, b1, w2 = (t.detach().to("cpu", torch.float64) for t in (w1, b1, w2))
    b2 = float(b2)
    x = all_sign_vectors(d)  # (N, d)
    n = x.shape[0]
    p = torch.relu(x @ w1 + b1) @ w2 + b2  # (N,)
    beta = (((p < 1).double() + (p > -1).double()) / 2).unsqueeze(1)  # (N, 1)
    hidden_chunk = max(1, BLOCK_ELEMENTS // (n * d))
    var, g2 = 0.0, 0.0
    for jac in _jacobian_blocks(x, w1, b1, w2, hidden_chunk):
        g2 += float((jac ** 2).sum()) / n
        coef = fwht(beta * jac) / n  # φ̂(S) for every S: (N, C)
        var += float(((coef - coef.mean(dim=0)) ** 2).sum()) / n
    return var, g2
