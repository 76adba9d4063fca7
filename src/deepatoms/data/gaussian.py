"""The "Gaussian pair" of seed 003: class 0 ~ N(0, Σ), class 1 ~ N(μ, Σ), Σ = CᵀC, C = s·U[0,1]^{d×d}."""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from ..errors import ParamError


def class_means(d: int, seps: str) -> np.ndarray:
    """μ for `seps` = "1/i" (μ_i = 1/i) or "1" (μ_i = 1)."""
    if seps == "1/i":
        return 1.0 / np.arange(1, d + 1)
    if seps == "1":
        return np.ones(d)
    raise ParamError(f"class_seps must be '1/i' or '1', got {seps!r}")


def bayes_accuracy(c: np.ndarray, mu: np.ndarray, prior1: float = 0.5) -> float:
    """Best possible accuracy for class 0 ~ N(0, Σ), class 1 ~ N(μ, Σ), Σ = CᵀC, P(class 1) =
    `prior1`: the likelihood-ratio rule's accuracy, with Δ² = μᵀΣ⁻¹μ and t = ln(π0/π1)/Δ,
    π0·Φ(Δ/2 + t) + π1·Φ(Δ/2 − t) (equal priors: Φ(Δ/2))."""
    sigma = c.T @ c
    delta = math.sqrt(max(float(mu @ np.linalg.lstsq(sigma, mu, rcond=None)[0]), 0.0))
    p0, p1 = 1.0 - prior1, prior1
    if delta == 0.0:
        return max(p0, p1)
    t = math.log(p0 / p1) / delta if 0.0 < p1 < 1.0 else 0.0
    return float(p0 * norm.cdf(delta / 2 + t) + p1 * norm.cdf(delta / 2 - t))


def mixing_matrix(rng: np.random.Generator, d: int, covariance_scale: float = 1.0) -> np.ndarray:
    """C = s·U[0,1]^{d×d} (the source's covariance factor; Σ = CᵀC)."""
    return covariance_scale * rng.uniform(0.0, 1.0, size=(d, d))


def gaussian_pair(rng: np.random.Generator, n: int, d: int, seps: str = "1/i",
                  covariance_scale: float = 1.0, n_class1: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """n points (x: (n, d) float32, y: (n,) int64). Half per class unless `n_class1` is given."""
    x, y, _ = gaussian_pair_with_ceiling(rng, n, d, seps, covariance_scale, n_class1)
    return x, y


def gaussian_pair_with_ceiling(rng: np.random.Generator, n: int, d: int, seps: str = "1/i",
                               covariance_scale: float = 1.0, n_class1: int | None = None
                               ) -> tuple[np.ndarray, np.ndarray, float]:
    """`gaussian_pair` plus the draw's Bayes ceiling for equal priors (the oracle accuracy a
    balanced test set allows), from the same random numbers."""
    c = mixing_matrix(rng, d, covariance_scale)
    n1 = n // 2 if n_class1 is None else n_class1
    n0 = n - n1
    # x = z C gives Cov(x) = CᵀC
    x0 = rng.standard_normal((n0, d)) @ c
    x1 = rng.standard_normal((n1, d)) @ c + class_means(d, seps)
    x = np.concatenate([x0, x1]).astype(np.float32)
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    order = rng.permutation(n)
    return x[order], y[order], bayes_accuracy(c, class_means(d, seps))


def split(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, train_fraction: float = 0.8):
    """Random train/test split → (x_train, y_train, x_test, y_test)."""
    order = rng.permutation(len(x))
    k = int(round(train_fraction * len(x)))
    tr, te = order[:k], order[k:]
    return x[tr], y[tr], x[te], y[te]
