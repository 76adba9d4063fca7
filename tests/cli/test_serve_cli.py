"""`deepatoms serve` on the command line: the URL printed, a token off loopback, one line and
exit code 2 when the `serve` extra is missing or an option is bad (uvicorn stubbed: no server)."""
from __future__ import annotations

import sys
import types

import pytest

from deepatoms.cli.entry import main as cli_main

pytest.importorskip("fastapi", reason="the serve extra is not installed")


@pytest.fixture()
def fake_uvicorn(monkeypatch):
    calls = []
    stub = types.SimpleNamespace(run=lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setitem(sys.modules, "uvicorn", stub)
    return calls


def test_prints_url_and_serves_on_loopback(fake_uvicorn, tmp_path, capsys):
    code = cli_main(["serve", "--store", str(tmp_path / "s"), "--port", "8799", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "http://127.0.0.1:8799/ " in out and "token" not in out
    (app, kw), = fake_uvicorn
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8799
    assert app.state.guard.token is None and app.state.jobs.n_workers == 1
    assert (tmp_path / "s" / "deepatoms.sqlite").is_file()


def test_other_host_prints_a_token_that_the_app_checks(fake_uvicorn, tmp_path, capsys):
    assert cli_main(["serve", "--store", str(tmp_path / "s"), "--host", "0.0.0.0"]) == 0
    out = capsys.readouterr().out
    (app, kw), = fake_uvicorn
    token = app.state.guard.token
    assert token and len(token) >= 24 and f"?token={token}" in out
    assert kw["host"] == "0.0.0.0" and kw["port"] == 8765


def test_missing_extra_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import fails as if not installed
    assert cli_main(["serve", "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "deepatoms[serve]" in err and "\n" not in err
    assert not (tmp_path / "s").exists()  # nothing written


@pytest.mark.parametrize("args", [["--port", "0"], ["--port", "x"], ["--workers", "0"],
                                  ["--host", " "]])
def test_bad_options_are_one_line_and_exit_2(fake_uvicorn, tmp_path, capsys, args):
    assert cli_main(["serve", "--store", str(tmp_path / "s"), *args]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert fake_uvicorn == []
