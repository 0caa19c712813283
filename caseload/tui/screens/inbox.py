"""The inbox: unread replies from the clients you may see, newest first, urgent words in red;
enter opens the client's conversation (which reads them), l marks a client's replies read."""

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from ...i18n import t
from .. import format as fmt
from ..keys import Fresh, Localized
from ..widgets.footer import KeyFooter


class InboxScreen(Fresh, Localized, Screen):
    BINDINGS = [Binding("f5", "reload", "tui.key.reload"),
                Binding("enter", "open", "tui.key.open", show=True),
                Binding("l", "mark_read", "tui.key.mark_read")]

    class Loaded(Message):
        def __init__(self, rows: list) -> None:
            super().__init__()
            self.rows = rows

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(t("tui.loading"), style="dim"), id="summary")
        yield DataTable(id="inbox", cursor_type="row", zebra_stripes=True)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.inbox")
        width = max(self.app.size.width, 60)
        table = self.query_one(DataTable)
        name = 20 if width >= 120 else 14
        table.add_column(t("tui.day.received"), width=16)
        table.add_column(t("tui.col.number"), width=7)
        table.add_column(t("tui.col.name"), width=name)
        table.add_column(t("tui.day.message"), width=max(width - 16 - 7 - name - 10, 20))
        table.focus()
        self.load()

    @work(thread=True, exclusive=True, group="inbox")
    def load(self) -> None:
        from ... import conversations

        app = self.app
        with app.reported():
            self.post_message(self.Loaded(conversations.inbox(app.store_here(), app.actor)))

    def on_inbox_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        seen = set()
        tz = self.app.store.tz
        for r in message.rows:
            text = Text(no_wrap=True, overflow="ellipsis")
            if r["urgent"]:
                text.append(", ".join(r["urgent"]) + ": ", "bold red")
            text.append(r["snippet"])
            key = r["client_number"] if r["client_number"] not in seen else f"{r['client_number']}#{r['id']}"
            seen.add(r["client_number"])
            table.add_row(Text(fmt.moment(r["received_at"], tz)), Text(r["client_number"]),
                          Text(r["name"], overflow="ellipsis", no_wrap=True), text, key=key)
        n = len(message.rows)
        self.query_one("#summary", Static).update(
            Text(t("tui.day.inbox_summary", n=fmt.number(n)) if n else t("tui.day.inbox_empty"),
                 style="bold" if n else "dim"))

    def _current(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value.split("#")[0]

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.app.open_client(event.row_key.value.split("#")[0], tab="timeline")

    def action_open(self) -> None:
        number = self._current()
        if number:
            self.app.open_client(number, tab="timeline")

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, group="read")
    def action_mark_read(self) -> None:
        from ... import conversations

        number = self.app.call_from_thread(self._current)
        if number is None:
            return
        app = self.app
        with app.reported():
            n = conversations.mark_read(app.store_here(), app.actor, number)
            app.call_from_thread(self.notify, t("conversation.read", n=n), markup=False)
            app.call_from_thread(self.load)
