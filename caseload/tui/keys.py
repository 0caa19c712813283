"""Key bindings whose descriptions are i18n keys ("tui.key.open"), translated for each
instance, so the footer, the help screen and the command palette speak the app's language."""

from dataclasses import replace

from ..i18n import t


def localize(node) -> None:
    """Translate the descriptions of a widget's, screen's or app's own bindings in place."""
    table = node._bindings.key_to_bindings
    node.help_keys = []  # our own bindings, for the help screen
    for key, bindings in table.items():
        table[key] = [replace(b, description=t(b.description), tooltip=t(b.tooltip) if b.tooltip else "")
                      if b.description.startswith("tui.") else b for b in bindings]
        node.help_keys += [b for b, old in zip(table[key], bindings) if old.description.startswith("tui.")]


class Localized:
    """Mixin: translate BINDINGS when the node is made."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        localize(self)
