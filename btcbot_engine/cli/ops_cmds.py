"""`btcbot panic`, `kill`, `safe-mode`, `db backup|check|restore`: emergency and data safety.

Thin handlers: the work is in btcbot_engine.panic, btcbot_engine.kill_request and
btcbot_engine.store.backup. Exit codes as in `common`: 0 done, 1 ran but something is wrong
(an order still open, a failed check), 2 refused (usage, missing confirmation, lock held).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
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

# --- shared -----------------------------------------------------------------------------------


def _confirm(args: argparse.Namespace, word: str, what: str) -> None:
    """Typed confirmation on a terminal; `--yes` required otherwise. Raises CliError (2)."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{what} needs --yes when not run on a terminal", EXIT_USAGE)
    try:
        answer = input(f"{what}: type {word} to confirm: ")
    except EOFError:
        answer = ""
    if answer.strip() != word:
        raise CliError(f"not confirmed; {what} not done", EXIT_USAGE)


def _db_path(args: argparse.Namespace, settings: Settings) -> Path:
    return Path(args.db) if getattr(args, "db", None) else settings.state_db_path


def _order_line(order: Any) -> str:
    return (
        f"{order.order_id} {order.symbol} {order.side.value} {order.quantity} @ {order.price}"
        f" (left {order.left_quantity}, {order.status.value})"
    )


# --- panic ------------------------------------------------------------------------------------


def cmd_panic(args: argparse.Namespace) -> int:
    """Cancel every open order on the account (keys + exchange only); set the kill state."""
    import asyncio

    from btcbot_engine.exchange.port import ExchangeError
    from btcbot_engine.panic import (
        CANCELLED,
        FAILED,
        GONE,
        PanicPlan,
        list_open_orders,
        order_json,
        run_panic,
    )

    settings = settings_for(args)
    if not settings.has_api_keys:
        raise CliError(
            "panic needs BTCTURK_API_KEY and BTCTURK_API_SECRET; nothing was cancelled", EXIT_USAGE
        )
    if args.wait < 0:
        raise CliError("--wait must be 0 or more seconds", EXIT_USAGE)
    paint = painter()
    where = f"{settings.btcturk_base_url} (key …{settings.key_hint})"

    if not args.yes_cancel_all:
        try:
            orders = asyncio.run(list_open_orders(settings))
            error = None
        except ExchangeError as exc:
            orders, error = [], str(exc)
        if args.json:
            print_json(
                {
                    "status": "refused",
                    "exchange": settings.btcturk_base_url,
                    "would_cancel": [order_json(o) for o in orders],
                    "read_error": error,
                }
            )
        else:
            if error:
                print(f"panic: could not list the open orders on {where}: {error}")
            else:
                print(f"panic would cancel {len(orders)} open order(s) on {where}:")
                for o in orders:
                    print(f"  {_order_line(o)}")
            print(f"panic would also set the kill switch of {settings.state_db_path}")
        raise CliError("panic refused: re-run with --yes-cancel-all to do it", EXIT_USAGE)

    result = run_panic(settings, PanicPlan(wait_s=args.wait))
    cancelled = result.by_outcome(CANCELLED)
    gone = result.by_outcome(GONE)
    failed = [a for a in result.attempts if a.outcome == FAILED]
    code = EXIT_OK if result.ok else EXIT_PROBLEM
    if args.json:
        print_json(
            {
                "status": "ok" if result.ok else "problem",
                "exchange": settings.btcturk_base_url,
                "listed": result.listed,
                "open_before": [order_json(o) for o in result.open_before],
                "cancelled": [order_json(a.order) for a in cancelled],
                "gone": [{**order_json(a.order), "detail": a.error} for a in gone],
                "failed": [{**order_json(a.order), "error": a.error} for a in failed],
                "still_open": [order_json(o) for o in result.still_open],
                "read_error": result.read_error,
                "kill": result.kill.to_json() if result.kill else None,
                "elapsed_s": round(result.elapsed_s, 3),
            }
        )
        return code

    print(f"btcbot panic on {where}")
    if result.kill is not None:
        mark = paint("✓", "green") if result.kill.ok else paint("!", "yellow")
        print(f"  {mark} kill switch: {result.kill.detail}")
    if not result.listed:
        print(paint(f"  ✗ cannot read the open orders: {result.read_error}", "red"))
        print(paint("  NOTHING was cancelled. Cancel on the exchange's website now.", "red"))
        return EXIT_PROBLEM
    print(f"  open orders found: {len(result.open_before)}")
    for a in cancelled:
        print(f"  {paint('cancelled', 'green')} {_order_line(a.order)}")
    for a in gone:
        print(
            f"  {paint('gone     ', 'yellow')} {_order_line(a.order)}: closed before our cancel "
            f"(filled or cancelled elsewhere; exchange said {a.error})"
        )
    for a in failed:
        print(f"  {paint('FAILED   ', 'red')} {_order_line(a.order)}: {a.error}")
    if result.read_error:
        print(paint(f"  ✗ the last re-read of open orders failed: {result.read_error}", "red"))
    if result.still_open:
        print(
            paint(f"  still open after {result.elapsed_s:.1f} s: {len(result.still_open)}", "red")
        )
        for o in result.still_open:
            print(f"    {_order_line(o)}")
        print("  run `btcbot panic --yes-cancel-all` again, or cancel on the exchange's website")
    elif result.read_error is None:
        print(paint(f"  nothing left open ({result.elapsed_s:.1f} s)", "green"))
    return code


# --- kill -------------------------------------------------------------------------------------


def cmd_kill(args: argparse.Namespace) -> int:
    """Set (or with --clear, clear) the persisted kill state."""
    from btcbot_engine.kill_request import engage_kill, wait_consumed

    settings = settings_for(args)
    db = _db_path(args, settings)
    if args.clear:
        return _clear_kill(args, settings, db)
    if args.wait < 0:
        raise CliError("--wait must be 0 or more seconds", EXIT_USAGE)
    outcome = engage_kill(db, settings.account_key, args.reason, command="btcbot kill")
    consumed: bool | None = None
    if outcome.how == "requested" and outcome.ok and args.wait > 0:
        consumed = wait_consumed(db, args.wait)
    ok = outcome.ok and consumed is not False
    if args.json:
        print_json(
            {**outcome.to_json(), "engine_tripped": consumed, "status": "ok" if ok else "problem"}
        )
        return EXIT_OK if ok else EXIT_PROBLEM
    paint = painter()
    print(f"{paint('✓', 'green') if outcome.ok else paint('!', 'yellow')} {outcome.detail}")
    if consumed is True:
        print(f"  the engine (pid {outcome.holder_pid}) tripped its kill switch")
    elif consumed is False:
        print(
            paint(
                f"  the engine has not picked the request up within {args.wait:g} s; its "
                "submits are blocked meanwhile. Check it is alive (btcbot db check).",
                "yellow",
            )
        )
    return EXIT_OK if ok else EXIT_PROBLEM


def _clear_kill(args: argparse.Namespace, settings: Settings, db: Path) -> int:
    from btcbot_engine.kill_request import clear_kill
    from btcbot_engine.store.backup import lock_holder
    from btcbot_engine.store.db import StoreError
    from btcbot_engine.store.lock import InstanceLocked, LockError

    holder = lock_holder(db)
    if holder is not None:
        raise CliError(
            f"database {db} is in use by pid {holder}: stop the engine first, or clear the kill "
            "in the TUI",
            EXIT_USAGE,
        )
    _confirm(args, "clear", "clearing the kill switch")
    try:
        outcome = clear_kill(db, settings.account_key, command="btcbot kill --clear")
    except InstanceLocked as exc:
        raise CliError(
            f"kill not cleared: {exc} (or clear the kill in the TUI)", EXIT_USAGE
        ) from None
    except (StoreError, LockError) as exc:
        raise CliError(f"kill not cleared: {exc}", EXIT_PROBLEM) from None
    env_note = (
        "KILL_SWITCH=true in the environment still applies: the bot stays KILLED until it is false"
        if settings.kill_switch
        else None
    )
    if args.json:
        print_json({**outcome.to_json(), "env_kill_switch": settings.kill_switch})
        return EXIT_OK
    print(f"{painter()('✓', 'green')} {outcome.detail}")
    if env_note:
        print(f"  note: {env_note}")
    return EXIT_OK


# --- safe mode --------------------------------------------------------------------------------


def cmd_safe_mode(args: argparse.Namespace) -> int:
    """Turn the persisted runtime safe mode on (never asks) or off (asks) with no engine running."""
    from btcbot_engine.runtime_state import set_persisted_safe_mode
    from btcbot_engine.store.db import StoreError
    from btcbot_engine.store.lock import InstanceLocked, LockError

    settings = settings_for(args)
    on = args.state == "on"
    if not on:
        _confirm(args, "off", "turning runtime safe mode off")
    try:
        was = set_persisted_safe_mode(settings, on, command="btcbot safe-mode")
    except InstanceLocked as exc:
        hint = "use `btcbot kill` to stop it now" if on else "turn it off in the TUI (s)"
        raise CliError(f"safe mode not changed: {exc}; {hint}", EXIT_USAGE) from None
    except (StoreError, LockError) as exc:
        raise CliError(f"safe mode not changed: {exc}", EXIT_PROBLEM) from None
    env_note = on is False and settings.safe_mode
    if args.json:
        print_json({"safe_mode": on, "was": was, "env_safe_mode": settings.safe_mode})
        return EXIT_OK
    print(
        f"runtime safe mode {'on' if on else 'off'} (was {'on' if was else 'off'}) in "
        f"{settings.state_db_path}"
    )
    if env_note:
        print("  note: SAFE_MODE=true in the environment still applies until it is false")
    return EXIT_OK


# --- db ---------------------------------------------------------------------------------------


def cmd_db_backup(args: argparse.Namespace) -> int:
    """Online, integrity-checked copy of the database."""
    from btcbot_engine.store.backup import BackupRefused, backup_database
    from btcbot_engine.store.db import StoreError

    settings = settings_for(args)
    db = _db_path(args, settings)
    try:
        result = backup_database(db, args.out, force=args.force)
    except BackupRefused as exc:
        raise CliError(f"backup refused: {exc}", EXIT_USAGE) from None
    except (StoreError, OSError) as exc:
        raise CliError(f"backup failed: {exc}; no file was written", EXIT_PROBLEM) from None
    if args.json:
        print_json(result.to_json())
        return EXIT_OK
    rows = ", ".join(f"{name} {n}" for name, n in result.row_counts.items() if n)
    print(
        f"{painter()('✓', 'green')} backup of {db} written to {result.path} "
        f"({result.size_bytes} bytes, schema {result.schema_version}, integrity ok, "
        f"{result.elapsed_ms} ms)"
    )
    print(f"  rows: {rows or 'none'}")
    return EXIT_OK


def cmd_db_check(args: argparse.Namespace) -> int:
    """Read-only health of the database file."""
    from btcbot_engine.store.backup import check_database

    settings = settings_for(args)
    db = _db_path(args, settings)
    report = check_database(db, account_key=settings.account_key if settings.has_api_keys else None)
    if args.json:
        print_json(report.to_json())
        return EXIT_OK if report.ok else EXIT_PROBLEM
    paint = painter()
    colors = {"OK": "green", "WARN": "yellow", "FAIL": "red"}
    print(f"db check {paint(report.status, colors[report.status])}  {db}")
    for check in report.checks:
        print(
            f"  {paint(f'{check.status:<4}', colors[check.status])} {check.name:<13} {check.detail}"
        )
    if report.row_counts:
        print("  rows: " + ", ".join(f"{k} {v}" for k, v in report.row_counts.items()))
    return EXIT_OK if report.ok else EXIT_PROBLEM


def cmd_db_restore(args: argparse.Namespace) -> int:
    """Replace the database with a validated backup; the old one is kept aside."""
    from btcbot_engine.store.backup import lock_holder, restore_database, validate_backup
    from btcbot_engine.store.db import StoreError
    from btcbot_engine.store.lock import InstanceLocked, LockError

    settings = settings_for(args)
    db = _db_path(args, settings)
    holder = lock_holder(db)
    if holder is not None:
        raise CliError(
            f"restore refused: database {db} is in use by pid {holder}; stop the engine first",
            EXIT_USAGE,
        )
    try:
        info = validate_backup(args.file, settings.account_key, db_path=db)
    except StoreError as exc:
        raise CliError(f"restore refused: {exc}", EXIT_USAGE) from None
    if not args.json:
        print(
            f"restore {args.file} (schema {info.schema_version}, "
            f"{info.row_counts.get('ledger_events', 0)} ledger rows) over {db}; "
            "the current database is kept aside"
        )
    _confirm(args, "restore", f"restoring {args.file} over {db}")
    try:
        result = restore_database(db, args.file, account_key=settings.account_key)
    except InstanceLocked as exc:
        raise CliError(f"restore refused: {exc}", EXIT_USAGE) from None
    except StoreError as exc:
        raise CliError(f"restore refused: {exc}", EXIT_USAGE) from None
    except (OSError, LockError) as exc:
        raise CliError(f"restore failed: {exc}; the previous database is unchanged") from None
    if args.json:
        print_json(result.to_json())
        return EXIT_OK
    print(f"{painter()('✓', 'green')} restored {result.backup} to {result.db_path} (0600)")
    if result.moved_aside:
        print(f"  previous database kept as {result.moved_aside}")
    return EXIT_OK


# --- registration -----------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add panic, kill and db."""
    panic = sub.add_parser(
        "panic",
        parents=[common],
        help="cancel EVERY open order on the account now (keys + exchange only)",
        description=(
            "Cancel every open order on the account using only the API keys, then list what is "
            "still open. Works with the database locked, corrupt or missing, and in SAFE_MODE. "
            "Also sets the kill switch. Without --yes-cancel-all it only shows what it would do."
        ),
    )
    panic.add_argument(
        "--yes-cancel-all", action="store_true", help="really cancel every open order"
    )
    panic.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for the exchange to confirm the cancels (default 10)",
    )
    add_json_flag(panic)
    panic.set_defaults(handler=cmd_panic)

    kill = sub.add_parser(
        "kill",
        parents=[common],
        help="set (or --clear) the persisted kill switch",
        description=(
            "Set the persisted kill switch: directly in the database when no engine runs, "
            "otherwise through a kill request the running engine trips at once (it also cancels "
            "its orders). --clear clears it (only while no engine runs)."
        ),
    )
    kill.add_argument("--reason", default="operator", metavar="TEXT", help="why (recorded)")
    kill.add_argument("--clear", action="store_true", help="clear the persisted kill switch")
    kill.add_argument("--yes", action="store_true", help="confirm --clear without a prompt")
    kill.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for a running engine to trip (default 10; 0 = do not wait)",
    )
    kill.add_argument("--db", metavar="PATH", help="database path (default STATE_DB_PATH)")
    add_json_flag(kill)
    kill.set_defaults(handler=cmd_kill)

    safe = sub.add_parser(
        "safe-mode",
        parents=[common],
        help="turn the persisted runtime safe mode on or off (no engine running)",
        description=(
            "Runtime safe mode is persisted in the database and ORed with SAFE_MODE from the "
            "environment. `on` never asks; `off` asks for a typed confirmation (or --yes). The "
            "canary turns it on when it ends; this is how a headless operator turns it off."
        ),
    )
    safe.add_argument("state", choices=("on", "off"))
    safe.add_argument("--yes", action="store_true", help="confirm `off` without a prompt")
    add_json_flag(safe)
    safe.set_defaults(handler=cmd_safe_mode)

    db = sub.add_parser("db", parents=[common], help="backup, check or restore the database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    backup = db_sub.add_parser(
        "backup", parents=[common], help="online, integrity-checked copy (safe while running)"
    )
    backup.add_argument("--out", required=True, metavar="FILE", help="where to write the copy")
    backup.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    backup.add_argument("--db", metavar="PATH", help="database path (default STATE_DB_PATH)")
    add_json_flag(backup)
    backup.set_defaults(handler=cmd_db_backup)

    check = db_sub.add_parser(
        "check", parents=[common], help="integrity, WAL, schema, mode, row counts (read-only)"
    )
    check.add_argument("--db", metavar="PATH", help="database path (default STATE_DB_PATH)")
    add_json_flag(check)
    check.set_defaults(handler=cmd_db_check)

    restore = db_sub.add_parser(
        "restore", parents=[common], help="replace the database with a backup (engine stopped)"
    )
    restore.add_argument("file", metavar="FILE", help="a backup made by `btcbot db backup`")
    restore.add_argument("--yes", action="store_true", help="confirm without a prompt")
    restore.add_argument("--db", metavar="PATH", help="database path (default STATE_DB_PATH)")
    add_json_flag(restore)
    restore.set_defaults(handler=cmd_db_restore)
