"""The app and its one factory, `build_app`, used by `caseload tui`, the tests and the bench.

Every screen is a mode of its own (switching keeps each screen's state); a client opens on top
of the screen it was chosen from. Blocking work runs in thread workers: a sqlite3 connection
belongs to the thread that opened it, so each worker thread gets its own Store on the same
file (`store_here`), sharing config and catalog."""

import logging
import os
import sqlite3
import threading
from contextlib import contextmanager

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from .. import i18n
from ..errors import CaseloadError
from ..i18n import t
from ..store import Store
from ..db import open_db
from .keys import localize

log = logging.getLogger("caseload.tui")

DEBUG = os.environ.get("CASELOAD_DEBUG") == "1"
SCREENS = ("caseload", "attention", "inbox", "segments", "compose", "outbox", "reports", "offers")
ANALYST_SCREENS = ("reports",)
UI_LANGUAGES = ("nl", "en")  # the languages the coach's screens speak


class Problem(Message):
    """Something the user must hear about (a core error's message, never a traceback)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class CaseloadApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "caseload"
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # app.tcss lays out an 80-column terminal
    BINDINGS = [
        Binding("c", "go('caseload')", "tui.key.caseload"),
        Binding("a", "go('attention')", "tui.key.attention"),
        Binding("b", "go('inbox')", "tui.key.inbox"),
        Binding("s", "go('segments')", "tui.key.segments"),
        Binding("m", "go('compose')", "tui.key.compose"),
        Binding("o", "go('outbox')", "tui.key.outbox"),
        Binding("r", "go('reports')", "tui.key.reports"),
        Binding("i", "go('offers')", "tui.key.offers"),
        Binding("f1,question_mark", "help", "tui.key.help", key_display="F1"),
        Binding("f2", "language", "tui.language.key", show=False),
        Binding("q", "quit", "tui.key.quit"),
        Binding("escape", "leave_input", "tui.key.leave_input"),
    ]

    def __init__(self, store: Store, actor, start: str | None = None):
        super().__init__()
        localize(self)
        self.store = store
        self.actor = actor
        self.allowed = ANALYST_SCREENS if actor.role == "analyst" else SCREENS
        self.start = start if start in self.allowed else self.allowed[0]
        self._local = threading.local()
        self._main_thread = threading.get_ident()
        self._subtitle()
        for name in self.allowed:
            self.add_mode(name, _maker(name))

    def _subtitle(self) -> None:
        self.sub_title = t("tui.subtitle", organisation=self.store.config.organisation.name, user=self.actor.name,
                           role=t(f"tui.role.{self.actor.role}"))

    # -- data ---------------------------------------------------------------------------------
    def store_here(self) -> Store:
        """The store for the calling thread (workers get their own connection, opened once)."""
        if threading.get_ident() == self._main_thread:
            return self.store
        store = getattr(self._local, "store", None)
        if store is None:
            s = self.store
            store = Store(db=open_db(s.path), config=s.config, catalog=s.catalog, ids=s.ids, path=s.path)
            self._local.store = store
        return store

    @contextmanager
    def reported(self):
        """Inside a worker: a core error becomes one message to the user, never a traceback."""
        try:
            yield
        except CaseloadError as e:
            self.post_message(Problem(e.message))
        except sqlite3.Error as e:
            log.error("database error: %s", type(e).__name__, exc_info=DEBUG)
            self.post_message(Problem(t("cli.database_error", error=str(e))))
        except Exception as e:  # the last line of defence, as in the CLI: one line, never a traceback
            log.error("internal error: %s", type(e).__name__, exc_info=DEBUG)
            self.post_message(Problem(t("cli.internal_error", kind=type(e).__name__)))

    def on_problem(self, message: Problem) -> None:
        self.notify(message.text, severity="error", markup=False, timeout=8)

    # -- navigation ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.switch_mode(self.start)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "go" and parameters and parameters[0] not in self.allowed:
            return False
        if action == "leave_input":  # shown (and working) only while typing
            from textual.widgets import Input, Select, TextArea

            return isinstance(self.focused, (Input, Select, TextArea))
        return True

    def action_go(self, name: str) -> None:
        if name in self.allowed:
            self.switch_mode(name)

    def action_leave_input(self) -> None:
        """Escape leaves a text field or dropdown for the screen's HOME (its list), or for no
        widget at all, so that letters are keys again."""
        home = getattr(self.screen, "HOME", None)
        found = self.screen.query(home) if home else None
        self.screen.set_focus(found.first() if found else None)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_client(self, number: str, tab: str | None = None) -> None:
        """A client on top of this screen; `tab`: the tab to show first (timeline: the conversation)."""
        from .screens.client import ClientScreen

        if self.actor.role != "analyst":
            self.push_screen(ClientScreen(number, tab=tab))

    # -- language -------------------------------------------------------------------------------
    async def action_language(self, lang: str | None = None) -> None:
        """Speak another language from now on, without a restart: every screen is made again
        (the screen you are on, what its filters hold, its marked clients and the client you had
        open come back)."""
        from .screens.client import ClientScreen

        if lang is None:
            lang = UI_LANGUAGES[(UI_LANGUAGES.index(i18n.language()) + 1) % len(UI_LANGUAGES)]
        i18n.set_language(lang)
        client = next((s.number for s in reversed(self.screen_stack) if isinstance(s, ClientScreen)), None)
        current = self.current_mode
        typed, marked = self._typed(self._screen_stacks[current][0])
        self.add_mode("_language", Screen)
        await self.switch_mode("_language")
        for name in self.allowed:
            await self.remove_mode(name)
            self.add_mode(name, _maker(name))
        localize(self)
        self._subtitle()
        await self.switch_mode(current)
        await self.remove_mode("_language")
        self._retype(self._screen_stacks[current][0], typed, marked)
        if client is not None:
            self.open_client(client)
        self.notify(t("tui.language.switched", name=t(f"tui.language.name.{lang}")), markup=False)

    @staticmethod
    def _typed(screen) -> tuple[list[str], set[str]]:
        """What a screen's filter fields hold and which clients are marked (kept across F2)."""
        from .widgets.client_table import ClientTable
        from .widgets.filter_bar import FilterBar

        tables = screen.query(ClientTable)
        return [bar.value for bar in screen.query(FilterBar)], set(tables.first().marked) if tables else set()

    def _retype(self, screen, typed: list[str], marked: set[str]) -> None:
        from .widgets.client_table import ClientTable
        from .widgets.filter_bar import FilterBar

        def again() -> None:
            for bar, value in zip(screen.query(FilterBar), typed):
                if value and not bar.value:
                    bar.value = value
            tables = screen.query(ClientTable)
            if tables and marked:
                tables.first().marked |= marked
                tables.first().refresh()

        self.call_after_refresh(again)

    # -- the command palette --------------------------------------------------------------------
    def action_command_palette(self) -> None:
        from .screens.palette import Palette

        if self.use_command_palette and not Palette.is_open(self):
            self.push_screen(Palette(id="--command-palette"))

    def search_themes(self) -> None:
        from textual.theme import ThemeProvider

        from .screens.palette import Palette

        self.push_screen(Palette(providers=[ThemeProvider], placeholder=t("tui.palette.themes")))

    def get_system_commands(self, screen):
        for name in self.allowed:
            yield SystemCommand(t(f"tui.title.{name}"), t(f"tui.help.{name}"), lambda n=name: self.action_go(n))
        yield SystemCommand(t("tui.key.help"), t("tui.help.help"), self.action_help)
        for lang in UI_LANGUAGES:
            if lang != i18n.language():
                name = t(f"tui.language.name.{lang}")
                yield SystemCommand(t("tui.language.command", name=name), t("tui.language.help", name=name),
                                    lambda lang=lang: self.run_action(f"language({lang!r})"))
        yield SystemCommand(t("tui.palette.theme"), t("tui.palette.theme_help"), self.action_change_theme)
        yield SystemCommand(t("tui.key.quit"), t("tui.help.quit"), self.exit)


def _maker(name: str):
    """A screen's factory that imports its module only when the screen is first shown."""
    module, cls = {"caseload": ("caseload", "CaseloadScreen"), "attention": ("attention", "AttentionScreen"),
                   "inbox": ("inbox", "InboxScreen"),
                   "segments": ("segment_builder", "SegmentBuilderScreen"), "compose": ("compose", "ComposeScreen"),
                   "outbox": ("outbox", "OutboxScreen"), "reports": ("reports", "ReportsScreen"),
                   "offers": ("offers", "OffersScreen")}[name]

    def make():
        from importlib import import_module

        return getattr(import_module(f"caseload.tui.screens.{module}"), cls)()

    return make


def build_app(store: Store, actor, lang: str | None = None, start: str | None = None) -> CaseloadApp:
    """The TUI for this store and user. lang: nl or en (default: the language already set)."""
    if lang:
        i18n.set_language(lang)
    return CaseloadApp(store, actor, start=start)
