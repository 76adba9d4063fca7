"""Common checks, run over every atom in the catalog (a new atom gets them for free)."""
import random

import numpy as np
import pandas as pd
import pytest
import torch

import deepatoms
from deepatoms import registry
from deepatoms.errors import ParamError
from deepatoms.store import Store
from deepatoms.verdict import STATUSES

ATOMS = sorted(registry.all_atoms())
# CATALOG.md's table of families and atoms (the design's list; the catalog must equal it)
CATALOG = {
    "atoms": "universal-approximation depth-separation more-data class-imbalance "
             "memorization-capacity pca-preprocessing activation-functions batch-size "
             "loss-functions initialization layer-convergence weight-regularization "
             "batch-size-learning-rate batch-normalization transfer-learning",
    "failures": "parity linear-periodic end-to-end-images end-to-end-portfolio pwl-conditioning "
                "pwl-autoencoder flat-activations",
    "generalization": "random-labels implicit-regularization loss-interpolation optimizer-minima "
                      "sharp-minima distillation pretraining catastrophic-forgetting "
                      "forgetting-events test-set-reuse dataset-bias",
    "robustness": "adversarial-examples fooling-images saliency-fragility",
    "architecture": "fixup lightweight-convolution tensor-calculus-hessians learned-optimizer "
                    "architecture-search random-weights",
}


# One vocabulary for the same idea (docs/writing-an-atom.md, "Parameter names"): a synonym
# on the left is never a parameter name; the name on the right has the type beside it.
SYNONYMS = {"hidden_units": "hidden", "hidden_sizes": "hidden", "n_hidden": "hidden",
            "batch": "batch_size", "minibatch": "batch_size", "bs": "batch_size",
            "n_steps": "steps", "num_steps": "steps", "iterations": "steps",
            "n_epochs": "epochs", "num_epochs": "epochs",
            "learning_rate": "lr", "n_seeds": "seeds"}
VOCABULARY = {"steps": (int,), "epochs": (int,), "batch_size": (int,), "lr": (float,),
              "hidden": (tuple, int)}


@pytest.mark.parametrize("name", ATOMS)
def test_parameter_names_follow_the_common_vocabulary(name):
    import dataclasses
    atom = registry.get(name)
    fields = {f.name: f for f in dataclasses.fields(atom.Params)}
    wrong = {k: SYNONYMS[k] for k in fields if k in SYNONYMS}
    assert not wrong, f"{name}: rename {wrong} (the common vocabulary)"
    default = atom.params()
    for key, types in VOCABULARY.items():
        if key in fields:
            value = getattr(default, key)
            assert isinstance(value, types) and not isinstance(value, bool), (name, key, value)
            if isinstance(value, tuple):
                assert all(isinstance(v, int) for v in value), (name, key, value)


def test_the_cli_help_example_runs_a_family_with_steps():
    """`deepatoms run --family failures --set steps=2000` (the --help example) plans: every
    failures atom with `steps` gets 2000, the others are named in a note."""
    from deepatoms.cli.run import plan_runs
    atoms = registry.family("failures")
    plans, notes = plan_runs(atoms, "default", "1", {"steps": "2000"}, fallback=True)
    having = [p for p in plans if "steps" in p.params.to_dict()]
    assert having and all(p.params.steps == 2000 for p in having)
    lacking = sorted(p.atom.name for p in plans if p not in having)
    assert (notes == []) == (lacking == [])
    assert all(n in notes[0] for n in lacking)


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Each atom's quick preset with seeds 0 and 1, stored; computed once per atom."""
    cache: dict = {}

    def get(name):
        if name not in cache:
            store = Store(tmp_path_factory.mktemp(name))
            cache[name] = (deepatoms.run(name, preset="quick", seeds=2, device="cpu", store=store), store)
        return cache[name]
    return get


def test_catalog_is_not_empty():
    assert len(ATOMS) >= 1


@pytest.mark.parametrize("name", ATOMS)
def test_metadata_and_presets(name):
    atom = registry.get(name)
    default = atom.params()
    for preset in atom.preset_names:
        assert isinstance(atom.params(preset), atom.Params)
    assert atom.params("quick") != default, "quick must override something"


@pytest.mark.parametrize("name", ATOMS)
def test_unknown_and_mistyped_parameters_rejected(name):
    atom = registry.get(name)
    with pytest.raises(ParamError, match="unknown parameter"):
        atom.params(no_such_parameter=1)
    first = next(iter(atom.Params.__dataclass_fields__))
    with pytest.raises(ParamError):
        atom.params(**{first: object()})


@pytest.mark.parametrize("name", ATOMS)
def test_quick_run_table_verdict_and_figures(name, quick_runs):
    outcome, _ = quick_runs(name)
    table = outcome.table
    assert {"seed", "metric", "value"} <= set(table.columns)
    assert sorted(table.seed.unique()) == [0, 1]
    assert len(table) > 0
    assert outcome.verdict.status in STATUSES
    assert outcome.verdict.finding.strip()
    assert len(outcome.verdict.evidence) >= 1
    figs = outcome.figures()
    assert figs
    for fig in figs.values():
        assert fig.axes
        assert any(ax.lines or ax.collections or ax.images or ax.patches for ax in fig.axes)


def _curves(ax):
    """The axes' data lines: reference lines (constant x or constant y: axhline, axvline,
    a target level) left out."""
    import numpy as np
    out = []
    for line in ax.get_lines():
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        if len(x) > 1 and np.ptp(x) > 0 and np.ptp(y) > 0:
            out.append(line)
    return out


@pytest.mark.parametrize("name", ATOMS)
def test_figures_say_what_their_colours_are(name, quick_runs):
    """A panel whose data lines have two or more colours has them named in a legend of its
    figure (each labelled line's label, or at least one legend when none is labelled)."""
    for key, fig in quick_runs(name)[0].figures().items():
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
        texts = {t.get_text() for lg in legends for t in lg.get_texts()}
        for i, ax in enumerate(fig.axes):
            curves = _curves(ax)
            if len({str(c.get_color()) for c in curves}) < 2:
                continue
            labels = {c.get_label() for c in curves if not c.get_label().startswith("_")}
            assert labels <= texts and (labels or texts), (key, i, ax.get_title(), labels - texts)


def _artists(fig):
    return sum(len(ax.lines) + len(ax.collections) + len(ax.images) + len(ax.patches)
               for ax in fig.axes)


@pytest.mark.parametrize("name", ATOMS)
def test_figures_draw_on_given_axes(name, quick_runs):
    """`figures(table, axes=...)` draws each named figure onto the caller's axes, the same
    artists as on its own Figure, and returns the caller's figures."""
    from matplotlib.figure import Figure
    from deepatoms.figures import figure_grid
    outcome, _ = quick_runs(name)
    own = outcome.figures()
    given = {key: Figure().subplots(*figure_grid(fig), squeeze=False) for key, fig in own.items()}
    drawn = outcome.figures(axes=given)
    assert set(drawn) == set(own)
    for key, fig in drawn.items():
        grid = list(given[key].flat)
        assert fig is grid[0].figure and fig is not own[key]
        assert all(ax.has_data() or ax.images for ax in grid if ax.get_visible())
        assert _artists(fig) == _artists(own[key]) > 0, key


def _untimed(name, table):
    """The table without its wall-clock rows (`Atom.timing_metrics`), which no rerun repeats."""
    timed = table.metric.isin(registry.get(name).timing_metrics)
    return table[~timed].reset_index(drop=True)


@pytest.mark.parametrize("name", ATOMS)
def test_same_seed_same_table_different_seed_different_values(name, quick_runs):
    outcome, _ = quick_runs(name)
    again = deepatoms.run(name, preset="quick", seeds=2, device="cpu")
    pd.testing.assert_frame_equal(_untimed(name, outcome.table), _untimed(name, again.table))
    t = _untimed(name, outcome.table)
    a = t[t.seed == 0].reset_index(drop=True)
    b = t[t.seed == 1].reset_index(drop=True)
    assert len(a) == len(b) and not np.allclose(a.value.to_numpy(float), b.value.to_numpy(float),
                                                equal_nan=True)


# Atoms whose seeds may differ alone and in a batch by float reassociation only, with the
# largest |difference| allowed and why. Empty: every atom's quick table is bitwise the same.
ALONE_VS_BATCH_TOLERANCE: dict[str, float] = {}


@pytest.mark.parametrize("name", ATOMS)
def test_a_seed_alone_equals_the_seed_in_a_batch(name, quick_runs):
    """A seed's rows must not depend on the seeds trained with it: seeds 0 and 1 as one
    population (quick_runs) and each seed alone (seeds_per_batch=1) give the same table."""
    together = quick_runs(name)[0].table
    alone = deepatoms.run(name, preset="quick", seeds=2, device="cpu", seeds_per_batch=1).table
    tolerance = ALONE_VS_BATCH_TOLERANCE.get(name, 0.0)
    pd.testing.assert_frame_equal(_untimed(name, alone), _untimed(name, together),
                                  check_exact=tolerance == 0.0, rtol=0.0, atol=tolerance)


@pytest.mark.parametrize("name", ATOMS)
def test_global_rng_untouched(name):
    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    deepatoms.run(name, preset="quick", seeds=[3], device="cpu")
    assert torch.equal(torch_state, torch.get_rng_state())
    after = np.random.get_state()
    assert np_state[0] == after[0] and np.array_equal(np_state[1], after[1])
    assert py_state == random.getstate()


@pytest.mark.parametrize("name", ATOMS)
def test_store_round_trip_and_cache(name, quick_runs):
    outcome, store = quick_runs(name)
    cached = deepatoms.run(name, preset="quick", seeds=2, device="cpu", store=store)
    assert cached.cached_seeds == (0, 1) and cached.computed_s == 0.0
    pd.testing.assert_frame_equal(outcome.table, cached.table)
    assert cached.verdict == outcome.verdict
    run = store.latest_runs()[name]
    pd.testing.assert_frame_equal(store.run_table(run), outcome.rows)


@pytest.mark.parametrize("name", ATOMS)
def test_figure_data_is_not_needed_by_the_judge(name, quick_runs):
    """`figure_metrics` rows (Outcome.figure_data) are only drawn: the judge decides the same
    from the measurements (Outcome.table) alone, and the two together are every row."""
    atom = registry.get(name)
    outcome, _ = quick_runs(name)
    assert set(outcome.figure_data.metric) <= set(atom.figure_metrics)
    assert not set(outcome.table.metric) & set(atom.figure_metrics)
    assert len(outcome.table) + len(outcome.figure_data) == len(outcome.rows)
    assert atom.judge(outcome.table).to_dict() == atom.judge(outcome.rows).to_dict()


@pytest.mark.parametrize("name", ATOMS)
def test_declared_columns_are_the_tables_extra_columns(name, quick_runs):
    """Every column beside seed/step/metric/value is declared: a swept setting or an index."""
    atom = registry.get(name)
    outcome, _ = quick_runs(name)
    extra = set(outcome.table.columns) - {"seed", "step", "metric", "value"}
    assert extra == set(atom.settings) | set(atom.index_columns), (
        f"{name}: declare settings/index_columns for {sorted(extra)}")


@pytest.mark.parametrize("name", ATOMS)
def test_judge_emits_evidence_for_every_setting_in_its_table(name, quick_runs):
    """Judges cover what was run: every value of every swept setting has an evidence row."""
    from deepatoms.verdict import covered_settings, setting_value
    atom = registry.get(name)
    outcome, _ = quick_runs(name)
    covered = covered_settings(outcome.verdict.evidence)
    for column in atom.settings:
        values = {setting_value(v) for v in outcome.table[column].dropna().unique()}
        got = covered.get(column, set())
        assert "*" in got or values <= got, f"{name}: no evidence row for {column} = {sorted(values - got)}"


@pytest.mark.parametrize("name", ATOMS)
def test_quick_runs_are_reduced_and_never_refute(name, quick_runs):
    outcome, _ = quick_runs(name)
    v = outcome.verdict
    assert v.scale == "reduced" and v.scale_reasons
    assert v.status != "not reproduced" and v.label.startswith("indicative")


@pytest.mark.parametrize("name", ATOMS)
def test_timing_metrics_are_measured_and_not_everything(name, quick_runs):
    """Declared timing metrics are in the table, and some measurement is not a timing (the
    same-seed and alone-vs-batch checks still compare something)."""
    timing = set(registry.get(name).timing_metrics)
    metrics = set(quick_runs(name)[0].table.metric)
    assert timing <= metrics and metrics - timing


def test_the_catalog_is_catalog_md_s_42_atoms():
    found = {f: sorted(a.name for a in registry.family(f)) for f in registry.FAMILIES}
    assert found == {f: sorted(names.split()) for f, names in CATALOG.items()}
    assert sum(len(v) for v in found.values()) == 42


def test_a_family_module_without_atom_is_an_error(tmp_path, monkeypatch):
    family = tmp_path / "fake_family"
    family.mkdir()
    (family / "__init__.py").write_text("")
    (family / "_helper.py").write_text("VALUE = 1\n")  # helpers start with '_': not atoms
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.family_atoms("fake_family", "atoms") == []
    (family / "forgot_its_atom.py").write_text("VALUE = 2\n")
    with pytest.raises(TypeError, match="fake_family.forgot_its_atom defines no ATOM"):
        registry.family_atoms("fake_family", "atoms")


# Atoms whose judge declares no positive control yet (issue 16 §1.4: every atom that can say
# `not reproduced` declares one). A ratchet: it only shrinks; an atom that gains a control
# must leave it. Engineers are adding controls to these families in parallel.
WITHOUT_CONTROL: set[str] = set()   # every atom declares a control now


@pytest.mark.parametrize("name", ATOMS)
def test_every_atom_declares_a_positive_control(name, quick_runs):
    """Issue 16 §1.4: the verdict has at least one control row, except the atoms listed in
    WITHOUT_CONTROL (and a listed atom that has one must leave the list)."""
    controls = quick_runs(name)[0].verdict.controls
    if name in WITHOUT_CONTROL:
        assert not controls, f"{name} now declares a control: remove it from WITHOUT_CONTROL"
    else:
        assert controls, f"{name}: declare a positive control (control=True) or list it"


@pytest.mark.parametrize("name", ATOMS)
def test_a_failed_control_never_yields_not_reproduced(name, quick_runs):
    """Each part's status is what judge_parts gives from the verdict's rows, and no part guarded
    by a control that does not hold is `not reproduced` (the quick preset's reduced scale keeps
    the parts as measured)."""
    from deepatoms.verdict import CENTRAL, judge_parts
    v = quick_runs(name)[0].verdict
    assert v.parts and v.parts[0].name == CENTRAL
    assert v.parts == judge_parts(list(v.evidence))
    for part in v.parts:
        failed = [e for e in v.controls if e.part in (part.name, "*") and e.supports is not True]
        if failed:
            assert part.status == "inconclusive" and part.reason.startswith("control failed")
