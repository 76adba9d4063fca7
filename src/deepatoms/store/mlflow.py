"""Export stored runs to MLflow (`deepatoms export --mlflow URI`, optional extra `mlflow`).

Each deepatoms run becomes one MLflow run in the experiment (default "deepatoms"): parameters
(plus preset, seeds, device, dtype, code version), the verdict's evidence as short keys `ev00`,
`ev01`, ... (see `mlflow_metrics`), tags (atom, run id, store id, verdict status, label, scale
and finding, the reproducing command, each evidence sentence) and artifacts (the figures redrawn
from the stored table, the measurement table as CSV). Under it, one child run per seed holds
that seed's measurements, training curves logged with their steps.

A run already exported from this store (FINISHED) is skipped, so exporting again adds only the
new runs. A run whose export failed is marked FAILED (a killed export leaves it RUNNING); the
next export deletes such a run and its children and exports it again.
"""
from __future__ import annotations

import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from .mlflow_metrics import evidence_tags, part_tags, run_metrics, seed_curves
from .mlflow_target import EXPERIMENT, Target, load_mlflow, open_target, short, tracking_uri

if TYPE_CHECKING:
    import pandas as pd

    from .database import Store

__all__ = ["EXPERIMENT", "Target", "export_mlflow", "load_mlflow", "open_target", "run_params",
           "run_tags", "tracking_uri"]

MAX_PARAM = 6000   # MLflow's limits on a parameter and a tag value (characters)
MAX_TAG = 8000
BATCH = 1000       # metrics per log_batch call (MLflow's limit)
PARENT = "mlflow.parentRunId"
FILE_OK = re.compile(r"[^0-9A-Za-z_\-.]")


def run_params(run: dict[str, Any]) -> dict[str, str]:
    params = {k: str(v)[:MAX_PARAM] for k, v in run["params"].items()}
    params.update({"preset": run["preset"], "seeds": ",".join(map(str, run["seeds"]))[:MAX_PARAM],
                   "device": run["device"], "dtype": run["dtype"],
                   "code_version": run["code_version"]})
    return params


def run_key(store_id: str, run: dict[str, Any]) -> str:
    return f"{store_id}:{run['id']}"


def run_tags(run: dict[str, Any], store_id: str) -> dict[str, str]:
    verdict = run["verdict"]
    tags = {"deepatoms.atom": run["atom"], "deepatoms.run_id": str(run["id"]),
            "deepatoms.store_id": store_id, "deepatoms.run_key": run_key(store_id, run),
            "deepatoms.command": run["command"], "verdict.status": verdict.get("status", ""),
            "verdict.label": verdict.get("label") or verdict.get("status", ""),
            "verdict.scale": verdict.get("scale", "full"),
            "verdict.finding": verdict.get("finding", ""),
            "mlflow.runName": f"{run['atom']} #{run['id']}", **evidence_tags(run),
            **part_tags(run)}
    return {k: str(v)[:MAX_TAG] for k, v in tags.items()}


def _tables(store: "Store", run: dict[str, Any]) -> dict[str, Any]:
    """The run's rows, its measurement rows and its atom (None when gone); `note` when the
    table is unavailable (then the rows are None)."""
    from .. import registry
    try:
        rows = store.run_table(run)
    except Exception as exc:
        return {"rows": None, "measured": None, "atom": None,
                "note": f"table unavailable: {' '.join(str(exc).split())}"}
    atom = registry.all_atoms().get(run["atom"])
    measured = atom.split(rows)[0] if atom is not None else rows
    return {"rows": rows, "measured": measured, "atom": atom, "note": ""}


def _artifacts(tables: dict[str, Any], folder: Path) -> list[str]:
    """Write the run's figures (PNG) and measurement table (CSV) into `folder`; the notes of
    what could not be written."""
    from ..figures import save
    if tables["rows"] is None:
        return [tables["note"]]
    tables["measured"].to_csv(folder / "table.csv", index=False)
    if tables["atom"] is None:
        return ["the atom is no longer in the catalog: no figures"]
    (folder / "figures").mkdir()
    try:
        for i, (name, fig) in enumerate(tables["atom"].figures(tables["rows"]).items()):
            save(fig, folder / "figures" / f"{i:02d}-{FILE_OK.sub('_', str(name))}.png", dpi=100)
    except Exception as exc:  # an atom's plotting bug costs its figures, not the export
        return [f"figures could not be drawn: {type(exc).__name__}: {exc}"]
    return []


def _log_metrics(client: Any, run_id: str, points: list[tuple[str, float, int]], when: int
                 ) -> None:
    from mlflow.entities import Metric
    for i in range(0, len(points), BATCH):
        client.log_batch(run_id, metrics=[Metric(k, v, when, s) for k, v, s in
                                          points[i:i + BATCH]])


def _log_seed(client: Any, target: Target, parent: str, run: dict[str, Any], seed: int,
              rows: "pd.DataFrame", tags: dict[str, str], start: int) -> str:
    """One child run: seed `seed`'s measurements, curves with their steps."""
    from mlflow.entities import Param
    child_tags = {k: tags[k] for k in ("deepatoms.atom", "deepatoms.run_id", "deepatoms.store_id",
                                       "deepatoms.run_key")}
    child_tags.update({PARENT: parent, "deepatoms.seed": str(seed),
                       "mlflow.runName": f"{run['atom']} #{run['id']} seed {seed}"})
    child = client.create_run(target.experiment_id, start_time=start, tags=child_tags,
                              run_name=child_tags["mlflow.runName"]).info.run_id
    curves, notes = seed_curves(rows)
    client.log_batch(child, params=[Param("seed", str(seed)), Param("preset", run["preset"])])
    _log_metrics(client, child, [(k, v, s) for k, pts in curves.items() for s, v in pts], start)
    if notes:
        client.set_tag(child, "deepatoms.notes", "; ".join(notes)[:MAX_TAG])
    client.set_terminated(child, "FINISHED", end_time=start + int(1000 * run["wall_s"]))
    return child


def _log_run(target: Target, store: "Store", run: dict[str, Any]) -> tuple[str, int]:
    """The run and its seeds as a parent and child runs; (parent id, number of children)."""
    from mlflow.entities import Param
    client = target.client
    start = int(datetime.fromisoformat(run["created"]).timestamp() * 1000)
    tags = run_tags(run, store.store_id)
    parent = client.create_run(target.experiment_id, start_time=start, tags=tags,
                               run_name=tags["mlflow.runName"]).info.run_id
    children: list[str] = []
    try:
        params = [Param(k, v) for k, v in run_params(run).items()]
        for i in range(0, len(params), 100):
            client.log_batch(parent, params=params[i:i + 100])
        _log_metrics(client, parent, [(k, v, 0) for k, v in run_metrics(run).items()], start)
        tables = _tables(store, run)
        measured = tables["measured"]
        for seed in run["seeds"] if measured is not None else ():
            rows = measured[measured["seed"] == seed]
            children.append(_log_seed(client, target, parent, run, seed, rows, tags, start))
        with tempfile.TemporaryDirectory() as tmp:
            notes = _artifacts(tables, Path(tmp))
            client.log_artifacts(parent, tmp)
        if notes:
            client.set_tag(parent, "deepatoms.notes", "; ".join(notes)[:MAX_TAG])
        client.set_terminated(parent, "FINISHED", end_time=start + int(1000 * run["wall_s"]))
    except BaseException as exc:
        _mark_failed(client, [parent, *children])
        if not isinstance(exc, Exception):
            raise
        raise StoreError(f"MLflow export of run {run['id']} ({run['atom']}) failed "
                         f"({type(exc).__name__}: {short(exc)}); it is marked FAILED and the next "
                         "export redoes it") from None
    return parent, len(children)


def _mark_failed(client: Any, run_ids: list[str]) -> None:
    for run_id in run_ids:
        try:
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, "FAILED")
        except Exception:  # the store itself is failing: the next export finds it unfinished
            pass


def _previous(target: Target, store_id: str) -> tuple[set[str], dict[str, list[str]]]:
    """(run keys exported FINISHED, {run key: ids of its unfinished runs and their children})."""
    from mlflow.entities import ViewType
    found = target.client.search_runs(
        [target.experiment_id], filter_string=f"tags.`deepatoms.store_id` = '{store_id}'",
        run_view_type=ViewType.ACTIVE_ONLY, max_results=50_000)
    finished = {r.data.tags.get("deepatoms.run_key", "") for r in found
                if PARENT not in r.data.tags and r.info.status == "FINISHED"}
    stale: dict[str, list[str]] = {}
    for r in found:
        key = r.data.tags.get("deepatoms.run_key", "")
        if key not in finished:
            stale.setdefault(key, []).append(r.info.run_id)
    return finished, stale


def export_mlflow(store: "Store", target: "Target | str", runs: list[dict[str, Any]],
                  experiment: str = EXPERIMENT) -> dict[str, Any]:
    """Log `runs` to `target` (an opened Target, or a URI opened here with `experiment`);
    returns the URI, the experiment id, the numbers of runs exported, skipped (already there)
    and redone (failed before), the seed runs logged, and the new parent run ids."""
    if not isinstance(target, Target):
        target = open_target(target, experiment)
    try:
        finished, stale = _previous(target, store.store_id)
    except Exception as exc:  # a damaged tracking store shows itself on the first search
        raise StoreError(f"--mlflow: cannot search the runs of '{target.uri}' "
                         f"({type(exc).__name__}: {short(exc)})") from None
    exported, seed_runs, redone = [], 0, 0
    for run in runs:
        key = run_key(store.store_id, run)
        if key in finished:
            continue
        for old in stale.get(key, []):
            target.client.delete_run(old)
        redone += bool(stale.get(key))
        parent, children = _log_run(target, store, run)
        exported.append(parent)
        seed_runs += children
    return {"uri": target.uri, "experiment_id": target.experiment_id, "exported": len(exported),
            "skipped": len(runs) - len(exported), "redone": redone, "seed_runs": seed_runs,
            "mlflow_run_ids": exported}
