"""A client table that renders only the lines on screen (Textual's Line API) and reads the
caseload a page at a time with keyset SQL (`caseload.overview.page`) in thread workers.

The built-in DataTable measures every cell of every row: 100,000 rows took ~4 s to add and
~19 s to paint. Here a page of 100 rows is one bounded query, and a row that is not loaded yet
shows as a dim placeholder until its page arrives."""

from rich.style import Style
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ... import overview
from ...attention import label
from ...i18n import t
from .. import format as fmt
from ..keys import Localized

PAGE = overview.PAGE
TREND = {1: "↑", -1: "↓", 0: " "}
NARROW = 110  # columns; an 80-column terminal gets the narrow layout


class ClientTable(Localized, ScrollView, can_focus=True):
    DEFAULT_CSS = """
    ClientTable { height: 1fr; overflow-x: hidden; }
    ClientTable > .client-table--header { text-style: bold; background: $panel; }
    ClientTable > .client-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    ClientTable > .client-table--cursor-blurred { background: $block-cursor-blurred-background; }
    ClientTable > .client-table--placeholder { color: $text-muted; }
    ClientTable > .client-table--bad { color: $text-error; }
    ClientTable > .client-table--good { color: $text-success; }
    ClientTable > .client-table--reason { color: $text-warning; }
    """
    COMPONENT_CLASSES = {"client-table--header", "client-table--cursor", "client-table--cursor-blurred",
                         "client-table--placeholder", "client-table--bad", "client-table--good",
                         "client-table--reason"}
    BINDINGS = [
        Binding("enter", "open", "tui.key.open"),
        Binding("up", "move(-1)", show=False),  # not k: k sorts by number (F1)
        Binding("down", "move(1)", show=False),
        Binding("pageup", "move(-20)", show=False),
        Binding("pagedown", "move(20)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(-1)", show=False),
    ]
    cursor = reactive(0, always_update=True)

    class Opened(Message):
        """The user chose a client (enter, or a click on the chosen row)."""

        def __init__(self, number: str) -> None:
            super().__init__()
            self.number = number

    class SortWanted(Message):
        """A click on a column heading."""

        def __init__(self, sort: str) -> None:
            super().__init__()
            self.sort = sort

    class Loaded(Message):
        def __init__(self, generation: int, page: int, rows: list) -> None:
            super().__init__()
            self.generation, self.page, self.rows = generation, page, rows

    class Reasons(Message):
        def __init__(self, generation: int, page: int, reasons: dict) -> None:
            super().__init__()
            self.generation, self.page, self.reasons = generation, page, reasons

    def __init__(self, show_coach: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.show_coach = show_coach
        self.where, self.params = "1", []
        self.sort, self.descending = "name", False
        self.total: int | None = None
        self.generation = 0
        self._pages: dict[int, list] = {}
        self._loading: set[int] = set()
        self._wanted: set[int] = set()
        self._strips: dict[tuple, Strip] = {}  # rendered rows; a repaint of the screen costs no Rich work
        self.marked: set[str] = set()  # client numbers marked with space, kept across filters and sorts

    # -- what to show ---------------------------------------------------------------------------
    def set_query(self, where: str, params: list, sort: str | None = None, descending: bool | None = None,
                  total: int | None = None) -> None:
        """Show another selection or order: forget the loaded pages, start at the top."""
        self.where, self.params = where, list(params)
        if sort is not None:
            self.sort = sort
        if descending is not None:
            self.descending = descending
        self.generation += 1
        self._strips.clear()
        self._pages.clear()
        self._loading.clear()
        self.total = total
        self.cursor = 0
        self.scroll_to(y=0, animate=False)
        self._resize()
        self._request(0)
        self.refresh()

    def set_total(self, total: int) -> None:
        self.total = total
        self.cursor = min(self.cursor, max(total - 1, 0))
        self._resize()
        self.refresh()

    @property
    def loaded_rows(self) -> int:
        return sum(len(p) for p in self._pages.values())

    def row(self, index: int):
        rows = self._pages.get(index // PAGE)
        if rows is None or index % PAGE >= len(rows):
            return None
        return rows[index % PAGE]

    @property
    def current(self):
        return self.row(self.cursor)

    def _count(self) -> int:
        if self.total is not None:
            return self.total
        first = self._pages.get(0)
        return len(first) if first is not None else 0

    def _resize(self) -> None:
        self.virtual_size = Size(self._width, self._count() + 1)

    # -- loading --------------------------------------------------------------------------------
    def _request(self, page: int) -> None:
        if page in self._pages or page in self._loading:
            return
        self._loading.add(page)
        prev = self._pages.get(page - 1)
        after = prev[-1].key if prev and len(prev) == PAGE else None
        self._load(self.generation, page, after, self.where, self.params, self.sort, self.descending)

    @work(thread=True, group="pages")
    def _load(self, generation, page, after, where, params, sort, descending) -> None:
        with self.app.reported():
            store = self.app.store_here()
            rows = overview.page(store, self.app.actor, where, params, sort=sort, descending=descending,
                                 after=after, offset=0 if after else page * PAGE, with_reasons=False)
            self.post_message(self.Loaded(generation, page, rows))  # the rows first, the reasons after
            if rows and generation == self.generation:
                found = overview.reasons(store, self.app.actor, [r.id for r in rows])
                self.post_message(self.Reasons(generation, page, found))

    def on_client_table_loaded(self, message: Loaded) -> None:
        message.stop()
        if message.generation != self.generation:
            return
        self._pages[message.page] = message.rows
        self._loading.discard(message.page)
        self._strips.clear()
        self._resize()
        self.refresh()

    def on_client_table_reasons(self, message: Reasons) -> None:
        message.stop()
        rows = self._pages.get(message.page)
        if message.generation != self.generation or rows is None:
            return
        for row in rows:
            row.reasons = message.reasons.get(row.id, [])
        self._strips.clear()
        self.refresh()

    def _fetch_wanted(self) -> None:
        wanted, self._wanted = self._wanted, set()
        for page in sorted(wanted):
            self._request(page)

    # -- drawing --------------------------------------------------------------------------------
    def _columns(self) -> list[tuple[str, str, int]]:
        """(sort key or "", heading, width); the last column takes what is left. Below NARROW
        columns the name, wellbeing and last activity give way, so the reasons stay readable."""
        narrow = self._width < NARROW
        cols = [("client_number", t("tui.col.number"), 7 if narrow else 9),
                ("name", t("tui.col.name"), 20 if narrow else 28),
                ("wellbeing", t("tui.col.wellbeing_short") if narrow else t("tui.col.wellbeing"), 5 if narrow else 11),
                ("last_activity", t("tui.col.last_activity_short") if narrow else t("tui.col.last_activity"),
                 10 if narrow else 20)]
        if self.show_coach:
            cols.append(("", t("tui.col.coach"), 10 if narrow else 14))
        used = sum(w + 1 for _, _, w in cols)
        cols.append(("", t("tui.col.attention"), max(self._width - used, 1)))
        return cols

    @property
    def _width(self) -> int:
        return self.scrollable_content_region.width

    def _line(self, cells: list[Text], style: Style | None = None) -> Strip:
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        for i, ((_, _, width), cell) in enumerate(zip(self._columns(), cells)):
            cell.truncate(width, overflow="ellipsis", pad=True)
            if i:
                line.append(" ")
            line.append_text(cell)
        line.truncate(self._width, pad=True)
        if style is not None:
            line.stylize(style)
        return Strip(line.render(self.app.console), self._width)

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y - 1
        slot = -1 if y == 0 else index
        key = (slot, self._width, slot == self.cursor and (self.has_focus or 2), self.sort, self.descending,
               self._count(), len(self.marked))
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_row(y, index)
            if y == 0 or self.row(index) is not None:
                if len(self._strips) > 2000:
                    self._strips.clear()
                self._strips[key] = strip
        return strip

    def _render_row(self, y: int, index: int) -> Strip:
        if y == 0:
            cells = []
            for key, heading, _ in self._columns():
                mark = (" ▼" if self.descending else " ▲") if key and key == self.sort else ""
                if key == "client_number" and self.marked:
                    heading, mark = f"● {len(self.marked)}", ""
                cells.append(Text(heading + mark))
            return self._line(cells, self.get_component_rich_style("client-table--header"))
        if index >= self._count():
            return Strip.blank(self._width, self.rich_style)
        row = self.row(index)
        if row is None:
            if not self._wanted:
                self.call_later(self._fetch_wanted)
            self._wanted.add(index // PAGE)
            return self._line([Text("…")], self.get_component_rich_style("client-table--placeholder"))
        strip = self._line(self._cells(row))
        if index == self.cursor:
            name = "client-table--cursor" if self.has_focus else "client-table--cursor-blurred"
            strip = strip.apply_style(self.get_component_rich_style(name))
        return strip

    def _cells(self, row) -> list[Text]:
        tz = self.app.store.tz
        narrow = self._width < NARROW
        wb = Text()
        if row.wellbeing is not None:
            style = {1: "client-table--good", -1: "client-table--bad"}.get(row.trend)
            wb.append(f"{row.wellbeing} ")
            wb.append(TREND[row.trend], self.get_component_rich_style(style) if style else "")
            if row.wellbeing_before is not None and row.trend and not narrow:
                wb.append(f" {t('tui.was', value=row.wellbeing_before)}", "dim")
        gone = row.status != "active"
        last = fmt.moment(row.last_activity, tz)
        if narrow:
            last = last.split(" ")[0]  # the day is enough here
        number = Text("●", "bold") + Text(row.client_number) if row.client_number in self.marked \
            else Text(" " + row.client_number)
        cells = [number, Text(row.name, "dim" if gone else ""), wb, Text(last)]
        if self.show_coach:
            cells.append(Text(row.coach or ""))
        if gone:
            cells.append(Text(t(f"tui.status.{row.status}"), "dim"))
        else:
            reasons = "; ".join(label(s) + (f" ({d})" if d else "") for s, d in row.reasons)
            cells.append(Text(reasons, self.get_component_rich_style("client-table--reason")))
        return cells

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: (self._strips.clear(), self.refresh()))

    def on_resize(self) -> None:
        self._resize()

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- keys and mouse -------------------------------------------------------------------------
    def action_move(self, delta: int) -> None:
        self.cursor = max(0, min(self.cursor + delta, self._count() - 1))
        self._show_cursor()

    def action_jump(self, where: int) -> None:
        self.cursor = max(0, self._count() - 1) if where < 0 else 0
        self._show_cursor()

    def _show_cursor(self) -> None:
        top, height = self.scroll_offset.y, self.scrollable_content_region.height - 1
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def toggle_mark(self) -> None:
        """Mark or unmark the client under the cursor and move on (space)."""
        row = self.current
        if row is None:
            return
        self.marked.symmetric_difference_update({row.client_number})
        self._strips.clear()
        self.action_move(1)
        self.refresh()

    def action_open(self) -> None:
        row = self.current
        if row is not None:
            self.post_message(self.Opened(row.client_number))

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = 0
            for key, _, width in self._columns():
                if x <= offset.x < x + width + 1 and key:
                    self.post_message(self.SortWanted(key))
                x += width + 1
            return
        index = self.scroll_offset.y + offset.y - 1
        if index < self._count():
            again = index == self.cursor
            self.cursor = index
            if again or event.chain >= 2:
                self.action_open()
