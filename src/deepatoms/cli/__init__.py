"""The `deepatoms` command line. `app` holds the shared options and helpers; each command lives in
the module named for what it does (catalog: list, show; run: run, probe; results: report,
export; bench; history: history, diff; precision: precision-check; check: claims in CI; serve: the
web lab); `entry` turns every ending into one line and an exit code. Importing this package
registers every command on `app`."""
from . import bench, catalog, check, history, precision, results, run  # noqa: F401  (commands)
from . import serve  # noqa: F401  (registers `deepatoms serve`; FastAPI is imported when it runs)
from .app import app
from .entry import entry as main

__all__ = ["app", "main"]
