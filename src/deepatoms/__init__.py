"""deepatoms: atomic experiments in deep learning, each a seeded claim with an honest verdict."""
__version__ = "0.1.0"

from .api import catalog, get_atom, probe, run  # noqa: E402

__all__ = ["catalog", "get_atom", "probe", "run", "__version__"]
