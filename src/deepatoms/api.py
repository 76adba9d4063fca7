"""The Python API: `deepatoms.run(...)`, `deepatoms.catalog()`, and the Outcome it returns."""
from __future__ import annotations

import base64
import dataclasses
import html
import io
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from . import registry
from .atom import Atom
from .params import Params
from .runner import Execution, execute, parse_seeds

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from .lab import Progress
    from .store import Store


@dataclasses.dataclass
class Outcome(Execution):
    """The result of running one atom: what the runner measured (tidy table, verdict, timing,
    environment, command) plus what was asked (atom, parameters, preset, seeds)."""
    atom: Atom
    params: Params
    preset: str
    seeds: tuple[int, ...]

    def figures(self) -> "dict[str, Figure]":
        return self.atom.figures(self.table)

    def to_dict(self) -> dict[str, Any]:
        return {"atom": self.atom.name, "family": self.atom.family, "preset": self.preset,
                "params": self.params.to_dict(), "seeds": list(self.seeds),
                **self.verdict.to_dict(), "wall_s": round(self.wall_s, 3),
                "computed_s": round(self.computed_s, 3), "cached_seeds": list(self.cached_seeds),
                "env": self.env, "command": self.command}

    def _repr_html_(self) -> str:
        from .report.html import evidence_html
        figs = []
        for fig in self.figures().values():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
            figs.append(f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">')
        return (f"<h3>{html.escape(self.atom.title)} — <em>{html.escape(self.verdict.status)}</em></h3>"
                f"<p>{html.escape(self.verdict.finding)}</p>{evidence_html(self.verdict)}" + "".join(figs))


def catalog(family: str | None = None) -> pd.DataFrame:
    """One row per atom: name, family, title, estimated runtime."""
    atoms = registry.family(family) if family else list(registry.all_atoms().values())
    return pd.DataFrame([{"name": a.name, "family": a.family, "title": a.title,
                          "runtime_s": a.runtime_s} for a in atoms])


def get_atom(name: str) -> Atom:
    return registry.get(name)


def run(name: str, preset: str = "default", seeds: int | Sequence[int] | str | None = None, *,
        device: str = "auto", store: "Store | str | None" = None, force: bool = False,
        progress: "Progress | None" = None, seeds_per_batch: int | None = None,
        **overrides: Any) -> Outcome:
    """Run an atom and judge its claim, e.g. `run("class-imbalance", preset="quick", seeds=5)`.

    `store`: a Store or a results directory (None: no caching, nothing written).
    """
    from .store import Store
    atom = registry.get(name)
    params = atom.params(preset, **overrides)
    seed_tuple = parse_seeds(seeds, atom.default_seeds)
    if store is not None and not isinstance(store, Store):
        store = Store(store)
    ex = execute(atom, params, seed_tuple, preset=preset, overrides=overrides, store=store,
                 device=device, force=force, progress=progress, seeds_per_batch=seeds_per_batch)
    return Outcome(**vars(ex), atom=atom, params=params, preset=preset, seeds=seed_tuple)
