"""Numbered schema migrations.

Each module `mNNNN_name.py` defines `VERSION`, `NAME` and `apply(db)`; it is listed in
`MIGRATIONS` below (explicitly, so packaging can never drop one silently; a test checks that
every module in this folder is listed). `migrate()` applies the pending ones in order, each in its
own transaction together with the `schema_version` bump, so a crash leaves the database at a
whole version. A database newer than `LATEST_VERSION` is refused, never touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from peewee import Database

from btcbot_engine.store.db import SchemaTooNew, StoreError
from btcbot_engine.store.migrations import m0001_initial, m0002_metrics_name_index


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: `apply` takes the schema from `version - 1` to `version`."""

    version: int
    name: str
    apply: Callable[[Database], None]


MIGRATIONS: tuple[Migration, ...] = tuple(
    Migration(module.VERSION, module.NAME, module.apply)
    for module in (m0001_initial, m0002_metrics_name_index)
)
LATEST_VERSION: int = MIGRATIONS[-1].version

# Versions must be 1..N with no gaps: migrate() indexes MIGRATIONS by the current version.
# (A raise, not an assert: `python -O` must not skip it.)
if [m.version for m in MIGRATIONS] != list(range(1, len(MIGRATIONS) + 1)):
    raise RuntimeError(f"migration versions are not 1..N: {[m.version for m in MIGRATIONS]}")


def schema_version_of(conn: sqlite3.Connection, *, label: str = "database") -> int:
    """Read the schema version through a raw DB-API connection; 0 for an empty database.

    Raises StoreError for a database that has tables but is not ours (no `meta` table or no
    `schema_version` row): we never migrate a stranger's file.
    """
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if not tables:
        return 0
    if "meta" not in tables:
        raise StoreError(
            f"{label} has tables ({', '.join(sorted(tables)[:5])}) but no meta table: "
            "not a btcbot database; refusing to touch it"
        )
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        raise StoreError(f"{label} has a meta table without schema_version; refusing to touch it")
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        raise StoreError(f"{label} has an unreadable schema_version {row[0]!r}") from None
    if version < 1:
        raise StoreError(f"{label} has an invalid schema_version {version}")
    return version


def check_not_newer(version: int, *, label: str = "database") -> None:
    """Raise SchemaTooNew when the file was written by a newer btcbot than this one."""
    if version > LATEST_VERSION:
        raise SchemaTooNew(
            f"{label} has schema version {version}, but this btcbot only knows up to "
            f"{LATEST_VERSION}; upgrade btcbot (refusing to touch the file)"
        )


def migrate(db: Database, target: int | None = None, *, label: str = "database") -> list[int]:
    """Apply pending migrations up to `target` (default: latest); return the versions applied.

    Each step runs in its own transaction and re-reads the version inside it, so two openers
    racing (the instance lock should prevent that) cannot apply a step twice.
    """
    goal = LATEST_VERSION if target is None else target
    if not 0 <= goal <= LATEST_VERSION:
        raise ValueError(f"target schema version {goal} is outside 0..{LATEST_VERSION}")
    applied: list[int] = []
    while True:
        with db.atomic():
            current = schema_version_of(db.connection(), label=label)
            check_not_newer(current, label=label)
            if current > goal:
                raise StoreError(
                    f"{label} is at schema version {current}, above the requested {goal}; "
                    "downgrades are not supported"
                )
            if current == goal:
                return applied
            step = MIGRATIONS[current]
            step.apply(db)
            db.execute_sql(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(step.version),),
            )
        applied.append(step.version)
