"""The JSON API of `deepatoms serve` with FastAPI's test client: the params schema of every atom
round-trips, bad input is a 422 naming the field with nothing stored, a quick run streams its
events and verdict and is an ordinary stored run, a cached run returns at once."""
from __future__ import annotations

import dataclasses

import pytest

from deepatoms.catalog import registry
from deepatoms.store import Store

from .helpers import QUICK, client, events, wait


def _form(atom_json: dict, preset: str) -> dict[str, str]:
    """What the page's form submits: every field as the text the form shows."""
    values = atom_json["presets"][preset]
    return {p["name"]: ",".join(map(str, values[p["name"]])) if isinstance(values[p["name"]], list)
            else str(values[p["name"]]) for p in atom_json["params"]}


def test_schema_of_every_atom_round_trips(tmp_path):
    """A form built from each atom's schema submits each preset's values as text and gets the
    run's parameters back exactly (nothing runs: /api/estimate checks like POST /api/runs)."""
    with client(tmp_path / "store", warm=False) as c:
        names = [a["name"] for a in c.get("/api/atoms").json()]
        assert names == [a.name for f in registry.FAMILIES for a in registry.family(f)]
        for name in names:
            atom_json = c.get(f"/api/atoms/{name}").json()
            atom = registry.get(name)
            assert [p["name"] for p in atom_json["params"]] == \
                [f.name for f in dataclasses.fields(atom.Params)]
            for preset in atom.preset_names:
                body = {"atom": name, "preset": preset, "seeds": 2,
                        "params": _form(atom_json, preset)}
                got = c.post("/api/estimate", json=body).json()
                assert got["ok"], (name, preset, got)
                assert got["params"] == atom_json["presets"][preset], (name, preset)
                assert got["overrides"] == {}, (name, preset)
                expected = atom.params(preset).to_dict()
                assert got["params"] == {k: list(v) if isinstance(v, tuple) else v
                                         for k, v in expected.items()}


BAD = [
    ({"atom": "no-such-atom"}, "atom"),
    ({**QUICK, "params": {"lr": -1}}, "lr"),
    ({**QUICK, "params": {"lr": "fast"}}, "lr"),
    ({**QUICK, "params": {"hidden": "50,x"}}, "hidden"),
    ({**QUICK, "params": {"hiden": "50"}}, "hiden"),
    ({**QUICK, "params": {"loss": "hinge"}}, "loss"),
    ({**QUICK, "params": ["lr"]}, "params"),
    ({**QUICK, "preset": "fastest"}, "preset"),
    ({**QUICK, "seeds": 0}, "seeds"),
    ({**QUICK, "seeds": "1,1"}, "seeds"),
    ({**QUICK, "seeds": True}, "seeds"),
    ({**QUICK, "seeds_per_batch": 0}, "seeds_per_batch"),
    # about 500 GiB, more memory than the machine has: refused before anything runs
    ({**QUICK, "seeds": 1000, "params": {"hidden": "4096,4096,4096"}}, "seeds"),
]


@pytest.fixture(scope="module")
def idle(tmp_path_factory):
    """An app whose workers never start unless a run is accepted."""
    store = tmp_path_factory.mktemp("idle") / "store"
    with client(store, warm=False) as c:
        yield c, store


@pytest.mark.parametrize("body, field", BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_input_is_422_with_the_field_and_nothing_stored(idle, body, field):
    c, store = idle
    r = c.post("/api/runs", json=body)
    assert r.status_code == 422, r.json()
    (detail,) = r.json()["detail"]
    assert detail["field"] == field and detail["message"]
    assert c.get("/api/runs?atom=layer-convergence").json() == {"stored": [], "jobs": []}
    assert not (store / "deepatoms.sqlite").exists()
    assert c.app.state.jobs.jobs == {}


def test_not_json_is_422(idle):
    c, _ = idle
    r = c.post("/api/runs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body"


def test_quick_run_streams_events_then_verdict_and_is_stored(tmp_path):
    from deepatoms import api
    with client(tmp_path / "store") as c:
        job = c.post("/api/runs", json={**QUICK, "params": {"steps": "300"}}).json()["id"]
        stream = events(c, job)
        kinds = [k for k, _ in stream]
        assert kinds[0] == "state" and kinds[-1] == "end"
        assert "progress" in kinds and kinds.count("point") >= 3
        point = next(d for k, d in stream if k == "point")
        assert len(point["series"]["loss"]) == 2        # one loss per model: 2 seeds
        end = stream[-1][1]
        assert end["state"] == "done" and end["verdict"]["status"] in \
            ("reproduced", "not reproduced", "inconclusive")
        view = c.get(f"/api/runs/{job}").json()
        assert view["state"] == "done" and view["result"]["run_id"] == end["run_id"]
        assert view["first_point_s"] is not None
        # an ordinary stored run: history sees it, and the same run again is served from the cache
        history = api.history("layer-convergence", store=str(tmp_path / "store"))
        assert list(history.id) == [end["run_id"]]
        again = wait(c, c.post("/api/runs", json={**QUICK, "params": {"steps": 300}}).json()["id"])
        assert again["result"]["cached_seeds"] == [0, 1]
        assert again["result"]["verdict"] == end["verdict"]
        direct = api.run("layer-convergence", "quick", 2, store=str(tmp_path / "store"), steps=300)
        assert direct.verdict.to_dict() == end["verdict"]
        stored = c.get("/api/runs?atom=layer-convergence").json()["stored"]
        assert len(stored) == 3
        diff = c.get(f"/api/diff?a={stored[0]['id']}&b={stored[1]['id']}").json()
        assert diff["params"] == [] and len(diff["evidence"]) == len(end["verdict"]["evidence"])
        assert c.get(f"/api/figures/{end['run_id']}").json()
        png = c.get(f"/api/figures/{end['run_id']}/0.png?thumb=true")
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        assert c.get(f"/api/atoms/layer-convergence").json()["verdict"]["run_id"] == \
            stored[-1]["id"]


def test_probe_fills_in_point_by_point_and_is_stored(tmp_path):
    body = {**QUICK, "key": "steps", "values": "100,150"}
    with client(tmp_path / "store") as c:
        bad = c.post("/api/probes", json={**body, "values": "100"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "values"
        bad = c.post("/api/probes", json={**body, "values": "100,-5"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "steps"
        job = c.post("/api/probes", json=body).json()["id"]
        stream = events(c, job)
        points = [d for k, d in stream if k == "probe"]
        assert [p["value"] for p in points] == ["100", "150"]
        assert all(p["ci_low"] is None or p["ci_low"] <= p["estimate"] <= p["ci_high"]
                   for p in points)
        assert stream[-1][1]["state"] == "done"
        assert [p["value"] for p in stream[-1][1]["probe"]["points"]] == ["100", "150"]
        assert len(c.get("/api/runs?atom=layer-convergence").json()["stored"]) == 2
    with Store(tmp_path / "store", readonly=True) as st:
        assert st.latest_probes()["layer-convergence"]["key"] == "steps"
