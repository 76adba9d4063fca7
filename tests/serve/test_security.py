"""Loopback by default; off loopback every API call needs the token; Host and Origin checks
refuse DNS rebinding and other sites' pages."""
from __future__ import annotations

import pytest

from deepatoms.serve.security import Guard, is_loopback

from .helpers import client


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    with client(tmp_path_factory.mktemp("tok") / "store", host="0.0.0.0", token="s3cret",
                warm=False) as c:
        yield c


def test_token_is_needed_off_loopback(open_server):
    c = open_server
    assert c.get("/api/atoms").status_code == 401
    assert c.get("/api/atoms", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/atoms", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/api/atoms?token=s3cret").status_code == 200
    assert c.post("/api/runs", json={"atom": "layer-convergence"}).status_code == 401
    assert c.app.state.jobs.jobs == {}
    assert c.get("/").status_code == 200  # the page itself holds no data; its API calls do


def test_loopback_needs_no_token_but_checks_host_and_origin(tmp_path):
    with client(tmp_path / "store", warm=False) as c:
        assert c.get("/api/atoms").status_code == 200
        # DNS rebinding: a page of evil.example whose name now points at 127.0.0.1
        assert c.get("/api/atoms", headers={"Host": "evil.example:8765"}).status_code == 403
        assert c.get("/", headers={"Host": "evil.example"}).status_code == 403
        cross = c.post("/api/runs", json={"atom": "layer-convergence"},
                       headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403 and c.app.state.jobs.jobs == {}
        same = c.get("/api/atoms", headers={"Origin": "http://127.0.0.1:8765"})
        assert same.status_code == 200
        assert c.get("/api/atoms", headers={"Host": "localhost:8765"}).status_code == 200


def test_paths_from_requests_stay_inside_the_app(tmp_path):
    with client(tmp_path / "store", warm=False) as c:
        assert c.get("/static/../../serve/app.py").status_code == 404
        assert c.get("/static/%2e%2e/app.py").status_code == 404
        assert c.get("/api/atoms/..%2F..%2Fetc").status_code == 404
        assert c.get("/api/figures/1/0.png").status_code == 404  # no store yet: no figure


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                        ("127.0.0.2", True), ("0.0.0.0", False),
                                        ("192.168.1.5", False), ("example.org", False)])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def test_guard_host_names():
    g = Guard("127.0.0.1", None)
    assert g.host_ok("127.0.0.1:8765") and g.host_ok("[::1]:8765") and g.host_ok("localhost")
    assert not g.host_ok("attacker.test:8765") and not g.host_ok(None)
    assert Guard("192.168.1.5", "t").host_ok("192.168.1.5:8765")
    assert not Guard("192.168.1.5", "t").host_ok("attacker.test")


def test_report_is_served_with_a_lab_link_and_nothing_outside_it(tmp_path):
    report = tmp_path / "store" / "report"
    (report / "atoms").mkdir(parents=True)
    (report / "index.html").write_text("<html><body>index</body></html>")
    page = "<html><body><h1>layer-convergence</h1></body></html>"
    (report / "atoms" / "layer-convergence.html").write_text(page)
    (tmp_path / "store" / "secret.txt").write_text("no")
    with client(tmp_path / "store", warm=False) as c:
        assert c.get("/report/index.html").text == "<html><body>index</body></html>"
        served = c.get("/report/atoms/layer-convergence.html").text
        assert 'href="/atom/layer-convergence"' in served and "<h1>layer-convergence</h1>" in served
        assert (report / "atoms" / "layer-convergence.html").read_text() == page  # unchanged
        for path in ("/report/../secret.txt", "/report/%2e%2e/secret.txt",
                     "/report/..%2Fsecret.txt", "/report/nothing.html"):
            assert c.get(path).status_code == 404, path
