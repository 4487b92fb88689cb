"""`btcbot gates`, `btcbot health`, `btcbot account`: read-only views of gates and exchange."""

from __future__ import annotations

import argparse
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
from btcbot_engine.config import Settings

# --- gates ----------------------------------------------------------------------------------


def cmd_gates(args: argparse.Namespace) -> int:
    """Print the effective safety gates."""
    from btcbot_engine.gates import CONDITIONS, REMEDIES
    from btcbot_engine.runtime_state import effective_gates

    decision = effective_gates(settings_for(args))
    if args.json:
        print_json(decision.to_json())
        return EXIT_OK
    paint = painter()
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

    settings = settings_for(args)

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
        print_json({"status": worst, **document})
    else:
        paint = painter()
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

    settings = settings_for(args)
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
        print_json(
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


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add gates, health and account."""
    gates = sub.add_parser("gates", parents=[common], help="show the effective safety gates")
    add_json_flag(gates)
    gates.set_defaults(handler=cmd_gates)

    health = sub.add_parser(
        "health", parents=[common], help="is the exchange reachable? clock skew"
    )
    add_json_flag(health)
    health.set_defaults(handler=cmd_health)

    account = sub.add_parser(
        "account", parents=[common], help="balances and open orders (read-only; needs keys)"
    )
    add_json_flag(account)
    account.set_defaults(handler=cmd_account)
