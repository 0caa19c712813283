"""The TUI driven end to end with Pilot on a real database: filter the caseload, open a client
and record an observation, build and save a segment, compose and queue a message, read the
attention list; roles per screen; markup in names, notes and replies shown as text."""

import pytest
from textual.widgets import DataTable, Input, Select

from caseload import access, clients, overview, segments
from caseload.reports import attention_list
from caseload.tui.app import build_app
from caseload.tui.screens.attention import AttentionScreen
from caseload.tui.screens.client import ClientScreen
from caseload.tui.screens.compose import ComposeScreen
from caseload.tui.screens.confirm import ConfirmScreen
from caseload.tui.screens.reports import ReportsScreen
from caseload.tui.widgets.client_table import ClientTable
from caseload.tui.widgets.filter_bar import FilterBar
from tui_fixture import (MARKUP_FIRST, MARKUP_LAST, MARKUP_NOTE, MARKUP_NUMBER, MARKUP_REPLY,
                         coach_of_markup_client, database, screen_text, settle)

SIZE = (160, 50)
pytestmark = pytest.mark.anyio


@pytest.fixture
def coach(tui_store):
    return access.Actor(coach_of_markup_client(tui_store), "coach", origin="tui@test")


def actor(store, name):
    return access.resolve_actor(store.db, name, interface="tui")


async def type_in(pilot, text: str) -> None:
    for ch in text:
        await pilot.press(ch if ch != " " else "space")


async def test_caseload_shows_only_own_clients_and_filters_with_live_count(tui_store, coach):
    app = build_app(tui_store, coach, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ClientTable)
        own = overview.count(tui_store, coach)
        assert table.total == own
        assert 0 < own < tui_store.db.execute("SELECT count(*) FROM clients").fetchone()[0]
        coaches = {table.row(i).coach for i in range(min(own, 100))}
        assert coaches == {coach.name}
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await type_in(pilot, "wellbeing <= 2")
        await settle(pilot)
        expected = segments.count(tui_store, coach, "wellbeing <= 2")
        assert table.total == expected
        assert f"{expected} clients" in screen_text(app)
        assert all(table.row(i).wellbeing <= 2 for i in range(min(expected, 100)))
        # sorting by wellbeing, lowest first, then highest first
        await pilot.press("escape", "w")
        await settle(pilot)
        firsts = [table.row(i).wellbeing for i in range(min(expected, 20))]
        assert firsts == sorted(firsts)
        await pilot.press("w")
        await settle(pilot)
        firsts = [table.row(i).wellbeing for i in range(min(expected, 20))]
        assert firsts == sorted(firsts, reverse=True)


async def test_filter_bar_colours_errors_at_the_position_and_completes(tui_store, coach):
    app = build_app(tui_store, coach, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(FilterBar)
        before = app.screen.query_one(ClientTable).total
        await pilot.press("slash")
        await type_in(pilot, "wellbeing <= 2 and dbets = ja")
        await settle(pilot)
        assert bar.highlighter.position == len("wellbeing <= 2 and ")
        assert "dbets" in screen_text(app) and "debts" in screen_text(app)  # did you mean
        # the table keeps the last valid selection
        assert app.screen.query_one(ClientTable).total == segments.count(tui_store, coach, "wellbeing <= 2") < before
        bar.value = ""
        await settle(pilot)
        await type_in(pilot, "childcare_arr")
        await settle(pilot)
        await pilot.press("tab")
        await settle(pilot)
        assert bar.value == "childcare_arranged "
        await pilot.press("tab")  # operators come next
        await settle(pilot)
        assert bar.value == "childcare_arranged = "
        await type_in(pilot, "n")
        await pilot.press("tab")
        await settle(pilot)
        assert bar.value in ("childcare_arranged = no ", "childcare_arranged = nee ")
        assert bar.highlighter.position is None
        assert app.screen.query_one(ClientTable).total == segments.count(tui_store, coach,
                                                                         "childcare_arranged = false")


async def test_open_a_client_and_record_an_observation_and_a_note(tui_store, coach):
    app = build_app(tui_store, coach, lang="nl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        app.screen.query_one(FilterBar).value = f"client_number = {MARKUP_NUMBER}"
        await settle(pilot)
        await pilot.press("escape", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ClientScreen) and app.screen.number == MARKUP_NUMBER
        await pilot.press("v")
        await settle(pilot)
        app.screen.query_one("#obs-key", Select).value = "wellbeing"
        await settle(pilot)
        app.screen.query_one("#obs-value", Input).focus()
        await type_in(pilot, "5")
        await pilot.press("enter")
        await settle(pilot)
        latest = clients.history(tui_store, coach, MARKUP_NUMBER, "wellbeing")[-1]
        assert (latest["value"], latest["source"], latest["author"]) == (5, "coach", coach.name)
        profile = {p.key: p for p in clients.profile(tui_store, clients.client_id(tui_store, coach, MARKUP_NUMBER))}
        assert profile["wellbeing"].value == 5 and not profile["wellbeing"].stale
        # a value the catalog refuses is said, not written
        app.screen.query_one("#obs-value", Input).value = "9"
        app.screen.query_one("#obs-value", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert clients.history(tui_store, coach, MARKUP_NUMBER, "wellbeing")[-1]["value"] == 5
        assert any("9" in str(n.message) or "5" in str(n.message) for n in app._notifications)
        await pilot.press("escape")  # leave the input
        await pilot.press("n")
        await settle(pilot)
        app.screen.query_one("#note-text", Input).value = "Gebeld [ok]"
        await pilot.press("enter")
        await settle(pilot)
        notes = clients.show_client(tui_store, coach, MARKUP_NUMBER)["notes"]
        assert notes[-1]["text"] == "Gebeld [ok]" and notes[-1]["author"] == coach.name
        await pilot.press("escape", "t")
        await settle(pilot)
        assert "Gebeld [ok]" in screen_text(app)
    actions = [r[0] for r in tui_store.db.execute(
        "SELECT action FROM audit WHERE object = (SELECT 'client:' || id FROM clients WHERE client_number = ?)",
        [MARKUP_NUMBER])]
    assert {"view", "view_history", "view_timeline", "observe", "note"} <= set(actions)


async def test_markup_in_names_notes_and_replies_shows_as_text(tui_store, coach):
    app = build_app(tui_store, coach, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        app.screen.query_one(FilterBar).value = f"client_number = {MARKUP_NUMBER}"
        await settle(pilot)
        assert f"{MARKUP_FIRST} Markup [/]" in screen_text(app)  # the name column cuts the rest
        await pilot.press("escape", "enter")
        await settle(pilot)
        assert f"{MARKUP_FIRST} {MARKUP_LAST}" in screen_text(app)
        await pilot.press("t")
        await settle(pilot)
        text = screen_text(app)
        assert MARKUP_NOTE in text and MARKUP_REPLY in text


async def test_build_and_save_a_segment(tui_store, coach):
    app = build_app(tui_store, coach, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#subject", Select).value = "wellbeing"
        await settle(pilot)
        screen.query_one("#operator", Select).value = "<="
        screen.query_one("#value", Input).value = "2"
        await pilot.click("#add-and")
        screen.query_one("#subject", Select).value = "debts"
        await settle(pilot)
        screen.query_one("#operator", Select).value = "="
        screen.query_one("#value", Input).value = "ja"
        await pilot.click("#add-and")
        await settle(pilot)
        bar = screen.query_one(FilterBar)
        assert bar.value == "wellbeing <= 2 and debts = ja"
        assert bar.valid.count == segments.count(tui_store, coach, "wellbeing <= 2 and debts = true")
        screen.query_one("#name", Input).value = "Zwaar en schulden"
        await pilot.press("ctrl+s")
        await settle(pilot)
        saved = segments.get(tui_store, "Zwaar en schulden")
        assert saved["expression"] == "wellbeing <= 2 and debts = true" and saved["author"] == coach.name
        table = screen.query_one("#saved", DataTable)
        assert "Zwaar en schulden" in [k.value for k in table.rows]


async def test_compose_preview_and_queue_lands_in_the_outbox(tui_store, coach):
    app = build_app(tui_store, coach, lang="nl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ComposeScreen)
        await pilot.press("slash")
        screen.query_one(FilterBar).value = "wellbeing <= 2"
        screen.query_one("#template", Select).value = "checkin"
        screen.query_one("#campaign", Input).value = "Maart"
        await settle(pilot)
        screen.action_preview()
        await settle(pilot)
        plan = screen.plan
        assert plan is not None and plan.count > 0
        assert plan.in_segment == segments.count(tui_store, coach, "wellbeing <= 2")
        text = screen_text(app)
        assert "Voorbeeld van" in text and "tekens, GSM-7" in text
        before = tui_store.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        await pilot.press("f8")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert f"{plan.count} berichten klaarzetten?" in screen_text(app)
        await pilot.press("enter")  # the focused "yes" button
        await settle(pilot)
        after = tui_store.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        assert after - before == plan.count
        queued = tui_store.db.execute("SELECT count(*) FROM messages m JOIN campaigns c ON c.id = m.campaign_id"
                                      " WHERE c.name = 'Maart' AND m.status = 'queued'").fetchone()[0]
        assert queued == plan.count
        app.action_go("outbox")
        await settle(pilot)
        campaigns = app.screen.query_one("#campaigns", DataTable)
        assert "Maart" in [k.value for k in campaigns.rows]


async def test_compose_cancelled_confirmation_writes_nothing(tui_store, coach):
    app = build_app(tui_store, coach, lang="en", start="compose")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.query_one(FilterBar).value = "wellbeing <= 2"
        screen.query_one("#template", Select).value = "checkin"
        await settle(pilot)
        before = tui_store.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        await pilot.press("f8")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert tui_store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == before


async def test_attention_list_and_one_key_to_the_client(tui_store, coach):
    app = build_app(tui_store, coach, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AttentionScreen)
        table = app.screen.query_one(DataTable)
        expected = attention_list(tui_store, coach)
        assert len(expected) > 0
        assert {k.value for k in table.rows} == {r["client_number"] for r in expected}
        first = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClientScreen) and app.screen.number == first


async def test_outbox_retry_a_failed_message(tui_store):
    admin = actor(tui_store, "admin")
    app = build_app(tui_store, admin, lang="en", start="outbox")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        problems = app.screen.query_one("#problems", DataTable)
        failed = tui_store.db.execute("SELECT id FROM messages WHERE status = 'failed'").fetchone()[0]
        assert str(failed) in [k.value for k in problems.rows]
        assert "no phone or email" in screen_text(app)
        problems.focus()
        await pilot.press("t")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        status = tui_store.db.execute("SELECT status FROM messages WHERE id = ?", [failed]).fetchone()[0]
        assert status == "queued"


@pytest.mark.parametrize("role", ["coach", "teamlead", "admin", "analyst"])
async def test_each_screen_per_role(tui_store, role):
    name = {"coach": coach_of_markup_client(tui_store), "teamlead": "lead", "admin": "admin",
            "analyst": tui_store.db.execute("SELECT name FROM users WHERE role = 'analyst'").fetchone()[0]}[role]
    who = actor(tui_store, name)
    app = build_app(tui_store, who, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        if role == "analyst":
            assert isinstance(app.screen, ReportsScreen)
            await pilot.press("c", "a", "s", "m", "o")
            await settle(pilot)
            assert isinstance(app.screen, ReportsScreen)  # no other screen exists for an analyst
            app.open_client(MARKUP_NUMBER)
            await settle(pilot)
            assert isinstance(app.screen, ReportsScreen)
            assert not app._notifications  # the outflow report ran without a refusal
            return
        table = app.screen.query_one(ClientTable)
        assert table.total == overview.count(tui_store, who)
        seen = {table.row(i).coach for i in range(min(table.total, 100))}
        if role == "teamlead":
            team = {r[0] for r in tui_store.db.execute(
                "SELECT name FROM users WHERE team IS (SELECT team FROM users WHERE name = 'lead')")}
            assert seen <= team and len(seen) > 1
        # the flows above drive every screen as a coach; here the others' scope, and reports for all
        keys = ("r",) if role == "coach" else ("a", "o", "r")
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        assert not [n for n in app._notifications if n.severity == "error"]


async def test_help_screen_and_dutch_texts(tui_store, coach):
    app = build_app(tui_store, coach, lang="nl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "Welbevinden" in text and "Laatste activiteit" in text and "klanten" in text
        await pilot.press("f1")
        await settle(pilot)
        text = screen_text(app)
        assert "Filtertaal" in text and "Op welbevinden" in text


async def test_footer_follows_focus_and_screen(tui_store, coach):
    """KeyFooter skips rebuilds only when the keys it shows are the same."""
    from textual.widgets._footer import FooterKey

    def keys(app):
        return {k.action for k in app.screen.query(FooterKey)}

    app = build_app(tui_store, coach, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        on_table = keys(app)
        assert "open" in on_table  # the table's enter binding
        await pilot.press("slash")
        await settle(pilot)
        assert "open" not in keys(app)
        await pilot.press("escape")
        await settle(pilot)
        assert keys(app) == on_table
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AttentionScreen) and keys(app) and keys(app) != on_table


async def test_dutch_filter_names_characteristics_by_their_dutch_names(tui_store, coach):
    app = build_app(tui_store, coach, lang="nl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(FilterBar)
        table = app.screen.query_one(ClientTable)
        await pilot.press("slash")
        await type_in(pilot, "welbevinden <= 2")
        await settle(pilot)
        assert bar.highlighter.position is None
        assert table.total == segments.count(tui_store, coach, "wellbeing <= 2") > 0
        bar.value = ""
        await settle(pilot)
        await type_in(pilot, "kinderopv")
        await settle(pilot)
        await pilot.press("tab")
        await settle(pilot)
        assert bar.value == "kinderopvang_geregeld "  # completed in the UI's language
        await type_in(pilot, "= nee")
        await settle(pilot)
        assert table.total == segments.count(tui_store, coach, "childcare_arranged = false")
