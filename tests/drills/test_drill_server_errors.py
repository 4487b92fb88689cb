"""5xx bursts, HTML error pages and replies slower than HTTP_TIMEOUT_SECONDS.

What must hold: every failure reaches the engine as a typed ExchangeError (never a stray
exception), a cycle that could not read our orders or fills sends no new order (fail closed),
nothing crashes, and trading resumes by itself once the exchange answers again.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from drills_testkit import (
    TRY_PAIRS,
    drill_settings,
    opened_store,
    record_figure,
    request_log,
    run_engine,
    status_counts,
)

from btcbot_engine.cycle import UNRECONCILED_REASON
from btcbot_engine.domain.orders import OrderMethod, OrderRequest, OrderState, Side
from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
from btcbot_engine.exchange.port import (
    ExchangeUnavailable,
    RateLimited,
    SubmitUncertain,
)
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator
from btcbot_engine.guard import PreWriteGuard, SafetyFlags

FILLS_PATH = "/api/v1/users/transactions/trade"
ORDER_PATH = "/api/v1/order"


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=21, tick_interval_s=0.05) as handle:
        yield handle


@pytest.fixture
async def adapter(sim: SimulatorHandle, tmp_path: Path) -> AsyncIterator[BtcturkExchange]:
    """The live adapter, armed through the real pre-write guard, with a short timeout."""
    settings = drill_settings(sim, tmp_path / "state.db")
    exchange = BtcturkExchange(
        sim.base_url,
        sim.graph_url,
        api_key=sim.api_key,
        api_secret=sim.api_secret,
        write_guard=PreWriteGuard(settings, SafetyFlags(), live=True).check,
        timeout_s=0.3,
        max_retries=1,
        retry_base_s=0.01,
    )
    await exchange.measure_clock_offset()
    try:
        yield exchange
    finally:
        await exchange.close()


def _buy(sim: SimulatorHandle) -> OrderRequest:
    bid, _ask = sim.control.best_prices("BTCTRY")
    return OrderRequest(
        symbol="BTCTRY",
        side=Side.BUY,
        method=OrderMethod.LIMIT,
        quantity=Decimal("0.001"),
        price=bid - 1000,
        client_id=f"drill{uuid.uuid4().hex[:24]}",
    )


def _booked(sim: SimulatorHandle, client_id: str) -> list[dict[str, object]]:
    return [o for o in sim.control.orders() if o["orderClientId"] == client_id]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_html_pages_become_typed_errors(
    sim: SimulatorHandle, adapter: BtcturkExchange, status: int
) -> None:
    # max_retries=1: two attempts per read, so a burst of 2 exhausts one call.
    sim.control.set_faults(html_errors=True, server_error_status=status)
    reads = {
        "tickers": lambda: adapter.tickers(None),
        "balances": adapter.balances,
        "open orders": lambda: adapter.open_orders("BTCTRY"),
        "fills": lambda: adapter.fills("BTCTRY"),
    }
    for name, call in reads.items():
        sim.control.set_faults(server_error_remaining=2)
        with pytest.raises(ExchangeUnavailable) as caught:
            await call()
        message = str(caught.value)
        assert f"HTTP {status}: non-JSON body" in message, (name, message)
        assert "\n" not in message, "the error is one line, the page's newlines escaped"

    # A submit answered by a 5xx may or may not be booked: uncertain, never retried.
    request = _buy(sim)
    sim.control.set_faults(server_error_remaining=1)
    with pytest.raises(SubmitUncertain) as uncertain:
        await adapter.submit(request)
    assert uncertain.value.client_id == request.client_id
    posts = [r for r in request_log(sim) if r.method == "POST"]
    assert len(posts) == 1, "a submit is never retried after a 5xx"

    # The burst is over: the very same calls work again.
    assert await adapter.tickers(["BTCTRY"])
    assert await adapter.balances()
    ack = await adapter.submit(_buy(sim))
    sim.control.set_faults(server_error_remaining=1)
    with pytest.raises(ExchangeUnavailable, match="may or may not have been accepted"):
        await adapter.cancel(ack.order_id)
    await adapter.cancel(ack.order_id)  # the second attempt, after the burst, is accepted


async def test_html_429_page_still_honours_retry_after(
    sim: SimulatorHandle, adapter: BtcturkExchange
) -> None:
    sim.control.set_faults(html_errors=True, rate_limit_remaining=1, retry_after_s=45)
    with pytest.raises(RateLimited) as caught:
        await adapter.balances()  # 45 s is past the 30 s retry budget: refused at once
    assert caught.value.retry_after == 45
    assert adapter.budget_used()["balances"] == 1.0, "the group is held for Retry-After"


async def test_replies_slower_than_the_timeout_are_typed_and_writes_uncertain(
    sim: SimulatorHandle, adapter: BtcturkExchange
) -> None:
    sim.control.set_faults(slow_reply_s=0.8)
    with pytest.raises(ExchangeUnavailable, match=r"no reply within 0\.3 s"):
        await adapter.tickers(None)
    with pytest.raises(ExchangeUnavailable, match=r"no reply within 0\.3 s"):
        await adapter.balances()
    request = _buy(sim)
    with pytest.raises(SubmitUncertain):
        await adapter.submit(request)
    # The slow reply came after booking: the order exists, which is why it is "uncertain".
    assert len(_booked(sim, request.client_id)) == 1
    order_id = int(_booked(sim, request.client_id)[0]["id"])  # type: ignore[call-overload]
    with pytest.raises(ExchangeUnavailable, match="may or may not have been accepted"):
        await adapter.cancel(order_id)
    sim.control.set_faults(slow_reply_s=0)
    found = await adapter.orders_by_client_id("BTCTRY", request.client_id)
    assert [o.order_id for o in found] == [order_id], "resolved by client id, not resent"
    assert len(_booked(sim, request.client_id)) == 1


@pytest.mark.slow
def test_engine_under_5xx_bursts_fails_closed_and_recovers(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = drill_settings(
        sim,
        tmp_path / "state.db",
        universe_symbols=TRY_PAIRS,
        ttl_seconds="1",
        max_orders_per_cycle="5",
    )
    # Bursts aimed at our order and fill reads (each longer than one call's retries) and
    # everything else, all as Cloudflare HTML pages.
    bursts = {
        3: {"server_error_path": FILLS_PATH, "server_error_remaining": 6},
        7: {"server_error_path": "", "server_error_remaining": 12},
    }

    def on_snapshot(snap: object) -> None:
        burst = bursts.get(snap.status.cycle_count)  # type: ignore[attr-defined]
        if burst is not None:
            sim.control.set_faults(html_errors=True, **burst)

    engine = run_engine(settings, 12, cycle_seconds=0.2, on_snapshot=on_snapshot)

    log = request_log(sim)
    statuses = status_counts(log)
    assert statuses[503] == 18, statuses
    snap = engine.snapshot()
    assert snap is not None and snap.engine_error is None, "no cycle crashed"
    failed_closed = unreconciled = 0
    with opened_store(settings) as store:
        cycles = store.cycles.recent(limit=50)
        assert len(cycles) == 12
        assert all(c.finished_ms is not None and c.outcome in ("ok", "error") for c in cycles)
        for c in cycles:
            decisions = store.decisions.recent(limit=500, cycle_id=c.cycle_id)
            codes = Counter(d.reason_code for d in decisions)
            errors = " ".join(c.summary.get("errors", []))
            if any(part in errors for part in ("fills:", "reconcile:", "tickers:")):
                failed_closed += 1
                assert "HTTP 503: non-JSON body" in errors
                assert codes["oms:submitted"] == 0 and codes["oms:unknown"] == 0, (
                    f"cycle {c.cycle_id} could not read the exchange but submitted: {codes}"
                )
            if "fills:" in errors or "reconcile:" in errors:
                unreconciled += 1
                assert any(UNRECONCILED_REASON in d.detail.get("reasons", "") for d in decisions)
        # Trading resumed after the last burst.
        last = sorted(cycles, key=lambda c: c.started_ms)[-3:]
        resumed = sum(
            1
            for c in last
            for d in store.decisions.recent(limit=500, cycle_id=c.cycle_id)
            if d.reason_code == "oms:submitted"
        )
        states = Counter(o.state for o in store.orders.list_all())
    assert unreconciled >= 1, "the fills burst was meant to break reconciliation"
    assert failed_closed >= 2, "the bursts were meant to break two cycles"
    assert resumed > 0, "no order placed after the bursts"
    assert states[OrderState.UNKNOWN] == 0 and states[OrderState.SUBMITTING] == 0
    record_figure("5xx bursts: HTML 503 replies survived", statuses[503])
    record_figure("5xx bursts: cycles failed closed (no submit)", failed_closed)


def test_engine_with_submits_slower_than_the_timeout_resolves_every_unknown(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = drill_settings(
        sim,
        tmp_path / "state.db",
        universe_symbols=TRY_PAIRS,
        max_orders_per_cycle="5",
        http_timeout_seconds="0.3",
    )
    sim.control.set_faults(slow_reply_s=0.8, slow_reply_path=ORDER_PATH)
    run_engine(settings, 2, cycle_seconds=0.05)
    with opened_store(settings) as store:
        unknown = store.orders.list_unknown()
    assert unknown, "submits past the timeout must end UNKNOWN, not OPEN or REJECTED"
    sim.control.set_faults(slow_reply_s=0)
    run_engine(settings, 2, cycle_seconds=0.05)

    orders = sim.control.orders()
    client_ids = [o["orderClientId"] for o in orders]
    assert len(client_ids) == len(set(client_ids)), "a client id was sent twice"
    with opened_store(settings) as store:
        ours = {o.client_id: o for o in store.orders.list_all()}
    for o in orders:
        record = ours[str(o["orderClientId"])]
        assert record.exchange_order_id == o["id"]
        assert record.state not in (OrderState.UNKNOWN, OrderState.SUBMITTING)
    record_figure("slow submits: UNKNOWN orders resolved by client id", len(unknown))
