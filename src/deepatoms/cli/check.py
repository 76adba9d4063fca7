"""`deepatoms check --expect FILE`: claims in CI. Run the atoms of an expectations file (one
`atom: verdict` per line) and exit 1 when a verdict differs (0 when all match, 2 on bad input);
`--junit-xml FILE` writes each claim as a JUnit test case, which any CI shows."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from .. import registry
from ..errors import DeepatomsError
from ..store import DEFAULT_DIR
from ..verdict import STATUSES
from .app import Command, StoreOpt, app, open_store, parse_sets, stderr, stdout
from .config import ConfigOpt, choose, load_config

LINE = re.compile(r"""^\s*([A-Za-z0-9_.-]+)\s*:\s*(?:"([^"]*)"|'([^']*)'|([^#]*?))\s*(#.*)?$""")


def read_expectations(path: Path) -> dict[str, str]:
    """`atom: verdict` per line (YAML's simple mapping; `#` comments, quotes allowed)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeepatomsError(f"cannot read the expectations file '{path}' ({exc})") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = LINE.match(line)
        if m is None:
            raise DeepatomsError(f"{path}:{n}: expected `atom: verdict`, got {line.strip()!r}")
        atom, verdict = m.group(1), next(g for g in m.groups()[1:4] if g is not None).strip()
        registry.get(atom)  # unknown atom: the usual one line with a suggestion
        if verdict not in STATUSES:
            raise DeepatomsError(f"{path}:{n}: verdict of {atom} must be one of "
                                 f"{', '.join(STATUSES)}; got {verdict!r}")
        if atom in out:
            raise DeepatomsError(f"{path}:{n}: {atom} is expected twice; give each atom once")
        out[atom] = verdict
    if not out:
        raise DeepatomsError(f"the expectations file '{path}' names no atom (`atom: verdict`)")
    return out


def observed(result: Any) -> tuple[str | None, str]:
    """(the status compared, how to say it): at reduced scale the measured status it leans to."""
    if result.outcome is None:
        return None, f"failed: {result.error}"
    v = result.outcome.verdict
    if v.scale == "reduced":
        leaning = v.indicative or v.status
        return leaning, f"{leaning} (indicative, reduced scale)"
    return v.status, v.status


def _said(verdict: Any) -> str:
    """The finding, then one line per claim part where the parts say more than the headline."""
    from ..report.parts import part_lines
    return "\n".join([verdict.finding, *part_lines(verdict)])


def junit_xml(results: list[Any], expected: dict[str, str], seconds: dict[str, float]) -> bytes:
    suite = ET.Element("testsuite", name="deepatoms claims", tests=str(len(results)))
    failures = errors = 0
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"deepatoms.{r.family}", name=r.name,
                             time=f"{seconds.get(r.name, 0.0):.3f}")
        got, said = observed(r)
        if got is None:
            errors += 1
            ET.SubElement(case, "error", message=said[:500]).text = said
        elif got != expected[r.name]:
            failures += 1
            message = f"expected {expected[r.name]}, got {said}"
            ET.SubElement(case, "failure", message=message).text = \
                f"{message}\n{_said(r.outcome.verdict)}"
        if r.outcome is not None:
            ET.SubElement(case, "system-out").text = _said(r.outcome.verdict)
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def claims_table(results: list[Any], expected: dict[str, str]) -> Table:
    from ..report.parts import part_lines
    table = Table(title="claims", title_justify="left")
    for col in ("atom", "expected", "observed", ""):
        table.add_column(col)
    for r in results:
        got, said = observed(r)
        ok = got == expected[r.name]
        parts = part_lines(r.outcome.verdict) if r.outcome is not None else []
        table.add_row(r.name, expected[r.name], Text("\n".join([said, *parts])),
                      Text("ok" if ok else "FAIL", style="bold green" if ok else "bold red"))
    return table


@app.command(cls=Command)
def check(
    expect: Annotated[Path, typer.Option(
        "--expect", metavar="FILE", help="Expectations: one `atom: verdict` per line (YAML; "
        "verdict: reproduced, not reproduced or inconclusive).", show_default=False)],
    config: ConfigOpt = None,
    preset: Annotated[Optional[str], typer.Option(
        "--preset", "-p", help="Preset of every atom (default: the config's, else default). At "
        "reduced scale (quick) the verdict compared is the one the run leans to.",
        show_default=False)] = None,
    seeds: Annotated[Optional[str], typer.Option(
        "--seeds", "-s", help="A count, a list, or auto (default: the config's, else each "
        "atom's).", show_default=False)] = None,
    sets: Annotated[Optional[list[str]], typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a parameter, as for `run`.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, or cuda[:N].")] = "auto",
    store: StoreOpt = Path(DEFAULT_DIR),
    junit: Annotated[Optional[Path], typer.Option(
        "--junit-xml", metavar="FILE", help="Write a JUnit XML report: one test case per claim.",
        show_default=False)] = None,
) -> None:
    """Claims in CI: run the atoms of an expectations file and compare their verdicts. Exit 0
    when every verdict matches, 1 when one differs (or an atom fails), 2 on bad input."""
    from .run import check_resources, plan_runs, run_plans
    from ..lab import resolve_device
    expected = read_expectations(expect)
    chosen = choose(load_config(config), list(expected), None, False, preset, seeds, None,
                    parse_sets(sets))
    plans, notes = plan_runs([registry.get(n) for n in expected], chosen.preset, chosen.seeds,
                             chosen.sets_for(list(expected)), fallback=True,
                             max_seeds=chosen.max_seeds)
    resolve_device(device)
    check_resources(plans, device, None)
    if junit is not None and (junit.is_dir() or not junit.parent.is_dir()):
        raise DeepatomsError(f"--junit-xml {junit}: not a file in an existing directory")
    st = open_store(store, create=True)
    for note in notes:
        stderr().print(f"note: {note}", soft_wrap=True, highlight=False, markup=False)
    results = run_plans(plans, st, device, False, None, {})
    seconds = {r.name: r.outcome.wall_s for r in results if r.outcome is not None}
    stdout().print(claims_table(results, expected))
    if junit is not None:
        junit.write_bytes(junit_xml(results, expected, seconds))
        stdout().print(f"JUnit XML: {junit}", soft_wrap=True, highlight=False, markup=False)
    wrong = [r.name for r in results if observed(r)[0] != expected[r.name]]
    stdout().print(f"{len(results) - len(wrong)} of {len(results)} claims hold"
                   + (f"; differ: {', '.join(wrong)}" if wrong else ""),
                   soft_wrap=True, highlight=False, markup=False)
    if wrong:
        raise typer.Exit(1)
