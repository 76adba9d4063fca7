"""A corpus of bad inputs, on the command line and through the Python API. Each one must end
as the README promises: one line on stderr (`error: ...`), exit code 2, no traceback, and
nothing written — a store that did not exist is not created, an existing one is byte-identical
(the Python API: a DeepatomsError of the right kind, with a one-line message).

The CLI runs in-process through the entry point (`cli_guard.main`); a few cases run the real
`python -m deepatoms` in a subprocess. Catalog-wide cases are generated from every atom's
parameters: every list parameter that must be distinct refuses a repeated value, every number
refuses inf and nan, every reference arm is required.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np

import pytest
import torch

import deepatoms
from deepatoms.catalog import registry
from deepatoms.cli.entry import main as cli_main
from deepatoms.errors import DeepatomsError, DeviceError, ParamError, StoreError, UnknownAtomError
from deepatoms.params import field_types
from deepatoms.store import DB_NAME, Store
from tests.data.mnist_files import MALFORMED, write_malformed, write_mnist

A = "parity"
STORE = "{store}"  # replaced by the test's store directory

# ---------------------------------------------------------------- hand-written CLI cases

RUN_CASES = [
    # seeds
    ["--seeds", "99999999999999999999"], ["--seeds", "0,99999999999999999999"],
    ["--seeds", "10000000"], ["--seeds", "10001"], ["--seeds", "0"], ["--seeds", "-1"],
    ["--seeds", "-5,3"], ["--seeds", "1.5"], ["--seeds", "2.0"], ["--seeds", "abc"],
    ["--seeds", "1,1"], ["--seeds", "3,2,3"], ["--seeds", ","], ["--seeds", " "], ["--seeds", ""],
    ["--seeds", "1e3"], ["--seeds", "0x10"], ["--seeds", "nan"], ["--seeds", "inf"],
    ["--seeds", "1;2"], ["--seeds", "0,9223372036854775808"], ["--seeds", "autos"],
    ["--seeds", "true"], ["--seeds", "[1,2]"], ["--seeds", "1-3"],
    ["--seeds", "auto", "--max-seeds", "3"], ["--seeds", "auto", "--max-seeds", "1"],
    ["--seeds", "auto", "--max-seeds", "100000"], ["--seeds", "auto", "--max-seeds", "x"],
    ["--max-seeds", "20"], ["--seeds", "5", "--max-seeds", "20"],
    ["--seeds-per-batch", "0"], ["--seeds-per-batch", "-1"], ["--seeds-per-batch", "x"],
    ["--seeds-per-batch", "1.5"],
    # parameters
    ["--set", "lr=inf"], ["--set", "lr=-inf"], ["--set", "lr=nan"], ["--set", "lr=1e400"],
    ["--set", "lr=abc"], ["--set", "lr="], ["--set", "lr=0"], ["--set", "lr=-0.1"],
    ["--set", "=5"], ["--set", "lr"], ["--set", "steps=1.5"], ["--set", "steps=-1"],
    ["--set", "steps=0"], ["--set", "steps=x"], ["--set", "steps=99999999999999999999999"],
    ["--set", "steps=true"], ["--set", "bogus=1"], ["--set", "Steps=10"],
    ["--set", "dims=5,5"], ["--set", "dims="], ["--set", "dims=,"], ["--set", "dims=a,b"],
    ["--set", "dims=5.5"], ["--set", "dims=0"], ["--set", "dims=1000"],
    ["--set", "steps=50", "--set", "steps=60"], ["--set", "subset_size=-1"],
    ["--set", "batch_size=0"], ["--set", "eval_every=0"], ["--set", "hidden_factor=1000"],
    # presets, devices, selection, options
    ["--preset", "nosuch"], ["--preset", ""], ["--preset", "Quick"], ["--preset", "quik"],
    ["--device", "tpu"], ["--device", ""], ["--device", "cuda:x"], ["--device", "cpu:0:1"],
    ["--all"], ["--family", "atoms"], ["--bogus"], ["-z"], ["--json=maybe"],
    ["--force=yes"], ["--dry-run", "--seeds", "x"], ["--dry-run", "--set", "lr=inf"],
]
if not torch.cuda.is_available():
    RUN_CASES += [["--device", "cuda"], ["--device", "cuda:0"], ["--device", "cuda:99"]]

OTHER_CASES = [
    ["run", "nosuch-atom", "--store", STORE], ["run", "--store", STORE],
    ["run", "--family", "nosuch", "--store", STORE], ["run", "--all", "--family", "atoms", "--store", STORE],
    ["run", A, "--store", ""], ["run", A, "--store="], ["run", A, "--store", "   "],
    ["run", "end-to-end-portfolio", "--preset", "quick", "--set", "d=100000", "--set", "ks=100000",
     "--store", STORE],
    ["run", "end-to-end-portfolio", "--set", "d=100000", "--set", "ks=10,100000", "--store", STORE],
    ["run", "end-to-end-portfolio", "--set", "d=0", "--store", STORE],
    ["run", "class-imbalance", "--set", "ratios=1,1,10", "--store", STORE],
    ["run", "depth-separation", "--set", "depths=1,1,2", "--store", STORE],
    ["run", "universal-approximation", "--set", "functions=sin,sin", "--store", STORE],
    ["run", "universal-approximation", "--set", "functions=sin,cos", "--store", STORE],
    ["run", "activation-functions", "--set", "noise=inf", "--store", STORE],
    ["run", "more-data", "--set", "covariance_scale=inf", "--store", STORE],
    ["run", "more-data", "--set", "covariance_scale=nan", "--store", STORE],
    ["probe", A, "--vary", "steps", "--store", STORE], ["probe", A, "--vary", "=1,2", "--store", STORE],
    ["probe", A, "--vary", "nosuch=1,2", "--store", STORE], ["probe", A, "--vary", "steps=", "--store", STORE],
    ["probe", A, "--vary", "steps=1,1", "--store", STORE], ["probe", A, "--vary", "steps=abc", "--store", STORE],
    ["probe", A, "--vary", "steps=10", "--store", STORE], ["probe", A, "--vary", "lr=inf,1", "--store", STORE],
    ["probe", A, "--vary", "steps=100,200", "--seeds", "x", "--store", STORE],
    ["probe", A, "--vary", "steps=100,200", "--device", "tpu", "--store", STORE],
    ["probe", A, "--vary", "steps=100,200", "--preset", "nosuch", "--store", STORE],
    ["probe", A, "--vary", "steps=100,200", "--set", "lr=nan", "--store", STORE],
    ["probe", "nosuch", "--vary", "steps=1,2", "--store", STORE], ["probe", A, "--store", STORE],
    ["probe", A, "--vary", "steps=1,2", "--store", ""],
    ["show", "nosuch"], ["show"], ["show", A, "extra"], ["show", A, "--bogus"],
    ["list", "--format", "xml"], ["list", "--family", "nosuch"], ["list", "--bogus"],
    ["nosuch-command"], ["--bogus"], ["run", A, "--seeds"], ["run", A, "--set"],
    ["report", "--bogus"], ["report", "--store", ""], ["report", "--out", "", "--store", STORE],
    ["export", "--store", STORE], ["export", "out.txt", "--store", STORE],
    ["export", "/nonexistent-dir/out.csv", "--store", STORE],
    ["history", "--store", STORE], ["diff", "1", "--store", STORE],
    # run ids: whole numbers from 1 to 2**63 - 1, in ASCII digits
    ["diff", "²", "1", "--store", STORE], ["diff", "1", "²", "--store", STORE],
    ["diff", "99999999999999999999", "1", "--store", STORE],
    ["diff", "1", "9223372036854775808", "--store", STORE], ["diff", "0", "1", "--store", STORE],
    ["diff", "-1", "1", "--store", STORE], ["diff", "1.5", "1", "--store", STORE],
    ["diff", "١", "1", "--store", STORE], ["diff", "#", "1", "--store", STORE],
    ["diff", "1e3", "1", "--store", STORE], ["diff", " ", "1", "--store", STORE],
    ["history", "", "--store", STORE],
    ["bench", "--device", "tpu"], ["bench", "--family", "nosuch", "--quick"],
]

CLI_CASES = [["run", A, *c, "--store", STORE] for c in RUN_CASES] + OTHER_CASES


# ---------------------------------------------------------------- catalog-wide CLI cases

def _text(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def catalog_cases() -> list[tuple[str, str, str]]:
    """(atom, key, value) for every atom: repeated list values, inf/nan numbers, missing
    reference arms."""
    out = []
    for atom in registry.all_atoms().values():
        types, defaults = field_types(atom.Params), atom.Params()
        for f in dataclasses.fields(atom.Params):
            tp, default, meta = types[f.name], getattr(defaults, f.name), f.metadata
            inner = typing.get_args(tp)[0] if typing.get_origin(tp) is tuple else tp
            if isinstance(default, tuple) and default and meta.get("distinct", True):
                out.append((atom.name, f.name, _text((default[0], *default))))
            if inner is float and meta.get("finite", True):
                base = default if isinstance(default, tuple) else (default,)
                for bad in ("inf", "-inf", "nan"):
                    out.append((atom.name, f.name, _text((bad, *base[1:]))))
            for arm in meta.get("requires", ()):
                rest = tuple(v for v in default if v != arm)
                if rest:
                    out.append((atom.name, f.name, _text(rest)))
    return out


CATALOG = catalog_cases()


# ---------------------------------------------------------------- the checks

def _files(root: Path) -> dict[str, str]:
    """Name → digest of every file under `root` (SQLite's -shm/-wal sidecars left out)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(("-shm", "-wal"))}


@pytest.fixture(params=["fresh", "existing"])
def store(request, tmp_path) -> Path:
    root = tmp_path / "runs"
    if request.param == "existing":
        Store(root).close()
    return root


def _cli(args: list[str], root: Path, capsys, monkeypatch) -> str:
    monkeypatch.delenv("DEEPATOMS_STORE", raising=False)
    monkeypatch.chdir(root.parent)
    before, existed = _files(root), root.exists()
    code = cli_main([a.replace(STORE, str(root)) for a in args])
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert code == 2, (args, out.err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, out.err[-2000:])
    assert "Traceback" not in out.err + out.out
    assert root.exists() == existed and _files(root) == before, args
    assert sorted(os.listdir(root.parent)) == sorted(["runs"] if existed else []), args
    return lines[0]


@pytest.mark.parametrize("args", CLI_CASES, ids=[" ".join(c)[:70] for c in CLI_CASES])
def test_cli_bad_input(args, store, capsys, monkeypatch):
    _cli(args, store, capsys, monkeypatch)


@pytest.mark.parametrize("atom, key, value", CATALOG, ids=[f"{a} {k}={v}"[:70] for a, k, v in CATALOG])
def test_catalog_bad_parameter(atom, key, value, tmp_path, capsys, monkeypatch):
    root = tmp_path / "runs"
    Store(root).close()
    line = _cli(["run", atom, "--set", f"{key}={value}", "--store", STORE], root, capsys, monkeypatch)
    assert f"'{key}'" in line  # names the field


def test_corpus_is_large_enough():
    assert len(CLI_CASES) + len(CATALOG) + len(API_CASES) >= 200


def test_every_list_parameter_refuses_repeats_unless_it_says_so():
    """Only layer widths (and other lists whose values may repeat) opt out of `distinct`."""
    for atom in registry.all_atoms().values():
        for f in dataclasses.fields(atom.Params):
            if not f.metadata.get("distinct", True):
                widths = ("hidden", "encoder", "decoder", "widths", "channels")
                assert any(w in f.name for w in widths), (atom.name, f.name)


# ---------------------------------------------------------------- Python API

API_CASES = [
    (dict(seeds=2.5), DeepatomsError), (dict(seeds=[1.9, 2.7]), DeepatomsError),
    (dict(seeds=[1, 1]), DeepatomsError), (dict(seeds=[]), DeepatomsError),
    (dict(seeds=-1), DeepatomsError), (dict(seeds=0), DeepatomsError),
    (dict(seeds=10_000_001), DeepatomsError), (dict(seeds=range(20_000)), DeepatomsError),
    (dict(seeds=[2**63]), DeepatomsError), (dict(seeds=[-1, 2]), DeepatomsError),
    (dict(seeds=True), DeepatomsError), (dict(seeds=[True, False]), DeepatomsError),
    (dict(seeds={1: 2}), DeepatomsError), (dict(seeds={1, 2}), DeepatomsError),
    (dict(seeds=b"12"), DeepatomsError), (dict(seeds="x"), DeepatomsError),
    (dict(seeds=np.array([1.5])), DeepatomsError), (dict(seeds=np.int64(-3)), DeepatomsError),
    (dict(seeds=[np.uint64(2**63)]), DeepatomsError), (dict(seeds=object()), DeepatomsError),
    (dict(seeds=float("nan")), DeepatomsError), (dict(seeds=[None]), DeepatomsError),
    (dict(device=None), DeviceError), (dict(device=0), DeviceError), (dict(device="tpu"), DeviceError),
    (dict(device=""), DeviceError), (dict(device="cuda:x"), DeviceError),
    (dict(seeds_per_batch=-1), DeepatomsError), (dict(seeds_per_batch=0), DeepatomsError),
    (dict(seeds_per_batch=1.5), DeepatomsError), (dict(seeds_per_batch="2"), DeepatomsError),
    (dict(max_seeds=20), DeepatomsError), (dict(seeds="auto", max_seeds=1), DeepatomsError),
    (dict(seeds="auto", max_seeds=10**6), DeepatomsError), (dict(seeds="auto", max_seeds=2.5), DeepatomsError),
    (dict(store=123), StoreError), (dict(store=b"dir"), StoreError), (dict(store=""), StoreError),
    (dict(store=" "), StoreError), (dict(store=["a"]), StoreError),
    (dict(force="yes"), DeepatomsError), (dict(force=1), DeepatomsError),
    (dict(progress=1), DeepatomsError), (dict(progress="bar"), DeepatomsError),
    (dict(preset=None), DeepatomsError), (dict(preset="nosuch"), ParamError), (dict(preset=""), DeepatomsError),
    (dict(name=None), DeepatomsError), (dict(name="nosuch"), UnknownAtomError), (dict(name=5), DeepatomsError),
    (dict(lr=float("inf")), ParamError), (dict(lr=float("nan")), ParamError), (dict(lr="inf"), ParamError),
    (dict(lr=None), ParamError), (dict(lr=[0.1]), ParamError), (dict(steps=2.5), ParamError),
    (dict(steps=True), ParamError), (dict(steps=2**70), ParamError), (dict(steps=np.float64(3.5)), ParamError),
    (dict(dims=(5, 5)), ParamError), (dict(dims=[]), ParamError), (dict(dims=np.array([5, 5])), ParamError),
    (dict(dims=5), ParamError), (dict(bogus=1), ParamError),
]


def _case_id(kwargs: dict) -> str:
    """A test id that is the same in every pytest-xdist worker (no memory addresses)."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(kwargs))[:60]


@pytest.mark.parametrize("kwargs, error", API_CASES, ids=[_case_id(k) for k, _ in API_CASES])
def test_api_bad_argument(kwargs, error, tmp_path):
    root = tmp_path / "runs"
    Store(root).close()
    before = _files(root)
    kwargs = {"name": A, "preset": "quick", "store": root, **kwargs}
    with pytest.raises(error) as info:
        deepatoms.run(**kwargs)
    message = str(info.value)
    assert message and "\n" not in message
    assert _files(root) == before


def test_api_probe_bad_arguments(tmp_path):
    root = tmp_path / "runs"
    for kwargs in (dict(vary={}), dict(vary={"steps": 5}), dict(vary={"steps": [1, 2]}, device=None),
                   dict(vary={"a": [1], "b": [2]}), dict(vary={"steps": [1, 2]}, store=123)):
        with pytest.raises(DeepatomsError):
            deepatoms.probe(A, **kwargs)
    assert not root.exists()


@pytest.mark.parametrize("call", [
    lambda root: deepatoms.diff("²", 1, store=root), lambda root: deepatoms.diff(1, 10**20, store=root),
    lambda root: deepatoms.diff(True, 1, store=root), lambda root: deepatoms.diff(1, 1.0, store=root),
    lambda root: deepatoms.diff(None, 1, store=root), lambda root: deepatoms.diff(-1, 1, store=root),
    lambda root: deepatoms.history(5, store=root), lambda root: deepatoms.history("", store=root),
    lambda root: deepatoms.history(None, store=root), lambda root: deepatoms.history("x", store=5),
], ids=["superscript", "huge", "bool", "float", "none", "negative", "name-int", "name-empty",
        "name-none", "store-int"])
def test_api_history_and_diff_bad_arguments(call, tmp_path):
    """Run ids are validated like seeds, names like run's: one DeepatomsError line, nothing
    written (the store is only read)."""
    root = tmp_path / "runs"
    Store(root).close()
    before = _files(root)
    with pytest.raises(DeepatomsError) as info:
        call(root)
    assert str(info.value) and "\n" not in str(info.value)
    assert _files(root) == before


def test_numpy_integer_seeds_are_accepted():
    from deepatoms.execution.seeds import parse_seeds
    assert parse_seeds(np.int64(3), 5) == (0, 1, 2)
    assert parse_seeds(np.arange(2, 5), 5) == (2, 3, 4)
    assert parse_seeds([np.uint32(7), 2**63 - 1], 5) == (7, 2**63 - 1)


# ---------------------------------------------------------------- the real entry point

@pytest.mark.parametrize("args", [["run", A, "--bogus"], ["run", A, "--store", ""],
                                  ["run", A, "--seeds", "99999999999999999999"], ["nosuch"]])
def test_entry_point_one_line(args, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(deepatoms.__file__).parents[1])}
    env.pop("DEEPATOMS_STORE", None)
    proc = subprocess.run([sys.executable, "-m", "deepatoms", *args], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: ")
    assert os.listdir(tmp_path) == []


def test_the_maximum_seed_count_fits_one_store_query(tmp_path):
    """MAX_SEEDS seeds are looked up in one query (no "too many SQL variables")."""
    from deepatoms.execution.seeds import MAX_SEEDS, parse_seeds
    st = Store(tmp_path / "runs")
    assert st.load_trials(A, "{}", "v", parse_seeds(MAX_SEEDS, 5)) == {}
    with pytest.raises(DeepatomsError, match="10,000"):
        parse_seeds(MAX_SEEDS + 1, 5)


# ---------------------------------------------------------------- local data files

DATA_ATOM = "random-labels"  # its paper preset reads MNIST


@pytest.mark.parametrize("case", sorted(MALFORMED) + ["absent dir", "empty dir", "no dir"])
def test_bad_mnist_files_are_one_line_before_the_store(case, store, tmp_path_factory, capsys,
                                                       monkeypatch):
    """Every missing or malformed MNIST set: one line, exit 2, the store not opened (before
    the fix: three lines and a verdict table, or a traceback, after the store was created)."""
    folder = tmp_path_factory.mktemp("mnist")
    expected = {"absent dir": "does not exist", "empty dir": "--data-dir needs a directory",
                "no dir": "pass --data-dir DIR"}.get(case) or write_malformed(folder, case)
    flag = {"absent dir": ["--data-dir", str(folder / "absent")], "empty dir": ["--data-dir", ""],
            "no dir": []}.get(case, ["--data-dir", str(folder)])
    monkeypatch.setenv("DEEPATOMS_DATA", "")
    monkeypatch.delenv("DEEPATOMS_DATA")
    line = _cli(["run", DATA_ATOM, "--preset", "paper", *flag, "--store", STORE], store, capsys,
                monkeypatch)
    assert expected in line, line


def test_a_valid_mnist_set_passes_the_check_and_is_what_atoms_read(tmp_path, monkeypatch):
    from deepatoms.data.images import image_data
    from deepatoms.execution.validate import check_data_files
    monkeypatch.setenv("DEEPATOMS_DATA", "")
    check_data_files([_paper_plan()], str(write_mnist(tmp_path / "mnist")))
    assert os.environ["DEEPATOMS_DATA"] == str(tmp_path / "mnist")
    data = image_data("mnist")
    assert data.x_train.shape == (3, 784) and data.x_test.shape == (2, 784)


def _paper_plan():
    from deepatoms.cli.run import plan_runs
    return plan_runs([registry.get(DATA_ATOM)], "paper", "2", {}, fallback=False)[0][0]
