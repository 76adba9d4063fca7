"""Private pieces of saliency-fragility (Ghorbani, Abid & Zou 2019): saliency maps of a
population of CNNs, the metrics that compare two maps, and the iterative ℓ∞ attacks on a map.

Shapes: M models (one per seed), B images each, side S (1 channel); a map is (M, B, S, S) ≥ 0.
- simple gradient: |∂z_ℓ/∂x|, z_ℓ the logit of the label ℓ (the model's prediction);
- integrated gradients (baseline b, `steps` points): |(x − b) ⊙ mean_k ∇z_ℓ(b + k (x − b) / steps)|;
  b is a grey image (the training set's mean pixel, as Ghorbani et al.'s code uses the channel
  mean image): with b = 0 the map is identically 0 wherever the digit's pixel is 0.
ReLU networks have zero second derivatives almost everywhere, so the attack differentiates the
map of a softplus surrogate (same weights, softplus(βh)/β); the label check and every measured
map use the real ReLU network.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.stats as sps
import torch

from ...engine.derivatives import input_grad

Logits = Callable[[torch.Tensor], torch.Tensor]
METHODS = ("gradient", "integrated_gradients")


def saliency_map(logits: Logits, x: torch.Tensor, label: torch.Tensor, method: str, steps: int,
                 create_graph: bool = False, baseline: float = 0.0) -> torch.Tensor:
    """x (M, B, 1, S, S), label (M, B) → map (M, B, S, S); with `create_graph` the map stays
    differentiable in x (x must then already require grad, e.g. inside `input_grad`);
    `baseline`: the grey level of integrated gradients' reference image."""
    if not x.requires_grad:
        x = x.detach().requires_grad_()
    m, b = label.shape
    if method == "gradient":
        points, reps = x, 1
    else:
        alphas = torch.arange(1, steps + 1, dtype=x.dtype, device=x.device) / steps
        delta = (x - baseline).unsqueeze(2) * alphas.view(1, 1, -1, 1, 1, 1)
        points = (baseline + delta).flatten(1, 2)  # (M, B·K, 1, S, S)
        reps = steps
    z = logits(points).gather(-1, label.repeat_interleave(reps, dim=1).unsqueeze(-1))
    (g,) = torch.autograd.grad(z.sum(), points, create_graph=create_graph)
    if method != "gradient":
        g = g.view(m, b, steps, *x.shape[2:]).mean(2) * (x - baseline)
    out = g.abs().squeeze(2)
    return out if create_graph else out.detach()


def normalise(s: torch.Tensor) -> torch.Tensor:
    """Maps scaled to sum 1 per image (M, B, S, S)."""
    return s / s.flatten(2).sum(-1).clamp_min(1e-12)[..., None, None]


def centre_of_mass(s: torch.Tensor) -> torch.Tensor:
    """(M, B, S, S) → (M, B, 2): the map-weighted mean (row, column) in pixels."""
    side = s.shape[-1]
    idx = torch.arange(side, dtype=s.dtype, device=s.device)
    w = normalise(s)
    return torch.stack([(w.sum(-1) * idx).sum(-1), (w.sum(-2) * idx).sum(-1)], dim=-1)


def top_mask(s: torch.Tensor, k: int) -> torch.Tensor:
    """(M, B, S, S) → (M, B, S·S) float: 1 on each map's k largest pixels."""
    flat = s.flatten(2)
    return torch.zeros_like(flat).scatter_(-1, flat.topk(k, dim=-1).indices, 1.0)


def top_k_intersection(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Fraction of the k largest entries of a that are among the k largest of b, per row:
    a, b (N, P) → (N,). Ties broken by position (stable sort)."""
    ta = np.argsort(-a, axis=1, kind="stable")[:, :k]
    tb = np.argsort(-b, axis=1, kind="stable")[:, :k]
    return np.array([len(np.intersect1d(x, y)) / k for x, y in zip(ta, tb)])


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation per row (average ranks for ties): (N, P) × (N, P) → (N,);
    NaN for a constant row."""
    ra, rb = sps.rankdata(a, axis=1), sps.rankdata(b, axis=1)
    ra, rb = ra - ra.mean(1, keepdims=True), rb - rb.mean(1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / den, np.nan)


def _dissimilarity(kind: str, s: torch.Tensor, ref_top: torch.Tensor, ref_com: torch.Tensor,
                   ) -> torch.Tensor:
    """What the attack maximises, per image (M, B): top-k — minus the share of the map on the
    original top-k pixels; mass-centre — the squared shift of the centre of mass."""
    if kind == "topk":
        return -(normalise(s).flatten(2) * ref_top).sum(-1)
    return ((centre_of_mass(s) - ref_com) ** 2).sum(-1)


KINDS = ("topk", "mass_center")


def _project(x: torch.Tensor, x0: torch.Tensor, eps: float) -> torch.Tensor:
    """x clipped to the ℓ∞ ball of radius ε around x0 and to the box [0, 1]."""
    return torch.minimum(torch.maximum(x, x0 - eps), x0 + eps).clamp(0.0, 1.0).detach()


class _Best:
    """Per image and criterion, the iterate whose real map is most dissimilar from the
    original's among those the real network still labels `label` (x0 until one is found)."""

    def __init__(self, net: Logits, x0: torch.Tensor, label: torch.Tensor, method: str, p,
                 baseline: float, kinds: tuple[str, ...]):
        self.net, self.label, self.method, self.p, self.baseline = net, label, method, p, baseline
        ref = self.map(x0)
        self.ref_top, self.ref_com = top_mask(ref, p.top_k), centre_of_mass(ref)
        self.x = {k: x0.clone() for k in kinds}
        self.score = {k: self.dissimilarity(k, ref) for k in kinds}

    def map(self, x: torch.Tensor, net: Logits | None = None, create_graph: bool = False):
        return saliency_map(net or self.net, x, self.label, self.method, self.p.ig_steps,
                            create_graph=create_graph, baseline=self.baseline)

    def dissimilarity(self, kind: str, s: torch.Tensor) -> torch.Tensor:
        return _dissimilarity(kind, s, self.ref_top, self.ref_com)

    def offer(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            kept = self.net(x).argmax(-1) == self.label
        s = self.map(x)
        for kind in self.x:
            score = self.dissimilarity(kind, s).detach()
            better = kept & (score > self.score[kind])
            self.x[kind] = torch.where(better[..., None, None, None], x, self.x[kind])
            self.score[kind] = torch.where(better, score, self.score[kind])


def attack(net: Logits, surrogate: Logits, x0: torch.Tensor, label: torch.Tensor, kind: str,
           method: str, eps: float, p, baseline: float = 0.0) -> torch.Tensor:
    """Ghorbani et al.'s iterative attack: `p.attack_steps` signed steps of size
    `p.step_fraction`·ε on the surrogate map's dissimilarity, projected onto the ℓ∞ ball of
    radius ε around x0 and the box [0, 1]; returns, per image, the iterate whose real map is
    most dissimilar among those the real network still labels `label` (x0 if none)."""
    best = _Best(net, x0, label, method, p, baseline, (kind,))
    x = x0.clone()
    for _ in range(p.attack_steps):
        g = input_grad(lambda z: best.dissimilarity(kind, best.map(z, surrogate, True)), x)
        x = _project(x + p.step_fraction * eps * torch.sign(g), x0, eps)
        best.offer(x)
    return best.x[kind]


def random_walk(net: Logits, x0: torch.Tensor, label: torch.Tensor, method: str, eps: float, p,
                gens, baseline: float = 0.0) -> dict[str, torch.Tensor]:
    """Ghorbani et al.'s random control: the same iterative walk with a random sign per pixel
    in place of the attack's direction (one generator per model), keeping per image the most
    damaging label-preserving iterate by each attack's own criterion: {kind: x (M, B, 1, S, S)}."""
    best = _Best(net, x0, label, method, p, baseline, KINDS)
    x = x0.clone()
    for _ in range(p.attack_steps):
        signs = torch.stack([torch.randint(0, 2, x0.shape[1:], generator=g) for g in gens]).to(x0)
        x = _project(x + p.step_fraction * eps * (2 * signs - 1), x0, eps)
        best.offer(x)
    return best.x
