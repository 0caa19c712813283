"""Textual's Footer, recomposed only when the keys it shows change, and speaking the app's
language also for the keys of Textual's own widgets (a Select's open menu: "esc Menu sluiten").

The stock Footer rebuilds all its keys on every bindings update; while the caseload screen
starts, focus moves and widgets mount six times with the same visible keys, and each rebuild
restyles a dozen widgets (measured: ~25 ms each, 130 ms of the start)."""

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from ..keys import word


class KeyFooter(Footer):
    _shown: tuple | None = None

    def _signature(self, screen) -> tuple:
        keys = tuple((b.key, b.action, b.description, enabled, tooltip)
                     for (_, b, enabled, tooltip) in screen.active_bindings.values() if b.show)
        return keys, self.compact

    def bindings_changed(self, screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = self._signature(screen)
            if shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)

    def compose(self):
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.description = word(widget.description)
            yield widget
