"""Which seeds a run uses: a count, a list, or `auto` (adaptive seeds, `SeedPlan`)."""
from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import DeepatomsError
from .validate import MAX_SEEDS, is_integer, show

if TYPE_CHECKING:
    from ..atom import Atom


def is_auto(seeds: object) -> bool:
    """`seeds="auto"` (`--seeds auto`): adaptive seeds."""
    return isinstance(seeds, str) and seeds.strip() == "auto"


SEED_LIMIT = 2**63  # seeds are 63-bit, as the derived generator seeds


def parse_seeds(seeds: int | str | Sequence[int] | None, default: int) -> tuple[int, ...]:
    """`5` → seeds 0..4; `"7,8,9"` or `[7, 8, 9]` → those seeds (distinct integers in
    [0, 2**63), at most MAX_SEEDS of them; NumPy integers are accepted, floats and bools not)."""
    if seeds is None:
        seeds = default
    if isinstance(seeds, str):
        seeds = _seeds_from_text(seeds)
    if is_integer(seeds):
        count = int(seeds)
        if not 1 <= count <= MAX_SEEDS:
            raise DeepatomsError(f"the number of seeds must be between 1 and {MAX_SEEDS:,}, "
                                 f"got {count}")
        return tuple(range(count))
    if isinstance(seeds, (bytes, dict, set, frozenset)) or not hasattr(seeds, "__iter__"):
        raise DeepatomsError(f"seeds must be a count (5) or a list of integers (7,8,9), got "
                             f"{show(seeds)}")
    out = tuple(_one_seed(s) for s in bounded(seeds, MAX_SEEDS, "seeds per run"))
    if not out:
        raise DeepatomsError("the list of seeds must not be empty")
    if len(set(out)) != len(out):
        raise DeepatomsError(f"seeds must be distinct, got {show(list(out))}")
    return out


def bounded(values: Iterable[Any], most: int, what: str) -> list[Any]:
    """The items of `values`, refused at once when there are more than `most` (a huge range or
    an endless iterator is never walked: at most `most` + 1 items are read)."""
    try:
        size = len(values)  # type: ignore[arg-type]
    except OverflowError:  # a length beyond sys.maxsize (range(10**20))
        raise DeepatomsError(f"at most {most:,} {what}, got more than 2**63") from None
    except TypeError:  # an iterator or generator: count while reading
        size = None
    if size is not None and size > most:
        raise DeepatomsError(f"at most {most:,} {what}, got {size:,}")
    items = list(itertools.islice(values, most + 1))
    if len(items) > most:
        raise DeepatomsError(f"at most {most:,} {what}, got more")
    return items


def _seeds_from_text(text: str) -> int | list[int]:
    text = text.strip()
    try:
        return int(text) if "," not in text else [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise DeepatomsError(f"--seeds must be a count (5), a list (7,8,9) or auto, got "
                             f"{show(text)}") from None


def _one_seed(value: object) -> int:
    if not is_integer(value):
        raise DeepatomsError(f"each seed must be an integer, got {show(value)}")
    seed = int(value)
    if not 0 <= seed < SEED_LIMIT:
        raise DeepatomsError(f"each seed must be in [0, 2**63), got {show(seed)}")
    return seed


@dataclasses.dataclass(frozen=True)
class SeedPlan:
    """Adaptive seeds: start with `start` seeds, add `step` at a time, at most `max_seeds`."""
    start: int
    max_seeds: int
    step: int
    first_seed: int = 0
    alpha: float = 0.05  # two-sided error rate over all looks together

    def __post_init__(self) -> None:
        if self.start < 2:
            raise DeepatomsError(f"--seeds auto needs at least 2 starting seeds, got {self.start}")
        if self.max_seeds < self.start:
            raise DeepatomsError(f"--max-seeds ({self.max_seeds}) must be at least the atom's "
                                 f"starting seeds ({self.start})")
        if self.step < 1:
            raise DeepatomsError(f"the seed batch must be >= 1, got {self.step}")

    def looks(self) -> tuple[int, ...]:
        """Seed counts at which the verdict is judged: start, start + step, ..., max_seeds."""
        counts = list(range(self.start, self.max_seeds, self.step)) + [self.max_seeds]
        return tuple(dict.fromkeys(counts))

    @property
    def level(self) -> float:
        return 1 - self.alpha / len(self.looks())


def seed_plan(atom: "Atom", max_seeds: int | None) -> SeedPlan:
    """`seeds="auto"`: start with the atom's default seeds, add as many again at each look, up
    to `max_seeds` (default: four times the atom's default)."""
    start = atom.default_seeds
    return SeedPlan(start, 4 * start if max_seeds is None else int(max_seeds), start)
