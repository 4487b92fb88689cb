"""The diff book: CS sequencing, CP semantics, ordering, fail-closed invalidation."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from btcbot_engine.domain.market import BookLevel
from btcbot_engine.exchange.btcturk.ws_book import BookOutcome, DiffBook
from btcbot_engine.exchange.btcturk.ws_parse import (
    BookDiffFrame,
    BookSnapshotFrame,
    DiffOp,
    LevelChange,
)

D = Decimal


def snap(cs: int, bids: dict[str, str], asks: dict[str, str]) -> BookSnapshotFrame:
    return BookSnapshotFrame(
        symbol="BTCTRY",
        cs=cs,
        bids=tuple(BookLevel(D(p), D(q)) for p, q in bids.items()),
        asks=tuple(BookLevel(D(p), D(q)) for p, q in asks.items()),
    )


def diff(
    cs: int,
    bids: list[tuple[DiffOp, str, str]] | None = None,
    asks: list[tuple[DiffOp, str, str]] | None = None,
) -> BookDiffFrame:
    return BookDiffFrame(
        symbol="BTCTRY",
        cs=cs,
        bids=tuple(LevelChange(op, D(p), D(q)) for op, p, q in bids or []),
        asks=tuple(LevelChange(op, D(p), D(q)) for op, p, q in asks or []),
    )


def fresh() -> DiffBook:
    book = DiffBook("BTCTRY")
    outcome = book.apply_snapshot(
        snap(10, {"99": "1", "101": "2", "100": "3"}, {"105": "1", "103": "2", "104": "3"}), 1
    )
    assert outcome is BookOutcome.OK
    return book


def test_snapshot_sorts_bids_descending_asks_ascending() -> None:
    ob = fresh().order_book()
    assert ob is not None
    assert [lvl.price for lvl in ob.bids] == [D(101), D(100), D(99)]
    assert [lvl.price for lvl in ob.asks] == [D(103), D(104), D(105)]
    assert ob.received_at_ms == ob.exchange_ts_ms == 1


def test_diff_ops_replace_add_remove() -> None:
    book = fresh()
    outcome = book.apply_diff(
        diff(
            11,
            bids=[
                (DiffOp.REPLACE, "100", "7"),
                (DiffOp.NEW, "102", "1"),
                (DiffOp.REMOVE, "99", "0"),
            ],
            asks=[(DiffOp.REMOVE, "103", "2"), (DiffOp.NEW, "106", "4")],
        ),
        received_at_ms=2,
    )
    assert outcome is BookOutcome.OK
    ob = book.order_book()
    assert ob is not None
    assert ob.bids == (BookLevel(D(102), D(1)), BookLevel(D(101), D(2)), BookLevel(D(100), D(7)))
    assert [lvl.price for lvl in ob.asks] == [D(104), D(105), D(106)]
    assert ob.received_at_ms == 2 and book.cs == 11


def test_replace_with_zero_amount_removes_the_level() -> None:
    book = fresh()
    assert book.apply_diff(diff(11, bids=[(DiffOp.REPLACE, "101", "0")]), 2) is BookOutcome.OK
    ob = book.order_book()
    assert ob is not None and ob.best_bid == D(100)


def test_gap_invalidates() -> None:
    book = fresh()
    assert book.apply_diff(diff(12), 2) is BookOutcome.GAP
    assert book.order_book() is None and not book.valid
    # Still invalid for the next diff in sequence: only a snapshot repairs it.
    assert book.apply_diff(diff(13), 3) is BookOutcome.NO_SNAPSHOT
    assert book.order_book() is None


def test_duplicate_or_old_cs_is_a_gap_too() -> None:
    book = fresh()
    assert book.apply_diff(diff(10), 2) is BookOutcome.GAP


def test_diff_before_snapshot() -> None:
    book = DiffBook("BTCTRY")
    assert book.apply_diff(diff(1), 1) is BookOutcome.NO_SNAPSHOT
    assert book.order_book() is None


def test_crossed_after_diff_invalidates() -> None:
    book = fresh()
    assert book.apply_diff(diff(11, bids=[(DiffOp.NEW, "103", "1")]), 2) is BookOutcome.CROSSED
    assert book.order_book() is None


def test_crossed_snapshot_is_not_served() -> None:
    book = DiffBook("BTCTRY")
    assert book.apply_snapshot(snap(1, {"105": "1"}, {"104": "1"}), 1) is BookOutcome.CROSSED
    assert book.order_book() is None


def test_inconsistent_diffs_invalidate() -> None:
    for change in [
        (DiffOp.REPLACE, "98", "1"),  # replace a level we do not hold
        (DiffOp.REMOVE, "98", "1"),  # remove a level we do not hold
        (DiffOp.NEW, "100", "1"),  # add a level we already hold
    ]:
        book = fresh()
        assert book.apply_diff(diff(11, bids=[change]), 2) is BookOutcome.INCONSISTENT
        assert book.order_book() is None


def test_snapshot_repairs_an_invalid_book() -> None:
    book = fresh()
    book.apply_diff(diff(99), 2)
    assert book.apply_snapshot(snap(200, {"1": "1"}, {"2": "1"}), 3) is BookOutcome.OK
    assert book.apply_diff(diff(201, asks=[(DiffOp.NEW, "3", "1")]), 4) is BookOutcome.OK
    ob = book.order_book()
    assert ob is not None and len(ob.asks) == 2


def test_order_book_is_cached_until_the_next_change() -> None:
    book = fresh()
    first = book.order_book()
    assert book.order_book() is first
    book.apply_diff(diff(11, bids=[(DiffOp.REPLACE, "99", "5")]), 2)
    assert book.order_book() is not first


prices = st.integers(min_value=1, max_value=60)
amounts = st.integers(min_value=1, max_value=10**6).map(lambda n: D(n).scaleb(-4))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_valid_diffs_match_a_plain_dict_model(data: st.DataObject) -> None:
    # Bids live on prices 1..60 and asks on 61..120, so no valid sequence crosses.
    bids = data.draw(st.dictionaries(prices, amounts, max_size=10))
    asks = data.draw(st.dictionaries(prices.map(lambda p: p + 60), amounts, max_size=10))
    book = DiffBook("BTCTRY")
    book.apply_snapshot(
        BookSnapshotFrame(
            "BTCTRY",
            0,
            tuple(BookLevel(D(p), q) for p, q in bids.items()),
            tuple(BookLevel(D(p), q) for p, q in asks.items()),
        ),
        0,
    )
    for cs in range(1, data.draw(st.integers(1, 15)) + 1):
        changes: dict[str, list[LevelChange]] = {"bids": [], "asks": []}
        for side_name, side, offset in (("bids", bids, 0), ("asks", asks, 60)):
            for _ in range(data.draw(st.integers(0, 4))):
                price = data.draw(prices) + offset
                if price in side:
                    if data.draw(st.booleans()):
                        del side[price]
                        changes[side_name].append(LevelChange(DiffOp.REMOVE, D(price), D(0)))
                    else:
                        side[price] = data.draw(amounts)
                        changes[side_name].append(
                            LevelChange(DiffOp.REPLACE, D(price), side[price])
                        )
                else:
                    side[price] = data.draw(amounts)
                    changes[side_name].append(LevelChange(DiffOp.NEW, D(price), side[price]))
        frame = BookDiffFrame("BTCTRY", cs, tuple(changes["bids"]), tuple(changes["asks"]))
        assert book.apply_diff(frame, cs) is BookOutcome.OK
        ob = book.order_book()
        assert ob is not None
        assert [(lvl.price, lvl.quantity) for lvl in ob.bids] == sorted(
            ((D(p), q) for p, q in bids.items()), reverse=True
        )
        assert [(lvl.price, lvl.quantity) for lvl in ob.asks] == sorted(
            (D(p), q) for p, q in asks.items()
        )
