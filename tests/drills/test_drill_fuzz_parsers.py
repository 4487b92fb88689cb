"""Fuzz every REST and WebSocket wire parser with broken payloads.

Every input must give a domain object or the parser's typed error (MalformedResponse for REST,
FrameError for WS frames), never another exception, and no float or non-finite Decimal may come
out. Money that came out must also be usable: non-negative and within a sane magnitude, so the
strategy's arithmetic on it cannot overflow.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from drills_fuzzing import (
    broken_payloads,
    decimals_in,
    fuzz_settings,
    json_values,
    result_problems,
)
from drills_testkit import record_figure
from hypothesis import given
from hypothesis import strategies as st

from btcbot_engine.exchange.btcturk import parse
from btcbot_engine.exchange.btcturk.ws_book import BookOutcome, DiffBook
from btcbot_engine.exchange.btcturk.ws_parse import (
    FrameError,
    decode_frame,
    parse_book_diff,
    parse_book_snapshot,
    parse_private_hint,
    parse_ticker,
    parse_ticker_all,
)
from btcbot_engine.exchange.port import MalformedResponse

EXAMPLES = 300  # per endpoint / model, deterministic (derandomize)
NOW_MS = 1_795_258_188_800
# Parsed amounts stay below 1e30: far above any real price, volume or balance, far below where
# Decimal arithmetic overflows.
MAX_EXPONENT = 30

# --- REST samples (the simulator's replies, as reference section 3 shows them) -------------------

_ORDER = {
    "id": 21770789256,
    "price": "2999700.00",
    "amount": "0.00100000",
    "quantity": "0.00100000",
    "stopPrice": "0.00",
    "pairSymbol": "BTCTRY",
    "pairSymbolNormalized": "BTC_TRY",
    "type": "buy",
    "method": "limit",
    "orderClientId": "cid1",
    "time": 0,
    "updateTime": 1795258188729,
    "status": "Untouched",
    "leftAmount": "0.001",
}
REST_SAMPLES: dict[str, tuple[str, Callable[[Any], Any], bool]] = {
    # name: (sample JSON text, parser of the payload (`data` when enveloped), enveloped)
    "server_time": (
        '{"serverTime":1795258188723,"serverTime2":"2026-11-21T10:49:48.7230000+00:00"}',
        parse.parse_server_time,
        False,
    ),
    "exchangeinfo": (
        '{"success":true,"message":null,"code":0,"data":{"timeZone":"UTC",'
        '"serverTime":1795258188724,"symbols":[{"id":1,"name":"BTCTRY",'
        '"nameNormalized":"BTC_TRY","status":"TRADING","numerator":"BTC","denominator":"TRY",'
        '"numeratorScale":8,"denominatorScale":2,"hasFraction":false,"filters":[{"filterType":'
        '"PRICE_FILTER","minPrice":"10","maxPrice":"3000000000","tickSize":"10",'
        '"minExchangeValue":"99.91","minAmount":null,"maxAmount":null}],"orderMethods":'
        '["MARKET","LIMIT","STOP_MARKET","STOP_LIMIT"],"displayFormat":"#,###",'
        '"commissionFromNumerator":false,"order":1000,"priceRounding":false,"isNew":false,'
        '"marketPriceWarningThresholdPercentage":0.25,"maximumOrderAmount":null,'
        '"maximumLimitOrderPrice":30000000,"minimumLimitOrderPrice":300000}]}}',
        parse.parse_exchange_info,
        True,
    ),
    "ticker": (
        '{"success":true,"message":null,"code":0,"data":[{"pair":"BTCTRY","pairNormalized":'
        '"BTC_TRY","timestamp":1795258188679,"last":3000000,"high":3024000,"low":2943780,'
        '"bid":2999700,"ask":3000300,"open":2967530,"volume":907.58495,"average":2983765,'
        '"daily":32470,"dailyPercent":1.09,"denominatorSymbol":"TRY","numeratorSymbol":"BTC",'
        '"order":1000}]}',
        lambda data: parse.parse_tickers(data, NOW_MS),
        True,
    ),
    "orderbook": (
        '{"success":true,"message":null,"code":0,"data":{"timestamp":1795258188679,"bids":'
        '[["2999700.00","0.01520739"],["2999400.00","0.00520154"]],"asks":[["3000300.00",'
        '"0.00492154"],["3000600.00","0.00535471"]]}}',
        lambda data: parse.parse_order_book(data, "BTCTRY", NOW_MS),
        True,
    ),
    "balances": (
        '{"success":true,"message":null,"code":0,"data":[{"asset":"TRY","assetname":'
        '"Türk Lirası","balance":"100000","locked":"0","free":"100000","orderFund":"0",'
        '"requestFund":"0","precision":2},{"asset":"BTC","assetname":"Bitcoin","balance":'
        '"0.05","locked":"0","free":"0.05","orderFund":"0","requestFund":"0","precision":8}]}',
        parse.parse_balances,
        True,
    ),
    "submit": (
        '{"success":true,"message":"OK","code":0,"httpStatusCode":200,"data":{"id":21770789256,'
        '"quantity":"0.001","price":"2999700","stopPrice":null,"newOrderClientId":"cid1",'
        '"type":"buy","method":"limit","pairSymbol":"BTCTRY","pairSymbolNormalized":"BTC_TRY",'
        '"datetime":1795258188729}}',
        lambda data: parse.parse_submit_ack(data, NOW_MS),
        True,
    ),
    "open_orders": (
        json.dumps(
            {
                "success": True,
                "message": None,
                "code": 0,
                "data": {"asks": [_ORDER | {"type": "sell", "id": 7}], "bids": [_ORDER]},
            }
        ),
        parse.parse_open_orders,
        True,
    ),
    "all_orders": (
        json.dumps(
            {
                "success": True,
                "message": None,
                "code": 0,
                "data": [_ORDER | {"status": "Closed", "leftAmount": "0"}, _ORDER],
            }
        ),
        parse.parse_order_list,
        True,
    ),
    "order": (
        json.dumps({"success": True, "message": None, "code": 0, "data": _ORDER}),
        parse.parse_single_order,
        True,
    ),
    "fills": (
        '{"success":true,"message":null,"code":0,"data":[{"id":1181163798924652006,'
        '"timestamp":1795258188730,"amount":"-0.001","preciseAmount":-0.001,"fee":"-2.70027000",'
        '"tax":"-0.48604860","price":"3000300.00","numeratorSymbol":"BTC","denominatorSymbol":'
        '"TRY","orderType":"sell","orderId":21770789283,"orderClientId":"cid2"}]}',
        parse.parse_fills,
        True,
    ),
    "klines": (
        '{"s":"ok","t":[1795248000,1795251600],"o":[3001700,2989060],"h":[3001700,2991390],'
        '"l":[2985590,2980180],"c":[2989060,2986720],"v":[52.7333216,48.8092022]}',
        parse.parse_klines,
        False,
    ),
}

# --- WS samples (reference section 6 frames, as the simulator sends them) ----------------------

WS_SAMPLES: dict[str, str] = {
    "402 ticker": (
        '[402,{"B":"86689","A":"86699","BA":"0.00863785","AA":"0.00288357","PS":"BTCUSDT",'
        '"H":"86800","L":"85148","LA":"86766","O":"85459","V":"16.43392495",'
        '"AV":"86078.604090120000","D":"1240","DP":"1.53","DS":"USDT","NS":"BTC","PId":19,'
        '"channel":"ticker","event":"BTCUSDT","type":402}]'
    ),
    "401 tickers": (
        '[401,{"items":[{"B":"86689","A":"86699","PS":"BTCUSDT","H":"86800","L":"85148",'
        '"LA":"86766","V":"16.4","AV":"86078.6"},{"B":"3190","A":"3191","PS":"ETHUSDT",'
        '"H":"3200","L":"3100","LA":"3190","V":"500","AV":"3150"}],"channel":"ticker",'
        '"event":"all","type":401}]'
    ),
    "431 book": (
        '[431,{"CS":3999242,"PS":"BTCUSDT","AO":[{"A":"0.00288357","P":"86699"},'
        '{"A":"0.5","P":"86700"}],"BO":[{"A":"0.00863785","P":"86689"},{"A":"1","P":"86600"}],'
        '"channel":"obdiff","event":"BTCUSDT","type":431}]'
    ),
    "432 diff": (
        '[432,{"CS":3999243,"PS":"BTCUSDT","AO":[{"CP":1,"P":"86701","A":"1.83710101"},'
        '{"CP":3,"P":"86700","A":"0.5"}],"BO":[{"CP":0,"P":"86689","A":"0.32885056"}],'
        '"channel":"obdiff","event":"BTCUSDT","type":432}]'
    ),
    "423 trade": (
        '[423,{"id":1149163839863900657,"orderId":25327923517,"timestamp":1729396570700,'
        '"numeratorSymbol":"APE","denominatorSymbol":"USDT","amount":"-205.24","fee":'
        '"-0.10467240","tax":"-0.02093448","price":"1.020","orderType":"sell","orderClientId":'
        '"x","preciseAmount":-205.24}]'
    ),
    "441 match": (
        '[441,{"type":441,"id":7968322274,"user":343234,"isBid":false,"method":0,"pair":62,'
        '"symbol":"DOTUSDT","amount":"0.6393864025","price":"20.9700000000","clientId":'
        '"e3670027-694c-4318-abb8-74112b3bfe7c"}]'
    ),
    "451 insert": (
        '[451,{"type":451,"pairId":62,"symbol":"DOTUSDT","id":7968322274,"method":0,'
        '"userId":343234,"orderType":1,"price":"20.97","amount":"1","numLeft":"1","denomLeft":'
        '"20.9679029999999992","newOrderClientId":"e3670027-694c-4318-abb8-74112b3bfe7c"}]'
    ),
    "452 delete": (
        '[452,{"type":452,"pairId":223,"symbol":"ARPAUSDT","id":25338392433,"method":0,'
        '"userId":907818,"orderType":0,"price":"0.04573","amount":"37154.7082","numLeft":'
        '"37154.7082","denomLeft":"1700.78","newOrderClientId":"x"}]'
    ),
    "201 balance": '[201,{"type":201,"userId":1,"payload":"BalanceUpdated"}]',
}

_BASE_BOOK = WS_SAMPLES["431 book"]


def _ws_parse(text: str) -> Any:
    """What the feed does with one frame, minus the I/O (FrameError is the typed refusal)."""
    model, body = decode_frame(text)
    if model == 402:
        return parse_ticker(body, NOW_MS)
    if model == 401:
        return parse_ticker_all(body, NOW_MS)
    if model == 431:
        frame = parse_book_snapshot(body)
        outcome = DiffBook(frame.symbol).apply_snapshot(frame, NOW_MS)
        assert isinstance(outcome, BookOutcome)
        return frame
    if model == 432:
        frame = parse_book_diff(body)
        book = DiffBook(frame.symbol)
        _, base = decode_frame(_BASE_BOOK)
        book.apply_snapshot(parse_book_snapshot(base), NOW_MS)
        outcome = book.apply_diff(frame, NOW_MS)
        assert isinstance(outcome, BookOutcome)
        if outcome is BookOutcome.OK:
            assert book.order_book() is not None
        return frame
    return parse_private_hint(model, body)


def _rest_parse(text: str, parser: Callable[[Any], Any], enveloped: bool) -> Any:
    """What the adapter does with a 2xx body (MalformedResponse is the typed refusal)."""
    payload = parse.loads(text, "fuzz")
    if enveloped:
        payload = parse.parse_envelope(payload, "fuzz").data
    return parser(payload)


def _check_result(result: Any) -> None:
    problems = result_problems(result)
    assert not problems, problems
    for path, value in decimals_in(result):
        # adjusted(), not abs(): arithmetic on 1E+999999999 itself raises decimal.Overflow.
        assert value.adjusted() < MAX_EXPONENT, f"{path}: {value} is not a usable amount"
        assert value >= 0, f"{path}: negative amount {value}"
        assert value - value == 0  # usable in arithmetic


@pytest.mark.slow  # thousands of examples: a drill, not a unit test
@pytest.mark.parametrize("name", sorted(REST_SAMPLES))
def test_rest_parsers_give_a_domain_object_or_malformed_response(name: str) -> None:
    sample, parser, enveloped = REST_SAMPLES[name]
    _check_result(_rest_parse(sample, parser, enveloped))  # the sample itself parses
    outcomes: Counter[str] = Counter()

    @fuzz_settings(EXAMPLES)
    @given(text=broken_payloads(json.loads(sample, parse_float=Decimal)))
    def check(text: str) -> None:
        try:
            result = _rest_parse(text, parser, enveloped)
        except MalformedResponse as exc:
            assert str(exc), "a typed error names what is wrong"
            outcomes["typed error"] += 1
            return
        _check_result(result)
        outcomes["domain object"] += 1

    check()
    assert outcomes["typed error"] > 0
    record_figure(
        f"fuzz REST {name}: examples (objects / typed errors)",
        f"{sum(outcomes.values())} ({outcomes['domain object']} / {outcomes['typed error']})",
    )


@pytest.mark.slow  # thousands of examples: a drill, not a unit test
@pytest.mark.parametrize("name", sorted(WS_SAMPLES))
def test_ws_parsers_give_a_domain_object_or_frame_error(name: str) -> None:
    sample = WS_SAMPLES[name]
    _check_result(_ws_parse(sample))
    outcomes: Counter[str] = Counter()

    @fuzz_settings(EXAMPLES)
    @given(text=broken_payloads(json.loads(sample, parse_float=Decimal)))
    def check(text: str) -> None:
        try:
            result = _ws_parse(text)
        except FrameError as exc:
            assert exc.reason, "a typed error names what is wrong"
            outcomes["typed error"] += 1
            return
        _check_result(result)
        outcomes["domain object"] += 1

    check()
    assert outcomes["typed error"] > 0
    record_figure(
        f"fuzz WS {name}: examples (objects / typed errors)",
        f"{sum(outcomes.values())} ({outcomes['domain object']} / {outcomes['typed error']})",
    )


@pytest.mark.slow  # thousands of examples: a drill, not a unit test
def test_parsers_fed_arbitrary_python_values_raise_only_typed_errors() -> None:
    """The parsers' own contract, below JSON decoding: any value (floats too) in, typed out."""
    rest = [parser for _, parser, _ in REST_SAMPLES.values()]
    tried = Counter[str]()

    @fuzz_settings(EXAMPLES * 2)
    @given(value=json_values | st.dictionaries(st.sampled_from(_FIELD_NAMES), json_values))
    def check(value: Any) -> None:
        for parser in rest:
            try:
                _check_result(parser(value))
            except MalformedResponse:
                tried["typed error"] += 1
        for model in (401, 402, 423, 431, 432, 441, 451, 452, 201, 999):
            try:
                _check_result(_ws_parse(json.dumps([model, value], default=str)))
            except FrameError:
                tried["typed error"] += 1
        tried["values"] += 1

    check()
    record_figure("fuzz raw values into every parser: values", tried["values"])


# Field names the parsers read, so random objects sometimes carry them.
_FIELD_NAMES = sorted(
    {
        "serverTime", "symbols", "filters", "pair", "bid", "ask", "last", "high", "low",
        "volume", "average", "timestamp", "bids", "asks", "asset", "balance", "free", "locked",
        "id", "price", "quantity", "amount", "leftAmount", "status", "type", "method",
        "pairSymbol", "orderClientId", "updateTime", "time", "fee", "tax", "orderId",
        "numeratorSymbol", "denominatorSymbol", "preciseAmount", "orderType", "s", "t", "o",
        "h", "l", "c", "v", "items", "B", "A", "PS", "CS", "AO", "BO", "CP", "P", "symbol",
    }
)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "parser"),
    [
        ('{"pair":"BTCTRY","bid":-1,"ask":2,"last":2,"high":2,"low":1,"volume":1,'
         '"average":1,"timestamp":1}', lambda d: parse.parse_tickers([d], NOW_MS)),
        ('{"asset":"TRY","balance":"-5","free":"0","locked":"0"}',
         lambda d: parse.parse_balances([d])),
        (REST_SAMPLES["order"][0].replace('"0.001"', '"1e999999999"'),
         lambda d: parse.parse_single_order(d["data"])),
        ('{"s":"ok","t":[1],"o":[-1],"h":[1],"l":[1],"c":[1],"v":[1]}', parse.parse_klines),
    ],
)  # fmt: skip
def test_rest_fuzz_findings_stay_fixed(text: str, parser: Callable[[Any], Any]) -> None:
    """Negative prices and balances, and amounts whose arithmetic overflows, are refused."""
    with pytest.raises(MalformedResponse, match=r"negative|out of range"):
        parser(parse.loads(text, "regression"))


@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000 + "]" * 3000,  # was a RecursionError out of decode_frame
        '[451,{"symbol":"BTCTRY","id":"²"}]',  # was a ValueError from int("²")
        WS_SAMPLES["402 ticker"].replace('"86689"', '"1e999999999"'),  # was accepted
    ],
)
def test_ws_fuzz_findings_stay_fixed(text: str) -> None:
    with pytest.raises(FrameError):
        _ws_parse(text)
