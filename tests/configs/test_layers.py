"""The packages point one way: pipeline is pure array code, storage knows no HTTP, models no Ray or SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "pipeline": {"models", "storage", "serving", "configs", "ray", "sqlalchemy", "psycopg", "fastapi", "httpx"},
    "models": {"storage", "serving", "configs", "ray", "sqlalchemy", "psycopg", "fastapi", "httpx"},
    "storage": {"serving", "models", "ray", "fastapi", "httpx", "requests", "urllib3"},
}


def imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package: str) -> None:
    offending = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {file: names for file, names in offending.items() if names} == {}
