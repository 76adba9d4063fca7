"""Export stored runs to MLflow (`deepatoms export --mlflow URI`, optional extra `mlflow`).

Each deepatoms run becomes one MLflow run in the experiment (default "deepatoms"): its
parameters (plus preset, seeds, device, dtype, code version), metrics (every evidence row's
estimate and 95% interval, wall and computed time), tags (atom, run id, store id, verdict status,
label, scale and finding, the reproducing command) and artifacts (the figures redrawn from the
stored table, and the measurement table as CSV). A run already exported from this store is
skipped, so exporting again adds only the new runs.

A plain path or a `file:` URI is MLflow's local file store, which MLflow 3 keeps in maintenance
mode behind `MLFLOW_ALLOW_FILE_STORE=true`; this export sets that variable (when unset) for such
URIs. Read the store back with the same variable set.
"""
from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError, StoreError

if TYPE_CHECKING:
    from .database import Store

EXPERIMENT = "deepatoms"
MAX_PARAM = 6000   # MLflow's limits on a parameter and a tag value (characters)
MAX_TAG = 8000
NAME_OK = re.compile(r"[^0-9A-Za-z_\-. :/]")


def load_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise MissingDependencyError("MLflow export needs mlflow: pip install "
                                     "'deepatoms[mlflow]'") from None
    return mlflow


def tracking_uri(uri: str) -> str:
    """A URI MLflow understands: a plain path becomes a file: URI (the local file store)."""
    text = str(uri).strip()
    if not text:
        raise StoreError("--mlflow needs a tracking URI or a directory, got an empty value")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text) and not re.match(r"^[A-Za-z]:[\\/]", text):
        return text
    return Path(text).resolve().as_uri()


def metric_name(text: str, taken: set[str]) -> str:
    """`text` with the characters MLflow refuses replaced, unique among `taken`."""
    base = NAME_OK.sub("_", text).strip()[:240] or "metric"
    name, i = base, 2
    while name in taken:
        name, i = f"{base} ({i})", i + 1
    taken.add(name)
    return name


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and value == value and abs(value) != float("inf")


def run_metrics(run: dict[str, Any]) -> dict[str, float]:
    taken: set[str] = set()
    out = {metric_name("wall_s", taken): float(run["wall_s"]),
           metric_name("computed_s", taken): float(run["computed_s"]),
           metric_name("seeds", taken): float(len(run["seeds"]))}
    for row in run["verdict"].get("evidence", []):
        label = " ".join(p for p in (row.get("setting", ""), row.get("metric", "")) if p)
        name = metric_name(label, taken)
        for suffix, key in (("", "estimate"), (".ci_low", "ci_low"), (".ci_high", "ci_high")):
            if _finite(row.get(key)):
                out[name + suffix] = float(row[key])
    return out


def run_params(run: dict[str, Any]) -> dict[str, str]:
    params = {k: str(v)[:MAX_PARAM] for k, v in run["params"].items()}
    params.update({"preset": run["preset"], "seeds": ",".join(map(str, run["seeds"]))[:MAX_PARAM],
                   "device": run["device"], "dtype": run["dtype"],
                   "code_version": run["code_version"]})
    return params


def run_tags(run: dict[str, Any], store_id: str) -> dict[str, str]:
    verdict = run["verdict"]
    tags = {"deepatoms.atom": run["atom"], "deepatoms.run_id": str(run["id"]),
            "deepatoms.store_id": store_id, "deepatoms.run_key": f"{store_id}:{run['id']}",
            "deepatoms.command": run["command"], "verdict.status": verdict.get("status", ""),
            "verdict.label": verdict.get("label") or verdict.get("status", ""),
            "verdict.scale": verdict.get("scale", "full"),
            "verdict.finding": verdict.get("finding", ""),
            "mlflow.runName": f"{run['atom']} #{run['id']}"}
    return {k: str(v)[:MAX_TAG] for k, v in tags.items()}


def _artifacts(store: "Store", run: dict[str, Any], folder: Path) -> list[str]:
    """Write the run's figures (PNG) and measurement table (CSV) into `folder`; the notes of
    what could not be written."""
    from ..catalog import registry
    from ..figures import save
    notes = []
    try:
        rows = store.run_table(run)
    except Exception as exc:
        return [f"table unavailable: {' '.join(str(exc).split())}"]
    atom = registry.all_atoms().get(run["atom"])
    measured = atom.split(rows)[0] if atom is not None else rows
    measured.to_csv(folder / "table.csv", index=False)
    if atom is None:
        return ["the atom is no longer in the catalog: no figures"]
    (folder / "figures").mkdir()
    try:
        for i, (name, fig) in enumerate(atom.figures(rows).items()):
            save(fig, folder / "figures" / f"{i:02d}-{NAME_OK.sub('_', str(name))}.png", dpi=100)
    except Exception as exc:  # an atom's plotting bug costs its figures, not the export
        notes.append(f"figures could not be drawn: {type(exc).__name__}: {exc}")
    return notes


def _exported_keys(client: Any, experiment_id: str, store_id: str) -> set[str]:
    runs = client.search_runs([experiment_id], max_results=50_000,
                              filter_string=f"tags.`deepatoms.store_id` = '{store_id}'")
    return {r.data.tags.get("deepatoms.run_key", "") for r in runs}


def _log_run(client: Any, experiment_id: str, store: "Store", run: dict[str, Any]) -> str:
    from mlflow.entities import Metric, Param
    start = int(datetime.fromisoformat(run["created"]).timestamp() * 1000)
    tags = run_tags(run, store.store_id)
    created = client.create_run(experiment_id, start_time=start, tags=tags,
                                run_name=tags["mlflow.runName"])
    run_id = created.info.run_id
    client.log_batch(run_id, metrics=[Metric(k, v, start, 0) for k, v in run_metrics(run).items()],
                     params=[Param(k, v) for k, v in run_params(run).items()])
    with tempfile.TemporaryDirectory() as tmp:
        notes = _artifacts(store, run, Path(tmp))
        client.log_artifacts(run_id, tmp)
    if notes:
        client.set_tag(run_id, "deepatoms.notes", "; ".join(notes)[:MAX_TAG])
    client.set_terminated(run_id, "FINISHED", end_time=start + int(1000 * run["wall_s"]))
    return run_id


def export_mlflow(store: "Store", uri: str, runs: list[dict[str, Any]],
                  experiment: str = EXPERIMENT) -> dict[str, Any]:
    """Log `runs` to the MLflow tracking store at `uri`; returns the experiment id and the
    numbers of runs exported and skipped (already there)."""
    mlflow = load_mlflow()
    resolved = tracking_uri(uri)
    if resolved.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(tracking_uri=resolved)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    done = _exported_keys(client, experiment_id, store.store_id)
    exported = []
    for run in runs:
        if f"{store.store_id}:{run['id']}" not in done:
            exported.append(_log_run(client, experiment_id, store, run))
    return {"uri": resolved, "experiment_id": experiment_id, "exported": len(exported),
            "skipped": len(runs) - len(exported), "mlflow_run_ids": exported}
