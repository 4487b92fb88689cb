"""`btcbot sim-exchange`: run the bundled exchange simulator in the foreground.

Binds 127.0.0.1 only, prints the env lines to point btcbot at it, runs until SIGINT/SIGTERM and
exits 0. Flag values are validated here (not by argparse types) so a bad one gives exactly one
line of error and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from btcbot_engine.exchange.simulator.faults import Faults, FaultSpecError, parse_faults
from btcbot_engine.exchange.simulator.server import DEFAULT_BALANCES, SimulatorServer

DEFAULT_PORT = 18181
DEFAULT_WS_PORT = 18182


class UsageError(ValueError):
    """A flag value that cannot be used; the message is the one line printed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sim-exchange flags to a (sub)parser."""
    parser.add_argument(
        "--port", default=str(DEFAULT_PORT), help=f"REST and graph port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--ws-port",
        default=str(DEFAULT_WS_PORT),
        help=f"WebSocket port (default {DEFAULT_WS_PORT})",
    )
    parser.add_argument("--seed", default="1", help="random seed of the market (default 1)")
    parser.add_argument(
        "--balances",
        default="",
        help="starting balances, e.g. TRY=10000,USDT=500 (default TRY=100000,USDT=5000,...)",
    )
    parser.add_argument(
        "--faults",
        default="",
        help='fault switches, e.g. "rate_limit_remaining=20,retry_after_s=2,freeze_market=true"',
    )
    parser.add_argument(
        "--tick-seconds", default="0.25", help="seconds per market tick; 0 = frozen (default 0.25)"
    )


def _port(text: str, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise UsageError(f"{flag}: {value} is outside 0-65535")
    return value


def parse_balances(text: str) -> dict[str, Decimal]:
    """`TRY=10000,USDT=500` -> {"TRY": Decimal("10000"), ...}; empty -> the defaults."""
    if not text.strip():
        return dict(DEFAULT_BALANCES)
    result: dict[str, Decimal] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        asset, sep, amount = item.partition("=")
        asset = asset.strip().upper()
        if not sep or not asset.isalnum():
            raise UsageError(f"--balances: {item!r} is not ASSET=AMOUNT")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            raise UsageError(
                f"--balances: {amount.strip()!r} is not a number for {asset}"
            ) from None
        if not value.is_finite() or value < 0:
            raise UsageError(f"--balances: {asset} must be a non-negative number")
        result[asset] = value
    return result


@dataclass(frozen=True)
class SimOptions:
    """Validated sim-exchange flags."""

    port: int
    ws_port: int
    seed: int
    tick_interval_s: float
    balances: dict[str, Decimal]
    faults: Faults


def parse_options(args: argparse.Namespace) -> SimOptions:
    """Validate the flags; raise UsageError naming the first bad one."""
    port = _port(args.port, "--port")
    ws_port = _port(args.ws_port, "--ws-port")
    if port and port == ws_port:
        raise UsageError("--port and --ws-port must differ")
    try:
        seed = int(args.seed)
    except ValueError:
        raise UsageError(f"--seed: {args.seed!r} is not an integer") from None
    try:
        tick = float(args.tick_seconds)
    except ValueError:
        raise UsageError(f"--tick-seconds: {args.tick_seconds!r} is not a number") from None
    if not tick >= 0 or tick == float("inf"):
        raise UsageError(f"--tick-seconds: {args.tick_seconds!r} must be >= 0")
    try:
        faults = parse_faults(args.faults)
    except FaultSpecError as exc:
        raise UsageError(f"--faults: {exc}") from None
    return SimOptions(
        port=port,
        ws_port=ws_port,
        seed=seed,
        tick_interval_s=tick,
        balances=parse_balances(args.balances),
        faults=faults,
    )


async def _serve(options: SimOptions) -> int:
    server = SimulatorServer(
        seed=options.seed,
        balances=options.balances,
        faults=options.faults,
        tick_interval_s=options.tick_interval_s,
        port=options.port,
        ws_port=options.ws_port,
    )
    try:
        await server.start()
    except OSError as exc:
        print(f"sim-exchange: error: cannot listen: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"# btcbot exchange simulator (seed {server.seed}); test keys only, 127.0.0.1 only")
    print(f"BTCTURK_BASE_URL={server.base_url}")
    print(f"BTCTURK_GRAPH_URL={server.base_url}")
    print(f"BTCTURK_WS_URL={server.ws_url}")
    print(f"BTCTURK_API_KEY={server.credentials.api_key}")
    print(f"BTCTURK_API_SECRET={server.credentials.api_secret}", flush=True)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.stop()
    print("# simulator stopped", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the simulator until SIGINT/SIGTERM; 0 on a clean stop, 2 on a bad flag value."""
    try:
        options = parse_options(args)
    except UsageError as exc:
        print(f"sim-exchange: error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(options))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (`python -m btcbot_engine.exchange.simulator.command`)."""
    parser = argparse.ArgumentParser(prog="btcbot sim-exchange", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
