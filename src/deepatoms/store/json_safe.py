"""Values as JSON allows them: what the CLI's `--json`, `bench --catalog`'s result file and any
other writer of plain data pass through before `json.dumps(..., allow_nan=False)`."""
from __future__ import annotations

import math
from typing import Any, Mapping


def jsonable(obj: Any) -> Any:
    """`obj` with tuples as lists, non-finite floats as None: `json.dumps` gives valid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return jsonable(obj.item())
    return obj
