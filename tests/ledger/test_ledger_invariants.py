"""check_invariants: negative positions and cash, missing rates, and balances against the
exchange within a tolerance (no false positives from fee rounding)."""

from __future__ import annotations

from ledger_testkit import T0, D, make_fill

from btcbot_engine.ledger import (
    Ledger,
    check_invariants,
    events_from_fill,
    opening_balance_events,
)


def _ledger() -> Ledger:
    return Ledger.replay(
        [
            *opening_balance_events({"TRY": D("1000")}, T0),
            *events_from_fill(make_fill("buy", "0.01", "10000", fee="0.09"), quote_to_try=D(1)),
        ]
    )


def test_clean_ledger_matching_exchange() -> None:
    ledger = _ledger()
    assert ledger.cash("TRY") == D("899.91")
    exchange = {"TRY": D("899.91"), "BTC": D("0.01")}
    assert check_invariants(ledger, exchange, D("0")) == []
    assert check_invariants(ledger, None, D("0")) == []


def test_rounding_within_tolerance_is_not_a_violation() -> None:
    # The exchange rounded the fee to 0.1; the ledger has 0.09.
    exchange = {"TRY": D("899.90"), "BTC": D("0.01")}
    assert check_invariants(_ledger(), exchange, D("0.01")) == []
    assert check_invariants(_ledger(), exchange, {"TRY": D("0.01"), "BTC": D("0")}) == []


def test_mismatch_names_asset_and_both_figures() -> None:
    exchange = {"TRY": D("899.91"), "BTC": D("0.009")}
    [violation] = check_invariants(_ledger(), exchange, {"try": D("0.01"), "*": D("0.0001")})
    assert violation.code == "ledger:balance_mismatch"
    assert violation.subject == "BTC"
    assert "ledger 0.01" in violation.detail
    assert "exchange 0.009" in violation.detail
    assert "tolerance 0.0001" in violation.detail


def test_unnamed_asset_without_default_is_compared_exactly() -> None:
    exchange = {"TRY": D("899.91"), "BTC": D("0.0100001")}
    [violation] = check_invariants(_ledger(), exchange, {"TRY": D("1")})
    assert violation.subject == "BTC"


def test_asset_unknown_to_the_ledger_is_a_mismatch_and_missing_means_zero() -> None:
    exchange = {"try": D("899.91"), "BTC": D("0.01"), "ETH": D("1")}
    assert [v.subject for v in check_invariants(_ledger(), exchange, D("0.01"))] == ["ETH"]
    exchange = {"TRY": D("899.91")}  # the exchange omits BTC: counted as zero
    tolerance = {"TRY": D("0.01"), "*": D("0.00000001")}
    assert [v.subject for v in check_invariants(_ledger(), exchange, tolerance)] == ["BTC"]


def test_oversell_gives_negative_position_and_negative_cash() -> None:
    ledger = _ledger()
    ledger.apply_all(events_from_fill(make_fill("sell", "0.02", "10000"), quote_to_try=D(1)))
    violations = check_invariants(ledger, None, D("0.00000001"))
    assert [(v.code, v.subject) for v in violations] == [
        ("ledger:negative_position", "BTCTRY"),
        ("ledger:negative_cash", "BTC"),
    ]
    assert "-0.01" in violations[1].detail


def test_small_negative_cash_within_tolerance_is_rounding() -> None:
    ledger = Ledger.replay(
        [
            *opening_balance_events({"TRY": D("100")}, T0),
            *events_from_fill(make_fill("buy", "1", "100", fee="0.001"), quote_to_try=D(1)),
        ]
    )
    assert ledger.cash("TRY") == D("-0.001")
    assert check_invariants(ledger, None, D("0.01")) == []
    assert [v.code for v in check_invariants(ledger, None, D("0"))] == ["ledger:negative_cash"]


def test_missing_rate_is_reported() -> None:
    events = events_from_fill(make_fill("buy", "1", "10", quote="USDT"), quote_to_try=D("30"))
    ledger = Ledger.replay([*opening_balance_events({"USDT": D("10")}, T0), *events[:-1]])
    [violation] = check_invariants(ledger, None, D("0"))
    assert violation.code == "ledger:missing_rate"
    assert violation.subject == "BTCUSDT"
