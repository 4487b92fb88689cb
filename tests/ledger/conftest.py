"""Expected values in these tests are computed exactly, in the ledger's own Decimal context
(the default 28 digits would round the products the ledger keeps exact)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import localcontext

import pytest

from btcbot_engine.ledger_events import LEDGER_CONTEXT


@pytest.fixture(autouse=True)
def exact_decimal_context() -> Iterator[None]:
    with localcontext(LEDGER_CONTEXT):
        yield
