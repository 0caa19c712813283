"""Key bindings whose descriptions are i18n keys ("tui.key.open"), translated for each
instance, so the footer, the help screen and the command palette speak the app's language.
Textual's own descriptions ("palette", "Dismiss menu") are looked up by their English text
(locale [textual]). The untranslated bindings are kept, so a switch of language translates
them again."""

from dataclasses import replace

from ..i18n import language, t, texts


def word(text: str) -> str:
    """One of Textual's own words in the app's language (itself when not listed)."""
    return texts(language()).get("textual." + text) or text if text else text


def _translated(b):
    if b.description.startswith("tui."):
        return replace(b, description=t(b.description), tooltip=t(b.tooltip) if b.tooltip else "")
    return replace(b, description=word(b.description), tooltip=word(b.tooltip))


def localize(node) -> None:
    """Translate the descriptions of a widget's, screen's or app's own bindings in place."""
    table = node._bindings.key_to_bindings
    original = node.__dict__.setdefault("_untranslated", {key: list(bs) for key, bs in table.items()})
    for key, bindings in table.items():  # bindings added since (Textual's palette binding)
        original.setdefault(key, list(bindings))
    node.help_keys = []  # our own bindings, for the help screen
    for key, bindings in original.items():
        table[key] = [_translated(b) for b in bindings]
        node.help_keys += [b for b, old in zip(table[key], bindings) if old.description.startswith("tui.")]


class Localized:
    """Mixin: translate BINDINGS when the node is made."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        localize(self)


class Fresh:
    """Mixin for a list screen with a `load()` worker: coming back to it from a client (or any
    other screen) loads it again, so what the coach did there shows at once."""

    def on_screen_suspend(self) -> None:
        self._away = True

    def on_screen_resume(self) -> None:
        if getattr(self, "_away", False):
            self._away = False
            self.load()
