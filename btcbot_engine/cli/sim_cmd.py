"""`btcbot sim-exchange`: the bundled simulator."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add sim-exchange."""
    from btcbot_engine.exchange.simulator import command as sim_command

    parser = sub.add_parser(
        "sim-exchange",
        parents=[common],
        help="run the bundled BTCTurk-compatible simulator on 127.0.0.1",
    )
    sim_command.add_arguments(parser)
    parser.set_defaults(handler=sim_command.run, needs_settings=False)
