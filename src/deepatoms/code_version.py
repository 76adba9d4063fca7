"""What a trial's code version hashes: the source of every module of the package that the atom's
module imports, followed transitively (lab.py, the engine and data modules it uses, helpers of
its own or another family, imports inside functions too), plus the versions of the libraries
that compute the numbers. Editing any of those files, or upgrading one of those libraries,
invalidates the cached trials; editing a module the atom never reaches does not.

Imports are read from the source (`ast`), so nothing is imported to compute a version.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Iterator

PACKAGE = "deepatoms"
LIBRARIES = ("torch", "numpy", "scipy")
# The walk does not enter the package's root `__init__` (it only holds the version, which the
# code version carries anyway, and the lazy API hooks).
SKIP = frozenset({PACKAGE})


def module_file(name: str, root: Path) -> tuple[Path, bool] | None:
    """(file, is_package) of module `name` of the package rooted at `root`, or None."""
    path = root.joinpath(*name.split(".")[1:])
    if (path / "__init__.py").is_file():
        return path / "__init__.py", True
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py"), False
    return None


def imported_names(name: str, is_package: bool, source: str) -> Iterator[str]:
    """Every module name an import statement of `source` may refer to (for `from m import x`
    both m and m.x, since x may be a submodule)."""
    base = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                try:
                    module = importlib.util.resolve_name("." * node.level + module, base)
                except (ImportError, ValueError):
                    continue
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def imported_modules(module: str, package: str = PACKAGE, root: Path | None = None
                     ) -> dict[str, Path]:
    """Module name → file of `module` and every module of `package` it imports, transitively."""
    root = root if root is not None else package_root(package)
    found: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in found or name in SKIP and name != module:
            continue
        located = module_file(name, root)
        if located is None:
            continue
        path, is_package = located
        found[name] = path
        todo += [m for m in imported_names(name, is_package, path.read_text(encoding="utf-8"))
                 if m == package or m.startswith(package + ".")]
    return dict(sorted(found.items()))


def package_root(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ImportError(f"package {package!r} not found")
    return Path(spec.origin).parent


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def digest(module: str, package: str = PACKAGE, root: Path | None = None) -> str:
    """12 hex digits of sha256 over the sources `module` reaches and the library versions."""
    h = hashlib.sha256()
    for name, path in imported_modules(module, package, root).items():
        h.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
    for lib, version in library_versions().items():
        h.update(f"{lib}=={version}\0".encode())
    return h.hexdigest()[:12]


@functools.cache
def module_digest(module: str) -> str:
    """`digest` of a module of this package, computed once per process."""
    return digest(module)


def atom_digest(module_name: str) -> str:
    """The digest of the module defining an atom's `run`; a module outside the package (a
    user's own atom) is hashed from its loaded source plus the package modules it imports."""
    if module_name == PACKAGE or module_name.startswith(PACKAGE + "."):
        return module_digest(module_name)
    import inspect
    import sys
    module = sys.modules.get(module_name)
    source = inspect.getsource(module) if module is not None else ""
    h = hashlib.sha256(source.encode())
    for name in sorted(set(imported_names(module_name, False, source))):
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            if module_file(name, package_root(PACKAGE)) is not None:
                h.update(module_digest(name).encode())
    h.update(repr(sorted(library_versions().items())).encode())
    return h.hexdigest()[:12]
