"""RowTable: a keyed, incrementally updated table drawn with Textual's line API.

Why not `DataTable`: it re-renders every visible cell through Rich whenever any one cell changes
(its row cache is keyed on a table-wide update counter), which costs tens of milliseconds at 30+
visible rows. Here each row is one cached `Strip` built from plain strings; `sync()` diffs the
new rows against the old by key and drops only the changed rows' strips, and only the visible
lines are ever drawn. Rows keep their keys (order client id, trade id), and the cursor stays on
its key when rows come and go.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

# A cell is (text, style); style is a Rich style string such as "bold red" or "".
Cell = tuple[str, str]
Cells = tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Column:
    """A fixed-width column; `right=True` right-aligns (numbers)."""

    key: str
    label: str
    width: int
    right: bool = False


@lru_cache(maxsize=256)
def _style(text: str) -> Style:
    return Style.parse(text) if text else Style()


def _fit(text: str, width: int, right: bool) -> str:
    if right:
        size = cell_len(text)
        if size < width:
            return " " * (width - size) + text
    return set_cell_size(text, width)


class RowTable(ScrollView, can_focus=True):
    """A table of keyed rows; see the module docstring."""

    COMPONENT_CLASSES = {
        "rowtable--header",
        "rowtable--cursor",
        "rowtable--cursor-blurred",
        "rowtable--odd",
    }
    DEFAULT_CSS = """
    RowTable { background: $surface; }
    RowTable > .rowtable--header { text-style: bold; background: $panel; }
    RowTable > .rowtable--cursor { background: $primary; color: $text; text-style: bold; }
    RowTable > .rowtable--cursor-blurred { background: $surface-lighten-3; }
    RowTable > .rowtable--odd { background: $surface-lighten-1; }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, repaint=False)

    class CursorMoved(Message):
        """The cursor moved to the row with `key` (None: the table is empty)."""

        def __init__(self, table: RowTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        show_cursor: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = tuple(columns)
        self.show_cursor = show_cursor
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._cells: dict[str, Cells] = {}
        self._strips: dict[tuple[str, bool], Strip] = {}
        self._width = sum(c.width + 2 for c in self.columns)
        self._style_cache: tuple[Style, Style, Style, Style, Style] | None = None
        self._last_styles: tuple[Style, Style, Style, Style, Style] | None = None
        self._header: Strip | None = None
        self.sync_count = 0
        self.rendered_rows = 0  # row strips built for the cache (tests and the bench read it)
        self.virtual_size = Size(self._width, 1)

    # --- data ----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """How many rows the table holds."""
        return len(self._keys)

    @property
    def row_keys(self) -> list[str]:
        """The keys in display order."""
        return list(self._keys)

    def cells_of(self, key: str) -> Cells | None:
        """The cells shown for `key`."""
        return self._cells.get(key)

    def selected_key(self) -> str | None:
        """The key under the cursor (None when empty or without a cursor)."""
        if not self.show_cursor or not self._keys:
            return None
        return self._keys[min(self.cursor_row, len(self._keys) - 1)]

    def sync(self, rows: Iterable[tuple[str, Cells]]) -> bool:
        """Show exactly `rows` ([(key, cells)] in display order); True when anything changed."""
        keys: list[str] = []
        cells_by_key: dict[str, Cells] = {}
        for key, cells in rows:
            keys.append(key)
            cells_by_key[key] = cells
        old_cells = self._cells
        changed_keys = [k for k in keys if old_cells.get(k) != cells_by_key[k]]
        same_order = keys == self._keys
        if same_order and not changed_keys:
            return False
        selected = self.selected_key()
        for key in changed_keys:
            self._strips.pop((key, False), None)
            self._strips.pop((key, True), None)
        if not same_order:
            for key in set(self._cells) - set(cells_by_key):
                self._strips.pop((key, False), None)
                self._strips.pop((key, True), None)
        self._keys = keys
        self._cells = cells_by_key
        self._index = {k: i for i, k in enumerate(keys)} if not same_order else self._index
        self.sync_count += 1
        if same_order:
            top = int(self.scroll_offset.y)
            for key in changed_keys:
                row = self._index[key]
                if top <= row < top + self.size.height:
                    self.refresh_line(row + 1)
            return True
        self.virtual_size = Size(self._width, len(keys) + 1)
        if selected is not None and selected in self._index:
            self._set_cursor(self._index[selected], announce=False)
        else:
            self._set_cursor(min(self.cursor_row, max(len(keys) - 1, 0)), announce=True)
        self.refresh()
        return True

    # --- cursor --------------------------------------------------------------------------

    def _set_cursor(self, row: int, *, announce: bool = True) -> None:
        row = max(0, min(row, len(self._keys) - 1)) if self._keys else 0
        if row != self.cursor_row:
            self.cursor_row = row
            self.refresh()
        visible = max(self.size.height - 1, 1)
        top = int(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=False, immediate=True)
        if announce and self.show_cursor:
            self.post_message(self.CursorMoved(self, self.selected_key()))

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by `delta` rows (or scroll, without a cursor)."""
        if self.show_cursor:
            self._set_cursor(self.cursor_row + delta)
        else:
            self.scroll_to(y=self.scroll_offset.y + delta, animate=False, immediate=True)

    def action_page(self, direction: int) -> None:
        """Move a page up or down."""
        self.action_cursor(direction * max(self.size.height - 2, 1))

    def action_cursor_to(self, row: int) -> None:
        """Jump to a row (-1: the last)."""
        self._set_cursor(len(self._keys) - 1 if row < 0 else row)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1 and self.show_cursor:
            self._set_cursor(int(self.scroll_offset.y) + event.y - 1)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # --- drawing -------------------------------------------------------------------------

    def _line_width(self) -> int:
        return max(self._width, self.size.width)

    def _build_strip(self, key: str, base: Style) -> Strip:
        # One segment per cell (its padding included), neighbours with the same style merged:
        # fewer segments make every later step of Textual's line pipeline cheaper.
        segments: list[Segment] = []
        last_style: Style | None = None
        for column, (text, style) in zip(self.columns, self._cells[key], strict=True):
            cell_style = base + _style(style) if style else base
            chunk = f" {_fit(text, column.width, column.right)} "
            if cell_style == last_style:
                segments[-1] = Segment(segments[-1].text + chunk, cell_style)
            else:
                segments.append(Segment(chunk, cell_style))
                last_style = cell_style
        width = self._line_width()
        if width > self._width:  # the row's background runs to the pane's edge
            segments.append(Segment(" " * (width - self._width), base))
        return Strip(segments, width)

    def _row_strip(self, key: str, odd: bool) -> Strip:
        cached = self._strips.get((key, odd))
        if cached is None:
            plain, _header, _cursor, _blurred, odd_style = self._styles()
            cached = self._build_strip(key, plain + odd_style if odd else plain)
            self._strips[(key, odd)] = cached
            self.rendered_rows += 1
        return cached

    def _header_strip(self) -> Strip:
        plain, header, *_rest = self._styles()
        style = plain + header
        text = "".join(" " + _fit(c.label, c.width, c.right) + " " for c in self.columns)
        width = self._line_width()
        return Strip([Segment(text.ljust(width), style)], width)

    def _styles(self) -> tuple[Style, Style, Style, Style, Style]:
        # Resolving styles walks the DOM; do it once per style change, not once per line.
        if self._style_cache is None:
            styles = (
                self.rich_style,
                self.get_component_rich_style("rowtable--header", partial=True),
                self.get_component_rich_style("rowtable--cursor", partial=True),
                self.get_component_rich_style("rowtable--cursor-blurred", partial=True),
                self.get_component_rich_style("rowtable--odd", partial=True),
            )
            if styles != self._last_styles:  # colours are baked into the cached strips
                self._strips.clear()
                self._header = None
                self._last_styles = styles
            self._style_cache = styles
        return self._style_cache

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = int(self.scroll_offset.x)
        plain, _header, cursor, blurred, _odd = self._styles()
        if y == 0:
            if self._header is None:
                self._header = self._header_strip()
            strip = self._header
        else:
            row = int(self.scroll_offset.y) + y - 1
            if row >= len(self._keys):
                return Strip.blank(width, plain)
            key = self._keys[row]
            if self.show_cursor and row == self.cursor_row:  # one row: built fresh each draw
                strip = self._build_strip(key, plain + (cursor if self.has_focus else blurred))
            else:
                strip = self._row_strip(key, row % 2 == 1)
        return strip.crop_extend(scroll_x, scroll_x + width, plain)

    def on_resize(self) -> None:
        self._strips.clear()  # rows are as wide as the pane
        self._header = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache = None  # re-resolved (and compared) at the next draw
