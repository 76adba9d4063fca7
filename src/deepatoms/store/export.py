"""Export stored runs as one tidy CSV or Parquet table, with run metadata on every row.

Columns: run_id, atom, preset, created (the run's time, UTC), code_version, device, dtype,
params (the run's canonical parameters as JSON), then the atom's own columns (settings, seed,
step, metric, value, ...), and `kind` ("measurement" or "figure") when figure data is included.
Integer columns stay integers: a column that is whole-numbered in every run that has it (seed,
a ratio, a width, a step) is exported as an integer column — nullable (`Int64`) where some rows
lack it (rows of atoms without that setting) — instead of turning into floats. `value` stays
floating-point.

Runs are read damage-tolerantly (store/damage.py): a run with damaged metadata is exported
with what can be read, a run whose rows cannot be read is left out; each is named in a
`DamagedRunWarning`. When no run's rows can be read, nothing is written (StoreError).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import MissingDependencyError, StoreError
from .damage import DamagedRunWarning, warn_damaged

if TYPE_CHECKING:
    from .database import Store

META_COLUMNS = ("run_id", "atom", "preset", "created", "code_version", "device", "dtype", "params")
FLOAT_COLUMNS = ("value",)


def run_frame(store: "Store", run: dict[str, Any], *, figure_data: bool) -> pd.DataFrame:
    """One run's rows (measurements only, unless `figure_data`) with its metadata columns."""
    from ..catalog import registry
    rows = store.run_table(run)
    atom = registry.all_atoms().get(run["atom"])
    figure = rows["metric"].isin(atom.figure_metrics if atom is not None else ())
    if figure_data:
        rows = rows.assign(kind=np.where(figure, "figure", "measurement"))
    else:
        rows = rows[~figure].reset_index(drop=True)
    meta = {"run_id": run["id"], "atom": run["atom"], "preset": run["preset"],
            "created": run["created"], "code_version": run["code_version"],
            "device": run.get("device", ""), "dtype": run.get("dtype", ""),
            "params": run["canonical"]}
    own = rows.drop(columns=[c for c in META_COLUMNS if c in rows.columns])
    return pd.concat([pd.DataFrame(meta, index=own.index), own], axis=1)


def _whole(column: pd.Series) -> bool:
    """Every non-missing value is an integer (an integer dtype, or floats with no fraction)."""
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_integer_dtype(column):
        return True
    if not pd.api.types.is_float_dtype(column):
        return False
    values = column.dropna().to_numpy()
    return bool(np.isfinite(values).all() and (values == np.round(values)).all()
                and (np.abs(values) < 2**53).all())


def integer_columns(frames: list[pd.DataFrame]) -> set[str]:
    """Columns that are whole-numbered in every frame that has them (and not all missing)."""
    names = {c for f in frames for c in f.columns} - set(FLOAT_COLUMNS) - set(META_COLUMNS)
    out = set()
    for name in names:
        having = [f[name] for f in frames if name in f.columns]
        if all(_whole(c) for c in having) and any(c.notna().any() for c in having):
            out.add(name)
    return out


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=list(META_COLUMNS))
    ints = integer_columns(frames)
    table = pd.concat(frames, ignore_index=True)
    for name in ints:
        table[name] = table[name].astype("Int64" if table[name].isna().any() else "int64")
    table["run_id"] = table["run_id"].astype("int64")
    return table


def readable_frames(store: "Store", runs: list[dict[str, Any]], *, figure_data: bool
                    ) -> list[pd.DataFrame]:
    """`run_frame` of every run whose rows can be read; each damaged or left-out run is named
    in a DamagedRunWarning; StoreError when there were runs and none could be read."""
    frames, left_out = [], []
    for run in runs:
        warn_damaged([run], "; its readable fields are exported")
        try:
            frames.append(run_frame(store, run, figure_data=figure_data))
        except Exception as exc:  # a damaged entry must not stop the other runs' export
            reason = " ".join(str(exc).split())
            left_out.append(reason)
            warnings.warn(f"run {run.get('id')} ({run.get('atom')}) is left out of the export: "
                          f"{reason}", DamagedRunWarning, stacklevel=3)
    if left_out and not frames:
        raise StoreError(f"nothing to export: no stored run can be read ({left_out[0]}"
                         f"{f'; and {len(left_out) - 1} more' if len(left_out) > 1 else ''})")
    return frames


def export(store: "Store", runs: list[dict[str, Any]], path: Path, *,
           figure_data: bool = False) -> Path:
    """Write the runs' rows to `path` (.csv or .parquet)."""
    if path.suffix not in (".csv", ".parquet"):
        raise StoreError(f"export path must end in .csv or .parquet, got '{path.name}'")
    table = combine(readable_frames(store, runs, figure_data=figure_data))
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise MissingDependencyError("Parquet export needs pyarrow: "
                                         "pip install 'deepatoms[parquet]'") from None
        # mixed-type setting columns are stored as text in Parquet (missing values stay missing)
        table = table.astype({c: "string" for c in table.columns if table[c].dtype == object})
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


def export_store(store: "Store", path: str | os.PathLike, *, all_runs: bool = False,
                 figure_data: bool = False) -> Path:
    """The latest run of every atom (every run with `all_runs`) as CSV or Parquet (by
    suffix): the measurements (with `figure_data`, every row and a `kind` column) plus run
    id, atom, preset, parameters, code version, device, dtype and time."""
    runs = (store.runs(tolerant=True) if all_runs
            else list(store.latest_runs(tolerant=True).values()))
    return export(store, runs, Path(path), figure_data=figure_data)
