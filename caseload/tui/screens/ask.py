"""A small form in a dialog: one dropdown and/or one text field, answered with Enter or the
button, cancelled with Escape (saving a filter as a segment, tagging or handing over many)."""

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from ...i18n import t
from ..keys import Localized
from ..widgets.choice import Choice


class AskScreen(Localized, ModalScreen[dict | None]):
    """Answers {"choice": value or None, "text": str}, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "tui.key.cancel")]

    def __init__(self, question: str, ok: str, options: list | None = None, prompt: str = "",
                 placeholder: str = "", text: bool = True):
        super().__init__()
        self.question, self.ok, self.options, self.prompt = question, ok, options, prompt
        self.placeholder, self.text = placeholder, text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.question), id="question")
            if self.options is not None:
                yield Choice(self.options, prompt=self.prompt, id="ask-choice")
            if self.text:
                yield Input(placeholder=self.placeholder, id="ask-text")
            with Horizontal(id="buttons"):
                yield Button(self.ok, variant="primary", id="ok")
                yield Button(t("tui.no"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#ask-choice" if self.options is not None else "#ask-text").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._answer()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.query_one("#ask-text" if self.text else "#ok").focus()

    def _answer(self) -> None:
        choice = self.query_one("#ask-choice", Select).value if self.options is not None else None
        text = self.query_one("#ask-text", Input).value.strip() if self.text else None
        missing = "#ask-choice" if choice is Select.NULL else "#ask-text" if text == "" else None
        if missing:  # nothing half-answered: stay, and say what is still empty
            self.query_one(missing).focus()
            self.notify(t("tui.ask.incomplete"), severity="warning")
            return
        self.dismiss({"choice": None if choice is Select.NULL else choice,
                      "text": self.query_one("#ask-text", Input).value.strip() if self.text else ""})

    def action_cancel(self) -> None:
        if isinstance(self.focused, Select) and self.focused.expanded:
            return
        self.dismiss(None)
