"""Risk: the budget mode's escalation and every policy reason code."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from decisions_testkit import NOW, rules

from btcbot_engine import risk as r
from btcbot_engine.domain.intents import Intent, IntentKind, Verdict
from btcbot_engine.domain.orders import Side
from btcbot_engine.risk import (
    RiskAssessment,
    RiskContext,
    RiskInputs,
    RiskLimits,
    RiskMode,
    apply_risk,
    assess_risk_mode,
)

D = Decimal
LIMITS = RiskLimits()  # 2 orders, 1 open/symbol, 30 s, 1000/cycle, 500/order, 100 min, 2000 pos


def intent(
    side: Side = Side.BUY,
    symbol: str = "BTCTRY",
    price: str = "1000000",
    qty: str = "0.0002",  # 200 TRY at 1,000,000
    *,
    kind: IntentKind | None = None,
    key: str | None = None,
) -> Intent:
    kind = kind or (IntentKind.OPEN if side is Side.BUY else IntentKind.REDUCE)
    return Intent(
        strategy="t",
        symbol=symbol,
        side=side,
        kind=kind,
        price=D(price),
        quantity=D(qty),
        reason="test",
        key=key or f"t:{symbol}:{side.value}:{price}:{qty}",
    )


def ctx(**changes: object) -> RiskContext:
    base = RiskContext(
        now_ms=NOW,
        rules={
            "BTCTRY": rules("BTCTRY"),
            "ETHTRY": rules("ETHTRY"),
            "BTCUSDT": rules("BTCUSDT", quote="USDT", min_notional="10"),
        },
        position_qty={"BTCTRY": D("0.001")},
        position_value_try={"BTCTRY": D("1000")},
        free_balances={"TRY": D("10000"), "BTC": D("0.001"), "USDT": D("1000")},
    )
    return replace(base, **changes)


def judge(
    *intents: Intent,
    context: RiskContext | None = None,
    limits: RiskLimits = LIMITS,
    mode: RiskMode = RiskMode.NORMAL,
) -> list[Verdict]:
    return apply_risk(list(intents), context or ctx(), limits, mode)


def codes(verdicts: list[Verdict]) -> list[str]:
    return [v.reason_code for v in verdicts]


# --- Policy reasons ------------------------------------------------------------------------------


def test_ok_buy_and_sell() -> None:
    verdicts = judge(
        intent(Side.BUY),
        intent(Side.SELL, qty="0.0002"),
        limits=RiskLimits(max_orders_per_cycle=5, max_open_orders_per_symbol=5, cooldown_seconds=0),
    )
    assert codes(verdicts) == [r.OK, r.OK]
    assert all(v.accepted for v in verdicts)


def test_invalid_intent_and_kind_side_mismatch() -> None:
    assert codes(judge(intent(qty="0"))) == [r.INVALID_INTENT]
    assert codes(judge(intent(price="-1"))) == [r.INVALID_INTENT]
    short = intent(Side.SELL, kind=IntentKind.OPEN)
    reduce_buy = intent(Side.BUY, kind=IntentKind.REDUCE)
    assert codes(judge(short, reduce_buy)) == [r.KIND_SIDE_MISMATCH, r.KIND_SIDE_MISMATCH]


def test_duplicate_key() -> None:
    assert codes(judge(intent(key="k"), intent(symbol="ETHTRY", key="k"))) == [
        r.OK,
        r.DUPLICATE_KEY,
    ]


def test_observe_only_passes_nothing() -> None:
    verdicts = judge(intent(Side.BUY), intent(Side.SELL), mode=RiskMode.OBSERVE_ONLY)
    assert codes(verdicts) == [r.MODE_OBSERVE_ONLY] * 2
    assert not any(v.accepted for v in verdicts)


def test_reduce_only_passes_reduce_and_drops_open() -> None:
    verdicts = judge(
        intent(Side.BUY, symbol="ETHTRY"), intent(Side.SELL), mode=RiskMode.REDUCE_RISK_ONLY
    )
    assert codes(verdicts) == [r.MODE_REDUCE_ONLY, r.OK]
    assert [v.accepted for v in verdicts] == [False, True]


def test_unknown_symbol_and_missing_quote_rate() -> None:
    assert codes(judge(intent(symbol="NOPETRY"))) == [r.UNKNOWN_SYMBOL]
    usdt = intent(symbol="BTCUSDT", price="50000", qty="0.0001")  # 5 USDT
    assert codes(judge(usdt)) == [r.NO_QUOTE_RATE]
    # 5 USDT * 40 = 200 TRY: fine; at 10 TRY/USDT it is 50 TRY, under the TRY minimum.
    assert codes(judge(usdt, context=ctx(quote_to_try={"USDT": D(40)}))) == [r.OK]
    assert codes(judge(usdt, context=ctx(quote_to_try={"USDT": D(10)}))) == [r.MIN_ORDER_NOTIONAL]


def test_max_orders_per_cycle() -> None:
    verdicts = judge(
        intent(symbol="BTCTRY"),
        intent(symbol="ETHTRY"),
        limits=replace(LIMITS, max_orders_per_cycle=1),
    )
    assert codes(verdicts) == [r.OK, r.MAX_ORDERS_PER_CYCLE]


def test_max_open_orders_per_symbol() -> None:
    assert codes(judge(intent(), context=ctx(open_orders={"BTCTRY": 1}))) == [
        r.MAX_OPEN_ORDERS_PER_SYMBOL
    ]
    # Counted within the cycle too.
    limits = replace(LIMITS, cooldown_seconds=0)
    assert codes(judge(intent(qty="0.0002"), intent(qty="0.0003"), limits=limits)) == [
        r.OK,
        r.MAX_OPEN_ORDERS_PER_SYMBOL,
    ]


def test_cooldown() -> None:
    recent = ctx(last_order_ms={"BTCTRY": NOW - 10_000})
    assert codes(judge(intent(), context=recent)) == [r.COOLDOWN]
    old = ctx(last_order_ms={"BTCTRY": NOW - 30_000})
    assert codes(judge(intent(), context=old)) == [r.OK]
    # A second order on the same symbol in the same cycle is inside the cooldown.
    limits = replace(LIMITS, max_open_orders_per_symbol=5)
    assert codes(judge(intent(qty="0.0002"), intent(qty="0.0003"), limits=limits)) == [
        r.OK,
        r.COOLDOWN,
    ]


def test_sell_exceeds_position() -> None:
    assert codes(judge(intent(Side.SELL, qty="0.002"))) == [r.SELL_EXCEEDS_POSITION]


def test_max_notional_per_order_refused_or_scaled() -> None:
    big = intent(qty="0.0008")  # 800 TRY > 500
    refuse = replace(LIMITS, scale_to_max_notional=False)
    assert codes(judge(big, limits=refuse)) == [r.MAX_NOTIONAL_PER_ORDER]
    [v] = judge(big)
    assert v.accepted and v.reason_code == r.OK
    assert v.intent.quantity == D("0.0005") and v.intent.price == big.price
    assert v.intent.key == big.key
    assert "scaled to max_notional_per_order" in v.detail


def test_scaling_a_usdt_order_keeps_the_try_cap() -> None:
    big = intent(symbol="BTCUSDT", price="50000", qty="0.001")  # 50 USDT = 1650.5 TRY
    [v] = judge(big, context=ctx(quote_to_try={"USDT": D("33.01")}))
    assert v.accepted
    assert v.intent.notional * D("33.01") <= D(500)
    assert v.intent.quantity == D("0.00030293")  # floor(500 / 33.01 / 50000, 8 dp)


def test_min_order_notional() -> None:
    assert codes(judge(intent(qty="0.00005"))) == [r.MIN_ORDER_NOTIONAL]  # 50 TRY
    # Scaling that leaves nothing on the pair's step is refused, not sent as zero.
    coarse = ctx(rules={"BTCTRY": rules("BTCTRY", quantity_scale=0)})
    [v] = judge(intent(qty="1"), context=coarse)
    assert v.reason_code == r.MIN_ORDER_NOTIONAL and "scaled" in v.detail


def test_notional_cap_per_cycle() -> None:
    limits = replace(LIMITS, notional_cap_per_cycle=D(300))
    assert codes(judge(intent(symbol="BTCTRY"), intent(symbol="ETHTRY"), limits=limits)) == [
        r.OK,
        r.NOTIONAL_CAP_PER_CYCLE,
    ]


def test_max_position_per_symbol() -> None:
    near = ctx(position_value_try={"BTCTRY": D(1900)})
    assert codes(judge(intent(), context=near)) == [r.MAX_POSITION_PER_SYMBOL]
    pending = ctx(position_value_try={"BTCTRY": D(1000)}, pending_buy_try={"BTCTRY": D(900)})
    assert codes(judge(intent(), context=pending)) == [r.MAX_POSITION_PER_SYMBOL]


def test_insufficient_balance() -> None:
    # 200 TRY + 0.09 % fee does not fit in 200 TRY free.
    assert codes(judge(intent(), context=ctx(free_balances={"TRY": D(200)}))) == [
        r.INSUFFICIENT_BALANCE
    ]
    # Held on the ledger, but locked on the exchange (e.g. by a resting sell).
    assert codes(judge(intent(Side.SELL), context=ctx(free_balances={"BTC": D(0)}))) == [
        r.INSUFFICIENT_BALANCE
    ]


def test_exits_are_judged_first_but_reported_in_order() -> None:
    limits = replace(LIMITS, max_orders_per_cycle=1)
    verdicts = judge(intent(Side.BUY, symbol="ETHTRY"), intent(Side.SELL), limits=limits)
    assert codes(verdicts) == [r.MAX_ORDERS_PER_CYCLE, r.OK]
    assert [v.intent.side for v in verdicts] == [Side.BUY, Side.SELL]


def test_every_policy_reason_is_reachable() -> None:
    one = replace(LIMITS, max_orders_per_cycle=1)
    usdt = intent(symbol="BTCUSDT", price="50000", qty="0.0001")
    scenarios: dict[str, tuple[list[Intent], RiskContext, RiskLimits, RiskMode]] = {
        r.OK: ([intent()], ctx(), LIMITS, RiskMode.NORMAL),
        r.INVALID_INTENT: ([intent(qty="0")], ctx(), LIMITS, RiskMode.NORMAL),
        r.KIND_SIDE_MISMATCH: (
            [intent(Side.SELL, kind=IntentKind.OPEN)],
            ctx(),
            LIMITS,
            RiskMode.NORMAL,
        ),
        r.DUPLICATE_KEY: ([intent(key="k"), intent(key="k")], ctx(), LIMITS, RiskMode.NORMAL),
        r.MODE_OBSERVE_ONLY: ([intent()], ctx(), LIMITS, RiskMode.OBSERVE_ONLY),
        r.MODE_REDUCE_ONLY: ([intent()], ctx(), LIMITS, RiskMode.REDUCE_RISK_ONLY),
        r.UNKNOWN_SYMBOL: ([intent(symbol="NOPETRY")], ctx(), LIMITS, RiskMode.NORMAL),
        r.NO_QUOTE_RATE: ([usdt], ctx(), LIMITS, RiskMode.NORMAL),
        r.MAX_ORDERS_PER_CYCLE: ([intent(), intent(symbol="ETHTRY")], ctx(), one, RiskMode.NORMAL),
        r.MAX_OPEN_ORDERS_PER_SYMBOL: (
            [intent()],
            ctx(open_orders={"BTCTRY": 1}),
            LIMITS,
            RiskMode.NORMAL,
        ),
        r.COOLDOWN: ([intent()], ctx(last_order_ms={"BTCTRY": NOW}), LIMITS, RiskMode.NORMAL),
        r.SELL_EXCEEDS_POSITION: ([intent(Side.SELL, qty="1")], ctx(), LIMITS, RiskMode.NORMAL),
        r.MAX_NOTIONAL_PER_ORDER: (
            [intent(qty="0.001")],
            ctx(),
            replace(LIMITS, scale_to_max_notional=False),
            RiskMode.NORMAL,
        ),
        r.MIN_ORDER_NOTIONAL: ([intent(qty="0.00001")], ctx(), LIMITS, RiskMode.NORMAL),
        r.NOTIONAL_CAP_PER_CYCLE: (
            [intent()],
            ctx(),
            replace(LIMITS, notional_cap_per_cycle=D(150)),
            RiskMode.NORMAL,
        ),
        r.MAX_POSITION_PER_SYMBOL: (
            [intent()],
            ctx(position_value_try={"BTCTRY": D(1999)}),
            LIMITS,
            RiskMode.NORMAL,
        ),
        r.INSUFFICIENT_BALANCE: (
            [intent()],
            ctx(free_balances={"TRY": D(1)}),
            LIMITS,
            RiskMode.NORMAL,
        ),
    }
    assert set(scenarios) == set(r.VERDICT_REASONS)
    for code, (intents, context, limits, mode) in scenarios.items():
        assert codes(apply_risk(intents, context, limits, mode))[-1] == code, code


def test_limits_validate() -> None:
    with pytest.raises(ValueError, match="max_orders_per_cycle"):
        RiskLimits(max_orders_per_cycle=-1)
    with pytest.raises(ValueError, match="min_order_notional"):
        RiskLimits(min_order_notional=D(600))


# --- Budget: the mode ----------------------------------------------------------------------------

FRESH = RiskInputs(oldest_data_age_ms=100)


@pytest.mark.parametrize(
    ("changes", "mode", "reason"),
    [
        ({"invariant_violations": ("balance_mismatch",)}, "OBSERVE_ONLY", r.INVARIANT_FAILED),
        ({"oldest_data_age_ms": None}, "OBSERVE_ONLY", r.NO_MARKET_DATA),
        ({"oldest_data_age_ms": 5001}, "OBSERVE_ONLY", r.STALE_DATA),
        ({"drawdown_pct": D(10)}, "OBSERVE_ONLY", r.MAX_DRAWDOWN_SEVERE),
        ({"drawdown_pct": D(5)}, "REDUCE_RISK_ONLY", r.MAX_DRAWDOWN),
        ({"loss_today_try": D(200)}, "REDUCE_RISK_ONLY", r.MAX_DAILY_LOSS),
        ({"consecutive_losses": 3}, "REDUCE_RISK_ONLY", r.CONSECUTIVE_LOSSES),
        ({"rejects_in_window": 3}, "REDUCE_RISK_ONLY", r.REJECT_SPIKE),
        (
            {"unknown_orders": 1, "oldest_unknown_age_ms": 60_001},
            "REDUCE_RISK_ONLY",
            r.UNKNOWN_ORDER_STALE,
        ),
    ],
)
def test_each_budget_rule(changes: dict[str, object], mode: str, reason: str) -> None:
    got = assess_risk_mode(replace(FRESH, **changes), LIMITS)
    assert got.mode == RiskMode(mode)
    assert got.reasons == (reason,)
    assert len(got.details) == 1 and got.details[0]


def test_below_every_limit_is_normal() -> None:
    inputs = RiskInputs(
        oldest_data_age_ms=5000,
        drawdown_pct=D("4.99"),
        loss_today_try=D("199.99"),
        consecutive_losses=2,
        rejects_in_window=2,
        unknown_orders=1,
        oldest_unknown_age_ms=60_000,  # young UNKNOWN: the OMS resolves it first
    )
    assert assess_risk_mode(inputs, LIMITS) == RiskAssessment(RiskMode.NORMAL)


def test_most_severe_wins_and_all_reasons_are_kept() -> None:
    inputs = replace(FRESH, loss_today_try=D(500), oldest_data_age_ms=99_999)
    got = assess_risk_mode(inputs, LIMITS)
    assert got.mode is RiskMode.OBSERVE_ONLY
    assert got.reasons == (r.STALE_DATA, r.MAX_DAILY_LOSS)


def test_zero_limits_mean_none_allowed_not_always_tripped() -> None:
    zero = RiskLimits(
        max_daily_loss=D(0), max_consecutive_losses=0, reject_spike=0, max_drawdown_pct=D(0)
    )
    assert assess_risk_mode(FRESH, zero).mode is RiskMode.NORMAL
    got = assess_risk_mode(replace(FRESH, loss_today_try=D("0.01")), zero)
    assert got.reasons == (r.MAX_DAILY_LOSS,)
    got = assess_risk_mode(replace(FRESH, drawdown_pct=D("0.1")), zero)
    assert (got.mode, got.reasons) == (RiskMode.REDUCE_RISK_ONLY, (r.MAX_DRAWDOWN,))
