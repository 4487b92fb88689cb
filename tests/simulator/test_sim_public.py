"""Public REST v2 and graph routes: envelopes, field types, rules (reference sections 3.1-3.6)."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx

from btcbot_engine.exchange.simulator import SimulatorHandle
from btcbot_engine.exchange.simulator.history import PriceHistory
from btcbot_engine.exchange.simulator.pairs import PAIRS

from .conftest import exact


def test_server_time_is_bare_and_current(client: httpx.Client) -> None:
    body = exact(client.get("/api/v2/server/time"))
    assert set(body) == {"serverTime", "serverTime2"}  # no envelope
    assert isinstance(body["serverTime"], int)
    assert abs(body["serverTime"] - time.time() * 1000) < 5000
    assert body["serverTime2"].endswith("+00:00")
    assert exact(client.get("/api/v2/server/ping")) == {"pong": True}


def test_ticker_values_are_numbers_and_data_always_an_array(client: httpx.Client) -> None:
    body = exact(client.get("/api/v2/ticker", params={"pairSymbol": "btc_try"}))
    assert body["success"] is True and body["code"] == 0
    assert isinstance(body["data"], list) and len(body["data"]) == 1
    row = body["data"][0]
    assert row["pair"] == "BTCTRY" and row["pairNormalized"] == "BTC_TRY"
    for key in ("last", "high", "low", "bid", "ask", "open", "volume", "average", "daily"):
        assert isinstance(row[key], int | Decimal), key  # JSON numbers, never strings
    assert isinstance(row["timestamp"], int)
    assert row["bid"] < row["ask"]
    assert 2_500_000 < row["last"] < 3_500_000

    every = exact(client.get("/api/v2/ticker"))["data"]
    assert {r["pair"] for r in every} == {p.name for p in PAIRS}
    assert exact(client.get("/api/v2/ticker", params={"pairSymbol": "NOPETRY"}))["data"] == []
    usdt = exact(client.get("/api/v2/ticker/currency", params={"symbol": "usdt"}))["data"]
    assert {r["pair"] for r in usdt} == {"USDTTRY", "BTCUSDT", "ETHUSDT"}


def test_order_book_strings_sorted_capped_and_errors(client: httpx.Client) -> None:
    body = exact(client.get("/api/v2/orderbook", params={"pairSymbol": "BTC_TRY", "limit": 500}))
    data = body["data"]
    assert isinstance(data["timestamp"], int)
    assert len(data["bids"]) == 100 and len(data["asks"]) == 100  # limit capped at 100
    for price, amount in data["bids"] + data["asks"]:
        assert isinstance(price, str) and isinstance(amount, str)
    bids = [Decimal(p) for p, _ in data["bids"]]
    asks = [Decimal(p) for p, _ in data["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    assert data["bids"][0][0].endswith(".00")  # denominatorScale 2
    spread_bps = (asks[0] - bids[0]) / asks[0] * 10000
    assert 0 < spread_bps < 10

    small = exact(client.get("/api/v2/orderbook", params={"pairSymbol": "ETHTRY", "limit": 5}))
    assert len(small["data"]["asks"]) == 5

    bad = client.get("/api/v2/orderbook", params={"pairSymbol": "NOPEUSDT"})
    assert bad.status_code == 400
    assert exact(bad) == {
        "success": False,
        "message": "Pair NOPEUSDT does not exists.",
        "code": 1037,
    }
    missing = client.get("/api/v2/orderbook")
    assert missing.status_code == 400
    assert exact(missing)["message"] == "INVALID_REQUEST_ERROR"
    assert exact(missing)["code"] == 1037


def test_public_trades(sim: SimulatorHandle, client: httpx.Client) -> None:
    sim.control.step(30)
    rows = exact(client.get("/api/v2/trades", params={"pairSymbol": "BTCTRY", "last": 200}))
    rows = rows["data"]
    assert 0 < len(rows) <= 50
    first = rows[0]
    assert isinstance(first["tid"], str) and first["tid"].isdigit()
    assert isinstance(first["date"], int)
    assert isinstance(first["price"], str) and isinstance(first["amount"], str)
    assert first["side"] in ("buy", "sell")
    dates = [r["date"] for r in rows]
    assert dates == sorted(dates, reverse=True)  # newest first


def test_exchange_info_rules(client: httpx.Client) -> None:
    data = exact(client.get("/api/v2/server/exchangeinfo"))["data"]
    assert {"timeZone", "serverTime", "symbols", "currencies", "currencyOperationBlocks"} <= set(
        data
    )
    symbols = {s["name"]: s for s in data["symbols"]}
    btc = symbols["BTCTRY"]
    assert btc["nameNormalized"] == "BTC_TRY" and btc["status"] == "TRADING"
    assert (btc["numeratorScale"], btc["denominatorScale"], btc["hasFraction"]) == (8, 2, False)
    f = btc["filters"][0]
    assert f["filterType"] == "PRICE_FILTER"
    assert (f["tickSize"], f["minExchangeValue"]) == ("10", "99.91")
    assert isinstance(f["minPrice"], str) and isinstance(f["maxPrice"], str)
    assert f["minAmount"] is None and f["maxAmount"] is None
    assert isinstance(btc["maximumLimitOrderPrice"], int | Decimal)
    assert 250_000 < btc["minimumLimitOrderPrice"] < 350_000  # ~0.1x
    assert 25_000_000 < btc["maximumLimitOrderPrice"] < 35_000_000  # ~10x
    assert "MARKET" in btc["orderMethods"] and "LIMIT" in btc["orderMethods"]
    assert symbols["USDTTRY"]["filters"][0]["tickSize"] == "0.01"
    assert symbols["BTCUSDT"]["filters"][0]["minExchangeValue"] == "10"
    assert {"ETHTRY", "AVAXTRY", "ETHUSDT"} <= set(symbols)
    assert any("MARKET" not in s["orderMethods"] for s in data["symbols"])
    assert {c["symbol"] for c in data["currencies"]} >= {"TRY", "BTC", "USDT"}
    assert data["currencyOperationBlocks"][0].keys() == {
        "currencySymbol",
        "withdrawalDisabled",
        "depositDisabled",
    }


def test_graph_ohlcs_and_klines(client: httpx.Client) -> None:
    now = int(time.time())
    days = exact(client.get("/v1/ohlcs", params={"pair": "BTCTRY", "from": now - 5 * 86400}))
    assert isinstance(days, list) and 5 <= len(days) <= 6  # not enveloped
    for row in days:
        assert row["time"] % 86400 == 0
        for key in ("open", "high", "low", "close", "volume", "total", "average"):
            assert isinstance(row[key], int | Decimal), key
        assert row["low"] <= row["open"] <= row["high"]

    reply = client.get(
        "/v1/klines/history",
        params={"symbol": "BTCTRY", "resolution": 60, "from": now - 6 * 3600, "to": now},
    )
    bars = exact(reply)
    assert bars["s"] == "ok"
    assert len(bars["t"]) in (6, 7)
    assert all(len(bars[k]) == len(bars["t"]) for k in "ohlcv")
    assert all(t % 3600 == 0 for t in bars["t"])  # seconds, aligned to the resolution
    assert all(low <= high for low, high in zip(bars["l"], bars["h"], strict=True))
    bad = client.get("/v1/klines/history", params={"symbol": "BTCTRY", "resolution": 7})
    assert bad.status_code == 400


def test_history_is_a_function_of_seed_and_anchor() -> None:
    anchor = 1_800_000_000
    one = PriceHistory(3, PAIRS, anchor).candles("ETHTRY", 15, anchor - 86400, anchor)
    two = PriceHistory(3, PAIRS, anchor).candles("ETHTRY", 15, anchor - 86400, anchor)
    other = PriceHistory(4, PAIRS, anchor).candles("ETHTRY", 15, anchor - 86400, anchor)
    assert one == two and one != other
    assert one[-1].close == Decimal("110000")  # the synthetic past ends at the start price


def test_unknown_path_and_wrong_method(client: httpx.Client) -> None:
    assert client.get("/api/v2/nothing").status_code == 404
    assert client.post("/api/v2/ticker").status_code == 405
