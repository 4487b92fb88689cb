"""Property: whatever the intents and limits, accepted orders never break a cap, and every intent
gets exactly one verdict, in order."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from decisions_testkit import NOW, rules
from hypothesis import given, settings
from hypothesis import strategies as st

from btcbot_engine.domain.intents import Intent, IntentKind
from btcbot_engine.domain.orders import Side
from btcbot_engine.risk import RiskContext, RiskLimits, RiskMode, apply_risk

D = Decimal
RULES = {
    "BTCTRY": rules("BTCTRY"),
    "ETHTRY": rules("ETHTRY"),
    "BTCUSDT": rules("BTCUSDT", quote="USDT", min_notional="10"),
}
SYMBOLS = [*RULES, "NOPETRY"]


PRICES = {  # realistic price ranges so that many intents land near the caps
    "BTCTRY": ("1000000", "3000000"),
    "ETHTRY": ("50000", "150000"),
    "BTCUSDT": ("30000", "100000"),
    "NOPETRY": ("1", "100"),
}
QTY_STEP = D("0.00000001")


def money(lo: str, hi: str, places: int = 2) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=D(lo), max_value=D(hi), places=places)


@st.composite
def intents(draw: st.DrawFn) -> list[Intent]:
    out = []
    for i in range(draw(st.integers(0, 8))):
        side = draw(st.sampled_from(Side))
        # Mostly coherent kinds, sometimes not: the policy must refuse those too.
        coherent = IntentKind.OPEN if side is Side.BUY else IntentKind.REDUCE
        kind = coherent if draw(st.integers(0, 9)) else draw(st.sampled_from(IntentKind))
        symbol = draw(st.sampled_from([*["BTCTRY"] * 4, *["ETHTRY"] * 2, "BTCUSDT", "NOPETRY"]))
        price = draw(money(*PRICES[symbol]))
        # Size by a notional in quote (TRY, or USDT for BTCUSDT), then derive the quantity.
        usdt = symbol == "BTCUSDT"
        notional = draw(
            money("3", "40") if usdt else st.one_of(money("100", "1500"), money("1", "2500"))
        )
        quantity = (notional / price).quantize(QTY_STEP)
        if not draw(st.integers(0, 19)):
            price = D(0)  # the odd broken intent
        quantity = max(quantity, QTY_STEP)
        out.append(
            Intent(
                strategy="p",
                symbol=symbol,
                side=side,
                kind=kind,
                price=price,
                quantity=quantity,
                reason="prop",
                # Occasional duplicate keys.
                key=f"p:{symbol}:{side.value}:{draw(st.integers(0, 2 * i))}",
            )
        )
    return out


@st.composite
def limits(draw: st.DrawFn) -> RiskLimits:
    if draw(st.booleans()):
        # Roomy count limits, so that the money caps are what binds.
        return RiskLimits(
            max_orders_per_cycle=8,
            max_open_orders_per_symbol=8,
            cooldown_seconds=0,
            notional_cap_per_cycle=draw(money("500", "5000")),
            max_notional_per_order=D(1000),
            min_order_notional=D(100),
            max_position_per_symbol=draw(money("1000", "5000")),
            scale_to_max_notional=draw(st.booleans()),
        )
    per_order = draw(money("0", "2000"))
    return RiskLimits(
        max_orders_per_cycle=draw(st.sampled_from([0, 1, 2, 3, 5, 8])),
        max_open_orders_per_symbol=draw(st.sampled_from([0, 1, 1, 2, 3])),
        cooldown_seconds=draw(st.sampled_from([0, 30])),
        notional_cap_per_cycle=draw(money("0", "5000")),
        max_notional_per_order=per_order,
        min_order_notional=draw(money("0", str(per_order))),
        max_position_per_symbol=draw(money("0", "5000")),
        scale_to_max_notional=draw(st.booleans()),
    )


@st.composite
def contexts(draw: st.DrawFn) -> RiskContext:
    some = st.sampled_from(SYMBOLS)
    return RiskContext(
        now_ms=NOW,
        rules=RULES,
        open_orders=draw(st.dictionaries(some, st.integers(0, 2), max_size=1)),
        last_order_ms=draw(st.dictionaries(some, st.integers(NOW - 120_000, NOW), max_size=2)),
        position_qty=draw(st.dictionaries(some, money("0", "0.01", 8))),
        position_value_try=draw(st.dictionaries(some, money("0", "3000"))),
        pending_buy_try=draw(st.dictionaries(some, money("0", "1000"), max_size=2)),
        free_balances={
            "TRY": draw(money("0", "20000")),
            "USDT": draw(money("0", "500")),
            "BTC": draw(money("0", "0.01", 8)),
            "ETH": draw(money("0", "0.05", 8)),
        },
        quote_to_try={} if not draw(st.integers(0, 4)) else {"USDT": draw(money("0", "50"))},
    )


MODES = st.sampled_from([RiskMode.NORMAL] * 3 + [RiskMode.REDUCE_RISK_ONLY, RiskMode.OBSERVE_ONLY])


@settings(max_examples=300, deadline=None)
@given(intents(), contexts(), limits(), MODES)
def test_accepted_orders_respect_every_cap(
    batch: list[Intent], ctx: RiskContext, lim: RiskLimits, mode: RiskMode
) -> None:
    verdicts = apply_risk(batch, ctx, lim, mode)

    # Exactly one verdict per intent, in order; an accepted one may only shrink its quantity.
    assert len(verdicts) == len(batch)
    for intent, verdict in zip(batch, verdicts, strict=True):
        assert verdict.reason_code.startswith("risk:")
        assert verdict.accepted == (verdict.reason_code == "risk:ok")
        v = verdict.intent
        assert (v.key, v.symbol, v.side, v.kind, v.price) == (
            intent.key,
            intent.symbol,
            intent.side,
            intent.kind,
            intent.price,
        )
        assert v.quantity <= intent.quantity
        assert all(isinstance(x, Decimal) for x in (v.price, v.quantity))

    accepted = [v.intent for v in verdicts if v.accepted]
    if mode is RiskMode.OBSERVE_ONLY:
        assert accepted == []
    if mode is RiskMode.REDUCE_RISK_ONLY:
        assert all(i.kind is IntentKind.REDUCE for i in accepted)
    assert len(accepted) <= lim.max_orders_per_cycle
    assert len({i.key for i in accepted}) == len(accepted)

    total = D(0)
    bought: dict[str, Decimal] = defaultdict(Decimal)
    sold: dict[str, Decimal] = defaultdict(Decimal)
    spent: dict[str, Decimal] = defaultdict(Decimal)
    per_symbol: dict[str, int] = defaultdict(int)
    for i in accepted:
        rule = RULES[i.symbol]
        rate = D(1) if rule.quote == "TRY" else ctx.quote_to_try[rule.quote]
        notional = i.notional * rate
        assert lim.min_order_notional <= notional <= lim.max_notional_per_order
        assert (i.side is Side.BUY) == (i.kind is IntentKind.OPEN)
        total += notional
        per_symbol[i.symbol] += 1
        if i.side is Side.BUY:
            bought[i.symbol] += notional
            spent[rule.quote] += i.notional * (1 + ctx.fee_rate)
        else:
            sold[i.symbol] += i.quantity
    assert total <= lim.notional_cap_per_cycle
    for symbol, count in per_symbol.items():
        assert ctx.open_orders.get(symbol, 0) + count <= lim.max_open_orders_per_symbol
        if lim.cooldown_seconds:
            assert count == 1
    for symbol, value in bought.items():
        exposure = ctx.position_value_try.get(symbol, D(0)) + ctx.pending_buy_try.get(symbol, D(0))
        assert exposure + value <= lim.max_position_per_symbol
    for symbol, qty in sold.items():
        assert qty <= ctx.position_qty.get(symbol, D(0))
        assert qty <= ctx.free_balances.get(RULES[symbol].base, D(0))
    for quote, cost in spent.items():
        assert cost <= ctx.free_balances.get(quote, D(0))
