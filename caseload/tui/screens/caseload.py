"""The caseload: the clients you may see, with wellbeing and its trend, last activity and why
they need attention; a filter bar (`/`) that takes a segment expression; sortable. Rows are
marked with space; the marked clients, else the filtered ones, are messaged, tagged or handed
over together (screens/many.py)."""

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Key
from textual.screen import Screen
from textual.widgets import Header

from ...i18n import t
from ..keys import Localized
from ..widgets.client_table import ClientTable
from ..widgets.filter_bar import FilterBar
from ..widgets.footer import KeyFooter
from .many import Many


RELOAD_AFTER = 0.15  # seconds of quiet in the filter bar before the table reloads


class CaseloadScreen(Many, Localized, Screen):
    HOME = "#clients"  # where Escape leaves an input for
    BINDINGS = [
        Binding("m", "compose_these", "tui.key.compose_these"),
        Binding("slash", "filter", "tui.key.filter", key_display="/"),
        Binding("space", "mark", "tui.key.mark", key_display="␣"),
        Binding("ctrl+s", "save_segment", "tui.key.save_segment", show=False),
        Binding("v", "tag", "tui.key.tag", show=False),
        Binding("h", "reassign", "tui.key.reassign", show=False),
        Binding("n", "sort('name')", "tui.key.sort_name", show=False),
        Binding("w", "sort('wellbeing')", "tui.key.sort_wellbeing"),
        Binding("l", "sort('last_activity')", "tui.key.sort_activity", show=False),
        Binding("k", "sort('client_number')", "tui.key.sort_number", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar(id="filter")
        yield ClientTable(show_coach=self.app.actor.role != "coach", id="clients")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.caseload")
        table = self.query_one(ClientTable)
        table.set_query("1", [])
        table.focus()

    @property
    def table(self) -> ClientTable:
        return self.query_one(ClientTable)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "reassign":  # handing clients over is for team leads and admins
            return self.app.actor.role in ("teamlead", "admin")
        return True

    _reload = None

    @on(FilterBar.Applied)
    def _applied(self, event: FilterBar.Applied) -> None:
        """The count shows at once; the rows follow when typing pauses (no page query per key)."""
        table = self.table
        if self._reload is not None:
            self._reload.stop()
            self._reload = None
        if (event.where, list(event.params)) == (table.where, table.params):
            table.set_total(event.count)
            return
        def reload() -> None:
            self._reload = None
            table.set_query(event.where, event.params, total=event.count)

        self._reload = self.set_timer(RELOAD_AFTER, reload)

    @on(FilterBar.Left)
    def _left(self) -> None:
        self.table.focus()

    @on(ClientTable.Opened)
    def _opened(self, event: ClientTable.Opened) -> None:
        self.app.open_client(event.number)

    @on(ClientTable.SortWanted)
    def _sort_wanted(self, event: ClientTable.SortWanted) -> None:
        self.action_sort(event.sort)

    def on_key(self, event: Key) -> None:
        """A character that is no key here starts the filter: typing `debts = ja` on the list
        filters instead of firing the one-letter keys that follow."""
        if self.focused is not self.table or not event.is_printable or not event.character \
                or event.character == " " or event.key in self.active_bindings:
            return
        event.stop()
        bar = self.query_one(FilterBar)
        bar.focus()
        bar.value = bar.value + event.character

    def action_filter(self) -> None:
        self.query_one(FilterBar).focus()

    def action_sort(self, key: str) -> None:
        table = self.table
        descending = not table.descending if key == table.sort else False
        table.set_query(table.where, table.params, sort=key, descending=descending, total=table.total)
