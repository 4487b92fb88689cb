"""`btcbot` with kill points for the crash drill (a test hook; run as a script, never imported).

    python drills_crash_hook.py run --loop --cycle-seconds 0.05

runs the real CLI (`btcbot_engine.cli.main`) after patching two seams, chosen by environment
variables, so the drill's SIGKILL can land exactly where it is aimed:

- DRILL_KILL_POINT=before_send: the DRILL_KILL_AT-th submit stops after its order row was
  committed (SUBMITTING) and before any byte goes to the exchange.
- DRILL_KILL_POINT=in_flight: the DRILL_KILL_AT-th submit announces itself and goes ahead; the
  simulator's delay faults then hold the request on the server (before or after booking).
- DRILL_KILL_POINT=mid_txn: the DRILL_KILL_AT-th outermost `Store.atomic()` block stops after its
  last write and before COMMIT; with DRILL_KILL_TXN=<function> only blocks opened by that
  function count (e.g. `place`, the order write-ahead).

At the point it prints `DRILL-POINT <name> <detail>` on stdout (flushed) and, except for
in_flight, blocks until killed. DRILL_UNKNOWN_GRACE_MS shortens the OMS's "absent from the
exchange this long means never booked" grace (60 s) so the drill's blocked pairs free up.
DRILL_LIFT_READ_QUOTAS=1 lifts the client's per-minute read quotas (as the drills' fixture
does): at drill speed the fills reads of five pairs would otherwise exhaust them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

BLOCK_S = 60.0  # far longer than the harness waits before its SIGKILL


def _announce(point: str, detail: str) -> None:
    print(f"DRILL-POINT {point} {detail}", flush=True)


def _install() -> None:
    point = os.environ.get("DRILL_KILL_POINT", "")
    fire_at = int(os.environ.get("DRILL_KILL_AT", "1"))
    seen = 0

    if os.environ.get("DRILL_LIFT_READ_QUOTAS") == "1":
        from btcbot_engine.exchange.btcturk import ratelimit as rl

        for group in (rl.USER_TRADES, rl.BALANCES, rl.TICKER, rl.OPEN_ORDERS, rl.ALL_ORDERS):
            rl.DEFAULT_QUOTAS[group] = (rl.Quota(1_000_000, 60.0),)  # type: ignore[index]
        rl.DEFAULT_QUOTAS[rl.ORDER_GET] = (rl.Quota(10_000, 1.0), rl.Quota(1_000_000, 60.0))  # type: ignore[index]

    grace = os.environ.get("DRILL_UNKNOWN_GRACE_MS")
    if grace:
        from btcbot_engine import oms

        oms.UNKNOWN_ABSENT_GRACE_MS = int(grace)

    if point in ("before_send", "in_flight"):
        from btcbot_engine.exchange.btcturk.rest import BtcturkExchange

        submit = BtcturkExchange.submit

        async def submit_with_point(self: BtcturkExchange, request: Any) -> Any:
            nonlocal seen
            seen += 1
            if seen == fire_at:
                _announce(point, request.client_id)
                if point == "before_send":
                    time.sleep(BLOCK_S)  # blocks the whole loop: nothing is sent
            return await submit(self, request)

        BtcturkExchange.submit = submit_with_point  # type: ignore[method-assign]

    elif point == "mid_txn":
        from btcbot_engine.store.db import Store

        atomic = Store.atomic
        depth = 0
        only = os.environ.get("DRILL_KILL_TXN")

        @contextlib.contextmanager
        def atomic_with_point(self: Store) -> Iterator[None]:
            nonlocal depth, seen
            with atomic(self):
                depth += 1
                try:
                    yield
                finally:
                    depth -= 1
                # Frame 2 is the function whose `with store.atomic():` is ending.
                owner = sys._getframe(2).f_code.co_name
                if depth == 0 and only in (None, owner):
                    seen += 1
                    if seen == fire_at:
                        _announce(point, owner)
                        time.sleep(BLOCK_S)  # every write done, COMMIT not yet

        Store.atomic = atomic_with_point  # type: ignore[method-assign]


if __name__ == "__main__":
    _install()
    from btcbot_engine.cli import main

    sys.exit(main(sys.argv[1:]))
