"""Issue 19 (7): an atom's wall time and its FLOP bound are measured at the same torch threads —
the trials' own (1) — whatever this process's count is, and every row says which."""
from __future__ import annotations

import torch

from deepatoms.bench import families, flops
from deepatoms.bench.format import format_rows
from deepatoms.lab import NoProgress


def _recorded_matmul() -> flops.OpRecorder:
    recorder = flops.OpRecorder()
    a, b = torch.rand(8, 16), torch.rand(16, 4)
    with recorder:
        a @ b
    return recorder


def test_the_replay_runs_at_the_trials_threads_and_restores_the_count(monkeypatch):
    seen: list[int] = []
    real = flops.time_call
    monkeypatch.setattr(flops, "time_call", lambda call, device="cpu": (
        seen.append(torch.get_num_threads()), real(call, device))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # torch's default on the 2-core machine: what the replay used
    try:
        out = flops.bound(_recorded_matmul(), torch.Generator().manual_seed(0))
        assert seen == [1]  # before: 2, whatever count the process had
        assert flops.TRIAL_THREADS == 1 and out["bound_threads"] == 1
        assert torch.get_num_threads() == 2  # restored
        seen.clear()
        assert flops.bound(_recorded_matmul(), torch.Generator(), threads=2)["bound_threads"] == 2
        assert seen == [2]
    finally:
        torch.set_num_threads(before)


def test_time_atom_and_its_bound_state_the_same_threads(monkeypatch):
    """The timed run and the counting run both see the trials' threads inside the atom, and
    this process's count (2 here) is given back after each."""
    inside: list[int] = []
    import deepatoms.api as api
    real_run = api.run

    def spy(name, **kw):
        out = real_run(name, **kw)
        inside.append(torch.get_num_threads())
        return out

    monkeypatch.setattr(api, "run", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        row = families._one_atom("layer-convergence", True, "cpu", NoProgress(), True, None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert inside == [1, 1]
    assert row["wall_threads"] == row["bound_threads"] == 1 and row["bound_s"] > 0


def test_the_table_says_the_threads_of_wall_and_bound():
    atom = dict(wall_s=2.0, cpu_s=2.0, seeds=2, status="inconclusive", wall_threads=1,
                flops=1e12, bound_s=1.0, bound_threads=1, ratio=2.0, flops_per_s_on_shapes=1e12)
    fam = dict(total_s=2.0, cpu_s=2.0, load_before=0.1, atoms={"x": atom},
               **families.family_bound({"x": atom}))
    rows = dict(format_rows_families({"atoms": fam}))
    assert "1 thread" in rows["  x"] and "bound 1 s at 1 thread" in rows["  x"]
    assert rows["family threads"].startswith("wall timed at 1 thread per trial, FLOP bound "
                                             "replayed at 1 thread")
    assert "bound 1 s at 1 thread" in rows["family atoms"]


def test_a_family_keeps_the_bound_of_its_other_atoms_when_one_has_none():
    ok = dict(wall_s=2.0, flops=1e9, bound_s=0.5, wall_threads=1, bound_threads=1)
    broken = dict(wall_s=3.0, wall_threads=1, bound_error="RuntimeError: x")
    fam = families.family_bound({"a": ok, "b": broken})
    assert fam["bound_s"] == 0.5 and fam["bounded"] == 1 and fam["ratio"] == 4.0


def format_rows_families(fams):
    from deepatoms.bench import format as fmt
    return fmt._threads_rows(fams) + fmt._family_rows(fams)


def test_quick_gives_every_family_a_bound_at_the_trials_threads():
    """Each family's fastest atom (--quick): a bound for all five families, not only `atoms`."""
    from deepatoms import registry
    out = families.bench_families(registry.FAMILIES, True, "cpu", NoProgress())
    assert set(out) == set(registry.FAMILIES)
    for name, fam in out.items():
        assert fam["bound_s"] > 0 and fam["bounded"] == len(fam["atoms"]) == 1, name
        assert fam["wall_threads"] == fam["bound_threads"] == [1], name
