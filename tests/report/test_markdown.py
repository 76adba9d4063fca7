"""`deepatoms report --markdown`: the README's catalog tables from a store's verdict runs, on
stdout, into a file, or spliced into a file between its marker lines."""
from __future__ import annotations

from typer.testing import CliRunner

from deepatoms import registry
from deepatoms.cli import app
from deepatoms.report.markdown import BEGIN, END, catalog_markdown, readme_statuses, verdict_cell

from .test_parts_display import ATOM, BN, _old_verdict_dict, _store, _verdict


def _run(verdict: dict, preset: str = "default") -> dict:
    return {"atom": ATOM, "preset": preset, "seeds": [0, 1, 2], "verdict": verdict,
            "created": "2026-12-07T12:00:00"}


def test_a_verdict_cell_gives_the_parts_the_headline_does_not():
    assert verdict_cell(_run(_verdict().to_dict())) == (
        f"reproduced (3)<br>{BN}: not reproduced")
    failed = verdict_cell(_run(_verdict(False).to_dict(), "quick"))
    assert failed.startswith(f"reproduced (quick, 3)<br>{BN}: inconclusive — control failed: ")
    assert verdict_cell(_run(_old_verdict_dict())) == "reproduced (3)"
    assert verdict_cell(None) == "not run"


def test_the_tables_have_a_row_per_catalog_atom_and_read_back():
    text = catalog_markdown({ATOM: _run(_verdict().to_dict())}, sources={ATOM: "10,000 layers"})
    assert text.startswith(f"{len(registry.all_atoms())} atoms: ")
    assert "### Family `architecture`" in text
    assert "| atom | verdict (seeds) | measured here | source |" in text
    row = next(line for line in text.splitlines() if line.startswith(f"| {ATOM} |"))
    assert row.endswith("| Fixup trains 1,000 blocks. | 10,000 layers |")
    statuses = readme_statuses(f"{BEGIN}\n{text}{END}\n")
    assert statuses[ATOM] == "reproduced" and set(statuses) == set(registry.all_atoms())
    assert statuses["parity"] == "not run"
    before = catalog_markdown({}, before={ATOM: _run(_old_verdict_dict())}, sources={})
    assert "| atom | verdict (seeds) | before | measured here | source |" in before
    assert f"| {ATOM} | not run | reproduced | — | — |" in before


def test_the_command_writes_stdout_a_file_or_between_the_markers(tmp_path):
    store = _store(tmp_path / "s", [_verdict().to_dict()])
    runner = CliRunner()
    out = runner.invoke(app, ["report", "--markdown", "--store", str(store.root)])
    assert out.exit_code == 0, out.output
    assert f"| {ATOM} | reproduced (2)<br>{BN}: not reproduced |" in out.output
    file = tmp_path / "verdicts.md"
    assert runner.invoke(app, ["report", "--markdown", "--store", str(store.root), "--out",
                               str(file)]).exit_code == 0
    assert file.read_text() == out.output
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nsee `{BEGIN}`\n{BEGIN}\nold table\n{END}\n\nrest\n")
    done = runner.invoke(app, ["report", "--markdown", "--store", str(store.root), "--update",
                               str(readme)])
    assert done.exit_code == 0, done.output
    text = readme.read_text()
    assert "old table" not in text and text.startswith(f"# title\n\nsee `{BEGIN}`\n{BEGIN}\n")
    assert text.endswith(f"{END}\n\nrest\n") and out.output.strip() in text
    bad = tmp_path / "plain.md"
    bad.write_text("no markers\n")
    refused = runner.invoke(app, ["report", "--markdown", "--store", str(store.root),
                                  "--update", str(bad)])
    assert refused.exit_code == 2 and "verdicts:begin" in refused.output
    assert bad.read_text() == "no markers\n"
    assert "--markdown" in runner.invoke(app, ["report", "--help"]).output
