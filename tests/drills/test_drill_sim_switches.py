"""The simulator's fault switches added for the drills, checked on the wire.

server_error_path and slow_reply_path aim a fault at one path; submit_delay_s holds a submit on
the server before booking; cancel_delay_ticks carries an accepted cancel out later. The control
also reports requests in flight and accepted cancels per order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from drills_testkit import await_condition, request_log

from btcbot_engine.exchange.btcturk.signing import sign
from btcbot_engine.exchange.simulator import Faults, FaultSpecError, parse_faults
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=91, tick_interval_s=0) as handle:
        yield handle


def _signed(sim: SimulatorHandle) -> dict[str, str]:
    stamp = time.time_ns() // 1_000_000
    return {
        "X-PCK": sim.api_key,
        "X-Stamp": str(stamp),
        "X-Signature": sign(sim.api_key, sim.api_secret, stamp),
    }


def _submit(sim: SimulatorHandle, client: httpx.Client, client_id: str) -> httpx.Response:
    bid, _ = sim.control.best_prices("BTCTRY")
    body = {
        "pairSymbol": "BTCTRY",
        "orderType": "buy",
        "orderMethod": "limit",
        "quantity": "0.001",
        "price": str(bid - Decimal(1000)),
        "newOrderClientId": client_id,
    }
    return client.post("/api/v1/order", json=body, headers=_signed(sim))


def test_new_switches_parse_and_refuse_bad_values() -> None:
    faults = parse_faults(
        "server_error_path=/api/v2/ticker,slow_reply_path=/api/v1/order,"
        "submit_delay_s=0.5,cancel_delay_ticks=3"
    )
    assert faults == Faults(
        server_error_path="/api/v2/ticker",
        slow_reply_path="/api/v1/order",
        submit_delay_s=0.5,
        cancel_delay_ticks=3,
    )
    for bad, named in (("submit_delay_s=-1", "submit_delay_s"), ("cancel_delay_ticks=x", "cancel")):
        with pytest.raises(FaultSpecError, match=named):
            parse_faults(bad)


def test_path_faults_hit_only_their_path(sim: SimulatorHandle) -> None:
    sim.control.set_faults(
        server_error_path="/api/v2/ticker",
        server_error_remaining=2,
        slow_reply_path="/api/v2/orderbook",
        slow_reply_s=0.3,
    )
    with httpx.Client(base_url=sim.base_url, timeout=5) as client:
        assert client.get("/api/v2/server/time").status_code == 200
        assert client.get("/api/v2/ticker").status_code == 503
        started = time.monotonic()
        assert client.get("/api/v2/orderbook", params={"pairSymbol": "BTCTRY"}).status_code == 200
        assert time.monotonic() - started >= 0.3
        assert client.get("/api/v2/ticker").status_code == 503
        assert client.get("/api/v2/ticker").status_code == 200
    assert sim.control.counts()["server_errors"] == 2


def test_submit_delay_holds_the_request_on_the_server_before_booking(
    sim: SimulatorHandle,
) -> None:
    sim.control.set_faults(submit_delay_s=0.5)
    replies: list[int] = []
    with httpx.Client(base_url=sim.base_url, timeout=5) as client:
        sender = threading.Thread(
            target=lambda: replies.append(_submit(sim, client, "d1").status_code)
        )
        sender.start()
        await_condition(
            lambda: sim.control.in_flight("POST", "/api/v1/order") == 1,
            timeout_s=5,
            what="the submit to reach the server",
        )
        assert sim.control.orders() == [], "not booked while it waits"
        sender.join(5)
    assert replies == [200]
    assert [o["orderClientId"] for o in sim.control.orders()] == ["d1"]
    assert sim.control.in_flight("POST", "/api/v1/order") == 0


def test_cancel_delay_ticks_applies_an_accepted_cancel_later(sim: SimulatorHandle) -> None:
    sim.control.set_faults(cancel_delay_ticks=3)
    with httpx.Client(base_url=sim.base_url, timeout=5) as client:
        order_id = _submit(sim, client, "c1").json()["data"]["id"]
        for _ in range(2):  # a repeated cancel is accepted, and counted
            reply = client.delete("/api/v1/order", params={"id": order_id}, headers=_signed(sim))
            assert reply.json()["message"] == "SUCCESS"
        for _ in range(3):
            sim.control.step(1)
            assert sim.control.orders()[0]["status"] == "Untouched"
        sim.control.step(1)
        assert sim.control.orders()[0]["status"] == "Canceled"
    assert sim.control.cancel_requests() == {order_id: 2}
    assert [r.method for r in request_log(sim)].count("DELETE") == 2
