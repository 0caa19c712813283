"""The attention list: only who needs you today, most urgent first, with the reason in words;
enter opens the client, h marks them handled, z snoozes them until a date. Beside it the
maintenance list ("bij te werken": stale characteristics) and, for administrators, the
delivery problems; b opens the call list (clients who prefer phone). The list loads again
whenever the screen comes back (after a client)."""

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header, Input, Label, Static, TabbedContent, TabPane

from ...i18n import t
from .. import format as fmt
from ..keys import Fresh, Localized
from ..widgets.footer import KeyFooter


class SnoozeScreen(Localized, ModalScreen[str | None]):
    """Until when? A date, +N days or a weekday; Escape cancels."""
    DEFAULT_CSS = """
    SnoozeScreen { align: center middle; }
    SnoozeScreen #dialog { width: 60; height: auto; padding: 1 2; border: thick $accent; background: $surface; }
    """
    BINDINGS = [Binding("escape", "cancel", "tui.key.cancel")]

    def __init__(self, number: str):
        super().__init__()
        self.number = number

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(t("tui.day.snooze_question", number=self.number)), id="question")
            yield Input(value="+7", placeholder=t("tui.day.due_placeholder"), id="until")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


TALK = {"urgent_message", "unread_message", "followup_due"}  # reasons the conversation shows


class AttentionScreen(Fresh, Localized, Screen):
    BINDINGS = [Binding("f5", "reload", "tui.key.reload"),
                Binding("enter", "open", "tui.key.open", show=True),
                Binding("h", "handled", "tui.key.handled"),
                Binding("z", "snooze", "tui.key.snooze"),
                Binding("l", "calls", "tui.key.calls")]  # b is the inbox everywhere

    class Loaded(Message):
        def __init__(self, rows: list) -> None:
            super().__init__()
            self.rows = rows

    class Others(Message):
        """The maintenance list and the delivery problems: after today's list is on the screen."""
        def __init__(self, maintenance: list, deliveries: list | None) -> None:
            super().__init__()
            self.maintenance, self.deliveries = maintenance, deliveries

    class Marked(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(t("tui.loading"), style="dim"), id="summary")
        with TabbedContent(initial="today", id="lists"):
            with TabPane(t("tui.day.today"), id="today"):
                yield DataTable(id="attention", cursor_type="row", zebra_stripes=True)
            with TabPane(t("tui.day.maintenance"), id="maintenance"):
                yield DataTable(id="maintenance-table", cursor_type="row", zebra_stripes=True)
            if self.app.actor.role == "admin":
                with TabPane(t("tui.day.deliveries"), id="deliveries"):
                    yield DataTable(id="deliveries-table", cursor_type="row", zebra_stripes=True)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.attention")
        self._columns()
        self.query_one("#attention", DataTable).focus()
        self.load()

    def _columns(self) -> None:
        wide = self.app.actor.role != "coach"
        width = max(self.app.size.width, 60)
        table = self.query_one("#attention", DataTable)
        table.add_column(t("tui.col.number"), width=7)
        name = 22 if width >= 120 else 16
        table.add_column(t("tui.col.name"), width=name)
        used = 7 + name + 8
        if wide:
            table.add_column(t("tui.col.coach"), width=10)
            used += 12
        table.add_column(t("tui.day.why"), width=max(width - used, 24))
        m = self.query_one("#maintenance-table", DataTable)
        m.add_column(t("tui.col.number"), width=7)
        m.add_column(t("tui.col.name"), width=name)
        m.add_column(t("tui.day.oldest"), width=10)
        m.add_column(t("tui.day.stale"), width=max(width - 7 - name - 10 - 10, 20))
        if self.app.actor.role == "admin":
            d = self.query_one("#deliveries-table", DataTable)
            for label, w in (("tui.col.number", 7), ("tui.col.name", name), ("tui.col.coach", 10),
                             ("tui.day.channel", 6), ("tui.day.reason", 24), ("tui.day.failed", 7)):
                d.add_column(t(label), width=w)

    @work(thread=True, exclusive=True, group="attention")
    def load(self) -> None:
        from ... import attention

        app = self.app
        with app.reported():
            store = app.store_here()
            self.post_message(self.Loaded(attention.attention_list(store, app.actor)))

    @work(thread=True, exclusive=True, group="attention-others")
    def load_others(self) -> None:
        """Started once today's list is painted: a worker holds the GIL while it counts."""
        from ... import attention

        app = self.app
        with app.reported():
            store = app.store_here()
            maintenance = attention.maintenance_list(store, app.actor)
            deliveries = attention.delivery_problems(store, app.actor) if app.actor.role == "admin" else None
            self.post_message(self.Others(maintenance, deliveries))

    def on_attention_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one("#attention", DataTable)
        keep = self._current(table)
        table.clear()
        self._talk = {r["client_number"] for r in message.rows if {x["signal"] for x in r["reasons"]} & TALK}
        for r in message.rows:
            cells = [Text(r["client_number"]), Text(r["name"], overflow="ellipsis", no_wrap=True)]
            if self.app.actor.role != "coach":
                cells.append(Text(r["coach"] or ""))
            why = Text(no_wrap=True, overflow="ellipsis")
            for i, x in enumerate(r["reasons"]):
                if i:
                    why.append("; ")
                style = "bold red" if x["signal"] == "urgent_message" else "bold"
                why.append(x["label"], style)
                if x["detail"]:
                    why.append(f": {x['detail']}")
            table.add_row(*cells, why, key=r["client_number"])
        if keep is not None and keep in {r["client_number"] for r in message.rows}:
            table.move_cursor(row=table.get_row_index(keep))
        self._counts = (len(message.rows), getattr(self, "_counts", (0, 0))[1])
        self._summary()
        self.call_after_refresh(self.load_others)

    def on_attention_screen_others(self, message: Others) -> None:
        m = self.query_one("#maintenance-table", DataTable)
        m.clear()
        for r in message.maintenance:
            m.add_row(Text(r["client_number"]), Text(r["name"], overflow="ellipsis", no_wrap=True),
                      Text(fmt.day(r["oldest"])), Text(r["stale"], overflow="ellipsis", no_wrap=True),
                      key=r["client_number"])
        if message.deliveries is not None:
            d = self.query_one("#deliveries-table", DataTable)
            d.clear()
            for i, r in enumerate(message.deliveries):
                d.add_row(Text(r["client_number"]), Text(r["name"]), Text(r["coach"] or ""), Text(r["channel"]),
                          Text(r["reason"]), Text(str(r["failed"]), justify="right"), key=f"{r['client_number']}#{i}")
        self._counts = (getattr(self, "_counts", (0, 0))[0], len(message.maintenance))
        self._summary()

    def _summary(self) -> None:
        n, stale = self._counts
        text = Text(t("tui.day.summary", n=fmt.number(n)) if n else t("tui.attention.empty"),
                    style="bold" if n else "dim")
        if stale:
            text.append("  ·  " + t("tui.day.maintenance_count", n=fmt.number(stale)), "dim")
        self.query_one("#summary", Static).update(text)

    @staticmethod
    def _current(table: DataTable) -> str | None:
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _table(self) -> DataTable:
        active = self.query_one(TabbedContent).active
        return self.query_one({"today": "#attention", "maintenance": "#maintenance-table"}.get(active,
                                                                                               "#deliveries-table"),
                              DataTable)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self._open(event.data_table, event.row_key.value)

    def action_open(self) -> None:
        table = self._table()
        key = self._current(table)
        if key:
            self._open(table, key)

    def _open(self, table: DataTable, key: str) -> None:
        """A client here for a message, a follow-up or a failed delivery opens on the conversation."""
        number = key.split("#")[0]
        talk = table.id == "deliveries-table" or (table.id == "attention" and number in getattr(self, "_talk", ()))
        self.app.open_client(number, tab="timeline" if talk else None)

    def action_reload(self) -> None:
        self.load()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("handled", "snooze"):
            return self.query_one(TabbedContent).active == "today"
        return True

    def action_handled(self) -> None:
        number = self._current(self.query_one("#attention", DataTable))
        if number:
            self.mark(number, "handled", None)

    def action_snooze(self) -> None:
        number = self._current(self.query_one("#attention", DataTable))
        if number:
            def chosen(until: str | None) -> None:
                if until:
                    self.mark(number, "snoozed", until)
            self.app.push_screen(SnoozeScreen(number), chosen)

    @work(thread=True, group="mark")
    def mark(self, number: str, state: str, until: str | None) -> None:
        from ... import attention, followups, clock

        app = self.app
        with app.reported():
            store = app.store_here()
            day = None
            if until:
                day = followups.parse_due(until, clock.now().astimezone(store.tz).date())
            attention.mark(store, app.actor, number, state, until=day)
            text = t("attention.handled", number=number) if state == "handled" else \
                t("attention.snoozed", number=number, until=fmt.day(day.isoformat()))
            self.post_message(self.Marked(text))

    def on_attention_screen_marked(self, message: Marked) -> None:
        self.notify(message.text, markup=False)
        self.load()

    def action_calls(self) -> None:
        from .calls import CallsScreen

        self.app.push_screen(CallsScreen())
