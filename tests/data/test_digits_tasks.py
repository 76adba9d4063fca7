"""The digits tasks (split, few-shot sets, relabelling, standardiser)."""

import numpy as np
import pytest

from deepatoms.data.digits_tasks import digits, few_shot, relabel, standardiser, stratified_split


# ---------------------------------------------------------------- digits tasks and transfer
def test_digits_split_is_stratified_and_disjoint():
    _, y = digits()
    train, test = stratified_split(np.random.default_rng(0), y, 0.7)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(y)
    for c in range(10):
        n_c = (y == c).sum()
        assert (y[train] == c).sum() == round(0.7 * n_c)


def test_few_shot_sets_are_nested_and_balanced():
    y = np.repeat(np.arange(10), 20)
    sets = few_shot(np.random.default_rng(1), y, (5, 6, 7), (1, 3, 10))
    for k, idx in sets.items():
        assert sorted(np.bincount(y[idx], minlength=10)[[5, 6, 7]]) == [k, k, k]
    assert set(sets[1]) <= set(sets[3]) <= set(sets[10])
    with pytest.raises(ValueError, match="fewer than"):
        few_shot(np.random.default_rng(1), y, (5,), (21,))


def test_relabel_and_standardiser_exact():
    assert relabel(np.array([7, 5, 9]), (5, 7, 9)).tolist() == [1, 0, 2]
    with pytest.raises(ValueError):
        relabel(np.array([1]), (5, 7))
    mean, std = standardiser(np.array([[0.0, 2.0], [2.0, 2.0]], dtype=np.float32))
    assert mean.tolist() == [1.0, 2.0] and std.tolist() == [1.0, 1.0]
