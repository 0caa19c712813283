"""The footer: the keys that matter, always in the width there is.

Textual's Footer lays every shown key out in a row that scrolls sideways: at 80 columns the
app's own keys (m, o, r, F1, q) fell off the end, and the command palette key, docked over the
row, let a character of the hidden keys show beside it (`^p palettee`). This footer chooses
what to show for its width: the app's keys always (at narrow widths the screen keys are only
their letters, "c a s m o r Schermen"), then the screen's keys in order while they fit, then
the palette key if there is room. It is recomposed only when that choice changes (the stock
Footer rebuilt itself six times while the caseload screen started, ~25 ms each), and it speaks
the app's language also for the keys of Textual's own widgets (a Select's open menu)."""

from rich.cells import cell_len
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel, KeyGroup

from ...i18n import t
from ..keys import word

WIDE = 120  # from this width the screen keys are shown with their names


class KeyFooter(Footer):
    DEFAULT_CSS = """
    KeyFooter { overflow-x: hidden; }
    KeyFooter.-compact KeyGroup.-screens { margin: 0; padding: 0; width: auto; }
    KeyFooter.-compact KeyGroup.-screens FooterKey.-grouped { margin: 0 1 0 0; }
    KeyFooter.-compact FooterLabel { margin: 0 1 0 0; }
    """
    _shown: tuple | None = None

    def __init__(self, **kwargs):
        kwargs.setdefault("compact", True)
        super().__init__(**kwargs)

    def _plan(self, screen) -> tuple:
        """What to show: (screen keys, app keys, screen-switch keys, palette key or None)."""
        width = self.app.size.width
        own, app_keys, switch, seen = [], [], [], set()
        for node, b, enabled, tooltip in screen.active_bindings.values():
            if not b.show or (node, b.action) in seen:  # "f1,question_mark": one key shown
                continue
            seen.add((node, b.action))
            item = (b.key, self.app.get_key_display(b), b.description, b.action, enabled, tooltip)
            if node is self.app:
                (switch if b.action.startswith("go(") else app_keys).append(item)
            else:
                own.append(item)
        wide = width >= WIDE

        def size(item, named=True) -> int:
            return cell_len(item[1]) + (1 + cell_len(item[2]) if named else 0) + 1

        used = sum(size(i) for i in app_keys)
        used += sum(size(i) for i in switch) if wide else sum(size(i, False) for i in switch) + \
            cell_len(t("tui.footer.screens")) + 1
        shown = []
        for item in own:
            if used + size(item) > width - 1:
                break
            shown.append(item)
            used += size(item)
        palette = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _, b, enabled, tooltip = found
                item = (b.key, self.app.get_key_display(b), b.description, b.action, enabled, tooltip)
                if used + size(item) + 2 <= width:
                    palette = item
        return tuple(shown), tuple(app_keys), tuple(switch), palette, wide

    def compose(self):
        if not self._bindings_ready:
            return
        own, app_keys, switch, palette, wide = self._plan(self.screen)

        def key(item, named=True, classes=""):
            k, display, description, action, enabled, tooltip = item
            description = word(description)  # Textual's own widgets' keys in the app's language too
            return FooterKey(k, display, description if named else "", action, disabled=not enabled,
                             tooltip=tooltip or (description if not named else ""),
                             classes=classes).data_bind(compact=Footer.compact)

        for item in own:
            yield key(item)
        if wide:
            for item in switch:
                yield key(item)
        elif switch:
            with KeyGroup(classes="-screens"):
                for item in switch:
                    yield key(item, named=False, classes="-grouped")
            yield FooterLabel(t("tui.footer.screens"))
        for item in app_keys:
            yield key(item)
        if palette is not None:
            yield key(palette, classes="-command-palette")

    def _signature(self, screen) -> tuple:
        return self._plan(screen), self.compact

    def bindings_changed(self, screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = self._signature(screen)
            if shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)

    def on_resize(self) -> None:
        if self.is_attached and self._bindings_ready:
            self.bindings_changed(self.screen)
