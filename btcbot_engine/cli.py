"""`btcbot` command line: thin handlers over the engine library.

Handlers parse arguments, call one library function and print. Exit codes: 0 ok, 1 the command
ran but found a problem, 2 bad configuration or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from btcbot_engine.config import ConfigError, Settings, load_settings

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int = EXIT_PROBLEM) -> None:
        super().__init__(message)
        self.code = code


def _color(enabled: bool) -> Callable[[str, str], str]:
    codes = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}

    def paint(text: str, color: str) -> str:
        return f"\x1b[{codes[color]}m{text}\x1b[0m" if enabled else text

    return paint


def _use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def _settings(args: argparse.Namespace) -> Settings:
    """Load settings for a one-shot command: logs below ERROR stay off the operator's screen."""
    from btcbot_engine.observability import configure_logging

    settings = load_settings(getattr(args, "env_file", None))
    configure_logging("ERROR", secrets=settings.secret_values)
    return settings


# --- gates ----------------------------------------------------------------------------------


def cmd_gates(args: argparse.Namespace) -> int:
    """Print the effective safety gates."""
    from btcbot_engine.gates import CONDITIONS, REMEDIES
    from btcbot_engine.runtime_state import effective_gates

    decision = effective_gates(_settings(args))
    if args.json:
        _print_json(decision.to_json())
        return EXIT_OK
    paint = _color(_use_color())
    mode_color = {"LIVE": "red", "PAPER": "yellow", "KILLED": "red"}.get(decision.mode, "green")
    print(
        f"mode {paint(decision.mode.value, mode_color)}  "
        f"live submit {'ALLOWED' if decision.live_submit_allowed else 'blocked'}  "
        f"live cancel {'ALLOWED' if decision.live_cancel_allowed else 'blocked'}"
    )
    for name in CONDITIONS:
        if name in decision.blocked_by:
            print(
                f"  {paint('✗', 'red')} {name:<17} {paint('blocks live', 'red')}  {REMEDIES[name]}"
            )
        else:
            print(f"  {paint('✓', 'green')} {name:<17} {paint('ok', 'green')}")
    return EXIT_OK


# --- health / account (read-only) ----------------------------------------------------------


def _public_exchange(settings: Settings, **keys: str | None) -> Any:
    from btcbot_engine.exchange.btcturk.rest import BtcturkExchange

    # No write guard: these commands can never write (the adapter refuses writes without one).
    return BtcturkExchange(
        settings.btcturk_base_url,
        settings.btcturk_graph_url,
        timeout_s=settings.http_timeout_seconds,
        rate_limit_share=settings.rate_limit_share,
        max_total_retry_wait_s=settings.http_timeout_seconds,
        max_retries=1,
        **keys,
    )


def cmd_health(args: argparse.Namespace) -> int:
    """Public API reachable, server time, clock skew: OK/WARN/FAIL per check."""
    import asyncio

    settings = _settings(args)

    keys: dict[str, str | None] = {}
    if settings.has_api_keys:
        assert settings.btcturk_api_key is not None and settings.btcturk_api_secret is not None
        keys = {
            "api_key": settings.btcturk_api_key.get_secret_value(),
            "api_secret": settings.btcturk_api_secret.get_secret_value(),
        }

    async def probe() -> Any:
        exchange = _public_exchange(settings, **keys)
        try:
            return await exchange.health()
        finally:
            await exchange.close()

    report = asyncio.run(probe())
    document = report.as_dict()
    worst = "OK" if report.ok else "FAIL"
    if any(c.status == "WARN" for c in report.checks) and report.ok:
        worst = "WARN"
    if args.json:
        _print_json({"status": worst, **document})
    else:
        paint = _color(_use_color())
        colors = {"OK": "green", "WARN": "yellow", "FAIL": "red"}
        print(f"health {paint(worst, colors[worst])}  ({settings.btcturk_base_url})")
        for check in report.checks:
            status = paint(f"{check.status:<4}", colors[check.status])
            print(f"  {status} {check.name:<12} {check.detail}")
    return EXIT_OK if report.ok else EXIT_PROBLEM


def cmd_account(args: argparse.Namespace) -> int:
    """Balances and open orders; needs keys; never writes in any mode."""
    import asyncio

    from btcbot_engine.exchange.port import ExchangeError

    settings = _settings(args)
    if not settings.has_api_keys:
        raise CliError("account needs BTCTURK_API_KEY and BTCTURK_API_SECRET", EXIT_USAGE)
    assert settings.btcturk_api_key is not None and settings.btcturk_api_secret is not None

    async def read() -> tuple[list[Any], list[Any]]:
        exchange = _public_exchange(
            settings,
            api_key=settings.btcturk_api_key.get_secret_value(),
            api_secret=settings.btcturk_api_secret.get_secret_value(),
        )
        try:
            return await exchange.balances(), await exchange.open_orders(None)
        finally:
            await exchange.close()

    try:
        balances, orders = asyncio.run(read())
    except ExchangeError as exc:
        raise CliError(f"account: {exc}") from None
    if args.json:
        _print_json(
            {
                "balances": [
                    {
                        "asset": b.asset,
                        "total": str(b.total),
                        "free": str(b.free),
                        "locked": str(b.locked),
                    }
                    for b in balances
                ],
                "open_orders": [
                    {
                        "id": o.order_id,
                        "client_id": o.client_id,
                        "symbol": o.symbol,
                        "side": o.side.value,
                        "price": str(o.price),
                        "quantity": str(o.quantity),
                        "left": str(o.left_quantity),
                        "status": o.status.value,
                    }
                    for o in orders
                ],
            }
        )
        return EXIT_OK
    print(f"{'asset':<8}{'total':>22}{'free':>22}{'locked':>22}")
    for b in balances:
        if b.total:
            print(f"{b.asset:<8}{b.total!s:>22}{b.free!s:>22}{b.locked!s:>22}")
    print(f"open orders: {len(orders)}")
    for o in orders:
        print(f"  {o.order_id} {o.symbol} {o.side.value} {o.quantity} @ {o.price} {o.status.value}")
    return EXIT_OK


# --- run ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run the trading loop (or one cycle) until done or SIGINT/SIGTERM."""
    import signal

    from btcbot_engine.engine import Engine, RunOptions
    from btcbot_engine.observability import configure_logging
    from btcbot_engine.store.db import StoreError
    from btcbot_engine.store.lock import InstanceLocked

    overrides = {"dry_run": True} if args.dry_run else {}
    settings = load_settings(getattr(args, "env_file", None), **overrides)
    configure_logging(settings.log_level, secrets=settings.secret_values)
    paint = _color(_use_color())

    def summary(snap: Any) -> None:
        st = snap.status
        if st.last_cycle_ms is None or snap.ts_ms < (st.last_cycle_ms or 0):
            return
        print(
            f"cycle {st.cycle_count} mode {snap.mode} risk {snap.risk.mode} "
            f"universe {sum(1 for u in snap.universe if u.included)} "
            f"open {len(snap.open_orders)} fills {len(snap.recent_fills)} "
            f"equity {snap.pnl.equity:.2f} TRY {st.last_cycle_duration_ms} ms"
            + (f" error: {st.last_error}" if st.last_error else ""),
            flush=True,
        )

    engine = Engine(settings, on_snapshot=summary)
    from btcbot_engine.runtime_state import effective_gates

    gates = effective_gates(settings)
    print(
        f"btcbot run: mode {paint(gates.mode.value, 'bold')} "
        f"blocked_by [{', '.join(gates.blocked_by)}] exchange {settings.btcturk_base_url} "
        f"db {settings.state_db_path}",
        flush=True,
    )
    logging.getLogger("btcbot_engine.arm_check").info("arm_check", extra={"gates": gates.to_json()})

    def on_signal(signum: int, _frame: object) -> None:
        print(f"btcbot run: signal {signum}, stopping after the current step", flush=True)
        engine.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    loop = not args.once
    options = RunOptions(
        loop=loop,
        max_cycles=1 if args.once else args.max_cycles,
        cycle_seconds=args.cycle_seconds or settings.cycle_seconds,
        jitter_seconds=args.jitter_seconds,
    )
    try:
        engine.run(options)
    except InstanceLocked as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except StoreError as exc:
        raise CliError(f"database: {exc}", EXIT_USAGE) from None
    print(f"btcbot run: stopped after {engine.cycles_run} cycle(s)", flush=True)
    return EXIT_OK


# --- sim-exchange ---------------------------------------------------------------------------


def _add_sim_exchange(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from btcbot_engine.exchange.simulator import command as sim_command

    parser = sub.add_parser(
        "sim-exchange",
        parents=[common],
        help="run the bundled BTCTurk-compatible simulator on 127.0.0.1",
    )
    sim_command.add_arguments(parser)
    parser.set_defaults(handler=sim_command.run, needs_settings=False)


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by tests and docs)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--env-file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="read settings from this file instead of ./.env",
    )
    parser = argparse.ArgumentParser(
        prog="btcbot",
        description="Safety-first BTCTurk trading bot (headless commands).",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    gates = sub.add_parser("gates", parents=[common], help="show the effective safety gates")
    gates.add_argument("--json", action="store_true", help="print JSON only")
    gates.set_defaults(handler=cmd_gates)

    health = sub.add_parser(
        "health", parents=[common], help="is the exchange reachable? clock skew"
    )
    health.add_argument("--json", action="store_true", help="print JSON only")
    health.set_defaults(handler=cmd_health)

    account = sub.add_parser(
        "account", parents=[common], help="balances and open orders (read-only; needs keys)"
    )
    account.add_argument("--json", action="store_true", help="print JSON only")
    account.set_defaults(handler=cmd_account)

    run = sub.add_parser("run", parents=[common], help="run the trading loop")
    run.add_argument("--dry-run", action="store_true", help="force PAPER whatever the env says")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run one cycle and exit")
    mode.add_argument("--loop", action="store_true", help="run cycles until stopped (default)")
    run.add_argument("--cycle-seconds", type=float, default=None, metavar="S")
    run.add_argument("--max-cycles", type=int, default=None, metavar="N")
    run.add_argument("--jitter-seconds", type=float, default=0.0, metavar="J")
    run.set_defaults(handler=cmd_run)

    _add_sim_exchange(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `btcbot` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"btcbot: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as exc:
        print(f"btcbot: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("btcbot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
