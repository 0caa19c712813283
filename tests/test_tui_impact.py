"""The TUI's outflow tab describes a cohort as it was on its start date, says so, and l switches."""

import pytest
from textual.widgets import Static

from caseload import access
from caseload.tui.app import build_app
from caseload.tui.screens.reports import ReportsScreen
from tui_fixture import settle

pytestmark = pytest.mark.anyio


async def test_outflow_tab_says_which_values_and_l_switches(tui_store):
    name = tui_store.db.execute("SELECT name FROM users WHERE role = 'analyst'").fetchone()[0]
    app = build_app(tui_store, access.resolve_actor(tui_store.db, name, interface="tui"), lang="en")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ReportsScreen)

        def summary() -> str:
            return str(app.screen.query_one("#outflow-summary", Static).render())

        assert "as recorded on or before" in summary()
        await pilot.press("escape")  # the screen opens in its segment field; keys act from the table
        await pilot.press("l")
        await settle(pilot)
        assert "as recorded most recently" in summary()
