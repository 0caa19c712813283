"""Working on many from the caseload: mark rows and message them or record one characteristic
for them (asked first, all or nothing); the filter goes with m into compose and is saved as a
segment with ctrl+s; a team lead hands a coach's clients over."""

import pytest
from textual.widgets import Input, Select

from caseload import access, clients, segments
from caseload.tui.app import build_app
from caseload.tui.screens.ask import AskScreen
from caseload.tui.screens.compose import ComposeScreen
from caseload.tui.screens.confirm import ConfirmScreen
from caseload.tui.widgets.client_table import ClientTable
from caseload.tui.widgets.filter_bar import FilterBar
from tui_fixture import coach_of_markup_client, screen_text, settle

pytestmark = pytest.mark.anyio
SIZE = (80, 24)


@pytest.fixture
def coach(tui_store):
    return access.resolve_actor(tui_store.db, coach_of_markup_client(tui_store), interface="tui")


async def test_marked_rows_and_the_filter_go_into_compose(tui_store, coach):
    app = build_app(tui_store, coach, lang="nl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ClientTable)
        first, second = table.row(0).client_number, table.row(1).client_number
        await pilot.press("space", "space", "m")
        await settle(pilot)
        assert isinstance(app.screen, ComposeScreen)
        bar = app.screen.query_one(FilterBar)
        assert bar.value == f'client_number in ("{first}", "{second}")' and bar.valid.count == 2
        await pilot.press("escape", "c")
        await settle(pilot)
        table.marked.clear()
        await pilot.press("slash")
        for ch in "wellbeing <= 2":
            await pilot.press(ch if ch != " " else "space")
        await pilot.press("escape", "m")
        await settle(pilot)
        assert app.screen.query_one(FilterBar).value == "wellbeing <= 2"
        await pilot.press("escape", "c")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, AskScreen)
        for ch in "Laag":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
    assert segments.get(tui_store, "Laag")["expression"] == "wellbeing <= 2"


async def test_one_characteristic_for_the_marked_clients_after_a_confirmation(tui_store, coach):
    app = build_app(tui_store, coach, lang="nl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ClientTable)
        numbers = [table.row(i).client_number for i in range(3)]
        await pilot.press("space", "space", "space", "v")
        await settle(pilot)
        assert isinstance(app.screen, AskScreen)
        app.screen.query_one(Select).value = "transport"
        app.screen.query_one(Input).value = "fiets"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # no: nothing written
        await settle(pilot)
        bike = tui_store.catalog["transport"].parse("fiets")
        assert [clients.history(tui_store, coach, n, "transport")[-1]["value"] for n in numbers].count(bike) < 3
        await pilot.press("v")
        await settle(pilot)
        app.screen.query_one(Select).value = "transport"
        app.screen.query_one(Input).value = "fiets"
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert not table.marked
    assert [clients.history(tui_store, coach, n, "transport")[-1]["value"] for n in numbers] == [bike] * 3


async def test_only_a_team_lead_is_offered_the_hand_over(tui_store, coach):
    """F1 lists h for a team lead and not for a coach, and a coach's h does nothing."""
    for actor, offered in ((coach, False), (access.resolve_actor(tui_store.db, "lead", interface="tui"), True)):
        app = build_app(tui_store, actor, lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("f1")
            await settle(pilot)
            assert ("Hand over" in screen_text(app)) is offered
            await pilot.press("escape", "space", "h")
            await settle(pilot)
            assert isinstance(app.screen, AskScreen) is offered


async def test_a_team_lead_hands_a_coachs_clients_over(tui_store):
    lead = access.resolve_actor(tui_store.db, "lead", interface="tui")
    app = build_app(tui_store, lead, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one(FilterBar).value = "coach = bram"
        await settle(pilot)
        moving = app.screen.query_one(ClientTable).total
        await pilot.press("escape", "h")
        await settle(pilot)
        app.screen.query_one(Select).value = "anna"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await settle(pilot)
    assert tui_store.db.execute("SELECT count(*) FROM clients WHERE coach = 'bram'").fetchone()[0] == 0
    assert tui_store.db.execute("SELECT count(*) FROM audit WHERE action = 'reassign'").fetchone()[0] == moving > 0


async def test_a_value_the_characteristic_does_not_take_is_refused_and_nothing_is_recorded(tui_store, coach):
    app = build_app(tui_store, coach, lang="en")
    before = tui_store.db.execute("SELECT count(*) FROM observations").fetchone()[0]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space", "space", "v")
        await settle(pilot)
        app.screen.query_one(Select).value = "transport"
        app.screen.query_one(Input).value = "hovercraft"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any("transport" in m and "bicycle" in m for m in said), said  # what it takes
        assert len(app.screen.query_one(ClientTable).marked) == 2  # kept, to try again
    assert tui_store.db.execute("SELECT count(*) FROM observations").fetchone()[0] == before
