"""0002: index metrics by (name, ts_ms) so "recent samples of one metric" stays fast."""

from __future__ import annotations

from peewee import Database

VERSION = 2
NAME = "metrics_name_index"


def apply(db: Database) -> None:
    """Add the index (runs inside the migration's transaction)."""
    db.execute_sql("CREATE INDEX metrics_name_ts ON metrics (name, ts_ms)")
