"""Hypothesis strategies and checks shared by the fuzz drills.

Payloads start from real wire samples (captured from the simulator, shaped as reference
sections 3 and 6) and are broken the ways a changed API, a proxy or a bug breaks them: fields
dropped, values of the wrong type, huge and tiny numbers, NaN/Infinity (as tokens and as
strings), negatives, extra fields, and the text cut short or replaced.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fuzz_settings(max_examples: int) -> settings:
    """Deterministic runs for CI: the same examples every time, no deadline on a slow runner."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class RawToken(str):
    """Text written into the JSON as is (a number token `json.dumps` cannot produce)."""


# Strings that look like numbers to somebody: parsers must refuse or read them exactly.
NASTY_STRINGS = (
    "NaN",
    "nan",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1e999999999",
    "-1e999999999",
    "1e-999999999",
    "1E+400",
    "9" * 40,
    "-" + "9" * 40,
    "-1",
    "-0",
    "-0.00000001",
    "0",
    "0x1A",
    " 12 ",
    "",
    " ",
    "1_000",
    "١٢",  # Arabic-Indic digits
    "²",  # a superscript two: str.isdigit() says yes, int() says no
    "12abc",
    "1.2.3",
    "true",
    "null",
    "[]",
    "\x00",
    "😀",
)
# Number tokens as they would appear in the JSON text itself.
NASTY_TOKENS = (
    RawToken("NaN"),
    RawToken("Infinity"),
    RawToken("-Infinity"),
    RawToken("1e999999999"),
    RawToken("-1e999999999"),
    RawToken("1E-999999999"),
    RawToken("1" * 5000),  # beyond Python's int-string digit limit
    RawToken("-0"),
    RawToken("-0.0"),
    RawToken("123456789012345678901234567890.123456789"),
    RawToken("[" * 3000 + "]" * 3000),  # nesting deeper than the interpreter's stack
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.floats(),  # read back as Decimal, or a NaN/Infinity token
    st.text(max_size=20),
    st.sampled_from(NASTY_STRINGS),
    st.sampled_from(NASTY_TOKENS),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def dumps(value: Any) -> str:
    """JSON text for `value`: Decimals as exact number tokens, RawToken verbatim, NaN as NaN."""
    if isinstance(value, RawToken):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        if value.is_nan():
            return "NaN"
        if value.is_infinite():
            return "Infinity" if value > 0 else "-Infinity"
        return str(value)
    return json.dumps(value)  # floats: repr-exact digits, or the NaN/Infinity tokens


def _slots(doc: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key or index) of every value inside `doc`."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield doc, key
            yield from _slots(value)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield doc, i
            yield from _slots(value)


def _negated(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | Decimal):
        return -value
    if isinstance(value, str):
        return value[1:] if value.startswith("-") else "-" + value
    return value


@st.composite
def broken_payloads(draw: st.DrawFn, template: Any) -> str:
    """One template, broken 0-4 ways, as JSON text (sometimes cut short or replaced)."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        slots = list(_slots(doc))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(("drop", "retype", "nasty", "negate", "extra", "huge")))
        if action == "drop":
            if isinstance(container, dict):
                del container[key]
            else:
                container.pop(key)
        elif action == "retype":
            container[key] = draw(json_values)
        elif action == "nasty":
            container[key] = draw(st.sampled_from(NASTY_STRINGS + NASTY_TOKENS))
        elif action == "negate":
            container[key] = _negated(container[key])
        elif action == "huge":
            exponent = draw(st.integers(min_value=20, max_value=999_999_999))
            container[key] = RawToken(f"{draw(st.sampled_from(('', '-')))}1E+{exponent}")
        else:
            target = container if isinstance(container, dict) else doc
            if isinstance(target, dict):
                target[draw(st.text(max_size=10))] = draw(json_values)
    text = dumps(doc)
    ending = draw(st.sampled_from(("whole",) * 6 + ("cut", "garbage")))
    if ending == "cut":
        text = text[: draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))]
    elif ending == "garbage":
        text = draw(st.text(max_size=60))
    return text


def result_problems(value: Any, path: str = "result") -> list[str]:
    """Floats, non-finite Decimals and bools-as-numbers anywhere inside a parser's result."""
    found: list[str] = []
    if isinstance(value, float):
        found.append(f"{path}: float {value!r}")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            found.append(f"{path}: non-finite {value}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            found += result_problems(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += result_problems(v, f"{path}[{k!r}]")
    elif isinstance(value, list | tuple | set | frozenset):
        for i, v in enumerate(value):
            found += result_problems(v, f"{path}[{i}]")
    return found


def decimals_in(value: Any, path: str = "result") -> Iterator[tuple[str, Decimal]]:
    """(path, value) of every Decimal inside a parser's result."""
    if isinstance(value, Decimal):
        yield path, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from decimals_in(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from decimals_in(v, f"{path}[{i}]")
