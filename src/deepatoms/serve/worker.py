"""One worker process of `deepatoms serve`: it takes jobs (a run or a probe) from its inbox and
runs them through `deepatoms.api.run` (the CLI's runner, store and cache) in this process,
sending progress, live measurements and the result to the server's outbox.

A cancel is SIGINT to this process: KeyboardInterrupt unwinds the run the way Ctrl-C does in
`deepatoms run` (the batch in progress rolls back, finished batches stay stored)."""
from __future__ import annotations

import math
import os
import signal
import time
from typing import Any

POINT_LIMIT = 256   # a recorded value with more numbers than this is not streamed
PROGRESS_EVERY_S = 0.1
POINTS_PER_LOOP = 50  # live points sent per training loop, besides its record steps


def _numbers(value: Any) -> list[float] | None:
    """A recorded value as a flat list of finite-or-None floats (a tensor, array or number)."""
    try:
        if hasattr(value, "detach"):
            value = value.detach()
            if value.numel() > POINT_LIMIT or value.is_complex():
                return None
            flat = value.reshape(-1).float().cpu().tolist()
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat = [float(value)]
        elif hasattr(value, "tolist") and getattr(value, "size", POINT_LIMIT + 1) <= POINT_LIMIT:
            flat = [float(v) for v in value.reshape(-1).tolist()]
        else:
            return None
    except (TypeError, ValueError, RuntimeError):
        return None
    return [v if math.isfinite(v) else None for v in flat]


def series(value: Any) -> dict[str, list[float | None]]:
    """The curves of one recorded step: name → one number per model (a dict's entries, a
    tuple's items as value 1, 2, ..., or the value itself as "value")."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (tuple, list)):
        items = ((f"value {i + 1}", v) for i, v in enumerate(value))
    else:
        items = (("value", value),)
    out = {}
    for name, v in items:
        nums = _numbers(v)
        if nums:
            out[str(name)[:60]] = nums
    return out


class Relay:
    """Progress (`lab.Progress`) and the record listener of one job: messages to the outbox
    (progress at most every PROGRESS_EVERY_S; every recorded step; a new segment when a
    training loop starts again). A loop whose models the atom named (`Lab.name_models`) sends
    the names with each point: `models` = {"settings": [...], "seeds": [...]}, one per model."""

    def __init__(self, outbox: Any, job: str):
        self.outbox, self.job = outbox, job
        self.loops: list[list[Any]] = []
        self.segment, self.last_step, self.sent = 0, 0, 0.0
        self.pending: dict[str, list[Any]] | None = None  # names of the next loop's models
        self.models: dict[str, list[Any]] | None = None   # names of this loop's models

    def begin(self, description: str, total: int) -> None:
        self.loops.append([description, 0, max(int(total), 1)])
        self._send(force=True)

    def advance(self, n: int) -> None:
        if self.loops:
            self.loops[-1][1] += n
            self._send()

    def end(self) -> None:
        if self.loops:
            self.loops.pop()

    def _send(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.loops and (force or now - self.sent >= PROGRESS_EVERY_S):
            self.sent = now
            desc, done, total = self.loops[-1]
            self.outbox.put(("progress", self.job, {"loop": desc, "done": done, "total": total}))

    def names(self, settings: list[str], seeds: list[int]) -> None:
        """The lab's names listener: the next training loop's models (setting, seed)."""
        self.pending = {"settings": list(settings), "seeds": list(seeds)}

    def _start(self, step: int) -> None:
        """A new segment when the step count starts again or the atom named a new loop."""
        if step <= self.last_step or (self.pending is not None and self.last_step):
            self.segment += 1
            self.models = None
        if self.pending is not None:
            self.models, self.pending = self.pending, None
        self.last_step = step

    def record(self, step: int, steps: int, loss: Any, recorded: Any) -> None:
        """A training step (lab's listener): sent when it is a record step, or one of about
        POINTS_PER_LOOP evenly spaced steps, or the last."""
        self._start(step)
        every = max(1, steps // POINTS_PER_LOOP)
        if recorded is None and step % every and step != steps:
            return
        curves = {}
        if loss is not None:
            losses = loss.detach()
            curves = series({"loss": losses.mean(dim=1) if losses.dim() == 2 else losses})
        if recorded is not None:
            curves.update({k if k != "value" else "record": v for k, v in series(recorded).items()})
        if not curves:
            return
        point = {"segment": self.segment, "step": int(step), "steps": int(steps)}
        if self.models is not None:
            curves = per_model(curves, len(self.models["seeds"]))
            point["models"] = self.models
        self.outbox.put(("point", self.job, {**point, "series": curves}))


def per_model(curves: dict[str, list[float | None]], m: int) -> dict[str, list[float | None]]:
    """Curves of a named loop of `m` models: a curve of k·m numbers (a record of shape (k, m),
    e.g. test and train accuracy stacked) becomes k curves "name 1" ... "name k"."""
    out = {}
    for name, values in curves.items():
        k = len(values) // m if m else 0
        if k > 1 and k * m == len(values):
            out.update({f"{name} {j + 1}": values[j * m:(j + 1) * m] for j in range(k)})
        else:
            out[name] = values
    return out


def _run(job: dict[str, Any], store: str, relay: Relay) -> dict[str, Any]:
    from .. import api
    from ..lab import set_record_listener
    set_record_listener(relay.record, relay.names)
    try:
        out = api.run(job["atom"], job["preset"], job["seeds"], store=store, progress=relay,
                      workers=1, device="cpu", seeds_per_batch=job["seeds_per_batch"],
                      **job["overrides"])
    finally:
        set_record_listener(None)
    return {"run_id": out.run_id, "verdict": out.verdict.to_dict(), "wall_s": out.wall_s,
            "computed_s": out.computed_s, "cached_seeds": list(out.cached_seeds)}


def _probe(job: dict[str, Any], store: str, relay: Relay) -> dict[str, Any]:
    from ..execution.validate import open_store
    from ..lab import set_record_listener
    from ..studies.probe import probe_values
    overrides = {k: v for k, v in job["overrides"].items() if k != job["key"]}
    set_record_listener(relay.record, relay.names)
    try:
        result = probe_values(job["atom"], job["key"], job["values"], preset=job["preset"],
                              seeds=job["seeds"], store=open_store(store), device="cpu",
                              progress=relay, **overrides,
                              on_point=lambda p: relay.outbox.put(("probe", relay.job, p)))
    finally:
        set_record_listener(None)
    return {"probe": result.to_dict()}


def _one(job: dict[str, Any], store: str, outbox: Any) -> None:
    from ..errors import DeepatomsError
    relay = Relay(outbox, job["id"])
    outbox.put(("started", job["id"], {"pid": os.getpid()}))
    try:
        result = (_probe if job["kind"] == "probe" else _run)(job, store, relay)
    except KeyboardInterrupt:
        outbox.put(("cancelled", job["id"], {}))
    except DeepatomsError as exc:
        outbox.put(("failed", job["id"], {"error": str(exc)}))
    except Exception as exc:  # a bug in an atom: the job fails with one line, the worker lives
        outbox.put(("failed", job["id"], {"error": f"{type(exc).__name__}: {exc}"}))
    else:
        outbox.put(("done", job["id"], result))


def _orphan_watch(parent: int) -> None:
    """End this worker when the server is gone (killed without stopping its workers)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main(inbox: Any, outbox: Any, store: str) -> None:
    """The worker's loop: its own process group (the terminal's Ctrl-C goes to the server,
    which stops the workers), one torch thread, jobs until None."""
    import threading
    os.setpgrp()
    threading.Thread(target=_orphan_watch, args=(os.getppid(),), daemon=True).start()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["DEEPATOMS_WORKERS"] = "1"  # trials in this process: the listener sees them
    import torch
    torch.set_num_threads(1)
    from .. import api  # noqa: F401  (imported once: the first job starts at once)
    outbox.put(("ready", "", {"pid": os.getpid()}))
    while True:
        try:
            job = inbox.get()
            if job is None:
                return
            _one(job, store, outbox)
        except KeyboardInterrupt:  # a cancel that came after its job ended
            continue
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
