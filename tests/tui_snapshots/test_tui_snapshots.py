"""Snapshot tests of the TUI from canned snapshots (plain `def`: snap_compare runs its own loop).

Review changes with `pytest tests/tui_snapshots --snapshot-update` and the HTML report; then
`python tests/tui_snapshots/tui_snapshot_cases.py` copies the README images to screenshots/.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_textual_snapshot import normalize_svg
from textual._doc import take_svg_screenshot
from tui_snapshot_cases import CASES, SCREENSHOT_CASES, SCREENSHOTS, accepted_snapshot


@pytest.mark.parametrize("case_name", sorted(CASES))
def test_snapshot(case_name: str, snap_compare: Callable[..., bool]) -> None:
    case = CASES[case_name]
    assert snap_compare(case.app(), terminal_size=case.size, run_before=case.run_before())


@pytest.mark.parametrize("file_name", sorted(SCREENSHOT_CASES))
def test_readme_screenshot_matches_its_snapshot(file_name: str) -> None:
    """screenshots/ holds copies of accepted snapshots; a stale copy fails here."""
    case_name = SCREENSHOT_CASES[file_name]
    shot = (SCREENSHOTS / file_name).read_text()
    accepted = accepted_snapshot(case_name)
    assert accepted.is_file(), f"no accepted snapshot for {case_name}"
    assert shot == accepted.read_text(), (
        f"screenshots/{file_name} differs from the accepted snapshot of {case_name}; run "
        "python tests/tui_snapshots/tui_snapshot_cases.py"
    )
    case = CASES[case_name]
    fresh = take_svg_screenshot(
        app=case.app(), terminal_size=case.size, run_before=case.run_before()
    )
    assert normalize_svg(fresh) == normalize_svg(shot), (
        f"screenshots/{file_name} no longer matches what the app draws for {case_name}"
    )
