"""Helpers shared by the hand-written-gradient tests of more-data and class-imbalance."""
from __future__ import annotations

import pandas as pd

from deepatoms.execution.runner import execute


def _table(atom, over: dict, seeds=(0, 1)) -> pd.DataFrame:
    return execute(atom, atom.params("quick", **over), seeds, preset="quick", overrides=over,
                   device="cpu").rows
