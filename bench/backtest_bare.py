"""The reference: a bare event-driven SMA-cross loop over one symbol's bars.

SMA 10/30 of the close; when flat and the fast SMA crosses above the slow one, buy a fixed
0.01 BTC; when holding and it crosses below, sell it; orders are market orders filled at the
next bar's open; 0.1% taker fee on the notional, no tax. Crosses are events exactly as the
engine's SmaCrossStrategy defines them: the first bar with both windows full only records which
SMA is above; equal SMAs keep the previous relation.

Prices stay in the dataset's integer units (exact); money is Decimal at each fill, so the final
equity is exact. Used by bench/backtest_bench.py and by tests/backtest as the yardstick the
engine's backtest must match to the cent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class BareResult:
    """Fills made and the final equity (cash + position at the last close)."""

    fills: int
    final_equity: Decimal
    cash: Decimal
    position: Decimal


def bare_sma_cross(
    opens: list[int] | object,
    closes: list[int] | object,
    *,
    price_scale: int,
    cash: Decimal,
    quantity: Decimal = Decimal("0.01"),
    fee_rate: Decimal = Decimal("0.001"),
    fast: int = 10,
    slow: int = 30,
) -> BareResult:
    """Run the loop over bars given as integer price units (10**-price_scale)."""
    unit = Decimal(1).scaleb(-price_scale)
    fast_q: deque[int] = deque(maxlen=fast)
    slow_q: deque[int] = deque(maxlen=slow)
    fast_sum = slow_sum = 0
    relation = 0
    position = Decimal(0)
    pending = 0  # +1 buy, -1 sell at the next open
    fills = 0
    for open_, close in zip(opens, closes, strict=True):  # type: ignore[call-overload]
        if pending:
            price = open_ * unit
            notional = price * (quantity if pending > 0 else position)
            fee = notional * fee_rate
            if pending > 0:
                cash -= notional + fee
                position += quantity
            else:
                cash += notional - fee
                position = Decimal(0)
            fills += 1
            pending = 0
        if len(fast_q) == fast:
            fast_sum -= fast_q[0]
        if len(slow_q) == slow:
            slow_sum -= slow_q[0]
        fast_q.append(close)
        slow_q.append(close)
        fast_sum += close
        slow_sum += close
        if len(slow_q) < slow:
            continue
        diff = fast_sum * slow - slow_sum * fast
        now = 1 if diff > 0 else -1 if diff < 0 else relation
        if relation == -1 and now == 1 and not position:
            pending = 1
        elif relation == 1 and now == -1 and position:
            pending = -1
        relation = now
    last_close = closes[-1] * unit  # type: ignore[index]
    return BareResult(fills, cash + position * last_close, cash, position)


def main() -> None:
    """`python bench/backtest_bare.py --dataset DIR [--bars N]`: time the loop, print JSON."""
    import argparse
    import json
    import resource
    import time
    from pathlib import Path

    from btcbot_engine.replay.dataset import load_dataset

    parser = argparse.ArgumentParser(description="the bare reference loop")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--bars", type=int)
    args = parser.parse_args()
    series = next(iter(load_dataset(Path(args.dataset)).series.values()))
    opens, closes = list(series.candles.open), list(series.candles.close)
    if args.bars:
        opens, closes = opens[: args.bars], closes[: args.bars]
    started, cpu = time.perf_counter(), time.process_time()
    result = bare_sma_cross(opens, closes, price_scale=series.price_scale, cash=Decimal(10_000_000))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        json.dumps(
            {
                "name": "bare Python loop",
                "bars": len(closes),
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu, 3),
                "bars_per_s": round(len(closes) / seconds, 1),
                "fills": result.fills,
                "final_equity": str(result.final_equity),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
