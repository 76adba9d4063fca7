"""--precision bf16 (oneDNN's bf16 math for float32 matmuls) and `deepatoms precision-check`."""
from __future__ import annotations

import pathlib

import pytest
import torch
from typer.testing import CliRunner

import deepatoms
from deepatoms.cli import app
from deepatoms.errors import DeepatomsError
from deepatoms.execution.precision import STORE_DTYPE, check_precision, math_mode, precision_of
from deepatoms.studies.precision_check import verdict_changes

BF16_CPU = "avx512_bf16" in pathlib.Path("/proc/cpuinfo").read_text() if \
    pathlib.Path("/proc/cpuinfo").exists() else False


def test_math_mode_sets_and_restores_onednn_precision():
    cpu = torch.device("cpu")
    before = torch.backends.mkldnn.matmul.fp32_precision
    with math_mode("fp32", cpu):
        assert torch.backends.mkldnn.matmul.fp32_precision == before
    with pytest.raises(RuntimeError):
        with math_mode("bf16", cpu):
            assert torch.backends.mkldnn.matmul.fp32_precision == "bf16"
            assert torch.backends.mkldnn.conv.fp32_precision == "bf16"
            raise RuntimeError("restored even after an error")
    assert torch.backends.mkldnn.matmul.fp32_precision == before


def test_bf16_math_keeps_float32_tensors_and_stays_close():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 512, generator=gen), torch.randn(512, 128, generator=gen)
    ref = x @ y
    with math_mode("bf16", torch.device("cpu")):
        low = x @ y
    assert low.dtype == torch.float32 and low.shape == ref.shape
    rel = float((low - ref).abs().max() / ref.abs().max())
    assert rel < 1e-2
    if BF16_CPU:
        assert rel > 0  # the mode is in effect where the CPU has bf16 instructions


def test_precision_names_and_store_dtypes():
    assert check_precision("bf16") == "bf16"
    with pytest.raises(DeepatomsError, match="unknown precision 'fp16'; allowed: fp32, bf16"):
        check_precision("fp16")
    assert precision_of(STORE_DTYPE["bf16"]) == "bf16" and precision_of("float32") == "fp32"
    assert precision_of("float64") == "fp32"


def test_bf16_trials_are_stored_apart_from_fp32(tmp_path):
    kw = dict(seeds=[0], device="cpu", store=tmp_path)
    low = deepatoms.run("implicit-regularization", "quick", precision="bf16", **kw)
    ref = deepatoms.run("implicit-regularization", "quick", **kw)
    assert ref.cached_seeds == () and low.cached_seeds == ()  # fp32 did not reuse the bf16 trial
    again = deepatoms.run("implicit-regularization", "quick", precision="bf16", **kw)
    assert again.cached_seeds == (0,)
    dtypes = set(deepatoms.history("implicit-regularization", store=tmp_path).dtype)
    assert dtypes == {"float32", STORE_DTYPE["bf16"]}


def test_verdict_changes_compares_status_and_indication():
    same = {"status": "inconclusive", "indicative": "reproduced"}
    other = {"status": "inconclusive", "indicative": "not reproduced"}
    rows = verdict_changes([("a", same, dict(same)), ("b", same, other)])
    assert [r["changed"] for r in rows] == [False, True]
    assert rows[1]["bf16"] == "inconclusive (not reproduced)"


def test_cli_precision_option_and_check(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["run", "parity", "--precision", "fp16", "--store", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown precision 'fp16'" in bad.output
    assert not (tmp_path / "deepatoms.sqlite").exists()
    out = runner.invoke(app, ["precision-check", "implicit-regularization", "--preset", "quick",
                              "--seeds", "1", "--store", str(tmp_path), "--json"])
    assert out.exit_code in (0, 1), out.output
    import json
    rows = json.loads(out.stdout[out.stdout.index("["):])
    assert [r["atom"] for r in rows] == ["implicit-regularization"] and rows[0]["error"] is None
    assert (out.exit_code == 1) == rows[0]["changed"]


def test_cli_refuses_bf16_on_cuda_before_opening_the_store(tmp_path, monkeypatch):
    """bf16 math is oneDNN's (CPU): a CUDA device is refused once, before the store exists."""
    import deepatoms.lab as lab
    monkeypatch.setattr(lab, "resolve_device", lambda device: torch.device("cuda", 0))
    store = tmp_path / "s"
    out = CliRunner().invoke(app, ["run", "parity", "--preset", "quick", "--precision", "bf16",
                                   "--device", "cuda", "--store", str(store)])
    assert out.exit_code == 2, out.output
    assert "CPU-only" in out.output and "Traceback" not in out.output
    assert not store.exists()
