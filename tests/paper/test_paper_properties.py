"""Random sessions: balances never go negative, and value moves only by fees and tax."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paper_testkit import Clock, FakeMarket

from btcbot_engine.domain.orders import OrderMethod, OrderRequest, Side
from btcbot_engine.exchange.paper import PaperExchange
from btcbot_engine.exchange.port import ExchangeError, Rejected

D = Decimal
START = {"TRY": D("20000"), "BTC": D("0.02")}
QTY = st.integers(min_value=1, max_value=3000).map(lambda n: D(n) * D("0.00001"))
# Book depth down to one satoshi, so fills (and their fee rounding) can be tiny.
DEPTH = st.integers(min_value=1, max_value=3_000_000).map(lambda n: D(n) * D("0.00000001"))

book_op = st.tuples(
    st.just("book"),
    st.integers(min_value=990_000, max_value=1_010_000),  # best bid
    st.integers(min_value=1, max_value=3000),  # spread
    st.lists(st.tuples(st.integers(1, 2000), DEPTH), min_size=0, max_size=4),  # bid gaps, sizes
    st.lists(st.tuples(st.integers(1, 2000), DEPTH), min_size=0, max_size=4),  # ask gaps, sizes
)
limit_op = st.tuples(
    st.just("limit"),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(min_value=985_000, max_value=1_015_000),
    QTY,
)
market_op = st.tuples(
    st.just("market"),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(min_value=100, max_value=5000),  # quote to spend, or base in 0.00001 units
)
cancel_op = st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20))
advance_op = st.tuples(st.just("advance"))
ops = st.lists(
    st.one_of(book_op, limit_op, market_op, cancel_op, advance_op), min_size=1, max_size=40
)


def _levels(start: int, direction: int, gaps: list[tuple[int, Decimal]]) -> list[tuple[str, str]]:
    price, out = start, []
    for gap, size in gaps:
        out.append((str(price), str(size)))
        price += direction * gap
    return out


async def _session(script: list[tuple[Any, ...]], participation: Decimal) -> None:
    clock = Clock()
    market = FakeMarket(clock)
    market.set_book("BTCTRY", [("999000", "0.01")], [("1001000", "0.01")])
    paper = PaperExchange(market, balances=START, clock_ms=clock, participation=participation)
    ids: list[int] = []
    for step, op in enumerate(script):
        clock.tick()
        try:
            if op[0] == "book":
                _, bid, spread, bids, asks = op
                market.set_book("BTCTRY", _levels(bid, -1, bids), _levels(bid + spread, 1, asks))
            elif op[0] == "limit":
                _, side, price, qty = op
                req = OrderRequest("BTCTRY", side, OrderMethod.LIMIT, qty, D(price), f"c{step}")
                ids.append((await paper.submit(req)).order_id)
            elif op[0] == "market":
                _, side, amount = op
                qty = D(amount) if side is Side.BUY else D(amount) * D("0.00001")
                req = OrderRequest("BTCTRY", side, OrderMethod.MARKET, qty, None, f"c{step}")
                ids.append((await paper.submit(req)).order_id)
            elif op[0] == "cancel" and ids:
                await paper.cancel(ids[op[1] % len(ids)])
            elif op[0] == "advance":
                await paper.advance()
        except (Rejected, ExchangeError):
            pass  # refused orders and cancels of closed orders are part of the game
        await _check(paper)
    await paper.advance()
    await _check(paper)


async def _check(paper: PaperExchange) -> None:
    balances = {b.asset: b for b in await paper.balances()}
    for b in balances.values():
        assert b.free >= 0 and b.locked >= 0, b
        assert b.total == b.free + b.locked
    if not await paper.open_orders():
        assert all(b.locked == 0 for b in balances.values())
    # Conservation: quote + base * price moves only by -(fee + tax) at each fill's price.
    quote, base = START["TRY"], START["BTC"]
    for fill in await paper.fills("BTCTRY"):
        assert fill.fee >= 0 and fill.tax >= 0 and fill.quantity > 0
        sign = 1 if fill.side is Side.BUY else -1
        quote -= sign * fill.price * fill.quantity + fill.fee + fill.tax
        base += sign * fill.quantity
    assert balances["TRY"].total == quote
    assert balances["BTC"].total == base


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=ops, participation=st.sampled_from([D("1"), D("0.5"), D("0.37")]))
def test_random_sessions_keep_balances_non_negative_and_conserve_value(
    script: list[tuple[Any, ...]], participation: Decimal
) -> None:
    asyncio.run(_session(script, participation))
