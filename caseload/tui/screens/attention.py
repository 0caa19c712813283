"""The attention list: who needs you today and why, most urgent first; enter opens the client."""

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


class AttentionScreen(Localized, Screen):
    BINDINGS = [Binding("f5", "reload", "tui.key.reload"),
                Binding("enter", "open", "tui.key.open", show=True)]

    class Loaded(Message):
        def __init__(self, rows: list) -> None:
            super().__init__()
            self.rows = rows

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(t("tui.loading"), style="dim"), id="summary")
        yield DataTable(id="attention", cursor_type="row", zebra_stripes=True)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.attention")
        table = self.query_one(DataTable)
        table.add_column(t("tui.col.number"), width=8)
        table.add_column(t("tui.col.name"), width=30)
        if self.app.actor.role != "coach":
            table.add_column(t("tui.col.coach"), width=14)
        table.add_column(t("reports.col.score"), width=6)
        table.add_column(t("reports.col.why"), width=90)
        table.focus()
        self.load()

    @work(thread=True, exclusive=True, group="attention")
    def load(self) -> None:
        from ...reports import attention_list

        app = self.app
        with app.reported():
            self.post_message(self.Loaded(attention_list(app.store_here(), app.actor)))

    def on_attention_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        rows = sorted(message.rows, key=lambda r: (-r["score"], r["client_number"]))
        for r in rows:
            cells = [Text(r["client_number"]), Text(r["name"])]
            if self.app.actor.role != "coach":
                cells.append(Text(r["coach"] or ""))
            why = "; ".join(t(f"reports.signal.{x['signal']}") + (f" ({x['detail']})" if x["detail"] else "")
                            for x in r["reasons"])
            table.add_row(*cells, Text(str(r["score"]), justify="right"), Text(why), key=r["client_number"])
        summary = t("tui.attention.summary", n=fmt.number(len(rows))) if rows else t("tui.attention.empty")
        self.query_one("#summary", Static).update(Text(summary, style="bold" if rows else "dim"))

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.app.open_client(event.row_key.value)

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self.app.open_client(key)

    def action_reload(self) -> None:
        self.load()
