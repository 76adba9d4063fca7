"""An app on a temporary store, driven by FastAPI's test client (loopback Host)."""
from __future__ import annotations

import json
import time
from typing import Any

BASE = "http://127.0.0.1:8765"
QUICK = {"atom": "layer-convergence", "preset": "quick", "seeds": 2}


def client(store, **options):
    from fastapi.testclient import TestClient
    from deepatoms.serve.app import create_app
    return TestClient(create_app(str(store), **options), base_url=BASE)


def wait(c, job_id: str, timeout: float = 120.0, until=("done", "failed", "cancelled")) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        view = c.get(f"/api/runs/{job_id}").json()
        if view["state"] in until:
            return view
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {view['state']} after {timeout} s")


def events(c, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every Server-Sent Event of a job (the stream ends with the job)."""
    with c.stream("GET", f"/api/runs/{job_id}/events") as stream:
        text = "".join(stream.iter_text())
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line
                      and not line.startswith(":"))
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out
