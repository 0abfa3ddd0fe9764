"""Imports go one way: the simulators may use the product, the product (hub/) never imports the
simulators, not even lazily inside a function or under TYPE_CHECKING. It starts them as processes
(`python -m simulators ...`), as real devices would be elsewhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HUB = REPO / "hub"
FORBIDDEN = "simulators"


def _imported_names(node: ast.AST) -> list[str]:
    """The modules an import statement, or `importlib.import_module("...")` / `__import__("...")`
    with a literal name, brings in; [] for any other node and for relative imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module] if node.level == 0 and node.module else []
    if isinstance(node, ast.Call) and node.args:
        f, first = node.func, node.args[0]
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name in {"import_module", "__import__"} and isinstance(first, ast.Constant):
            return [first.value] if isinstance(first.value, str) else []
    return []


def _forbidden_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import of the simulators package anywhere in the tree."""
    return [
        (getattr(node, "lineno", 0), name)
        for node in ast.walk(tree)
        for name in _imported_names(node)
        if name.split(".")[0] == FORBIDDEN
    ]


def test_the_product_never_imports_the_simulators() -> None:
    files = sorted(HUB.rglob("*.py"))
    assert len(files) > 20, "hub/ not found where expected"
    offenders = [
        f"{path.relative_to(REPO)}:{line}: imports {module}"
        for path in files
        for line, module in _forbidden_imports(
            ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        )
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        "import simulators",
        "import simulators.city as c",
        "import os, simulators.sensors",
        "from simulators import cli",
        "from simulators.sensors import PlannedAnomaly",
        "def f():\n    from simulators.city import run_city\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import simulators\n",
        "class A:\n    def m(self):\n        import simulators.cameras\n",
        "import importlib\nimportlib.import_module('simulators.city')",
        "__import__('simulators')",
    ],
)
def test_the_check_sees_every_form_of_import(source: str) -> None:
    assert _forbidden_imports(ast.parse(source))


@pytest.mark.parametrize(
    "source",
    [
        "import simulators_extra",
        "from hub import simulators",  # a hub module of that name would be the product's own
        "from . import simulators",
        "x = 'python -m simulators'",
    ],
)
def test_the_check_ignores_lookalikes(source: str) -> None:
    assert not _forbidden_imports(ast.parse(source))
