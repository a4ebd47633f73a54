"""The config layers import one way: ``_yaml`` (leaf) and ``_config_checks`` <- ``_config``
<- ``_config_edit``.

Read from the source with :mod:`ast`, so a function-level import (the kind that hid the old
``_config`` <-> ``_yaml`` cycle) counts as much as one at the top.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "atlas_canvas"


def package_imports(module: str) -> dict[str, list[int]]:
    """``{imported atlas_canvas module: [line, ...]}`` for every import in ``module``."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: dict[str, list[int]] = {}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level >= 1 and node.module:
                names = [node.module]
            elif node.level >= 1:
                names = [alias.name for alias in node.names]
            elif node.module and node.module.startswith("atlas_canvas."):
                names = [node.module.removeprefix("atlas_canvas.")]
        elif isinstance(node, ast.Import):
            names = [
                a.name.removeprefix("atlas_canvas.")
                for a in node.names
                if a.name.startswith("atlas_canvas.")
            ]
        for name in names:
            found.setdefault(name.split(".")[0], []).append(node.lineno)
    return found


def top_level_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    return {
        node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
    }


def test_yaml_is_a_leaf() -> None:
    assert set(package_imports("_yaml")) == {"_errors"}


def test_value_checks_sit_below_config() -> None:
    assert set(package_imports("_config_checks")) <= {"_errors", "_secrets"}
    assert "_config_checks" in top_level_imports("_config")


def test_config_imports_yaml_at_the_top_only() -> None:
    imports = package_imports("_config")
    assert "_config_edit" not in imports
    assert "_yaml" in top_level_imports("_config")
    assert len(imports["_yaml"]) == 1, imports["_yaml"]  # no second, function-level one


def test_editing_sits_above_config_and_yaml() -> None:
    top = top_level_imports("_config_edit")
    assert {"_config", "_yaml"} <= top
    for module in ("_yaml", "_config", "_config_checks", "_errors", "_secrets"):
        assert "_config_edit" not in package_imports(module), module


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("atlas_canvas._yaml", ["atlas_canvas._config", "atlas_canvas._config_edit"]),
        ("atlas_canvas._config", ["atlas_canvas._config_edit"]),
    ],
)
def test_loading_a_layer_does_not_load_the_ones_above(module: str, absent: list[str]) -> None:
    code = f"import sys, {module}; print([m for m in {absent!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_jupyter_route_does_not_import_the_cli() -> None:
    handlers = package_imports("jupyter/_handlers")
    assert not [m for m in handlers if m.startswith("_cli")], handlers
