"""Fault switches: parsing, runtime control, and how each one shows on the REST wire."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from btcbot_engine.exchange.simulator import Faults, FaultSpecError, SimulatorHandle, parse_faults

from .conftest import Api, auth_headers, exact


def test_parse_faults_accepts_every_type() -> None:
    faults = parse_faults(
        "rate_limit_remaining=20, retry_after_s=2,freeze_market=true,slow_reply_s=0.5,"
        "malformed_path=/api/v2/ticker,clock_skew_ms=-7000"
    )
    assert faults == Faults(
        rate_limit_remaining=20,
        retry_after_s=2,
        freeze_market=True,
        slow_reply_s=0.5,
        malformed_path="/api/v2/ticker",
        clock_skew_ms=-7000,
    )
    assert parse_faults("") == Faults()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("rate_limit=3", "rate_limit"),
        ("freeze_market=maybe", "freeze_market"),
        ("retry_after_s=1.5", "retry_after_s"),
        ("slow_reply_s=fast", "slow_reply_s"),
        ("server_error_status=404", "server_error_status"),
        ("rate_limit_remaining=-1", "rate_limit_remaining"),
        ("ws_stall", "ws_stall"),
    ],
)
def test_parse_faults_errors_name_the_switch(text: str, named: str) -> None:
    with pytest.raises(FaultSpecError, match=named):
        parse_faults(text)


def test_runtime_control_over_http(sim: SimulatorHandle, client: httpx.Client) -> None:
    reply = client.post("/_sim/faults", json={"retry_after_s": 4, "slow_reply_s": 0.01})
    assert reply.status_code == 200
    assert reply.json()["retry_after_s"] == 4
    assert sim.control.faults.retry_after_s == 4
    bad = client.post("/_sim/faults", json={"no_such_fault": 1})
    assert bad.status_code == 400 and "no_such_fault" in bad.json()["error"]
    state = client.get("/_sim/state").json()
    assert state["faults"]["slow_reply_s"] == 0.01
    assert client.post("/_sim/step", params={"n": 3}).json()["ticks"] == 3
    assert sim.control.set_faults(slow_reply_s=0).slow_reply_s == 0


def test_rate_limit_answers_429_with_retry_after(
    sim: SimulatorHandle, client: httpx.Client
) -> None:
    sim.control.set_faults(rate_limit_remaining=2, retry_after_s=3)
    for _ in range(2):
        reply = client.get("/api/v2/ticker")
        assert reply.status_code == 429
        assert reply.headers["Retry-After"] == "3"
        body = reply.json()
        assert (body["message"], body["success"], body["code"]) == ("TOO_MANY_REQUESTS", False, 429)
        assert "3 second(s)" in body["details"]
    assert client.get("/_sim/state").status_code == 200  # control routes are never limited
    assert client.get("/api/v2/ticker").status_code == 200
    log = sim.control.request_log()
    assert [entry[3] for entry in log] == [429, 429, 200]
    assert all(entry[2] == "/api/v2/ticker" for entry in log)
    assert log[0][0] <= log[1][0] <= log[2][0]  # monotonic times


def test_server_errors_json_then_html(sim: SimulatorHandle, client: httpx.Client) -> None:
    sim.control.set_faults(server_error_remaining=1, server_error_status=502)
    reply = client.get("/api/v2/server/time")
    assert reply.status_code == 502
    assert reply.json()["success"] is False
    sim.control.set_faults(server_error_remaining=1, server_error_status=503, html_errors=True)
    reply = client.get("/api/v2/server/time")
    assert reply.status_code == 503
    assert reply.headers["content-type"].startswith("text/html")
    assert "<html" in reply.text and "Cloudflare" in reply.text
    sim.control.set_faults(rate_limit_remaining=1, retry_after_s=1)
    reply = client.get("/api/v2/server/time")
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "1"
    assert reply.headers["content-type"].startswith("text/html")
    assert client.get("/api/v2/server/time").status_code == 200


def test_slow_reply(sim: SimulatorHandle, client: httpx.Client) -> None:
    sim.control.set_faults(slow_reply_s=0.3)
    started = time.monotonic()
    assert client.get("/api/v2/server/ping").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/v2/server/ping", timeout=0.05)


def test_lost_submit_ack_books_exactly_one_order(sim: SimulatorHandle, api: Api) -> None:
    sim.control.set_faults(lost_submit_ack_remaining=1)
    price = sim.control.mid_price("BTCTRY") * Decimal("0.98") // 10 * 10
    with pytest.raises(httpx.RemoteProtocolError):
        api.limit("buy", str(price), "0.01", newOrderClientId="lost-ack-1")
    orders = sim.control.orders()
    assert [o["orderClientId"] for o in orders] == ["lost-ack-1"]
    assert orders[0]["status"] == "Untouched"
    # The client resolves it by client id through open orders; the next submit answers again.
    bids = exact(api.get("/api/v1/openOrders", pairSymbol="BTCTRY"))["data"]["bids"]
    assert [b["orderClientId"] for b in bids] == ["lost-ack-1"]
    assert api.limit("buy", str(price), "0.01", newOrderClientId="next").status_code == 200
    assert len(sim.control.orders()) == 2
    assert [e[3] for e in sim.control.request_log() if e[1] == "POST"] == [0, 200]


def test_malformed_replies_on_one_path(sim: SimulatorHandle, client: httpx.Client) -> None:
    sim.control.set_faults(malformed_remaining=2, malformed_path="/api/v2/ticker")
    assert client.get("/api/v2/server/time").json().keys() == {"serverTime", "serverTime2"}
    first = client.get("/api/v2/ticker", params={"pairSymbol": "BTCTRY"}).json()["data"][0]
    assert "pair" not in first  # a required field removed
    second = client.get("/api/v2/ticker", params={"pairSymbol": "BTCTRY"}).json()["data"][0]
    assert not isinstance(second["pair"], str)  # a field of the wrong type
    third = client.get("/api/v2/ticker", params={"pairSymbol": "BTCTRY"}).json()["data"][0]
    assert third["pair"] == "BTCTRY"
    sim.control.set_faults(malformed_remaining=1, malformed_path="")
    assert "serverTime" not in client.get("/api/v2/server/time").json()


def test_freeze_market(sim: SimulatorHandle, client: httpx.Client) -> None:
    def ticker() -> dict:
        return exact(client.get("/api/v2/ticker", params={"pairSymbol": "BTCTRY"}))["data"][0]

    sim.control.set_faults(freeze_market=True)
    before = ticker()
    sim.control.step(10)
    after = ticker()
    assert (after["timestamp"], after["last"], after["bid"]) == (
        before["timestamp"],
        before["last"],
        before["bid"],
    )
    sim.control.set_faults(freeze_market=False)
    sim.control.step(10)
    moved = ticker()
    assert moved["timestamp"] > before["timestamp"]
    assert moved["bid"] != before["bid"]


def test_clock_skew_moves_server_time_and_nonce_window(
    sim: SimulatorHandle, client: httpx.Client
) -> None:
    skew = 60_000
    sim.control.set_faults(clock_skew_ms=skew)
    server_ms = client.get("/api/v2/server/time").json()["serverTime"]
    assert abs(server_ms - (time.time() * 1000 + skew)) < 2000
    local = client.get("/api/v1/users/balances", headers=auth_headers(sim))
    assert local.status_code == 401
    assert local.json()["message"] == "Unauthorized - Invalid Nonce"
    corrected = auth_headers(sim, stamp=time.time_ns() // 1_000_000 + skew)
    assert client.get("/api/v1/users/balances", headers=corrected).status_code == 200
