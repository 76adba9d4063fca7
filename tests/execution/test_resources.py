"""resources.py: memory and time estimated from the parameters; a run that cannot fit is
refused before anything is written, a run over an hour is warned about, and an out-of-memory
error inside a run is one clean line for that atom."""
from __future__ import annotations

import warnings

import pytest

import deepatoms
from deepatoms import registry
from deepatoms.execution import resources
from deepatoms.errors import DeepatomsError
from deepatoms.execution.resources import ResourceError, SlowRunWarning


def test_every_preset_of_every_atom_fits_and_is_estimated():
    """No shipped configuration is refused: each estimate is below 8 GiB."""
    for atom in registry.all_atoms().values():
        for preset in atom.preset_names:
            est = resources.estimate(atom, atom.params(preset), atom.default_seeds)
            assert 0 < est.memory_bytes < 8 * 2**30, (atom.name, preset, est)
            assert est.seconds > 0 and est.basis


def test_portfolio_estimate_counts_the_stacked_weights():
    atom = registry.get("end-to-end-portfolio")
    small = resources.estimate(atom, atom.params("default"), 3)
    big = resources.estimate(atom, atom.params("default", d=100_000, ks=(10, 100_000)), 3)
    # (2·3, 100000, 100000) float32: 240 GB before gradients and optimiser state
    assert big.memory_bytes > 2.4e11 > small.memory_bytes
    assert resources.estimate(atom, atom.params("default"), 6).memory_bytes > small.memory_bytes


def test_mlp_bytes_closed_form():
    # (3+1)·4 + (4+1)·2 = 26 weights, ×16 bytes, ×2 models
    assert resources.mlp_bytes((3, 4, 2), 2) == 26 * 16 * 2


def test_refused_above_memory_before_anything_is_written(tmp_path):
    atom = registry.get("end-to-end-portfolio")
    with pytest.raises(ResourceError, match="memory"):
        resources.check(atom, atom.params("quick", d=100_000, ks=(10, 100_000)), 3, "cpu")
    with pytest.raises(ResourceError, match="GiB"):
        deepatoms.run("end-to-end-portfolio", preset="quick", store=tmp_path / "runs",
                      d=100_000, ks=(10, 100_000))
    assert not (tmp_path / "runs").exists()


def test_seeds_per_batch_is_what_must_fit(monkeypatch):
    atom = registry.get("end-to-end-portfolio")
    params = atom.params("quick", d=20_000, ks=(10, 20_000))
    one = resources.estimate(atom, params, 1).memory_bytes
    monkeypatch.setattr(resources, "available_bytes", lambda device="cpu": one * 1.5)
    with pytest.raises(ResourceError, match="--seeds-per-batch"):
        resources.check(atom, params, 3, "cpu")
    resources.check(atom, params, 3, "cpu", seeds_per_batch=1)


def test_warns_above_an_hour():
    atom = registry.get("parity")
    with pytest.warns(SlowRunWarning, match="estimated to take"):
        resources.check(atom, atom.params("default", steps=20_000_000), 6, "cpu", warn=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resources.check(atom, atom.params("quick"), 2, "cpu", warn=True)


def test_available_memory_is_positive():
    assert resources.available_bytes("cpu") > 2**28


@pytest.mark.parametrize("exc", [MemoryError(), RuntimeError("CUDA out of memory. Tried to ..."),
                                 RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: "
                                              "can't allocate memory: you tried to allocate 4 bytes")])
def test_out_of_memory_becomes_one_line(exc):
    with pytest.raises(ResourceError) as info:
        with resources.out_of_memory_as_error("some-atom"):
            raise exc
    assert "some-atom ran out of memory" in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, DeepatomsError)


def test_other_errors_pass_through():
    with pytest.raises(ValueError):
        with resources.out_of_memory_as_error("x"):
            raise ValueError("a bug")


def test_out_of_memory_in_a_run_is_a_clean_atom_failure(tmp_path, monkeypatch, capsys):
    """The CLI reports the atom's failure on one line and goes on (exit 2, no traceback)."""
    from deepatoms import lab
    from deepatoms.cli.entry import main

    def boom(*args, **kwargs):  # the allocation failing as training starts
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1e12 bytes")

    monkeypatch.setattr(lab, "Lab", boom)  # trials.run_trial builds the Lab of each trial
    code = main(["run", "parity", "--preset", "quick", "--seeds", "1", "--store", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "parity ran out of memory" in err
