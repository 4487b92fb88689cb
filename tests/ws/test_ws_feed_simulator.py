"""BtcturkFeed against the bundled simulator (REST + WS on 127.0.0.1), as the engine will use it.

Control calls go through `asyncio.to_thread`: the simulator runs its own loop in another thread,
and a control call must never block the loop our feed is reading on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from ws_testkit import WRONG_SECRET, running, wait_until

from btcbot_engine.exchange.btcturk.signing import sign
from btcbot_engine.exchange.btcturk.ws import BtcturkFeed, PrivateHint
from btcbot_engine.exchange.simulator import harness

PAIRS = ["BTCTRY", "USDTTRY"]


@pytest.fixture
def sim() -> Iterator[Any]:
    with harness.running_simulator(seed=1, tick_interval_s=0.1) as running_sim:
        yield running_sim


@pytest.fixture
def stepped_sim() -> Iterator[Any]:
    with harness.running_simulator(seed=1, tick_interval_s=0) as running_sim:
        yield running_sim


def make_feed(sim: Any, **kwargs: Any) -> BtcturkFeed:
    options: dict[str, Any] = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2}
    options.update(kwargs)
    return BtcturkFeed(sim.ws_url, PAIRS, **options)


def books_and_tickers_ready(feed: BtcturkFeed) -> bool:
    return all(feed.latest_ticker(s) is not None and feed.latest_book(s) is not None for s in PAIRS)


async def test_tickers_and_books_arrive_fresh_for_both_pairs(sim: Any) -> None:
    feed = make_feed(sim)
    async with running(feed):
        await wait_until(lambda: books_and_tickers_ready(feed), what="tickers and books")
        now_ms = time.time_ns() // 1_000_000
        for symbol in PAIRS:
            ticker = feed.latest_ticker(symbol)
            book = feed.latest_book(symbol)
            assert ticker is not None and book is not None
            assert ticker.symbol == book.symbol == symbol
            assert 0 < ticker.bid < ticker.ask
            assert all(isinstance(v, Decimal) for v in (ticker.last, ticker.volume, ticker.average))
            assert abs(now_ms - ticker.received_at_ms) < 5_000
            assert abs(now_ms - book.received_at_ms) < 5_000
            bids = [lvl.price for lvl in book.bids]
            asks = [lvl.price for lvl in book.asks]
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
            assert bids and asks and bids[0] < asks[0]
        # The books keep moving by diffs without a gap.
        first = feed.latest_book("BTCTRY")
        assert first is not None
        await wait_until(
            lambda: (
                (b := feed.latest_book("BTCTRY")) is not None
                and b.received_at_ms > first.received_at_ms
            ),
            what="a later diff",
        )
        status = feed.status
        assert status.gaps == 0 and status.malformed == 0 and status.book_invalidations == 0


def _rest_book(sim: Any, symbol: str) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    reply = httpx.get(f"{sim.base_url}/api/v2/orderbook", params={"pairSymbol": symbol}).json()
    data = reply["data"]
    return tuple(
        [(Decimal(str(p)), Decimal(str(a))) for p, a, *_ in data[side]] for side in ("bids", "asks")
    )


async def test_diff_book_matches_the_rest_book_after_steps(stepped_sim: Any) -> None:
    feed = make_feed(stepped_sim)
    async with running(feed):
        await wait_until(lambda: feed.latest_book("BTCTRY") is not None, what="snapshot")
        for _ in range(3):
            await asyncio.to_thread(stepped_sim.control.step, 5)
            bids, asks = await asyncio.to_thread(_rest_book, stepped_sim, "BTCTRY")

            def same_as_rest(bids: Any = bids, asks: Any = asks) -> bool:
                book = feed.latest_book("BTCTRY")
                if book is None:
                    return False
                ws_bids = [(lvl.price, lvl.quantity) for lvl in book.bids][: len(bids)]
                ws_asks = [(lvl.price, lvl.quantity) for lvl in book.asks][: len(asks)]
                return ws_bids == bids and ws_asks == asks

            assert bids and asks
            await wait_until(same_as_rest, what="WS book equal to the REST book")
        assert feed.status.gaps == 0 and feed.status.book_resyncs == 0


async def test_login_ok_with_the_test_keys(sim: Any) -> None:
    feed = make_feed(sim, api_key=sim.api_key, api_secret=sim.api_secret)
    async with running(feed):
        await wait_until(lambda: feed.status.logged_in is True, what="114 ok")
        await wait_until(lambda: books_and_tickers_ready(feed))


async def test_login_refused_with_a_wrong_secret_public_data_flows(sim: Any) -> None:
    feed = make_feed(sim, api_key=sim.api_key, api_secret=WRONG_SECRET)
    async with running(feed):
        await wait_until(lambda: feed.status.login_refusals == 1, what="114 refusal")
        status = feed.status
        assert status.logged_in is False
        assert status.last_error is not None and "Unauthorized" in status.last_error
        assert WRONG_SECRET not in status.last_error
        await wait_until(lambda: books_and_tickers_ready(feed))


async def test_disconnect_storm_reconnects_resubscribes_and_data_flows_again(sim: Any) -> None:
    feed = make_feed(sim, api_key=sim.api_key, api_secret=sim.api_secret)
    async with running(feed):
        await wait_until(lambda: books_and_tickers_ready(feed))
        for n in range(1, 4):
            await wait_until(lambda: feed.status.logged_in is True)
            await asyncio.to_thread(sim.control.drop_ws_connections)
            await wait_until(lambda n=n: feed.status.reconnects >= n, what=f"reconnect {n}")
        dropped_at = time.time_ns() // 1_000_000
        await wait_until(lambda: feed.status.logged_in is True, what="re-login")

        def fresh_again() -> bool:
            return books_and_tickers_ready(feed) and all(
                t is not None and t.received_at_ms >= dropped_at
                for t in (feed.latest_ticker(s) for s in PAIRS)
            )

        await wait_until(fresh_again, what="fresh data after the storm")
        status = feed.status
        assert status.reconnects == 3 and status.resubscribes >= 3
        assert status.connects == 4


async def test_periodic_disconnects_fault_is_survived(sim: Any) -> None:
    feed = make_feed(sim)
    async with running(feed):
        await wait_until(lambda: books_and_tickers_ready(feed))
        await asyncio.to_thread(sim.control.set_faults, ws_disconnect_every_s=0.3)
        await wait_until(lambda: feed.status.reconnects >= 2, what="two storm reconnects")
        await asyncio.to_thread(sim.control.set_faults, ws_disconnect_every_s=0.0)
        calm_since = time.time_ns() // 1_000_000
        await wait_until(
            lambda: (
                books_and_tickers_ready(feed)
                and all(
                    (t := feed.latest_ticker(s)) and t.received_at_ms >= calm_since for s in PAIRS
                )
            ),
            what="fresh data once the storm stops",
        )
        assert feed.status.gaps == 0  # every reconnect started from a fresh 431


async def test_ws_stall_trips_the_watchdog_and_data_resumes(sim: Any) -> None:
    feed = make_feed(sim, silence_timeout_s=0.5)
    async with running(feed):
        await wait_until(lambda: books_and_tickers_ready(feed))
        await asyncio.to_thread(sim.control.set_faults, ws_stall=True)
        await wait_until(lambda: feed.status.watchdog_timeouts >= 1, what="watchdog")
        assert "no frame" in (feed.status.last_error or "")
        await asyncio.to_thread(sim.control.set_faults, ws_stall=False)
        stalled_at = time.time_ns() // 1_000_000
        await wait_until(
            lambda: (
                (t := feed.latest_ticker("BTCTRY")) is not None
                and t.received_at_ms >= stalled_at
                and feed.latest_book("BTCTRY") is not None
            ),
            what="data after the stall",
        )


def _signed_headers(sim: Any) -> dict[str, str]:
    stamp = str(time.time_ns() // 1_000_000)
    return {
        "X-PCK": sim.api_key,
        "X-Stamp": stamp,
        "X-Signature": sign(sim.api_key, sim.api_secret, stamp),
        "Content-Type": "application/json",
    }


async def _order(http: httpx.AsyncClient, sim: Any, price: Decimal, client_id: str) -> int:
    reply = await http.post(
        "/api/v1/order",
        headers=_signed_headers(sim),
        json={
            "quantity": "0.001",
            "price": str(price),
            "orderMethod": "limit",
            "orderType": "buy",
            "pairSymbol": "BTCTRY",
            "newOrderClientId": client_id,
        },
    )
    assert reply.status_code == 200, reply.text
    return int(reply.json()["data"]["id"])


async def _hints_until(feed: BtcturkFeed, model: int) -> list[PrivateHint]:
    """Hints in arrival order up to and including the first of `model` (5 s at most)."""
    out: list[PrivateHint] = []
    async with asyncio.timeout(5):
        while not out or out[-1].model != model:
            out.append(await feed.hints.get())
    return out


async def test_private_hints_follow_orders_submitted_over_rest(sim: Any) -> None:
    feed = make_feed(sim, api_key=sim.api_key, api_secret=sim.api_secret)
    async with running(feed):
        await wait_until(lambda: feed.status.logged_in is True and books_and_tickers_ready(feed))
        book = feed.latest_book("BTCTRY")
        assert book is not None and book.best_bid is not None and book.best_ask is not None
        # BTCTRY: tick 10, no fraction. A buy 10 % under the bid rests: 451, then 452 on cancel.
        resting = (book.best_bid * Decimal("0.9") / 10).to_integral_value() * 10
        client_id = f"ws-rest-{uuid.uuid4().hex[:12]}"
        async with httpx.AsyncClient(base_url=sim.base_url, timeout=5) as http:
            order_id = await _order(http, sim, resting, client_id)
            [inserted] = await _hints_until(feed, 451)
            assert inserted == PrivateHint(451, "BTCTRY", order_id, client_id)
            cancel = await http.delete(
                "/api/v1/order", params={"id": order_id}, headers=_signed_headers(sim)
            )
            assert cancel.status_code == 200, cancel.text
            deleted = (await _hints_until(feed, 452))[-1]
            assert deleted == PrivateHint(452, "BTCTRY", order_id, client_id)

            # A buy 2 % over the ask takes liquidity: 441 and 423 name the order and client id.
            taking = (book.best_ask * Decimal("1.02") / 10).to_integral_value() * 10
            client_id = f"ws-take-{uuid.uuid4().hex[:12]}"
            order_id = await _order(http, sim, taking, client_id)
            hints = await _hints_until(feed, 423)
            by_model = {h.model: h for h in hints}
            assert by_model[441] == PrivateHint(441, "BTCTRY", order_id, client_id)
            assert by_model[423] == PrivateHint(423, "BTCTRY", order_id, client_id)
        assert feed.status.malformed == 0
