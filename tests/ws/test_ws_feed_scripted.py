"""BtcturkFeed against a scripted server over real 127.0.0.1 sockets: exact frames, exact faults."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import pytest
from ws_testkit import (
    API_KEY,
    API_SECRET,
    WRONG_SECRET,
    FakeClock,
    Peer,
    ScriptedServer,
    diff_body,
    running,
    snapshot_body,
    ticker_body,
    wait_until,
)

from btcbot_engine.exchange.btcturk.signing import sign
from btcbot_engine.exchange.btcturk.ws import BtcturkFeed, FeedStatus, PrivateHint

WS_LOGGER = "btcbot_engine.exchange.btcturk.ws"


def make_feed(url: str, **kwargs: object) -> BtcturkFeed:
    options: dict[str, object] = {
        "symbols": ["BTCTRY"],
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
    }
    options.update(kwargs)
    return BtcturkFeed(url, **options)  # type: ignore[arg-type]


async def subscribed(server: ScriptedServer, count: int, connection: int = 0) -> Peer:
    """Wait for connection #`connection` to have sent `count` 151 frames; return it."""
    await wait_until(
        lambda: (
            len(server.peers) > connection and len(server.peers[connection].frames(151)) >= count
        ),
        what=f"{count} subscriptions on connection {connection}",
    )
    return server.peers[connection]


# --------------------------------------------------------------------------- subscribe, tickers


async def test_subscribes_one_channel_and_pair_per_frame_uppercase() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url, symbols=["btctry", "USDT_TRY"])
        async with running(feed):
            peer = await subscribed(server, 4)
            await wait_until(lambda: feed.status.connected)
            assert peer.subscriptions() == [
                ("ticker", "BTCTRY", True),
                ("ticker", "USDTTRY", True),
                ("obdiff", "BTCTRY", True),
                ("obdiff", "USDTTRY", True),
            ]
            assert all(body["type"] == 151 for body in peer.frames(151))
            assert peer.frames(114) == []  # no keys, no login
            status = feed.status
            assert isinstance(status, FeedStatus)
            assert status.logged_in is None and status.connects == 1 and status.reconnects == 0
        assert feed.status.connected is False


async def test_ticker_402_becomes_decimal_ticker_with_receive_time() -> None:
    clock = FakeClock(1_700_000_123_456)
    async with ScriptedServer() as server:
        feed = make_feed(server.url, clock=clock)
        async with running(feed):
            peer = await subscribed(server, 2)
            await peer.send(402, ticker_body("BTCTRY", B="3100000.5", A="3100600"))
            await wait_until(lambda: feed.latest_ticker("BTCTRY") is not None)
            ticker = feed.latest_ticker("btc_try")
            assert ticker is not None
            assert ticker.bid == Decimal("3100000.5") and ticker.ask == Decimal("3100600")
            assert ticker.last == Decimal("3100250") and ticker.volume == Decimal("16.43392495")
            assert ticker.received_at_ms == ticker.exchange_ts_ms == 1_700_000_123_456
            assert feed.status.last_message_ms == 1_700_000_123_456
            assert feed.latest_ticker("ETHTRY") is None


async def test_ticker_401_items() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url, symbols=["BTCTRY", "USDTTRY"])
        async with running(feed):
            peer = await subscribed(server, 4)
            items = [ticker_body("BTCTRY"), ticker_body("USDTTRY", B="34.1", A="34.2")]
            for item in items:
                del item["type"]
            await peer.send(401, {"items": items, "channel": "ticker", "event": "all", "type": 401})
            await wait_until(lambda: feed.latest_ticker("USDTTRY") is not None)
            ticker = feed.latest_ticker("USDTTRY")
            assert ticker is not None and ticker.bid == Decimal("34.1")


# --------------------------------------------------------------------------- books


async def test_snapshot_then_diffs_build_the_book() -> None:
    clock = FakeClock(1000)
    async with ScriptedServer() as server:
        feed = make_feed(server.url, clock=clock)
        async with running(feed):
            peer = await subscribed(server, 2)
            await peer.send(
                431, snapshot_body(10, [("99", "1"), ("101", "2")], [("105", "1"), ("103", "2")])
            )
            await wait_until(lambda: feed.latest_book("BTCTRY") is not None)
            clock.now = 2000
            await peer.send(
                432,
                diff_body(
                    11,
                    bids=[(0, "101", "5"), (1, "100", "1"), (3, "99", "1")],
                    asks=[(1, "102", "0.5")],
                ),
            )
            await wait_until(
                lambda: (b := feed.latest_book("BTCTRY")) is not None and len(b.asks) == 3
            )
            book = feed.latest_book("BTCTRY")
            assert book is not None
            assert [(lvl.price, lvl.quantity) for lvl in book.bids] == [
                (Decimal("101"), Decimal("5")),
                (Decimal("100"), Decimal("1")),
            ]
            assert [lvl.price for lvl in book.asks] == [Decimal(102), Decimal(103), Decimal(105)]
            assert book.received_at_ms == 2000
            assert feed.status.gaps == 0 and feed.status.book_resyncs == 0


async def _book_ready(peer: Peer, feed: BtcturkFeed, cs: int = 10) -> None:
    await peer.send(431, snapshot_body(cs, [("100", "1")], [("101", "1")]))
    await wait_until(lambda: feed.latest_book("BTCTRY") is not None, what="first book")


async def test_cs_gap_fails_closed_and_resubscribes_the_pair() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url)
        async with running(feed):
            peer = await subscribed(server, 2)
            await _book_ready(peer, feed)
            await peer.send(432, diff_body(12, bids=[(1, "99", "1")]))  # 11 is missing
            await wait_until(lambda: feed.status.gaps == 1)
            assert feed.latest_book("BTCTRY") is None
            await wait_until(lambda: len(peer.frames(151)) == 4, what="leave + join")
            assert peer.subscriptions()[2:] == [
                ("obdiff", "BTCTRY", False),
                ("obdiff", "BTCTRY", True),
            ]
            # Diffs of the old subscription still in flight are dropped, not a second resync.
            await peer.send(432, diff_body(13))
            await peer.send(402, ticker_body())  # a marker: when it is read, so was the 432
            await wait_until(lambda: feed.latest_ticker("BTCTRY") is not None)
            assert feed.status.book_resyncs == 1 and feed.status.gaps == 1
            assert feed.latest_book("BTCTRY") is None
            # The server answers the join with a fresh snapshot; the book is back and moves on.
            await peer.send(431, snapshot_body(500, [("90", "1")], [("95", "1")]))
            await peer.send(432, diff_body(501, asks=[(1, "96", "2")]))
            await wait_until(
                lambda: (b := feed.latest_book("BTCTRY")) is not None and len(b.asks) == 2
            )
            status = feed.status
            assert status.resubscribes == 1 and status.book_invalidations == 1


async def test_diff_before_any_snapshot_fails_closed_and_resubscribes() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url)
        async with running(feed):
            peer = await subscribed(server, 2)
            await peer.send(432, diff_body(5, bids=[(1, "99", "1")]))
            await wait_until(lambda: feed.status.gaps == 1)
            assert feed.latest_book("BTCTRY") is None
            await wait_until(lambda: ("obdiff", "BTCTRY", False) in peer.subscriptions())
            await _book_ready(peer, feed, cs=6)


async def test_crossed_book_after_diff_fails_closed_and_resubscribes() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url)
        async with running(feed):
            peer = await subscribed(server, 2)
            await _book_ready(peer, feed)
            await peer.send(432, diff_body(11, bids=[(1, "101.5", "1")]))  # above best ask 101
            await wait_until(lambda: feed.status.book_invalidations == 1)
            assert feed.latest_book("BTCTRY") is None
            assert feed.status.gaps == 0
            await wait_until(lambda: ("obdiff", "BTCTRY", False) in peer.subscriptions())


async def test_overdue_resync_is_asked_again() -> None:
    async with ScriptedServer() as server:
        # silence_timeout_s also bounds the resync retry (min(silence, 5 s)).
        feed = make_feed(server.url, silence_timeout_s=0.2)
        async with running(feed):
            peer = await subscribed(server, 2)
            await _book_ready(peer, feed)
            await peer.send(432, diff_body(99))
            await wait_until(lambda: feed.status.book_resyncs == 1)
            started = time.monotonic()
            # Keep stale diffs coming (they also feed the watchdog) until a second resync.
            while feed.status.book_resyncs < 2:
                assert time.monotonic() - started < 5
                await peer.send(432, diff_body(100))
                await asyncio.sleep(0.05)
            assert feed.status.connects == 1


# --------------------------------------------------------------------------- malformed


async def test_malformed_frames_are_counted_logged_and_survived(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=WS_LOGGER)
    bad_frames = [
        "not json at all",
        '{"type": 402}',
        "[402]",
        "[402, 1, 2]",
        '[402, {"B": NaN}]',
    ]
    bad_bodies = [
        (402, ticker_body(B="NaN")),
        (402, ticker_body(A="Infinity")),
        (402, ticker_body(LA="-5")),
        (402, {k: v for k, v in ticker_body().items() if k != "AV"}),
        (431, dict(snapshot_body(1, [], []), CS="one")),
        (432, diff_body(2, bids=[(2, "100", "1")])),
    ]
    async with ScriptedServer() as server:
        feed = make_feed(server.url)
        async with running(feed):
            peer = await subscribed(server, 2)
            for raw in bad_frames:
                await peer.send_raw(raw)
            for model, body in bad_bodies:
                await peer.send(model, body)
            await peer.send(402, ticker_body(B="1", A="2"))
            await wait_until(lambda: feed.latest_ticker("BTCTRY") is not None)
            assert feed.status.malformed == len(bad_frames) + len(bad_bodies)
            assert feed.status.connects == 1  # never crashed the loop or reconnected
            ticker = feed.latest_ticker("BTCTRY")
            assert ticker is not None and ticker.bid == Decimal(1)
    messages = [r.getMessage() for r in caplog.records if r.name == WS_LOGGER]
    malformed = [m for m in messages if "malformed" in m]
    assert len(malformed) == len(bad_frames) + len(bad_bodies)
    assert any("model=None reason=not JSON" in m for m in malformed)
    assert any("model=402" in m and "not a finite number" in m for m in malformed)
    assert any("model=402" in m and "missing field AV" in m for m in malformed)
    assert any("model=431" in m and "CS is not an int" in m for m in malformed)
    assert any("model=432" in m and "unknown CP 2" in m for m in malformed)


async def test_other_models_are_ignored_not_malformed() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url)
        async with running(feed):
            peer = await subscribed(server, 2)
            await peer.send(422, {"PS": "BTCTRY", "A": "0.01", "P": "1", "type": 422})
            await peer.send(100, {"type": 100, "ok": False, "message": "join|ticker:BTCTRY"})
            # Private frames without a login are not ours to trust: ignored.
            await peer.send(451, {"type": 451, "symbol": "BTCTRY", "id": 1})
            await peer.send(402, ticker_body())
            await wait_until(lambda: feed.latest_ticker("BTCTRY") is not None)
            assert feed.status.malformed == 0
            assert feed.hints.empty()


# --------------------------------------------------------------------------- private login


async def test_login_sends_signed_114_and_delivers_hints() -> None:
    clock = FakeClock(1_700_000_000_000)
    async with ScriptedServer() as server:
        feed = make_feed(server.url, api_key=API_KEY, api_secret=API_SECRET, clock=clock)
        async with running(feed):
            await wait_until(lambda: feed.status.logged_in is True, what="login ok")
            peer = server.last
            [login] = peer.frames(114)
            assert login == {
                "type": 114,
                "publicKey": API_KEY,
                "timestamp": 1_700_000_000_000,
                "nonce": 3000,
                "signature": sign(API_KEY, API_SECRET, 3000),
            }
            # The reference's worked example for these keys.
            assert login["signature"] == "+rS57/mUx2vA3rAspozx6mf14SW6YpJmKNuuA/7MumU="
            order = {"pairId": 1, "symbol": "BTCTRY", "id": 77, "method": 0, "orderType": 0}
            await peer.send(451, dict(order, type=451, newOrderClientId="c-1"))
            await peer.send(453, dict(order, type=453, newOrderClientId="c-1"))
            await peer.send(441, {"type": 441, "id": 77, "symbol": "BTCTRY", "clientId": "c-1"})
            await peer.send(
                423,
                {  # no "type" key, like the real 423
                    "id": 1149163839863900657,
                    "orderId": 77,
                    "numeratorSymbol": "BTC",
                    "denominatorSymbol": "TRY",
                    "amount": "0.01",
                    "price": "3100000",
                    "orderClientId": "c-1",
                },
            )
            await peer.send(452, dict(order, type=452, newOrderClientId="c-1"))
            await peer.send(201, {"type": 201, "userId": 1, "payload": "..."})
            hints = [await asyncio.wait_for(feed.hints.get(), 2) for _ in range(6)]
            assert hints == [
                PrivateHint(451, "BTCTRY", 77, "c-1"),
                PrivateHint(453, "BTCTRY", 77, "c-1"),
                PrivateHint(441, "BTCTRY", 77, "c-1"),
                PrivateHint(423, "BTCTRY", 77, "c-1"),
                PrivateHint(452, "BTCTRY", 77, "c-1"),
                PrivateHint(201, None, None, None),
            ]


async def test_private_frames_before_login_ok_are_ignored() -> None:
    async with ScriptedServer(login_reply=False) as server:
        feed = make_feed(server.url, api_key=API_KEY, api_secret=API_SECRET)
        async with running(feed):
            await wait_until(lambda: bool(server.peers) and server.last.frames(114))
            peer = server.last
            assert feed.status.logged_in is False  # pending
            await peer.send(451, {"type": 451, "symbol": "BTCTRY", "id": 1})
            await peer.send(114, {"type": 114, "id": 5, "ok": True, "message": None})
            await peer.send(452, {"type": 452, "symbol": "BTCTRY", "id": 1})
            hint = await asyncio.wait_for(feed.hints.get(), 2)
            assert hint.model == 452 and feed.hints.empty()


async def test_login_refused_keeps_public_data_and_never_leaks_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=WS_LOGGER)
    async with ScriptedServer() as server:
        feed = make_feed(server.url, api_key=API_KEY, api_secret=WRONG_SECRET)
        async with running(feed):
            await wait_until(lambda: feed.status.last_error is not None, what="login refusal")
            status = feed.status
            assert status.logged_in is False
            assert status.last_error == "login refused: Unauthorized - Invalid Signature"
            peer = server.last
            await peer.send(402, ticker_body())
            await wait_until(lambda: feed.latest_ticker("BTCTRY") is not None)
            assert feed.status.connects == 1
    signature = sign(API_KEY, WRONG_SECRET, 3000)
    for text in (repr(feed), str(feed.status), caplog.text):
        assert WRONG_SECRET not in text
        assert signature not in text
    assert "Invalid Signature" in caplog.text


async def test_bad_base64_secret_skips_login_but_keeps_public_data() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url, api_key=API_KEY, api_secret="not base64!!")
        async with running(feed):
            peer = await subscribed(server, 2)
            await peer.send(402, ticker_body())
            await wait_until(lambda: feed.latest_ticker("BTCTRY") is not None)
            assert peer.frames(114) == []
            assert feed.status.logged_in is False
            assert "not valid base64" in (feed.status.last_error or "")
            assert "not base64!!" not in (feed.status.last_error or "")


async def test_full_hint_queue_drops_the_oldest() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url, api_key=API_KEY, api_secret=API_SECRET, hints_maxsize=2)
        async with running(feed):
            await wait_until(lambda: feed.status.logged_in is True)
            for order_id in (1, 2, 3):
                await server.last.send(452, {"type": 452, "symbol": "BTCTRY", "id": order_id})
            await wait_until(lambda: feed.status.hints_dropped == 1)
            assert [feed.hints.get_nowait().order_id for _ in range(2)] == [2, 3]


def test_repr_and_status_never_show_the_secret() -> None:
    feed = BtcturkFeed("ws://127.0.0.1:1", ["BTCTRY"], api_key=API_KEY, api_secret=API_SECRET)
    assert API_SECRET not in repr(feed) and API_SECRET not in str(feed.status)
    assert API_SECRET not in repr(vars(feed))
    assert "private=True" in repr(feed)


def test_constructor_refuses_bad_configuration() -> None:
    with pytest.raises(ValueError, match="both api_key and api_secret"):
        BtcturkFeed("ws://127.0.0.1:1", ["BTCTRY"], api_key=API_KEY)
    with pytest.raises(ValueError, match="must not be empty"):
        BtcturkFeed("ws://127.0.0.1:1", ["BTCTRY"], api_key=API_KEY, api_secret="")
    with pytest.raises(ValueError, match="ws:// or wss://"):
        BtcturkFeed("https://example.invalid", ["BTCTRY"])
    with pytest.raises(ValueError, match="at least one pair"):
        BtcturkFeed("ws://127.0.0.1:1", [])
    with pytest.raises(TypeError):
        BtcturkFeed("ws://127.0.0.1:1", "BTCTRY")


# --------------------------------------------------------------------------- reconnects


async def test_reconnects_after_a_drop_then_resubscribes_and_logs_in_again() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url, api_key=API_KEY, api_secret=API_SECRET)
        async with running(feed):
            await wait_until(lambda: feed.status.logged_in is True)
            first = await subscribed(server, 2)
            await _book_ready(first, feed)
            await first.ws.close()
            # Fail closed across the drop: the book cannot continue on a new connection.
            await wait_until(lambda: feed.status.connects == 2, what="reconnect")
            second = await subscribed(server, 2, connection=1)
            await wait_until(lambda: feed.status.logged_in is True, what="re-login")
            assert second.subscriptions() == first.subscriptions()
            assert len(second.frames(114)) == 1
            assert feed.latest_book("BTCTRY") is None
            await _book_ready(second, feed, cs=1)
            status = feed.status
            assert status.reconnects == 1 and status.resubscribes == 1
            assert status.last_error is not None and "closed" in status.last_error


async def test_watchdog_reconnects_a_silent_connection() -> None:
    async with ScriptedServer() as server:  # acks, then says nothing more
        feed = make_feed(server.url, silence_timeout_s=0.3)
        async with running(feed):
            await wait_until(lambda: feed.status.connects >= 2, what="watchdog reconnect")
            status = feed.status
            assert status.watchdog_timeouts >= 1
            assert status.last_error is not None and "no frame for 0.3 s" in status.last_error
            await subscribed(server, 2, connection=1)


async def test_connect_rate_cap_holds_in_every_window() -> None:
    async def hang_up(peer: Peer) -> None:
        await peer.ws.close()

    window, cap = 0.5, 2
    async with ScriptedServer(hang_up) as server:
        feed = make_feed(
            server.url,
            max_connects_per_minute=cap,
            connect_window_s=window,
            backoff_initial_s=0.001,
            backoff_max_s=0.002,
        )
        async with running(feed):
            await wait_until(lambda: len(server.peers) >= 3 * cap, timeout=5)
        times = [peer.connected_at for peer in server.peers]
        for earlier, later in zip(times, times[cap:], strict=False):
            # Server-side accept times trail the client's slot by the handshake; allow a little.
            assert later - earlier >= window * 0.9
        assert feed.status.rate_limit_waits >= 2
        assert feed.status.connect_attempts == len(server.peers)


async def test_stop_is_prompt_during_backoff_and_rate_wait() -> None:
    async def hang_up(peer: Peer) -> None:
        await peer.ws.close()

    async with ScriptedServer(hang_up) as server:
        feed = make_feed(server.url, backoff_initial_s=30, backoff_max_s=60)
        async with running(feed, stop_within_s=0.5):
            await wait_until(
                lambda: feed.status.connect_attempts == 1 and not feed.status.connected
            )
            await asyncio.sleep(0)  # now sleeping a 15-30 s backoff
        feed = make_feed(server.url, max_connects_per_minute=1)
        async with running(feed, stop_within_s=0.5):
            await wait_until(lambda: feed.status.rate_limit_waits == 1)


async def test_stop_is_prompt_while_connected() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url)
        async with running(feed, stop_within_s=1.5):
            await subscribed(server, 2)
        await wait_until(lambda: server.last.ws.close_code is not None, what="closed socket")


async def test_unreachable_server_is_retried_with_backoff() -> None:
    async with ScriptedServer() as server:
        url = server.url
    # The port is closed now: every attempt fails; the error is recorded, the loop survives.
    feed = make_feed(url, backoff_initial_s=0.01, backoff_max_s=0.02)
    async with running(feed):
        await wait_until(lambda: feed.status.connect_attempts >= 3)
        assert feed.status.connects == 0
        assert feed.status.last_error is not None


# --------------------------------------------------------------------------- pings


async def test_answers_protocol_pings() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url)
        async with running(feed):
            peer = await subscribed(server, 2)
            pong = await peer.ws.ping()
            latency = await asyncio.wait_for(pong, timeout=2)
            assert latency >= 0


async def test_client_pings_find_a_dead_peer() -> None:
    """A raw TCP server completes the handshake, then never reads or answers again."""
    import base64
    import hashlib

    accepted: list[float] = []
    writers: list[asyncio.StreamWriter] = []

    async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await writer.drain()
        accepted.append(time.monotonic())
        writers.append(writer)  # keep it open and silent

    tcp = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    try:
        # The watchdog alone would wait 30 s; the client's pings notice within about a second.
        feed = make_feed(
            f"ws://127.0.0.1:{port}", silence_timeout_s=30, ping_interval_s=0.2, ping_timeout_s=0.2
        )
        async with running(feed):
            await wait_until(lambda: len(accepted) >= 2, timeout=5, what="reconnect after ping")
            assert feed.status.watchdog_timeouts == 0
    finally:
        for writer in writers:
            writer.close()
        tcp.close()
        await tcp.wait_closed()


async def test_login_is_not_retried_forever_after_refusals() -> None:
    async with ScriptedServer() as server:
        feed = make_feed(server.url, api_key=API_KEY, api_secret=WRONG_SECRET)
        async with running(feed):
            for refusals in (1, 2, 3):
                await wait_until(lambda r=refusals: feed.status.login_refusals == r)
                await server.last.ws.close()
            peer = await subscribed(server, 2, connection=3)
            await peer.send(402, ticker_body())
            await wait_until(lambda: feed.latest_ticker("BTCTRY") is not None)
            assert peer.frames(114) == []  # the fourth connection does not try again
            assert [len(p.frames(114)) for p in server.peers] == [1, 1, 1, 0]
            assert feed.status.logged_in is False


async def test_debug_logging_never_shows_the_login_frame(caplog: pytest.LogCaptureFixture) -> None:
    # websockets dumps frames at DEBUG; the feed pins its wire logger so a root DEBUG level
    # cannot print the 114 frame (the signature is a replayable credential: the nonce is fixed).
    caplog.set_level(logging.DEBUG)
    async with ScriptedServer() as server:
        feed = make_feed(server.url, api_key=API_KEY, api_secret=API_SECRET)
        async with running(feed):
            await wait_until(lambda: feed.status.logged_in is True)
    signature = sign(API_KEY, API_SECRET, 3000)
    assert caplog.records  # debug logging really was on
    assert signature not in caplog.text and signature[-12:] not in caplog.text
    assert API_SECRET not in caplog.text
