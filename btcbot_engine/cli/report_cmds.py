"""`btcbot report`, `btcbot export`, `btcbot alerts`: read-only views of the state database.

They open the database read-only (no lock, no migration), so they work while `btcbot run`
writes to it. A missing or unreadable database is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from btcbot_engine.reports import Report, Stats
    from btcbot_engine.store.db import Store


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _open(args: argparse.Namespace) -> Store:
    """The database named by --db (else STATE_DB_PATH), opened read-only."""
    from btcbot_engine.store.db import StoreError, open_readonly

    path = Path(args.db) if args.db else settings_for(args).state_db_path
    if args.db:
        settings_for(args)  # still validates settings and quiets logs, like every command
    try:
        return open_readonly(path)
    except StoreError as exc:
        raise CliError(f"database: {exc}", EXIT_USAGE) from None


def _read_failed(store: Store, exc: Exception) -> CliError:
    """A read that failed half-way (a corrupt page): one line naming the file, exit 2."""
    return CliError(f"database {store.path}: {exc}", EXIT_USAGE)


def _utc(ms: int | None) -> str:
    from btcbot_engine.export import iso_utc

    return iso_utc(ms) or "-"


# --- report ---------------------------------------------------------------------------------


def _stats(s: Stats) -> str:
    if not s.count:
        return "-"
    return f"p50 {s.p50}  p95 {s.p95}  max {s.max}  (n={s.count})"


def _counts(counts: dict[str, int], limit: int = 12) -> list[str]:
    items = list(counts.items())
    lines = [f"    {n:>6}  {key}" for key, n in items[:limit]]
    if len(items) > limit:
        lines.append(f"    {'':>6}  ... and {len(items) - limit} more")
    return lines or ["    -"]


def _print_report(r: Report) -> None:
    paint = painter()
    d = r.as_dict()

    def row(label: str, value: Any) -> None:
        print(f"  {label:<18} {value if value not in (None, '') else '-'}")

    print(paint(f"btcbot report: last {r.cycles} cycle(s)", "bold"))
    row("window", f"{_utc(r.start_ms)} .. {_utc(r.end_ms)}")
    if not r.cycles:
        print("  no cycles recorded yet")
        return
    row("cycles", f"{r.cycles_ok} ok, {r.cycles_error} error, {r.cycles_unfinished} unfinished")
    row("duration ms", _stats(r.duration_ms))
    row("modes", ", ".join(f"{k} {v}" for k, v in r.modes.items()))
    row("risk modes", ", ".join(f"{k} {v}" for k, v in r.risk_modes.items()))
    row(
        "fills",
        f"{r.fill_count}  notional "
        + (", ".join(f"{v} {k}" for k, v in d["fills"]["notional_by_quote"].items()) or "0"),
    )
    for sym, f in d["fills"]["by_symbol"].items():
        row(f"  {sym}", f"{f['count']} fills, volume {f['volume']}, notional {f['notional']}")
    row("fees", ", ".join(f"{v} {k}" for k, v in d["fees_by_asset"].items()) or "0")
    row("tax on fees", ", ".join(f"{v} {k}" for k, v in d["taxes_by_asset"].items()) or "0")
    pnl = d["pnl"]
    row("realized PnL TRY", pnl["realized_try"])
    row("unrealized TRY", pnl["unrealized_try"])
    row("equity TRY", f"{pnl['equity_try'] or '-'} (window start {pnl['equity_start_try'] or '-'})")
    row(
        "drawdown %",
        f"max {pnl['max_drawdown_pct'] or '-'} (vs peak), "
        f"in window {pnl['window_drawdown_pct'] or '-'}",
    )
    row("rejects", r.rejects)
    row("retries", r.retries)
    row("HTTP 429", r.rate_limited)
    row("ws reconnects", r.ws_reconnects)
    row("submit ms", _stats(r.submit_latency_ms))
    row("cancel ms", _stats(r.cancel_latency_ms))
    print("  orders by state")
    for line in _counts(dict(r.orders_by_state)):
        print(line)
    print("  decisions by reason code")
    for line in _counts(dict(r.decisions_by_reason)):
        print(line)
    if r.errors:
        print("  recent cycle errors")
        for e in r.errors:
            print(f"    {e[:110]}")


def cmd_report(args: argparse.Namespace) -> int:
    """Summarise the last N cycles."""
    from btcbot_engine.reports import build_report
    from btcbot_engine.store.db import StoreError

    store = _open(args)
    try:
        report = build_report(store, last_cycles=args.last)
    except StoreError as exc:
        raise _read_failed(store, exc) from None
    finally:
        store.close()
    if args.json:
        print_json(report.as_dict())
    else:
        _print_report(report)
    return EXIT_OK


# --- export ---------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    """Write the last N cycles' rows to --out."""
    from btcbot_engine.export import ExportError, write_export
    from btcbot_engine.store.db import StoreError

    store = _open(args)
    try:
        result = write_export(
            store, Path(args.out), fmt=args.format, last_cycles=args.last, force=args.force
        )
    except ExportError as exc:
        raise CliError(f"export: {exc}", EXIT_USAGE) from None
    except StoreError as exc:
        raise _read_failed(store, exc) from None
    except OSError as exc:
        raise CliError(f"export: {exc.strerror or exc}: {exc.filename or args.out}") from None
    finally:
        store.close()
    if args.json:
        print_json({"files": [str(p) for p in result.files], "rows": dict(result.rows)})
        return EXIT_OK
    total = sum(result.rows.values())
    counts = ", ".join(f"{t} {n}" for t, n in result.rows.items())
    print(f"exported {total} rows ({counts})")
    for path in result.files:
        print(f"  {path}")
    return EXIT_OK


# --- alerts ---------------------------------------------------------------------------------


def cmd_alerts(args: argparse.Namespace) -> int:
    """List alerts over the last N cycles; exit 1 when there is any."""
    from btcbot_engine.alerts import compute_alerts, worst_severity
    from btcbot_engine.store.db import StoreError

    store = _open(args)
    try:
        alerts = compute_alerts(store, last_cycles=args.last)
    except StoreError as exc:
        raise _read_failed(store, exc) from None
    finally:
        store.close()
    code = EXIT_PROBLEM if alerts else EXIT_OK
    if args.json:
        print_json(
            {
                "status": worst_severity(alerts) or "OK",
                "last_cycles": args.last,
                "alerts": [a.as_dict() for a in alerts],
            }
        )
        return code
    paint = painter()
    if not alerts:
        print(f"alerts: {paint('none', 'green')} in the last {args.last} cycles")
        return code
    colours = {"CRITICAL": "red", "WARN": "yellow"}
    print(f"alerts: {len(alerts)} in the last {args.last} cycles")
    print(f"  {'severity':<9} {'code':<19} {'count':>5}  {'first seen (UTC)':<24} last seen (UTC)")
    for a in alerts:
        print(
            f"  {paint(f'{a.severity:<9}', colours[a.severity])} {a.code:<19} {a.count:>5}  "
            f"{_utc(a.first_seen_ms):<24} {_utc(a.last_seen_ms)}"
        )
        print(f"  {'':<9} {a.detail}")
    return code


# --- registration ---------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--last",
        type=_positive,
        default=100,
        metavar="N",
        help="the last N cycles (default 100)",
    )
    parser.add_argument(
        "--db", metavar="PATH", default=None, help="state database (default STATE_DB_PATH)"
    )


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add report, export and alerts."""
    report = sub.add_parser(
        "report", parents=[common], help="cycles, decisions, orders, fills, PnL, latencies"
    )
    _add_common(report)
    add_json_flag(report)
    report.set_defaults(handler=cmd_report)

    export = sub.add_parser(
        "export",
        parents=[common],
        help="cycles, decisions, orders, fills and ledger as JSONL or CSV",
        description=(
            "jsonl: one file, one object per line with a 'table' field. "
            "csv: one file per table, <stem>.<table>.csv beside --out (UTF-8, header row, "
            "Decimals as plain text, formula-looking cells prefixed with ')."
        ),
    )
    _add_common(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", required=True, metavar="FILE", help="where to write")
    export.add_argument("--force", action="store_true", help="overwrite existing files")
    add_json_flag(export)
    export.set_defaults(handler=cmd_export)

    alerts = sub.add_parser(
        "alerts",
        parents=[common],
        help="reject spikes, 429s, stale data, UNKNOWN orders, ... (exit 1 when any)",
    )
    _add_common(alerts)
    add_json_flag(alerts)
    alerts.set_defaults(handler=cmd_alerts)
