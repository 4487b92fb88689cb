"""The REST front door: routing, fault injection on every reply, and the /_sim control routes.

Route handlers (rest_public, rest_private, graph) return a JSON payload for a 200, a Response for
anything special, or raise ApiError; this module turns that into bytes and applies the faults:
429s, 5xx, HTML error pages, slow replies, malformed bodies, and the lost submit ack.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from btcbot_engine.exchange.simulator import graph, rest_private, rest_public
from btcbot_engine.exchange.simulator.errors import ApiError
from btcbot_engine.exchange.simulator.faults import FaultSpecError
from btcbot_engine.exchange.simulator.http import DROP, Request, Response
from btcbot_engine.exchange.simulator.wire import JSON_CONTENT_TYPE, dumps, loads

if TYPE_CHECKING:
    from btcbot_engine.exchange.simulator.server import SimulatorServer

log = logging.getLogger(__name__)

# A handler's result: a payload (sent as 200 JSON), a ready Response, or DROP (no reply at all).
Route = Callable[["SimulatorServer", Request], Awaitable[Any]]

ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/v2/server/time"): rest_public.server_time,
    ("GET", "/api/v2/server/ping"): rest_public.ping,
    ("GET", "/api/v2/server/exchangeinfo"): rest_public.exchange_info,
    ("GET", "/api/v2/ticker"): rest_public.ticker,
    ("GET", "/api/v2/ticker/currency"): rest_public.ticker_currency,
    ("GET", "/api/v2/orderbook"): rest_public.order_book,
    ("GET", "/api/v2/trades"): rest_public.trades,
    ("GET", "/v1/ohlcs"): graph.ohlcs,
    ("GET", "/v1/klines/history"): graph.klines,
    ("GET", "/api/v1/users/balances"): rest_private.balances,
    ("POST", "/api/v1/order"): rest_private.submit_order,
    ("DELETE", "/api/v1/order"): rest_private.cancel_order,
    ("GET", "/api/v1/openorders"): rest_private.open_orders,
    ("GET", "/api/v1/allorders"): rest_private.all_orders,
    ("GET", "/api/v1/users/transactions/trade"): rest_private.user_trades,
}
ORDER_BY_ID = re.compile(r"^/api/v1/order/(?P<id>[^/]+)$")

CLOUDFLARE_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><meta charset="UTF-8"><title>{status} {phrase} | api.btcturk.com | \
Cloudflare</title></head>
<body><div id="cf-wrapper"><h1>Error {status}</h1><h2>{phrase}</h2>
<p>The web server reported an error. Please try again in a few minutes.</p>
<p>Cloudflare Ray ID: <strong>8f1c2b7d3e4a5f60</strong> &bull; Performance &amp; security by \
Cloudflare</p></div></body></html>
"""


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON reply (Decimals as exact numbers)."""
    return Response(status, dumps(payload).encode(), JSON_CONTENT_TYPE, headers or {})


def control_response(status: int, payload: Any) -> Response:
    """A /_sim reply: plain JSON where durations may be floats and Decimals become strings."""
    text = json.dumps(payload, default=str, ensure_ascii=False)
    return Response(status, text.encode(), JSON_CONTENT_TYPE)


def _canonical(path: str) -> str:
    # ASP.NET routes are case-insensitive (the docs even spell /api/v2/orderBook).
    path = path.lower()
    return path.rstrip("/") or "/"


def _on_path(wanted: str, path: str) -> bool:
    """A path-restricted fault applies here ("" = every path)."""
    return not wanted or _canonical(wanted) == path


def malform(payload: Any, variant: int) -> Any:
    """Break a reply the way a changed or buggy API would: drop a field, or change its type.

    The target is the first record of `data` (or of a bare list, or the body itself).
    Even variants remove a key, odd ones replace its value with one of the wrong type.
    """
    if isinstance(payload, list) and payload and isinstance(payload[0], dict) and payload[0]:
        target: dict[str, Any] = payload[0]
    elif isinstance(payload, dict) and payload:
        target = payload
        data = payload.get("data")
        if isinstance(data, list) and data and isinstance(data[0], dict) and data[0]:
            target = data[0]
        elif isinstance(data, dict) and data:
            target = data
    else:
        return {"unexpected": payload}
    key = next(iter(target))
    if variant % 2 == 0:
        del target[key]
    else:
        target[key] = ["malformed"] if isinstance(target[key], str) else "malformed"
    return payload


class RestApp:
    """Answers every REST request of the simulator (the handler given to HttpServer)."""

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self._malformed_done = 0

    async def handle(self, request: Request) -> Response | None:
        """Serve one request; None means: close the connection without a reply."""
        path = _canonical(request.path)
        if path.startswith("/_sim/"):
            return await self._control(request, path)
        started = time.monotonic()
        server = self.server
        server.counts["requests"] += 1
        faults = server.faults
        key = (request.method, path)
        # Drills watch this to kill a client while its request is on the server.
        server.in_flight[key] += 1
        try:
            result: Response | None
            if faults.rate_limit_remaining > 0:
                faults.rate_limit_remaining -= 1
                server.counts["rate_limited"] += 1
                result = self._rate_limited()
            elif faults.server_error_remaining > 0 and _on_path(faults.server_error_path, path):
                faults.server_error_remaining -= 1
                server.counts["server_errors"] += 1
                result = self._server_error(faults.server_error_status)
            else:
                result = await self._dispatch(request, path)
            if faults.slow_reply_s > 0 and _on_path(faults.slow_reply_path, path):
                await asyncio.sleep(faults.slow_reply_s)
        finally:
            server.in_flight[key] -= 1
        server.log_request(
            started, request.method, request.path, 0 if result is None else result.status
        )
        return result

    async def _dispatch(self, request: Request, path: str) -> Response | None:
        try:
            payload = await self._route(request, path)
        except ApiError as exc:
            return json_response(exc.status, exc.body())
        except Exception:  # answer like a server in trouble, and keep serving
            log.exception("simulator route failed: %s %s", request.method, request.path)
            return self._server_error(500)
        if payload is DROP:
            return None
        if isinstance(payload, Response):
            return payload
        faults = self.server.faults
        if faults.malformed_remaining > 0 and _on_path(faults.malformed_path, path):
            faults.malformed_remaining -= 1
            self.server.counts["malformed"] += 1
            payload = malform(payload, self._malformed_done)
            self._malformed_done += 1
        return json_response(200, payload)

    async def _route(self, request: Request, path: str) -> Any:
        handler = ROUTES.get((request.method, path))
        if handler is not None:
            return await handler(self.server, request)
        match = ORDER_BY_ID.match(path)
        if match and request.method == "GET":
            return await rest_private.order_by_id(self.server, request, match["id"])
        if match or any(known == path for _, known in ROUTES):
            return json_response(
                405, {"success": False, "message": "Method Not Allowed", "code": 405}
            )
        return json_response(404, {"success": False, "message": "Not Found", "code": 404})

    # ---- fault replies ---------------------------------------------------------------------------

    def _error_page(
        self, status: int, payload: dict[str, Any], headers: dict[str, str]
    ) -> Response:
        if self.server.faults.html_errors:
            page = CLOUDFLARE_PAGE.format(status=status, phrase=_phrase(status))
            return Response(status, page.encode(), "text/html; charset=UTF-8", headers)
        return json_response(status, payload, headers)

    def _rate_limited(self) -> Response:
        wait = self.server.faults.retry_after_s
        payload = {
            "message": "TOO_MANY_REQUESTS",
            "success": False,
            "code": 429,
            "details": "Quota exceeded. Maximum allowed: 300 per 1m. "
            f"Please try again in {wait} second(s).",
            "limit": "300",
            "period": "1m",
            "policy": "ip",
        }
        return self._error_page(429, payload, {"Retry-After": str(wait)})

    def _server_error(self, status: int) -> Response:
        payload = {"success": False, "message": _phrase(status), "code": status}
        return self._error_page(status, payload, {})

    # ---- /_sim control --------------------------------------------------------------------------

    async def _control(self, request: Request, path: str) -> Response:
        server = self.server
        try:
            if request.method == "GET" and path == "/_sim/state":
                return control_response(200, server.state())
            if request.method == "GET" and path == "/_sim/orders":
                return json_response(200, [o.to_wire() for o in server.engine.orders.values()])
            if request.method == "GET" and path == "/_sim/trades":
                return json_response(200, [f.to_wire() for f in server.engine.fills])
            if request.method == "POST" and path == "/_sim/faults":
                changes = loads(request.body or b"{}")
                if not isinstance(changes, dict):
                    raise FaultSpecError("expected a JSON object of fault changes")
                changes = {
                    k: (float(v) if isinstance(v, Decimal) else v) for k, v in changes.items()
                }
                return control_response(200, server.set_faults(changes).as_dict())
            if request.method == "POST" and path == "/_sim/ws-drop":
                return control_response(200, {"dropped": server.drop_ws_connections()})
            if request.method == "POST" and path == "/_sim/step":
                n = int(request.param("n") or "1")
                server.step(n)
                return control_response(200, {"ticks": server.market.ticks})
            if request.method == "POST" and path == "/_sim/mid":
                body = loads(request.body or b"{}")
                volume = body.get("volume")
                server.set_mid_price(
                    str(body["symbol"]),
                    _decimal(body["price"]),
                    None if volume is None else _decimal(volume),
                )
                return control_response(200, {"ok": True})
        except (FaultSpecError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return control_response(400, {"error": str(exc)})
        return control_response(404, {"error": f"unknown control route {request.method} {path}"})


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Server Error"


def _decimal(value: object) -> Decimal:
    if isinstance(value, float | bool):
        raise ValueError(f"{value!r} is not a decimal")
    return Decimal(str(value))
