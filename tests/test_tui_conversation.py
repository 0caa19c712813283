"""The coach's day in the TUI, end to end with Pilot on a real database: a reply from the
conversation view goes through the outbox to a real SMTP server; the client's answer arrives
unread in the inbox and is read once the coach opens the conversation; the attention list
marks a client handled and the client leaves it."""

from datetime import datetime, timedelta

import pytest
from textual.widgets import DataTable, Input, TabbedContent

from caseload import access, conversations, outbox, replies
from caseload.channels.sms import Inbound
from caseload.tui.app import build_app
from caseload.tui.screens.attention import AttentionScreen
from caseload.tui.screens.client import ClientScreen
from caseload.tui.screens.confirm import ConfirmScreen
from caseload.tui.screens.inbox import InboxScreen
from servers import add_clients, make_store, smtp_sink  # noqa: F401  (a fixture)
from tui_fixture import screen_text, settle

pytestmark = pytest.mark.anyio
SIZE = (160, 50)
TEXT = "Hoi, ik bel je morgen om tien uur over de cursus."


async def test_reply_from_the_conversation_reaches_the_smtp_sink_and_the_answer_is_read(tmp_path, smtp_sink):
    store = make_store(tmp_path, smtp_sink.port)
    add_clients(store, 1, coach="coach1", preferred_channel="email", phone="+31612345678")
    coach = access.resolve_actor(store.db, "coach1", interface="tui")
    app = build_app(store, coach, lang="nl")
    async with app.run_test(size=SIZE) as pilot:
        app.open_client("K00001", tab="timeline")
        await settle(pilot)
        assert isinstance(app.screen, ClientScreen)
        await pilot.press("e")
        await settle(pilot)
        assert app.focused is app.screen.query_one("#reply-text", Input)
        await pilot.press(*[c if c != " " else "space" for c in TEXT])
        await settle(pilot)
        assert "e-mail" in screen_text(app) and "gaat" in screen_text(app)  # the preview: channel and when
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("j")
        await settle(pilot)
        row = store.db.execute("SELECT id, channel, status, author, priority, body FROM messages").fetchall()
        assert [r[1:] for r in row] == [("email", "queued", "coach1", outbox.PERSONAL, TEXT)]
        assert TEXT in screen_text(app)  # in the conversation at once

    report = outbox.send_due(store)
    assert report.sent == 1
    (got,) = smtp_sink.wait_for(1)
    assert got.caseload_id == row[0][0] and TEXT in got.text() and got.rcpt_tos == ["klant1@testdorp.example"]

    # the client answers by SMS: unread in the inbox, read once the coach opens the conversation
    replies.handle_sms(store, Inbound("cm", "in-1", "+31612345678", "Morgen kan ik niet, ik ben ziek."))
    assert [r["client_number"] for r in conversations.inbox(store, coach)] == ["K00001"]
    app = build_app(store, coach, lang="nl", start="inbox")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, InboxScreen)
        assert "ziek" in screen_text(app) and "ongelezen" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClientScreen)
        assert "Morgen kan ik niet" in screen_text(app) and "nieuw" in screen_text(app)  # shown as new this once
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InboxScreen)
        assert "Geen ongelezen reacties" in screen_text(app)
    assert store.db.execute("SELECT read_by FROM replies WHERE text LIKE 'Morgen%'").fetchone() == ("coach1",)
    store.close()


async def test_attention_list_marks_handled_and_updates_when_the_coach_acts(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 3, coach="coach1")
    for i, text in ((1, "Kunt u mij bellen? Ik heb hulp nodig met de huur."), (2, "Dank u wel")):
        replies.handle_sms(store, Inbound("cm", f"in-{i}", f"+316{i:08d}", text))
    coach = access.resolve_actor(store.db, "coach1", interface="tui")
    app = build_app(store, coach, lang="en", start="attention")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, AttentionScreen)
        table = app.screen.query_one("#attention", DataTable)
        assert [k.value for k in table.rows] == ["K00001", "K00002"]  # the plea first
        assert "urgent message: bellen, hulp, huur" in screen_text(app)
        await pilot.press("h")
        await settle(pilot)
        assert [k.value for k in table.rows] == ["K00002"]
        await pilot.press("enter")  # K00002 is here for a message: the client opens on the conversation
        await settle(pilot)
        assert isinstance(app.screen, ClientScreen) and app.screen.query_one(TabbedContent).active == "timeline"
        assert "Dank u wel" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AttentionScreen) and table.row_count == 0
    assert store.db.execute("SELECT count(*) FROM audit WHERE action = 'attention' AND actor = 'coach1'"
                            ).fetchone()[0] == 3  # one entry per view of the list
    store.close()


async def test_a_follow_up_from_the_client_screen_and_a_snooze_from_the_list(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 1, coach="coach1")
    replies.handle_sms(store, Inbound("cm", "in-1", "+31600000001", "Wanneer is de volgende afspraak?"))
    with store.db.conn:  # and silent for long before that message: still on the list once it is read
        store.db.execute("UPDATE clients SET last_activity = '2020-01-01T09:00:00Z', intake_date = '2019-06-01'")
    coach = access.resolve_actor(store.db, "coach1", interface="tui")
    app = build_app(store, coach, lang="nl", start="attention")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # here for a message: the conversation, which reads it
        await settle(pilot)
        assert app.screen.query_one(TabbedContent).active == "timeline"
        assert store.db.execute("SELECT read_by FROM replies").fetchall() == [("coach1",)]
        await pilot.press("f")
        await settle(pilot)
        assert app.focused is app.screen.query_one("#fu-what", Input)
        await pilot.press(*"Terugbellen", "tab", *"+3", "enter")
        await settle(pilot)
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.screen, AttentionScreen)
        await pilot.press("z")
        await settle(pilot)
        await pilot.press("enter")  # the dialog proposes +7
        await settle(pilot)
    today = datetime.now(store.tz).date()  # the organisation's day, as +3 counts it
    assert store.db.execute("SELECT what, due_date FROM follow_ups").fetchall() == \
        [("Terugbellen", (today + timedelta(days=3)).isoformat())]
    assert store.db.execute("SELECT state FROM attention_marks").fetchall() == [("snoozed",)]
    store.close()


async def test_w_hides_the_observations_from_the_conversation_and_shows_them_again(tmp_path):
    from caseload import clients

    store = make_store(tmp_path)
    add_clients(store, 1, coach="coach1")
    coach = access.resolve_actor(store.db, "coach1", interface="tui")
    clients.set_characteristics(store, coach, "K00001", {"debts": "ja"})
    replies.handle_sms(store, Inbound("cm", "in-1", "+31600000001", "Mag het vrijdag?"))
    app = build_app(store, coach, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        app.open_client("K00001", tab="timeline")
        await settle(pilot)
        assert "Debts: yes" in screen_text(app) and "Mag het vrijdag?" in screen_text(app)
        await pilot.press("w")
        await settle(pilot)
        shown = screen_text(app)
        assert "Debts: yes" not in shown and "Mag het vrijdag?" in shown and "observations hidden: 1" in shown
        await pilot.press("w")
        await settle(pilot)
        assert "Debts: yes" in screen_text(app)
    store.close()
