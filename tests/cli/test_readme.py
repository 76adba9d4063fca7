"""The README's code runs as written.

Every fenced ```python and ```bash block of README.md is executed in a fresh process in an
empty temporary directory (so the default store ./deepatoms-runs is a temporary one and
DEEPATOMS_STORE is unset): Python blocks as a script, shell blocks with `bash -eu` and a
`deepatoms` on PATH that is this checkout's `python -m deepatoms`. Every command must succeed.

A block that cannot run in a test says so just above its fence, with a reason:

    <!-- readme-test: skip — why this block is not run -->

The README's runs use `--preset quick` / `preset="quick"` (a test below keeps it so), which is
what a first look should use anyway; this file takes about a minute on a busy 2-core machine.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b\s*[—:-]?\s*(?P<reason>.*?)\s*-->\s*\Z", re.S)
PYTHON, SHELL = ("python", "py"), ("bash", "sh", "shell", "console")


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    body: str
    skip: str | None  # the reason given in the skip marker, or None: the block runs

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang}"


def blocks(text: str | None = None) -> list[Block]:
    text = README.read_text(encoding="utf-8") if text is None else text
    found = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip()
        marker = SKIP.search(before[before.rfind("<!--"):]) if before.endswith("-->") else None
        found.append(Block(text.count("\n", 0, m.start()) + 1, m["lang"], m["body"],
                           None if marker is None else marker["reason"]))
    return found


RUNNABLE = [b for b in blocks() if b.skip is None]


def _env(tmp: Path) -> dict[str, str]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "deepatoms"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m deepatoms "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "100",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    for name in ("DEEPATOMS_STORE", "MPLBACKEND"):
        env.pop(name, None)
    return env


def test_marker_parsing():
    text = ("x\n```bash\nmake run\n```\n<!-- readme-test: skip — too slow\nfor a test -->\n"
            "```python\nprint(1)\n```\n\n<!-- an ordinary comment -->\n```bash\nls\n```\n")
    found = blocks(text)
    assert [(b.line, b.lang, b.body, b.skip) for b in found] == [
        (2, "bash", "make run\n", None), (7, "python", "print(1)\n", "too slow\nfor a test"),
        (12, "bash", "ls\n", None)]


def test_every_block_runs_or_says_why_not():
    found = blocks()
    assert {b.lang for b in found} <= {*PYTHON, *SHELL}, "a block of an unknown language"
    assert all(b.skip.strip() for b in found if b.skip is not None), "a skip without a reason"
    assert any(b.lang in PYTHON for b in RUNNABLE) and any(b.lang in SHELL for b in RUNNABLE)


def test_readme_runs_are_quick():
    """The README's examples use the quick preset (or plan only): a first look takes seconds."""
    for b in RUNNABLE:
        for line in b.body.splitlines():
            code = line.split("#", 1)[0]
            if re.search(r"\bdeepatoms run\b", code):
                assert "--preset quick" in code or "--dry-run" in code, f"{b.id}: {line}"
            if re.search(r"\bdeepatoms\.(run|probe)\(", code):
                assert 'preset="quick"' in code, f"{b.id}: {line}"


def _tail(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-5000:]}"


# optional extras a block needs: (text in the block, module, the extra that installs it)
EXTRAS = (("--mlflow", "mlflow", "mlflow"), (".parquet", "pyarrow", "parquet"))


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs_as_written(block, tmp_path):
    import importlib.util
    for text, module, extra in EXTRAS:
        if text in block.body and importlib.util.find_spec(module) is None:
            pytest.skip(f"{block.id} needs the '{extra}' extra ({module} is not installed)")
    script = tmp_path / f"readme_{block.line}"
    script.write_text(block.body, encoding="utf-8")
    command = ([sys.executable, str(script)] if block.lang in PYTHON
               else ["bash", "-eu", "-o", "pipefail", str(script)])
    done = subprocess.run(command, cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"{block.id} failed:\n{_tail(done)}"
    assert "Traceback" not in done.stderr, _tail(done)
