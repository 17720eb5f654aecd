"""No import cycle among the project's modules: each module's imports only go "down".

Why: a cycle (``core.chat`` ↔ ``core.client``, the stream hub ↔ its feeds) means
neither side can be read, tested or changed alone, and it is usually papered
over with a function-level or ``TYPE_CHECKING`` import. So every import counts
here — at module level, inside functions, under ``TYPE_CHECKING`` — except
those under ``if __name__ == "__main__":``: that block runs only when the file
is the program (``python -m core.chat``), as the module ``__main__``, so the
module it imports gets a fresh, complete copy of this one — no cycle at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The packages whose modules must not import each other in a circle.
PACKAGES = ("core", "api", "pages")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "node_modules" not in path.parts
    }


def is_main_guard(node: ast.AST) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    left = node.test.left
    return isinstance(left, ast.Name) and left.id == "__name__"


def imported(tree: ast.AST, modules: dict[str, Path], here: str) -> set[str]:
    """The project modules ``tree`` imports (anywhere but a ``__main__`` block)."""
    found: set[str] = set()
    package = here if (modules[here].name == "__init__.py") else here.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if is_main_guard(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                # ``from package import submodule`` depends on the submodule (its package
                # is only its parent, always set up first); ``from m import name`` on m.
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in modules and name != here}


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {
        name: imported(ast.parse(path.read_text(), str(path)), modules, name)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_detector_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_and_type_checking_imports_count_but_main_blocks_do_not() -> None:
    modules = {"x.a": ROOT / "a.py", "x.b": ROOT / "b.py", "x.c": ROOT / "c.py"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from x.b import B\n"
        "def f():\n    from x import c\n"
        'if __name__ == "__main__":\n    import x.b\n'
    )
    assert imported(ast.parse(source), modules, "x.a") == {"x.b", "x.c"}
    main_only = 'if __name__ == "__main__":\n    import x.b\n'
    assert imported(ast.parse(main_only), modules, "x.a") == set()


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package: str) -> None:
    graph = import_graph()
    inside = [c for c in cycles(graph) if any(m.split(".")[0] == package for m in c)]
    assert inside == [], f"import cycles in {package}/: {inside}"
