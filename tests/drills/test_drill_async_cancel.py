"""Cancels accepted now and applied later (BTCTurk's asynchronous cancel).

The market moves one tick per engine cycle (the snapshot listener steps it), so "applied ten
ticks later" means ten cycles later, whatever the machine's speed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drills_testkit import drill_settings, opened_store, record_figure, request_log

from btcbot_engine.commands import CancelAll
from btcbot_engine.domain.orders import OrderState
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator

DELAY_TICKS = 10
_FINAL = {"Canceled": OrderState.CANCELED, "Closed": OrderState.FILLED}


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=41, tick_interval_s=0) as handle:
        yield handle


def _run_ticking(
    sim: SimulatorHandle,
    settings: Any,
    cycles: int,
    *,
    commands_at: dict[int, list[object]] | None = None,
) -> Engine:
    """Run the engine; after every cycle but the last the market moves one tick.

    Cancels land on ticks, so with no tick after the last cycle the exchange holds still
    once the engine stops, and the final comparison sees both sides settled.
    """

    stepped = [0]  # the last cycle the market was stepped after

    def on_snapshot(snap: Any) -> None:
        # Snapshots also follow commands: step once per finished cycle, not per snapshot.
        cycle = snap.status.cycle_count
        if snap.status.last_cycle_ms is None or cycle <= stepped[0] or cycle >= cycles:
            return
        stepped[0] = cycle
        sim.control.step(1)
        for command in (commands_at or {}).pop(cycle, []):
            engine.submit(command)  # type: ignore[arg-type]

    engine = Engine(settings, on_snapshot=on_snapshot)
    engine.run(RunOptions(loop=True, max_cycles=cycles, cycle_seconds=0.05))
    return engine


def _assert_local_matches_exchange(sim: SimulatorHandle, settings: Any) -> None:
    with opened_store(settings) as store:
        ours = {o.client_id: o for o in store.orders.list_all()}
    for o in sim.control.orders():
        record = ours[str(o["orderClientId"])]
        if o["status"] in _FINAL:
            assert record.state is _FINAL[str(o["status"])], (o, record.state)
        else:
            assert record.state in (OrderState.OPEN, OrderState.PARTIAL, OrderState.CANCELING)


@pytest.mark.slow
@pytest.mark.usefixtures("lifted_read_quotas")
def test_pending_cancels_are_awaited_not_sent_again(sim: SimulatorHandle, tmp_path: Path) -> None:
    sim.control.set_faults(cancel_delay_ticks=DELAY_TICKS)
    settings = drill_settings(
        sim, tmp_path / "state.db", universe_symbols="BTCTRY,USDTTRY,ARBTRY", ttl_seconds="1"
    )
    # An impatient operator presses cancel-all twice while cancels are pending.
    engine = _run_ticking(
        sim, settings, 60, commands_at={8: [CancelAll(), CancelAll()], 9: [CancelAll()]}
    )

    requests = sim.control.cancel_requests()
    deletes = [r for r in request_log(sim) if r.method == "DELETE"]
    accepted = [r for r in deletes if r.status == 200]
    assert requests, "the drill must have cancelled orders"
    assert max(requests.values()) == 1, f"an order was cancelled twice: {requests}"
    assert len(accepted) == len(requests)
    assert all(r.status in (200, 400) for r in deletes), Counter(r.status for r in deletes)

    # The cancels really were pending for many cycles, and every one ended CANCELED.
    with opened_store(settings) as store:
        waits = []
        for o in store.orders.list_all():
            events = store.orders.events(o.client_id)
            asked = next((e.ts_ms for e in events if e.to_state is OrderState.CANCELING), None)
            done = next((e.ts_ms for e in events if e.to_state is OrderState.CANCELED), None)
            if asked is not None and done is not None:
                waits.append(done - asked)
    assert waits and min(waits) > 0
    snap = engine.snapshot()
    assert snap is not None and snap.engine_error is None
    _assert_local_matches_exchange(sim, settings)
    record_figure(
        "async cancel: orders cancelled / DELETEs accepted / longest wait ms",
        f"{len(requests)} / {len(accepted)} / {max(waits)}",
    )


@pytest.mark.usefixtures("lifted_read_quotas")
def test_a_cancel_lost_to_a_5xx_is_sent_again(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = drill_settings(sim, tmp_path / "state.db", universe_symbols="USDTTRY")
    _run_ticking(sim, settings, 1)
    [placed] = sim.control.orders()
    # The next /api/v1/order request is the TTL cancel: it meets one 503 HTML page. The market
    # is frozen so the buy cannot fill (a fill would bring a take-profit POST first); ticks
    # still carry out accepted cancels.
    sim.control.set_faults(
        server_error_path="/api/v1/order",
        server_error_remaining=1,
        html_errors=True,
        freeze_market=True,
    )
    short_ttl = drill_settings(
        sim, tmp_path / "state.db", universe_symbols="USDTTRY", ttl_seconds="1"
    )
    _run_ticking(sim, short_ttl, 40)

    refused = [r for r in request_log(sim) if r.status == 503]
    assert [(r.method, r.path) for r in refused] == [("DELETE", "/api/v1/order")]
    final = {int(o["id"]): o["status"] for o in sim.control.orders()}  # type: ignore[call-overload]
    assert final[int(placed["id"])] == "Canceled", "the failed cancel was never sent again"
    assert sim.control.cancel_requests()[int(placed["id"])] == 1  # type: ignore[call-overload]
    _assert_local_matches_exchange(sim, short_ttl)
