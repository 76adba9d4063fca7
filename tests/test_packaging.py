"""Installable like a library: pyproject.toml states ranges (so `pip install .` keeps an
environment's torch), constraints.txt pins each of them exactly, and the pins satisfy the
ranges; `make install` installs with the constraints."""
from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in [*project["dependencies"], *extras]]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt pins exactly: {line!r}"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_requirements_are_ranges_and_pins_satisfy_them():
    pins = _pins()
    for req in _requirements():
        assert all(s.operator != "==" for s in req.specifier), f"{req}: a range, not a pin"
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (str(req), pins[name])
    torch = next(r for r in _requirements() if r.name == "torch")
    assert str(torch.specifier) == ">=2.4" and pins["torch"] == "2.13.0"


def test_make_install_uses_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -c constraints.txt -e '.[" in makefile
