"""One language for the coach in the TUI: every screen, dialog, menu, the footer and the command
palette, driven with Pilot in Dutch, show no English word outside the accepted terms (keys,
names; tests/test_coach_language.py); and the language switches without a restart."""

import re

import pytest
from textual.widgets import Select

from caseload import access
from caseload.tui.app import build_app
from caseload.tui.screens.client import ClientScreen
from caseload.tui.screens.compose import ComposeScreen
from caseload.tui.screens.confirm import ConfirmScreen
from caseload.tui.screens.outbox import OutboxScreen
from caseload.tui.screens.reports import ReportsScreen
from test_coach_language import WORD, english_in
from tui_fixture import frozen, screen_text, settle

SIZE = (160, 50)
pytestmark = pytest.mark.anyio


def data_words(store) -> set[str]:
    """Words that are data, not UI: names of people, notes, templates, programmes, campaigns."""
    words = set()
    for sql in ("SELECT first_name || ' ' || last_name FROM clients", "SELECT name FROM users",
                "SELECT body FROM notes", "SELECT name FROM interventions", "SELECT name FROM campaigns",
                "SELECT name FROM templates"):
        try:
            rows = store.db.execute(sql).fetchall()
        except Exception:  # a table this schema names differently
            continue
        words |= {w.lower() for (text,) in rows if text for w in WORD.findall(str(text))}
    return words


def english(text: str, data: set[str]) -> list[str]:
    """English words on the screen; a single letter is a key (the footer's "g Grafiek")."""
    words = [(hit, re.match(r"'([^']+)'", hit).group(1).lower()) for hit in english_in(text)]
    return [hit for hit, w in words if len(w) > 1 and w not in data]


async def test_every_tui_screen_in_dutch_has_no_english(tui_store):
    data = data_words(tui_store)
    found: dict[str, list[str]] = {}
    admin = access.Actor("admin", "admin", origin="tui@test")
    app = build_app(tui_store, admin, lang="nl")

    async with app.run_test(size=SIZE) as pilot:
        async def look(name: str, *keys: str) -> None:
            if keys:
                await pilot.press(*keys)
            await settle(pilot)
            hits = english(screen_text(app), data)
            if hits:
                found[name] = hits

        await look("caseload")
        await look("caseload, filter bar", "slash")
        await look("caseload, a bad filter", "w", "e", "l", "b", "space", "<", "=")
        await pilot.press("escape")
        app.open_client(app.screen.table.row(0).client_number)
        await settle(pilot)
        assert isinstance(app.screen, ClientScreen)
        for tab in ("p", "g", "t"):
            await look(f"client, tab {tab}", tab)
        for form in ("v", "n", "i", "u"):
            await look(f"client, form {form}", form)
            await pilot.press("escape")
        await pilot.press("escape")
        await look("attention", "a")
        await look("segments", "s")
        app.screen.query(Select).first().focus()
        await look("segments, a menu open", "enter")
        await pilot.press("escape", "escape")  # closes the menu, then leaves the dropdown
        await look("compose", "m")
        assert isinstance(app.screen, ComposeScreen)
        await look("compose, preview", "f5")
        await pilot.press("escape")  # compose opens in its segment field
        await look("outbox", "o")
        assert isinstance(app.screen, OutboxScreen)
        await look("outbox, confirm", "x")
        if isinstance(app.screen, ConfirmScreen):
            await pilot.press("escape")
        await look("reports", "r")
        assert isinstance(app.screen, ReportsScreen)
        await pilot.press("escape")  # reports opens in its segment field
        await look("reports, effect", "e")
        await look("help", "f1")
        await pilot.press("escape")
        await look("command palette", "ctrl+p")
        await pilot.press("z", "z", "q", "x")
        await pilot.pause(0.8)  # the palette says it found nothing after half a second
        await look("command palette, no match")
        await pilot.press("escape")
    assert not found, "\n".join(f"{screen}: {hit}" for screen, hits in found.items() for hit in hits)


async def test_the_language_switches_without_a_restart(tui_store):
    """F2 (or the palette) switches nl <-> en: every visible text is made again, the screen you
    were on and the client you had open come back."""
    from caseload import i18n

    admin = access.Actor("admin", "admin", origin="tui@test")
    app = build_app(tui_store, admin, lang="nl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        number = app.screen.table.row(0).client_number
        app.open_client(number)
        await settle(pilot)
        dutch = screen_text(app)
        assert "Profiel" in dutch and "Terug" in dutch and "beheerder" in dutch
        await pilot.press("f2")
        await settle(pilot)
        shown = screen_text(app)
        assert i18n.language() == "en"
        assert isinstance(app.screen, ClientScreen) and app.screen.number == number
        assert "Profile" in shown and "Back" in shown and "administrator" in shown
        assert "The app now speaks English." in [n.message for n in app._notifications]
        assert not [w for w in ("Profiel", "Afsluiten", "beheerder", "Hulp", "Terug") if w in shown], shown
        await pilot.press("escape")
        await settle(pilot)
        assert "Wellbeing" in screen_text(app) and "Welbevinden" not in screen_text(app)
        await pilot.press("a")  # a screen not shown before the switch
        await settle(pilot)
        assert "Attention" in screen_text(app)
        await pilot.press("ctrl+p")  # back to Dutch through the command palette
        await settle(pilot)
        assert "Language: Dutch" in screen_text(app)
        for ch in "dutch":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        assert i18n.language() == "nl"
        text = screen_text(app)
        assert "Aandachtslijst" in text and "De app spreekt nu Nederlands." in [n.message for n in app._notifications]
        assert not english(text, data_words(tui_store)), text


async def test_the_switch_keeps_the_filter_and_the_marked_clients(tui_store):
    admin = access.Actor("admin", "admin", origin="tui@test")
    app = build_app(tui_store, admin, lang="nl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.filter_bar.value = "wellbeing <= 2"
        await settle(pilot)
        total = app.screen.table.total
        app.screen.table.focus()
        await pilot.press("space")
        marked = set(app.screen.table.marked)
        await pilot.press("f2")
        await settle(pilot)
        assert "Filter" in screen_text(app) and "Welbevinden" not in screen_text(app)
        assert app.screen.filter_bar.value == "wellbeing <= 2"
        assert app.screen.table.total == total < tui_store.db.execute("SELECT count(*) FROM clients").fetchone()[0]
        assert app.screen.table.marked == marked and len(marked) == 1


async def test_numbers_and_dates_look_the_same_in_the_cli_and_the_tui(tui_store, tmp_path):
    """Dutch: 31,0 and 31-12-2025 in both (the TUI showed 27,3 while the CLI printed 31.0);
    csv keeps 31.0 and 2025-12-31."""
    from click.testing import CliRunner

    from caseload.cli import main
    from caseload.reports import outflow_report

    admin = access.Actor("admin", "admin", origin="tui@test")
    r = outflow_report(tui_store, admin, keys=["wellbeing"])
    rate, start = r["overall"]["rate_pct"], r["cohort_date"]
    dutch_rate = f"{rate:.1f}".replace(".", ",")
    dutch_start = "-".join(reversed(start.split("-")))

    def cli(*args):
        with frozen():
            out = CliRunner().invoke(main, ["--db", str(tui_store.path), "--lang", "nl", *args],
                                     env={"SUDO_USER": "admin", "SUDO_UID": "", "COLUMNS": "200"})
        assert out.exit_code == 0, out.output
        return out.stdout

    table = cli("report", "outflow", "--key", "wellbeing")
    assert dutch_rate in table and dutch_start in table and f"{rate:.1f}" not in table and start not in table
    csv = cli("report", "outflow", "--key", "wellbeing", "--format", "csv")
    assert f",{rate}," in csv and dutch_rate not in csv
    users = cli("user", "list")
    assert " beheerder " in users and " admin " not in users.replace("│ admin ", "")
    assert " ja " in users and "true" not in users and re.search(r" \d\d-\d\d-\d{4} \d\d:\d\d ", users), users
    app = build_app(tui_store, admin, lang="nl", start="reports")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
    assert f"({dutch_rate}%)" in text and dutch_start in text
