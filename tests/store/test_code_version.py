"""The code version hashes what an atom imports (lab, engine, data and its helpers)."""
from __future__ import annotations

from pathlib import Path

import deepatoms
from deepatoms import code_version
from deepatoms import registry


IMBALANCE = "class-imbalance"


def _package(root: Path) -> Path:
    pkg = root / "pkg"
    for name, text in {
        "__init__.py": "VERSION = 1\n",
        "lab.py": "def gen():\n    return 1\n",
        "helpers.py": "def f():\n    return 2\n",
        "unrelated.py": "X = 3\n",
        "other/__init__.py": "",
        "other/_shared.py": "from ..helpers import f\nY = f()\n",
        "family/__init__.py": "",
        "family/atom.py": ("from .. import lab\nfrom ..other import _shared\n\n"
                           "def run():\n    from ..helpers import f\n    return f()\n"),
    }.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    return pkg


def test_the_code_version_hashes_what_the_atom_imports(tmp_path, monkeypatch):
    pkg = _package(tmp_path)
    hashed = code_version.imported_modules("pkg.family.atom", "pkg", pkg)
    assert set(hashed) == {"pkg.family.atom", "pkg.lab", "pkg.other", "pkg.other._shared",
                           "pkg.helpers", "pkg"}
    version = code_version.digest("pkg.family.atom", "pkg", pkg)
    (pkg / "unrelated.py").write_text("X = 4\n")
    assert code_version.digest("pkg.family.atom", "pkg", pkg) == version
    for edited in ("helpers.py", "lab.py", "other/_shared.py"):
        (pkg / edited).write_text((pkg / edited).read_text() + "# edited\n")
        assert code_version.digest("pkg.family.atom", "pkg", pkg) != version, edited
        version = code_version.digest("pkg.family.atom", "pkg", pkg)
    monkeypatch.setattr(code_version, "library_versions", lambda: {"torch": "9.9"})
    assert code_version.digest("pkg.family.atom", "pkg", pkg) != version


def test_real_atoms_hash_lab_engine_data_and_their_helpers():
    imbalance = code_version.imported_modules("deepatoms.atoms.atoms.class_imbalance")
    assert {"deepatoms.lab", "deepatoms.engine.losses", "deepatoms.data.gaussian",
            "deepatoms.engine.population"} <= set(imbalance)
    assert "deepatoms.store" not in imbalance and "deepatoms.cli" not in imbalance
    autoencoder = code_version.imported_modules("deepatoms.atoms.failures.pwl_autoencoder")
    assert "deepatoms.atoms.failures._pwl_inverse" in autoencoder
    assert registry.get(IMBALANCE).code_version.startswith(deepatoms.__version__ + "+")
