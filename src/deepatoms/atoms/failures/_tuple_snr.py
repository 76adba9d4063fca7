"""Signal-to-noise ratio of the stochastic gradient at initialisation (failures §3.3, Fig. 5).

For one per-image network at its random init and a fresh head per tuple size k, g_t (d = 100)
is the gradient of tuple t's loss w.r.t. the score layer's weights. SNR = ‖E g‖² / E‖g − E g‖².

Estimation. The authors' plug-in ‖ḡ‖² / tr Σ̂ over T tuples is biased up by ≈ 1/T, so it never
reports an SNR below ~1/T ("raw", "floor" below). We estimate the signal ‖E g‖² without that
bias and far below 1/T from the same N images:
- the pool is split into m disjoint blocks; within a block, R random permutations each cut the
  block's images into disjoint k-tuples (every tuple is a genuine tuple of independent images),
  and the block mean ḡ_b averages all those tuple gradients. Blocks share no image, so the ḡ_b
  are independent and unbiased for E g; re-pairing images (a U-statistic) removes most of the
  variance that comes from which images happen to share a tuple;
- ‖E g‖² ≈ ‖ḡ‖² − tr Σ̂_b / m (unbiased; Σ̂_b the covariance of the block means) with the delta-
  method standard error √(2 tr Σ̂_b² / m² + 4 ḡᵀΣ̂_bḡ / m), divided by the per-tuple noise tr Σ̂.
An SNR is *resolved* when its two-sided 95 % interval excludes 0; otherwise the one-sided 95 %
upper bound is what the data can say.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ...data.line_images import line_images, parity_labels
from ...engine.init import init_tensor
from ._tuple_net import HEAD, TupleNetPop, hinge

Z_UPPER, Z_TWO_SIDED = 1.645, 1.96
SLOTS = 20   # images per grouped-convolution call are split into this many groups (fast path)
METHODS = ("end-to-end", "decomposition")


@dataclasses.dataclass(frozen=True)
class SNR:
    raw: float        # the authors' plug-in ‖ḡ‖² / tr Σ̂ over T disjoint tuples (≥ ~1/T)
    estimate: float   # unbiased estimate (may be negative when the SNR is below resolution)
    se: float         # its standard error
    upper: float      # one-sided 95 % upper bound
    floor: float      # 1/T: what the plug-in estimator reports for a zero SNR

    @property
    def resolved(self) -> bool:
        return self.estimate - Z_TWO_SIDED * self.se > 0


def signal_from_means(means: torch.Tensor) -> tuple[float, float]:
    """(unbiased ‖E g‖², its standard error) from m independent unbiased means (m, d)."""
    g = means.double()
    m = g.shape[0]
    mu = g.mean(0)
    cen = g - mu
    cov = cen.T @ cen / (m - 1)  # covariance of one mean
    tr, tr2 = float(cov.trace()), float((cov ** 2).sum())
    mu_cov_mu = max(float(mu @ cov @ mu) - tr2 / m, 0.0)  # bias-corrected μᵀΣμ
    return float(mu @ mu) - tr / m, math.sqrt(2 * tr2 / m**2 + 4 * mu_cov_mu / m)


def snr_from_gradients(g: torch.Tensor) -> SNR:
    """Plain estimate from T independent per-sample gradients g: (T, d)."""
    t = g.shape[0]
    noise = float(torch.var(g.double(), dim=0, unbiased=True).sum())
    signal, se = signal_from_means(g)
    raw = float(g.double().mean(0).square().sum()) / noise
    est = signal / noise
    return SNR(raw, est, se / noise, max(est, 0.0) + Z_UPPER * se / noise, 1.0 / t)


@torch.no_grad()
def image_pool(net: TupleNetPop, gen: torch.Generator, n: int, chunk: int = 2000
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n fresh images through model 0's per-image network: scores (n,), features (n, 100),
    labels (n,). Images are processed `chunk` at a time as SLOTS groups of one model."""
    device = net.p["conv1"].device
    scores, feats, labels = [], [], []
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        x, y, _ = line_images(gen, m)
        slots = SLOTS if m % SLOTS == 0 else 1
        x = x.view(m // slots, slots, 28, 28).to(device)  # image b·slots + g sits at [b, g]
        s, h = net.image_features(x, torch.zeros(slots, dtype=torch.long, device=device))
        scores.append(s.T.reshape(m))
        feats.append(h.transpose(0, 1).reshape(m, -1))
        labels.append(y.to(device))
    return torch.cat(scores), torch.cat(feats), torch.cat(labels)


def make_head(k: int, gen: torch.Generator, device: torch.device | str = "cpu"
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh head at init, like the trained ones: W1 (k, 100), W2 (100, 1); biases are 0."""
    w1 = init_tensor("trunc_normal", (k, HEAD), k, HEAD, gen).to(device)
    return w1, init_tensor("trunc_normal", (HEAD, 1), HEAD, 1, gen).to(device)


def tuple_gradients(pool: tuple[torch.Tensor, torch.Tensor, torch.Tensor], tuples: torch.Tensor,
                    head: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-tuple gradients w.r.t. the score weights.

    pool: scores (N,), features (N, d), labels (N,) of the image pool; tuples: (T, k) indices of
    distinct images. end-to-end: the head's hinge loss on the parity label; decomposition (the
    code's choice): the first image's hinge loss on its own label. Returns {method: (T, d)}.
    """
    scores, feats, labels = pool
    s = scores[tuples].detach().clone().requires_grad_()  # (T, k)
    h, y_img = feats[tuples], labels[tuples]  # (T, k, d), (T, k)
    out = (torch.relu(torch.sigmoid(s) @ head[0]) @ head[1])[:, 0]
    losses = {"end-to-end": hinge(parity_labels(y_img) * out).sum(),
              "decomposition": hinge(y_img[:, 0] * s[:, 0]).sum()}
    grads = {}
    for name, loss in losses.items():
        ds, = torch.autograd.grad(loss, s, retain_graph=True)  # (T, k): dL_t / ds_tj
        grads[name] = torch.einsum("tk,tkd->td", ds, h)
    return grads


def block_means(pool: tuple[torch.Tensor, torch.Tensor, torch.Tensor], k: int,
                head: tuple[torch.Tensor, torch.Tensor], n_blocks: int, n_perms: int,
                gen: torch.Generator) -> dict[str, torch.Tensor]:
    """{method: (n_blocks, d)}: per disjoint block of the pool, the mean gradient over the
    tuples cut from n_perms random permutations of the block (one suffices for k = 1)."""
    size = len(pool[0]) // n_blocks
    device = pool[0].device
    means: dict[str, list[torch.Tensor]] = {m: [] for m in METHODS}
    for b in range(n_blocks):
        perms = torch.rand(n_perms if k > 1 else 1, size, generator=gen, device=device).argsort(1)
        tuples = (perms[:, :size // k * k] + b * size).reshape(-1, k)  # (R·size/k, k)
        for m, g in tuple_gradients(pool, tuples, head).items():
            means[m].append(g.double().mean(0))
    return {m: torch.stack(v) for m, v in means.items()}


def recombined_snr(pool: tuple[torch.Tensor, torch.Tensor, torch.Tensor], k: int,
                   head: tuple[torch.Tensor, torch.Tensor], n_blocks: int, n_perms: int,
                   gen: torch.Generator) -> dict[str, SNR]:
    """SNR per method from one image pool (see the module docstring). The per-tuple noise and
    the authors' plug-in value come from the T = N // k disjoint tuples in pool order; `gen`
    draws the permutations and must live on the pool's device."""
    n = len(pool[0])
    plain = torch.arange(n // k * k, device=pool[0].device).view(-1, k)
    per_tuple = tuple_gradients(pool, plain, head)
    means = block_means(pool, k, head, n_blocks, n_perms, gen)
    out = {}
    for m in METHODS:
        g = per_tuple[m].double()
        noise = float(torch.var(g, dim=0).sum())
        signal, se = signal_from_means(means[m])
        est, se = signal / noise, se / noise
        out[m] = SNR(float(g.mean(0).square().sum()) / noise, est, se,
                     max(est, 0.0) + Z_UPPER * se, 1.0 / len(plain))
    return out
