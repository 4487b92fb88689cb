"""Numbered migrations: registry, fresh == upgraded, atomic steps, models agree with the schema."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import pytest

from btcbot_engine.domain.records import MetricPoint
from btcbot_engine.store import migrations
from btcbot_engine.store.db import StoreError, open_database
from btcbot_engine.store.migrations import LATEST_VERSION, MIGRATIONS, Migration
from btcbot_engine.store.models import ALL_MODELS


def _schema(path: Path) -> dict[str, Any]:
    """Everything that defines the schema, read through a plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    try:
        master = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        tables = [row[1] for row in master if row[0] == "table"]
        indexes = [row[1] for row in master if row[0] == "index"]
        return {
            "master": master,
            "table_info": {t: conn.execute(f"PRAGMA table_info('{t}')").fetchall() for t in tables},
            "index_list": {t: conn.execute(f"PRAGMA index_list('{t}')").fetchall() for t in tables},
            "foreign_keys": {
                t: conn.execute(f"PRAGMA foreign_key_list('{t}')").fetchall() for t in tables
            },
            "index_info": {
                i: conn.execute(f"PRAGMA index_info('{i}')").fetchall() for i in indexes
            },
            "user_version": conn.execute("PRAGMA user_version").fetchone(),
        }
    finally:
        conn.close()


def test_registry_lists_every_migration_module_in_order() -> None:
    folder = Path(migrations.__file__).parent
    modules = sorted(p.stem for p in folder.glob("m[0-9][0-9][0-9][0-9]_*.py"))
    assert [int(name[1:5]) for name in modules] == [m.version for m in MIGRATIONS]
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))
    assert LATEST_VERSION >= 2  # the upgrade path must really be exercised


def test_fresh_and_step_by_step_upgraded_databases_are_identical(tmp_path: Path) -> None:
    fresh, upgraded = tmp_path / "fresh.db", tmp_path / "upgraded.db"
    open_database(fresh).close()

    for version in range(1, LATEST_VERSION + 1):
        with open_database(upgraded, target_version=version) as store:
            assert store.schema_version() == version
            # Data written at an older version must survive later steps.
            store.metrics.record(
                MetricPoint(ts_ms=version, name="step", value=Decimal(f"{version}.5"))
            )

    assert _schema(fresh) == _schema(upgraded)
    with open_database(upgraded) as store:
        values = [p.value for p in store.metrics.recent("step")]
    assert values == [Decimal(f"{v}.5") for v in range(LATEST_VERSION, 0, -1)]


def test_step_two_adds_the_metrics_index(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_database(path, target_version=1).close()
    assert "metrics_name_ts" not in {row[1] for row in _schema(path)["master"]}
    open_database(path).close()
    assert "metrics_name_ts" in {row[1] for row in _schema(path)["master"]}


def test_reopening_at_latest_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_database(path).close()
    before = _schema(path)
    with open_database(path) as store:
        assert migrations.migrate(store.db) == []
    assert _schema(path) == before


def test_downgrade_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_database(path).close()
    with pytest.raises(StoreError, match="downgrades are not supported"):
        open_database(path, target_version=1)


def test_a_failing_migration_leaves_the_previous_version_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    open_database(path, target_version=1).close()

    def half_then_fail(db: peewee.Database) -> None:
        db.execute_sql("CREATE INDEX half_done ON metrics (ts_ms)")
        raise RuntimeError("migration bug")

    broken = (MIGRATIONS[0], Migration(2, "broken", half_then_fail))
    monkeypatch.setattr(migrations, "MIGRATIONS", broken)
    with pytest.raises(RuntimeError, match="migration bug"):
        open_database(path)
    monkeypatch.undo()

    names = {row[1] for row in _schema(path)["master"]}
    assert "half_done" not in names
    with open_database(path, target_version=1) as store:
        assert store.schema_version() == 1


def test_target_version_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        open_database(tmp_path / "s.db", target_version=LATEST_VERSION + 1)


def _declared_type(field: peewee.Field) -> str:
    return {"AUTO": "INTEGER", "INT": "INTEGER", "TEXT": "TEXT"}[field.field_type]


def test_models_match_the_migrated_schema(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_database(path).close()
    info = _schema(path)["table_info"]
    assert {model._meta.table_name for model in ALL_MODELS} == set(info) - {"sqlite_sequence"}
    for model in ALL_MODELS:
        columns = {row[1]: row for row in info[model._meta.table_name]}
        fields = {f.column_name: f for f in model._meta.sorted_fields}
        assert set(fields) == set(columns), model.__name__
        for name, field in fields.items():
            _, _, declared, notnull, _, pk = columns[name]
            assert declared == _declared_type(field), f"{model.__name__}.{name}"
            assert bool(pk) == field.primary_key, f"{model.__name__}.{name}"
            if not field.primary_key:  # INTEGER PRIMARY KEY reports notnull=0 yet is never NULL
                assert bool(notnull) == (not field.null), f"{model.__name__}.{name}"
