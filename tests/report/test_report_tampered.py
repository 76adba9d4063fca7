"""A tampered or damaged store never crashes `deepatoms report`: each page is built inside its
own guard and says what is wrong; what cannot be read at all is refused with one line (exit 2).
The report never changes the store file."""
from __future__ import annotations

from pathlib import Path

import pytest

import deepatoms
from deepatoms.cli.entry import main as cli_main
from deepatoms.store import DB_NAME, Store

from ..store.tampering import digest, loose_runs, tampered

ATOM = "layer-convergence"
FAST = dict(preset="quick", seeds=1, steps=24, record_every=2)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A real store: one quick run of a small atom, and one probe record."""
    root = tmp_path_factory.mktemp("base")
    deepatoms.run(ATOM, store=root, **FAST)
    st = Store(root)
    point = dict(value="24", status="inconclusive", label="indicative: undecided", estimate=0.5,
                 ci_low=0.1, ci_high=0.9, n=1, finding="a stored probe point")
    st.save_probe(ATOM, "steps", "quick", dict(atom=ATOM, key="steps", preset="quick",
                                               metric="m", points=[point]))
    st.close()
    return root


# (id, SQL, text the atom's page must show)
PAGE_DAMAGE = [
    ("verdict-not-json", "UPDATE runs SET verdict='{not json'", "verdict field is not valid JSON"),
    ("verdict-a-list", "UPDATE runs SET verdict='[1, 2]'", "stored verdict could not be read"),
    ("verdict-wrong-fields", """UPDATE runs SET verdict='{"status": 5, "evidence": "x"}'""",
     "stored verdict could not be read"),
    ("verdict-empty-object", "UPDATE runs SET verdict='{}'", "stored verdict could not be read"),
    ("params-not-json", "UPDATE runs SET params='garbage'", "params field is not valid JSON"),
    ("params-a-number", "UPDATE runs SET params='7'", "params is not a parameter record"),
    ("seeds-not-json", "UPDATE runs SET seeds='[1,'", "seeds field is not valid JSON"),
    ("seeds-text", """UPDATE runs SET seeds='"abc"'""", "seeds is not a list of seeds"),
    ("seeds-floats", "UPDATE runs SET seeds='[0.5]'", "seeds is not a list of seeds"),
    ("seeds-missing-trials", "UPDATE runs SET seeds='[0, 99]'", "could not be loaded"),
    ("env-a-list", "UPDATE runs SET env='[1, 2]'", "env is not an environment record"),
    ("env-not-json", "UPDATE runs SET env='{'", "env field is not valid JSON"),
    ("wall-text", "UPDATE runs SET wall_s='slow'", "wall_s is not a duration"),
    ("wall-negative", "UPDATE runs SET wall_s=-5", "wall_s is not a duration"),
    ("cached-not-json", "UPDATE runs SET cached_seeds='x'", "cached_seeds field is not valid JSON"),
    ("cached-a-dict", """UPDATE runs SET cached_seeds='{"a": 1}'""", "cached_seeds is not a list"),
    ("created-a-number", loose_runs("UPDATE runs SET created=12345"), "created is not text"),
    ("created-not-a-date", "UPDATE runs SET created='yesterday'", "yesterday"),
    ("trial-rows-not-json", "UPDATE trials SET rows='garbage'", "could not be loaded"),
    ("trial-rows-no-columns", """UPDATE trials SET rows='{"columns": ["x"], "data": {}}'""",
     "could not be loaded"),
    ("trial-rows-wrong-table",
     """UPDATE trials SET rows='{"columns": ["seed", "metric"], "data": {"seed": [0], "metric": ["m"]}}'""",
     "figures could not be drawn"),
    ("trials-deleted", "DELETE FROM trials", "could not be loaded"),
    ("probe-not-json", "UPDATE probes SET record='garbage'", "probes could not be read"),
    ("probe-wrong-shape", """UPDATE probes SET record='{"values": 3}'""", "probe could not be"),
    ("probe-point-wrong", """UPDATE probes SET record='{"points": [{"value": 1, "estimate": "x"}]}'""",
     "probe could not be"),
    ("null-verdict", loose_runs("UPDATE runs SET verdict=NULL"), "verdict field is not valid JSON"),
    ("null-seeds", loose_runs("UPDATE runs SET seeds=NULL"), "seeds field is not valid JSON"),
    ("null-preset", loose_runs("UPDATE runs SET preset=NULL, command=NULL"), "preset"),
    ("null-wall", loose_runs("UPDATE runs SET wall_s=NULL, computed_s=NULL"), "layer-convergence"),
    ("int-code-version", loose_runs("UPDATE runs SET code_version=7"), "code_version is not text"),
    ("blob-params", loose_runs("UPDATE runs SET params=x'00ff'"), "params field is not valid JSON"),
]


def _report(root: Path, tmp_path: Path, capsys) -> tuple[int, str, str]:
    code = cli_main(["report", "--store", str(root), "--out", str(tmp_path / "site")])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("sql, shown", [c[1:] for c in PAGE_DAMAGE], ids=[c[0] for c in PAGE_DAMAGE])
def test_damaged_run_is_reported_on_its_page(base, tmp_path, capsys, sql, shown):
    root = tampered(base, tmp_path, sql)
    before = digest(root / DB_NAME)
    code, out, err = _report(root, tmp_path, capsys)
    assert code == 0, err
    assert "Traceback" not in out + err
    index = (tmp_path / "site" / "index.html").read_text()
    pages = list((tmp_path / "site" / "atoms").glob("*.html"))
    assert len(pages) == 1
    text = pages[0].read_text() + index
    assert shown in text.replace("&#39;", "'")
    assert digest(root / DB_NAME) == before


def test_unnamed_run_gets_a_page(base, tmp_path, capsys):
    root = tampered(base, tmp_path, loose_runs("UPDATE runs SET atom=NULL"))
    code, _, err = _report(root, tmp_path, capsys)
    assert code == 0, err
    page = next((tmp_path / "site" / "atoms").glob("*.html")).read_text()
    assert "not an atom name" in page


def test_two_runs_one_damaged_the_other_intact(base, tmp_path, capsys):
    """A second atom's good run is unaffected by the first one's damage."""
    root = tampered(base, tmp_path, "INSERT INTO runs (atom, preset, params, params_key, "
                     "code_version, seeds, status, verdict, wall_s, computed_s, env, command, "
                     "created, cached_seeds, device, dtype) SELECT 'parity', preset, params, "
                     "params_key, code_version, seeds, status, verdict, wall_s, computed_s, env, "
                     "command, created, cached_seeds, device, dtype FROM runs; "
                     f"UPDATE runs SET verdict='{{' WHERE atom='{ATOM}'")
    code, _, err = _report(root, tmp_path, capsys)
    assert code == 0, err
    good = (tmp_path / "site" / "atoms" / f"{ATOM}.html").read_text()
    assert "not valid JSON" in good
    assert (tmp_path / "site" / "atoms" / "parity.html").is_file()


# damage the store's layout: refused with one line, the file untouched
LAYOUT_DAMAGE = [
    ("runs-dropped", "DROP TABLE runs"),
    ("trials-dropped", "DROP TABLE trials"),
    ("meta-dropped", "DROP TABLE meta"),
    ("column-dropped", "ALTER TABLE runs DROP COLUMN cached_seeds"),
    ("foreign-table", "CREATE TABLE extra (x)"),
    ("newer-version", "PRAGMA user_version = 99"),
    ("other-application", "PRAGMA application_id = 12345"),
]


@pytest.mark.parametrize("sql", [c[1] for c in LAYOUT_DAMAGE], ids=[c[0] for c in LAYOUT_DAMAGE])
def test_damaged_layout_is_one_line(base, tmp_path, capsys, sql):
    root = tampered(base, tmp_path, sql)
    before = digest(root / DB_NAME)
    code, _, err = _report(root, tmp_path, capsys)
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert digest(root / DB_NAME) == before


@pytest.mark.parametrize("content", [b"", b"not a database at all", b"SQLite format 3\x00" + b"\x00" * 90])
def test_not_a_database_is_one_line(tmp_path, capsys, content):
    root = tmp_path / "store"
    root.mkdir()
    (root / DB_NAME).write_bytes(content)
    code, _, err = _report(root, tmp_path, capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert (root / DB_NAME).read_bytes() == content


def test_strict_readers_name_the_damaged_run(base, tmp_path):
    """The strict reading (Store.runs(), the default): a damaged field is a StoreError naming
    the run (history, list and export read tolerantly: tests/store/test_damaged_store.py)."""
    root = tampered(base, tmp_path, "UPDATE runs SET verdict='{'")
    with pytest.raises(deepatoms.errors.StoreError, match="run 1 .*verdict field"):
        Store(root, readonly=True).runs()
