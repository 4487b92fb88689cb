"""Decision code is Decimal-only and pure: no float literals or float() calls, no I/O imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import btcbot_engine

ENGINE = Path(btcbot_engine.__file__).parent
FILES = [
    ENGINE / "universe.py",
    ENGINE / "risk.py",
    *sorted((ENGINE / "strategies").glob("*.py")),
]
FORBIDDEN_IMPORTS = {
    "httpx",
    "peewee",
    "websockets",
    "sqlite3",
    "socket",
    "requests",
    "time",
    "datetime",
    "random",
    "os",
    "btcbot_engine.store",
    "btcbot_engine.config",
}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_floats_and_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            assert not isinstance(node.value, float), f"{path.name}:{node.lineno} float literal"
        if isinstance(node, ast.Name):
            assert node.id != "float", f"{path.name}:{node.lineno} uses float"
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert not any(
                name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IMPORTS
            ), f"{path.name}:{node.lineno} imports {name}"
