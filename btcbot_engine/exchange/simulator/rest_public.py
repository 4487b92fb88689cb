"""Public REST v2 routes: server time and ping, exchangeinfo, ticker, order book, trades.

Field types follow reference section 3: ticker values are JSON numbers (Decimal written exactly),
book and trade values are strings, ids are ints (trade `tid` is a string), server/time and ping
have no envelope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from btcbot_engine.exchange.simulator import errors
from btcbot_engine.exchange.simulator.errors import ApiError, unknown_pair
from btcbot_engine.exchange.simulator.http import Request
from btcbot_engine.exchange.simulator.matching import price_band
from btcbot_engine.exchange.simulator.pairs import (
    CURRENCIES,
    PAIRS,
    CurrencySpec,
    PairSpec,
    find_pair,
)
from btcbot_engine.exchange.simulator.wire import plain, scaled

if TYPE_CHECKING:
    from btcbot_engine.exchange.simulator.server import SimulatorServer

MAX_BOOK_LIMIT = 100
MAX_TRADES = 50


def ok(data: Any, message: str | None = None) -> dict[str, Any]:
    """The success envelope."""
    return {"success": True, "message": message, "code": 0, "data": data}


def invalid_request() -> ApiError:
    """400 INVALID_REQUEST_ERROR (a missing or unreadable parameter), code 1037."""
    return errors.bad_request(errors.INVALID_REQUEST, order_style=False)


def required_pair(request: Request, name: str = "pairSymbol") -> PairSpec:
    """The listed pair a required parameter names; 400 if missing or unknown."""
    text = request.param(name)
    if not text:
        raise invalid_request()
    pair = find_pair(text)
    if pair is None:
        raise unknown_pair(text)
    return pair


def int_param(request: Request, name: str, default: int) -> int:
    """An optional integer query parameter; 400 if present but not an integer."""
    text = request.param(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise invalid_request() from None


async def server_time(server: SimulatorServer, request: Request) -> Any:
    """`{"serverTime": ms, "serverTime2": ISO}`, not enveloped (reference 3.1)."""
    now_ms = server.clock.now_ms()
    moment = datetime.fromtimestamp(now_ms // 1000, UTC)
    # .NET prints 7 fractional digits; we only know milliseconds.
    iso = f"{moment:%Y-%m-%dT%H:%M:%S}.{now_ms % 1000:03d}0000+00:00"
    return {"serverTime": now_ms, "serverTime2": iso}


async def ping(server: SimulatorServer, request: Request) -> Any:
    """`{"pong": true}`, not enveloped."""
    return {"pong": True}


def symbol_info(server: SimulatorServer, pair: PairSpec) -> dict[str, Any]:
    """One exchangeinfo symbol object, exactly the shape of reference 3.2."""
    low, high = price_band(server.market.pair(pair.name))
    return {
        "id": pair.id,
        "name": pair.name,
        "nameNormalized": pair.name_normalized,
        "status": "TRADING",
        "numerator": pair.base,
        "denominator": pair.quote,
        "numeratorScale": pair.quantity_scale,
        "denominatorScale": pair.price_scale,
        "hasFraction": pair.has_fraction,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": plain(pair.price_step),
                "maxPrice": plain(pair.start_price * 1000),
                "tickSize": plain(pair.tick_size),
                "minExchangeValue": plain(pair.min_exchange_value),
                "minAmount": None,
                "maxAmount": None,
            }
        ],
        "orderMethods": list(pair.order_methods),
        "displayFormat": pair.display_format,
        "commissionFromNumerator": False,
        "order": pair.order,
        "priceRounding": False,
        "isNew": False,
        "marketPriceWarningThresholdPercentage": Decimal("0.25"),
        "maximumOrderAmount": None,
        "maximumLimitOrderPrice": high,
        "minimumLimitOrderPrice": low,
    }


def _currency_info(spec: CurrencySpec) -> dict[str, Any]:
    crypto = spec.currency_type == "CRYPTO"
    return {
        "id": spec.id,
        "symbol": spec.symbol,
        "minWithdrawal": spec.min_withdrawal,
        "minDeposit": spec.min_deposit,
        "precision": spec.precision,
        "address": {"minLen": 26, "maxLen": 90} if crypto else {"minLen": None, "maxLen": None},
        "currencyType": spec.currency_type,
        "tag": {"enable": False, "name": None, "minLen": None, "maxLen": None},
        "color": "#f7931a" if spec.symbol == "BTC" else "#3b3b3b",
        "name": spec.name,
        "isAddressRenewable": False,
        "getAutoAddressDisabled": False,
        "isPartialWithdrawalEnabled": False,
    }


async def exchange_info(server: SimulatorServer, request: Request) -> Any:
    """`data` = timeZone, serverTime, symbols[], currencies[], currencyOperationBlocks[]."""
    return ok(
        {
            "timeZone": "UTC",
            "serverTime": server.clock.now_ms(),
            "symbols": [symbol_info(server, p) for p in PAIRS],
            "currencies": [_currency_info(c) for c in CURRENCIES],
            "currencyOperationBlocks": [
                {"currencySymbol": c.symbol, "withdrawalDisabled": False, "depositDisabled": False}
                for c in CURRENCIES
            ],
        }
    )


def ticker_row(server: SimulatorServer, pair: PairSpec) -> dict[str, Any]:
    """One ticker (reference 3.3): every value a JSON number built from Decimal."""
    pm = server.market.pair(pair.name)
    bids, asks = server.book(pair)
    bid = bids[0][0] if bids else pm.best_bid()
    ask = asks[0][0] if asks else pm.best_ask()
    daily = pm.last - pm.open_24h
    percent = (daily / pm.open_24h * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    average = pm.quote_volume_24h / pm.volume_24h if pm.volume_24h else pm.last
    return {
        "pair": pair.name,
        "pairNormalized": pair.name_normalized,
        "timestamp": pm.timestamp_ms,
        "last": pm.last,
        "high": pm.high_24h,
        "low": pm.low_24h,
        "bid": bid,
        "ask": ask,
        "open": pm.open_24h,
        "volume": pm.volume_24h.quantize(Decimal("0.00000001")),
        "average": average.quantize(Decimal("0.00000001"), ROUND_HALF_UP),
        "daily": daily,
        "dailyPercent": percent,
        "denominatorSymbol": pair.quote,
        "numeratorSymbol": pair.base,
        "order": pair.order,
    }


async def ticker(server: SimulatorServer, request: Request) -> Any:
    """All pairs, or one; `data` is always an array, `[]` for an unknown pair."""
    text = request.param("pairSymbol")
    if text:
        pair = find_pair(text)
        return ok([ticker_row(server, pair)] if pair else [])
    return ok([ticker_row(server, p) for p in PAIRS])


async def ticker_currency(server: SimulatorServer, request: Request) -> Any:
    """Tickers of every pair that has the currency on either side."""
    symbol = (request.param("symbol") or "").strip().upper()
    if not symbol:
        raise invalid_request()
    return ok([ticker_row(server, p) for p in PAIRS if symbol in (p.base, p.quote)])


async def order_book(server: SimulatorServer, request: Request) -> Any:
    """`[price, amount]` strings, bids descending, asks ascending; limit capped at 100."""
    pair = required_pair(request)
    limit = max(1, min(MAX_BOOK_LIMIT, int_param(request, "limit", MAX_BOOK_LIMIT)))
    bids, asks = server.book(pair)
    ps, qs = pair.price_scale, pair.quantity_scale
    return ok(
        {
            "timestamp": server.market.pair(pair.name).timestamp_ms,
            "bids": [[scaled(p, ps), scaled(a, qs)] for p, a in bids[:limit]],
            "asks": [[scaled(p, ps), scaled(a, qs)] for p, a in asks[:limit]],
        }
    )


async def trades(server: SimulatorServer, request: Request) -> Any:
    """The latest public trades, newest first (`last` at most 50)."""
    pair = required_pair(request)
    last = max(1, min(MAX_TRADES, int_param(request, "last", MAX_TRADES)))
    tape = list(server.market.pair(pair.name).tape)[-last:]
    return ok(
        [
            {
                "pair": pair.name,
                "pairNormalized": pair.name_normalized,
                "numerator": pair.base,
                "denominator": pair.quote,
                "date": t.ts_ms,
                "tid": str(t.tid),
                "price": scaled(t.price, pair.price_scale),
                "amount": scaled(t.amount, pair.quantity_scale),
                "side": t.side,
            }
            for t in reversed(tape)
        ]
    )
