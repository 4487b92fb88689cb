"""Parsers on the reference's sample payloads, their variants, and broken inputs."""

# The samples below are copied verbatim from the reference, long lines included.
# ruff: noqa: E501

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from btcbot_engine.domain.orders import ExchangeOrderStatus, OrderMethod, Side
from btcbot_engine.exchange.btcturk import parse
from btcbot_engine.exchange.port import MalformedResponse

# ---------------------------------------------------------------------------------------------
# Samples, verbatim from the reference (sections 3.1-3.12)

SERVER_TIME = '{"serverTime": 1700000000027, "serverTime2": "2023-11-14T22:13:20.0268053+00:00"}'

EXCHANGE_INFO_SYMBOL = """{"id": 1, "name": "BTCTRY", "nameNormalized": "BTC_TRY", "status": "TRADING",
 "numerator": "BTC", "denominator": "TRY", "numeratorScale": 8, "denominatorScale": 2, "hasFraction": false,
 "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.0000000000001", "maxPrice": "10000000",
              "tickSize": "10", "minExchangeValue": "99.91", "minAmount": null, "maxAmount": null}],
 "orderMethods": ["MARKET", "LIMIT", "STOP_MARKET", "STOP_LIMIT"],
 "displayFormat": "#,###", "commissionFromNumerator": false, "order": 1000, "priceRounding": false,
 "isNew": false, "marketPriceWarningThresholdPercentage": 0.25, "maximumOrderAmount": null,
 "maximumLimitOrderPrice": 5895000.0, "minimumLimitOrderPrice": 58950.0}"""

TICKER = """{"success": true, "message": null, "code": 0, "data": [
{"pair": "BTCTRY", "pairNormalized": "BTC_TRY", "timestamp": 1618826361234, "last": 462485, "high": 473976,
 "low": 444201, "bid": 461928, "ask": 462485, "open": 456915, "volume": 917.41368645,
 "average": 462868.29574589, "daily": 5570, "dailyPercent": 1.22, "denominatorSymbol": "TRY",
 "numeratorSymbol": "BTC", "order": 1000}]}"""

ORDERBOOK = """{"success": true, "message": null, "code": 0,
 "data": {"timestamp": 1618827901241, "bids": [["460263.00", "0.04244000"]], "asks": [["460300.00", "0.5"]]}}"""

BALANCES = """{"success": true, "message": null, "code": 0, "data": [
 {"asset": "TRY", "assetname": "Türk Lirası", "balance": "103158.94", "locked": "1023.57", "free": "102135.37",
  "orderFund": "1023.57", "requestFund": "0", "precision": 2}]}"""

SUBMIT_ACK = """{"success": true, "message": "OK", "code": 0, "httpStatusCode": 200,
 "data": {"id": 21770789256, "quantity": "76.38", "price": "1.994", "stopPrice": null, "newOrderClientId": "Sat",
          "type": "sell", "method": "limit", "pairSymbol": "LDOUSDT", "pairSymbolNormalized": "LDO_USDT",
          "datetime": 1713439781304}}"""

CANCEL_OK = '{"success":true,"message":"SUCCESS","code":0}'

ORDER = """{"id": 16060237, "price": "66867.00", "amount": "0.04971904", "quantity": "0.04971904", "stopPrice": "0.00",
 "pairSymbol": "BTCTRY", "pairSymbolNormalized": "BTC_TRY", "type": "sell", "method": "limit",
 "orderClientId": "da593000-6eb3-4a1c-ba26-c616122a0210", "time": 0, "updateTime": 1591286411913,
 "status": "Partial", "leftAmount": "0.0412345"}"""

FILL = """{"id": 1181163798924649598, "timestamp": 1663848223334, "amount": "-0.3384", "preciseAmount": -0.33840811,
 "fee": "-0.06297817", "tax": "-0.01133607", "price": "122.00", "numeratorSymbol": "ETHW",
 "denominatorSymbol": "TRY", "orderType": "sell", "orderId": 10938696222, "orderClientId": "..."}"""

KLINES = """{"s": "ok", "t": [1661990400, 1661990460], "o": [368388.0, 368467.0], "h": [368400.0, 368500.0],
 "l": [368300.0, 368400.0], "c": [368390.0, 368470.0], "v": [0.00035208, 0.2972395]}"""

REJECT_SCALE = (
    '{"httpStatusCode":400,"data":null,"success":false,"message":"FAILED_INVALID_PRICE_SCALE",'
    '"code":1126}'
)


def _obj(text: str) -> dict[str, Any]:
    value = parse.loads(text, "test")
    assert isinstance(value, dict)
    return value


def _envelope_data(text: str) -> Any:
    env = parse.parse_envelope(parse.loads(text, "test"), "test")
    assert env.success
    return env.data


def _no_floats(value: Any) -> None:
    """Walk a dataclass/collection and assert no float is anywhere inside."""
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for v in value.values():
            _no_floats(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            _no_floats(v)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            _no_floats(getattr(value, name))


# ---------------------------------------------------------------------------------------------
# JSON decoding


def test_loads_keeps_number_tokens_exact() -> None:
    value = parse.loads('{"a": 917.41368645, "b": 0.1, "c": 1181163798924649598}', "x")
    assert value == {"a": Decimal("917.41368645"), "b": Decimal("0.1"), "c": 1181163798924649598}
    assert isinstance(value["c"], int)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_loads_refuses_non_finite_tokens(token: str) -> None:
    with pytest.raises(MalformedResponse, match="non-finite"):
        parse.loads(f'{{"last": {token}}}', "GET /api/v2/ticker")


def test_loads_html_page_is_malformed_with_snippet() -> None:
    html = "<html><head><title>403 Forbidden</title></head><body>" + "x" * 500 + "</body></html>"
    with pytest.raises(MalformedResponse) as info:
        parse.loads(html, "GET /api/v2/ticker")
    message = str(info.value)
    assert "GET /api/v2/ticker" in message
    assert "403 Forbidden" in message
    assert "x" * 300 not in message  # only the first 200 characters


def test_loads_huge_int_literal_is_malformed_not_valueerror() -> None:
    with pytest.raises(MalformedResponse):
        parse.loads('{"id": ' + "9" * 5000 + "}", "x")


# ---------------------------------------------------------------------------------------------
# Envelope


@pytest.mark.parametrize("code", ["0", '"0"', '"SUCCESS"', "null"])
def test_envelope_success_code_forms(code: str) -> None:
    env = parse.parse_envelope(
        parse.loads(f'{{"success": true, "message": null, "code": {code}, "data": [1]}}', "t"), "t"
    )
    assert env.success and env.data == [1]


def test_envelope_code_absent_is_success() -> None:
    assert parse.parse_envelope({"success": True, "data": None}, "t").success


def test_envelope_success_true_with_error_code_is_failure() -> None:
    # Old 401 bodies carried success:true with code 1037 (reference section 2).
    env = parse.parse_envelope(
        {"success": True, "message": "Unauthorized - Invalid Nonce", "code": 1037}, "t"
    )
    assert not env.success and env.code == 1037


def test_envelope_error_body() -> None:
    env = parse.parse_envelope(parse.loads(REJECT_SCALE, "t"), "t")
    assert not env.success
    assert env.message == "FAILED_INVALID_PRICE_SCALE"
    assert env.code == 1126


def test_envelope_string_error_code() -> None:
    env = parse.parse_envelope({"success": False, "message": "X", "code": "1123"}, "t")
    assert env.code == 1123


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ([], "expected an object"),
        ({"message": None}, "body.success: missing"),
        ({"success": "true"}, "body.success: expected true/false"),
    ],
)
def test_envelope_malformed(payload: Any, expected: str) -> None:
    with pytest.raises(MalformedResponse, match=expected):
        parse.parse_envelope(payload, "GET /api/v1/users/balances")


def test_cancel_ok_body() -> None:
    env = parse.parse_envelope(parse.loads(CANCEL_OK, "t"), "t")
    assert env.success and env.data is None


# ---------------------------------------------------------------------------------------------
# Public endpoints


def test_server_time() -> None:
    assert parse.parse_server_time(parse.loads(SERVER_TIME, "t")) == 1700000000027


@pytest.mark.parametrize(
    "body", ['{"serverTime2": "x"}', '{"serverTime": "soon"}', '{"serverTime": 1.7e12}', "[]"]
)
def test_server_time_malformed(body: str) -> None:
    with pytest.raises(MalformedResponse, match="server/time"):
        parse.parse_server_time(parse.loads(body, "t"))


def test_exchange_info_symbol_rules() -> None:
    data = {"timeZone": "UTC", "symbols": [_obj(EXCHANGE_INFO_SYMBOL)], "currencies": []}
    rules = parse.parse_exchange_info(data)["BTCTRY"]
    assert rules.base == "BTC" and rules.quote == "TRY"
    assert rules.price_scale == 2 and rules.quantity_scale == 8
    assert rules.tick_size == Decimal("10")
    assert rules.min_notional == Decimal("99.91")
    assert rules.min_price == Decimal("58950.0")
    assert rules.max_price == Decimal("5895000.0")
    assert rules.has_fraction is False
    assert rules.order_methods == frozenset({"MARKET", "LIMIT", "STOP_MARKET", "STOP_LIMIT"})
    assert rules.trading
    _no_floats(rules)


def test_exchange_info_null_price_band_is_none() -> None:
    symbol = _obj(EXCHANGE_INFO_SYMBOL)
    symbol["maximumLimitOrderPrice"] = None
    del symbol["minimumLimitOrderPrice"]
    rules = parse.parse_exchange_info({"symbols": [symbol]})["BTCTRY"]
    assert rules.min_price is None and rules.max_price is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s.pop("denominatorScale"), "data.symbols[0].denominatorScale: missing"),
        (lambda s: s.update(numeratorScale="eight"), "data.symbols[0].numeratorScale"),
        (lambda s: s.update(hasFraction="no"), "data.symbols[0].hasFraction"),
        (lambda s: s.update(filters=[]), "data.symbols[0].filters: no PRICE_FILTER"),
        (
            lambda s: s["filters"][0].update(minExchangeValue=None),
            "data.symbols[0].filters[0].minExchangeValue",
        ),
        (lambda s: s["filters"][0].update(tickSize="ten"), "filters[0].tickSize"),
        (lambda s: s.update(orderMethods="LIMIT"), "data.symbols[0].orderMethods"),
    ],
)
def test_exchange_info_malformed_names_field(mutate: Any, field: str) -> None:
    symbol = _obj(EXCHANGE_INFO_SYMBOL)
    mutate(symbol)
    with pytest.raises(MalformedResponse) as info:
        parse.parse_exchange_info({"symbols": [symbol]})
    assert "GET /api/v2/server/exchangeinfo" in str(info.value)
    assert field in str(info.value)


def test_ticker_numbers_become_exact_decimals() -> None:
    (ticker,) = parse.parse_tickers(_envelope_data(TICKER), received_at_ms=5)
    assert ticker.symbol == "BTCTRY"
    assert ticker.bid == Decimal("461928") and ticker.ask == Decimal("462485")
    assert ticker.volume == Decimal("917.41368645")
    assert ticker.average == Decimal("462868.29574589")
    assert ticker.exchange_ts_ms == 1618826361234 and ticker.received_at_ms == 5
    _no_floats(ticker)


def test_ticker_string_numbers_also_accepted() -> None:
    data = _envelope_data(TICKER)
    data[0]["bid"] = "461928.5"
    (ticker,) = parse.parse_tickers(data, 0)
    assert ticker.bid == Decimal("461928.5")


def test_ticker_unknown_pair_is_empty() -> None:
    assert parse.parse_tickers([], 0) == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("bid", None, "data[0].bid: expected a number, got null"),
        ("ask", "abc", "data[0].ask"),
        ("last", True, "data[0].last"),
        ("pair", 7, "data[0].pair"),
        ("timestamp", "yesterday", "data[0].timestamp"),
    ],
)
def test_ticker_mistyped_field(key: str, value: Any, expected: str) -> None:
    data = _envelope_data(TICKER)
    data[0][key] = value
    with pytest.raises(MalformedResponse) as info:
        parse.parse_tickers(data, 0)
    assert "GET /api/v2/ticker" in str(info.value) and expected in str(info.value)


def test_ticker_float_is_refused() -> None:
    # If a caller ever hands us json.loads() output with floats, it must not slip through.
    data = json.loads(TICKER)["data"]
    with pytest.raises(MalformedResponse, match="refusing float"):
        parse.parse_tickers(data, 0)


def test_ticker_data_not_a_list() -> None:
    with pytest.raises(MalformedResponse, match="data: expected an array"):
        parse.parse_tickers({"pair": "BTCTRY"}, 0)


def test_order_book() -> None:
    book = parse.parse_order_book(_envelope_data(ORDERBOOK), "btc_try", 9)
    assert book.symbol == "BTCTRY"
    assert book.best_bid == Decimal("460263.00") and book.best_ask == Decimal("460300.00")
    assert book.bids[0].quantity == Decimal("0.04244000")
    assert book.exchange_ts_ms == 1618827901241


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(bids=[["1"]]), "data.bids[0]: expected [price, amount]"),
        (lambda d: d.update(asks=[["x", "1"]]), "data.asks[0][0]"),
        (lambda d: d.update(bids=[["1", "1"], ["2", "1"]]), "data.bids: not sorted"),
        (lambda d: d.pop("timestamp"), "data.timestamp: missing"),
        (lambda d: d.update(asks=[["-1", "1"]]), "data.asks[0]"),
    ],
)
def test_order_book_malformed(mutate: Any, expected: str) -> None:
    data = _envelope_data(ORDERBOOK)
    mutate(data)
    with pytest.raises(MalformedResponse) as info:
        parse.parse_order_book(data, "BTCTRY", 0)
    assert expected in str(info.value)


def test_klines() -> None:
    candles = parse.parse_klines(parse.loads(KLINES, "t"))
    assert [c.open_time_s for c in candles] == [1661990400, 1661990460]
    assert candles[1].volume == Decimal("0.2972395")
    _no_floats(candles)
    assert parse.parse_klines({"s": "no_data"}) == []


def test_klines_ragged_columns() -> None:
    body = parse.loads(KLINES, "t")
    body["c"] = body["c"][:1]
    with pytest.raises(MalformedResponse, match=r"body\.c: has 1 values for 2 times"):
        parse.parse_klines(body)


# ---------------------------------------------------------------------------------------------
# Private endpoints


def test_balances() -> None:
    (balance,) = parse.parse_balances(_envelope_data(BALANCES))
    assert balance.asset == "TRY"
    assert balance.total == Decimal("103158.94")
    assert balance.locked == Decimal("1023.57")
    assert balance.free == Decimal("102135.37")


def test_balances_missing_free() -> None:
    data = _envelope_data(BALANCES)
    del data[0]["free"]
    with pytest.raises(MalformedResponse, match=r"users/balances: data\[0\].free: missing"):
        parse.parse_balances(data)


def test_order_sample_time_zero_uses_update_time() -> None:
    order = parse.parse_single_order(_obj(ORDER))
    assert order.order_id == 16060237
    assert order.client_id == "da593000-6eb3-4a1c-ba26-c616122a0210"
    assert order.symbol == "BTCTRY"
    assert order.side is Side.SELL and order.method is OrderMethod.LIMIT
    assert order.price == Decimal("66867.00")
    assert order.quantity == Decimal("0.04971904")
    assert order.left_quantity == Decimal("0.0412345")
    assert order.filled_quantity == Decimal("0.00848454")
    assert order.status is ExchangeOrderStatus.PARTIAL
    assert order.updated_ms == 1591286411913


@pytest.mark.parametrize(
    ("type_", "method", "status", "side", "om", "st_"),
    [
        ("Buy", "Limit", "Untouched", Side.BUY, OrderMethod.LIMIT, ExchangeOrderStatus.UNTOUCHED),
        ("SELL", "MARKET", "closed", Side.SELL, OrderMethod.MARKET, ExchangeOrderStatus.CLOSED),
        (
            "buy",
            "stopmarket",
            "Canceled",
            Side.BUY,
            OrderMethod.STOP_MARKET,
            ExchangeOrderStatus.CANCELED,
        ),
        (
            "buy",
            "stopLimit",
            "CANCELED",
            Side.BUY,
            OrderMethod.STOP_LIMIT,
            ExchangeOrderStatus.CANCELED,
        ),
    ],
)
def test_order_case_variants(
    type_: str, method: str, status: str, side: Side, om: OrderMethod, st_: ExchangeOrderStatus
) -> None:
    raw = _obj(ORDER) | {"type": type_, "method": method, "status": status}
    order = parse.parse_single_order(raw)
    assert (order.side, order.method, order.status) == (side, om, st_)


def test_order_amount_only_and_time_only() -> None:
    raw = _obj(ORDER)
    del raw["quantity"]
    raw["time"] = 1591286400000
    del raw["updateTime"]
    order = parse.parse_single_order(raw)
    assert order.quantity == Decimal("0.04971904") and order.updated_ms == 1591286400000


def test_order_empty_client_id_is_none() -> None:
    order = parse.parse_single_order(_obj(ORDER) | {"orderClientId": ""})
    assert order.client_id is None


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("status", "Filled", "data.status: unknown order status 'filled'"),
        ("type", "long", "data.type: unknown side"),
        ("method", "iceberg", "data.method: unknown order method"),
        ("leftAmount", None, "data.leftAmount"),
        ("id", 1.5, "data.id: expected an integer"),
        ("id", "12a", "data.id: expected an integer"),
        ("updateTime", 0, "data.updateTime"),
        ("price", [], "data.price"),
    ],
)
def test_order_malformed(key: str, value: Any, expected: str) -> None:
    raw = _obj(ORDER) | {key: value}
    with pytest.raises(MalformedResponse) as info:
        parse.parse_single_order(raw)
    assert "GET /api/v1/order/{id}" in str(info.value) and expected in str(info.value)


def test_open_orders_asks_and_bids() -> None:
    sell = _obj(ORDER)
    buy = _obj(ORDER) | {"id": 16060238, "type": "buy", "status": "Untouched"}
    orders = parse.parse_open_orders({"asks": [sell], "bids": [buy]})
    assert [(o.order_id, o.side) for o in orders] == [(16060237, Side.SELL), (16060238, Side.BUY)]


def test_open_orders_malformed_names_nested_field() -> None:
    bad = _obj(ORDER)
    del bad["pairSymbol"]
    with pytest.raises(MalformedResponse, match=r"openOrders: data.bids\[0\].pairSymbol: missing"):
        parse.parse_open_orders({"asks": [], "bids": [bad]})


def test_all_orders_list() -> None:
    orders = parse.parse_order_list([_obj(ORDER)])
    assert orders[0].order_id == 16060237


def test_fill_sell_sample() -> None:
    (fill,) = parse.parse_fills([_obj(FILL)])
    assert fill.trade_id == 1181163798924649598  # beyond float64 precision, kept exact
    assert fill.order_id == 10938696222
    assert fill.side is Side.SELL
    # preciseAmount carries the digits the rounded `amount` string lost.
    assert fill.quantity == Decimal("0.33840811")
    assert fill.fee == Decimal("0.06297817") and fill.tax == Decimal("0.01133607")
    assert fill.price == Decimal("122.00")
    assert (fill.symbol, fill.base, fill.quote, fill.fee_asset) == ("ETHWTRY", "ETHW", "TRY", "TRY")
    assert fill.client_id == "..."
    assert fill.timestamp_ms == 1663848223334
    _no_floats(fill)


def test_fill_buy_without_precise_amount_and_order_type() -> None:
    raw = _obj(FILL) | {"amount": "0.5", "orderType": "Buy", "fee": "-0.1", "tax": "0"}
    del raw["preciseAmount"]
    (fill,) = parse.parse_fills([raw])
    assert fill.side is Side.BUY and fill.quantity == Decimal("0.5")
    assert fill.fee == Decimal("0.1") and fill.tax == Decimal("0")


def test_fill_side_from_sign_when_order_type_missing() -> None:
    raw = _obj(FILL)
    del raw["orderType"]
    assert parse.parse_fills([raw])[0].side is Side.SELL


def test_fill_trade_id_as_string() -> None:
    raw = _obj(FILL) | {"id": "1181163798924649598"}
    assert parse.parse_fills([raw])[0].trade_id == 1181163798924649598


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"orderType": "buy"}, "data[0].orderType: buy disagrees"),
        ({"amount": "0.3384"}, "data[0].preciseAmount: sign disagrees"),
        ({"fee": None}, "data[0].fee"),
        ({"price": "0"}, "data[0].price"),
        ({"id": 1.181163798924649598e18}, "data[0].id: expected an integer"),
        ({"denominatorSymbol": None}, "data[0].denominatorSymbol"),
    ],
)
def test_fill_malformed(changes: dict[str, Any], expected: str) -> None:
    raw = _obj(FILL)
    for key, value in changes.items():
        raw[key] = Decimal(str(value)) if isinstance(value, float) else value
    with pytest.raises(MalformedResponse) as info:
        parse.parse_fills([raw])
    assert "users/transactions/trade" in str(info.value) and expected in str(info.value)


def test_huge_trade_id_from_raw_json_text_is_exact() -> None:
    body = FILL.replace("1181163798924649598", "9223372036854775807123")
    (fill,) = parse.parse_fills([_obj(body)])
    assert fill.trade_id == 9223372036854775807123


def test_submit_ack_sample() -> None:
    ack = parse.parse_submit_ack(_envelope_data(SUBMIT_ACK), received_at_ms=1)
    assert ack.order_id == 21770789256
    assert ack.client_id == "Sat"
    assert ack.symbol == "LDOUSDT"
    assert ack.side is Side.SELL and ack.method is OrderMethod.LIMIT
    assert ack.price == Decimal("1.994") and ack.quantity == Decimal("76.38")
    assert ack.created_ms == 1713439781304


def test_submit_ack_doc_casing_and_missing_datetime() -> None:
    data = _envelope_data(SUBMIT_ACK) | {"type": "Buy", "method": "Market", "price": None}
    del data["datetime"]
    ack = parse.parse_submit_ack(data, received_at_ms=42)
    assert ack.side is Side.BUY and ack.method is OrderMethod.MARKET
    assert ack.price is None and ack.created_ms == 42


def test_submit_ack_missing_id() -> None:
    data = _envelope_data(SUBMIT_ACK)
    del data["id"]
    with pytest.raises(MalformedResponse, match=r"POST /api/v1/order: data\.id: missing"):
        parse.parse_submit_ack(data, 0)


def test_error_message_prefers_message_then_details() -> None:
    assert parse.error_message({"message": "TOO_MANY_REQUESTS", "details": "x"}) == (
        "TOO_MANY_REQUESTS"
    )
    assert parse.error_message({"details": "Quota exceeded"}) == "Quota exceeded"
    assert parse.error_message({"code": 1}) is None
    assert parse.error_message("Unauthorized - Invalid Nonce") == "Unauthorized - Invalid Nonce"


# ---------------------------------------------------------------------------------------------
# Property: parsers never leak a non-MalformedResponse exception

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)

_order_keys = list(_obj(ORDER))
_fill_keys = list(_obj(FILL))


@given(key=st.sampled_from(_order_keys), value=_json_values)
def test_order_parser_only_raises_malformed(key: str, value: Any) -> None:
    raw = _obj(ORDER) | {key: value}
    with contextlib.suppress(MalformedResponse):
        parse.parse_single_order(raw)


@given(key=st.sampled_from(_fill_keys), value=_json_values)
def test_fill_parser_only_raises_malformed(key: str, value: Any) -> None:
    raw = _obj(FILL) | {key: value}
    try:
        fills = parse.parse_fills([raw])
    except MalformedResponse:
        return
    _no_floats(fills)
    assert fills[0].quantity > 0 and fills[0].fee >= 0 and fills[0].tax >= 0


@given(payload=_json_values)
def test_every_parser_only_raises_malformed(payload: Any) -> None:
    parsers = [
        lambda p: parse.parse_envelope(p, "t"),
        parse.parse_server_time,
        parse.parse_exchange_info,
        lambda p: parse.parse_tickers(p, 0),
        lambda p: parse.parse_order_book(p, "BTCTRY", 0),
        parse.parse_balances,
        parse.parse_open_orders,
        parse.parse_order_list,
        parse.parse_single_order,
        parse.parse_fills,
        lambda p: parse.parse_submit_ack(p, 0),
        parse.parse_klines,
    ]
    for parser in parsers:
        with contextlib.suppress(MalformedResponse):
            parser(payload)
