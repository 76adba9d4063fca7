"""Tidy grid rows shared by the grid atoms: labels in C order, mismatches refused."""

import numpy as np
import pandas as pd
import pytest

from deepatoms.atoms.atoms._grid_rows import concat, grid_frame


# ---------------------------------------------------------------- tidy rows
def test_grid_frame_labels_every_element_in_c_order():
    values = np.arange(6.0).reshape(2, 3)
    f = grid_frame(values, "m", [dict(seed=[7, 8], tag=["a", "b"]), dict(step=[10, 20, 30])])
    assert list(f.columns) == ["seed", "tag", "step", "metric", "value"]
    assert f.seed.tolist() == [7, 7, 7, 8, 8, 8]
    assert f.tag.tolist() == ["a", "a", "a", "b", "b", "b"]
    assert f.step.tolist() == [10, 20, 30, 10, 20, 30]
    assert f.value.tolist() == [0, 1, 2, 3, 4, 5] and set(f.metric) == {"m"}


def test_grid_frame_and_concat_reject_mismatches():
    with pytest.raises(ValueError, match="axes"):
        grid_frame(np.zeros((2, 3)), "m", [dict(seed=[0, 1])])
    with pytest.raises(ValueError, match="labels 3 entries"):
        grid_frame(np.zeros((2,)), "m", [dict(seed=[0, 1, 2])])
    with pytest.raises(ValueError, match="lacks columns"):
        concat([pd.DataFrame({"seed": [0]})], ["seed", "value"])
