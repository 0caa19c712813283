"""The Aanbod screen with Pilot: the items with their state and counts, one in full, add one
through the form (a bad one refused naming each bad field), change it, expire it after a
confirmation; in Dutch throughout; not for analysts."""

import pytest
from textual.widgets import DataTable, Input, Select

from caseload import access, items
from caseload.config import load_config
from caseload.store import open_store
from caseload.tui.app import build_app
from caseload.tui.screens.confirm import ConfirmScreen
from caseload.tui.screens.offers import OffersScreen
from caseload.tui.screens.reports import ReportsScreen
from tui_fixture import database, frozen, screen_text, settle

SIZE = (160, 50)
ADMIN = access.Actor("admin", "admin")
pytestmark = pytest.mark.anyio


@pytest.fixture
def tui_store(tmp_path):
    with frozen():
        s = open_store(load_config(None), database(tmp_path))
        items.add(s, ADMIN, {"key": "zorg1", "kind": "vacancy", "title": "Zorgmedewerker Hengelo",
                             "url": "https://werk.example/zorg1", "tags": "zorg, parttime", "text": "[bold]32 uur[/]"})
        items.add(s, ADMIN, {"key": "old", "kind": "news", "title": "Banenmarkt", "url": "https://werk.example/old",
                             "valid_until": "2025-01-31"})
        yield s
        s.close()


async def test_list_show_add_change_and_expire_items_in_dutch(tui_store):
    coach = access.resolve_actor(tui_store.db, "anna", interface="tui")
    app = build_app(tui_store, coach, lang="nl", start="caseload")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, OffersScreen)
        table = app.screen.query_one("#items", DataTable)
        assert [k.value for k in table.rows] == ["old", "zorg1"]
        text = screen_text(app)
        assert "Aanbod" in text and "Sleutel" in text and "geldigheid voorbij" in text
        table.focus()
        await pilot.press("down")
        await settle(pilot)
        text = screen_text(app)
        assert "Zorgmedewerker Hengelo" in text and "[bold]32 uur[/]" in text  # markup shown as text
        # a bad item: every bad field named, nothing written
        await pilot.press("n")
        await settle(pilot)
        assert app.focused is app.screen.query_one("#f-key", Input)
        app.screen.query_one("#f-key", Input).value = "bouw1"
        app.screen.query_one("#f-url", Input).value = "javascript:alert(1)"
        await pilot.press("enter")
        await settle(pilot)
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert errors and "url" in errors[-1] and "title" in errors[-1] and "kind" in errors[-1]
        assert tui_store.db.execute("SELECT COUNT(*) FROM items WHERE key = 'bouw1'").fetchone()[0] == 0
        # a good one
        app.screen.query_one("#f-title", Input).value = "Bouwhulp"
        app.screen.query_one("#f-url", Input).value = "https://werk.example/bouw1"
        app.screen.query_one("#f-tags", Input).value = "bouw, fulltime"
        app.screen.query_one("#f-kind", Select).value = "vacancy"
        app.screen.query_one("#f-title", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        saved = items.get(tui_store, "bouw1")
        assert saved["title"] == "Bouwhulp" and saved["tags"] == ["bouw", "fulltime"] and saved["owner"] == "anna"
        assert [k.value for k in table.rows] == ["bouw1", "old", "zorg1"]
        # change it: e fills the form from the chosen item
        table.focus()
        table.move_cursor(row=0)
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        title = app.screen.query_one("#f-title", Input)
        assert title.value == "Bouwhulp" and app.screen.query_one("#f-kind", Select).value == "vacancy"
        title.value = "Bouwhulp Enschede"
        await pilot.press("enter")
        await settle(pilot)
        assert items.get(tui_store, "bouw1")["title"] == "Bouwhulp Enschede"
        # expire it, after a confirmation
        table.focus()
        table.move_cursor(row=0)
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert items.show(tui_store, coach, "bouw1")["state"] == "expired"
        # another coach's item is not theirs to change
        table.move_cursor(row=2)
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert items.show(tui_store, coach, "zorg1")["state"] == "active"
        assert any(n.severity == "error" for n in app._notifications)


async def test_analysts_have_no_offers_screen(tui_store):
    analyst = access.resolve_actor(tui_store.db, "ana", interface="tui")
    app = build_app(tui_store, analyst, lang="nl", start="offers")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, ReportsScreen)
