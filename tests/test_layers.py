"""The house rules of docs/architecture.md, checked on the source: every import of the package —
top-level, inside functions, under TYPE_CHECKING — points down the layer list or stays in its
layer, no module imports another's private name, and the runtime imports have no circle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import deepatoms

SRC = Path(deepatoms.__file__).parent
PKG = "deepatoms"
KIT = ("atom", "params", "lab", "figures", "stats", "verdict", "errors", "code_version")
# top to bottom: a module may import its own layer or any layer below it
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "__main__"),
    ("cli", "bench", "serve"),
    ("studies",),
    ("api",),
    ("execution", "report"),
    ("store",),
    ("catalog",),
    ("atoms",),
    ("engine", "data"),
    KIT,
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join([PKG, *parts])


def layer_of(module: str) -> int:
    head = module.split(".")[1] if "." in module else "__init__"
    for i, names in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"{module} is in no layer of docs/architecture.md; place it there")


def type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(path: Path) -> list[tuple[str, str, int, bool]]:
    """(imported module, imported name or '', line, under TYPE_CHECKING) of `path`."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded = type_checking_lines(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno, node.lineno in guarded) for a in node.names
                      if a.name.split(".")[0] == PKG]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.split(".")[0] != PKG:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = (SRC / Path(*sub.split(".")[1:])).with_suffix(".py").is_file() or \
                    (SRC / Path(*sub.split(".")[1:]) / "__init__.py").is_file()
                found.append((sub if is_module else base, "" if is_module else alias.name,
                              node.lineno, node.lineno in guarded))
    return found


FILES = sorted(SRC.rglob("*.py"))
EDGES = {module_name(f): imports(f) for f in FILES}


def test_every_module_has_a_layer():
    for module in EDGES:
        layer_of(module)


def test_no_import_points_up_the_layers():
    upward = [f"{src}:{line} imports {dst}" for src, edges in EDGES.items()
              for dst, _, line, _ in edges
              if dst != PKG and layer_of(dst) < layer_of(src)]
    assert not upward, "imports pointing up the layer list:\n" + "\n".join(upward)


def test_the_package_root_is_imported_only_for_its_version():
    uses = [(src, name) for src, edges in EDGES.items() for dst, name, _, _ in edges
            if dst == PKG and name not in ("__version__",)]
    assert not uses, uses


def test_no_import_of_another_modules_private_name():
    private = [f"{src}:{line} imports {dst}.{name}" for src, edges in EDGES.items()
               for dst, name, line, _ in edges
               if name.startswith("_") and not name.startswith("__") and dst != src]
    assert not private, "\n".join(private)


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def runtime_graph() -> dict[str, set[str]]:
    return {src: {dst for dst, _, _, guarded in edges if not guarded and dst != PKG and dst != src}
            for src, edges in EDGES.items()}


def test_no_import_circle():
    circle = find_circle(runtime_graph())
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_circle_finder_finds_a_circle():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("source, expected", [
    ("from ..store import Store\n", [("deepatoms.store", "Store")]),
    ("from . import runner\n", [("deepatoms.execution.runner", "")]),
    ("import deepatoms.api\n", [("deepatoms.api", "")]),
])
def test_imports_are_resolved_to_modules(tmp_path, monkeypatch, source, expected):
    path = SRC / "execution" / "seeds.py"
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    assert [(m, n) for m, n, _, _ in imports(path)] == expected
