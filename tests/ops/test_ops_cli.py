"""The ops commands as real processes: exit codes, one JSON document, no secrets on screen."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from ops_helpers import open_order_ids, place_resting_orders, run_cli, sim_env

from btcbot_engine.exchange.simulator.harness import SimulatorHandle


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_panic_with_the_exchange_down_says_nothing_was_cancelled(db: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    env = sim_env(
        None,
        db,
        btcturk_base_url=url,
        btcturk_graph_url=url,
        btcturk_api_key="pub-key-4321",
        btcturk_api_secret="c2VjcmV0LXNlY3JldA==",
    )
    done = run_cli(["panic", "--yes-cancel-all"], env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot read the open orders" in done.stdout
    assert "NOTHING was cancelled" in done.stdout
    assert "Traceback" not in done.stderr
    assert "c2VjcmV0LXNlY3JldA==" not in done.stdout + done.stderr


def test_panic_json_is_one_document_and_never_shows_the_secret(
    sim: SimulatorHandle, db: Path, tmp_path: Path
) -> None:
    env = sim_env(sim, db)
    placed = place_resting_orders(sim, 2)
    done = run_cli(["panic", "--yes-cancel-all", "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # the whole of stdout is one document
    assert {o["id"] for o in doc["cancelled"]} == set(placed)
    assert open_order_ids(sim) == set()
    for text in (done.stdout, done.stderr):
        assert sim.api_secret not in text and sim.api_key not in text
