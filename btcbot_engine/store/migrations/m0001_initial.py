"""0001: every table the engine needs.

Frozen once released: schema changes go in a new numbered module, never here. Money columns are
TEXT holding plain decimal strings; ids and millisecond timestamps are INTEGER (int64).
"""

from __future__ import annotations

from peewee import Database

VERSION = 1
NAME = "initial"

STATEMENTS: tuple[str, ...] = (
    """
    CREATE TABLE meta (
        key TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE orders (
        client_id TEXT NOT NULL PRIMARY KEY,
        exchange_order_id INTEGER,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        method TEXT NOT NULL,
        price TEXT,
        quantity TEXT NOT NULL,
        filled_quantity TEXT NOT NULL,
        state TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        payload_hash TEXT NOT NULL,
        run_id TEXT NOT NULL,
        cycle_id TEXT NOT NULL,
        intent TEXT NOT NULL,
        reason TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        last_error TEXT
    )
    """,
    "CREATE INDEX orders_exchange_order_id ON orders (exchange_order_id)",
    "CREATE INDEX orders_state ON orders (state)",
    """
    CREATE TABLE order_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL REFERENCES orders (client_id) ON DELETE RESTRICT,
        from_state TEXT,
        to_state TEXT NOT NULL,
        ts_ms INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX order_events_client_id ON order_events (client_id)",
    """
    CREATE TABLE fills (
        trade_id INTEGER NOT NULL PRIMARY KEY,
        order_id INTEGER NOT NULL,
        client_id TEXT,
        symbol TEXT NOT NULL,
        base TEXT NOT NULL,
        quote TEXT NOT NULL,
        side TEXT NOT NULL,
        price TEXT NOT NULL,
        quantity TEXT NOT NULL,
        fee TEXT NOT NULL,
        tax TEXT NOT NULL,
        fee_asset TEXT NOT NULL,
        timestamp_ms INTEGER NOT NULL
    )
    """,
    "CREATE INDEX fills_symbol_timestamp ON fills (symbol, timestamp_ms)",
    "CREATE INDEX fills_order_id ON fills (order_id)",
    """
    CREATE TABLE ledger_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ts_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        symbol TEXT,
        asset TEXT NOT NULL,
        quantity TEXT NOT NULL,
        amount_quote TEXT NOT NULL,
        price TEXT,
        ref TEXT,
        detail TEXT NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX ledger_events_ref ON ledger_events (ref)",
    """
    CREATE TABLE cycles (
        cycle_id TEXT NOT NULL PRIMARY KEY,
        run_id TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        finished_ms INTEGER,
        mode TEXT NOT NULL,
        outcome TEXT,
        summary TEXT NOT NULL DEFAULT '{}'
    )
    """,
    "CREATE INDEX cycles_started_ms ON cycles (started_ms)",
    """
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        cycle_id TEXT NOT NULL,
        ts_ms INTEGER NOT NULL,
        symbol TEXT,
        stage TEXT NOT NULL,
        action TEXT NOT NULL,
        reason_code TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    )
    """,
    "CREATE INDEX decisions_cycle_id ON decisions (cycle_id)",
    """
    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}'
    )
    """,
    """
    CREATE TABLE runtime_state (
        key TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE cursors (
        name TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    )
    """,
)


def apply(db: Database) -> None:
    """Create the initial schema (runs inside the migration's transaction)."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
