"""`btcbot panic` against the simulator: cancels everything with keys only, whatever the DB."""

from __future__ import annotations

import asyncio
import json
import stat
from decimal import Decimal
from pathlib import Path

import pytest
from ops_helpers import open_order_ids, place_resting_orders, settings_from, sim_env

from btcbot_engine.cli import main
from btcbot_engine.domain.orders import OrderMethod, OrderRequest, Side
from btcbot_engine.exchange.port import WriteBlocked
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.kill_request import kill_request_path, pending_kill
from btcbot_engine.panic import PANIC_CANCEL_ONLY, CancelOnlyGuard, panic_exchange
from btcbot_engine.store.db import open_database
from btcbot_engine.store.lock import InstanceLock
from btcbot_engine.store.readonly import read_runtime_flags


def _panic(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    code = main(["panic", "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _writes(sim: SimulatorHandle) -> list[tuple[str, str]]:
    return [(m, p) for _, m, p, _ in sim.control.request_log() if m in ("POST", "DELETE")]


def _make_db(db: Path, account_key: str) -> None:
    store = open_database(db, account_key=account_key)
    store.close()


def test_panic_cancels_every_order_in_safe_mode_and_persists_kill(
    sim: SimulatorHandle, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(sim, db, safe_mode="true", kill_switch="false"))
    assert settings.safe_mode
    _make_db(db, settings.account_key)
    placed = place_resting_orders(sim, 3)
    posts_before = [w for w in _writes(sim) if w[0] == "POST"]

    code, doc = _panic(capsys, "--yes-cancel-all")

    assert code == 0, doc
    assert doc["status"] == "ok"
    assert {o["id"] for o in doc["cancelled"]} == set(placed)
    assert all({"id", "symbol", "side", "price", "quantity"} <= set(o) for o in doc["cancelled"])
    assert doc["still_open"] == [] and doc["failed"] == []
    assert open_order_ids(sim) == set()
    # Only cancels went out: not a single submit beyond the test's own three.
    assert [w for w in _writes(sim) if w[0] == "POST"] == posts_before
    assert sum(1 for w in _writes(sim) if w[0] == "DELETE") == 3
    assert doc["kill"]["how"] == "persisted"
    assert read_runtime_flags(db).kill_switch is True
    assert pending_kill(db) is None


def test_panic_with_the_database_locked_leaves_a_kill_request(
    sim: SimulatorHandle, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(sim, db))
    _make_db(db, settings.account_key)
    placed = place_resting_orders(sim, 2)
    with InstanceLock(db, settings.account_key, command="btcbot run"):
        code, doc = _panic(capsys, "--yes-cancel-all")
        request = pending_kill(db)
    assert code == 0, doc
    assert {o["id"] for o in doc["cancelled"]} == set(placed)
    assert open_order_ids(sim) == set()
    assert doc["kill"]["how"] == "requested"
    assert request is not None and request.reason == "panic"
    assert stat.S_IMODE(kill_request_path(db).stat().st_mode) == 0o600
    assert read_runtime_flags(db).kill_switch is None  # the DB itself was not written


def test_panic_with_a_corrupt_database_still_cancels_and_leaves_it_untouched(
    sim: SimulatorHandle, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = b"this is not a database" * 100
    db.write_bytes(garbage)
    settings_from(sim_env(sim, db))
    placed = place_resting_orders(sim, 2)
    code, doc = _panic(capsys, "--yes-cancel-all")
    assert code == 0, doc
    assert {o["id"] for o in doc["cancelled"]} == set(placed)
    assert doc["kill"]["ok"] is False
    assert "not a SQLite database" in doc["kill"]["detail"]
    assert db.read_bytes() == garbage
    assert pending_kill(db) is not None  # an engine started on it after a fix comes up killed


def test_panic_with_no_database_cancels_and_creates_no_database(
    sim: SimulatorHandle, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_from(sim_env(sim, db))
    place_resting_orders(sim, 1)
    code = main(["panic", "--yes-cancel-all"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "does not exist" in out
    assert "cancelled" in out and "nothing left open" in out
    assert not db.exists()
    assert open_order_ids(sim) == set()


def test_panic_without_the_typed_flag_lists_and_touches_nothing(
    sim: SimulatorHandle, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_from(sim_env(sim, db))
    placed = place_resting_orders(sim, 2)
    deletes_before = [w for w in _writes(sim) if w[0] == "DELETE"]
    code = main(["panic"])
    captured = capsys.readouterr()
    assert code == 2
    assert "--yes-cancel-all" in captured.err
    for oid in placed:
        assert str(oid) in captured.out
    assert open_order_ids(sim) == set(placed)
    assert [w for w in _writes(sim) if w[0] == "DELETE"] == deletes_before
    assert not db.exists() and pending_kill(db) is None


def test_panic_without_keys_refuses(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings_from(sim_env(None, db))
    code = main(["panic", "--yes-cancel-all"])
    captured = capsys.readouterr()
    assert code == 2
    assert "BTCTURK_API_KEY" in captured.err
    assert not db.exists() and pending_kill(db) is None


def test_the_panic_guard_refuses_a_submit_even_in_panic(sim: SimulatorHandle, db: Path) -> None:
    guard = CancelOnlyGuard()
    guard("cancel")  # allowed, whatever the gates say
    with pytest.raises(WriteBlocked) as refused:
        guard("submit")
    assert refused.value.blocked_by == (PANIC_CANCEL_ONLY,)

    settings = settings_from(sim_env(sim, db, safe_mode="false", kill_switch="false"))

    async def try_submit() -> None:
        exchange = panic_exchange(settings)
        try:
            await exchange.submit(
                OrderRequest(
                    symbol="BTCTRY",
                    side=Side.BUY,
                    method=OrderMethod.LIMIT,
                    quantity=Decimal("0.001"),
                    price=Decimal("100000"),
                    client_id="panic-must-not-submit",
                )
            )
        finally:
            await exchange.close()

    with pytest.raises(WriteBlocked, match=PANIC_CANCEL_ONLY):
        asyncio.run(try_submit())
    assert [w for w in _writes(sim) if w[0] == "POST"] == []


def test_panic_says_what_is_still_open_when_cancels_do_not_land(
    frozen_sim: SimulatorHandle, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_from(sim_env(frozen_sim, db))
    placed = place_resting_orders(frozen_sim, 2)
    # The frozen simulator accepts cancels but applies them only on the next tick.
    code, doc = _panic(capsys, "--yes-cancel-all", "--wait", "0.3")
    assert code == 1
    assert doc["status"] == "problem"
    assert {o["id"] for o in doc["still_open"]} == set(placed)
    frozen_sim.control.step(1)
    assert open_order_ids(frozen_sim) == set()


def test_panic_with_a_wrong_key_cancels_nothing_and_says_so(
    sim: SimulatorHandle, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_from(sim_env(sim, db, btcturk_api_secret="d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="))
    placed = place_resting_orders(sim, 1)
    code = main(["panic", "--yes-cancel-all"])
    captured = capsys.readouterr()
    assert code == 1
    assert "NOTHING was cancelled" in captured.out
    assert "401" in captured.out
    assert "d3Jvbmctc2VjcmV0" not in captured.out + captured.err
    assert open_order_ids(sim) == set(placed)


def test_an_order_closed_between_the_list_and_the_cancel_is_reported_gone(
    frozen_sim: SimulatorHandle, db: Path
) -> None:
    from btcbot_engine.panic import GONE, PanicResult, cancel_all_open

    settings = settings_from(sim_env(frozen_sim, db))
    (oid,) = place_resting_orders(frozen_sim, 1)

    async def scenario() -> PanicResult:
        exchange = panic_exchange(settings)
        try:
            listed = await exchange.open_orders(None)
            await exchange.cancel(oid)  # someone else (the engine) cancels it first
            frozen_sim.control.step(1)
            return await cancel_all_open(exchange, listed, wait_s=2, poll_s=0.05)
        finally:
            await exchange.close()

    result = asyncio.run(scenario())
    assert result.ok
    gone = result.by_outcome(GONE)
    assert [a.order.order_id for a in gone] == [oid]
    assert "ORDER_COULD_NOT_BE_CANCELED" in (gone[0].error or "")


def test_only_panic_uses_the_cancel_only_guard() -> None:
    # Safe mode's sole exception must stay in one place: nothing else may bypass the gates.
    root = Path(__file__).resolve().parents[2]
    users = sorted(
        str(p.relative_to(root))
        for folder in ("btcbot_engine", "btcbot_tui")
        for p in (root / folder).rglob("*.py")
        if "CancelOnlyGuard" in p.read_text()
    )
    assert users == ["btcbot_engine/panic.py"]
