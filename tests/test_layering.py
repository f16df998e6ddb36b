"""The layers of docs/architecture.md, enforced: each package imports only what its layer may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "localecs"

# module prefix -> prefixes it must never import
FORBIDDEN = {
    "localecs.domain": (
        "sqlalchemy", "fastapi", "starlette", "localecs.store", "localecs.services",
        "localecs.api", "localecs.engine", "localecs.drivers",
    ),
    "localecs.auth.signing": ("localecs", "sqlalchemy", "fastapi", "starlette"),
    "localecs.auth.encryption": ("localecs", "sqlalchemy", "fastapi", "starlette"),
    "localecs.auth.passwords": ("localecs", "sqlalchemy", "fastapi", "starlette"),
    "localecs.auth.ratelimit": ("localecs", "sqlalchemy", "fastapi", "starlette"),
    "localecs.drivers.base": ("localecs", "sqlalchemy"),
    "localecs.store": ("localecs.api", "localecs.services", "localecs.engine", "fastapi"),
    "localecs.services": ("localecs.api", "localecs.engine", "fastapi", "starlette"),
    "localecs.engine": ("localecs.api", "fastapi", "starlette"),
    # Clients of the control API, used by users' test suites: HTTP only, never the internals.
    "localecs.control": (
        "localecs.store", "localecs.services", "localecs.engine", "localecs.api",
        "localecs.drivers", "sqlalchemy", "fastapi", "starlette",
    ),
    "localecs.testing": (
        "localecs.store", "localecs.services", "localecs.engine", "localecs.api",
        "localecs.drivers", "sqlalchemy", "fastapi", "starlette",
    ),
    "localecs.pytest_plugin": (
        "localecs.store", "localecs.services", "localecs.engine", "localecs.api",
        "localecs.drivers", "sqlalchemy", "fastapi", "starlette",
    ),
    "localecs.api": (
        "localecs.engine", "localecs.store.repository", "localecs.store.uow",
        "localecs.store.queue", "localecs.store.database", "localecs.store.reads",
        "localecs.drivers",
    ),
}  # fmt: skip


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_module_respects_its_layer(module: str, path: Path) -> None:
    rules = [banned for layer, banned in FORBIDDEN.items() if _within(module, layer)]
    violations = sorted(
        imported
        for imported in _imports(path)
        for banned in rules
        for prefix in banned
        if _within(imported, prefix) and not _within(imported, module)
    )
    assert violations == [], f"{module} imports {violations}"
