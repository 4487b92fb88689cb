"""The real engine against the bundled simulator over loopback: paper, live, faults, recovery."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sim_testkit import sim_settings

from btcbot_engine.config import Settings
from btcbot_engine.domain.orders import OrderState
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator
from btcbot_engine.fill_sync import PER_PAIR_MAX
from btcbot_engine.store.db import open_database


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=3, tick_interval_s=0) as handle:
        yield handle


def _run(settings: Settings, cycles: int, **kw: object) -> Engine:
    engine = Engine(settings, **kw)  # type: ignore[arg-type]
    engine.run(RunOptions(loop=True, max_cycles=cycles, cycle_seconds=0.01))
    return engine


def _writes(sim: SimulatorHandle) -> list[tuple[str, str]]:
    return [(m, p) for _, m, p, _ in sim.control.request_log() if m in ("POST", "DELETE")]


def _push_through(sim: SimulatorHandle, symbol: str, factor: str) -> None:
    mid = sim.control.mid_price(symbol)
    sim.control.set_mid_price(symbol, mid * Decimal(factor), volume=Decimal("1000000"))
    sim.control.step(1)


def _await_exchange_ticker_older_than(sim: SimulatorHandle, symbol: str, age_ms: int) -> None:
    """Poll the exchange's own ticker timestamp until it is old (a condition, not a sleep)."""
    import time

    import httpx

    deadline = time.monotonic() + 10
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            data = client.get(f"{sim.base_url}/api/v2/ticker", params={"pairSymbol": symbol})
            stamp = data.json()["data"][0]["timestamp"]
            server_now = client.get(f"{sim.base_url}/api/v2/server/time").json()["serverTime"]
            if server_now - stamp > age_ms:
                return
    raise AssertionError(f"{symbol} ticker never got {age_ms} ms old")


def test_paper_loop_trades_without_a_single_exchange_write(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = sim_settings(sim, tmp_path, live=False)
    engine = _run(settings, 1)
    snap = engine.snapshot()
    assert snap is not None and snap.gates.mode.value == "PAPER"
    assert snap.open_orders, "the strategy should rest a passive buy"
    _push_through(sim, "BTCTRY", "0.97")
    _push_through(sim, "USDTTRY", "0.97")
    engine = _run(settings, 2)
    snap = engine.snapshot()
    assert snap is not None
    assert snap.recent_fills, "price pushed through the paper bids must fill them"
    assert snap.pnl.fees > 0
    assert _writes(sim) == [], "paper mode must never write to the exchange"
    assert sim.control.orders() == []


def test_live_orders_fill_and_ledger_matches_exchange_trades(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = sim_settings(sim, tmp_path, live=True)
    _run(settings, 1)
    orders = sim.control.orders()
    assert orders, "armed live mode should place the passive buys on the simulator"
    store = open_database(settings.state_db_path, account_key=settings.account_key)
    try:
        ours = {o.client_id: o for o in store.orders.list_all()}
    finally:
        store.close()
    for o in orders:
        assert o["orderClientId"] in ours
        record = ours[o["orderClientId"]]
        assert Decimal(o["price"]) == record.price  # quantized before sending, sent as is
    _push_through(sim, "BTCTRY", "0.97")
    _push_through(sim, "USDTTRY", "0.97")
    _run(settings, 2)
    trades = sim.control.trades()
    assert trades
    store = open_database(settings.state_db_path, account_key=settings.account_key)
    try:
        fills = {f.trade_id: f for f in store.fills.all()}
        ledger_refs = Counter(e.ref for e in store.ledger.all() if e.kind.value == "FILL")
    finally:
        store.close()
    assert set(fills) == {int(t["id"]) for t in trades}
    for t in trades:
        f = fills[int(t["id"])]
        assert f.price == Decimal(t["price"])
        assert f.quantity == abs(Decimal(t["amount"]))
        assert f.fee == abs(Decimal(t["fee"]))
        assert f.tax == abs(Decimal(t["tax"]))
        assert ledger_refs[str(t["id"])] == 1


def test_lost_acknowledgement_never_duplicates(sim: SimulatorHandle, tmp_path: Path) -> None:
    sim.control.set_faults(lost_submit_ack_remaining=10)
    settings = sim_settings(sim, tmp_path, live=True)
    _run(settings, 4)
    client_ids = [o["orderClientId"] for o in sim.control.orders()]
    assert client_ids, "the lost-ack submits were booked"
    assert len(client_ids) == len(set(client_ids))
    per_symbol = Counter(o["pairSymbol"] for o in sim.control.orders())
    assert all(n == 1 for n in per_symbol.values()), per_symbol
    store = open_database(settings.state_db_path, account_key=settings.account_key)
    try:
        states = {o.client_id: o.state for o in store.orders.list_all()}
    finally:
        store.close()
    for cid in client_ids:
        assert states[cid] in (OrderState.OPEN, OrderState.PARTIAL, OrderState.FILLED)


def test_frozen_market_places_nothing_and_says_why(sim: SimulatorHandle, tmp_path: Path) -> None:
    sim.control.set_faults(freeze_market=True)
    settings = sim_settings(sim, tmp_path, live=True, max_market_data_age_ms="200")
    _await_exchange_ticker_older_than(sim, "BTCTRY", 400)
    engine = _run(settings, 2)
    snap = engine.snapshot()
    assert snap is not None
    assert {u.symbol: u.quote_status for u in snap.universe if u.included} == {
        "BTCTRY": "stale",
        "USDTTRY": "stale",
    }
    assert sim.control.orders() == []
    store = open_database(settings.state_db_path, account_key=settings.account_key)
    try:
        reasons = {d.reason_code for d in store.decisions.recent(limit=200)}
    finally:
        store.close()
    assert "market_data:stale" in reasons


def test_kill_blocks_submits_and_cancels_ours(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(sim, tmp_path, live=True)
    _run(settings, 1)
    assert any(o["status"] in ("Untouched", "Partial") for o in sim.control.orders())
    engine = Engine(settings)
    engine.kill("test")
    engine.run(RunOptions(loop=True, max_cycles=1, cycle_seconds=0.01))
    sim.control.step(1)  # BTCTurk cancels asynchronously
    assert all(o["status"] not in ("Untouched", "Partial") for o in sim.control.orders())
    before = len(sim.control.orders())
    _run(settings, 2)  # persisted kill: a restart stays killed
    assert len(sim.control.orders()) == before


def test_a_wide_universe_reads_fills_in_one_call_per_cycle(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    symbols = "BTCTRY,ETHTRY,USDTTRY,AVAXTRY,XRPTRY,ADATRY"
    settings = sim_settings(sim, tmp_path, live=True, universe_symbols=symbols)
    _run(settings, 1)
    for symbol in ("BTCTRY", "USDTTRY", "AVAXTRY", "XRPTRY"):
        _push_through(sim, symbol, "0.97")
    before = len(sim.control.request_log())
    _run(settings, 3)
    fill_reads = [
        e for e in sim.control.request_log()[before:] if e[2] == "/api/v1/users/transactions/trade"
    ]
    # Start-up recovery reads its few pairs one by one, then one all-pairs read per cycle
    # (per pair, 3 cycles of 6 pairs would be 18).
    assert 0 < len(fill_reads) <= PER_PAIR_MAX + 3, fill_reads
    trades = sim.control.trades()
    assert len({t["numeratorSymbol"] for t in trades}) >= 2
    store = open_database(settings.state_db_path, account_key=settings.account_key)
    try:
        booked = {f.trade_id for f in store.fills.all()}
    finally:
        store.close()
    assert booked == {int(t["id"]) for t in trades}


def test_quiet_pairs_move_their_fill_cursor_with_an_all_pairs_read(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
    from btcbot_engine.fill_sync import sync_fills
    from btcbot_engine.ledger import Ledger

    settings = sim_settings(sim, tmp_path, live=True, universe_symbols="BTCTRY,USDTTRY")
    _run(settings, 1)
    _push_through(sim, "BTCTRY", "0.97")
    _push_through(sim, "USDTTRY", "0.97")
    newest = max(int(t["timestamp"]) for t in sim.control.trades())
    quiet = ["AVAXTRY", "XRPTRY", "ADATRY"]

    async def sync() -> tuple[object, dict[str, str | None]]:
        exchange = BtcturkExchange(
            sim.base_url, sim.graph_url, api_key=sim.api_key, api_secret=sim.api_secret
        )
        store = open_database(settings.state_db_path, account_key=settings.account_key)
        try:
            ledger = Ledger.replay(store.ledger.all())
            pairs = ["BTCTRY", "USDTTRY", *quiet]
            report = await sync_fills(exchange, store, ledger, pairs, {"TRY": Decimal(1)})
            return report, {s: store.cursors.get(f"fills:{s}") for s in quiet}
        finally:
            store.close()
            await exchange.close()

    report, cursors = asyncio.run(sync())
    assert not report.errors  # type: ignore[attr-defined]
    # The quiet pairs had no fill, yet the read covered them up to the newest row it saw.
    assert cursors == {s: str(newest) for s in quiet}
