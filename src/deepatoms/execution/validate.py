"""Checks of the Python API's arguments, made before anything is trained or written.

`deepatoms.run(...)` and `deepatoms.probe(...)` call these so that a wrong argument is a
`DeepatomsError` with one line saying what is allowed, never a raw TypeError or KeyError from
deep inside the runner.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import DeepatomsError, DeviceError, StoreError

MAX_SEEDS = 10_000  # seeds per run: enough for any claim, and inside what one SQLite query holds

if TYPE_CHECKING:
    from ..store.database import Store


def is_integer(value: object) -> bool:
    import numbers
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and \
        type(value).__name__ != "bool_"


def show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def check_text(argument: str, value: object) -> str:
    """A non-empty string argument (atom name, preset, metric)."""
    if not isinstance(value, str) or not value.strip():
        raise DeepatomsError(f"{argument} must be a non-empty string, got {show(value)}")
    return value


def check_device(device: object) -> str:
    """'auto', 'cpu', 'cuda' or 'cuda:N' (availability is checked by `resolve_device`)."""
    if not isinstance(device, str) or not device.strip():
        raise DeviceError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {show(device)}")
    return device


def check_optional_count(argument: str, value: object, least: int, most: int | None = None
                         ) -> int | None:
    """None, or an integer in [least, most] (NumPy integers accepted, bools and floats not)."""
    if value is None:
        return None
    if not is_integer(value):
        raise DeepatomsError(f"{argument} must be an integer or None, got {show(value)}")
    count = int(value)
    if count < least or (most is not None and count > most):
        upper = f" and at most {most:,}" if most is not None else ""
        raise DeepatomsError(f"{argument} must be at least {least}{upper}, got {count}")
    return count


def check_flag(argument: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise DeepatomsError(f"{argument} must be True or False, got {show(value)}")
    return value


def check_progress(progress: object) -> None:
    """None, or an object with the Progress methods begin, advance and end."""
    if progress is None:
        return
    missing = [m for m in ("begin", "advance", "end") if not callable(getattr(progress, m, None))]
    if missing:
        raise DeepatomsError(f"progress must be None or have methods begin, advance and end "
                             f"(missing {', '.join(missing)}), got {show(progress)}")


def check_store_location(location: object) -> None:
    """A results directory given as text or a path: not empty, not a file."""
    if isinstance(location, bytes) or not isinstance(location, (str, os.PathLike)):
        raise StoreError(f"store must be a Store, a directory path or None, got {show(location)}")
    text = os.fspath(location)
    if not str(text).strip():
        raise StoreError("the store location is empty; pass a results directory (--store DIR)")
    if os.path.exists(text) and not os.path.isdir(text):
        raise StoreError(f"the store location '{text}' is a file, not a directory; pass a "
                         "results directory (--store DIR)")


def open_store(store: "Store | str | os.PathLike | None") -> "Store | None":
    """The Store that `store` names (None: no caching, nothing written)."""
    from ..store.database import Store
    if store is None or isinstance(store, Store):
        return store
    check_store_location(store)
    return Store(store)


def check_run_arguments(*, name: Any, preset: Any, max_seeds: Any, device: Any, force: Any,
                        progress: Any, seeds_per_batch: Any, store: Any) -> None:
    """Every argument of `deepatoms.run` except seeds and parameters (checked by their parsers)."""
    from ..store.database import Store
    check_text("the atom name", name)
    check_text("preset", preset)
    check_optional_count("max_seeds", max_seeds, 2, MAX_SEEDS)
    check_device(device)
    check_flag("force", force)
    check_progress(progress)
    check_optional_count("seeds_per_batch", seeds_per_batch, 1, MAX_SEEDS)
    if store is not None and not isinstance(store, Store):
        check_store_location(store)


DATA_FIELDS = ("dataset", "data")  # the parameter that picks "digits" or "mnist"


def check_data_files(plans: "list[Any]", data_dir: "str | None") -> None:
    """`--data-dir`/$DEEPATOMS_DATA names a directory, and when a plan reads MNIST its four files
    are valid (magic, dimensions, sizes, label range): a DataFileError line before any store is
    opened. Sets $DEEPATOMS_DATA to the checked directory, where the atoms read it."""
    from ..data import files
    folder = files.data_dir(data_dir) if data_dir is not None else None
    if folder is not None:
        os.environ[files.ENV] = str(folder)
    if any(getattr(p.params, f, None) == "mnist" for p in plans for f in DATA_FIELDS):
        files.check_mnist(folder)
