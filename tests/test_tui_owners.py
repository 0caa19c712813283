"""The TUI gets the core's answers on owners and mass actions: a coach cannot save over someone
else's template from the compose screen, and the outbox asks before a retry with the numbers
of outbox.plan_retry (the same the CLI shows)."""

import pytest
from textual.widgets import DataTable, Input, TextArea

from caseload import access, outbox, templates
from caseload.tui import format as fmt
from caseload.tui.app import build_app
from caseload.tui.screens.confirm import ConfirmScreen
from tui_fixture import coach_of_markup_client, screen_text, settle

SIZE = (160, 50)
pytestmark = pytest.mark.anyio
CAMPAIGN = "Februari check-in"  # the fixture's, queued by the admin


async def test_a_coach_cannot_save_over_the_admins_template_in_compose(tui_store):
    coach = access.resolve_actor(tui_store.db, coach_of_markup_client(tui_store), interface="tui")
    before = [v.body for v in templates.variants(tui_store, "checkin")]
    app = build_app(tui_store, coach, lang="en", start="compose")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.query_one("#new-name", Input).value = "checkin"
        screen.query_one("#new-body", TextArea).text = "Klik hier, {{ first_name }}"
        screen._save_template()
        await settle(pilot)
        assert any("belongs to admin" in str(n.message) for n in app._notifications if n.severity == "error")
    assert [v.body for v in templates.variants(tui_store, "checkin")] == before


async def test_outbox_retry_of_a_campaign_shows_whom_it_reaches_and_asks(tui_store):
    admin = access.resolve_actor(tui_store.db, "admin", interface="tui")
    tui_store.db.execute("UPDATE messages SET status = 'cancelled' WHERE status = 'queued'")
    reach = outbox.plan_retry(tui_store, admin, campaign=CAMPAIGN)
    assert reach.asks()
    app = build_app(tui_store, admin, lang="en", start="outbox")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        campaigns = app.screen.query_one("#campaigns", DataTable)
        campaigns.focus()
        campaigns.move_cursor(row=[k.value for k in campaigns.rows].index(CAMPAIGN))
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        shown = " ".join(screen_text(app).split())
        assert f"{fmt.number(len(reach.clients))} clients, {fmt.number(reach.messages)} messages" in shown
        await pilot.press("escape")
        await settle(pilot)
    assert tui_store.db.execute("SELECT COUNT(*) FROM messages WHERE status = 'queued'").fetchone()[0] == 0
