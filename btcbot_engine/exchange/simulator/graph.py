"""Graph-API routes (reference 3.6): daily OHLC objects and TradingView-style klines.

Not enveloped; times in seconds; every value a JSON number. Served at the root of the REST port
(`/v1/ohlcs`, `/v1/klines/history`), so `graph_url == base_url`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from btcbot_engine.exchange.simulator.http import Request, Response
from btcbot_engine.exchange.simulator.pairs import find_pair
from btcbot_engine.exchange.simulator.wire import JSON_CONTENT_TYPE, dumps

if TYPE_CHECKING:
    from btcbot_engine.exchange.simulator.server import SimulatorServer

DAY_MIN = 1440
DEFAULT_SPAN_S = 30 * 24 * 3600
# Minutes, as reference 3.6; the daily spellings are unverified there, accepted here.
RESOLUTIONS: dict[str, int] = {
    "1": 1,
    "5": 5,
    "15": 15,
    "30": 30,
    "60": 60,
    "240": 240,
    "1440": DAY_MIN,
    "1D": DAY_MIN,
    "D": DAY_MIN,
}


def _error(status: int, payload: dict[str, Any]) -> Response:
    return Response(status, dumps(payload).encode(), JSON_CONTENT_TYPE)


def _seconds(request: Request, name: str, default: int | None) -> int | None:
    text = request.param(name)
    if text is None or text == "":
        return default
    try:
        return int(Decimal(text))
    except ArithmeticError:
        raise ValueError(name) from None


def _window(server: SimulatorServer, request: Request) -> tuple[int, int]:
    now_s = server.clock.now_ms() // 1000
    to_s = _seconds(request, "to", now_s)
    assert to_s is not None
    from_s = _seconds(request, "from", to_s - DEFAULT_SPAN_S)
    assert from_s is not None
    return from_s, min(to_s, now_s)


async def ohlcs(server: SimulatorServer, request: Request) -> Any:
    """Daily candles as objects: pair, time (s), open, high, low, close, volume, total, ..."""
    pair = find_pair(request.param("pair"))
    if pair is None:
        return []
    try:
        from_s, to_s = _window(server, request)
    except ValueError as exc:
        return _error(400, {"message": f"invalid parameter {exc}"})
    rows = []
    for c in server.history.candles(pair.name, DAY_MIN, from_s, to_s):
        average = ((c.open + c.high + c.low + c.close) / 4).quantize(pair.price_step, ROUND_HALF_UP)
        change = c.close - c.open
        rows.append(
            {
                "pair": pair.name,
                "time": c.time_s,
                "open": c.open,
                "high": c.high,
                "low": c.low,
                "close": c.close,
                "volume": c.volume,
                "total": (c.volume * average).quantize(Decimal("0.00000001")),
                "average": average,
                "dailyChangeAmount": change,
                "dailyChangePercentage": (change / c.open * 100).quantize(
                    Decimal("0.01"), ROUND_HALF_UP
                ),
            }
        )
    return rows


async def klines(server: SimulatorServer, request: Request) -> Any:
    """`{"s":"ok","t":[...],"o":[...],"h":[...],"l":[...],"c":[...],"v":[...]}` or no_data."""
    resolution = RESOLUTIONS.get((request.param("resolution") or "").strip().upper())
    if resolution is None:
        return _error(400, {"s": "error", "errmsg": "unsupported resolution"})
    pair = find_pair(request.param("symbol"))
    if pair is None:
        return {"s": "no_data"}
    try:
        from_s, to_s = _window(server, request)
    except ValueError as exc:
        return _error(400, {"s": "error", "errmsg": f"invalid parameter {exc}"})
    candles = server.history.candles(pair.name, resolution, from_s, to_s)
    if not candles:
        return {"s": "no_data"}
    return {
        "s": "ok",
        "t": [c.time_s for c in candles],
        "o": [c.open for c in candles],
        "h": [c.high for c in candles],
        "l": [c.low for c in candles],
        "c": [c.close for c in candles],
        "v": [c.volume for c in candles],
    }
