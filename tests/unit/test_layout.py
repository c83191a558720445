"""The shape of the code: no import circles among a package's modules, and every module opens by saying what it
owns."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ethsource.serving import PROJECT_ROOT

PACKAGES = {"ethsource": PROJECT_ROOT / "shared" / "ethsource",
            "ethsource_local": PROJECT_ROOT / "local" / "ethsource_local"}


def modules(package: str) -> dict[str, Path]:
    root = PACKAGES[package]
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join((package, *parts))
        found[name.removesuffix(".__init__")] = path
    return found


def imported_at_load(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `name` imports when it is loaded (its top level; not inside functions, where an
    import is deferred on purpose)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # `from pkg import module` loads that module; `from pkg import name`, pkg
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {target for target in targets if target in known and target != name}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of the graph, if there is one."""
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return trail[trail.index(target):] + [target]
            if target not in state and (found := visit(target, [*trail, target])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_module_imports_itself_back_through_others(package):
    found = modules(package)
    graph = {name: imported_at_load(name, path, set(found)) for name, path in found.items()}
    assert cycle(graph) is None, " -> ".join(cycle(graph))


def test_the_circle_check_finds_a_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_module_opens_by_saying_what_it_owns(package):
    silent = [name for name, path in modules(package).items()
              if path.stat().st_size and not ast.get_docstring(ast.parse(path.read_text()))]
    assert silent == []
