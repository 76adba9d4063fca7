"""The store: a results directory holding one SQLite database (runs, trials, probes) and the
report's artifacts. `database` is the Store itself; `schema` its tables and migrations; `export`,
`mlflow` and `history` read it for other tools and for people."""
from .database import DB_NAME, DEFAULT_DIR, Store, default_location, params_key

__all__ = ["DB_NAME", "DEFAULT_DIR", "Store", "default_location", "params_key"]
