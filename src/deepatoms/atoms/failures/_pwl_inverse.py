"""Learning the inverse of a PWL curve map (failures §4.1), one population per variant.

Three linear models map a curve f (n,) to its kink vector p (n,), all zero-initialised and
trained by Adam on minibatches drawn with replacement from a fixed training set, every seed a
member of one population (leading dimension S):
- "fc": p̂ = f M with M (n, n); loss = batch mean of Σ_x (p̂ − p)² (the code's FtoK).
- "conv": p̂[x] = w · (f[x], f[x−1], f[x−2]) for x ≥ 2, p̂[0] = p̂[1] = 0; loss = mean over
  batch and x (the code's FtoKConv).
- "conv-whitened": the same with the patches multiplied by C^{−1/2}, C the 3×3 patch covariance
  of the training set (the code's FtoKConvCond); the effective filter is C^{−1/2} w.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ...data.pwl_curves import FILTER, inverse_sqrt, kink_matrix, patch_covariance
from ...engine import Adam, Sampler, gather, train
from ...errors import ParamError

VARIANTS = ("fc", "conv", "conv-whitened")
TF_ADAM = dict(betas=(0.9, 0.999), eps=1e-8)  # the PWL code uses tf.train.AdamOptimizer defaults


@dataclasses.dataclass
class Fit:
    """What one variant's training recorded: per eval step (S,) arrays, snapshots of p̂."""
    eval_steps: list[int]
    rel_p_error: list[np.ndarray]      # ‖p̂ − p‖ / ‖p‖ on the validation set, per model
    filter_error: list[np.ndarray]     # max |w_eff − [1, −2, 1]| (fc: max |M − W⁻¹|)
    snapshots: dict[int, np.ndarray]   # step → p̂ of the shown validation curves (S, n_show, n)
    filters: np.ndarray                # final effective filter (S, 3) (fc: nan)


class InverseModel:
    """A population of S zero-initialised linear inverse maps of one variant.

    The convolutions are trained from per-curve sufficient statistics (A_i = Σ_x q qᵀ and
    c_i = Σ_x q p[x] over the curve's 3-tap patches q), which give exactly the minibatch gradient
    of the mean squared error without touching the (B, n−2, 3) patches at every step.
    """

    def __init__(self, variant: str, data: dict[str, torch.Tensor]):
        if variant not in VARIANTS:
            raise ParamError(f"unknown variant '{variant}'; allowed: {', '.join(VARIANTS)}")
        f_train = data["f_train"]
        s, _, n = f_train.shape
        device = f_train.device
        self.variant, self.n = variant, n
        shape = (s, n, n) if variant == "fc" else (s, 3, 1)
        self.weight = torch.zeros(shape, device=device)
        whiten = np.eye(3)[None].repeat(s, 0)
        if variant == "conv-whitened":
            whiten = np.stack([inverse_sqrt(patch_covariance(f)) for f in f_train.cpu().numpy()])
        self.whiten = torch.as_tensor(whiten, dtype=torch.float32, device=device)  # (S, 3, 3)
        if variant != "fc":  # float64: A w − c cancels to the residual (float32 loses it)
            q = patches(f_train.double())  # (S, N, n−2, 3)
            self.stat_a = torch.einsum("snxi,snxj->snij", q, q)  # (S, N, 3, 3)
            self.stat_c = torch.einsum("snxi,snx->sni", q, data["p_train"][..., 2:].double())

    def effective_filter(self) -> torch.Tensor:
        """(S, 3): the taps applied to (f[x], f[x−1], f[x−2])."""
        return (self.whiten @ self.weight)[..., 0]

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        """f: (S, B, n) → p̂: (S, B, n)."""
        if self.variant == "fc":
            return torch.bmm(f, self.weight)
        valid = patches(f) @ self.effective_filter()[:, None, :, None]  # (S, B, n−2, 1)
        return torch.nn.functional.pad(valid[..., 0], (2, 0))

    def loss(self, f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Per-model loss (S,) as in the authors' code (the reference for `gradient`)."""
        sq = (self(f) - p) ** 2
        return sq.sum(-1).mean(-1) if self.variant == "fc" else sq.mean(dim=(1, 2))

    @torch.no_grad()
    def gradient(self, idx: torch.Tensor, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """d(loss)/d(weight) on the minibatch idx (S, B) of the training set."""
        batch = idx.shape[1]
        if self.variant == "fc":
            f = gather(data["f_train"], idx)  # (S, B, n)
            resid = torch.bmm(f, self.weight) - gather(data["p_train"], idx)
            return torch.bmm(f.transpose(1, 2), resid) * (2.0 / batch)
        a = gather(self.stat_a, idx).sum(1)  # (S, 3, 3)
        c = gather(self.stat_c, idx).sum(1)[..., None]  # (S, 3, 1)
        whiten = self.whiten.double()
        grad = whiten.transpose(1, 2) @ (a @ (whiten @ self.weight.double()) - c)
        return (grad * (2.0 / (batch * self.n))).to(self.weight.dtype)

    @torch.no_grad()
    def filter_error(self, inverse_w: torch.Tensor) -> np.ndarray:
        if self.variant == "fc":
            return (self.weight - inverse_w).abs().amax(dim=(1, 2)).cpu().numpy()
        target = torch.as_tensor(FILTER, dtype=torch.float32, device=self.weight.device)
        return (self.effective_filter() - target).abs().amax(-1).cpu().numpy()


def patches(f: torch.Tensor) -> torch.Tensor:
    """3-tap patches (f[x], f[x−1], f[x−2]), x = 2..n−1: (..., n) → (..., n − 2, 3)."""
    return torch.stack([f[..., 2:], f[..., 1:-1], f[..., :-2]], dim=-1)


def eval_schedule(steps: int, n_points: int, extra: tuple[int, ...] = ()) -> list[int]:
    """Log-spaced evaluation steps in 0..steps (0 = before training), plus `extra` ≤ steps."""
    grid = np.unique(np.round(np.logspace(0, np.log10(max(steps, 1)), n_points)).astype(int))
    return sorted({0, steps, *map(int, grid), *(e for e in extra if 0 < e <= steps)})


def fit_inverse(variant: str, data: dict[str, np.ndarray], *, steps: int, lr: float, batch: int,
                gens: list[torch.Generator], eval_points: int, snapshot_steps: tuple[int, ...],
                n_show: int, device: torch.device, steps_iter=None) -> Fit:
    """Train one variant for all seeds at once.

    data: f_train, p_train (S, N, n); f_val, p_val (S, V, n), float32. `steps_iter` is the lab's
    progress-reporting range (default: plain range).
    """
    s, n_train, n = data["f_train"].shape
    t = {k: torch.as_tensor(v, device=device) for k, v in data.items()}
    model = InverseModel(variant, t)
    opt = Adam([model.weight], lr=lr, **TF_ADAM)
    inverse_w = torch.as_tensor(np.linalg.inv(kink_matrix(n)), dtype=torch.float32, device=device)
    sampler = Sampler(gens, n_train, batch, mode="replacement", device=device)
    evals = set(eval_schedule(steps, eval_points, snapshot_steps))
    fit = Fit([], [], [], {}, np.full((s, 3), np.nan))
    model.weight.requires_grad_()

    def surrogate(idx, _step):
        """Per model Σ w·g with g the hand-computed minibatch gradient (idx (S, B)), detached:
        its gradient with respect to w is exactly g, so `train`'s backward hands Adam g."""
        return (model.weight * model.gradient(idx, t)).flatten(1).sum(1)  # (S,)

    def record(k: int) -> None:  # after k steps (0: before training), when in the schedule
        if k in evals:
            _record(fit, k, model, t, inverse_w, snapshot_steps, n_show)

    record(0)
    train([model.weight], surrogate, opt, steps, sampler=sampler, record=record,
          record_at=[k for k in evals if k > 0], iterate=steps_iter or range)
    if variant != "fc":
        fit.filters = model.effective_filter().detach().cpu().numpy()
    return fit


@torch.no_grad()
def _record(fit: Fit, step: int, model: InverseModel, t: dict[str, torch.Tensor],
            inverse_w: torch.Tensor, snapshot_steps: tuple[int, ...], n_show: int) -> None:
    p_hat = model(t["f_val"])  # (S, V, n)
    err = torch.linalg.vector_norm(p_hat - t["p_val"], dim=(1, 2))
    ref = torch.linalg.vector_norm(t["p_val"], dim=(1, 2))
    fit.eval_steps.append(step)
    fit.rel_p_error.append((err / ref).cpu().numpy())
    fit.filter_error.append(model.filter_error(inverse_w))
    if step in snapshot_steps:
        fit.snapshots[step] = p_hat[:, :n_show].cpu().numpy()


def steps_to_reach(eval_steps: list[int], errors: np.ndarray, target: float) -> np.ndarray:
    """First eval step with error ≤ target, per model (inf if never). errors: (n_evals, S)."""
    hit = np.asarray(errors) <= target
    first = np.where(hit.any(0), np.asarray(eval_steps)[hit.argmax(0)], np.inf)
    return first.astype(float)


__all__ = ["Fit", "InverseModel", "VARIANTS", "eval_schedule", "fit_inverse",
           "steps_to_reach"]
