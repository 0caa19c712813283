"""A dropdown that behaves like an input: letters typed into it search its options (they never
reach the app's one-letter keys), and opening it on no choice highlights the first real option,
so Enter on an open dropdown never picks the blank row."""

from textual import events
from textual.widgets import Select
from textual.widgets._select import SelectOverlay


class Choice(Select):
    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        return character is not None and character.isprintable() and character != " "

    def action_show_overlay(self) -> None:
        super().action_show_overlay()
        if self.value is self.NULL and len(self._options) > 1 and self._options[0][1] is self.NULL:
            self.query_one(SelectOverlay).select(1)

    async def _on_key(self, event: events.Key) -> None:
        if self.expanded or not event.is_printable or event.character in (None, " "):
            await super()._on_key(event)
            return
        event.stop()
        event.prevent_default()
        self.action_show_overlay()
        self.query_one(SelectOverlay).post_message(events.Key(event.key, event.character))
