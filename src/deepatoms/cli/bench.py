"""`deepatoms bench`: the benchmark's ratios, measured in one run (bench/)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import registry
from ..errors import DeepatomsError
from .app import Command, JsonOpt, app, import_optional, print_json, stderr, stdout



@app.command(cls=Command)
def bench(
    json_out: JsonOpt = False,
    quick: Annotated[bool, typer.Option(
        "--quick", help="A few-second smoke version of every measurement.")] = False,
    device: Annotated[str, typer.Option(
        "--device", help="Where the family timings run: cpu, auto or cuda. The population vs "
        "one-by-one comparison always runs on the CPU, and also on the GPU when CUDA is "
        "available.")] = "cpu",
    family: Annotated[Optional[list[str]], typer.Option(
        "--family", help="Time this family (repeatable; default: every family).")] = None,
    atom: Annotated[Optional[list[str]], typer.Option(
        "--atom", help="Time only this atom (repeatable).")] = None,
    no_flops: Annotated[bool, typer.Option(
        "--no-flops", help="Skip the FLOP-counting pass (halves the family time).")] = False,
    no_load: Annotated[bool, typer.Option(
        "--no-load", help="Skip the under-load measurement.")] = False,
    catalog: Annotated[bool, typer.Option(
        "--catalog", help="Instead: the FLOP bound of every atom's standing run in --store "
        "(counted again, nothing timed) against `make run`'s wall.")] = False,
    store: Annotated[Optional[Path], typer.Option(
        "--store", envvar="DEEPATOMS_STORE", help="With --catalog: the results directory of a "
        "`make run` (default: the usual store).")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", help="With --catalog: worker processes counting the atoms, 1 torch thread "
        "each; also the W of the bound on W workers.")] = 2,
    wall_s: Annotated[Optional[float], typer.Option(
        "--wall-s", help="With --catalog: `make run`'s wall time in seconds (default: the span "
        "of the store's runs).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="With --catalog: the JSON file written after every atom, read again to "
        "resume (default: bench-catalog.json in the store).")] = None,
) -> None:
    """Measure speed: population vs one-by-one training, each family's wall time, FLOPs and
    FLOP bound, the slow-down beside busy processes, and 1 vs 2 worker processes.

    Wall times depend on whatever else the machine is doing; the result records the load average
    and says when the machine was busy.
    """
    from .render import RichProgress, pairs_table
    from ..lab import resolve_device
    if catalog:
        if quick or family or atom:
            raise DeepatomsError("--catalog reads every atom's run from --store: --quick, "
                                 "--family and --atom do not go with it")
        return _catalog(store, workers, wall_s, out, json_out)
    resolve_device(device)
    bench_mod = import_optional("deepatoms.bench", "the benchmark")
    with RichProgress(stderr()) as bar:
        bar.atom = "bench"
        result = bench_mod.run_bench(
            quick=quick, device=device, progress=bar, only=atom or None, flops=not no_flops,
            load=not no_load, families=tuple(family or registry.FAMILIES))
    if json_out:
        print_json(result)
        return
    fmt = getattr(bench_mod, "format_rows", None)
    rows = fmt(result) if callable(fmt) else [(k, str(v)) for k, v in result.items()]
    stdout().print(pairs_table("deepatoms bench" + (" (quick)" if quick else ""), rows))


def _catalog(store: Optional[Path], workers: int, wall_s: Optional[float], out: Optional[Path],
             json_out: bool) -> None:
    """`bench --catalog`: the counting pass with a progress bar, then its table."""
    from .render import RichProgress, pairs_table
    from ..bench.catalog import run_catalog
    from ..bench.catalog_format import catalog_rows
    from ..store.database import default_location
    with RichProgress(stderr()) as bar:
        result = run_catalog(store or default_location(), workers=workers, wall_s=wall_s,
                             out=out, progress=bar, note=bar.line)
    if json_out:
        print_json(result)
        return
    stdout().print(pairs_table("deepatoms bench --catalog", catalog_rows(result)))
