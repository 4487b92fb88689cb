"""Fault switches of the simulator: what they are, how to parse them, how to change them.

The switches are plain data; the REST, WS and market modules read them on every request, frame
or tick, so a change made at run time (control API or `POST /_sim/faults`) applies at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class FaultSpecError(ValueError):
    """A fault name or value that cannot be used; the message names the offending switch."""


@dataclass
class Faults:
    """Every fault switch the simulator understands (all off by default)."""

    rate_limit_remaining: int = 0  # the next N REST requests (excluding /_sim/*) answer 429
    retry_after_s: int = 1  # Retry-After header value on those 429s (body as reference section 5)
    server_error_remaining: int = 0  # the next N REST requests (on server_error_path) get a 5xx
    server_error_status: int = 503
    server_error_path: str = ""  # e.g. "/api/v1/users/balances"; "" means any REST path
    html_errors: bool = False  # error replies (429/5xx) come as an HTML page, not JSON
    slow_reply_s: float = 0.0  # delay before every REST reply (after the request was served)
    slow_reply_path: str = ""  # e.g. "/api/v1/order"; "" means slow_reply_s delays every path
    submit_delay_s: float = 0.0  # POST /api/v1/order waits this long before booking the order
    lost_submit_ack_remaining: int = 0  # next N POST /api/v1/order: booked, then no reply
    malformed_remaining: int = 0  # next N replies on malformed_path are broken
    malformed_path: str = ""  # e.g. "/api/v2/ticker"; "" means any REST path
    freeze_market: bool = False  # prices stop moving and timestamps stop advancing
    ws_stall: bool = False  # WS stays connected (pings answered) but sends no data frames
    ws_disconnect_every_s: float = 0.0  # >0: the server closes every WS connection that often
    clock_skew_ms: int = 0  # server clock = real clock + skew
    cancel_delay_ticks: int = 0  # accepted cancels land this many ticks after the usual next one

    def copy(self) -> Faults:
        """An independent copy (callers outside the server loop only ever get copies)."""
        return dataclasses.replace(self)

    def as_dict(self) -> dict[str, Any]:
        """The switches as a JSON-ready dict (floats here are durations, never money)."""
        return dataclasses.asdict(self)


_FIELD_TYPES: dict[str, type] = {
    "rate_limit_remaining": int,
    "retry_after_s": int,
    "server_error_remaining": int,
    "server_error_status": int,
    "server_error_path": str,
    "html_errors": bool,
    "slow_reply_s": float,
    "slow_reply_path": str,
    "submit_delay_s": float,
    "lost_submit_ack_remaining": int,
    "malformed_remaining": int,
    "malformed_path": str,
    "freeze_market": bool,
    "ws_stall": bool,
    "ws_disconnect_every_s": float,
    "clock_skew_ms": int,
    "cancel_delay_ticks": int,
}
# Keep the table honest: a switch added to the dataclass must be typed here too.
assert set(_FIELD_TYPES) == {f.name for f in dataclasses.fields(Faults)}

_NON_NEGATIVE = {
    "rate_limit_remaining",
    "retry_after_s",
    "server_error_remaining",
    "lost_submit_ack_remaining",
    "malformed_remaining",
    "slow_reply_s",
    "submit_delay_s",
    "ws_disconnect_every_s",
    "cancel_delay_ticks",
}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def coerce_fault(name: str, value: object) -> Any:
    """Check one switch value and return it in the switch's type.

    Accepts the native type (from JSON or keyword arguments) or its text form (from the CLI).
    """
    kind = _FIELD_TYPES.get(name)
    if kind is None:
        known = ", ".join(sorted(_FIELD_TYPES))
        raise FaultSpecError(f"unknown fault {name!r}; known faults: {known}")
    result: Any
    if kind is bool:
        if isinstance(value, bool):
            result = value
        elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            result = value.strip().lower() in _TRUE
        else:
            raise FaultSpecError(f"fault {name}: {value!r} is not a boolean (true/false)")
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            result = value
        elif isinstance(value, str):
            try:
                result = int(value.strip())
            except ValueError:
                raise FaultSpecError(f"fault {name}: {value!r} is not an integer") from None
        else:
            raise FaultSpecError(f"fault {name}: {value!r} is not an integer")
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            result = float(value)
        elif isinstance(value, str):
            try:
                result = float(value.strip())
            except ValueError:
                raise FaultSpecError(f"fault {name}: {value!r} is not a number") from None
        else:
            raise FaultSpecError(f"fault {name}: {value!r} is not a number")
        if result != result or result in (float("inf"), float("-inf")):
            raise FaultSpecError(f"fault {name}: {value!r} is not a finite number")
    else:
        if not isinstance(value, str):
            raise FaultSpecError(f"fault {name}: {value!r} is not a string")
        result = value
    if name in _NON_NEGATIVE and result < 0:
        raise FaultSpecError(f"fault {name}: {value!r} must not be negative")
    if name == "server_error_status" and not 500 <= result <= 599:
        raise FaultSpecError(f"fault {name}: {value!r} is not a 5xx status")
    return result


def apply_fault_changes(faults: Faults, changes: Mapping[str, object]) -> Faults:
    """Validate every change first, then apply them all to `faults` in place and return it.

    All-or-nothing, so a bad value never leaves the switches half changed.
    """
    checked = {name: coerce_fault(name, value) for name, value in changes.items()}
    for name, value in checked.items():
        setattr(faults, name, value)
    return faults


def parse_faults(text: str) -> Faults:
    """Parse the CLI form `name=value,name=value` (an empty string means no faults)."""
    changes: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise FaultSpecError(f"fault {name!r}: expected name=value")
        if name in changes:
            raise FaultSpecError(f"fault {name!r} given twice")
        changes[name] = value.strip()
    return apply_fault_changes(Faults(), changes)
