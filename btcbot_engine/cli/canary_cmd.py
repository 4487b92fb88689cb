"""`btcbot canary once|loop`: the bounded live canary, headless (the TUI wizard drives the same
engine code through StartCanary/AbortCanary).

Exit codes: 0 the canary finished its cycles, verified, nothing open; 1 it stopped on a stop
condition, could not verify, or left something open; 2 refused (gates not LIVE, caps, unknown
symbol...) or bad usage.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from btcbot_engine.cli.common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    CliError,
    add_json_flag,
    painter,
    print_json,
    settings_for,
)


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _plan(args: argparse.Namespace, cycle_default: float) -> Any:
    from btcbot_engine.domain.canary import CanaryPlan

    if args.mode == "once" and args.max_cycles not in (None, 1):
        raise CliError("canary once runs exactly one cycle; use `canary loop --max-cycles N`", 2)
    return CanaryPlan(
        symbol=args.symbol,
        notional_try=args.notional_try,
        ttl_seconds=args.ttl_seconds,
        max_cycles=1 if args.mode == "once" else (args.max_cycles or 3),
        cycle_seconds=args.cycle_seconds or cycle_default,
        offset_bps=args.offset_bps,
    )


def _summary_lines(view: Any, paint: Any) -> list[str]:
    from btcbot_engine.domain.money import fmt

    colour = {"finished": "green", "stopped": "red", "refused": "yellow"}.get(view.state, "bold")
    head = f"canary {paint(view.state.upper(), colour)}"
    if view.stop_reason:
        head += f"  {view.stop_reason}: {view.detail}"
    verified = (
        paint("verified against the exchange", "green")
        if view.verified
        else paint("NOT verified against the exchange", "red")
    )
    if view.state == "refused":
        return [head]
    open_text = f"{view.orders_open} open"
    if view.orders_open:
        open_text = paint(f"{view.orders_open} STILL OPEN", "red")
    lines = [
        head,
        f"  summary    {verified}",
        f"  cycles     {view.cycle} of {view.plan.max_cycles}",
        f"  orders     {view.orders_placed} placed, {open_text}"
        + (f", {view.other_open} other open on {view.plan.symbol}" if view.other_open else ""),
        f"  fills      {view.fills}: {fmt(view.filled_quantity)} {view.plan.symbol} "
        f"for {fmt(view.filled_notional_try)} TRY",
        f"  fees       {fmt(view.fees_try)} TRY",
        f"  PnL        {fmt(view.pnl_try)} TRY (marked at the bid, after fees)",
        f"  safe mode  {'ON' if view.safe_mode_on else 'off'}",
    ]
    if view.orders_open or not view.verified:
        lines.append(
            "  next       "
            + paint("check with `btcbot account`; `btcbot panic --yes-cancel-all` cancels", "red")
        )
    for o in view.orders:
        lines.append(
            f"  order      {o.client_id} id {o.order_id} {o.side} {fmt(o.quantity)} @ "
            f"{fmt(o.price or Decimal(0))} filled {fmt(o.filled_quantity)} "
            f"{o.state} (exchange: {o.exchange_status or 'unread'})"
        )
    return lines


def _exit_code(view: Any) -> int:
    from btcbot_engine.canary import clean_finish

    if view.state == "refused":
        return EXIT_USAGE
    return EXIT_OK if clean_finish(view) else EXIT_PROBLEM


def cmd_canary(args: argparse.Namespace) -> int:
    """Run the canary in a fresh engine and print its progress and verified summary."""
    import signal

    from btcbot_engine.canary import (
        check_gates,
        check_plan,
        normalize_plan,
        refused_view,
        view_to_json,
    )
    from btcbot_engine.commands import AbortCanary, StartCanary
    from btcbot_engine.engine import Engine, RunOptions
    from btcbot_engine.runtime_state import effective_gates
    from btcbot_engine.store.db import StoreError
    from btcbot_engine.store.lock import InstanceLocked, LockError

    settings = settings_for(args)
    plan = normalize_plan(_plan(args, settings.cycle_seconds))
    paint = painter()

    def finish(view: Any) -> int:
        if args.json:
            print_json(view_to_json(view))
        else:
            print("\n".join(_summary_lines(view, paint)), flush=True)
        return _exit_code(view)

    # The checks that need no exchange and no lock, before taking either.
    refusal = check_plan(plan, settings) or check_gates(effective_gates(settings))
    if refusal is not None:
        return finish(refused_view(plan, refusal))

    printed: dict[tuple[Any, ...], int] = {}  # events printed per canary (plan, start)

    def progress(snap: Any) -> None:
        view = snap.canary
        if view is None or args.json or view.state == "refused":
            return  # a refusal is the one line of the summary
        key = (view.plan, view.started_ms, view.state == "refused")
        for line in view.events[printed.get(key, 0) :]:
            print(f"  {line}", flush=True)
        printed[key] = len(view.events)

    engine = Engine(settings, on_snapshot=progress, command_name="btcbot canary")
    interrupts = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:  # first: abort cleanly (cancel, safe mode, summary)
            print(f"btcbot canary: signal {signum}: aborting", file=sys.stderr, flush=True)
            engine.submit(AbortCanary(f"signal {signum}"))
        else:
            engine.stop()  # stopping still ends the canary (cancel, safe mode)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    if not args.json:
        print(
            f"btcbot canary {args.mode}: {plan.symbol} {plan.notional_try} TRY, "
            f"TTL {plan.ttl_seconds:g} s, exchange {settings.btcturk_base_url}, "
            f"db {settings.state_db_path}",
            flush=True,
        )
    engine.submit(StartCanary(plan))
    try:
        engine.run(RunOptions(until_canary_done=True))
    except InstanceLocked as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except (StoreError, LockError) as exc:
        raise CliError(f"database: {exc}", EXIT_USAGE) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    snap = engine.snapshot()
    view = snap.canary if snap is not None else None
    if view is None:
        raise CliError("the engine ended before the canary started", EXIT_PROBLEM)
    return finish(view)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add canary."""
    canary = sub.add_parser(
        "canary",
        parents=[common],
        help="bounded live canary: one passive order, TTL, verified summary",
        description=(
            "Place one passive limit BUY below the best bid through the real cycle, cancel it "
            "after the TTL, stop on stale data, rejects, latency or kill, then turn safe mode on "
            "and verify the result against the exchange. Needs the gates to say LIVE."
        ),
    )
    canary.add_argument("mode", choices=("once", "loop"), help="one order life, or up to N")
    canary.add_argument("--symbol", required=True, metavar="SYM", help="a TRY pair, e.g. BTCTRY")
    canary.add_argument(
        "--notional-try",
        required=True,
        type=_decimal,
        metavar="X",
        help="order size in TRY (at most MAX_NOTIONAL_PER_ORDER_TRY)",
    )
    canary.add_argument(
        "--ttl-seconds", required=True, type=float, metavar="T", help="cancel the order after T s"
    )
    canary.add_argument(
        "--cycle-seconds",
        type=float,
        default=None,
        metavar="S",
        help="loop: seconds between order starts (default CYCLE_SECONDS)",
    )
    canary.add_argument(
        "--max-cycles", type=int, default=None, metavar="N", help="loop: orders to place (3)"
    )
    canary.add_argument(
        "--offset-bps",
        type=_decimal,
        default=Decimal(0),
        metavar="B",
        help="rest B bps below the best bid (default: one price step below)",
    )
    add_json_flag(canary)
    canary.set_defaults(handler=cmd_canary)
