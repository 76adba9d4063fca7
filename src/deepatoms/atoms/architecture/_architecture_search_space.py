"""Architecture search on digits: the search space (MLPs and small CNNs), a REINFORCE controller,
and the brief training of a batch of candidates as populations.

A candidate is an `Arch`: family "mlp" with hidden widths, or family "cnn" with (channels,
kernel size) per conv layer; and one activation. The controller (Zoph & Le 2017, without the
RNN: one independent softmax per decision) samples every decision from its logits and is updated
by REINFORCE with an exponential-moving-average baseline and Adam on the logits; a decision the
sampled architecture does not use (an MLP's kernel sizes, a 1-layer MLP's second width) is
sampled but left out of the log-probability, so it gets no gradient.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import numpy as np

from ...engine import MLPPop
from ._architecture_search_cnns import CHANNELS, KERNELS, fit, train_cnns

FAMILIES = ("mlp", "cnn")
DEPTHS = (1, 2, 3)
WIDTHS = (16, 32, 64, 128)
ACTIVATIONS = ("relu", "tanh", "sigmoid")
CONV_LAYERS = (1, 2)
# decision name -> number of choices, in the order of a choice vector
DECISIONS = (("family", len(FAMILIES)), ("depth", len(DEPTHS)), ("width_1", len(WIDTHS)),
             ("width_2", len(WIDTHS)), ("width_3", len(WIDTHS)), ("activation", len(ACTIVATIONS)),
             ("conv_layers", len(CONV_LAYERS)), ("channels_1", len(CHANNELS)),
             ("kernel_1", len(KERNELS)), ("channels_2", len(CHANNELS)), ("kernel_2", len(KERNELS)))
_D = {name: d for d, (name, _) in enumerate(DECISIONS)}


class Arch(NamedTuple):
    family: str          # "mlp" or "cnn"
    layers: tuple        # mlp: hidden widths; cnn: ((channels, kernel size), ...) per conv layer
    activation: str


HAND_DESIGNED = Arch("mlp", (64, 64), "relu")  # a sensible default MLP: two hidden layers of 64


def describe(a: Arch) -> str:
    """'MLP 64-64 relu' or 'CNN 16c3-32c5 tanh'."""
    if a.family == "mlp":
        return f"MLP {'-'.join(map(str, a.layers))} {a.activation}"
    return f"CNN {'-'.join(f'{c}c{k}' for c, k in a.layers)} {a.activation}"


def relevant(choice: Sequence[int]) -> np.ndarray:
    """(len(DECISIONS),) bool: the decisions that `choice`'s architecture uses."""
    names = {"family", "activation"}
    if FAMILIES[choice[0]] == "mlp":
        names |= {"depth", *(f"width_{k + 1}" for k in range(DEPTHS[choice[_D['depth']]]))}
    else:
        n = CONV_LAYERS[choice[_D["conv_layers"]]]
        names |= {"conv_layers", *(f"{w}_{k + 1}" for k in range(n) for w in ("channels", "kernel"))}
    return np.array([name in names for name, _ in DECISIONS])


def decode(choice: Sequence[int]) -> Arch:
    """Decision indices → the architecture (irrelevant decisions ignored)."""
    act = ACTIVATIONS[choice[_D["activation"]]]
    if FAMILIES[choice[0]] == "mlp":
        depth = DEPTHS[choice[_D["depth"]]]
        return Arch("mlp", tuple(WIDTHS[choice[_D[f"width_{k + 1}"]]] for k in range(depth)), act)
    n = CONV_LAYERS[choice[_D["conv_layers"]]]
    return Arch("cnn", tuple((CHANNELS[choice[_D[f"channels_{k + 1}"]]],
                              KERNELS[choice[_D[f"kernel_{k + 1}"]]]) for k in range(n)), act)


def choice_of(a: Arch) -> np.ndarray:
    """The decision indices of `a`, its irrelevant decisions 0 (the inverse of `decode`)."""
    c = np.zeros(len(DECISIONS), dtype=int)
    c[0], c[_D["activation"]] = FAMILIES.index(a.family), ACTIVATIONS.index(a.activation)
    if a.family == "mlp":
        c[_D["depth"]] = DEPTHS.index(len(a.layers))
        for k, w in enumerate(a.layers):
            c[_D[f"width_{k + 1}"]] = WIDTHS.index(w)
        return c
    c[_D["conv_layers"]] = CONV_LAYERS.index(len(a.layers))
    for k, (ch, ks) in enumerate(a.layers):
        c[_D[f"channels_{k + 1}"]], c[_D[f"kernel_{k + 1}"]] = CHANNELS.index(ch), KERNELS.index(ks)
    return c


def code(a: Arch) -> int:
    """`a` as one integer (its `choice_of` in mixed radix), for the numeric results table."""
    out = 0
    for (_, k), c in zip(DECISIONS, choice_of(a)):
        out = out * k + int(c)
    return out


def from_code(n: int) -> Arch:
    """The inverse of `code`."""
    c = []
    for _, k in reversed(DECISIONS):
        n, r = divmod(int(n), k)
        c.append(r)
    return decode(c[::-1])


def uniform_choices(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, len(DECISIONS)) decision indices, each drawn uniformly (random search)."""
    return np.stack([rng.integers(0, k, n) for _, k in DECISIONS], axis=1)


@dataclasses.dataclass
class Controller:
    """Independent softmax per decision; REINFORCE with an EMA baseline; Adam on the logits."""
    lr: float = 0.1
    baseline_decay: float = 0.9

    def __post_init__(self):
        self.logits = [np.zeros(k) for _, k in DECISIONS]
        self._m = [np.zeros(k) for _, k in DECISIONS]
        self._v = [np.zeros(k) for _, k in DECISIONS]
        self.t, self.baseline = 0, None

    def probs(self) -> list[np.ndarray]:
        return [np.exp(z - z.max()) / np.exp(z - z.max()).sum() for z in self.logits]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.stack([rng.choice(len(p), size=n, p=p) for p in self.probs()], axis=1)

    def gradient(self, choices: np.ndarray, adv: np.ndarray) -> list[np.ndarray]:
        """−∇ of the batch mean of adv · log p(relevant decisions), per decision's logits."""
        used = np.stack([relevant(c) for c in choices]).astype(float)   # (n, decisions)
        return [-(adv[:, None] * used[:, d, None] * (np.eye(len(p))[choices[:, d]] - p)).mean(0)
                for d, p in enumerate(self.probs())]

    def update(self, choices: np.ndarray, rewards: np.ndarray) -> None:
        """One REINFORCE step (gradient ascent on E[R]) from a batch of (choices, rewards)."""
        mean = float(np.mean(rewards))
        self.baseline = mean if self.baseline is None else (
            self.baseline_decay * self.baseline + (1 - self.baseline_decay) * mean)
        self.t += 1
        for d, g in enumerate(self.gradient(choices, rewards - self.baseline)):
            self._m[d] = 0.9 * self._m[d] + 0.1 * g
            self._v[d] = 0.999 * self._v[d] + 0.001 * g * g
            m_hat, v_hat = self._m[d] / (1 - 0.9 ** self.t), self._v[d] / (1 - 0.999 ** self.t)
            self.logits[d] = self.logits[d] - self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def _train_mlps(archs, gens_init, gens_batch, data, steps, batch, lr, iterate):
    """One population per tuple of hidden widths (members sorted by activation), so a
    population has no padding and a candidate's numbers never depend on its companions."""
    d_in = data[0].shape[1]
    val, test = np.zeros(len(archs)), np.zeros(len(archs))
    for widths in sorted({a.layers for a in archs}):
        idx = sorted((i for i, a in enumerate(archs) if a.layers == widths),
                     key=lambda i: archs[i].activation)
        pop = MLPPop([(d_in, *widths, 10)] * len(idx), [gens_init[i] for i in idx],
                     activation=[archs[i].activation for i in idx], init="xavier_uniform",
                     device=data[0].device)
        val[idx], test[idx] = fit(pop, [gens_batch[i] for i in idx], data, steps, batch, lr,
                                  iterate)
    return val, test


def train_candidates(archs: Sequence[Arch], gens_init, gens_batch, data, steps: int,
                     batch: int, lr: float, iterate=range) -> tuple[np.ndarray, np.ndarray]:
    """Train each candidate briefly (Adam, cross-entropy); returns (validation, test) accuracy,
    each (n,). MLPs and CNNs train in separate populations (see `_train_mlps`, `train_cnns`)."""
    val, test = np.zeros(len(archs)), np.zeros(len(archs))
    for family, train_family in (("mlp", _train_mlps), ("cnn", train_cnns)):
        idx = [i for i, a in enumerate(archs) if a.family == family]
        if idx:
            val[idx], test[idx] = train_family([archs[i] for i in idx], [gens_init[i] for i in idx],
                                      [gens_batch[i] for i in idx], data, steps, batch, lr,
                                      iterate)
    return val, test
