"""Tidy rows from labelled arrays, built in one vectorised step (no per-row Python).

`grid_frame(values, metric, axes)`: `values` has shape (n_0, ..., n_k); `axes[j]` maps column
names to arrays of length n_j that label axis j (a length-1 axis gives a constant column).
One row per element of `values`, in C order.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd


def grid_frame(values: np.ndarray, metric: str,
               axes: Sequence[Mapping[str, Sequence | np.ndarray]]) -> pd.DataFrame:
    """Rows with the axis labels as columns, then `metric` and `value` (float)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != len(axes):
        raise ValueError(f"values has {values.ndim} axes but {len(axes)} label sets were given")
    index = np.indices(values.shape).reshape(values.ndim, -1)  # (ndim, n_rows)
    cols: dict[str, np.ndarray] = {}
    for j, labels in enumerate(axes):
        for name, lab in labels.items():
            lab = np.asarray(lab)
            if len(lab) != values.shape[j]:
                raise ValueError(f"column '{name}' labels {len(lab)} entries, axis {j} has "
                                 f"{values.shape[j]}")
            cols[name] = lab[index[j]]
    cols["metric"] = np.full(values.size, metric, dtype=object)
    cols["value"] = values.ravel()
    return pd.DataFrame(cols)


def concat(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Concatenate frames that all carry `columns` (checked), in that column order."""
    for f in frames:
        missing = set(columns) - set(f.columns)
        if missing:
            raise ValueError(f"frame lacks columns {sorted(missing)}")
    return pd.concat([f[list(columns)] for f in frames], ignore_index=True)
