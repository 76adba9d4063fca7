"""The web app of `deepatoms serve` (FastAPI): the pages (static HTML/JS/CSS under static/)
and the JSON API they use, documented in README.md ("The lab in the browser")."""
from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import (FileResponse, HTMLResponse, JSONResponse, Response,
                               StreamingResponse)
from fastapi.staticfiles import StaticFiles

from ..catalog import registry
from ..errors import DeepatomsError, UnknownAtomError
from . import requests as checks
from .jobs import Jobs, QueueFull
from .schema import atom_detail, atom_summary, finite
from .security import Guard
from .store_views import StoreView, report_file, with_lab_link

STATIC = Path(__file__).parent / "static"


def create_app(store: str, *, workers: int = 1, host: str = "127.0.0.1",
               token: str | None = None, queue_limit: int = 8, warm: bool = True) -> FastAPI:
    """The app over the store at `store`; `token` is required on every API call when given;
    `warm`: start the worker processes with the server (else with the first run)."""
    jobs = Jobs(store, workers, queue_limit)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        if warm:
            jobs.warm()  # the workers import torch now, not when the first run is asked
        yield
        jobs.close()  # the workers stop with the server

    app = FastAPI(title="deepatoms lab", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.jobs = jobs
    app.state.view = StoreView(store)
    app.state.guard = Guard(host, token)
    app.middleware("http")(_guard)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _pages(app)
    _atom_routes(app)
    _run_routes(app)
    return app


async def _guard(request: Request, call_next: Any) -> Response:
    guard: Guard = request.app.state.guard
    host = request.headers.get("host")
    if not guard.host_ok(host):
        return JSONResponse({"detail": "this server does not answer to that Host"}, 403)
    if not guard.origin_ok(request.headers.get("origin"), host):
        return JSONResponse({"detail": "requests from another site are refused"}, 403)
    if request.url.path.startswith("/api/") and not guard.token_ok(
            request.headers.get("authorization"), request.query_params.get("token")):
        return JSONResponse({"detail": "a token is needed: the URL printed at start has it"}, 401)
    return await call_next(request)


def _pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def catalog_page() -> FileResponse:
        return FileResponse(STATIC / "catalog.html")

    @app.get("/atom/{name}", include_in_schema=False)
    def atom_page(name: str) -> FileResponse:
        return FileResponse(STATIC / "atom.html")

    @app.get("/report/{path:path}", include_in_schema=False)
    def report(path: str) -> Response:
        """The static report that `deepatoms report` wrote into the store, as it is; each atom
        page gains a link to its lab page (the files are not changed)."""
        found = report_file(app.state.view.location, path or "index.html")
        if found is None:
            raise HTTPException(404, "no such report page; `deepatoms report` writes the report")
        if found.suffix != ".html" or found.parent.name != "atoms":
            return FileResponse(found)
        return HTMLResponse(with_lab_link(found.read_text(encoding="utf-8"), found.stem))


def _atom(name: str) -> Any:
    try:
        return registry.get(name)
    except UnknownAtomError as exc:
        raise HTTPException(404, str(exc)) from None


def _bad(exc: checks.FieldError) -> JSONResponse:
    return JSONResponse({"detail": [{"field": exc.field, "message": str(exc)}]}, 422)


def _atom_routes(app: FastAPI) -> None:
    view: StoreView = app.state.view

    @app.get("/api/atoms")
    def atoms() -> list[dict[str, Any]]:
        from ..report.context import FAMILY_TITLES  # the static report's grouping
        latest = view.latest()
        return [dict(atom_summary(a, latest.get(a.name)),
                     group=FAMILY_TITLES.get(a.family, a.family))
                for family in registry.FAMILIES for a in registry.family(family)]

    @app.get("/api/atoms/{name}")
    def atom(name: str) -> dict[str, Any]:
        a = _atom(name)
        return atom_detail(a, view.latest().get(a.name))

    @app.get("/api/figures/{run_id}")
    def figures(run_id: int) -> list[str]:
        try:
            return view.figure_names(run_id)
        except (DeepatomsError, KeyError, ValueError) as exc:
            raise HTTPException(404, str(exc)) from None

    @app.get("/api/figures/{run_id}/{index}.png")
    def figure(run_id: int, index: int, thumb: bool = False) -> Response:
        try:
            png = view.figure_png(run_id, index, thumb)
        except (DeepatomsError, KeyError, ValueError) as exc:
            raise HTTPException(404, f"no figure {index} of run {run_id} ({exc})") from None
        return Response(png, media_type="image/png")

    @app.post("/api/estimate")
    async def estimate(request: Request) -> dict[str, Any]:
        return checks.estimate(await _body(request))

    @app.get("/api/diff")
    def diff(a: str, b: str) -> dict[str, Any]:
        try:
            return finite(json.loads(json.dumps(view.diff(a, b), default=str)))
        except DeepatomsError as exc:
            raise HTTPException(404, str(exc)) from None


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _run_routes(app: FastAPI) -> None:
    jobs: Jobs = app.state.jobs
    view: StoreView = app.state.view

    def submit(kind: str, spec: dict[str, Any], estimate_s: float) -> Any:
        try:
            return {"id": jobs.submit(kind, spec, estimate_s).id}
        except QueueFull as exc:
            return JSONResponse({"detail": str(exc)}, 429)

    @app.post("/api/runs")
    async def new_run(request: Request) -> Any:
        try:
            spec = checks.check_run(await _body(request))
        except checks.FieldError as exc:
            return _bad(exc)
        return submit("run", _job_spec(spec), spec.estimate_s)

    @app.post("/api/probes")
    async def new_probe(request: Request) -> Any:
        try:
            spec, key, values = checks.check_probe(await _body(request))
        except checks.FieldError as exc:
            return _bad(exc)
        return submit("probe", dict(_job_spec(spec), key=key, values=values), spec.estimate_s)

    @app.get("/api/runs")
    def runs(atom: str) -> dict[str, Any]:
        a = _atom(atom)
        live = [j.view() for j in list(jobs.jobs.values()) if j.spec["atom"] == a.name]
        return {"stored": finite(json.loads(json.dumps(view.history(a.name), default=str))),
                "jobs": live}

    @app.get("/api/runs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        return _job(jobs, job_id).view()

    @app.delete("/api/runs/{job_id}")
    def cancel(job_id: str) -> dict[str, Any]:
        _job(jobs, job_id)
        return jobs.cancel(job_id).view()

    @app.get("/api/runs/{job_id}/events")
    async def events(job_id: str, since: int = 0) -> StreamingResponse:
        _job(jobs, job_id)
        return StreamingResponse(_stream(jobs, job_id, since), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})


def _job(jobs: Jobs, job_id: str) -> Any:
    if job_id not in jobs.jobs:
        raise HTTPException(404, f"no run {job_id!r} in this server")
    return jobs.jobs[job_id]


def _job_spec(spec: checks.RunSpec) -> dict[str, Any]:
    return {"atom": spec.atom, "preset": spec.preset, "seeds": spec.seeds,
            "overrides": dict(spec.overrides), "seeds_per_batch": spec.seeds_per_batch}


async def _stream(jobs: Jobs, job_id: str, index: int) -> Any:
    """Server-Sent Events: every event of the job from `index` (its number is the SSE id), then
    the end; a comment every few seconds keeps the connection open."""
    quiet = 0.0
    while True:
        events, ended = jobs.events_since(job_id, index)
        for event in events:
            data = json.dumps(finite(event), default=str)
            yield f"id: {index}\nevent: {event['type']}\ndata: {data}\n\n"
            index += 1
        if ended and not events:
            return
        if not events:
            quiet += 0.05
            if quiet > 5:
                quiet = 0.0
                yield ": keep-alive\n\n"
        await asyncio.sleep(0.05)
