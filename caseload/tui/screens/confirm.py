"""A yes/no question before something that cannot be taken back (queueing, outflow, cancel)."""

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...i18n import t
from ..keys import Localized


class ConfirmScreen(Localized, ModalScreen[bool]):
    BINDINGS = [Binding("escape", "answer(False)", "tui.key.cancel"),
                Binding("y,j", "answer(True)", "tui.key.yes", show=False)]

    def __init__(self, question: str, yes: str | None = None):
        super().__init__()
        self.question = question
        self.yes = yes or t("tui.yes")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.question), id="question")
            with Horizontal(id="buttons"):
                yield Button(self.yes, variant="primary", id="yes")
                yield Button(t("tui.no"), id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
