"""Smoke test of `deepatoms bench --quick`: every measurement present, positive, serialisable."""
from __future__ import annotations

import json
import math

import torch

from deepatoms.bench import QUICK, format_rows, run_bench, step_flops


def _positive(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


def test_quick_bench_result_keys_and_values():
    calls: list[str] = []

    class Recorder:
        def begin(self, description: str, total: int) -> None:
            calls.append(description)

        def advance(self, n: int) -> None:
            pass

        def end(self) -> None:
            pass

    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    result = run_bench(quick=True, progress=Recorder(), families=("atoms", "failures"),
                       only=("universal-approximation",))
    assert torch.equal(state, torch.random.get_rng_state())  # no draw from the global RNG
    keys = {"quick", "machine", "config", "cpu", "cuda", "families", "total_s", "notes"}
    assert keys <= set(result)
    pop, flops = result["cpu"]["population"], result["cpu"]["flops"]
    for key in ("population_s", "one_by_one_s", "one_by_one_measured_s", "speedup"):
        assert _positive(pop[key]), key
    assert pop["models"] == QUICK.models and pop["extrapolated"] is True
    assert 0 <= pop["max_abs_diff"] < 1e-4
    for key in ("achieved_flops_per_s", "peak_flops_per_s", "fraction_of_peak"):
        assert _positive(flops[key]), key
    assert flops["step_flops"] == step_flops(QUICK) == 3 * 2 * 8 * 16 * (12 * 16 + 16 * 16 + 16 * 2)
    assert (result["cuda"] is None) == (not torch.cuda.is_available())
    atoms = result["families"]["atoms"]
    assert set(atoms["atoms"]) == {"universal-approximation"}
    ua = atoms["atoms"]["universal-approximation"]
    assert _positive(ua["wall_s"]) and ua["seeds"] == 2 and "error" not in ua
    assert "skipped" in result["families"]["failures"]
    assert any("one by one" in c for c in calls) and any("population" in c for c in calls)
    json.dumps(result, allow_nan=False)
    rows = format_rows(result)
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in rows)
    assert any(k == "[cpu] speed-up" for k, _ in rows)
    tiny = result["atom_scale"]["cpu"]["population"]
    assert _positive(tiny["speedup"]) and tiny["sizes"] == [2, 8, 8, 2]
    # one peak per device, shared by both population cases
    assert result["atom_scale"]["cpu"]["flops"]["peak_flops_per_s"] == flops["peak_flops_per_s"]
    assert any(k == "[cpu, atom scale] speed-up" for k, _ in rows)


def test_quick_bench_flop_bound_load_and_workers_fields():
    result = run_bench(quick=True, families=("atoms",), only=("universal-approximation",))
    fam = result["families"]["atoms"]
    ua = fam["atoms"]["universal-approximation"]
    for key in ("flops", "bound_s", "ratio", "cpu_s", "flops_per_s_on_shapes"):
        assert _positive(ua[key]), key
    assert ua["layouts_timed"] >= 1 and ua["op_calls"] >= ua["layouts"] >= ua["layouts_timed"]
    assert fam["bound_s"] == ua["bound_s"] and fam["ratio"] == fam["total_s"] / fam["bound_s"]
    cases = result["under_load"]["cases"]
    assert [c["threads"] for c in cases] == [1, 2]
    assert all(_positive(c["slowdown"]) and c["slowdown"] == c["loaded_s"] / c["idle_s"]
               for c in cases)
    assert "skipped" in result["workers"] or _positive(result["workers"]["ratio"])
    labels = [k for k, _ in format_rows(result)]
    assert "under load, 1 thread" in labels and "  universal-approximation" in labels


def test_recorder_counts_exact_matmul_flops_and_bound_is_positive():
    from deepatoms.bench.flops import count_and_bound
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(4, 32, 16, generator=gen, requires_grad=True)
    b = torch.rand(4, 16, 8, generator=gen)

    def work():
        for _ in range(3):
            (a @ b).sum().backward()   # forward bmm + one backward bmm (b needs no grad)

    out = count_and_bound(work, gen)
    assert out["flops"] == 3 * 2 * (2 * 4 * 32 * 16 * 8)
    assert out["op_calls"] == 6 and out["layouts"] == 2 == out["layouts_timed"]
    assert _positive(out["bound_s"]) and out["bound_s"] < 1.0


def test_under_load_reports_both_thread_counts():
    from deepatoms.bench.load import busy_processes, under_load
    with busy_processes(1) as procs:
        assert all(p.poll() is None for p in procs)   # spinning
    assert all(p.poll() is not None for p in procs)  # and stopped afterwards
    out = under_load(lambda: sum(range(20000)), busy=1, threads=(1,))
    assert out["busy_processes"] == 1 and len(out["cases"]) == 1


def test_bench_refuses_unknown_names_before_running():
    import pytest
    from deepatoms.errors import DeepatomsError
    with pytest.raises(DeepatomsError, match="unknown family 'nope'"):
        run_bench(quick=True, families=("nope",))
    with pytest.raises(DeepatomsError, match="unknown atom 'nope'"):
        run_bench(quick=True, only=("nope",))


def test_bench_reports_the_symbolic_hessian_speedup_per_function():
    from deepatoms.atoms.architecture import tensor_calculus_hessians as tc
    from deepatoms.bench.core import bench_tensor_calculus
    from deepatoms.bench.format import _tensor_calculus_rows
    from deepatoms.lab import NoProgress
    out = bench_tensor_calculus(quick=True, device="cpu", progress=NoProgress())
    p = tc.ATOM.params("quick")
    assert out["n"] == max(p.sizes) and set(out["speedup"]) == set(p.functions)
    assert all(_positive(r) for r in out["speedup"].values())
    (label, text), = _tensor_calculus_rows(out)
    assert f"n = {out['n']}" in label and all(f in text for f in p.functions)


def test_the_busy_note_ignores_the_load_of_the_benchs_own_workers():
    from deepatoms.bench.core import _notes
    from deepatoms.bench.population import QUICK
    cores = 2
    base = dict(cpu=dict(population=dict(one_by_one_models_timed=QUICK.models)),
                machine=dict(cpu_count=cores), load_at_start=0.3, load_at_end=2.0)
    quiet = _notes(QUICK, dict(base, load_before_workers=0.4))
    assert not any("busy" in n for n in quiet)  # 2.0 at the end came from (e)'s workers
    loud = _notes(QUICK, dict(base, load_before_workers=1.6))
    assert any("load average 1.6" in n for n in loud)
    assert any("busy" in n for n in _notes(QUICK, base))  # no (e) reading: the end counts
