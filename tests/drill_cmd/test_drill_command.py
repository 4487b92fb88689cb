"""`btcbot drill`: the operator's incident rehearsal, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from btcbot_engine.drill import SCENARIOS, DrillError, drill_environment, scenario


def _drill(
    tmp_path: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BTCTURK_", "LIVE_"))}
    env.update(extra_env or {})
    # A real-looking .env in the working directory must be ignored by the drill.
    (tmp_path / ".env").write_text("BTCTURK_BASE_URL=https://api.btcturk.com\nDRY_RUN=false\n")
    return subprocess.run(
        [sys.executable, "-m", "btcbot_engine.cli", "drill", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_list_names_every_scenario_and_its_playbook(tmp_path: Path) -> None:
    out = _drill(tmp_path, "--list")
    assert out.returncode == 0
    for s in SCENARIOS.values():
        assert s.name in out.stdout and s.playbook in out.stdout


def test_unknown_scenario_is_a_one_line_usage_error(tmp_path: Path) -> None:
    out = _drill(tmp_path, "volcano")
    assert out.returncode == 2
    assert "unknown drill scenario 'volcano'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_stale_data_drill_places_nothing_while_frozen(tmp_path: Path) -> None:
    out = _drill(
        tmp_path,
        "stale-data",
        "--max-cycles",
        "8",
        "--cycle-seconds",
        "0.5",
        extra_env={"MAX_MARKET_DATA_AGE_MS": "1000"},
    )
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("cycle ")]
    assert len(lines) == 8
    # The first wave freezes the market at once; quotes age past 1 s within a few cycles.
    stale = [i for i, ln in enumerate(lines) if "not fresh" in ln]
    assert stale, out.stdout

    def open_count(line: str) -> int:
        return int(line.split(" open ")[1].split()[0])

    before = max((open_count(ln) for ln in lines[: stale[0]]), default=0)
    assert all(open_count(lines[i]) <= before for i in stale), out.stdout
    assert "127.0.0.1" in out.stdout and "api.btcturk.com" not in out.stdout


def test_settings_reach_only_the_simulator(tmp_path: Path) -> None:
    with drill_environment("lost-ack", tmp_path) as (sim, settings, drill):
        assert drill is not None and drill.live_sim
        assert settings.btcturk_base_url == sim.base_url
        assert not settings.dry_run and settings.live_trading
        assert settings.state_db_path == tmp_path / "btcbot_state.db"
    with drill_environment(None, tmp_path) as (_sim, settings, drill):
        assert drill is None and settings.dry_run


def test_scenario_lookup_names_the_choices() -> None:
    with pytest.raises(DrillError, match="429-storm"):
        scenario("nope")


def test_tui_drill_flag_is_checked_before_anything_starts(tmp_path: Path) -> None:
    from btcbot_tui.app import main as tui_main

    assert tui_main(["--drill", "ws-storm"]) == 2  # needs --demo
    assert tui_main(["--demo", "--drill", "volcano"]) == 2


def test_tui_demo_with_a_drill_gets_the_scenario_settings(tmp_path: Path) -> None:
    from btcbot_tui.demo import demo_environment

    with demo_environment(port=0, swing=False, drill="ws-storm") as env:
        assert env.settings.market_data_mode == "ws"
        assert env.simulator.control.faults.ws_disconnect_every_s == 1.5
    with demo_environment(port=0, swing=False, drill="lost-ack") as env:
        assert not env.settings.dry_run and env.settings.live_trading
        assert env.settings.btcturk_base_url.startswith("http://127.0.0.1:")
