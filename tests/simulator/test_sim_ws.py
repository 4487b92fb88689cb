"""The WebSocket feed (reference section 6): welcome, subscriptions, pushes, login, faults.

The market moves only on control.step(), so every expected frame is caused by the test; waits
are for frames with a timeout, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from btcbot_engine.exchange.btcturk.signing import sign
from btcbot_engine.exchange.simulator import SimulatorHandle
from btcbot_engine.exchange.simulator.pairs import PAIRS

from .conftest import Api, exact, next_frame


async def _open(sim: SimulatorHandle) -> ClientConnection:
    # A roomy receive queue: a tick can bring dozens of 422 frames, and a full queue would stop
    # the client reading (and so seeing the close frame) when the test ends.
    ws = await connect(sim.ws_url, max_queue=1024)
    welcome = await next_frame(ws)
    assert welcome == [991, {"type": 991, "current": "6.0.0", "min": "2.3.0"}]
    return ws


async def _join(ws: ClientConnection, channel: str, event: str, ok: bool = True) -> None:
    await ws.send(
        json.dumps([151, {"type": 151, "channel": channel, "event": event, "join": True}])
    )
    ack = await next_frame(ws, 100)
    assert ack == [100, {"type": 100, "ok": ok, "message": f"join|{channel}:{event}"}]


async def _step(sim: SimulatorHandle, n: int = 1) -> None:
    # Control calls block; run them off this loop so frames keep flowing in.
    await asyncio.to_thread(sim.control.step, n)


async def test_subscribe_ack_duplicate_and_orderbook(sim: SimulatorHandle) -> None:
    ws = await _open(sim)
    async with ws:
        await _join(ws, "orderbook", "BTCTRY")
        await _join(ws, "orderbook", "BTCTRY", ok=False)  # duplicate join
        await _step(sim)
        _model, body = await next_frame(ws, 431)
        assert (body["type"], body["channel"], body["event"], body["PS"]) == (
            431,
            "orderbook",
            "BTCTRY",
            "BTCTRY",
        )
        assert isinstance(body["CS"], int)
        assert len(body["AO"]) == len(body["BO"]) == 100
        asks = [Decimal(level["P"]) for level in body["AO"]]
        bids = [Decimal(level["P"]) for level in body["BO"]]
        assert asks == sorted(asks) and bids == sorted(bids, reverse=True)
        assert all(isinstance(level["A"], str) for level in body["AO"] + body["BO"])


async def test_ticker_pair_and_all(sim: SimulatorHandle) -> None:
    ws = await _open(sim)
    async with ws:
        await _join(ws, "ticker", "BTCTRY")
        await _join(ws, "ticker", "all")
        await _step(sim)
        _, pair = await next_frame(ws, 402)
        assert pair["PS"] == "BTCTRY" and pair["channel"] == "ticker" and pair["type"] == 402
        for key in ("B", "A", "BA", "AA", "H", "L", "LA", "O", "V", "AV", "D", "DP"):
            assert isinstance(pair[key], str), key  # strings on WS
        assert Decimal(pair["B"]) < Decimal(pair["A"])
        assert (pair["NS"], pair["DS"], pair["PId"]) == ("BTC", "TRY", 1)
        _, every = await next_frame(ws, 401)
        assert len(every["items"]) == len(PAIRS) and "type" not in every["items"][0]


async def test_unknown_pair_acks_then_stays_silent(sim: SimulatorHandle) -> None:
    ws = await _open(sim)
    async with ws:
        await _join(ws, "orderbook", "btctry")  # lowercase: acked, never served
        await _join(ws, "orderbook", "NOPETRY")
        await _join(ws, "ticker", "ETHTRY")
        await _step(sim, 2)
        for _ in range(2):  # only the known subscription produces frames
            frame = await next_frame(ws)
            assert frame[0] == 402 and frame[1]["PS"] == "ETHTRY"


def _apply(book: dict[Decimal, Decimal], changes: list[dict[str, Any]]) -> None:
    for change in changes:
        price = Decimal(change["P"])
        if change["CP"] == 3:
            del book[price]
        elif change["CP"] == 1:
            assert price not in book
            book[price] = Decimal(change["A"])
        else:
            assert change["CP"] == 0 and price in book
            book[price] = Decimal(change["A"])


async def test_obdiff_snapshot_then_diffs_with_cs_plus_one(
    sim: SimulatorHandle, client: httpx.Client
) -> None:
    ws = await _open(sim)
    async with ws:
        await _join(ws, "obdiff", "BTCTRY")
        _, snap = await next_frame(ws, 431)
        assert snap["channel"] == "obdiff"
        asks = {Decimal(x["P"]): Decimal(x["A"]) for x in snap["AO"]}
        bids = {Decimal(x["P"]): Decimal(x["A"]) for x in snap["BO"]}
        cs = snap["CS"]
        await _step(sim, 5)
        for _ in range(5):
            _, diff = await next_frame(ws, 432)
            assert diff["CS"] == cs + 1 and diff["PS"] == "BTCTRY"
            cs = diff["CS"]
            _apply(asks, diff["AO"])
            _apply(bids, diff["BO"])
        rest = exact(client.get("/api/v2/orderbook", params={"pairSymbol": "BTCTRY"}))["data"]
        assert {Decimal(p): Decimal(a) for p, a in rest["asks"]} == asks
        assert {Decimal(p): Decimal(a) for p, a in rest["bids"]} == bids


async def test_trade_batch_then_single_trades(sim: SimulatorHandle) -> None:
    await _step(sim, 20)
    ws = await _open(sim)
    async with ws:
        await _join(ws, "trade", "BTCTRY")
        _, batch = await next_frame(ws, 421)
        assert batch["symbol"] == "BTCTRY" and 0 < len(batch["items"]) <= 50
        item = batch["items"][0]
        assert set(item) == {"D", "I", "A", "P", "S", "PS"}
        assert isinstance(item["I"], str) and item["S"] in (0, 1)
        sim.control.set_mid_price("BTCTRY", Decimal("2900000"))
        await _step(sim)
        _, single = await next_frame(ws, 422)
        assert single["PS"] == "BTCTRY" and single["channel"] == "trade"
        assert int(single["I"]) > max(int(i["I"]) for i in batch["items"])


async def _login(ws: ClientConnection, key: str, secret: str, nonce: int = 3000) -> dict:
    frame = {
        "type": 114,
        "publicKey": key,
        "timestamp": 1_700_000_000_000,
        "nonce": nonce,
        "signature": sign(key, secret, nonce),
    }
    await ws.send(json.dumps([114, frame]))
    return (await next_frame(ws, 114))[1]


async def test_login_ok_and_failures(sim: SimulatorHandle) -> None:
    ws = await _open(sim)
    async with ws:
        bad_secret = await _login(ws, sim.api_key, "d3Jvbmctc2VjcmV0LWJ1dC12YWxpZC1iYXNlNjQ=")
        assert bad_secret == {
            "type": 114,
            "ok": False,
            "id": 0,
            "message": "Unauthorized - Invalid Signature",
        }
        bad_key = await _login(ws, "someone-else", sim.api_secret)
        assert bad_key["ok"] is False
        assert bad_key["message"] == "Unauthorized - Invalid Public key"
        # The reference's worked example: nonce 3000 signs to this exact value.
        await ws.send(
            json.dumps(
                [
                    114,
                    {
                        "type": 114,
                        "publicKey": sim.api_key,
                        "timestamp": 1,
                        "nonce": 3000,
                        "signature": "+rS57/mUx2vA3rAspozx6mf14SW6YpJmKNuuA/7MumU=",
                    },
                ]
            )
        )
        _, ok = await next_frame(ws, 114)
        assert ok == {"type": 114, "id": ok["id"], "ok": True, "message": None}
        assert isinstance(ok["id"], int) and ok["id"] > 0


async def test_private_events_to_a_logged_in_client(sim: SimulatorHandle, api: Api) -> None:
    ws = await _open(sim)
    async with ws:
        assert (await _login(ws, sim.api_key, sim.api_secret))["ok"] is True
        mid = sim.control.mid_price("BTCTRY")
        price = mid * Decimal("0.98") // 10 * 10
        reply = await asyncio.to_thread(api.limit, "buy", str(price), "0.01", newOrderClientId="w1")
        order_id = exact(reply)["data"]["id"]
        _, insert = await next_frame(ws, 451)
        assert insert["id"] == order_id and insert["newOrderClientId"] == "w1"
        assert (insert["orderType"], insert["method"], insert["pairId"]) == (0, 0, 1)

        sim.control.set_mid_price("BTCTRY", price - 10_000)
        await _step(sim)
        _, match = await next_frame(ws, 441)
        assert match["id"] == order_id and match["isBid"] is True and match["clientId"] == "w1"
        _, fill = await next_frame(ws, 423)
        assert "type" not in fill  # as the reference says
        assert fill["orderId"] == order_id and fill["orderClientId"] == "w1"
        assert isinstance(fill["id"], int) and isinstance(fill["preciseAmount"], Decimal)
        _, hint = await next_frame(ws, 201)
        assert hint["type"] == 201

        low = sim.control.mid_price("BTCTRY") * Decimal("0.97") // 10 * 10
        reply = await asyncio.to_thread(api.limit, "buy", str(low), "0.01")
        second = exact(reply)["data"]["id"]
        cancel = await asyncio.to_thread(api.cancel, second)
        assert cancel.status_code == 200, cancel.text
        await _step(sim)
        _, delete = await next_frame(ws, 452)
        assert delete["id"] == second and delete["numLeft"] == "0.01"


async def test_stall_sends_nothing_but_answers_pings(sim: SimulatorHandle) -> None:
    ws = await _open(sim)
    async with ws:
        await _join(ws, "obdiff", "BTCTRY")
        cs = (await next_frame(ws, 431))[1]["CS"]
        sim.control.set_faults(ws_stall=True)
        await _step(sim, 3)
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)  # the socket is alive
        sim.control.set_faults(ws_stall=False)
        await _step(sim)
        _, diff = await next_frame(ws, 432)
        assert diff["CS"] == cs + 4  # the three stalled frames were never sent: a gap


async def test_drop_and_disconnect_storm(sim: SimulatorHandle, client: httpx.Client) -> None:
    ws = await _open(sim)
    sim.control.drop_ws_connections()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)

    ws = await _open(sim)
    assert client.post("/_sim/ws-drop").json() == {"dropped": 1}
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)

    sim.control.set_faults(ws_disconnect_every_s=0.2)
    for _ in range(2):  # reconnecting does not help: every connection is cut again
        ws = await _open(sim)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    sim.control.set_faults(ws_disconnect_every_s=0)
    ws = await _open(sim)
    async with ws:
        await _join(ws, "ticker", "BTCTRY")
        await _step(sim)
        assert (await next_frame(ws, 402))[1]["PS"] == "BTCTRY"
