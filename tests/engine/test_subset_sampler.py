"""The sampler's random-subset minibatches: distinct, seeded, uniform; impossible batches refused."""
from __future__ import annotations

import math
import pytest
import torch

from deepatoms.engine import Sampler
from deepatoms.errors import ParamError
from ..atoms.classifier_helpers import _gens


def test_subset_sampler_draws_distinct_points_and_is_seeded():
    stream = Sampler(_gens(0, 1), 10, 6, chunk=7)
    draws = torch.stack([stream.next() for _ in range(20)])  # (20, 2, 6), crosses a refill
    assert draws.shape == (20, 2, 6)
    for row in draws.reshape(-1, 6):
        assert len(set(row.tolist())) == 6 and 0 <= int(row.min()) and int(row.max()) < 10
    again = Sampler(_gens(0, 1), 10, 6, chunk=7)
    assert torch.equal(draws, torch.stack([again.next() for _ in range(20)]))
    assert not torch.equal(draws[:, 0], draws[:, 1])  # the two streams differ


def test_subset_sampler_edge_sizes_and_uniformity():
    full = Sampler(_gens(0), 5, 5).next()
    assert sorted(full[0].tolist()) == [0, 1, 2, 3, 4]
    single = torch.stack([Sampler(_gens(0), 4, 1).next() for _ in range(3)])
    assert single.shape == (3, 1, 1)
    stream = Sampler(_gens(5), 8, 3)
    counts = torch.bincount(torch.cat([stream.next().flatten() for _ in range(4000)]), minlength=8)
    expected = 4000 * 3 / 8  # binomial sd ≈ 30
    assert (counts.float() - expected).abs().max() < 6 * math.sqrt(expected * (1 - 3 / 8))


@pytest.mark.parametrize("batch, mode", [(0, "subset"), (0, "replacement"), (11, "epoch")])
def test_sampler_rejects_impossible_batch(batch, mode):
    with pytest.raises(ParamError, match="batch"):
        Sampler(_gens(0), 10, batch, mode)
