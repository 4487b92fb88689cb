"""Read-only peeks at a database another process may be writing (WAL allows a reader).

Used by commands that must answer while the engine holds the writer lock (`btcbot gates`), so
they never open the database for writing and never run migrations.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from btcbot_engine.store.db import StoreError
from btcbot_engine.store.repositories import _FALSE, _TRUE, KILL_SWITCH, SAFE_MODE


@dataclass(frozen=True, slots=True)
class RuntimeFlags:
    """The persisted safety flags; None where never set."""

    kill_switch: bool | None
    safe_mode: bool | None


def read_runtime_flags(path: Path) -> RuntimeFlags:
    """Read the persisted kill and safe-mode flags; (None, None) when the file does not exist.

    An unreadable file or value raises StoreError: the caller must fail closed, not guess.
    """
    if not path.exists():
        return RuntimeFlags(None, None)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise StoreError(f"database {path}: cannot open read-only: {exc}") from None
    try:
        rows = dict(
            conn.execute(
                "SELECT key, value FROM runtime_state WHERE key IN (?, ?)",
                (KILL_SWITCH, SAFE_MODE),
            ).fetchall()
        )
    except sqlite3.Error as exc:
        raise StoreError(f"database {path}: cannot read runtime state: {exc}") from None
    finally:
        conn.close()

    def flag(key: str) -> bool | None:
        text = rows.get(key)
        if text is None:
            return None
        if text in (_TRUE, _FALSE):
            return text == _TRUE
        raise StoreError(f"database {path}: runtime_state {key!r} is not a boolean")

    return RuntimeFlags(flag(KILL_SWITCH), flag(SAFE_MODE))
