"""What the report's sentences say: figure captions, the catalog estimate's seeds, probe dates,
which evidence row leaves a verdict undecided, and one-line findings in tables."""
from __future__ import annotations

import json

import pandas as pd

from deepatoms import registry
from deepatoms.figures import new_figure
from deepatoms.report.build import build_report
from deepatoms.report.captions import figure_caption
from deepatoms.report.context import one_line, runtime_rows
from deepatoms.store import Store
from deepatoms.verdict import Evidence, Verdict

ATOM = "depth-separation"


def test_a_caption_is_a_sentence_from_the_figure():
    fig, ax = new_figure()
    ax.plot([1, 2], [3, 4], label="SGD")
    ax.plot([1, 2], [3, 5], label="Adam")
    ax.set(xlabel="width", ylabel="test accuracy", title="accuracy by width")
    ax.legend()
    assert figure_caption("accuracy-vs-width", fig, 2) == (
        "Figure 2. Accuracy vs width — accuracy by width: test accuracy against width "
        "(SGD, Adam).")
    fig, axes = new_figure(1, 2)
    for i, a in enumerate(axes):
        a.set(xlabel="x", ylabel="score", title=f"L = {i + 1}")
    assert figure_caption("scores", fig, 1) == ("Figure 1. Scores, 2 panels (L = 1; L = 2): "
                                                "score against x.")
    bare, _ = new_figure()
    assert figure_caption("maps", bare, 3) == ("Figure 3. Maps, drawn from the run's stored "
                                               "measurements.")


def test_the_estimate_label_names_the_atoms_own_default_seeds():
    atom = registry.get(ATOM)
    assert atom.default_seeds != 5
    rows = dict(runtime_rows({"seeds": [0], "computed_s": 1.0}, atom))
    assert f"catalog estimate (default preset, {atom.default_seeds} seeds)" in rows


def test_a_finding_in_a_table_is_its_first_sentence_capped():
    long = ("Mean accuracy 0.84 at 1:1 and 0.50 at 1:100 (original .82 to .50). With "
            "oversampling 0.79 at 1:100; the Bayes ceilings average 0.86.")
    assert one_line(long) == "Mean accuracy 0.84 at 1:1 and 0.50 at 1:100 (original .82 to .50)."
    words = " ".join(["word"] * 80)
    short = one_line(words)
    assert len(short) <= 160 and short.endswith("…") and "  " not in short


def _store(root) -> Store:
    store = Store(root)
    canonical = json.dumps({"x": 1})
    tables = {s: pd.DataFrame({"seed": [s], "metric": ["m"], "value": [0.5]}) for s in (0, 1)}
    store.save_trials(ATOM, canonical, "v1", tables, 1.0, "cpu", threads=1)
    verdict = Verdict("inconclusive", "Mean training accuracy 61 / 72 / 75 % over 10 seeds. "
                      + "More text. " * 30,
                      (Evidence("training accuracy vs depth L", 0.47, -0.02, 0.97, 10, "Page's L",
                                "increases with L", None, setting="depth=*"),
                       Evidence("final accuracy", 0.9, 0.8, 1.0, 10, "t", "> 0.5", True)))
    store.save_run(dict(atom=ATOM, preset="default", params=canonical, code_version="v1",
                        device="cpu", seeds=[0, 1], verdict=verdict.to_dict(), wall_s=2.0,
                        computed_s=2.0, env={"device": "cpu"}, command="deepatoms run x"))
    store.save_probe(ATOM, "steps", "quick", {"metric": "m", "points": [
        {"value": "10", "label": "reproduced", "estimate": 0.5, "ci_low": 0.1, "ci_high": 0.9,
         "n": 2, "finding": "f"}]})
    return store


def test_an_inconclusive_banner_names_the_undecided_row_and_dates_read_plainly(tmp_path):
    build_report(_store(tmp_path / "s"), tmp_path / "site")
    page = (tmp_path / "site" / "atoms" / f"{ATOM}.html").read_text()
    banner = page[page.index('class="verdict '):page.index("</section>")]
    assert "Undecided:</strong> training accuracy vs depth L (depth=*)" in banner
    assert "final accuracy" not in banner  # a row that supports is not named
    probe = page[page.index("latest probe"):]
    assert " UTC;" in probe and "+00:00" not in probe  # 2026-12-07 12:00 UTC, not raw ISO
    index = (tmp_path / "site" / "index.html").read_text()
    assert "More text. More text." not in index and "More text. More text." in page
