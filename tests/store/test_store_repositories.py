"""Repositories take and return domain objects; constraints surface as StoreError subclasses."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from store_helpers import FakeClock, make_fill, make_order

from btcbot_engine.domain.orders import OrderState
from btcbot_engine.domain.records import (
    CycleRecord,
    Decision,
    DecisionStage,
    LedgerEvent,
    LedgerKind,
    MetricPoint,
    OrderEvent,
)
from btcbot_engine.store.db import (
    IntegrityViolation,
    RecordNotFound,
    StaleState,
    Store,
    StoreError,
    open_database,
    translate_errors,
)
from btcbot_engine.store.models import OrderEventRow
from btcbot_engine.store.repositories import KILL_SWITCH

# -- orders ----------------------------------------------------------------------------------------


def test_order_insert_and_lookups(store: Store) -> None:
    order = make_order("c-1", exchange_order_id=None)
    store.orders.insert(order)
    assert store.orders.get("c-1") == order
    assert store.orders.by_idempotency_key("idem-c-1") == order
    assert store.orders.get("missing") is None
    assert store.orders.by_idempotency_key("missing") is None
    assert store.orders.by_exchange_id(1) is None
    [created] = store.orders.events("c-1")
    assert (created.from_state, created.to_state, created.detail) == (
        None,
        OrderState.NEW,
        "created",
    )


def test_market_order_without_price(store: Store) -> None:
    store.orders.insert(make_order("mkt", price=None))
    record = store.orders.get("mkt")
    assert record is not None and record.price is None


def test_duplicate_client_id_or_idempotency_key_is_refused(store: Store) -> None:
    store.orders.insert(make_order("c-1"))
    with pytest.raises(IntegrityViolation):
        store.orders.insert(make_order("c-1", idempotency_key="other"))
    with pytest.raises(IntegrityViolation):
        store.orders.insert(make_order("c-2", idempotency_key="idem-c-1"))
    assert [o.client_id for o in store.orders.list_all()] == ["c-1"]
    assert len(store.orders.events("c-1")) == 1


def test_update_state_writes_an_event_in_the_same_transaction(
    store: Store, clock: FakeClock
) -> None:
    store.orders.insert(make_order("c-1"))
    clock.advance(10)
    updated = store.orders.update_state(
        "c-1", OrderState.SUBMITTING, detail="sending", expected_state=OrderState.NEW
    )
    assert updated.state is OrderState.SUBMITTING
    assert updated.updated_ms == clock.now_ms
    updated = store.orders.update_state(
        "c-1",
        OrderState.OPEN,
        ts_ms=1_700_000_000_999,
        exchange_order_id=1181163798924649001,
        detail="ack",
    )
    assert updated.exchange_order_id == 1181163798924649001
    assert store.orders.by_exchange_id(1181163798924649001) == updated
    updated = store.orders.update_state(
        "c-1", OrderState.PARTIAL, ts_ms=1_700_000_001_000, filled_quantity=Decimal("0.0001")
    )
    assert updated.filled_quantity == Decimal("0.0001")
    assert updated.exchange_order_id == 1181163798924649001  # KEEP leaves it alone
    events = store.orders.events("c-1")
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, OrderState.NEW),
        (OrderState.NEW, OrderState.SUBMITTING),
        (OrderState.SUBMITTING, OrderState.OPEN),
        (OrderState.OPEN, OrderState.PARTIAL),
    ]
    assert events[1] == OrderEvent(
        client_id="c-1",
        from_state=OrderState.NEW,
        to_state=OrderState.SUBMITTING,
        ts_ms=clock.now_ms,
        detail="sending",
        id=events[1].id,
    )
    assert events[2].ts_ms == 1_700_000_000_999


def test_update_state_sets_and_clears_nullable_columns(store: Store) -> None:
    store.orders.insert(make_order("c-1"))
    record = store.orders.update_state(
        "c-1", OrderState.UNKNOWN, ts_ms=1, last_error="timeout", reason="lost reply"
    )
    assert (record.last_error, record.reason) == ("timeout", "lost reply")
    record = store.orders.update_state("c-1", OrderState.OPEN, ts_ms=2, last_error=None)
    assert (record.last_error, record.reason) == (None, "lost reply")


def test_compare_and_set_mismatch_changes_nothing(store: Store) -> None:
    store.orders.insert(make_order("c-1"))
    with pytest.raises(StaleState, match="NEW"):
        store.orders.update_state("c-1", OrderState.CANCELED, expected_state=OrderState.OPEN)
    record = store.orders.get("c-1")
    assert record is not None and record.state is OrderState.NEW
    assert len(store.orders.events("c-1")) == 1


def test_update_of_unknown_order_is_refused(store: Store) -> None:
    with pytest.raises(RecordNotFound):
        store.orders.update_state("ghost", OrderState.OPEN)
    assert OrderEventRow.select().count() == 0


def test_open_and_unknown_listings(store: Store) -> None:
    states = {
        "a-new": OrderState.NEW,
        "b-open": OrderState.OPEN,
        "c-filled": OrderState.FILLED,
        "d-unknown": OrderState.UNKNOWN,
        "e-canceled": OrderState.CANCELED,
        "f-rejected": OrderState.REJECTED,
        "g-canceling": OrderState.CANCELING,
    }
    for i, (client_id, state) in enumerate(states.items()):
        store.orders.insert(make_order(client_id, state=state, created_ms=i))
    store.orders.insert(
        make_order("h-eth", symbol="ETHTRY", state=OrderState.UNKNOWN, created_ms=9)
    )
    assert [o.client_id for o in store.orders.list_open()] == [
        "a-new",
        "b-open",
        "d-unknown",
        "g-canceling",
        "h-eth",
    ]
    assert [o.client_id for o in store.orders.list_open("ETHTRY")] == ["h-eth"]
    assert [o.client_id for o in store.orders.list_unknown()] == ["d-unknown", "h-eth"]
    assert [o.client_id for o in store.orders.list_unknown("BTCTRY")] == ["d-unknown"]


def test_exchange_id_lookup_prefers_the_newest(store: Store) -> None:
    store.orders.insert(make_order("old", exchange_order_id=7, created_ms=1))
    store.orders.insert(make_order("new", exchange_order_id=7, created_ms=2))
    found = store.orders.by_exchange_id(7)
    assert found is not None and found.client_id == "new"


def test_foreign_keys_are_enforced(store: Store) -> None:
    # An event for an order that does not exist must fail: proves PRAGMA foreign_keys is on.
    with pytest.raises(IntegrityViolation, match="FOREIGN KEY"), translate_errors("raw event"):
        OrderEventRow.insert(client_id="ghost", to_state="NEW", ts_ms=1, detail="").execute()
    assert OrderEventRow.select().count() == 0


# -- fills -----------------------------------------------------------------------------------------


def test_fill_dedupe_by_trade_id(store: Store) -> None:
    fill = make_fill()
    assert store.fills.insert_if_new(fill) is True
    assert store.fills.insert_if_new(fill) is False
    # A second report of the same trade never overwrites the first.
    assert store.fills.insert_if_new(make_fill(price=Decimal("1"))) is False
    assert store.fills.all() == [fill]


def test_broken_fill_is_an_error_not_a_duplicate(store: Store) -> None:
    # ON CONFLICT(trade_id) DO NOTHING, unlike INSERT OR IGNORE, does not hide NOT NULL failures.
    with pytest.raises(IntegrityViolation):
        store.fills.insert_if_new(make_fill(fee_asset=None))
    assert store.fills.all() == []


def test_fill_listings(store: Store) -> None:
    fills = [
        make_fill(trade_id=3, timestamp_ms=300, order_id=1),
        make_fill(trade_id=1, timestamp_ms=100, order_id=1),
        make_fill(trade_id=2, timestamp_ms=200, symbol="ETHTRY", base="ETH", order_id=2),
        make_fill(trade_id=4, timestamp_ms=300, order_id=3),
    ]
    for fill in fills:
        assert store.fills.insert_if_new(fill)
    assert [f.trade_id for f in store.fills.all()] == [1, 2, 3, 4]
    assert [f.trade_id for f in store.fills.list_by_symbol("BTCTRY")] == [1, 3, 4]
    assert [f.trade_id for f in store.fills.list_by_symbol("BTCTRY", since_ms=300)] == [3, 4]
    assert [f.trade_id for f in store.fills.for_order(1)] == [1, 3]
    assert store.fills.get(2) == fills[2]


# -- ledger ----------------------------------------------------------------------------------------


def _entry(ts: int, asset: str, qty: str, ref: str | None = None) -> LedgerEvent:
    return LedgerEvent(
        ts_ms=ts,
        kind=LedgerKind.FILL,
        asset=asset,
        quantity=Decimal(qty),
        amount_quote=Decimal("308.6433"),
        symbol="BTCTRY",
        price=Decimal("2500000.5"),
        ref=ref,
        detail="buy",
    )


def test_ledger_append_and_order(store: Store) -> None:
    first = store.ledger.append(_entry(5, "BTC", "0.00012345", ref="1181163798924649598"))
    more = store.ledger.append_many(
        [_entry(1, "TRY", "-308.6433", ref="1181163798924649598"), _entry(9, "BTC", "1e-18")]
    )
    assert first.seq is not None
    assert [e.seq for e in more] == [first.seq + 1, first.seq + 2]
    everything = store.ledger.all()
    assert everything == [first, *more]  # seq order, not timestamp order
    assert everything[2].quantity == Decimal("1e-18")
    assert store.ledger.since(first.seq) == more
    assert [e.asset for e in store.ledger.by_ref("1181163798924649598")] == ["BTC", "TRY"]


# -- decisions, cycles, metrics --------------------------------------------------------------------


def test_decisions_bulk_insert_and_recent(store: Store) -> None:
    decisions = [
        Decision(
            run_id="r",
            cycle_id=f"cy-{i // 100}",
            ts_ms=i,
            stage=DecisionStage.RISK,
            action="skip",
            reason_code="risk:budget",
            symbol="BTCTRY" if i % 2 else None,
            detail={"budget": Decimal("12.50"), "i": i},
        )
        for i in range(450)  # more than one multi-row INSERT chunk
    ]
    assert store.decisions.insert_many(decisions) == 450
    assert store.decisions.insert_many([]) == 0
    recent = store.decisions.recent(limit=3)
    assert [d.ts_ms for d in recent] == [449, 448, 447]
    assert recent[0].detail == {"budget": "12.50", "i": 449}  # Decimals come back as text
    assert recent[0].stage is DecisionStage.RISK
    assert len(store.decisions.recent(limit=1000, cycle_id="cy-4")) == 50
    assert all(d.symbol == "BTCTRY" for d in store.decisions.recent(symbol="BTCTRY"))


def test_cycles_start_finish_recent(store: Store) -> None:
    store.cycles.start(CycleRecord(cycle_id="cy-1", run_id="r", started_ms=10, mode="paper"))
    store.cycles.start(CycleRecord(cycle_id="cy-2", run_id="r", started_ms=20, mode="paper"))
    with pytest.raises(IntegrityViolation):
        store.cycles.start(CycleRecord(cycle_id="cy-1", run_id="r", started_ms=30, mode="paper"))
    finished = store.cycles.finish(
        "cy-1", finished_ms=15, outcome="ok", summary={"orders": 2, "pnl": Decimal("-1.5")}
    )
    assert finished == CycleRecord(
        cycle_id="cy-1",
        run_id="r",
        started_ms=10,
        mode="paper",
        finished_ms=15,
        outcome="ok",
        summary={"orders": 2, "pnl": "-1.5"},
    )
    assert [c.cycle_id for c in store.cycles.recent()] == ["cy-2", "cy-1"]
    assert store.cycles.get("cy-2") == CycleRecord(
        cycle_id="cy-2", run_id="r", started_ms=20, mode="paper"
    )
    with pytest.raises(RecordNotFound):
        store.cycles.finish("nope", finished_ms=1, outcome="ok")


def test_metrics_record_and_recent(store: Store) -> None:
    store.metrics.record(MetricPoint(ts_ms=1, name="latency_ms", value=Decimal("12.5")))
    store.metrics.record_many(
        [
            MetricPoint(ts_ms=2, name="latency_ms", value=Decimal("7"), labels={"ep": "ticker"}),
            MetricPoint(ts_ms=2, name="equity", value=Decimal("1000.00")),
        ]
    )
    recent = store.metrics.recent("latency_ms")
    assert [(p.ts_ms, p.value, dict(p.labels)) for p in recent] == [
        (2, Decimal("7"), {"ep": "ticker"}),
        (1, Decimal("12.5"), {}),
    ]
    assert store.metrics.recent("latency_ms", limit=1)[0].ts_ms == 2
    assert store.metrics.recent("nothing") == []


# -- runtime state, cursors ------------------------------------------------------------------------


def test_kill_switch_and_safe_mode_survive_a_restart(db_path: Path) -> None:
    with open_database(db_path) as store:
        assert store.runtime.kill_switch() is False
        assert store.runtime.safe_mode() is False
        store.runtime.set_kill_switch(True)
        store.runtime.set_safe_mode(True)
    with open_database(db_path) as store:
        assert store.runtime.kill_switch() is True
        assert store.runtime.safe_mode() is True
        store.runtime.set_safe_mode(False)
        assert store.runtime.safe_mode() is False
        assert store.runtime.all() == {"kill_switch": "true", "safe_mode": "false"}


def test_runtime_bool_helpers(store: Store, clock: FakeClock) -> None:
    assert store.runtime.get_bool("flag", default=True) is True
    store.runtime.set_bool("flag", False)
    assert store.runtime.get_bool("flag", default=True) is False
    store.runtime.set(KILL_SWITCH, "maybe")
    with pytest.raises(StoreError, match="not a boolean"):
        store.runtime.kill_switch()
    with pytest.raises(TypeError):
        store.runtime.set_bool("flag", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.runtime.set("flag", 1)  # type: ignore[arg-type]


def test_cursors(store: Store, clock: FakeClock, db_path: Path) -> None:
    assert store.cursors.get("fills:BTCTRY") is None
    store.cursors.set("fills:BTCTRY", "1181163798924649598")
    clock.advance(5)
    store.cursors.set("fills:BTCTRY", "1181163798924649599")
    store.cursors.set("fills:ETHTRY", "1")
    assert store.cursors.get("fills:BTCTRY") == "1181163798924649599"
    assert store.cursors.all() == {"fills:BTCTRY": "1181163798924649599", "fills:ETHTRY": "1"}
    conn = sqlite3.connect(db_path)
    try:
        [(updated,)] = conn.execute(
            "SELECT updated_ms FROM cursors WHERE name = 'fills:BTCTRY'"
        ).fetchall()
    finally:
        conn.close()
    assert updated == clock.now_ms


def test_errors_are_store_errors_not_peewee(store: Store) -> None:
    store.orders.insert(make_order("c-1"))
    with pytest.raises(StoreError) as info:
        store.orders.insert(make_order("c-1"))
    assert type(info.value).__module__ == "btcbot_engine.store.db"


def test_recent_fills_and_last_order_per_symbol_are_bounded_queries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace as _replace
    from decimal import Decimal as D

    from btcbot_engine.domain.fills import Fill
    from btcbot_engine.domain.orders import OrderMethod, OrderState, Side
    from btcbot_engine.domain.records import OrderRecord
    from btcbot_engine.store.db import open_database

    store = open_database(tmp_path / "b.db")
    try:
        base = Fill(
            1,
            9,
            None,
            "BTCTRY",
            "BTC",
            "TRY",
            Side.BUY,
            D("1"),
            D("1"),
            D("0"),
            D("0"),
            "TRY",
            1000,
        )
        for i in range(5):
            store.fills.insert_if_new(_replace(base, trade_id=10 + i, timestamp_ms=1000 + i))
        assert [f.trade_id for f in store.fills.recent(3)] == [14, 13, 12]

        def order(cid: str, symbol: str, created: int) -> OrderRecord:
            return OrderRecord(
                cid,
                symbol,
                Side.BUY,
                OrderMethod.LIMIT,
                D("1"),
                D("1"),
                D("0"),
                OrderState.NEW,
                f"k-{cid}",
                "h",
                "r",
                "c",
                "i",
                created,
                created,
            )

        store.orders.insert(order("a", "BTCTRY", 100))
        store.orders.insert(order("b", "BTCTRY", 300))
        store.orders.insert(order("c", "ETHTRY", 200))
        store.orders.update_state("b", OrderState.REJECTED, ts_ms=301)
        assert store.orders.last_created_by_symbol() == {"BTCTRY": 300, "ETHTRY": 200}
        assert store.orders.last_created_by_symbol(excluding=OrderState.REJECTED) == {
            "BTCTRY": 100,
            "ETHTRY": 200,
        }
    finally:
        store.close()
