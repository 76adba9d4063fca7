"""`deepatoms serve`: the lab in the browser (src/deepatoms/serve). Prints its URL and serves
until Ctrl-C; the `serve` extra (FastAPI, uvicorn) must be installed."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import DeepatomsError
from ..store.database import DEFAULT_DIR
from . import interrupts
from .app import Command, StoreOpt, app, import_optional, open_store, stdout


def _default_workers() -> int:
    from ..execution.executors import cores
    return max(1, cores() // 2)


@app.command("serve", cls=Command)
def serve(
    store: StoreOpt = Path(DEFAULT_DIR),
    host: Annotated[str, typer.Option(help="Address to bind; any other than loopback needs "
                                            "the token printed at start.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    workers: Annotated[int | None, typer.Option(
        min=1, max=64, help="Runs at once, each in its own worker process "
                            "(default: half the cores, at least 1).")] = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the URL in a browser.")]
    = False,
) -> None:
    """An interactive local web app: pick a claim, change its conditions, watch it train, see
    the verdict; runs are ordinary stored runs (`history`, `report` see them)."""
    import_optional("fastapi", "`deepatoms serve` (pip install 'deepatoms[serve]')")
    uvicorn = import_optional("uvicorn", "`deepatoms serve` (pip install 'deepatoms[serve]')")
    from ..serve.app import create_app
    from ..serve.security import is_loopback, new_token
    if not host.strip():
        raise DeepatomsError("--host must not be empty")
    open_store(store, create=True)  # proven writable before the server starts
    token = None if is_loopback(host) else new_token()
    application = create_app(str(store), workers=workers or _default_workers(), host=host,
                             token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    out = stdout()
    out.print(f"deepatoms lab on {url} (store {store}); Ctrl-C stops it", highlight=False,
              soft_wrap=True)
    if open_browser:
        import webbrowser
        webbrowser.open(url)
    uvicorn.run(application, host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=2)  # until Ctrl-C; open event streams then close
    out.print("deepatoms lab stopped", highlight=False)
    if interrupts.state.signal is not None:  # Ctrl-C is how the server ends: exit code 0, at
        sys.stdout.flush()                    # once (the workers are stopped; the interpreter's
        os._exit(0)                           # teardown with torch loaded takes seconds)
