"""Lost submit acknowledgements, 50 in a row: no client id twice, every UNKNOWN resolved."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from drills_testkit import TRY_PAIRS, drill_settings, opened_store, record_figure, request_log

from btcbot_engine.domain.orders import OrderState
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator

LOST = 50
SETTLE_CYCLES = 4  # cycles after the last lost ack, to resolve what it left UNKNOWN


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=31, tick_interval_s=0.02) as handle:
        yield handle


@pytest.mark.slow
@pytest.mark.usefixtures("lifted_read_quotas")  # fifty lost acks in seconds, not minutes
def test_fifty_lost_acks_in_a_row_never_duplicate_and_all_resolve(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    sim.control.set_faults(lost_submit_ack_remaining=LOST)
    settings = drill_settings(
        sim,
        tmp_path / "state.db",
        universe_symbols=TRY_PAIRS,
        max_orders_per_cycle="5",
        ttl_seconds="1",  # orders are cancelled and replaced often: many submits
    )
    settle: list[int] = []

    def on_snapshot(snap: object) -> None:
        if sim.control.faults.lost_submit_ack_remaining == 0:
            # Nothing fills once the engine stops: the fill audit compares settled books.
            sim.control.set_faults(freeze_market=True)
            settle.append(1)
            if len(settle) > SETTLE_CYCLES:
                engine.stop()

    engine = Engine(settings, on_snapshot=on_snapshot)
    engine.run(RunOptions(loop=True, max_cycles=400, cycle_seconds=0.05))

    assert sim.control.counts()["lost_submit_acks"] == LOST
    posts = [r for r in request_log(sim) if r.method == "POST"]
    dropped = sum(1 for r in posts if r.status == 0)
    assert dropped == LOST, "every lost ack was a submit whose connection closed unanswered"
    # The lost acks came in a row: the first LOST submits all went unanswered.
    assert all(r.status == 0 for r in posts[:LOST])

    orders = sim.control.orders()
    client_ids = Counter(str(o["orderClientId"]) for o in orders)
    assert len(orders) >= LOST
    assert max(client_ids.values()) == 1, "a client id reached the exchange twice"
    with opened_store(settings) as store:
        ours = {o.client_id: o for o in store.orders.list_all()}
        went_unknown = sum(
            1
            for cid in ours
            if any(e.to_state is OrderState.UNKNOWN for e in store.orders.events(cid))
        )
        fills = {f.trade_id for f in store.fills.all()}
    unresolved = [
        o for o in ours.values() if o.state in (OrderState.UNKNOWN, OrderState.SUBMITTING)
    ]
    assert unresolved == [], f"{len(unresolved)} orders still UNKNOWN/SUBMITTING"
    assert went_unknown >= LOST, "each lost ack made its order UNKNOWN first"
    for o in orders:
        record = ours[str(o["orderClientId"])]
        assert record.exchange_order_id == o["id"], "resolved to the order the exchange booked"
    assert fills == {int(t["id"]) for t in sim.control.trades()}, "every fill booked once"
    record_figure("lost acks: submits unanswered in a row", LOST)
    record_figure("lost acks: UNKNOWN orders resolved / duplicates", f"{went_unknown} / 0")
