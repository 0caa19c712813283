"""The call list: clients who prefer phone, each with the question to ask; a digit records the
answer of the highlighted client (the answer with that number), enter opens the client."""

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from ...i18n import t
from .. import format as fmt
from ..keys import Localized
from ..widgets.footer import KeyFooter


class CallsScreen(Localized, Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "tui.key.back"),
                Binding("f5", "reload", "tui.key.reload"),
                Binding("enter", "open", "tui.key.open", show=True),
                *(Binding(str(n), f"answer({n})", "tui.key.answer", show=n == 1, key_display="1-9")
                  for n in range(1, 10))]

    class Loaded(Message):
        def __init__(self, calls: list) -> None:
            super().__init__()
            self.calls = calls

    class Recorded(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(t("tui.loading"), style="dim"), id="summary")
        yield DataTable(id="calls", cursor_type="row", zebra_stripes=True)
        yield Static("", id="answers")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.calls")
        table = self.query_one(DataTable)
        table.add_column(t("tui.col.number"), width=8)
        table.add_column(t("tui.col.name"), width=26)
        table.add_column(t("tui.calls.phone"), width=14)
        table.add_column(t("tui.calls.question"), width=80)
        table.focus()
        self.load()

    @work(thread=True, exclusive=True, group="calls")
    def load(self) -> None:
        from ...calls import call_list

        app = self.app
        with app.reported():
            self.post_message(self.Loaded(call_list(app.store_here(), app.actor)))

    def on_calls_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        self.calls = {c.client_number: c for c in message.calls}
        for c in message.calls:
            table.add_row(Text(c.client_number), Text(c.name), Text(c.phone or ""), Text(c.question),
                          key=c.client_number)
        if message.calls:
            table.move_cursor(row=min(row, len(message.calls) - 1))
        summary = t("tui.calls.summary", n=fmt.number(len(message.calls))) if message.calls else t("calls.empty")
        self.query_one("#summary", Static).update(Text(summary, style="bold" if message.calls else "dim"))
        self._show_answers()

    def _current(self):
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return self.calls.get(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _show_answers(self) -> None:
        c = self._current()
        text = "" if c is None else "  ".join(f"{n} {label}" for n, (_, label) in enumerate(c.options, 1))
        self.query_one("#answers", Static).update(Text(text))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_answers()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.app.open_client(event.row_key.value)

    def action_open(self) -> None:
        c = self._current()
        if c is not None:
            self.app.open_client(c.client_number)

    def action_answer(self, n: int) -> None:
        c = self._current()
        if c is not None and 1 <= n <= len(c.options):
            self.record(c.client_number, c.options[n - 1][0])

    @work(thread=True, exclusive=True, group="calls-record")
    def record(self, number: str, value: str) -> None:
        from ...calls import record

        app = self.app
        with app.reported():
            out = record(app.store_here(), app.actor, number, value)
            self.post_message(self.Recorded(t("calls.recorded", characteristic=out["characteristic"],
                                              value=out["value"], number=out["client_number"])))

    def on_calls_screen_recorded(self, message: Recorded) -> None:
        self.notify(message.text, markup=False)
        self.load()

    def action_reload(self) -> None:
        self.load()
