"""The ledger on hand-computed examples: a TRY round trip, a USDT pair with its fee conversion,
oversells, duplicates, malformed rows, marks, peak and drawdown, and the Istanbul day."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from ledger_testkit import T0, D, make_fill

import btcbot_engine.ledger as ledger_module
from btcbot_engine.domain.records import LedgerEvent, LedgerKind
from btcbot_engine.ledger import (
    Ledger,
    events_from_fill,
    istanbul_day_start_ms,
    opening_balance_events,
)


def _ms(text: str) -> int:
    """Epoch ms of an ISO time with offset, computed without floats."""
    return (datetime.fromisoformat(text) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        milliseconds=1
    )


def _try_round_trip() -> list[LedgerEvent]:
    buy = make_fill("buy", "0.01", "3000000", fee="15", tax="2.7", ts_ms=T0)
    sell = make_fill("sell", "0.01", "3100000", fee="15.5", tax="2.79", ts_ms=T0 + 60_000)
    return [
        *opening_balance_events({"TRY": D("100000")}, T0 - 1),
        *events_from_fill(buy, quote_to_try=D(1)),
        *events_from_fill(sell, quote_to_try=D(1)),
    ]


def test_try_round_trip_by_hand() -> None:
    ledger = Ledger.replay(_try_round_trip())
    # Cash: 100000 - 30000 - 15 - 2.7 + 31000 - 15.5 - 2.79 = 100964.01
    assert ledger.cash("TRY") == D("100964.01")
    assert ledger.cash("BTC") == 0
    position = ledger.position("BTCTRY")
    assert position is not None
    assert position.quantity == 0
    assert position.realized_quote == D("1000")  # (3,100,000 - 3,000,000) x 0.01
    assert position.realized_try == D("1000")
    assert position.fees_try == D("30.5")
    assert position.tax_try == D("5.49")
    assert position.turnover_try == D("61000")
    assert position.fills == 2

    snap = ledger.mark({"BTCTRY": D("3200000")}, {}, T0 + 120_000)
    assert snap.realized_try == D("1000")
    assert snap.unrealized_try == 0
    assert snap.fees_try == D("30.5")
    assert snap.tax_try == D("5.49")
    assert snap.net_pnl_try == D("964.01")  # 1000 - 30.5 - 5.49
    assert snap.equity_try == D("100964.01")
    assert snap.turnover_try == D("61000")
    assert snap.realized_today_try == D("1000")
    assert snap.loss_today_try == 0
    assert snap.complete


def test_open_position_marks_and_fees_stay_out_of_cost() -> None:
    events = _try_round_trip()[:4]  # opening + the buy only
    ledger = Ledger.replay(events)
    position = ledger.position("BTC_TRY")
    assert position is not None
    # Fees are booked separately: the average cost is the plain price paid.
    assert position.avg_cost == D("3000000")
    assert position.cost_basis == D("30000")
    snap = ledger.mark({"BTCTRY": D("2900000")}, {}, T0 + 1)
    btc = snap.position("btctry")
    assert btc is not None and btc.mark == D("2900000")
    assert btc.unrealized_try == D("-1000")
    assert snap.net_pnl_try == D("-1017.7")  # -1000 - 15 - 2.7
    # Equity: TRY 69982.3 + 0.01 BTC x 2,900,000
    assert snap.equity_try == D("98982.3")
    assert snap.equity_try - D("100000") == snap.net_pnl_try


def test_average_cost_over_two_buys_and_a_partial_sell() -> None:
    events = [
        *events_from_fill(make_fill("buy", "1", "100"), quote_to_try=D(1)),
        *events_from_fill(make_fill("buy", "2", "200"), quote_to_try=D(1)),
        *events_from_fill(make_fill("sell", "1.5", "300", fee="1"), quote_to_try=D(1)),
    ]
    ledger = Ledger.replay(events)
    position = ledger.position("BTCTRY")
    assert position is not None
    # avg = 500 / 3, shown to 18 places; the cost basis stays exact.
    assert position.quantity == D("1.5")
    assert position.avg_cost == D("166.666666666666666667")
    assert position.cost_basis == D("1.5") * D("166.666666666666666667")
    # The rounding residue of the average (5e-19 x 3) leaves with the sell, so cash and PnL
    # reconcile: realized = 450 - (500 - cost left).
    assert position.realized_quote == D("450") - (D("500") - position.cost_basis)
    snap = ledger.mark({"BTCTRY": D("300")}, {}, T0)
    assert snap.net_pnl_try == D("-500") + D("450") - D("1") + D("1.5") * D("300")


def test_usdt_pair_uses_the_rate_fixed_at_fill_time() -> None:
    opening = opening_balance_events({"USDT": D("2000")}, T0 - 1)
    buy = make_fill("buy", "0.01", "100000", fee="0.9", tax="0.162", quote="USDT", ts_ms=T0)
    sell = make_fill(
        "sell", "0.01", "101000", fee="0.909", tax="0.16362", quote="USDT", ts_ms=T0 + 1
    )
    buy_events = events_from_fill(buy, quote_to_try=D("32.5"))
    sell_events = events_from_fill(sell, quote_to_try=D("33"))
    assert LedgerKind.FEE_CONVERSION in {e.kind for e in buy_events}

    ledger = Ledger.replay([*opening, *buy_events])
    position = ledger.position("BTCUSDT")
    assert position is not None
    assert position.fees_try == D("29.25")  # 0.9 x 32.5
    assert position.tax_try == D("5.265")  # 0.162 x 32.5
    assert position.turnover_try == D("32500")
    # Marked later at USDTTRY 34: unrealized converts at the mark, fees stay at 32.5.
    snap = ledger.mark({"BTCUSDT": D("102000")}, {"USDT": D("34")}, T0 + 1)
    btc = snap.position("BTCUSDT")
    assert btc is not None
    assert btc.unrealized_quote == D("20")
    assert btc.unrealized_try == D("680")
    assert snap.fees_try == D("29.25")
    # USDT 998.938 x 34 + 0.01 BTC x 102000 x 34 (the coin is valued through its USDT pair)
    assert ledger.cash("USDT") == D("998.938")
    assert snap.equity_try == D("33963.892") + D("34680")

    ledger.apply_all(sell_events)
    position = ledger.position("BTCUSDT")
    assert position is not None
    assert position.realized_quote == D("10")
    assert position.realized_try == D("330")  # 10 USDT x 33, the sell's rate
    assert position.fees_try == D("29.25") + D("29.997")  # 0.909 x 33
    assert position.tax_try == D("5.265") + D("5.39946")  # 0.16362 x 33


def test_fee_conversion_may_come_before_or_after_its_trade() -> None:
    events = events_from_fill(
        make_fill("buy", "1", "10", fee="0.5", tax="0.1", quote="USDT"), quote_to_try=D("30")
    )
    conversion_first = [events[-1], *events[:-1]]
    after = Ledger.replay(events)
    before = Ledger.replay(conversion_first)
    assert after.position("BTCUSDT") == before.position("BTCUSDT")
    assert after.fees_try == D("15") and after.tax_try == D("3")
    assert after.turnover_try == D("300")


def test_missing_conversion_leaves_the_trade_unconverted() -> None:
    events = events_from_fill(
        make_fill("buy", "1", "10", fee="0.5", quote="USDT"), quote_to_try=D("30")
    )
    ledger = Ledger.replay(events[:-1])
    assert ledger.fees_try == 0
    assert len(ledger.unconverted_trades()) == 1


def test_oversell_is_recorded_not_raised() -> None:
    events = [
        *opening_balance_events({"TRY": D("1000")}, T0),
        *events_from_fill(make_fill("buy", "0.01", "1000"), quote_to_try=D(1)),
        *events_from_fill(make_fill("sell", "0.03", "1100"), quote_to_try=D(1)),
    ]
    ledger = Ledger.replay(events)
    [violation] = ledger.violations
    assert violation.code == "ledger:negative_position"
    assert violation.subject == "BTCTRY"
    assert "0.03" in violation.detail and "0.01" in violation.detail
    position = ledger.position("BTCTRY")
    assert position is not None
    assert position.quantity == 0  # never negative
    # Only the held 0.01 realizes: its third of the 33 TRY proceeds minus its 10 TRY cost.
    assert position.realized_quote == D("1")
    # Cash mirrors the exchange: the full sale moved it.
    assert ledger.cash("BTC") == D("-0.02")
    assert ledger.cash("TRY") == D("1000") - D("10") + D("33")


def test_identical_duplicates_are_ignored_and_counted() -> None:
    events = _try_round_trip()
    once = Ledger.replay(events)
    twice = Ledger.replay([*events, *events])
    assert twice.duplicates_ignored == len(events)
    assert twice.positions() == once.positions()
    assert twice.balances() == once.balances()
    assert twice.violations == ()


def test_conflicting_duplicate_is_a_violation() -> None:
    events = events_from_fill(make_fill("buy", "1", "10", trade_id=7), quote_to_try=D(1))
    changed = dataclasses.replace(events[0], quantity=D("2"), amount_quote=D("-20"))
    ledger = Ledger.replay([*events, changed])
    assert [v.code for v in ledger.violations] == ["ledger:conflicting_duplicate"]
    assert ledger.cash("BTC") == D("1")  # the first one stands


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": D("1"), "amount_quote": D("10")},  # buy that also receives quote
        {"symbol": None},
        {"asset": "ETH"},  # not the base of BTCTRY
        {"quantity": 1.0},  # a float from somewhere
        {"kind": "BONUS"},
        {"asset": None},
        {"amount_quote": D("-1e70")},  # an average cost beyond 60 digits
    ],
)
def test_malformed_event_is_recorded_and_skipped(change: dict[str, object]) -> None:
    good = events_from_fill(make_fill("buy", "1", "10"), quote_to_try=D(1))
    bad = dataclasses.replace(good[0], ref="bad", **change)  # type: ignore[arg-type]
    ledger = Ledger.replay([bad, *good])
    [violation] = ledger.violations
    assert violation.code == "ledger:malformed_event"
    assert "ref=bad" in violation.detail
    assert ledger.events_applied == len(good)
    # The skipped row left no trace: same state as the good events alone.
    clean = Ledger.replay(good).state()
    assert dataclasses.replace(ledger.state(), violations=()) == clean


def test_opening_cost_basis_makes_a_sellable_position() -> None:
    events = [
        *opening_balance_events(
            {"BTC": D("0.5"), "TRY": D("0")}, T0, cost_basis={"BTC": ("BTCTRY", D("2000000"))}
        ),
        *events_from_fill(make_fill("sell", "0.5", "2100000"), quote_to_try=D(1)),
    ]
    ledger = Ledger.replay(events)
    assert ledger.violations == ()
    position = ledger.position("BTCTRY")
    assert position is not None and position.realized_quote == D("50000")


def test_opening_coins_without_cost_are_cash_but_not_a_position() -> None:
    ledger = Ledger.replay(opening_balance_events({"BTC": D("0.5")}, T0))
    assert ledger.position("BTCTRY") is None
    # Valued through the "<asset>TRY" price even though the ledger never traded that pair.
    snap = ledger.mark({"BTCTRY": D("2000000")}, {}, T0)
    assert snap.equity_try == D("1000000")
    ledger.apply_all(events_from_fill(make_fill("sell", "0.1", "2000000"), quote_to_try=D(1)))
    assert [v.code for v in ledger.violations] == ["ledger:negative_position"]


def test_peak_and_drawdown() -> None:
    ledger = Ledger.replay(
        [
            *opening_balance_events({"TRY": D("1000")}, T0),
            *events_from_fill(make_fill("buy", "1", "1000"), quote_to_try=D(1)),
        ]
    )
    first = ledger.mark({"BTCTRY": D("1000")}, {}, T0)
    assert (first.equity_try, first.peak_equity_try, first.drawdown_try) == (D(1000), D(1000), 0)
    high = ledger.mark({"BTCTRY": D("1200")}, {}, T0 + 1)
    assert high.peak_equity_try == D("1200")
    low = ledger.mark({"BTCTRY": D("900")}, {}, T0 + 2)
    assert low.peak_equity_try == D("1200")
    assert low.drawdown_try == D("300")
    assert low.drawdown_pct == D("25")
    assert ledger.peak_equity_try == D("1200")


def test_incomplete_mark_does_not_move_the_peak() -> None:
    ledger = Ledger.replay(
        events_from_fill(make_fill("buy", "1", "10", quote="USDT"), quote_to_try=D("30"))
    )
    snap = ledger.mark({"BTCUSDT": D("12")}, {}, T0)  # no USDT rate
    assert not snap.complete
    assert snap.unpriced == ("BTC", "BTCUSDT", "USDT")
    assert ledger.peak_equity_try is None


def test_restore_peak_only_raises() -> None:
    ledger = Ledger.replay(opening_balance_events({"TRY": D("100")}, T0))
    ledger.restore_peak(D("150"))
    ledger.restore_peak(D("120"))
    snap = ledger.mark({}, {}, T0)
    assert snap.peak_equity_try == D("150")
    assert snap.drawdown_pct == D("33.33333333")


def test_float_price_in_mark_is_refused() -> None:
    from btcbot_engine.domain.money import MoneyError

    ledger = Ledger()
    with pytest.raises(MoneyError):
        ledger.mark({"BTCTRY": 1.5}, {}, T0)  # type: ignore[dict-item]


# -- the Istanbul day ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        ("2023-11-15T01:13:20+03:00", "2023-11-15T00:00:00+03:00"),
        ("2023-11-14T23:59:59.999+03:00", "2023-11-14T00:00:00+03:00"),
        ("2023-11-15T00:00:00+03:00", "2023-11-15T00:00:00+03:00"),
        # 21:30 UTC is already the next day in Istanbul.
        ("2024-03-01T21:30:00+00:00", "2024-03-02T00:00:00+03:00"),
        # Before September 2016 Turkey had winter time (+02:00): the tz database knows.
        ("2015-01-15T12:00:00+02:00", "2015-01-15T00:00:00+02:00"),
    ],
)
def test_istanbul_day_start(now: str, midnight: str) -> None:
    assert istanbul_day_start_ms(_ms(now)) == _ms(midnight)


def test_istanbul_day_start_without_tz_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "ISTANBUL_TZ_NAME", "Nowhere/Atlantis")
    ledger_module._istanbul_tz.cache_clear()
    try:
        assert istanbul_day_start_ms(_ms("2024-03-01T21:30:00+00:00")) == _ms(
            "2024-03-02T00:00:00+03:00"
        )
    finally:
        monkeypatch.undo()
        ledger_module._istanbul_tz.cache_clear()
    assert str(ledger_module._istanbul_tz()) == "Europe/Istanbul"


def test_daily_figures_reset_at_istanbul_midnight() -> None:
    yesterday = _ms("2024-03-01T23:50:00+03:00")
    today = _ms("2024-03-02T00:10:00+03:00")
    fills = [
        make_fill("buy", "2", "100", ts_ms=yesterday),
        make_fill("sell", "1", "150", fee="1", ts_ms=yesterday),  # +50 yesterday
        make_fill("sell", "1", "80", fee="1", tax="0.5", ts_ms=today),  # -20 today
    ]
    ledger = Ledger.replay(e for f in fills for e in events_from_fill(f, quote_to_try=D(1)))
    day = istanbul_day_start_ms(today)
    assert day == _ms("2024-03-02T00:00:00+03:00")
    assert ledger.realized_today_try(day) == D("-20")
    assert ledger.loss_today_try(day) == D("21.5")  # 20 realized + 1 fee + 0.5 tax
    snap = ledger.mark({"BTCTRY": D("80")}, {}, today)
    assert (snap.day_start_ms, snap.loss_today_try) == (day, D("21.5"))
    assert ledger.loss_today_try(istanbul_day_start_ms(yesterday)) == D("0")  # net +27.5


def test_ledger_context_ignores_the_callers_precision() -> None:
    import decimal

    events = _try_round_trip()
    expected = Ledger.replay(events).state()
    with decimal.localcontext() as ctx:
        ctx.prec = 5
        assert Ledger.replay(events).state() == expected
