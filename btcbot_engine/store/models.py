"""peewee models mirroring the schema the migrations create.

The migrations own the schema (raw DDL, frozen per version); these models only read and write
rows, and a test checks that their columns match the migrated tables. Repositories use explicit
insert/update queries rather than `Model.save()`, whose insert-or-update guess is wrong for
tables with non-auto primary keys.
"""

from __future__ import annotations

from peewee import AutoField, Model, TextField

from btcbot_engine.store.db import database_proxy
from btcbot_engine.store.fields import DecimalTextField, StrictIntegerField


class BaseModel(Model):
    """Binds every model to the proxy that `open_database` initialises."""

    class Meta:
        database = database_proxy
        legacy_table_names = False


class MetaRow(BaseModel):
    """meta: schema_version, account_key, created_ms."""

    key = TextField(primary_key=True)
    value = TextField()

    class Meta:
        table_name = "meta"


class OrderRow(BaseModel):
    """orders: one row per client order id."""

    client_id = TextField(primary_key=True)
    exchange_order_id = StrictIntegerField(null=True)
    symbol = TextField()
    side = TextField()
    method = TextField()
    price = DecimalTextField(null=True)
    quantity = DecimalTextField()
    filled_quantity = DecimalTextField()
    state = TextField()
    idempotency_key = TextField()
    payload_hash = TextField()
    run_id = TextField()
    cycle_id = TextField()
    intent = TextField()
    reason = TextField(null=True)
    created_ms = StrictIntegerField()
    updated_ms = StrictIntegerField()
    last_error = TextField(null=True)

    class Meta:
        table_name = "orders"


class OrderEventRow(BaseModel):
    """order_events: every state transition of an order."""

    id = AutoField()
    client_id = TextField()
    from_state = TextField(null=True)
    to_state = TextField()
    ts_ms = StrictIntegerField()
    detail = TextField()

    class Meta:
        table_name = "order_events"


class FillRow(BaseModel):
    """fills: one row per exchange trade id (the dedupe key)."""

    trade_id = StrictIntegerField(primary_key=True)
    order_id = StrictIntegerField()
    client_id = TextField(null=True)
    symbol = TextField()
    base = TextField()
    quote = TextField()
    side = TextField()
    price = DecimalTextField()
    quantity = DecimalTextField()
    fee = DecimalTextField()
    tax = DecimalTextField()
    fee_asset = TextField()
    timestamp_ms = StrictIntegerField()

    class Meta:
        table_name = "fills"


class LedgerEventRow(BaseModel):
    """ledger_events: the append-only ledger, ordered by seq."""

    seq = AutoField()
    ts_ms = StrictIntegerField()
    kind = TextField()
    symbol = TextField(null=True)
    asset = TextField()
    quantity = DecimalTextField()
    amount_quote = DecimalTextField()
    price = DecimalTextField(null=True)
    ref = TextField(null=True)
    detail = TextField()

    class Meta:
        table_name = "ledger_events"


class CycleRow(BaseModel):
    """cycles: one row per engine cycle."""

    cycle_id = TextField(primary_key=True)
    run_id = TextField()
    started_ms = StrictIntegerField()
    finished_ms = StrictIntegerField(null=True)
    mode = TextField()
    outcome = TextField(null=True)
    summary = TextField()

    class Meta:
        table_name = "cycles"


class DecisionRow(BaseModel):
    """decisions: what each stage decided and why."""

    id = AutoField()
    run_id = TextField()
    cycle_id = TextField()
    ts_ms = StrictIntegerField()
    symbol = TextField(null=True)
    stage = TextField()
    action = TextField()
    reason_code = TextField()
    detail = TextField()

    class Meta:
        table_name = "decisions"


class MetricRow(BaseModel):
    """metrics: named samples."""

    id = AutoField()
    ts_ms = StrictIntegerField()
    name = TextField()
    value = DecimalTextField()
    labels = TextField()

    class Meta:
        table_name = "metrics"


class RuntimeStateRow(BaseModel):
    """runtime_state: flags that must survive a restart (kill switch, safe mode)."""

    key = TextField(primary_key=True)
    value = TextField()
    updated_ms = StrictIntegerField()

    class Meta:
        table_name = "runtime_state"


class CursorRow(BaseModel):
    """cursors: named resume points (e.g. the fills cursor per symbol)."""

    name = TextField(primary_key=True)
    value = TextField()
    updated_ms = StrictIntegerField()

    class Meta:
        table_name = "cursors"


ALL_MODELS: tuple[type[BaseModel], ...] = (
    MetaRow,
    OrderRow,
    OrderEventRow,
    FillRow,
    LedgerEventRow,
    CycleRow,
    DecisionRow,
    MetricRow,
    RuntimeStateRow,
    CursorRow,
)
