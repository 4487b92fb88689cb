"""PaperExchange over a keyless BtcturkExchange against the simulator: fills, and zero writes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from btcbot_engine.domain.orders import ExchangeOrderStatus, OrderMethod, OrderRequest, Side
from btcbot_engine.domain.rules import quantize_price, quantize_quantity
from btcbot_engine.exchange.paper import PaperExchange

harness = pytest.importorskip(
    "btcbot_engine.exchange.simulator.harness",
    reason="the BTCTurk simulator (simulator/harness.py) is not built yet",
)
rest = pytest.importorskip(
    "btcbot_engine.exchange.btcturk.rest",
    reason="the live adapter (btcturk/rest.py) is not built yet",
)

D = Decimal


@pytest.fixture
def sim() -> Iterator[Any]:
    # tick_interval_s=0: the market moves only when the test steps it.
    with harness.running_simulator(seed=11, tick_interval_s=0) as handle:
        yield handle


async def test_paper_fills_over_the_simulator_and_never_writes(sim: Any) -> None:
    market = rest.BtcturkExchange(sim.base_url, sim.graph_url)  # no keys, no write guard
    paper = PaperExchange(market, balances={"TRY": D("100000")})
    try:
        rules = (await paper.exchange_info())["BTCTRY"]
        bid, _ask = sim.control.best_prices("BTCTRY")
        price = quantize_price(rules, Side.BUY, bid * D("0.99"))  # resting below the bid
        qty = quantize_quantity(rules, D("1000") / price)
        ack = await paper.submit(
            OrderRequest("BTCTRY", Side.BUY, OrderMethod.LIMIT, qty, price, "paper-1")
        )
        assert await paper.advance() == []  # nothing traded through yet

        # Push the simulator's market through our price; the next advance sees it.
        sim.control.set_mid_price("BTCTRY", price * D("0.97"))
        sim.control.step(2)
        fills = await paper.advance()
        assert fills, paper.last_skipped
        assert all(f.price == price and f.order_id == ack.order_id for f in fills)
        assert sum(f.quantity for f in fills) == qty
        assert (await paper.order(ack.order_id)).status is ExchangeOrderStatus.CLOSED

        # A cancel is simulated too (an order far below the market, so it rests).
        low = quantize_price(rules, Side.BUY, sim.control.best_prices("BTCTRY")[0] * D("0.9"))
        other = await paper.submit(
            OrderRequest("BTCTRY", Side.BUY, OrderMethod.LIMIT, qty, low, "paper-2")
        )
        await paper.cancel(other.order_id)
        await paper.advance()
        assert (await paper.order(other.order_id)).status is ExchangeOrderStatus.CANCELED
    finally:
        await paper.close()
        await market.close()

    log = sim.control.request_log()
    methods = {method for _, method, _, _ in log}
    assert methods == {"GET"}, log  # ZERO POST/DELETE requests reached the exchange
    assert not [path for _, _, path, _ in log if path.startswith("/api/v1/")]  # nothing private
    assert sim.control.orders() == [] and sim.control.trades() == []
