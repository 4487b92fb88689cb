"""Snapshot tests: every canary wizard step and the doctor screen, from canned snapshots.

Plain `def` tests (snap_compare runs its own event loop), no animation, no cursor blink, an
explicit terminal size. Two of these pictures are the README screenshots; `SCREENSHOTS` maps each
screenshots/ file to the accepted snapshot it is a copy of.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_wizard_kit import doctor_app, wizard_app_at

SNAPSHOT_DIR = Path(__file__).parent / "__snapshots__" / "test_tui_wizard_snapshots"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = {
    ROOT / "screenshots" / "wizard.svg": SNAPSHOT_DIR / "test_wizard_step[5].svg",
    ROOT / "screenshots" / "doctor.svg": SNAPSHOT_DIR / "test_doctor_screen.svg",
}


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5, 6])
def test_wizard_step(snap_compare, step: int) -> None:  # type: ignore[no-untyped-def]
    """Step 1 WARN to accept; 2 an over-cap notional; 3 gates not LIVE with each change needed;
    4 typed confirmation; 5 a running canary; 6 the verified summary. 80x24."""
    app, run_before = wizard_app_at(step, gates_live=step != 3)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.slow  # the 80x24 pictures cover every step; these add the wide layout
@pytest.mark.parametrize("step", [3, 5])
def test_wizard_step_wide(snap_compare, step: int) -> None:  # type: ignore[no-untyped-def]
    """The gate changes and the live progress at 160x48."""
    app, run_before = wizard_app_at(step, gates_live=step != 3)
    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)


def test_doctor_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """PASS/WARN/FAIL in colour with the remedy under each problem, 80x24."""
    app, run_before = doctor_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.slow
def test_doctor_screen_wide(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The same at 160x48."""
    app, run_before = doctor_app()
    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)


@pytest.mark.parametrize("shot", sorted(SCREENSHOTS), ids=lambda p: p.name)
def test_readme_screenshot_is_a_copy_of_its_accepted_snapshot(shot: Path) -> None:
    """screenshots/wizard.svg and doctor.svg are byte copies of accepted snapshots above."""
    accepted = SCREENSHOTS[shot]
    assert accepted.is_file(), f"no accepted snapshot {accepted.name}"
    assert shot.read_bytes() == accepted.read_bytes(), (
        f"screenshots/{shot.name} is stale: copy {accepted.relative_to(ROOT)} over it"
    )
