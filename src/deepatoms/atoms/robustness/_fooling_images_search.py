"""Private pieces of fooling-images: a classifier population (one ReLU MLP per seed), and two
searches, from uniform noise, for images the network labels class c with high confidence.

Shapes: S seeds (models), C = 10 target classes, d pixels in [0, 1], λ offspring.
- gradient ascent: x ← clip(x + η·sign ∇ₓ log p_c(x)), per image until p_c ≥ the target
  confidence (then frozen) or the step budget is spent;
- evolution ((1 + λ) direct encoding, after Nguyen et al.'s direct-encoded EA): each generation
  every pixel of each of λ copies of the parent is, with probability `rate`, moved by N(0, σ²)
  and clipped; the fittest of parent and offspring (highest p_c) survives.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ...engine import MLPPop
from ...engine.derivatives import input_grad
from ...lab import Lab
from ._stacked_nets import cross_entropy, fit, mlp_logits


@dataclasses.dataclass
class Search:
    """images (S, C, d) final images; confidence (S, C) their p_c; reached (S, C) the first
    step/generation with p_c ≥ the target (NaN: never); curve (R, S, C) p_c at record points."""
    images: torch.Tensor
    confidence: np.ndarray
    reached: np.ndarray
    curve: np.ndarray
    record_at: list[int]


def train_classifiers(p, lab: Lab, x: torch.Tensor, y: torch.Tensor) -> MLPPop:
    pop = MLPPop([(x.shape[1], *p.hidden, 10)] * len(lab.seeds),
                 [lab.torch_generator(s, "init") for s in lab.seeds], activation="relu",
                 init="torch_default", device=lab.device)
    fit(pop.params, lambda xb, yb: cross_entropy(logits(pop, xb), yb), x, y,
        [lab.torch_generator(s, "batches") for s in lab.seeds], lab, steps=p.steps,
        batch=p.batch_size, lr=p.lr, description="fooling-images classifier")
    return pop


def logits(pop: MLPPop, x: torch.Tensor) -> torch.Tensor:
    """The population's logits, one matrix product per model (`_stacked_nets.affine`)."""
    return mlp_logits(pop.weights, pop.biases, x)


def target_confidence(pop: MLPPop, x: torch.Tensor) -> torch.Tensor:
    """p_c of image c for every class: x (S, C, d) or (S, C, K, d) → (S, C) or (S, C, K)."""
    s, c = x.shape[:2]
    with torch.no_grad():
        prob = torch.softmax(logits(pop, x.reshape(s, -1, x.shape[-1])), dim=-1).view(*x.shape[:-1], 10)
    classes = torch.arange(c, device=x.device).view(1, c, *([1] * (x.dim() - 3)), 1)
    return prob.gather(-1, classes.expand(*x.shape[:-1], 1)).squeeze(-1)


def noise_starts(lab: Lab, d: int) -> torch.Tensor:
    """(S, C, d) uniform noise in [0, 1], each seed's from its own generator."""
    return lab.tensor(torch.stack([torch.rand(10, d, generator=lab.torch_generator(s, "noise"))
                                   for s in lab.seeds]))


def _tracker(n_records: int, shape: tuple[int, int]):
    return np.full(shape, np.nan), np.zeros((n_records, *shape))


def gradient_ascent(pop: MLPPop, x0: torch.Tensor, steps: int, step_size: float, goal: float,
                    record_at: list[int]) -> Search:
    x, (s, c) = x0.clone(), x0.shape[:2]
    labels = torch.arange(c, device=x.device).expand(s, c)
    reached, curve = _tracker(len(record_at), (s, c))
    conf = target_confidence(pop, x)
    for t in range(1, steps + 1):
        active = (conf < goal).unsqueeze(-1)
        g = input_grad(lambda z: -cross_entropy(logits(pop, z), labels), x)  # ∇ log p_c
        x = torch.where(active, (x + step_size * torch.sign(g)).clamp(0, 1), x)
        conf = target_confidence(pop, x)
        hit = (conf >= goal).cpu().numpy() & np.isnan(reached)
        reached[hit] = t
        if t in record_at:
            curve[record_at.index(t)] = conf.cpu().numpy()
    return Search(x, conf.cpu().numpy(), reached, curve, record_at)


def evolve(pop: MLPPop, x0: torch.Tensor, gens: list[torch.Generator], generations: int,
           offspring: int, rate: float, sd: float, goal: float, record_at: list[int]) -> Search:
    parent, (s, c, d) = x0.clone(), x0.shape
    reached, curve = _tracker(len(record_at), (s, c))
    fitness = target_confidence(pop, parent)
    for t in range(1, generations + 1):
        draws = [(torch.rand(c, offspring, d, generator=g), torch.randn(c, offspring, d, generator=g))
                 for g in gens]
        mask = torch.stack([m for m, _ in draws]).to(parent) < rate
        step = torch.stack([n for _, n in draws]).to(parent) * sd
        kids = (parent.unsqueeze(2) + mask * step).clamp(0, 1)  # (S, C, λ, d)
        kid_fit = target_confidence(pop, kids)
        best_fit, best = kid_fit.max(dim=2)
        better = (best_fit > fitness) & (fitness < goal)
        chosen = kids.gather(2, best.view(s, c, 1, 1).expand(s, c, 1, d)).squeeze(2)
        parent = torch.where(better.unsqueeze(-1), chosen, parent)
        fitness = torch.where(better, best_fit, fitness)
        hit = (fitness >= goal).cpu().numpy() & np.isnan(reached)
        reached[hit] = t
        if t in record_at:
            curve[record_at.index(t)] = fitness.cpu().numpy()
    return Search(parent, fitness.cpu().numpy(), reached, curve, record_at)


def correlations(images: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of every image with every class mean: (..., d) × (C, d) → (..., C)."""
    a = images - images.mean(-1, keepdim=True)
    b = means - means.mean(-1, keepdim=True)
    num = a @ b.T
    return num / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1).clamp_min(1e-12)).clamp_min(1e-12)
