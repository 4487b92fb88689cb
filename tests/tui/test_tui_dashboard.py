"""The dashboard renders only from snapshots: incremental tables, banner, ages, engine crash."""

from __future__ import annotations

from dataclasses import replace

from tui_helpers import make_app, plain_text, wait_for

from btcbot_engine.domain.orders import OrderState
from btcbot_tui.canned import canned_order, canned_snapshot, heavy_snapshot
from btcbot_tui.messages import SnapshotReady
from btcbot_tui.widgets.fills import MAX_ROWS, FillsPane
from btcbot_tui.widgets.orders import OrdersPane
from btcbot_tui.widgets.row_table import RowTable
from btcbot_tui.widgets.universe import UniversePane

SIZE = (160, 48)


async def test_orders_update_in_place_without_rebuilding() -> None:
    snap = canned_snapshot("LIVE", n_orders=6)
    app, engine = make_app(snap)
    async with app.run_test(size=SIZE) as pilot:
        orders = app.screen.query_one(OrdersPane)
        await wait_for(pilot, lambda: orders.row_count == 6)
        keys = orders.row_keys
        await pilot.press("down", "down")  # select the third order
        selected = orders.selected_key()
        await pilot.pause()
        built = orders.rendered_rows
        # One order fills partly, the oldest goes away, a new one arrives.
        changed = replace(snap.open_orders[3], state=OrderState.PARTIAL, updated_ms=snap.ts_ms)
        new = canned_order(99, ts_ms=snap.ts_ms)
        rows = (*snap.open_orders[1:3], changed, *snap.open_orders[4:], new)
        engine.publish(replace(snap, open_orders=rows))
        await wait_for(pilot, lambda: orders.row_count == 6 and new.client_id in orders.row_keys)
        await pilot.pause()
        assert orders.row_keys == [*keys[1:], new.client_id], "rows keep their keys and order"
        assert orders.selected_key() == selected, "the cursor stays on its order"
        assert orders.cells_of(changed.client_id)[5][0] == "PARTIAL"  # type: ignore[index]
        assert orders.rendered_rows - built <= 7, "only changed or moved rows are redrawn"


async def test_an_unchanged_snapshot_touches_no_row() -> None:
    app, engine = make_app(mode="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        tables = list(app.screen.query(RowTable))
        await wait_for(pilot, lambda: all(t.sync_count >= 1 for t in tables if t.row_count))
        await pilot.pause()
        before = [(t.sync_count, t.rendered_rows) for t in tables]
        engine.publish(engine.snapshot())  # type: ignore[arg-type]
        await pilot.pause()
        assert [(t.sync_count, t.rendered_rows) for t in tables] == before


async def test_fills_newest_first_and_bounded() -> None:
    app, engine = make_app(heavy_snapshot(n_fills=1000, n_orders=200))
    async with app.run_test(size=SIZE) as pilot:
        fills = app.screen.query_one(FillsPane)
        await wait_for(pilot, lambda: fills.row_count > 0)
        snap = engine.snapshot()
        assert snap is not None
        assert fills.row_count == MAX_ROWS
        assert fills.row_keys[:3] == [str(f.trade_id) for f in snap.recent_fills[:3]]
        assert app.screen.query_one(OrdersPane).row_count == 200


async def test_unknown_orders_and_stale_quotes_stand_out() -> None:
    app, _engine = make_app(mode="LIVE", unknown=True, stale=True)
    async with app.run_test(size=SIZE) as pilot:
        orders = app.screen.query_one(OrdersPane)
        universe = app.screen.query_one(UniversePane)
        await wait_for(pilot, lambda: orders.row_count > 0 and universe.row_count > 0)
        unknown = [k for k in orders.row_keys if orders.cells_of(k)[5][0] == "UNKNOWN"]  # type: ignore[index]
        assert len(unknown) == 2
        for key in unknown:
            assert "dark_orange" in orders.cells_of(key)[5][1]  # type: ignore[index]
        assert "UNKNOWN" in str(orders.border_subtitle)
        # Ages against the snapshot's own limit (5 s): 9.4 s red, 4.6 s amber, 0.4 s green.
        age_style = {k: universe.cells_of(k)[4][1] for k in universe.row_keys}  # type: ignore[index]
        assert age_style["BTCTRY"] == "bold red"
        assert age_style["USDTTRY"] == "dark_orange"
        assert age_style["AVAXTRY"] == "green"


async def test_banner_names_mode_host_and_key() -> None:
    for mode, css in (
        ("OBSERVE_ONLY", "-observe"),
        ("PAPER", "-paper"),
        ("KILLED", "-killed"),
        ("LIVE", "-live"),
        ("DEMO", "-demo"),
    ):
        app, _engine = make_app(mode=mode)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            banner = app.screen.query_one("#mode-banner")
            text = plain_text(banner)
            assert banner.has_class(css), mode
            assert "127.0.0.1:18181" in text
            assert ("DEMO · PAPER" if mode == "DEMO" else mode) in text
            if mode == "LIVE":
                assert "…7f3a" in text


async def test_engine_crash_shows_a_red_banner_and_keeps_the_ui() -> None:
    app, engine = make_app(mode="LIVE", fail_with=RuntimeError("adapter exploded"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.engine_failure is not None)
        banner = app.screen.query_one("#mode-banner")
        assert banner.has_class("-failed")
        assert "OBSERVE_ONLY" in plain_text(banner), "a crashed engine reads OBSERVE_ONLY"
        failure = app.screen.query_one("#engine-failure")
        assert failure.display and "adapter exploded" in plain_text(failure)
        for action in ("run_cycle", "safe_mode", "cancel_all", "cancel_order"):
            assert app.check_action(action, ()) is None
        await pilot.press("r")
        assert engine.commands_sent == []
        await pilot.press("k")  # kill still goes through: the flag is set synchronously
        assert engine.kills == ["operator"]
        assert app.is_running


async def test_snapshot_messages_replace_stale_ones() -> None:
    old = SnapshotReady(canned_snapshot("PAPER"))
    new = SnapshotReady(canned_snapshot("LIVE"))
    assert new.can_replace(old)
    app, engine = make_app(mode="PAPER")
    async with app.run_test(size=SIZE) as pilot:
        shown = app.snapshots_shown
        with app.batch_update():
            for i in range(50):
                engine.publish(canned_snapshot("LIVE", ts_ms=1_767_268_800_000 + i))
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.mode == "LIVE")
        await pilot.pause()
        assert app.snapshot is not None and app.snapshot.ts_ms == 1_767_268_800_049
        assert app.snapshots_shown - shown < 50, "queued older snapshots were dropped"


async def test_closing_stops_the_engine_and_waits_for_it() -> None:
    app, engine = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: engine.running.is_set())
    assert engine.stop_calls >= 1
    assert app.engine_done and not engine.running.is_set()


async def test_banner_shows_the_kill_switch_even_under_safe_mode() -> None:
    from btcbot_engine.gates import GateInputs, evaluate_gates

    gates = evaluate_gates(GateInputs(True, True, True, False, "", False))  # safe + killed
    app, _engine = make_app(replace(canned_snapshot("OBSERVE_ONLY"), gates=gates))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        banner = app.screen.query_one("#mode-banner")
        assert banner.has_class("-killed")
        assert "OBSERVE_ONLY · KILL SWITCH ON" in plain_text(banner)
