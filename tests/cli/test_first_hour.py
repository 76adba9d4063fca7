"""A newcomer's first hour (issue 8): light commands without torch, `python -m deepatoms`, `-h`,
shell completion, `--dry-run`, progress lines off a terminal, help texts, `list` at 80 columns
and as TSV/JSON, "did you mean" for presets, the run footer's --store, figures that leave the
user's matplotlib backend alone, and `make run` writing the report after a failed or
interrupted run.

Runs use universal-approximation (quick preset, 1 seed, 50 steps) so the file stays fast.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from deepatoms.registry.index import summaries
from deepatoms.cli import app
from deepatoms.cli.render import RichProgress
from deepatoms.execution.estimates import RunClock
from deepatoms.store import DB_NAME

ROOT = Path(__file__).resolve().parents[2]
ATOM = "universal-approximation"
FAST = ["--preset", "quick", "--seeds", "1", "--set", "steps=50"]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80", **extra}
    env.pop("DEEPATOMS_STORE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def _python(code: str, *args: str, cwd: Path | None = None, **env: str
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=_env(**env), cwd=cwd, timeout=300)


def _cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepatoms", *args], capture_output=True,
                          text=True, env=_env(**env), cwd=cwd, timeout=300)


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner(env={"DEEPATOMS_STORE": None, "COLUMNS": "80"})


# ---------------------------------------------------------------- light commands, no torch

# Runs the CLI in this fresh interpreter, then reports which heavy modules it imported.
MODULES_AFTER = textwrap.dedent("""
    import json, runpy, sys
    sys.argv = ["deepatoms", *sys.argv[1:]]
    code = 0
    try:
        runpy.run_module("deepatoms", run_name="__main__")
    except SystemExit as exc:
        code = exc.code or 0
    heavy = [m for m in ("torch", "numpy", "pandas", "matplotlib", "scipy") if m in sys.modules]
    sys.stderr.write("\\nMODULES " + json.dumps({"code": code, "heavy": heavy}) + "\\n")
""")


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"], ["list"],
                                  ["list", "--format", "tsv"], ["list", "--format", "json"],
                                  ["run", "--help"], ["report", "--help"], ["serve", "--help"]])
def test_light_commands_do_not_import_torch(args, tmp_path):
    done = _python(MODULES_AFTER, *args, cwd=tmp_path)
    found = json.loads(done.stderr.rsplit("MODULES ", 1)[1])
    assert found["code"] == 0, done.stdout + done.stderr
    # torch (seconds) and pandas (about 1 s): neither is needed to print help or the catalog
    assert not {"torch", "pandas"} & set(found["heavy"]), \
        f"deepatoms {' '.join(args)} imported {found['heavy']}"
    assert done.stdout.strip()


def test_list_from_a_store_does_not_import_torch(tmp_path):
    assert _cli("run", ATOM, *FAST, "--store", str(tmp_path), "--json").returncode == 0
    done = _python(MODULES_AFTER, "list", "--store", str(tmp_path))
    found = json.loads(done.stderr.rsplit("MODULES ", 1)[1])
    assert found["code"] == 0 and "torch" not in found["heavy"], done.stderr
    assert "indicative" in done.stdout  # the stored verdict is shown


def test_light_index_matches_the_registry():
    from deepatoms import registry
    atoms = registry.all_atoms()
    assert [s.name for s in summaries()] == list(atoms)
    for s in summaries():
        atom = atoms[s.name]
        assert (s.family, s.title, s.runtime_s, s.default_seeds, s.preset_names) == (
            atom.family, atom.title, atom.runtime_s, atom.default_seeds, atom.preset_names)


# ---------------------------------------------------------------- entry points, completion

def test_python_m_deepatoms_and_short_help():
    for args in (["-h"], ["--help"], []):
        done = _cli(*args)
        assert "Usage: deepatoms" in done.stdout, done.stderr
        assert all(c in done.stdout for c in ("list", "run", "report", "--version"))
    assert _cli("-h").returncode == 0
    assert _cli("run", "-h").returncode == 0
    version = _cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("deepatoms ")


@pytest.mark.parametrize("words, expected", [("deepatoms ru", "run"),
                                             ("deepatoms run --dry", "--dry-run"),
                                             ("deepatoms list --for", "--format")])
def test_shell_completion(words, expected):
    done = _cli(_DEEPATOMS_COMPLETE="complete_bash", COMP_WORDS=words,
                COMP_CWORD=str(len(words.split()) - 1))
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout.split()


def test_completion_script_is_offered(cli):
    help_text = cli.invoke(app, ["--help"]).stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text


# ---------------------------------------------------------------- --dry-run

def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def test_dry_run_prints_the_plan_and_writes_nothing(cli, tmp_path):
    store = tmp_path / "runs"
    result = cli.invoke(app, ["run", ATOM, *FAST, "--store", str(store), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert not store.exists()  # not even created
    out = " ".join(result.stdout.split())
    assert ATOM in out and "steps=50" in out and "Nothing was run" in out
    assert "1 of 1 seed(s) to compute, 0 cached" in out
    rows = json.loads(cli.invoke(app, ["run", ATOM, *FAST, "--store", str(store), "--dry-run",
                                       "--json"]).stdout)
    assert rows[0]["to_compute"] == 1 and rows[0]["cached_seeds"] == [] and rows[0]["seeds"] == [0]
    assert rows[0]["changed"]["steps"] == 50 and rows[0]["estimate_s"] > 0


def test_dry_run_sees_cached_seeds_and_leaves_the_store_untouched(cli, tmp_path):
    store = tmp_path / "runs"
    assert cli.invoke(app, ["run", ATOM, *FAST, "--store", str(store)]).exit_code == 0
    before = _tree(store)
    # `run` closed its connection on exit: the WAL was checkpointed then, so nothing a later
    # reader does (or a garbage collection) can change these files
    assert "deepatoms.sqlite-wal" not in before and "deepatoms.sqlite-shm" not in before
    plan = ["run", ATOM, "--preset", "quick", "--seeds", "3", "--set", "steps=50",
            "--store", str(store), "--dry-run", "--json"]
    rows = json.loads(cli.invoke(app, plan).stdout)
    assert rows[0]["cached_seeds"] == [0] and rows[0]["to_compute"] == 2
    forced = json.loads(cli.invoke(app, [*plan, "--force"]).stdout)
    assert forced[0]["cached_seeds"] == [] and forced[0]["to_compute"] == 3
    after = _tree(store)
    # a read-only SQLite reader may leave an empty WAL and its shared-memory index behind;
    # nothing is written: the database file is as it was and the WAL holds no frames
    assert after.pop("deepatoms.sqlite-wal", (0, 0))[0] == 0
    after.pop("deepatoms.sqlite-shm", None)
    assert after == before


def test_dry_run_table_fits_80_columns():
    import io
    from deepatoms.cli.render import dry_run_table
    rows = [dict(atom="universal-approximation", preset="default", changed={},
                 seeds=list(range(20)), auto=True, cached_seeds=[], to_compute=20, estimate_s=21.0),
            dict(atom="batch-size-learning-rate", preset="original-code",
                 changed={"steps": 900, "hidden": (100, 100, 100)},
                 seeds=[3, 17, 42, 99, 123, 456, 789, 1000, 12345, 99999], auto=False,
                 cached_seeds=[3], to_compute=9, estimate_s=3600.0)]
    buf = io.StringIO()
    Console(file=buf, width=80).print(dry_run_table(rows))
    text = buf.getvalue()
    assert max(map(len, text.splitlines())) <= 80 and "…" not in text
    flat = "".join(ch for ch in text if ch.isalnum() or ch in "=,.-–()")
    for shown in ("universal-approximation", "auto", "60.0min", "original-code", "steps=900",
                  "3,17,42", "99999", "21s"):
        assert shown in flat, shown


def test_dry_run_refuses_bad_input_like_run(cli, tmp_path):
    result = cli.invoke(app, ["run", ATOM, "--preset", "quik", "--dry-run",
                              "--store", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "did you mean quick" in result.output and not (tmp_path / "s").exists()


# ---------------------------------------------------------------- progress off a terminal

def test_progress_lines_off_a_terminal(tmp_path):
    """stderr is a pipe here: no bars, a line per atom at start and end, with elapsed and left."""
    done = _cli("run", ATOM, "layer-convergence", *FAST, "--store", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith(f"[1/2] running {ATOM} (preset quick, seeds 0") and "estimate" in lines[0]
    assert lines[1].startswith(f"[1/2] {ATOM}: ") and "elapsed" in lines[1] and "left" in lines[1]
    assert lines[2].startswith("[2/2] running layer-convergence")
    assert lines[3].startswith("[2/2] layer-convergence: ") and "elapsed" in lines[3]
    assert "\x1b[" not in done.stderr and "━" not in done.stderr  # no bars, no escape codes
    assert [r["atom"] for r in json.loads(done.stdout)] == [ATOM, "layer-convergence"]


def test_heartbeat_line_inside_a_long_loop():
    import io
    buf = io.StringIO()
    with RichProgress(Console(file=buf, width=100), RunClock([5.0]), heartbeat_s=0.0) as bar:
        bar.atom = ATOM
        bar.atom_started(ATOM, "preset quick, seeds 0")
        bar.begin(ATOM, 10)
        bar.advance(4)
        bar.end()
        bar.atom_finished(ATOM, "reproduced", 2.0, 2.0)
    lines = buf.getvalue().splitlines()
    assert lines == [f"running {ATOM} (preset quick, seeds 0; estimate 5.0 s)",
                     f"  {ATOM}: 4/10 steps, {lines[1].rsplit(', ', 1)[1]}",
                     f"{ATOM}: reproduced, computed 2.0 s · elapsed 2.0 s"]


def test_finished_line_shows_computed_time_not_the_judging_step():
    """After a cross-atom prefetch an atom's own step only judges (0.01 s): the line shows
    the trials' computed time (49 s), or 'cached' when nothing computed."""
    import io
    buf = io.StringIO()
    with RichProgress(Console(file=buf, width=100), RunClock([50.0, 5.0])) as bar:
        bar.atom_finished("class-imbalance", "reproduced", 0.031, 49.0)
        bar.atom_finished("parity", "reproduced", 0.014, 0.0)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("[1/2] class-imbalance: reproduced, computed 49 s · elapsed")
    assert lines[1].startswith("[2/2] parity: reproduced, cached · elapsed")


def test_run_clock_corrects_estimates_by_measured_speed():
    clock = RunClock([10.0, 10.0, 30.0])
    clock.finish(20.0, 20.0)  # twice as slow as estimated
    assert clock.speed == 2.0 and clock.left_s == 80.0
    clock.finish(0.5, 0.0)  # all cached: does not count towards the speed
    assert clock.speed == 2.0 and clock.left_s == 60.0 and clock.elapsed_s == 20.5


# ---------------------------------------------------------------- help texts, list, footer

def test_help_shows_real_defaults_and_flags_without_a_type(cli):
    report = " ".join(cli.invoke(app, ["report", "--help"]).stdout.split())
    assert "STORE/report" in report and "[default: deepatoms-runs]" in report
    for command in ("run", "list", "bench", "export", "probe", "report"):
        text = cli.invoke(app, [command, "--help"]).stdout
        assert "<bool>" not in text and "BOOLEAN" not in text, command
    run_help = cli.invoke(app, ["run", "--help"]).stdout
    force = next(ln for ln in run_help.splitlines() if "--force" in ln)
    assert "Recompute" in force and "<" not in force


def test_list_fits_80_columns(cli):
    result = cli.invoke(app, ["list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    text = result.stdout
    assert all(s.name in text for s in summaries())


def test_list_tsv_and_json(cli, tmp_path):
    tsv = cli.invoke(app, ["list", "--format", "tsv", "--store", str(tmp_path)]).stdout
    header, *rows = tsv.rstrip("\n").split("\n")
    assert header.split("\t")[:3] == ["name", "family", "title"]
    assert [r.split("\t")[0] for r in rows] == [s.name for s in summaries()]
    assert {len(r.split("\t")) for r in rows} == {len(header.split("\t"))}
    data = json.loads(cli.invoke(app, ["list", "--format", "json"]).stdout)
    assert [d["name"] for d in data] == [s.name for s in summaries()]
    assert json.loads(cli.invoke(app, ["list", "--json"]).stdout) == data
    bad = cli.invoke(app, ["list", "--format", "jsn"])
    assert bad.exit_code == 2 and "did you mean json" in bad.output


@pytest.mark.parametrize("args", [["run", ATOM, "--preset", "quik"],
                                  ["run", "--all", "--preset", "defualt"],
                                  ["probe", ATOM, "--vary", "steps=10,20", "--preset", "quikc"]])
def test_did_you_mean_for_presets(cli, tmp_path, args):
    result = cli.invoke(app, [*args, "--store", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "did you mean" in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "s").exists()


def test_run_footer_repeats_a_non_default_store(cli, tmp_path):
    store = tmp_path / "my runs"
    out = cli.invoke(app, ["run", ATOM, *FAST, "--store", str(store)]).stdout
    assert f"deepatoms report --store '{store}'" in " ".join(out.split())
    env_store = CliRunner(env={"DEEPATOMS_STORE": str(store), "COLUMNS": "200"})
    again = env_store.invoke(app, ["run", ATOM, *FAST]).stdout
    assert "(`deepatoms report` renders it" in again  # the default (here the env's) is implied


# ---------------------------------------------------------------- figures and the backend

FIGURES = textwrap.dedent("""
    import sys, matplotlib
    if sys.argv[1] != "auto":
        matplotlib.use(sys.argv[1])
    import torch; torch.set_num_threads(1)
    import deepatoms, deepatoms.cli, deepatoms.report.build
    from deepatoms.figures import Figure, figure_grid
    out = deepatoms.run("universal-approximation", preset="quick", seeds=1, steps=50)
    figs = out.figures()
    assert figs and all(isinstance(f, Figure) for f in figs.values())
    for f in figs.values():
        assert f.axes and f._repr_png_().startswith(b"\\x89PNG")
        f.savefig(__import__("io").BytesIO(), format="png")  # still open: drawable again
    assert out._repr_html_().count("<img") == len(figs)
    mine = {}
    for name, f in figs.items():
        rows, cols = figure_grid(f)
        host = Figure()
        mine[name] = (host, host.subplots(rows, cols, squeeze=False))
    drawn = out.figures(axes={n: axs for n, (host, axs) in mine.items()})
    for name, (host, axs) in mine.items():
        assert drawn[name] is host, name
        assert any(ax.lines or ax.collections or ax.images for ax in axs.flat), name
    print("backend", matplotlib.rcParams._get_backend_or_none(), "pyplot",
          "matplotlib.pyplot" in sys.modules)
""")


@pytest.mark.parametrize("backend", ["svg", "auto"])
def test_figures_leave_the_backend_alone_and_draw_on_given_axes(backend, tmp_path):
    done = _python(FIGURES, backend, cwd=tmp_path, MPLBACKEND="")
    assert done.returncode == 0, done.stderr
    expected = "svg" if backend == "svg" else "None"  # never resolved, never switched to Agg
    assert done.stdout.split() == ["backend", expected, "pyplot", "False"]


# ---------------------------------------------------------------- make run

FAKE_CLI = """#!/bin/sh
# stands in for .venv/bin/deepatoms: `run` fails (or waits to be interrupted), `report` records
echo "$@" >> "$(dirname "$0")/calls"
case "$1" in
  run) if [ "$FAKE_RUN" = wait ]; then sleep 60; fi; exit 3 ;;
  report) exit 0 ;;
esac
"""


def _fake_venv(tmp_path: Path) -> tuple[Path, list[str]]:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "deepatoms"
    fake.write_text(FAKE_CLI)
    fake.chmod(0o755)
    stamp = venv / "stamp"
    stamp.touch()  # newer than pyproject.toml: `install` has nothing to do
    os.utime(stamp, (time.time() + 3600, time.time() + 3600))
    return venv, ["make", "-s", "-C", str(ROOT), "run", f"VENV={venv}", f"STAMP={stamp}"]


@pytest.mark.skipif(not any((Path(d) / "make").exists() for d in os.get_exec_path()),
                    reason="make is not installed")
def test_make_run_writes_the_report_after_a_failed_run(tmp_path):
    venv, make = _fake_venv(tmp_path)
    done = subprocess.run(make, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0  # the run's failure is not hidden
    assert (venv / "bin" / "calls").read_text().split("\n")[:2] == ["run --all", "report"]


@pytest.mark.skipif(not any((Path(d) / "make").exists() for d in os.get_exec_path()),
                    reason="make is not installed")
def test_make_run_writes_the_report_after_ctrl_c(tmp_path):
    venv, make = _fake_venv(tmp_path)
    proc = subprocess.Popen(make, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "FAKE_RUN": "wait"}, start_new_session=True)
    calls = venv / "bin" / "calls"
    deadline = time.time() + 20
    while not calls.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    try:  # on a loaded machine the signal can land before the fake run's sleep starts: then the
        proc.communicate(timeout=90)  # sleep runs out (60 s) and the run fails instead
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode != 0
    assert calls.read_text().split("\n")[:2] == ["run --all", "report"]


def test_the_verdict_table_shows_computed_time_where_the_wall_is_only_judging():
    import io
    from types import SimpleNamespace
    from deepatoms.cli.render import AtomResult, verdict_table
    from deepatoms.verdict import Evidence, Verdict
    verdict = Verdict("reproduced", "held.", (Evidence("m", 1.0, 0.5, 1.5, 3, "t", "> 0", True),))
    prefetched = SimpleNamespace(verdict=verdict, seeds=(0, 1, 2), cached_seeds=(), wall_s=0.031,
                                 computed_s=49.0,
                                 env={"computed_on": "2 worker processes (cross-atom prefetch)"})
    cached = SimpleNamespace(verdict=verdict, seeds=(0, 1), cached_seeds=(0, 1), wall_s=0.2,
                             computed_s=0.0, env={"computed_on": "nothing (all cached)"})
    buf = io.StringIO()
    Console(file=buf, width=120).print(verdict_table(
        [AtomResult("class-imbalance", "atoms", prefetched), AtomResult("parity", "x", cached)]))
    text = buf.getvalue()
    assert "computed" in text and "49 s (2 workers)" in text and "cached" in text
    assert "0.0 s" not in text
