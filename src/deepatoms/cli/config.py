"""A study's config file (`--config study.toml`, read with tomllib): the atoms, preset, seeds and
parameters of `run` / `check`, and the grid of `probe`. Parsing and checking only; the commands
merge it with their options (an option given on the command line wins).

    [run]
    atoms = ["parity", "layer-convergence"]   # or family = "failures", or all = true
    preset = "quick"
    seeds = 3                                  # a count, a list [7, 8, 9], or "auto"
    [params]                                   # every atom that has the parameter
    steps = 400
    [params.parity]                            # one atom
    hidden_factor = 2
    [probe]                                    # `deepatoms probe --config`
    atom = "parity"
    vary = { steps = [200, 400], lr = [0.01, 0.1] }   # one or two parameters
"""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import DeepatomsError, did_you_mean

TABLES = ("run", "params", "probe")
RUN_KEYS = ("atoms", "family", "all", "preset", "seeds", "max_seeds")
PROBE_KEYS = ("atom", "vary", "metric")


@dataclasses.dataclass
class StudyConfig:
    """A config file, checked: where it came from and what each table said."""
    path: Path
    run: dict[str, Any]
    sets: dict[str, Any]          # `--set`-style keys: "key" (every atom) or "ATOM.key"
    probe: dict[str, Any]

    def resolved(self, **used: Any) -> dict[str, Any]:
        """What a run record keeps: the file, its tables, and the values the command used."""
        return {"file": str(self.path), "run": self.run, "params": self.sets, "used": used}


def _bad(path: Path, text: str) -> DeepatomsError:
    return DeepatomsError(f"{path}: {text}")


def _check_keys(path: Path, where: str, given: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in given:
        if key not in allowed:
            raise _bad(path, f"unknown key '{key}' in {where}{did_you_mean(key, list(allowed))}; "
                             f"allowed: {', '.join(allowed)}")


def load(path: Path) -> StudyConfig:
    """Read and check a config file; any problem is one DeepatomsError naming the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(path, "no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"cannot read the config file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise _bad(path, f"not valid TOML ({exc})") from None
    _check_keys(path, "the config file (tables)", data, TABLES)
    for name in TABLES:
        if not isinstance(data.get(name, {}), dict):
            raise _bad(path, f"'{name}' must be a table ([{name}])")
    run, probe = data.get("run", {}), data.get("probe", {})
    _check_keys(path, "[run]", run, RUN_KEYS)
    _check_keys(path, "[probe]", probe, PROBE_KEYS)
    _check_run(path, run)
    _check_probe(path, probe)
    return StudyConfig(path, run, _flat_params(path, data.get("params", {})), probe)


def _check_run(path: Path, run: dict[str, Any]) -> None:
    atoms = run.get("atoms")
    if atoms is not None and (not isinstance(atoms, list) or not atoms
                              or not all(isinstance(a, str) for a in atoms)):
        raise _bad(path, "[run] atoms must be a non-empty list of atom names")
    for key, kind in (("family", str), ("preset", str), ("all", bool), ("max_seeds", int)):
        if key in run and not isinstance(run[key], kind):
            raise _bad(path, f"[run] {key} has the wrong type ({run[key]!r})")
    seeds = run.get("seeds")
    if seeds is not None and not (isinstance(seeds, (int, str)) and not isinstance(seeds, bool)
                                  or isinstance(seeds, list)):
        raise _bad(path, f"[run] seeds must be a count, a list or \"auto\", got {seeds!r}")


def _check_probe(path: Path, probe: dict[str, Any]) -> None:
    if not probe:
        return
    vary = probe.get("vary")
    if not isinstance(vary, dict) or not 1 <= len(vary) <= 2:
        raise _bad(path, "[probe] vary must name one or two parameters with their values, "
                         "e.g. vary = { steps = [200, 400], lr = [0.01, 0.1] }")
    for key, values in vary.items():
        if not isinstance(values, list):
            raise _bad(path, f"[probe] vary.{key} must be a list of values")
    for key in ("atom", "metric"):
        if key in probe and not isinstance(probe[key], str):
            raise _bad(path, f"[probe] {key} must be a string")


def _flat_params(path: Path, params: dict[str, Any]) -> dict[str, Any]:
    """`[params]` → `{"steps": 400, "parity.hidden_factor": 2}` (the keys `--set` takes)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, dict):
                    raise _bad(path, f"[params.{key}] {sub} must be a value, not a table")
                flat[f"{key}.{sub}"] = v
        else:
            flat[key] = value
    return flat


def seeds_text(seeds: Any) -> str | None:
    """A config's seeds as the `--seeds` option's text (a count, a list, auto)."""
    if seeds is None or isinstance(seeds, str):
        return seeds
    if isinstance(seeds, list):
        return ",".join(str(s) for s in seeds)
    return str(seeds)


def merged_sets(config: StudyConfig | None, sets: dict[str, str], names: list[str],
                skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The config's parameters for the atoms `names` (a `[params.ATOM]` of another atom of the
    study is left out; so are the keys in `skip`), then `--set` on top (the command line wins)."""
    given = {k: v for k, v in (config.sets if config else {}).items()
             if k.rpartition(".")[0] in ("", *names) and k.rpartition(".")[2] not in skip}
    return {**given, **sets}


@dataclasses.dataclass
class RunChoice:
    """What a `run` / `check` runs after the config and the command line are merged."""
    names: list[str] | None
    family: str | None
    all_: bool
    preset: str
    seeds: str | None
    max_seeds: int | None
    sets: dict[str, str]                 # --set, as given
    config: StudyConfig | None = None

    def sets_for(self, names: list[str]) -> dict[str, Any]:
        """The overrides of a run of the atoms `names`: the config's, then --set."""
        return merged_sets(self.config, self.sets, names)


def choose(config: StudyConfig | None, names: list[str] | None, family: str | None, all_: bool,
           preset: str | None, seeds: str | None, max_seeds: int | None,
           sets: dict[str, str]) -> RunChoice:
    """The command line's atoms, preset, seeds where given, else the config's [run] table's."""
    run = config.run if config else {}
    if not (names or family is not None or all_):
        names, family, all_ = run.get("atoms"), run.get("family"), bool(run.get("all", False))
    preset = preset if preset is not None else run.get("preset", "default")
    return RunChoice(names, family, all_, preset,
                     seeds if seeds is not None else seeds_text(run.get("seeds")),
                     max_seeds if max_seeds is not None else run.get("max_seeds"), sets, config)


ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", metavar="FILE", help="A study's TOML file: [run] atoms, preset, seeds; "
    "[params] and [params.ATOM] parameters; [probe] the grid of `probe`. Options given on the "
    "command line win.", show_default=False)]


def load_config(path: Path | None) -> StudyConfig | None:
    return None if path is None else load(path)
