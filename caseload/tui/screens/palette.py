"""Textual's command palette in the app's language: its placeholder and its "no matches" line
(textual is pinned, tests/test_tui_language.py opens it in Dutch)."""

from rich.align import Align
from rich.text import Text
from textual.command import CommandList, CommandPalette
from textual.widgets.option_list import Option

from ...i18n import t


class Palette(CommandPalette):
    def __init__(self, placeholder: str | None = None, **kwargs):
        super().__init__(placeholder=placeholder or t("tui.palette.search"), **kwargs)

    def _start_no_matches_countdown(self, search_value: str) -> None:
        self._stop_no_matches_countdown()

        def show() -> None:
            if search_value:
                self.query_one(CommandList).add_option(
                    Option(Align.center(Text(t("tui.palette.no_matches"), style="not bold")), disabled=True,
                           id=self._NO_MATCHES))
            self._list_visible = bool(search_value)

        self._no_matches_timer = self.set_timer(self._NO_MATCHES_COUNTDOWN, show)
