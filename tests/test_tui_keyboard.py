"""A keyboard that never traps, at 80x24 and at 160x50: each screen opens with focus where
typing belongs, a whole segment typed there arrives and changes no screen, Escape leaves any
input, every key the help (F1) names does what it says, Enter on an open dropdown never picks
the blank row, and the footer keeps the app's keys."""

import pytest
from textual.widgets import DataTable, Input, Select
from textual.widgets._footer import FooterKey

from caseload import access, segments
from caseload.tui.app import build_app
from caseload.tui.screens.caseload import CaseloadScreen
from caseload.tui.screens.client import ClientScreen
from caseload.tui.screens.compose import ComposeScreen
from caseload.tui.screens.reports import ReportsScreen
from caseload.tui.screens.segment_builder import SegmentBuilderScreen
from caseload.tui.widgets.client_table import ClientTable
from caseload.tui.widgets.filter_bar import FilterBar
from tui_fixture import MARKUP_NUMBER, coach_of_markup_client, screen_text, settle

pytestmark = pytest.mark.anyio
SEGMENT = "debts = ja and wellbeing <= 2"


@pytest.fixture
def coach(tui_store):
    return access.resolve_actor(tui_store.db, coach_of_markup_client(tui_store), interface="tui")


async def type_in(pilot, text: str) -> None:
    for ch in text:
        await pilot.press(ch if ch != " " else "space")


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_a_whole_segment_typed_on_each_screen_arrives_and_changes_no_screen(tui_store, coach, size):
    app = build_app(tui_store, coach, lang="nl")
    expected = segments.count(tui_store, coach, "debts = true and wellbeing <= 2")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        # the caseload: through "/", and straight from the list (a character that is no key starts the filter)
        for opener in ("slash", None):
            app.screen.query_one(FilterBar).value = ""
            app.screen.query_one(ClientTable).focus()
            if opener:
                await pilot.press(opener)
            await type_in(pilot, SEGMENT)
            await settle(pilot)
            assert isinstance(app.screen, CaseloadScreen)
            assert app.screen.query_one(FilterBar).value == SEGMENT
            assert app.screen.query_one(ClientTable).total == expected
        for name, kind in (("compose", ComposeScreen), ("segments", SegmentBuilderScreen), ("reports", ReportsScreen)):
            await pilot.press("escape", {"compose": "m", "segments": "s", "reports": "r"}[name])
            await settle(pilot)
            assert isinstance(app.screen, kind)
            bar = app.screen.query(FilterBar).first()
            assert app.focused is bar.input, f"{name} opens with focus in {app.focused!r}"
            if name == "compose":  # m carried the caseload's filter here; type it again into an empty field
                assert bar.value == SEGMENT
                bar.value = ""
            await type_in(pilot, SEGMENT)
            await settle(pilot)
            assert isinstance(app.screen, kind), f"typing on {name} changed the screen"
            assert bar.value == SEGMENT
            assert bar.valid is not None and bar.valid.text == SEGMENT
            if name == "segments":
                assert bar.valid.count == expected
        await pilot.press("enter")  # on reports: the segment's outflow too
        await settle(pilot)
        assert "Selectie debts = ja and wellbeing <= 2:" in screen_text(app).replace("\n ", " ")


async def test_escape_leaves_every_input_of_the_segment_builder(tui_store, coach):
    app = build_app(tui_store, coach, lang="en", start="segments")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        for selector in ("#value", "#name", "#description", "#expression Input", "#subject"):
            screen.query_one(selector).focus()
            await pilot.press("escape")
            assert app.focused is screen.query_one("#saved", DataTable), selector
        await pilot.press("c")  # letters are keys again
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)


async def test_letters_in_a_dropdown_search_it_and_enter_never_picks_the_blank_row(tui_store, coach):
    app = build_app(tui_store, coach, lang="nl", start="reports")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        key = app.screen.query_one("#outflow-key", Select)
        key.focus()
        await type_in(pilot, "schulden")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportsScreen) and key.value == "debts"
        await pilot.press("escape", "m")
        await settle(pilot)
        template = app.screen.query_one("#template", Select)
        assert template.value is Select.NULL
        template.focus()
        await pilot.press("enter", "enter")  # open, choose
        assert template.value == "checkin"


def _first_binding(screen, key: str):
    for node, bindings in screen._modal_binding_chain:
        found = bindings.key_to_bindings.get(key)
        if found:
            if isinstance(node, DataTable) and found[0].action == "select_cursor":
                return screen, "open"  # the screen opens the row the table selects
            return node, found[0].action
    return None


async def test_every_key_in_the_help_does_what_the_help_says(tui_store, coach):
    app = build_app(tui_store, coach, lang="nl")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        seen = []
        for name in ("caseload", "attention", "segments", "compose", "outbox", "reports", "client"):
            if name == "client":
                app.open_client(MARKUP_NUMBER)
            else:
                app.action_go(name)
            await settle(pilot)
            screen = app.screen
            if name in ("segments", "compose", "reports"):
                await pilot.press("escape")  # the keys hold once the typing is done
            own = {b.key for b in screen.help_keys}
            for node in [screen, app]:
                for b in node.help_keys:
                    if node is app and b.key in own:
                        continue  # the help shows the screen's own key (tested above)
                    if b.action == "leave_input":
                        continue  # only while typing
                    assert _first_binding(screen, b.key) == (node, b.action), (name, b.key, b.description)
                    seen.append(b.key)
            for widget in screen.query("*"):
                for b in getattr(widget, "help_keys", []):
                    target = widget.input if isinstance(widget, FilterBar) else widget
                    target.focus()
                    await pilot.pause()
                    assert _first_binding(screen, b.key) == (widget, b.action), (name, b.key, b.description)
        assert "k" in seen and "q" in seen
        # k: "Op nummer" sorts by number, also with the list focused
        app.action_go("caseload")
        await settle(pilot)
        app.screen.query_one(ClientTable).focus()
        await pilot.press("k")
        await settle(pilot)
        assert app.screen.query_one(ClientTable).sort == "client_number"


@pytest.mark.parametrize("start", ["caseload", "compose"])
async def test_the_footer_keeps_the_app_keys_at_80_columns(tui_store, coach, start):
    app = build_app(tui_store, coach, lang="nl", start=start)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        if start == "compose":
            assert isinstance(app.focused, Input)
            assert "escape" in {k.key for k in app.screen.query(FooterKey)}  # while typing: how to stop
            await pilot.press("escape")
            await settle(pilot)
        keys = {k.key for k in app.screen.query(FooterKey)}
        assert {"c", "a", "s", "m", "o", "r", "f1", "q"} <= keys
        footer = screen_text(app).splitlines()[-1]
        assert "F1 Hulp" in footer and "q Afsluiten" in footer
        assert footer.rstrip().endswith(("Afsluiten", "opdrachten"))  # nothing cut or stray at the edge
