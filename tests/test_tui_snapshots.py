"""Snapshots pin every screen of the TUI (SVG under tests/__snapshots__/, looked at before they
were committed). The wall clock is frozen (tui_fixture.NOW), so dates, stale marks and the
attention list are the same on every run. Update with `pytest tests/test_tui_snapshots.py
--snapshot-update` after checking the new pictures."""

import pytest
from textual.widgets import Input, Select

from caseload import access
from caseload.tui.app import build_app
from tui_fixture import MARKUP_NUMBER, coach_of_markup_client, frozen, settle

SIZE = (150, 42)


def app_for(store, who: str, lang: str, start: str | None = None):
    name = {"coach": coach_of_markup_client(store), "admin": "admin"}.get(who, who)
    if who == "analyst":
        name = store.db.execute("SELECT name FROM users WHERE role = 'analyst'").fetchone()[0]
    return build_app(store, access.resolve_actor(store.db, name, interface="tui"), lang=lang, start=start)


def snap(snap_compare, app, run_before=None, size=SIZE) -> bool:
    async def before(pilot):
        await settle(pilot)
        if run_before is not None:
            await run_before(pilot)
            await settle(pilot)
        for field in pilot.app.screen.query(Input):  # a screen may open with the cursor in a field: no blinking
            field.cursor_blink = False
        await pilot.pause()

    with frozen():
        return snap_compare(app, terminal_size=size, run_before=before)


async def _open_markup_client(pilot):
    pilot.app.screen.query_one("FilterBar").value = f"client_number = {MARKUP_NUMBER}"
    await settle(pilot)
    pilot.app.screen.query_one("ClientTable").focus()
    await pilot.press("enter")
    await settle(pilot)


def test_caseload_coach_dutch(snap_compare, tui_store):
    assert snap(snap_compare, app_for(tui_store, "coach", "nl"))


def test_caseload_filter_error_english(snap_compare, tui_store):
    async def run(pilot):
        await pilot.press("slash")
        pilot.app.screen.query_one("FilterBar").value = "wellbeing <= 2 and dbets = ja"
        await settle(pilot)
        pilot.app.screen.query_one("ClientTable").focus()

    assert snap(snap_compare, app_for(tui_store, "coach", "en"), run)


def test_caseload_teamlead_sorted_by_wellbeing(snap_compare, tui_store):
    async def run(pilot):
        await pilot.press("w")

    assert snap(snap_compare, app_for(tui_store, "lead", "nl"), run)


def test_client_profile(snap_compare, tui_store):
    assert snap(snap_compare, app_for(tui_store, "coach", "nl"), _open_markup_client)


def test_client_timeline(snap_compare, tui_store):
    async def run(pilot):
        await _open_markup_client(pilot)
        await pilot.press("t")

    assert snap(snap_compare, app_for(tui_store, "coach", "nl"), run)


def test_client_wellbeing_chart(snap_compare, tui_store):
    async def run(pilot):
        await _open_markup_client(pilot)
        await pilot.press("g")

    assert snap(snap_compare, app_for(tui_store, "coach", "en"), run)


def test_client_record_forms(snap_compare, tui_store):
    async def run(pilot):
        await _open_markup_client(pilot)
        await pilot.press("v")
        await settle(pilot)
        pilot.app.screen.query_one("#obs-key", Select).value = "childcare_arranged"
        await settle(pilot)
        pilot.app.screen.query_one("Tabs").focus()

    assert snap(snap_compare, app_for(tui_store, "coach", "nl"), run)


def test_segment_builder(snap_compare, tui_store):
    async def run(pilot):
        screen = pilot.app.screen
        screen.query_one("#subject", Select).value = "participation_ladder"
        await settle(pilot)
        screen.query_one("#operator", Select).value = "<="
        screen.query_one("#value", Input).value = "2"
        screen.action_add("and")
        await settle(pilot)
        screen.query_one("#saved").focus()

    assert snap(snap_compare, app_for(tui_store, "coach", "en", start="segments"), run)


def test_compose_preview(snap_compare, tui_store):
    async def run(pilot):
        screen = pilot.app.screen
        screen.query_one("FilterBar").value = "wellbeing <= 2"
        screen.query_one("#template", Select).value = "checkin"
        await settle(pilot)
        screen.action_preview()
        await settle(pilot)
        screen.query_one("#queue").focus()

    assert snap(snap_compare, app_for(tui_store, "coach", "nl", start="compose"), run)


def test_outbox(snap_compare, tui_store):
    assert snap(snap_compare, app_for(tui_store, "admin", "en", start="outbox"))


def test_attention_list(snap_compare, tui_store):
    assert snap(snap_compare, app_for(tui_store, "coach", "nl", start="attention"))


def test_reports_for_an_analyst(snap_compare, tui_store, no_noise):
    assert snap(snap_compare, app_for(tui_store, "analyst", "nl"))


def test_help(snap_compare, tui_store):
    async def run(pilot):
        await pilot.press("f1")

    assert snap(snap_compare, app_for(tui_store, "coach", "nl"), run)


def test_caseload_at_80x24_keeps_the_reasons_and_the_footer(snap_compare, tui_store):
    assert snap(snap_compare, app_for(tui_store, "coach", "nl"), size=(80, 24))


def test_compose_at_80x24_while_typing(snap_compare, tui_store):
    async def run(pilot):
        for ch in "wellbeing <= 2":
            await pilot.press(ch if ch != " " else "space")

    assert snap(snap_compare, app_for(tui_store, "coach", "nl", start="compose"), run, size=(80, 24))
