"""The engine is a plain library: importing it loads neither textual nor rich."""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES = [
    "btcbot_engine",
    "btcbot_engine.config",
    "btcbot_engine.gates",
    "btcbot_engine.cli",
    "btcbot_engine.domain.rules",
    "btcbot_engine.exchange.port",
]


def test_engine_imports_no_ui_library() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {ENGINE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"UI modules loaded by the engine: {out.stdout}"
