"""Helpers shared by the BTCTurk adapter tests (imported by name: tests/adapter is on sys.path)."""

from __future__ import annotations

# The reference's worked example keys (section 2): made-up, safe to commit.
PUBLIC_KEY = "11111111-2222-3333-4444-555555555555"
PRIVATE_KEY = "ZmFrZS1idGN0dXJrLXNlY3JldC1mb3ItdGVzdHMtMzI="


class FakeClock:
    """A monotonic clock whose sleep advances time instantly (for the rate limiter)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def allow_writes(action: str) -> None:
    """A write guard that allows everything (tests only)."""


# ---------------------------------------------------------------------------------------------
# A scripted httpx transport (replaces the socket only; every line of the adapter still runs)

import json as _json  # noqa: E402
import time as _time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def envelope(data: Any = None, *, success: bool = True, message: Any = None, code: Any = 0) -> str:
    """A BTCTurk envelope body as text (Decimal-free data only)."""
    return _json.dumps({"success": success, "message": message, "code": code, "data": data})


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    text = body if isinstance(body, str) else _json.dumps(body)
    return httpx.Response(
        status, text=text, headers={"Content-Type": "application/json", **(headers or {})}
    )


class Router:
    """Answers requests by (method, path) from scripted steps; records every request.

    Each route holds a list of steps consumed in order; the last one repeats. A step is a
    response, an exception to raise (a transport failure), or a function of the request.
    `GET /api/v2/server/time` answers the real clock plus `skew_ms` unless scripted.
    """

    def __init__(self, skew_ms: int = 0) -> None:
        self.routes: dict[tuple[str, str], list[Step]] = {}
        self.requests: list[httpx.Request] = []
        self.skew_ms = skew_ms
        self.events: list[str] = []

    def on(self, method: str, path: str, *steps: Step) -> Router:
        self.routes[(method, path)] = list(steps)
        return self

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.events.append(f"{request.method} {request.url.path}")
        key = (request.method, request.url.path)
        if key not in self.routes and key == ("GET", "/api/v2/server/time"):
            return json_response(200, {"serverTime": int(_time.time() * 1000) + self.skew_ms})
        steps = self.routes.get(key)
        if not steps:
            return json_response(404, {"success": False, "message": "no route", "code": 404})
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return httpx.Response(step.status_code, headers=step.headers, content=step.content)
        return step(request)
