"""`deepatoms bench`: the benchmark's ratios, measured in one run (bench/)."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import registry
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
) -> None:
    """Measure speed: population vs one-by-one training, each family's wall time, FLOPs and
    FLOP bound, the slow-down beside busy processes, and 1 vs 2 worker processes.

    Wall times depend on whatever else the machine is doing; the result records the load average
    and says when the machine was busy.
    """
    from .render import RichProgress, pairs_table
    from ..lab import resolve_device
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
