"""Helpers shared by the tests of the classifier atoms (activation-functions, batch-size,
initialization, loss-functions, pca-preprocessing): the atoms, runs, evidence and tolerances."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from deepatoms.atoms.atoms import (activation_functions, batch_size, initialization,
                                   loss_functions, pca_preprocessing)
from deepatoms.execution.runner import Execution, execute


# Imported directly (not through the registry) so these tests do not depend on other families.
ATOMS = {m.ATOM.name: m.ATOM for m in (pca_preprocessing, activation_functions, batch_size,
                                       loss_functions, initialization)}


def _run(name: str, preset: str = "default", seeds=None, **overrides) -> Execution:
    atom = ATOMS[name]
    seeds = tuple(range(atom.default_seeds)) if seeds is None else seeds
    return execute(atom, atom.params(preset, **overrides), tuple(seeds), preset=preset,
                   overrides=overrides, device="cpu")


def _gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def _rows(table: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    for key, value in where.items():
        mask &= (table[key] == value).to_numpy()
    return table[mask].drop(columns=[c for c in table.columns if table[c].isna().all()])


# ---- claim tier: default configuration, the atom's default seeds; statuses and numbers as
# measured (issue 6: per-atom random streams, ceiling-relative judging) ----------------------
def _evidence(outcome: Execution, prefix: str):
    rows = [e for e in outcome.verdict.evidence if e.metric.startswith(prefix)]
    assert len(rows) == 1, prefix
    return rows[0]


def _near(outcome: Execution, prefix: str, measured: float, ci: tuple[float, float]) -> None:
    """The estimate stays inside the 95% CI measured when the claim test was written."""
    est = _evidence(outcome, prefix).estimate
    assert ci[0] <= est <= ci[1], f"{prefix}: {est:.3f} outside {ci} (measured {measured})"
