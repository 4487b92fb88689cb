"""TUI benchmark (a report, not a test): first frame, snapshot-to-screen latency, cycle time.

    .venv/bin/python bench/tui_bench.py            # everything, prints a Markdown report
    .venv/bin/python bench/tui_bench.py --quick    # fewer samples

1. Time to first frame: a fresh process (imports included) until the dashboard has drawn the
   engine's first snapshot, headless, on a fake engine; and the same with the real demo
   (simulator + engine) until the first real snapshot is on screen.
2. Snapshot post -> on screen: a thread posts snapshots with 1,000 fills and 200 open orders
   (the window shifts each time: orders come and go, new fills arrive) while the app runs
   headless at 160x48; latency is measured from `post_message` to after the next screen refresh.
   For scale, the same rows rebuilt the naive way (clear + add every row) are timed too.
3. Engine cycle time with and without the UI attached: the real engine, paper trading against
   the simulator, N cycles alone, then N cycles inside the running app.
"""

from __future__ import annotations

import time

T_PROCESS = time.perf_counter()  # before the heavy imports, for the first-frame figure

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- 1. first frame ---------------------------------------------------------------------------


def first_frame_child() -> None:
    """Run in a fresh process: import, start the app, exit at the first drawn snapshot."""
    from btcbot_tui.app import BtcbotApp
    from btcbot_tui.canned import canned_snapshot
    from btcbot_tui.facade import FakeEngine

    t_imported = time.perf_counter()
    app = BtcbotApp(FakeEngine(canned_snapshot("DEMO")))
    marks: dict[str, float] = {}

    async def pilot_fn(pilot) -> None:  # type: ignore[no-untyped-def]
        while app.snapshots_shown == 0:
            await asyncio.sleep(0.001)
        done = asyncio.Event()
        app.call_after_refresh(lambda: (marks.setdefault("frame", time.perf_counter()), done.set()))
        await done.wait()
        app.exit()

    t_run = time.perf_counter()
    app.run(headless=True, size=(160, 48), auto_pilot=pilot_fn)
    frame = marks["frame"]
    print(f"{frame - T_PROCESS:.4f} {t_imported - T_PROCESS:.4f} {frame - t_run:.4f}")


def first_frame(samples: int) -> dict[str, float]:
    """Median over fresh processes: (process start -> frame, of which imports, run -> frame)."""
    rows = []
    for _ in range(samples):
        out = subprocess.run(
            [sys.executable, __file__, "--first-frame-child"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        rows.append([float(x) for x in out.stdout.split()[-3:]])
    return {
        "process_to_frame_s": statistics.median(r[0] for r in rows),
        "imports_s": statistics.median(r[1] for r in rows),
        "run_to_frame_s": statistics.median(r[2] for r in rows),
    }


async def demo_first_data_frame() -> float:
    """Real demo: app start -> the first engine snapshot with market data is on screen."""
    from btcbot_engine.engine import Engine, RunOptions
    from btcbot_tui.app import BtcbotApp
    from btcbot_tui.demo import demo_environment

    with demo_environment(port=0) as env:
        engine = Engine(env.settings, demo=True)
        app = BtcbotApp(engine, demo=True, run_options=RunOptions(cycle_seconds=1.0))
        t0 = time.perf_counter()
        async with app.run_test(size=(160, 48)) as pilot:
            while not (app.snapshot is not None and app.snapshot.universe):
                await pilot.pause(0.005)
            done = asyncio.Event()
            mark: list[float] = []
            app.call_after_refresh(lambda: (mark.append(time.perf_counter()), done.set()))
            await done.wait()
        return mark[0] - t0


# --- 2. snapshot -> screen latency ------------------------------------------------------------


def scenario(name: str, n: int) -> list:  # type: ignore[type-arg]
    """The snapshots a scenario posts, 1,000 fills and 200 open orders each.

    steady: like consecutive engine cycles: one order fills and goes, a new one arrives, one new
            fill on top, every age moves by a second.
    stress: the whole window jumps (up to 39 orders and fills replaced at once), ages move.
    """
    from btcbot_tui.canned import heavy_snapshot

    base = heavy_snapshot()
    if name == "steady":
        snaps = [heavy_snapshot(ts_ms=base.ts_ms + i * 1000, shift=i) for i in range(n)]
    else:
        windows = [heavy_snapshot(shift=k) for k in range(40)]
        snaps = [replace(windows[i % 40], ts_ms=base.ts_ms + i * 1000) for i in range(n)]
    gc.collect()
    gc.freeze()  # the prebuilt snapshots are not the UI's garbage: keep them out of GC pauses
    return snaps


async def latency(name: str, n_snapshots: int, interval_s: float) -> dict[str, float]:
    """Post a scenario's snapshots from a thread; measure post -> frame handed to the terminal."""
    from btcbot_tui.app import BtcbotApp
    from btcbot_tui.facade import FakeEngine
    from btcbot_tui.screens.dashboard import DashboardScreen

    snaps = scenario(name, n_snapshots + 1)
    engine = FakeEngine(snaps[0])
    snaps = snaps[1:]
    app = BtcbotApp(engine)
    app.animation_level = "none"
    update_ms: list[float] = []
    displayed_ms: list[float] = []
    posted: list[int] = []
    display = app._display

    def timed_display(screen, update):  # type: ignore[no-untyped-def]
        # The moment a frame is handed to the terminal driver: "on screen".
        display(screen, update)
        now = time.perf_counter_ns()
        while posted:
            displayed_ms.append((now - posted.pop()) / 1e6)

    app._display = timed_display  # type: ignore[method-assign]
    original = DashboardScreen.show_snapshot

    def timed(self, snapshot):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        original(self, snapshot)
        update_ms.append((time.perf_counter() - t) * 1000)

    DashboardScreen.show_snapshot = timed  # type: ignore[method-assign]
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            while app.snapshots_shown == 0:
                await pilot.pause(0.01)
            await pilot.pause(0.2)
            app.render_latencies_ms.clear()
            update_ms.clear()
            displayed_ms.clear()

            def feed() -> None:
                for snap in snaps:
                    posted.append(time.perf_counter_ns())
                    engine.publish(snap)
                    time.sleep(interval_s)

            thread = threading.Thread(target=feed)
            thread.start()
            while thread.is_alive():
                await pilot.pause(0.02)
            await pilot.pause(0.3)
            lat = list(app.render_latencies_ms)
            orders = app.screen.query_one("#orders")
            fills = app.screen.query_one("#fills")
            rows = (orders.row_count, fills.row_count)  # type: ignore[attr-defined]
    finally:
        DashboardScreen.show_snapshot = original  # type: ignore[method-assign]
    return {
        "posted": n_snapshots,
        "frames": len(displayed_ms),
        "post_to_frame_p50_ms": _pct(displayed_ms, 0.5),
        "post_to_frame_p95_ms": _pct(displayed_ms, 0.95),
        "post_to_frame_max_ms": max(displayed_ms),
        "post_to_after_refresh_p95_ms": _pct(lat, 0.95),
        "pane_update_p50_ms": _pct(update_ms, 0.5),
        "pane_update_p95_ms": _pct(update_ms, 0.95),
        "orders_rows": rows[0],
        "fills_rows": rows[1],
    }


async def naive_rebuild_ms(repeats: int = 20) -> float:
    """For scale: a stock DataTable rebuilt (clear + 200 rows x 8 columns) and repainted."""
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from btcbot_tui.canned import heavy_snapshot
    from btcbot_tui.widgets.orders import COLUMNS, order_cells

    snap = heavy_snapshot()
    rows = [
        [Text(text, style) for text, style in order_cells(o, snap.ts_ms)] for o in snap.open_orders
    ]

    class Naive(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    app = Naive()
    times = []
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column.label)
        for _ in range(repeats):
            done = asyncio.Event()
            t = time.perf_counter()
            table.clear()
            for i, cells in enumerate(rows):
                table.add_row(*cells, key=str(i))
            app.call_after_refresh(done.set)
            await done.wait()
            times.append((time.perf_counter() - t) * 1000)
            await pilot.pause()
    return statistics.median(times)


# --- 3. engine cycle time with / without the UI -------------------------------------------------


def _bench_settings(sim, state_dir: Path):  # type: ignore[no-untyped-def]
    from btcbot_engine.config import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        safe_mode=False,
        kill_switch=False,
        dry_run=True,
        btcturk_base_url=sim.base_url,
        btcturk_graph_url=sim.graph_url,
        btcturk_ws_url=sim.ws_url,
        state_db_path=state_dir / "state.db",
        universe_symbols=("BTCTRY", "ETHTRY", "USDTTRY", "AVAXTRY", "ARBTRY"),
        paper_balances=("TRY=20000",),
        http_timeout_seconds=2.0,
        cooldown_seconds=0,
        ttl_seconds=3,
        max_open_orders_per_symbol=2,
    )


def _cycle_durations(snapshots: list) -> list[float]:  # type: ignore[type-arg]
    seen: dict[int, float] = {}
    for s in snapshots:
        st = s.status
        if st.cycle_count and st.last_cycle_duration_ms is not None:
            seen[st.cycle_count] = float(st.last_cycle_duration_ms)
    return [seen[k] for k in sorted(seen)][2:]  # skip warm-up cycles


def cycles_alone(cycles: int, period: float) -> list[float]:
    """The engine by itself (a listener that only collects)."""
    from btcbot_engine.engine import Engine, RunOptions
    from btcbot_engine.exchange.simulator.harness import running_simulator

    got: list = []  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp, running_simulator(seed=11) as sim:
        engine = Engine(_bench_settings(sim, Path(tmp)))
        engine.subscribe(got.append)
        engine.run(RunOptions(loop=True, max_cycles=cycles, cycle_seconds=period))
    return _cycle_durations(got)


async def cycles_with_ui(cycles: int, period: float) -> list[float]:
    """The same engine run inside the app's worker, the dashboard rendering every snapshot."""
    from btcbot_engine.engine import Engine, RunOptions
    from btcbot_engine.exchange.simulator.harness import running_simulator
    from btcbot_tui.app import BtcbotApp

    got: list = []  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp, running_simulator(seed=11) as sim:
        engine = Engine(_bench_settings(sim, Path(tmp)))
        engine.subscribe(got.append)
        options = RunOptions(loop=True, max_cycles=cycles, cycle_seconds=period)
        app = BtcbotApp(engine, run_options=options)
        async with app.run_test(size=(160, 48)) as pilot:
            while not app.engine_done:
                await pilot.pause(0.05)
    return _cycle_durations(got)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--first-frame-child", action="store_true")
    args = parser.parse_args()
    if args.first_frame_child:
        first_frame_child()
        return
    for name in list(os.environ):
        if name.startswith(("BTCTURK_", "SAFE_MODE", "DRY_RUN", "KILL_SWITCH", "LIVE_TRADING")):
            del os.environ[name]
    n = 100 if args.quick else 300
    cycles = 20 if args.quick else 60
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")

    ff = first_frame(3 if args.quick else 5)
    demo_s = asyncio.run(demo_first_data_frame())
    print("## first frame")
    print(f"- fresh process -> first frame (fake engine): {ff['process_to_frame_s'] * 1000:.0f} ms")
    print(
        f"  (imports {ff['imports_s'] * 1000:.0f} ms; App.run -> frame "
        f"{ff['run_to_frame_s'] * 1000:.0f} ms)"
    )
    print(f"- demo: app start -> first real snapshot on screen: {demo_s * 1000:.0f} ms\n")

    print("## snapshot -> screen, 1,000 fills + 200 open orders, 160x48, one post per 50 ms")
    for name in ("steady", "stress"):
        lat = asyncio.run(latency(name, n, 0.05))
        gc.unfreeze()
        print(f"### {name}")
        for key, value in lat.items():
            print(f"- {key}: {value:.2f}" if isinstance(value, float) else f"- {key}: {value}")
    naive = asyncio.run(naive_rebuild_ms())
    print(f"- naive DataTable clear + re-add 200 rows (for scale): {naive:.1f} ms\n")

    alone = cycles_alone(cycles, 0.1)
    with_ui = asyncio.run(cycles_with_ui(cycles, 0.1))
    print(f"## engine cycle time, paper vs simulator, {cycles} cycles at 0.1 s")
    for label, values in (("engine alone", alone), ("engine + UI", with_ui)):
        print(
            f"- {label}: n={len(values)} median {statistics.median(values):.1f} ms, "
            f"p95 {_pct(values, 0.95):.1f} ms, mean {statistics.fmean(values):.1f} ms"
        )


if __name__ == "__main__":
    main()
