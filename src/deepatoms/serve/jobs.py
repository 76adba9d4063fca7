"""The queue of `deepatoms serve`: at most `workers` jobs run at once, each in a worker process
(worker.py), and at most `queue_limit` wait (a full queue refuses: 429 in the API). A job keeps
its events (progress, live points, probe points, the end) for the pages to stream."""
from __future__ import annotations

import collections
import dataclasses
import gc
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from . import worker

ENDED = ("done", "failed", "cancelled")
CANCEL_GRACE_S = 3.0   # after SIGINT, a worker that has not stopped is terminated and replaced


class QueueFull(Exception):
    """More jobs waiting than the queue holds."""


@dataclasses.dataclass
class Job:
    id: str
    kind: str                      # "run" or "probe"
    spec: dict[str, Any]           # what runs: atom, preset, seeds, overrides (+ key, values)
    estimate_s: float
    state: str = "queued"          # queued, running, done, failed, cancelled
    created: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    progress: dict[str, Any] = dataclasses.field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str = ""
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    first_point_s: float | None = None   # seconds from submission to the first live point

    def view(self) -> dict[str, Any]:
        """The job as `GET /api/runs/{id}` returns it."""
        elapsed = (self.ended or time.time()) - self.started if self.started else 0.0
        left = max(self.estimate_s - elapsed, self._loop_left()) if self.state == "running" \
            else 0.0
        fraction = 1.0 if self.state == "done" else min(elapsed / max(self.estimate_s, 1e-9),
                                                         0.99) if self.started else 0.0
        return {"id": self.id, "kind": self.kind, "state": self.state, **self.spec,
                "estimate_s": round(self.estimate_s, 1), "elapsed_s": round(elapsed, 2),
                "left_s": round(left, 1), "fraction": round(fraction, 3),
                "progress": self.progress, "result": self.result, "error": self.error,
                "first_point_s": self.first_point_s, "events": len(self.events)}


    def _loop_left(self) -> float:
        """Seconds left in the training loop now running, at its pace so far (the estimate
        of a busy machine is too low; this one is not)."""
        done, total, since = (self.progress.get(k) for k in ("done", "total", "since"))
        if not done or not total or since is None:
            return 0.0
        return (time.time() - since) * (total - done) / done


class _Worker:
    def __init__(self, ctx: Any, outbox: Any, store: str):
        self.inbox = ctx.Queue()
        self.process = ctx.Process(target=worker.main, args=(self.inbox, outbox, store),
                                   daemon=True)
        self.process.start()
        self.job: Job | None = None


class Jobs:
    """Jobs and the worker processes that run them (started on the first job)."""

    def __init__(self, store: str, workers: int = 1, queue_limit: int = 8):
        self.store, self.n_workers, self.queue_limit = store, max(int(workers), 1), queue_limit
        self.jobs: dict[str, Job] = {}
        self.waiting: collections.deque[Job] = collections.deque()
        self.lock = threading.Condition()
        self._ctx = multiprocessing.get_context("spawn")
        self._outbox: Any = None
        self._workers: list[_Worker] = []
        self._count = 0
        self._closed = False

    # ---------------------------------------------------------------- submitting
    def submit(self, kind: str, spec: dict[str, Any], estimate_s: float) -> Job:
        with self.lock:
            if len(self.waiting) >= self.queue_limit:
                raise QueueFull(f"{len(self.waiting)} jobs are waiting already (the queue holds "
                                f"{self.queue_limit}); try again when one has finished")
            self._count += 1
            job = Job(f"{'r' if kind == 'run' else 'p'}{self._count}", kind, spec, estimate_s)
            self.jobs[job.id] = job
            self.waiting.append(job)
            self._start()
            self._dispatch()
            return job

    def warm(self) -> None:
        """Start the worker processes (each imports torch and the atoms once)."""
        with self.lock:
            self._start()

    def cancel(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs[job_id]
            if job.state == "queued":
                self.waiting.remove(job)
                self._end(job, "cancelled", {})
            elif job.state == "running":
                w = next((w for w in self._workers if w.job is job), None)
                if w is not None and w.process.pid:
                    os.kill(w.process.pid, signal.SIGINT)
                    threading.Timer(CANCEL_GRACE_S, self._reap, (job,)).start()
            return job

    def events_since(self, job_id: str, index: int) -> tuple[list[dict[str, Any]], bool]:
        with self.lock:
            job = self.jobs[job_id]
            return list(job.events[index:]), job.state in ENDED

    def wait_events(self, job_id: str, index: int, timeout: float) -> None:
        with self.lock:
            job = self.jobs[job_id]
            if len(job.events) <= index and job.state not in ENDED:
                self.lock.wait(timeout)

    # ---------------------------------------------------------------- workers
    def _start(self) -> None:
        if self._outbox is None:
            self._outbox = self._ctx.Queue()
            self._drainer = threading.Thread(target=self._drain, daemon=True, name="serve-outbox")
            self._drainer.start()
        while len(self._workers) < self.n_workers:
            self._workers.append(_Worker(self._ctx, self._outbox, self.store))

    def _dispatch(self) -> None:
        for w in self._workers:
            if w.job is None and self.waiting and w.process.is_alive():
                job = self.waiting.popleft()
                w.job, job.state, job.started = job, "running", time.time()
                self._event(job, "state", {"state": "running"})
                w.inbox.put({"id": job.id, "kind": job.kind, **job.spec})

    def _reap(self, job: Job) -> None:
        """A worker that did not stop after a cancel: terminated, replaced."""
        with self.lock:
            w = next((w for w in self._workers if w.job is job), None)
            if w is None or job.state in ENDED:
                return
            w.process.terminate()
            self._workers.remove(w)
            self._end(job, "cancelled", {"note": "the worker was stopped"})
            if not self._closed:
                self._start()
                self._dispatch()

    def _drain(self) -> None:
        while True:
            try:
                message = self._outbox.get()
            except (EOFError, OSError, ValueError):
                return
            if message is None:  # close(): the server is stopping
                return
            kind, job_id, data = message
            with self.lock:
                self._message(kind, self.jobs.get(job_id), data)
                self.lock.notify_all()

    def _message(self, kind: str, job: Job | None, data: dict[str, Any]) -> None:
        if job is None or job.state in ENDED:
            return
        if kind == "progress":
            same = job.progress.get("loop") == data["loop"] and job.progress.get("done", 0) <= \
                data["done"] and job.progress.get("total") == data["total"]
            job.progress = {**data, "since": job.progress["since"] if same else time.time()}
        if kind == "point" and job.first_point_s is None:
            job.first_point_s = round(time.time() - job.created, 3)
        if kind in ENDED:
            self._end(job, kind, data)
            for w in self._workers:
                if w.job is job:
                    w.job = None
            self._dispatch()
        elif kind != "started":
            self._event(job, kind, data)

    def _end(self, job: Job, state: str, data: dict[str, Any]) -> None:
        job.state, job.ended = state, time.time()
        job.result = data if state == "done" else None
        job.error = data.get("error", "")
        self._event(job, "end", {"state": state, **data})
        self.lock.notify_all()

    def _event(self, job: Job, kind: str, data: dict[str, Any]) -> None:
        job.events.append({"type": kind, **data})

    def close(self) -> None:
        """Stop the workers (the server is shutting down)."""
        with self.lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for w in workers:
            if w.process.is_alive():
                w.inbox.put(None) if w.job is None else w.process.terminate()
        for w in workers:
            w.process.join(2)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1)
        if self._outbox is not None:
            self._outbox.put(None)
            self._drainer.join(2)
        # drop the queues now: their semaphores are released here, not left to the exit
        self._outbox = None
        workers.clear()
        gc.collect()
