"""Private pieces of adversarial-examples: the three classifiers (softmax regression, a ReLU MLP
and the same MLP adversarially trained), trained as two populations over seeds, and their
measurements under FGSM, random-sign noise, transfer and the L-BFGS minimal perturbation.

One population per model, one member per seed; every member's training batches come from its
own generator; FGSM inside adversarial training uses the member's own current gradient.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from ...engine import MLPPop
from ...lab import Lab
from ._adversarial_examples_attacks import (fgsm, minimal_perturbation, mlp_loss_grad, pgd,
                                            random_sign)
from ._adversarial_examples_stopping import BestKeeper, fit_early_stopped, split_rows
from ._stacked_nets import cross_entropy, mlp_logits

MODELS = ("softmax", "mlp", "mlp_adv")


@dataclasses.dataclass
class Models:
    """The trained populations (one member per seed each); `forward(name)` maps x (S, B, d) to
    the logits (S, B, 10) of model `name` of each of the S seeds, `forward(name, i)` maps
    (1, B, d) to seed i's."""
    pops: dict[str, MLPPop]
    keepers: dict[str, BestKeeper | None] = dataclasses.field(default_factory=dict)

    def forward(self, name: str, i: int | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        pop, rows = self.pops[name], slice(None) if i is None else slice(i, i + 1)
        ws = [w.detach()[rows] for w in pop.weights]
        bs = [b.detach()[rows] for b in pop.biases]
        return lambda x: mlp_logits(ws, bs, x)

    def layers(self, name: str, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Seed i's model `name` as float64 NumPy (W (n_in, n_out), b (n_out,)) per layer."""
        pop = self.pops[name]
        return [(w[i].detach().cpu().double().numpy(), b[i, 0].detach().cpu().double().numpy())
                for w, b in zip(pop.weights, pop.biases)]


@dataclasses.dataclass(frozen=True)
class Split:
    """Per seed: its training rows (S, n − k) and validation rows (S, k) of the training set x
    (N, d), y (N,) (the same for the three models of a seed; k = 0: no early stopping)."""
    x: torch.Tensor
    y: torch.Tensor
    train_rows: torch.Tensor
    val_rows: torch.Tensor


def _criterion(p, name: str, net: Callable[[torch.Tensor], torch.Tensor], split: Split):
    """Goodfellow's early-stopping criterion: the clean validation error, and for the
    adversarially trained net the error on FGSM (ε = eps_train) examples of the validation set
    made against each member's current weights; with the mean cross-entropy on the same
    examples (for ties). None when nothing is held out."""
    if split.val_rows.shape[1] == 0:
        return None
    xv, yv = split.x[split.val_rows], split.y[split.val_rows]

    def criterion() -> tuple[torch.Tensor, torch.Tensor]:
        xe = fgsm(net, xv, yv, p.eps_train) if name == "mlp_adv" else xv
        with torch.no_grad():
            logits = net(xe)
            return ((logits.argmax(-1) != yv).double().mean(1),
                    cross_entropy(logits, yv).double().mean(1))
    return criterion


def _train_one(p, lab: Lab, name: str, split: Split) -> tuple[MLPPop, BestKeeper | None]:
    hidden = {"softmax": (), "mlp": p.hidden, "mlp_adv": p.adv_hidden}[name]
    sizes = (split.x.shape[1], *hidden, 10)
    pop = MLPPop([sizes] * len(lab.seeds), [lab.torch_generator(s, "init", name) for s in lab.seeds],
                 activation="relu", init="torch_default", device=lab.device)

    net = lambda x: mlp_logits(pop.weights, pop.biases, x)

    def loss(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        clean = cross_entropy(net(xb), yb)
        if name != "mlp_adv":
            return clean
        x_adv = fgsm(net, xb, yb, p.eps_train)  # each member's own current gradient, no graph
        return p.adv_alpha * clean + (1 - p.adv_alpha) * cross_entropy(net(x_adv), yb)
    keeper = fit_early_stopped(
        pop.params, loss, split.x, split.y, split.train_rows,
        [lab.torch_generator(s, "batches", name) for s in lab.seeds], lab, steps=p.steps,
        batch=p.batch_size, lr=p.linear_lr if name == "softmax" else p.lr,
        criterion=_criterion(p, name, net, split), eval_every=p.eval_every,
        description=f"adversarial-examples {name}")
    return pop, keeper


def split_training_set(p, lab: Lab, x: torch.Tensor, y: torch.Tensor) -> Split:
    """Hold out `val_fraction` of the training rows per seed (seeded, one split per seed)."""
    train_rows, val_rows = split_rows(len(y), p.val_fraction,
                                      [lab.numpy_rng(s, "validation") for s in lab.seeds])
    as_rows = lambda r: torch.as_tensor(r, dtype=torch.long, device=x.device)
    return Split(x, y, as_rows(train_rows), as_rows(val_rows))


def train_models(p, lab: Lab, split: Split) -> Models:
    """The three populations, trained with Adam on minibatches of each seed's training rows and
    early-stopped on its validation rows (see the atom's method text)."""
    trained = {name: _train_one(p, lab, name, split) for name in MODELS}
    return Models({n: pop for n, (pop, _) in trained.items()},
                  {n: keeper for n, (_, keeper) in trained.items()})


def stopping_rows(models: Models, lab: Lab, eps_train: float) -> tuple[list[dict], list[dict]]:
    """Per model and seed: the step kept (`best_step`) as a measurement, and the validation
    curve (`val_error` at each recorded step) as figure data."""
    best, curve = [], []
    for name, keeper in models.keepers.items():
        if keeper is None:
            continue
        eps = eps_train if name == "mlp_adv" else 0.0
        for i, s in enumerate(lab.seeds):
            best.append(dict(_row(s, name, "early_stop", eps, "best_step", keeper.step[i]),
                             step=float("nan")))
            curve += [dict(_row(s, name, "validation", eps, "val_error", err[i]), step=float(t))
                      for t, err, _ in keeper.history]
    return best, curve


def error_and_confidence(logits: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per model: the error rate, and the mean probability the model gives its (wrong) answer on
    the misclassified examples (Goodfellow et al.'s "confidence"; NaN if none). logits (S, B, C)."""
    prob = torch.softmax(logits, dim=-1)
    top, pred = prob.max(dim=-1)
    wrong = (pred != y).to(prob.dtype)
    conf = (top * wrong).sum(1) / wrong.sum(1)
    return wrong.mean(1).cpu().numpy(), conf.cpu().numpy()


def _row(seed: int, model: str, attack: str, eps: float, metric: str, value: float) -> dict:
    return dict(seed=seed, model=model, attack=attack, eps=eps, metric=metric, value=float(value))


def attack_rows(models: Models, p, lab: Lab, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Clean error, FGSM error and confidence, random-sign error per ε, for every model and seed;
    x (N, d) the test set, shared."""
    seeds, rows = lab.seeds, []
    xs = x.expand(len(seeds), *x.shape)
    for name in MODELS:
        f = models.forward(name)
        with torch.no_grad():
            err, _ = error_and_confidence(f(xs), y)
        rows += [_row(s, name, "none", 0.0, "error", err[i]) for i, s in enumerate(seeds)]
        for k, eps in enumerate(p.eps):
            err, conf = error_and_confidence(f(fgsm(f, xs, y, eps)).detach(), y)
            noise = random_sign(xs, eps, [lab.torch_generator(s, "random-sign", k) for s in seeds])
            with torch.no_grad():
                noise_err, _ = error_and_confidence(f(noise), y)
            for i, s in enumerate(seeds):
                rows += [_row(s, name, "fgsm", eps, "error", err[i]),
                         _row(s, name, "fgsm", eps, "confidence", conf[i]),
                         _row(s, name, "random_sign", eps, "error", noise_err[i])]
    return rows + transfer_rows(models, p, lab, xs, y) + pgd_rows(models, p, lab, xs, y)


def pgd_rows(models: Models, p, lab: Lab, xs: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """The networks' error under PGD at the claim ε: an iterative attack that FGSM robustness
    must survive for it not to be gradient masking."""
    rows = []
    for name in ("mlp", "mlp_adv"):
        f = models.forward(name)
        adv = pgd(f, xs, y, p.claim_eps, p.pgd_steps, [lab.torch_generator(s, "pgd", name)
                                                        for s in lab.seeds])
        with torch.no_grad():
            err, _ = error_and_confidence(f(adv), y)
        rows += [_row(s, name, "pgd", p.claim_eps, "error", err[i]) for i, s in enumerate(lab.seeds)]
    return rows


def transfer_rows(models: Models, p, lab: Lab, xs: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """FGSM examples (ε = claim ε) made on one model, classified by the other model of the seed."""
    rows = []
    for source, target in (("softmax", "mlp"), ("mlp", "softmax"), ("mlp", "mlp_adv")):
        adv = fgsm(models.forward(source), xs, y, p.claim_eps)
        with torch.no_grad():
            err, _ = error_and_confidence(models.forward(target)(adv), y)
        rows += [_row(s, target, f"fgsm_from_{source}", p.claim_eps, "error", err[i])
                 for i, s in enumerate(lab.seeds)]
    return rows


def lbfgs_rows(models: Models, p, lab: Lab, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Szegedy's minimal perturbation toward a random wrong label, for `lbfgs_images` test
    images per seed: the fraction found, and the mean RMS distortion √(mean r²) and ℓ∞ size of
    the perturbations found (pixels in [0, 1])."""
    rows, xn, yn = [], x.cpu().double().numpy(), y.cpu().numpy()
    for i, s in enumerate(lab.seeds):
        rng = lab.numpy_rng(s, "lbfgs")
        idx = rng.choice(len(yn), p.lbfgs_images, replace=False)
        target = (yn[idx] + rng.integers(1, 10, p.lbfgs_images)) % 10
        for name in MODELS:
            r, found = minimal_perturbation(mlp_loss_grad(models.layers(name, i)), xn[idx],
                                            target, rounds=p.lbfgs_rounds)
            rms = np.sqrt((r[found] ** 2).mean(axis=1))
            linf = np.abs(r[found]).max(axis=1) if found.any() else np.array([np.nan])
            rows += [_row(s, name, "lbfgs", float("nan"), "found", found.mean()),
                     _row(s, name, "lbfgs", float("nan"), "rms_distortion",
                          rms.mean() if found.any() else np.nan),
                     _row(s, name, "lbfgs", float("nan"), "linf_distortion", linf.mean())]
    return rows
