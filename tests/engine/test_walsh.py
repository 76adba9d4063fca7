"""engine/walsh.py: the fast Walsh-Hadamard transform and the parity gradient variance."""

import math
import pytest
import torch

from deepatoms.data.parity import all_sign_vectors, parity_labels
from deepatoms.engine.walsh import fwht, parity_gradient_variance
from ..atoms.failure_helpers import gen


def test_fwht_matches_hadamard_matrix():
    for d in range(1, 6):
        n = 2 ** d
        a = torch.randn(n, 3, generator=gen(d), dtype=torch.float64)
        h = torch.tensor([[(-1.0) ** bin(s & m).count("1") for m in range(n)] for s in range(n)],
                         dtype=torch.float64)
        assert torch.allclose(fwht(a), h @ a)
    with pytest.raises(ValueError):
        fwht(torch.zeros(6, 1))


def _brute_force_variance(w1, b1, w2, b2):
    """Var over all parities S of the full-batch hinge gradient, by autograd, one S at a time."""
    d = w1.shape[0]
    x = all_sign_vectors(d)
    grads = []
    for s in range(2 ** d):
        mask = torch.tensor([(s >> i) & 1 == 1 for i in range(d)])
        y = parity_labels(x, mask)
        ps = [t.detach().double().clone().requires_grad_() for t in (w1, b1, w2, b2)]
        p = torch.relu(x @ ps[0] + ps[1]) @ ps[2] + ps[3]
        g = torch.autograd.grad(torch.clamp(1 - y * p, min=0).mean(), ps)
        grads.append(torch.cat([t.reshape(-1) for t in g]))
    g = torch.stack(grads)
    return float(((g - g.mean(0)) ** 2).sum(1).mean())


@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_parity_gradient_variance_matches_brute_force(d):
    g = gen(10 + d)
    h = 3 * d
    w1 = torch.randn(d, h, generator=g) / math.sqrt(d)
    b1 = 0.3 * torch.randn(h, generator=g)
    w2 = 2 * torch.randn(h, generator=g) / math.sqrt(h)  # outputs beyond ±1: hinge inactive somewhere
    var, g2 = parity_gradient_variance(w1, b1, w2, torch.tensor(0.2))
    assert var == pytest.approx(_brute_force_variance(w1, b1, w2, torch.tensor(0.2)), rel=1e-10)
    x = all_sign_vectors(d)
    jac = torch.cat([(x.unsqueeze(2) * ((x @ w1.double() + b1.double()) > 0).double().unsqueeze(1)
                      * w2.double()).reshape(2 ** d, -1),
                     ((x @ w1.double() + b1.double()) > 0).double() * w2.double(),
                     torch.relu(x @ w1.double() + b1.double()), torch.ones(2 ** d, 1, dtype=torch.float64)], 1)
    assert g2 == pytest.approx(float((jac ** 2).sum(1).mean()), rel=1e-12)
    assert var <= g2 / 2 ** d  # Theorem 1


def test_parity_gradient_variance_parseval_identity():
    """Var = E‖φ‖²/2^d − ‖φ(1,…,1)‖²/4^d with φ = β·J (Parseval + Σ_S χ_S(x) = 2^d·1[x = 1])."""
    d, h = 6, 12
    g = gen(99)
    w1, b1, w2 = torch.randn(d, h, generator=g) / 2, torch.randn(h, generator=g), torch.randn(h, generator=g)
    var, _ = parity_gradient_variance(w1, b1, w2, torch.tensor(0.0))
    x = all_sign_vectors(d)
    z = x @ w1.double() + b1.double()
    p = torch.relu(z) @ w2.double()
    beta = (((p < 1).double() + (p > -1).double()) / 2).unsqueeze(1)
    gate = (z > 0).double() * w2.double()
    jac = torch.cat([(x.unsqueeze(2) * gate.unsqueeze(1)).reshape(2 ** d, -1), gate, torch.relu(z),
                     torch.ones(2 ** d, 1, dtype=torch.float64)], 1)
    phi = beta * jac
    expected = float((phi ** 2).sum(1).mean()) / 2 ** d - float((phi[0] ** 2).sum()) / 4 ** d
    assert var == pytest.approx(expected, rel=1e-10)
