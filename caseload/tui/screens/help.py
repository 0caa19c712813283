"""Help: the keys of the app and of the screen you came from, and the filter language."""

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...i18n import t
from ..keys import Localized


def _keys(node) -> list[tuple[str, str]]:
    out = []
    for b in getattr(node, "help_keys", []):
        if not node.check_action(b.action.split("(")[0], ()):  # not for this user (h, hand over, for a coach)
            continue
        entry = (node.app.get_key_display(b), b.description)
        if entry not in out:
            out.append(entry)
    return out


class HelpScreen(Localized, ModalScreen):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "tui.key.close")]

    def compose(self) -> ComposeResult:
        stack = [s for s in self.app.screen_stack if s is not self]
        below = stack[-1] if stack else None
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        sections = [(t("tui.help.keys_app"), _keys(self.app))]
        if below is not None and below is not self:
            own = _keys(below)
            for widget in below.query("*"):
                own += [k for k in _keys(widget) if k not in own]
            sections.insert(0, (t("tui.help.keys_screen"), own))
            taken = {key for key, _ in own}  # a screen's own key wins over the app's (Escape on a client)
            sections[-1] = (sections[-1][0], [k for k in sections[-1][1] if k[0] not in taken])
        for title, keys in sections:
            table.add_row(Text(title, style="underline"), "")
            for key, description in keys:
                table.add_row(Text(key), Text(description))
            table.add_row("", "")
        table.add_row(Text("ctrl+p"), Text(t("tui.help.palette")))
        with VerticalScroll(id="dialog"):
            yield Static(Text(t("tui.title.help"), style="bold"))
            yield Static(table)
            yield Static(Text(t("tui.help.filter")), id="filter-help")

    def action_dismiss(self) -> None:
        self.dismiss()
