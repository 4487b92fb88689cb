"""HMAC on the private REST API (reference section 2): accepted, and each documented 401."""

from __future__ import annotations

import time

import httpx

from btcbot_engine.exchange.simulator import SimulatorHandle

from .conftest import auth_headers, exact

WRONG_SECRET = "d3Jvbmctc2VjcmV0LWJ1dC12YWxpZC1iYXNlNjQ="


def _unauthorized(reply: httpx.Response, message: str) -> None:
    assert reply.status_code == 401
    assert exact(reply) == {"success": False, "message": message, "code": 1037}


def test_signed_request_is_accepted(sim: SimulatorHandle, client: httpx.Client) -> None:
    reply = client.get("/api/v1/users/balances", headers=auth_headers(sim))
    assert reply.status_code == 200
    rows = {r["asset"]: r for r in exact(reply)["data"]}
    assert rows["TRY"]["balance"] == "100000" and rows["TRY"]["free"] == "100000"
    assert all(isinstance(rows["BTC"][k], str) for k in ("balance", "locked", "free"))
    assert isinstance(rows["BTC"]["precision"], int)


def test_wrong_secret_key_and_missing_headers(sim: SimulatorHandle, client: httpx.Client) -> None:
    path = "/api/v1/users/balances"
    _unauthorized(
        client.get(path, headers=auth_headers(sim, secret=WRONG_SECRET)),
        "Unauthorized - Invalid Signature",
    )
    _unauthorized(
        client.get(path, headers=auth_headers(sim, key="not-our-key")),
        "Unauthorized - Invalid Public key",
    )
    _unauthorized(client.get(path), "Unauthorized - Headers are missing")


def test_stamp_must_be_within_five_seconds(sim: SimulatorHandle, client: httpx.Client) -> None:
    now = time.time_ns() // 1_000_000
    path = "/api/v1/users/balances"
    _unauthorized(
        client.get(path, headers=auth_headers(sim, stamp=now - 6000)),
        ("Unauthorized - Invalid Nonce"),
    )
    _unauthorized(
        client.get(path, headers=auth_headers(sim, stamp=now + 6000)),
        ("Unauthorized - Invalid Nonce"),
    )
    assert client.get(path, headers=auth_headers(sim, stamp=now - 3000)).status_code == 200
    # Stamps in whole seconds (a classic client bug) are far outside the window.
    _unauthorized(
        client.get(path, headers=auth_headers(sim, stamp=now // 1000)),
        ("Unauthorized - Invalid Nonce"),
    )


def test_reference_worked_example_is_accepted(sim: SimulatorHandle, client: httpx.Client) -> None:
    # Reference section 2: the made-up key pair and stamp 1700000000000 sign to this value.
    # Skew the server clock to that moment so the stamp is inside the window.
    stamp = 1_700_000_000_000
    sim.control.set_faults(clock_skew_ms=stamp - time.time_ns() // 1_000_000)
    headers = {
        "X-PCK": "11111111-2222-3333-4444-555555555555",
        "X-Stamp": str(stamp),
        "X-Signature": "cajMaTyfrk/yWw6DU07dCqPZBnBpMp4rvEchYx679WA=",
    }
    assert client.get("/api/v1/users/balances", headers=headers).status_code == 200
    headers["X-Signature"] = "2xwrWgF3CPJG35KMD+MnMJMg3mBG3Oo2JQn7u97LPUA="  # key not decoded
    _unauthorized(
        client.get("/api/v1/users/balances", headers=headers), ("Unauthorized - Invalid Signature")
    )
