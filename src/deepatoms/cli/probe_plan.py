"""What `deepatoms probe` runs: from `--vary` (one parameter) or a config's [probe] table (one
or two parameters), and how it is shown (a table; a grid also as a verdict-map PNG)."""
from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import DeepatomsError
from .app import stdout
from .config import StudyConfig, merged_sets, seeds_text


@dataclasses.dataclass
class ProbePlan:
    atom: str
    vary: dict[str, list[Any]]
    preset: str
    seeds: str | None
    sets: dict[str, Any]
    metric: str | None

    def check(self, device: str = "auto") -> None:
        """Everything before the store is opened, an unknown --metric included (it writes
        nothing)."""
        from ..studies.grid import check_grid
        from ..studies.probe import check_metric, check_probe
        if len(self.vary) == 2:
            check_grid(self.atom, self.vary, self.preset, self.seeds, self.sets)
            (key, values), (other, others) = self.vary.items()
            check_metric(self.atom, key, values[:1], self.metric, preset=self.preset,
                         seeds=self.seeds, device=device, **self.sets, **{other: others[0]})
        else:
            (key, values), = self.vary.items()
            check_probe(self.atom, key, values, preset=self.preset, seeds=self.seeds,
                        overrides=self.sets)
            check_metric(self.atom, key, values, self.metric, preset=self.preset,
                         seeds=self.seeds, device=device, **self.sets)

    def execute(self, store: Any, device: str, bar: Any) -> Any:
        from ..studies.grid import probe_grid
        from ..studies.probe import probe_values
        common = dict(preset=self.preset, seeds=self.seeds, metric=self.metric, store=store,
                      device=device, progress=bar)
        if len(self.vary) == 2:
            return probe_grid(self.atom, self.vary, note=bar.line, **common, **self.sets)
        (key, values), = self.vary.items()
        return probe_values(self.atom, key, values, note=bar.line, **common, **self.sets)


def plan_probe(config: StudyConfig | None, name: str | None, vary: str | None,
               preset: str | None, seeds: str | None, sets: dict[str, str],
               metric: str | None) -> ProbePlan:
    """The command line's values where given, else the config's ([probe], then [run])."""
    from .. import registry
    from .overrides import per_atom
    table, run = (config.probe, config.run) if config else ({}, {})
    atoms = run.get("atoms") or []
    name = name or table.get("atom") or (atoms[0] if len(atoms) == 1 else None)
    if name is None:
        raise DeepatomsError("name the atom to probe (or give --config with a [probe] atom)")
    if vary is not None:
        values = _vary_option(name, vary)
    elif table.get("vary"):
        values = {k: list(v) for k, v in table["vary"].items()}
    else:
        raise DeepatomsError("give --vary key=v1,v2,... (or --config with a [probe] vary table)")
    # the varied values win over the config's [params]
    mine, _ = per_atom([registry.get(name)], merged_sets(config, sets, [name], tuple(values)))
    preset = preset if preset is not None else run.get("preset", "default")
    return ProbePlan(name, values, preset,
                     seeds if seeds is not None else seeds_text(run.get("seeds")),
                     mine[name], metric or table.get("metric"))


def _vary_option(name: str, vary: str) -> dict[str, list[Any]]:
    from ..studies.probe import split_values
    key, sep, text = vary.partition("=")
    if not sep or not key.strip():
        raise DeepatomsError(f"--vary expects key=v1,v2,... got {vary!r}")
    return {key.strip(): split_values(name, key.strip(), text)}


def show(result: Any, store: Any, store_flag: str) -> None:
    """A probe's table; a grid's table and its verdict map saved beside the store."""
    from .render import grid_table, probe_table
    if not hasattr(result, "cells"):
        stdout().print(probe_table(result.to_dict()))
        stdout().print(f"store: {store.root.resolve()}  (`deepatoms report{store_flag}` draws "
                       "the probe on the atom's page)", soft_wrap=True, highlight=False)
        return
    stdout().print(grid_table(result.to_dict()))
    kx, ky = result.values
    path = store.root / "probes" / f"{result.atom}-{kx}-{ky}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    result.figure().savefig(path, dpi=110, bbox_inches="tight")
    stdout().print(f"verdict map: {path.resolve()}", soft_wrap=True, highlight=False)
