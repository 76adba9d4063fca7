"""A population of per-image convolutional scorers with a tuple head (failures §3.1, seed 000).

Model m reads tuples of k_m images. Per image (the authors' tuple_rect.py): conv 5×5×C (SAME,
bias, no non-linearity) → max-pool 2 → conv 5×5×C → max-pool 2 → FC 50 ReLU → FC 100 ReLU →
FC 1 = the image's score s. Head: sigmoid(s_1..s_k) → FC 100 ReLU → FC 1 = the tuple output.
Init: truncated normal (±2 std) with std 1/√(last input dimension) — as in the code this is
1/√28 for the first convolution (its input is (batch, 28, 28)) and 1/√C for the second — biases 0.

Batched computation: every (model, tuple position) pair is a *slot*; one grouped convolution
(channels-last) runs all slots at once, each slot using its own model's filters (gathered), so
a model's gradient is the sum over its slots — exactly what it would get alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...engine.init import init_tensor

SIZE = 28
HIDDEN = (50, 100)  # per-image FC widths
HEAD = 100


class TupleNetPop:
    """M independent networks; `ks[m]` images per tuple for model m; parameters (M, ...)."""

    def __init__(self, ks: list[int], gens: list[torch.Generator], channels: int = 16,
                 device: torch.device | str = "cpu"):
        self.ks, self.m, self.c = list(ks), len(ks), channels
        self.k_max = max(self.ks)
        flat = channels * (SIZE // 4) ** 2
        shapes = {"conv1": ((channels, 1, 5, 5), SIZE), "conv2": ((channels, channels, 5, 5), channels),
                  "fc3": ((flat, HIDDEN[0]), flat), "fc4": ((HIDDEN[0], HIDDEN[1]), HIDDEN[0]),
                  "score": ((HIDDEN[1], 1), HIDDEN[1]), "head2": ((HEAD, 1), HEAD)}
        self.p: dict[str, torch.Tensor] = {}
        for name, (shape, fan_in) in shapes.items():
            ws = [init_tensor("trunc_normal", shape, fan_in, shape[-1], g) for g in gens]
            self.p[name] = torch.stack(ws)
            self.p[name + "_b"] = torch.zeros(self.m, *((shape[0],) if name.startswith("conv")
                                                         else (1, shape[-1])))
        head1 = torch.zeros(self.m, self.k_max, HEAD)  # rows ≥ k_m stay 0 and get no gradient
        for i, (k, g) in enumerate(zip(self.ks, gens)):
            head1[i, :k] = init_tensor("trunc_normal", (k, HEAD), k, HEAD, g)
        self.p["head1"], self.p["head1_b"] = head1, torch.zeros(self.m, 1, HEAD)
        for name in self.p:
            self.p[name] = self.p[name].to(device).requires_grad_()
        slots = [(i, j) for i, k in enumerate(self.ks) for j in range(k)]
        self.slot_model = torch.tensor([i for i, _ in slots], device=device)  # (G,)
        self.slot_pos = torch.tensor([j for _, j in slots], device=device)    # (G,)

    @property
    def params(self) -> list[torch.Tensor]:
        return list(self.p.values())

    def image_features(self, x: torch.Tensor, slot_model: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, G, 28, 28), slot g read by model slot_model[g] (default: all slots) →
        scores (G, B) and last hidden features h (G, B, 100)."""
        sm = self.slot_model if slot_model is None else slot_model
        b, g = x.shape[:2]
        w1 = self.p["conv1"][sm].reshape(g * self.c, 1, 5, 5)
        w2 = self.p["conv2"][sm].reshape(g * self.c, self.c, 5, 5)
        h = x.contiguous(memory_format=torch.channels_last)
        h = F.max_pool2d(F.conv2d(h, w1, self.p["conv1_b"][sm].reshape(-1), padding=2, groups=g), 2)
        h = F.max_pool2d(F.conv2d(h, w2, self.p["conv2_b"][sm].reshape(-1), padding=2, groups=g), 2)
        h = h.reshape(b, g, -1).transpose(0, 1)  # (G, B, C·7·7)
        h = torch.relu(torch.baddbmm(self.p["fc3_b"][sm], h, self.p["fc3"][sm]))
        h = torch.relu(torch.baddbmm(self.p["fc4_b"][sm], h, self.p["fc4"][sm]))
        s = torch.baddbmm(self.p["score_b"][sm], h, self.p["score"][sm])[..., 0]  # (G, B)
        return s, h

    def head(self, scores: torch.Tensor) -> torch.Tensor:
        """scores (G, B) of all slots → tuple outputs (M, B)."""
        padded = scores.new_zeros(self.m, self.k_max, scores.shape[1])
        padded = padded.index_put((self.slot_model, self.slot_pos), torch.sigmoid(scores))
        h = torch.relu(torch.baddbmm(self.p["head1_b"], padded.transpose(1, 2), self.p["head1"]))
        return torch.baddbmm(self.p["head2_b"], h, self.p["head2"])[..., 0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, G, 28, 28) → tuple outputs (M, B), image scores (G, B)."""
        scores, _ = self.image_features(x)
        return self.head(scores), scores

    __call__ = forward


def hinge(margin: torch.Tensor) -> torch.Tensor:
    """relu(1 − y·f), elementwise."""
    return torch.relu(1.0 - margin)
