"""The wizard's pure parts: parsing the plan form, judging doctor results (no app needed)."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from rich.console import Console

from btcbot_engine.domain.canary import CanaryPlan
from btcbot_engine.domain.snapshot import DoctorCheckView
from btcbot_engine.gates import REMEDIES, GateInputs, evaluate_gates
from btcbot_tui.screens.doctor import worst_status
from btcbot_tui.widgets.wizard_form import parse_notional, parse_plan_form, parse_ttl
from btcbot_tui.widgets.wizard_render import base_asset, doctor_verdict, gate_changes

CAP = Decimal("500")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("150", Decimal("150")),
        (" 150.50 ", Decimal("150.50")),
        ("0.01", Decimal("0.01")),
        ("500", Decimal("500")),
    ],
)
def test_good_notionals_parse_to_the_exact_decimal(text: str, value: Decimal) -> None:
    parsed, error = parse_notional(text, max_notional=CAP)
    assert error == ""
    assert parsed == value and type(parsed) is Decimal
    assert str(parsed) == text.strip()  # no float round trip: the digits typed are kept


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "1e2",
        "Infinity",
        "NaN",
        "1_000",
        "+5",
        "5.",
        ".5",
        "1.2.3",
        "0",
        "0.00",
        "-1",
        "500.01",
        "10**6",
        "١٢٣",
    ],
)
def test_bad_notionals_give_one_line_and_no_value(text: str) -> None:
    parsed, error = parse_notional(text, max_notional=CAP)
    assert parsed is None
    assert error and "\n" not in error


def test_leading_zeros_are_just_zeros() -> None:
    assert parse_notional("007", max_notional=CAP) == (Decimal("7"), "")


def test_other_scripts_digits_are_refused() -> None:
    parsed, error = parse_notional("١٢٣", max_notional=CAP)  # Arabic-Indic 123
    assert parsed is None and "not an amount" in error
    assert parse_ttl("٣٠") == (None, "'٣٠' is not whole seconds; type digits like 30")


def test_the_plan_comes_only_when_every_field_is_valid() -> None:
    good = dict(
        symbol="BTCTRY", symbols=("BTCTRY",), notional="150", ttl="30", cycles="2", max_notional=CAP
    )
    form = parse_plan_form(**good)  # type: ignore[arg-type]
    assert form.ok and form.errors == {}
    assert form.plan == CanaryPlan("BTCTRY", Decimal("150"), 30.0, 2)

    bad = parse_plan_form(**{**good, "symbol": "ETHTRY", "ttl": "x"})  # type: ignore[arg-type]
    assert bad.plan is None
    assert set(bad.errors) == {"symbol", "ttl"}
    assert "ETHTRY is not in the universe" in bad.errors["symbol"]


def test_doctor_verdicts_never_let_fail_pending_or_unaccepted_warn_through() -> None:
    assert doctor_verdict("PASS", pending=False, accepted=False)[1] is True
    assert doctor_verdict("WARN", pending=False, accepted=True)[1] is True
    assert doctor_verdict("WARN", pending=False, accepted=False)[1] is False
    assert doctor_verdict("FAIL", pending=False, accepted=True)[1] is False
    assert doctor_verdict("PASS", pending=True, accepted=True)[1] is False
    assert doctor_verdict(None, pending=False, accepted=True)[1] is False


def test_an_unknown_doctor_status_counts_as_fail() -> None:
    checks = (DoctorCheckView("a", "PASS", ""), DoctorCheckView("b", "SKIPPED?", ""))
    assert worst_status(checks) == "FAIL"
    assert doctor_verdict(worst_status(checks), pending=False, accepted=True)[1] is False
    assert worst_status(()) is None


def test_base_asset() -> None:
    assert base_asset("BTCTRY") == "BTC"
    assert base_asset("USDTTRY") == "USDT"
    assert base_asset("ETHUSDT") == "ETH"


def _plain(renderable: object) -> str:
    console = Console(file=StringIO(), width=120, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_runtime_safe_mode_and_kill_point_to_the_dashboard_env_ones_to_the_env() -> None:
    decision = evaluate_gates(GateInputs(True, True, False, True, "I_UNDERSTAND", True))
    assert decision.blocked_by == ("SAFE_MODE", "KILL_SWITCH")
    runtime = _plain(gate_changes(decision, env_safe_mode=False, env_kill_switch=False))
    assert "press s on the dashboard" in runtime and "press k on the dashboard" in runtime
    assert REMEDIES["SAFE_MODE"] not in runtime
    from_env = _plain(gate_changes(decision, env_safe_mode=True, env_kill_switch=True))
    assert REMEDIES["SAFE_MODE"] in from_env and REMEDIES["KILL_SWITCH"] in from_env
    assert "dashboard" not in from_env
    assert "The gates say LIVE" in _plain(
        gate_changes(evaluate_gates(GateInputs(False, False, False, True, "I_UNDERSTAND", True)))
    )
