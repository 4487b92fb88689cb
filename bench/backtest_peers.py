"""The peers on the benchmark's SMA cross, one run each, printed as one JSON line.

    /work/bench-venv/bin/python bench/backtest_peers.py backtrader --candles DIR/candles/BTCTRY.csv
    /work/bench-venv/bin/python bench/backtest_peers.py nautilus --candles ...

Run with the separate benchmark venv (`pip install backtrader nautilus_trader` there; never in
btcbot's own environment). Both peers get the same bars as a pandas DataFrame, loaded before the
clock starts, and the same rules: SMA 10/30 of the close, buy 0.01 BTC when flat on a cross
above, sell it on a cross below, market orders, 0.1 % fee, 10,000,000 TRY cash. Only the
engine's run is timed. Exits with status 3 (and a JSON note) when the peer is not installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

CASH = 10_000_000
QTY = 0.01
FEE = 0.001


def _frame(path: Path) -> Any:
    import pandas as pd

    df = pd.read_csv(path)
    # Bars are stamped at their close (the time the close is known), as both engines expect.
    df.index = pd.to_datetime(df["ts_ms"] + 60_000, unit="ms", utc=True)
    df.index.name = "timestamp"
    return df[["open", "high", "low", "close", "volume"]].astype(float)


def run_backtrader(df: Any) -> dict[str, Any]:
    """backtrader with runonce (vectorized indicators), no observers."""
    import backtrader as bt

    fills = [0]

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            fast = bt.ind.SMA(period=10)
            slow = bt.ind.SMA(period=30)
            self.cross = bt.ind.CrossOver(fast, slow)

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                fills[0] += 1

        def next(self) -> None:
            if not self.position and self.cross > 0:
                self.buy(size=QTY)
            elif self.position and self.cross < 0:
                self.close()

    cerebro = bt.Cerebro(runonce=True, preload=True, stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df.tz_convert(None)))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=FEE)
    started, cpu = time.perf_counter(), time.process_time()
    cerebro.run()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "name": f"backtrader {bt.__version__} (runonce)",
        "bars": len(df),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "fills": fills[0],
        "final_equity": round(cerebro.broker.getvalue(), 2),
    }


def run_nautilus(df: Any) -> dict[str, Any]:
    """NautilusTrader's BacktestEngine (low-level API) on 1-minute bars, CASH account."""
    from decimal import Decimal

    import nautilus_trader
    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.indicators import SimpleMovingAverage
    from nautilus_trader.model.currencies import BTC, TRY
    from nautilus_trader.model.data import Bar, BarType
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
    from nautilus_trader.model.instruments import CurrencyPair
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.persistence.wranglers import BarDataWrangler
    from nautilus_trader.trading.strategy import Strategy

    venue = Venue("BTCTURK")
    instrument = CurrencyPair(
        instrument_id=InstrumentId(Symbol("BTCTRY"), venue),
        raw_symbol=Symbol("BTCTRY"),
        base_currency=BTC,
        quote_currency=TRY,
        price_precision=2,
        size_precision=8,
        price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_str("0.00000001"),
        lot_size=None,
        max_quantity=None,
        min_quantity=Quantity.from_str("0.00000001"),
        max_notional=None,
        min_notional=None,
        max_price=None,
        min_price=None,
        margin_init=Decimal(0),
        margin_maint=Decimal(0),
        maker_fee=Decimal(str(FEE)),
        taker_fee=Decimal(str(FEE)),
        ts_event=0,
        ts_init=0,
    )
    bar_type = BarType.from_str("BTCTRY.BTCTURK-1-MINUTE-LAST-EXTERNAL")
    bars = BarDataWrangler(bar_type, instrument).process(df)

    class Config(StrategyConfig, frozen=True):  # type: ignore[call-arg,misc]
        pass

    class SmaCross(Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(Config())
            self.fast = SimpleMovingAverage(10)
            self.slow = SimpleMovingAverage(30)
            self.relation = 0
            self.holding = False
            self.fills = 0

        def on_start(self) -> None:
            self.register_indicator_for_bars(bar_type, self.fast)
            self.register_indicator_for_bars(bar_type, self.slow)
            self.subscribe_bars(bar_type)

        def on_order_filled(self, event: Any) -> None:
            self.fills += 1

        def on_bar(self, bar: Bar) -> None:
            if not self.slow.initialized:
                return
            diff = self.fast.value - self.slow.value
            now = 1 if diff > 0 else -1 if diff < 0 else self.relation
            side = None
            if self.relation == -1 and now == 1 and not self.holding:
                side, self.holding = OrderSide.BUY, True
            elif self.relation == 1 and now == -1 and self.holding:
                side, self.holding = OrderSide.SELL, False
            self.relation = now
            if side is not None:
                order = self.order_factory.market(
                    instrument.id, side, Quantity.from_str("0.01000000")
                )
                self.submit_order(order)

    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("BENCH-001"), logging=LoggingConfig(log_level="ERROR")
        )
    )
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        starting_balances=[Money(CASH, TRY), Money(0, BTC)],
        base_currency=None,
    )
    engine.add_instrument(instrument)
    engine.add_data(bars)
    strategy = SmaCross()
    engine.add_strategy(strategy)
    started, cpu = time.perf_counter(), time.process_time()
    engine.run()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    account = engine.trader.generate_account_report(venue)
    last_close = float(df["close"].iloc[-1])
    balances = {row["currency"]: float(row["total"]) for _, row in account.tail(2).iterrows()}
    equity = balances.get("TRY", 0.0) + balances.get("BTC", 0.0) * last_close
    engine.dispose()
    return {
        "name": f"NautilusTrader {nautilus_trader.__version__}",
        "bars": len(df),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "fills": strategy.fills,
        "final_equity": round(equity, 2),
    }


PEERS = {
    "backtrader": ("backtrader", run_backtrader),
    "nautilus": ("nautilus_trader", run_nautilus),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("--candles", required=True, help="a dataset's candles CSV")
    parser.add_argument("--bars", type=int, help="only the first N bars")
    args = parser.parse_args()
    module, run = PEERS[args.peer]
    if importlib.util.find_spec(module) is None or importlib.util.find_spec("pandas") is None:
        print(json.dumps({"name": args.peer, "skipped": f"{module} is not installed here"}))
        return 3
    df = _frame(Path(args.candles))
    if args.bars:
        df = df.iloc[: args.bars]
    report = run(df)
    report["bars_per_s"] = round(report["bars"] / report["seconds"], 1)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
