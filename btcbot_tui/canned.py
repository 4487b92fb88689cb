"""Canned engine snapshots: fixed, realistic pictures of the engine for tests, screenshots, bench.

Everything is deterministic: a fixed timestamp (`CANNED_TS_MS`), a fixed simulator-style host
(`CANNED_HOST`), fixed ids. No host names, versions or temp paths, so snapshot SVGs are stable.

`canned_snapshot(mode)` builds one for each mode the banner shows: OBSERVE_ONLY, PAPER, KILLED,
LIVE and DEMO (demo = PAPER against the bundled simulator).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.orders import OrderMethod, OrderState, Side
from btcbot_engine.domain.records import Decision, DecisionStage, OrderRecord
from btcbot_engine.domain.snapshot import (
    DoctorCheckView,
    EngineSnapshot,
    PnlView,
    RiskView,
    StatusView,
    UniverseRow,
)
from btcbot_engine.gates import GateDecision, GateInputs, evaluate_gates

CANNED_TS_MS = 1_767_268_800_000  # 2026-01-01 12:00:00 UTC
CANNED_HOST = "127.0.0.1:18181"
CANNED_KEY_HINT = "7f3a"
CANNED_RUN_ID = "run-0001"
MODES = ("OBSERVE_ONLY", "PAPER", "KILLED", "LIVE", "DEMO")

D = Decimal


def gates_for(mode: str) -> GateDecision:
    """The gate decision that yields `mode` (DEMO is PAPER)."""
    inputs = {
        "OBSERVE_ONLY": GateInputs(True, False, True, False, "", False),
        "PAPER": GateInputs(False, False, True, False, "", False),
        "DEMO": GateInputs(False, False, True, False, "", False),
        "KILLED": GateInputs(False, True, False, True, "I_UNDERSTAND", True),
        "LIVE": GateInputs(False, False, False, True, "I_UNDERSTAND", True),
    }[mode]
    return evaluate_gates(inputs)


def _universe(ts_ms: int, *, stale: bool = False) -> tuple[UniverseRow, ...]:
    rows = [
        UniverseRow(
            "BTCTRY",
            True,
            "universe:explicit",
            D("2999850.00"),
            D("3000150.00"),
            D("10.00"),
            420,
            "fresh",
        ),
        UniverseRow(
            "ETHTRY",
            True,
            "universe:explicit",
            D("109978.00"),
            D("110022.00"),
            D("4.00"),
            3900,
            "fresh",
        ),
        UniverseRow(
            "USDTTRY", True, "universe:explicit", D("34.51"), D("34.53"), D("5.79"), 610, "fresh"
        ),
        UniverseRow(
            "AVAXTRY",
            False,
            "universe:wide_spread",
            D("1243.10"),
            D("1256.90"),
            D("110.40"),
            800,
            "fresh",
        ),
        UniverseRow(
            "ARBTRY",
            False,
            "universe:low_volume",
            D("27.41"),
            D("27.49"),
            D("29.14"),
            1200,
            "fresh",
        ),
    ]
    if stale:
        rows[0] = replace(rows[0], age_ms=9_400, quote_status="stale")
        rows[2] = replace(rows[2], age_ms=4_600)  # nearing the 5 s limit: amber
    return tuple(rows)


def canned_order(
    i: int,
    *,
    symbol: str = "BTCTRY",
    state: OrderState = OrderState.OPEN,
    ts_ms: int = CANNED_TS_MS,
) -> OrderRecord:
    """One deterministic order of ours; `i` makes the client id and age."""
    side = Side.BUY if i % 3 else Side.SELL
    base = {"BTCTRY": D("2999000"), "ETHTRY": D("109900"), "USDTTRY": D("34.48")}.get(
        symbol, D("100")
    )
    price = base - D(i * 5 if base > 1000 else 0) if side is Side.BUY else base + D(i * 7)
    qty = (D("500") / price).quantize(D("0.00000001"))
    filled = (qty / 3).quantize(D("0.00000001")) if state is OrderState.PARTIAL else D(0)
    created = ts_ms - 4_000 - i * 17_000
    return OrderRecord(
        client_id=f"bb{i:04d}{'c0ffee' * 4}"[:32],
        symbol=symbol,
        side=side,
        method=OrderMethod.LIMIT,
        price=price,
        quantity=qty,
        filled_quantity=filled,
        state=state,
        idempotency_key=f"k{i}",
        payload_hash=f"h{i}",
        run_id=CANNED_RUN_ID,
        cycle_id=f"{CANNED_RUN_ID}-{i:05d}",
        intent="passive_buy" if side is Side.BUY else "take_profit",
        created_ms=created,
        updated_ms=created,
        exchange_order_id=None if state is OrderState.UNKNOWN else 900_000 + i,
        reason="oms:lost_ack" if state is OrderState.UNKNOWN else None,
    )


def canned_fill(i: int, *, ts_ms: int = CANNED_TS_MS) -> Fill:
    """One deterministic fill; higher `i` is older."""
    symbol = ("BTCTRY", "ETHTRY", "USDTTRY")[i % 3]
    base = symbol.removesuffix("TRY")
    price = {"BTCTRY": D("2998500"), "ETHTRY": D("109950"), "USDTTRY": D("34.50")}[symbol]
    qty = (D("250") / price).quantize(D("0.00000001"))
    fee = (price * qty * D("0.0009")).quantize(D("0.01"))
    tax = (fee * D("0.2")).quantize(D("0.01"))
    return Fill(
        trade_id=50_000_000 - i,
        order_id=900_000 + i,
        client_id=f"bb{i:04d}{'c0ffee' * 4}"[:32],
        symbol=symbol,
        base=base,
        quote="TRY",
        side=Side.BUY if i % 2 else Side.SELL,
        price=price,
        quantity=qty,
        fee=fee,
        tax=tax,
        fee_asset="TRY",
        timestamp_ms=ts_ms - 2_000 - i * 31_000,
    )


def _equity_history(n: int = 60) -> tuple[Decimal, ...]:
    # A gentle, deterministic wave with a dip: enough to make the sparkline readable.
    out, value = [], D("20000")
    steps = (3, 5, -2, 4, -6, 2, 7, -3, 1, 4, -8, -4, 6, 5, 2)
    for i in range(n):
        value += D(steps[i % len(steps)]) * D("1.7")
        out.append(value)
    return tuple(out)


def _doctor() -> tuple[DoctorCheckView, ...]:
    return (
        DoctorCheckView("exchange_reachable", "PASS", "200 OK in 38 ms"),
        DoctorCheckView("clock_skew", "PASS", "server clock +12 ms"),
        DoctorCheckView(
            "api_keys", "WARN", "secret is 81 days old", "rotate the API secret before 90 days"
        ),
        DoctorCheckView("state_db", "PASS", "WAL, 0600, migrations current"),
        DoctorCheckView(
            "market_data",
            "FAIL",
            "ETHTRY quote 3.9 s old",
            "check the network or raise MAX_MARKET_DATA_AGE_MS",
        ),
    )


def _decisions(ts_ms: int) -> tuple[Decision, ...]:
    return (
        Decision(
            CANNED_RUN_ID,
            f"{CANNED_RUN_ID}-00042",
            ts_ms - 900,
            DecisionStage.OMS,
            "submit",
            "oms:submitted",
            "BTCTRY",
        ),
        Decision(
            CANNED_RUN_ID,
            f"{CANNED_RUN_ID}-00042",
            ts_ms - 950,
            DecisionStage.RISK,
            "allow",
            "risk:ok",
            "ETHTRY",
        ),
    )


def canned_snapshot(
    mode: str = "PAPER",
    *,
    ts_ms: int = CANNED_TS_MS,
    unknown: bool = False,
    stale: bool = False,
    n_orders: int = 4,
    n_fills: int = 12,
    engine_error: str | None = None,
) -> EngineSnapshot:
    """A full snapshot in `mode` (one of MODES), optionally with UNKNOWN orders and stale data."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    gates = gates_for(mode)
    symbols = ("BTCTRY", "ETHTRY", "USDTTRY")
    orders = [
        canned_order(
            i,
            symbol=symbols[i % 3],
            ts_ms=ts_ms,
            state=OrderState.PARTIAL if i == 1 else OrderState.OPEN,
        )
        for i in range(n_orders)
    ]
    if unknown and orders:
        orders[0] = canned_order(0, symbol="BTCTRY", state=OrderState.UNKNOWN, ts_ms=ts_ms)
        if len(orders) > 2:
            orders[2] = canned_order(2, symbol="USDTTRY", state=OrderState.UNKNOWN, ts_ms=ts_ms)
    if mode in ("OBSERVE_ONLY",):
        risk = RiskView("OBSERVE_ONLY", ("gates:safe_mode",), ("SAFE_MODE=true",))
    elif mode == "KILLED":
        risk = RiskView("OBSERVE_ONLY", ("kill:operator",), ("kill switch tripped",))
    elif stale:
        risk = RiskView("REDUCE_RISK_ONLY", ("risk:stale_data",), ("BTCTRY quote 9.4 s old",))
    else:
        risk = RiskView("NORMAL", (), ())
    history = _equity_history()
    pnl = PnlView(
        realized=D("142.37"),
        unrealized=D("-18.05"),
        fees=D("23.61"),
        tax=D("4.72"),
        equity=history[-1],
        peak_equity=max(history),
        drawdown_pct=((max(history) - history[-1]) / max(history) * 100).quantize(D("0.01")),
        loss_today=D("38.40"),
        daily_loss_budget=D("200"),
        equity_history=history,
    )
    status = StatusView(
        cycle_count=42,
        last_cycle_ms=ts_ms - 1_200,
        last_cycle_duration_ms=184,
        next_cycle_ms=ts_ms + 8_800,
        rate_budget_used=D("0.23"),
        ws_state="connected" if mode != "OBSERVE_ONLY" else "off",
        clock_skew_ms=12,
        last_error=engine_error,
    )
    messages: tuple[str, ...] = ()
    if mode == "KILLED":
        messages = ("KILLED: 4 cancels requested, 0 still open",)
    return EngineSnapshot(
        ts_ms=ts_ms,
        run_id=CANNED_RUN_ID,
        gates=gates,
        exchange_host=CANNED_HOST,
        key_hint=CANNED_KEY_HINT if mode in ("LIVE", "KILLED") else "----",
        demo=mode == "DEMO",
        risk=risk,
        universe=_universe(ts_ms, stale=stale),
        open_orders=tuple(orders) if mode != "KILLED" else (),
        recent_fills=tuple(canned_fill(i, ts_ms=ts_ms) for i in range(n_fills)),
        pnl=pnl,
        decisions=_decisions(ts_ms),
        doctor=_doctor(),
        status=status,
        max_data_age_ms=5000,
        engine_error=engine_error,
        messages=messages,
    )


def heavy_snapshot(
    *, ts_ms: int = CANNED_TS_MS, n_fills: int = 1000, n_orders: int = 200, shift: int = 0
) -> EngineSnapshot:
    """A big LIVE snapshot for the bench: many fills and open orders.

    `shift` moves the window: order ids `shift..shift+n_orders` and `shift` newer fills, so
    consecutive snapshots differ the way a real cycle does (some rows come, some go).
    """
    base = canned_snapshot("LIVE", ts_ms=ts_ms, n_orders=0, n_fills=0)
    symbols = ("BTCTRY", "ETHTRY", "USDTTRY")
    orders = tuple(
        canned_order(
            i,
            symbol=symbols[i % 3],
            ts_ms=ts_ms,
            state=OrderState.PARTIAL if (i + shift) % 7 == 0 else OrderState.OPEN,
        )
        for i in range(shift, shift + n_orders)
    )
    fills = tuple(canned_fill(i - shift, ts_ms=ts_ms) for i in range(n_fills))
    return replace(base, open_orders=orders, recent_fills=fills)
