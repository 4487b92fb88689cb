"""Frame -> domain parsing, on the reference's own example frames."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from btcbot_engine.exchange.btcturk.ws_parse import (
    DiffOp,
    FrameError,
    PrivateHint,
    decode_frame,
    parse_book_diff,
    parse_book_snapshot,
    parse_private_hint,
    parse_ticker,
    parse_ticker_all,
)

# Frames copied from reference section 6 / 6.2.
REF_402 = (
    '[402,{"B":"86689","A":"86699","BA":"0.00863785","AA":"0.00288357","PS":"BTCUSDT",'
    '"H":"86800","L":"85148","LA":"86766","O":"85459","V":"16.43392495",'
    '"AV":"86078.604090120000","D":"1240","DP":"1.53","DS":"USDT","NS":"BTC","PId":19,'
    '"channel":"ticker","event":"BTCUSDT","type":402}]'
)
REF_431 = (
    '[431,{"CS":3999242,"PS":"BTCUSDT","AO":[{"A":"0.00288357","P":"86699"}],'
    '"BO":[{"A":"0.00863785","P":"86689"}],"channel":"obdiff","event":"BTCUSDT","type":431}]'
)
REF_432 = (
    '[432,{"CS":3999243,"PS":"ETHUSDT","AO":[{"CP":1,"P":"2770.7","A":"1.83710101"},'
    '{"CP":3,"P":"2900","A":"9.05"}],"BO":[{"CP":0,"P":"2765","A":"0.32885056"}],'
    '"channel":"obdiff","event":"ETHUSDT","type":432}]'
)
REF_423 = (
    '[423,{"id":1149163839863900657,"orderId":25327923517,"timestamp":1729396570700,'
    '"numeratorSymbol":"APE","denominatorSymbol":"USDT","amount":"-205.24","fee":"-0.10467240",'
    '"tax":"-0.02093448","price":"1.020","orderType":"sell","orderClientId":"x",'
    '"preciseAmount":-205.24}]'
)
REF_441 = (
    '[441,{"type":441,"id":7968322274,"user":343234,"isBid":false,"method":0,"pair":62,'
    '"symbol":"DOTUSDT","amount":"0.6393864025","price":"20.9700000000",'
    '"clientId":"e3670027-694c-4318-abb8-74112b3bfe7c"}]'
)
REF_451 = (
    '[451,{"type":451,"pairId":62,"symbol":"DOTUSDT","id":7968322274,"method":0,'
    '"userId":343234,"orderType":1,"price":"20.97","amount":"1","numLeft":"1",'
    '"denomLeft":"20.9679029999999992",'
    '"newOrderClientId":"e3670027-694c-4318-abb8-74112b3bfe7c"}]'
)
REF_452 = (
    '[452,{"type":452,"pairId":223,"symbol":"ARPAUSDT","id":25338392433,"method":0,'
    '"userId":907818,"orderType":0,"price":"0.0457300000000000",'
    '"amount":"37154.7082000000000000","numLeft":"37154.7082000000000000",'
    '"denomLeft":"1700.78","newOrderClientId":"x"}]'
)
REF_201 = '[201,{"type":201,"userId":1,"payload":"..."}]'


def test_reference_402_becomes_decimal_ticker_stamped_with_receive_time() -> None:
    model, body = decode_frame(REF_402)
    ticker = parse_ticker(body, received_at_ms=1234)
    assert model == 402
    assert ticker.symbol == "BTCUSDT"
    assert (ticker.bid, ticker.ask, ticker.last) == (
        Decimal("86689"),
        Decimal("86699"),
        Decimal("86766"),
    )
    assert (ticker.high, ticker.low) == (Decimal("86800"), Decimal("85148"))
    assert ticker.volume == Decimal("16.43392495")
    assert ticker.average == Decimal("86078.604090120000")
    assert ticker.exchange_ts_ms == ticker.received_at_ms == 1234
    assert all(
        type(v) is Decimal
        for v in (ticker.bid, ticker.ask, ticker.last, ticker.high, ticker.low, ticker.volume)
    )


def test_401_items_become_tickers() -> None:
    _, body = decode_frame(REF_402)
    del body["type"]
    other = dict(body, PS="ETHTRY", event="ETHTRY")
    tickers = parse_ticker_all({"items": [body, other], "type": 401}, received_at_ms=5)
    assert [t.symbol for t in tickers] == ["BTCUSDT", "ETHTRY"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not JSON"),
        ('{"type":402}', "not a 2-element array"),
        ("[402]", "not a 2-element array"),
        ("[402, {}, 3]", "not a 2-element array"),
        ('["402", {}]', "model number is not an int"),
        ("[true, {}]", "model number is not an int"),
        ("[402, []]", "body is not an object"),
        ('[402, {"B": NaN}]', "not JSON"),
        ('[402, {"B": Infinity}]', "not JSON"),
    ],
)
def test_decode_frame_rejects_non_frames(raw: str, reason: str) -> None:
    with pytest.raises(FrameError) as info:
        decode_frame(raw)
    assert reason in info.value.reason


def test_json_numbers_decode_as_decimal_never_float() -> None:
    _, body = decode_frame('[402, {"B": 1.10}]')
    assert body["B"] == Decimal("1.10") and type(body["B"]) is Decimal


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("B", "NaN", "not a finite number"),
        ("A", "Infinity", "not a finite number"),
        ("LA", "-1", "negative"),
        ("H", "abc", "not a decimal number"),
        ("V", "", "empty string"),
        ("AV", True, "refusing bool"),
        ("L", None, "missing field L"),
        ("PS", None, "missing field PS"),
    ],
)
def test_ticker_refuses_bad_numbers(field: str, value: object, reason: str) -> None:
    _, body = decode_frame(REF_402)
    body[field] = value
    if field == "PS":
        body["event"] = None
    with pytest.raises(FrameError) as info:
        parse_ticker(body, received_at_ms=0)
    assert reason in info.value.reason
    assert info.value.model == 402


def test_reference_431_and_432_parse() -> None:
    _, snap = decode_frame(REF_431)
    frame = parse_book_snapshot(snap)
    assert frame.symbol == "BTCUSDT" and frame.cs == 3999242
    assert frame.asks[0].price == Decimal("86699") and frame.bids[0].quantity == Decimal(
        "0.00863785"
    )
    _, diff = decode_frame(REF_432)
    d = parse_book_diff(diff)
    assert d.symbol == "ETHUSDT" and d.cs == 3999243
    assert [c.op for c in d.asks] == [DiffOp.NEW, DiffOp.REMOVE]
    assert d.bids[0].op is DiffOp.REPLACE and d.bids[0].quantity == Decimal("0.32885056")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.update(CS="12"), "CS is not an int"),
        (lambda b: b.pop("CS"), "missing field CS"),
        (lambda b: b["AO"][0].update(CP=2), "unknown CP 2"),
        (lambda b: b["AO"][0].update(P="0"), "level price is zero"),
        (lambda b: b["BO"][0].update(A="-0.1"), "negative"),
        (lambda b: b.update(BO={"P": "1"}), "not a list of objects"),
    ],
)
def test_432_refuses_bad_shapes(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    _, body = decode_frame(REF_432)
    mutate(body)
    with pytest.raises(FrameError) as info:
        parse_book_diff(body)
    assert reason in info.value.reason


def test_431_drops_zero_amount_levels() -> None:
    _, body = decode_frame(REF_431)
    body["BO"].append({"P": "86000", "A": "0"})
    assert len(parse_book_snapshot(body).bids) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (REF_451, PrivateHint(451, "DOTUSDT", 7968322274, "e3670027-694c-4318-abb8-74112b3bfe7c")),
        (REF_452, PrivateHint(452, "ARPAUSDT", 25338392433, "x")),
        (REF_441, PrivateHint(441, "DOTUSDT", 7968322274, "e3670027-694c-4318-abb8-74112b3bfe7c")),
        (REF_423, PrivateHint(423, "APEUSDT", 25327923517, "x")),
        (REF_201, PrivateHint(201, None, None, None)),
    ],
)
def test_reference_private_frames_become_hints(raw: str, expected: PrivateHint) -> None:
    model, body = decode_frame(raw)
    assert parse_private_hint(model, body) == expected


def test_453_uses_the_451_shape() -> None:
    _, body = decode_frame(REF_451)
    body["type"] = 453
    assert parse_private_hint(453, body).client_id == "e3670027-694c-4318-abb8-74112b3bfe7c"


def test_private_hint_refuses_missing_symbol_and_bad_ids() -> None:
    _, body = decode_frame(REF_451)
    with pytest.raises(FrameError, match="missing field symbol"):
        parse_private_hint(451, {k: v for k, v in body.items() if k != "symbol"})
    with pytest.raises(FrameError, match="id is not an int"):
        parse_private_hint(451, dict(body, id="12x"))
    # A huge id sent as a digit string stays exact.
    assert parse_private_hint(451, dict(body, id="1149163839863900657")).order_id == (
        1149163839863900657
    )


def test_423_large_trade_id_stays_exact_int() -> None:
    # The trade id exceeds float precision; the JSON decoder keeps it an int.
    _, body = decode_frame(REF_423)
    assert body["id"] == 1149163839863900657
    assert json.dumps(body["id"]) == "1149163839863900657"
