"""deepatoms: atomic experiments in deep learning, each a seeded claim with an honest verdict."""
__version__ = "0.1.0"

__all__ = ["catalog", "diff", "get_atom", "history", "probe", "run", "__version__"]


def __getattr__(name: str):
    # The API pulls in torch; import it on first use so `deepatoms --help`, `--version` and
    # `list` stay fast (they never train).
    if name in ("catalog", "diff", "get_atom", "history", "run"):
        from . import api
        return getattr(api, name)
    if name == "probe":  # a study: several runs of one atom (studies/probe.py, grid.py)
        from .studies.grid import probe
        return probe
    raise AttributeError(f"module 'deepatoms' has no attribute {name!r}")
