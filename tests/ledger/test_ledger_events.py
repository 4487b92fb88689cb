"""events_from_fill and opening_balance_events: the persisted shape of one fill and of starting
funds, and the inputs they refuse."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from ledger_testkit import T0, D, make_fill

from btcbot_engine.domain.records import LedgerKind
from btcbot_engine.ledger import (
    OPENING_REF,
    LedgerInputError,
    events_from_fill,
    opening_balance_events,
)


def test_try_buy_gives_fill_fee_tax() -> None:
    fill = make_fill("buy", "0.01", "3000000", fee="15", tax="2.7", trade_id=1181163798924649598)
    events = events_from_fill(fill, quote_to_try=D(1))
    assert [e.kind for e in events] == [LedgerKind.FILL, LedgerKind.FEE, LedgerKind.TAX]
    fill_ev, fee_ev, tax_ev = events
    assert (fill_ev.asset, fill_ev.symbol) == ("BTC", "BTCTRY")
    assert fill_ev.quantity == D("0.01")
    assert fill_ev.amount_quote == D("-30000")
    assert fill_ev.price == D("3000000")
    assert (fee_ev.asset, fee_ev.quantity, fee_ev.amount_quote) == ("TRY", D("-15"), D("-15"))
    assert (tax_ev.asset, tax_ev.quantity, tax_ev.amount_quote) == ("TRY", D("-2.7"), D("-2.7"))
    # The trade id (beyond float precision) is the ref of every event, as exact text.
    assert {e.ref for e in events} == {"1181163798924649598"}
    assert {e.ts_ms for e in events} == {T0}
    assert all(e.seq is None for e in events)


def test_sell_signs_are_reversed() -> None:
    fill_ev = events_from_fill(make_fill("sell", "0.5", "100"), quote_to_try=D(1))[0]
    assert fill_ev.quantity == D("-0.5")
    assert fill_ev.amount_quote == D("50")


def test_usdt_pair_records_the_fee_conversion_rate() -> None:
    fill = make_fill("buy", "0.01", "100000", fee="0.9", tax="0.162", quote="USDT")
    events = events_from_fill(fill, quote_to_try=D("32.5"), ts_ms=T0 + 5)
    kinds = [e.kind for e in events]
    assert kinds == [LedgerKind.FILL, LedgerKind.FEE, LedgerKind.TAX, LedgerKind.FEE_CONVERSION]
    conversion = events[-1]
    assert conversion.asset == "USDT"
    assert conversion.symbol == "BTCUSDT"
    assert conversion.quantity == 0  # bookkeeping only: no balance moves
    assert conversion.price == D("32.5")
    assert conversion.amount_quote == D("-1.062")
    assert "34.515 TRY" in conversion.detail  # 1.062 USDT x 32.5
    assert {e.ts_ms for e in events} == {T0 + 5}


@pytest.mark.parametrize(
    ("changes", "rate", "message"),
    [
        ({"quantity": D(0)}, D(1), "quantity"),
        ({"price": D("-1")}, D(1), "price"),
        ({"fee": D("-0.1")}, D(1), "fee"),
        ({"symbol": "ETHTRY"}, D(1), "symbol"),
        ({"fee_asset": "BTC"}, D(1), "fee asset"),
        ({}, D("1.5"), "must be 1"),
        ({}, D(0), "quote_to_try"),
    ],
)
def test_refused_fills(changes: dict[str, object], rate: Decimal, message: str) -> None:
    fill = dataclasses.replace(make_fill("buy", "1", "10"), **changes)  # type: ignore[arg-type]
    with pytest.raises(LedgerInputError, match=message):
        events_from_fill(fill, quote_to_try=rate)


def test_float_rate_refused() -> None:
    with pytest.raises(LedgerInputError, match="float"):
        events_from_fill(make_fill("buy", "1", "10"), quote_to_try=1.0)  # type: ignore[arg-type]


def test_opening_balances() -> None:
    events = opening_balance_events(
        {"try": D("1000"), "BTC": D("0.5"), "ETH": D("0")},
        T0,
        cost_basis={"BTC": ("BTCTRY", D("2000000"))},
    )
    assert [(e.kind, e.asset, e.quantity) for e in events] == [
        (LedgerKind.ADJUSTMENT, "BTC", D("0.5")),
        (LedgerKind.ADJUSTMENT, "TRY", D("1000")),
    ]
    btc, try_ = events
    assert (btc.symbol, btc.price, btc.amount_quote) == ("BTCTRY", D("2000000"), D("1000000"))
    assert (try_.symbol, try_.price) == (None, None)
    assert {e.ref for e in events} == {OPENING_REF}


def test_opening_balance_refuses_negative_and_wrong_pair() -> None:
    with pytest.raises(LedgerInputError, match="at least 0"):
        opening_balance_events({"TRY": D("-1")}, T0)
    with pytest.raises(LedgerInputError, match="base"):
        opening_balance_events({"BTC": D("1")}, T0, cost_basis={"BTC": ("ETHTRY", D("1"))})
