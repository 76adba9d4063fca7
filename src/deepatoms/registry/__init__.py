"""The catalog of atoms: `discovery` finds every atom under `deepatoms.atoms.<family>` (a family
module without `ATOM` is an error); `index` reads their metadata without importing torch.

`from deepatoms import registry; registry.get("parity")` — the functions are re-exported here.
(The package is not called `catalog`: `deepatoms.catalog()` is the API's catalog table.)"""
from .discovery import FAMILIES, all_atoms, family, family_atoms, get

__all__ = ["FAMILIES", "all_atoms", "family", "family_atoms", "get"]
