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
