"""The open orders pane: keyed by client id, UNKNOWN highlighted, updated in place."""

from __future__ import annotations

from btcbot_engine.domain.orders import OrderState, Side
from btcbot_engine.domain.records import OrderRecord
from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_tui.widgets.fmt import coarse_age, price, qty
from btcbot_tui.widgets.row_table import Cell, Cells, Column, RowTable

COLUMNS = (
    Column("symbol", "symbol", 7),
    Column("side", "side", 4),
    Column("price", "price", 12, right=True),
    Column("qty", "qty", 11, right=True),
    Column("filled", "filled", 10, right=True),
    Column("state", "state", 9),
    Column("age", "age", 5, right=True),
    Column("cid", "client id", 30),
)

STATE_STYLES = {
    OrderState.UNKNOWN: "bold black on dark_orange",
    OrderState.PARTIAL: "cyan",
    OrderState.CANCELING: "magenta",
    OrderState.SUBMITTING: "yellow",
    OrderState.NEW: "yellow",
}


def order_static_cells(order: OrderRecord) -> tuple[Cell, ...]:
    """Every cell but the age (those change only when the order does)."""
    unknown = order.state is OrderState.UNKNOWN
    return (
        (order.symbol, "bold dark_orange" if unknown else ""),
        (order.side.value, "green" if order.side is Side.BUY else "red"),
        (price(order.price), ""),
        (qty(order.quantity), ""),
        (qty(order.filled_quantity), ""),
        (order.state.value, STATE_STYLES.get(order.state, "")),
    )


def order_cells(order: OrderRecord, now_ms: int) -> Cells:
    """One order's cells; the age comes from the snapshot's own timestamp."""
    unknown = order.state is OrderState.UNKNOWN
    return (
        *order_static_cells(order),
        (coarse_age(now_ms - order.created_ms), ""),
        (order.client_id, "bold dark_orange" if unknown else "dim"),
    )


class OrdersPane(RowTable):
    """Our open orders, oldest first; the cursor row is the one `c` cancels."""

    DEFAULT_CSS = """
    OrdersPane { border: round $primary; height: 1fr; }
    OrdersPane:focus { border: round $accent; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, **kwargs)  # type: ignore[arg-type]
        self.border_title = "Open orders"
        self._orders: dict[str, OrderRecord] = {}
        # Formatting 200 orders per snapshot adds up: reuse cells until the order changes.
        self._static: dict[str, tuple[tuple[object, ...], tuple[Cell, ...]]] = {}

    def _row_cells(self, order: OrderRecord, now_ms: int) -> Cells:
        version = (order.updated_ms, order.state, order.filled_quantity, order.price)
        cached = self._static.get(order.client_id)
        if cached is None or cached[0] != version:
            cached = (version, order_static_cells(order))
            self._static[order.client_id] = cached
        unknown = order.state is OrderState.UNKNOWN
        return (
            *cached[1],
            (coarse_age(now_ms - order.created_ms), ""),
            (order.client_id, "bold dark_orange" if unknown else "dim"),
        )

    def show_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Follow the snapshot's open orders."""
        now = snapshot.ts_ms
        orders = snapshot.open_orders
        self._orders = {o.client_id: o for o in orders}
        for gone in set(self._static) - set(self._orders):
            del self._static[gone]
        self.sync((o.client_id, self._row_cells(o, now)) for o in orders)
        unknown = sum(1 for o in orders if o.state is OrderState.UNKNOWN)
        subtitle = f"{len(orders)} open" + (f" · {unknown} UNKNOWN" if unknown else "")
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle

    def selected_order(self) -> OrderRecord | None:
        """The order under the cursor."""
        key = self.selected_key()
        return self._orders.get(key) if key is not None else None
