"""Conversations and follow-ups: one timeline with read and unread replies, an inbox, a one-off
message through the outbox's checks, and follow-ups through the CLI onto the attention list."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, attention, conversations, followups, replies, timeline
from caseload.channels.sms import Inbound
from caseload.errors import BadInput, NotFound
from servers import add_clients

NOW = datetime(2026, 6, 16, 10, 0, tzinfo=timezone.utc)  # a Tuesday, 12:00 in Amsterdam
PLEA = "Ik ben ziek, kunt u bellen?"


@pytest.fixture
def two(store):
    access.add_user(store.db, "coach1", "coach", "north")
    access.add_user(store.db, "coach2", "coach", "north")
    add_clients(store, 1, preferred_channel="sms")
    add_clients(store, 1, start=2, coach="coach2")
    return access.resolve_actor(store.db, "coach1"), access.resolve_actor(store.db, "coach2")


def test_a_reply_is_unread_in_the_inbox_until_its_coach_views_the_conversation(store, two):
    coach1, coach2 = two
    r = replies.handle_sms(store, Inbound("cm", "p1", "+31600000001", PLEA), NOW)
    assert r.outcome == "note"
    replies.handle_sms(store, Inbound("cm", "p2", "+31600000001", "STOP"), NOW)  # a command: nothing to read
    rows = conversations.inbox(store, coach1)
    assert [(x["client_number"], x["urgent"]) for x in rows] == [("K00001", ["ziek", "bellen"])]
    assert conversations.inbox(store, coach2) == []  # another coach's client
    admin = access.resolve_actor(store.db, "admin")
    events = timeline.timeline(store, admin, "K00001")  # an admin looking does not read it for the coach
    assert [(e.text, e.unread) for e in events if e.kind == "reply"] == [("STOP", False), (PLEA, True)]
    events = timeline.timeline(store, coach1, "K00001", now=NOW)
    assert [e.unread for e in events if e.kind == "reply"] == [False, True]  # shown as new this once
    assert conversations.inbox(store, coach1) == []
    assert [e.unread for e in timeline.timeline(store, coach1, "K00001") if e.kind == "reply"] == [False, False]
    assert conversations.mark_read(store, coach1, "K00001", unread=True) == 1
    assert len(conversations.inbox(store, coach1)) == 1
    with pytest.raises(NotFound):
        conversations.mark_read(store, coach2, "K00001")
    # one audit entry per inbox view, never the text
    assert store.db.execute("SELECT count(*) FROM audit WHERE action = 'inbox' AND actor = 'coach1'"
                            ).fetchone()[0] == 3
    assert store.db.execute("SELECT count(*) FROM audit WHERE result LIKE '%ziek%' OR object LIKE '%ziek%'"
                            ).fetchone()[0] == 0


def test_a_one_off_message_is_checked_like_any_and_queued_personal(store, two):
    coach1, _ = two
    evening = datetime(2026, 6, 16, 20, 30, tzinfo=timezone.utc)  # 22:30 in Amsterdam: quiet hours
    plan = conversations.plan_message(store, coach1, "K00001", "Ik bel je morgen om 10 uur. Groet, Coach",
                                      now=evening)
    assert plan.channel == "sms" and plan.sms.parts == 1 and plan.sms.encoding == "GSM-7"
    assert [why for why, _ in plan.held] == ["quiet"] and plan.send_at > evening
    mid = conversations.send_message(store, coach1, plan, now=evening)
    row = store.db.execute("SELECT kind, priority, author, campaign_id, template, body, status FROM messages"
                           " WHERE id = ?", [mid]).fetchone()
    assert row == ("campaign", 0, "coach1", None, None, "Ik bel je morgen om 10 uur. Groet, Coach", "queued")
    events = timeline.timeline(store, coach1, "K00001")
    assert events[0].kind == "message" and events[0].author == "coach1"
    email = conversations.plan_message(store, coach1, "K00001", "Zie bijlage", channel="email", now=NOW)
    assert email.subject == "Een bericht van Gemeente"  # in the client's language (nl)
    with pytest.raises(BadInput):
        conversations.plan_message(store, coach1, "K00001", "   ", now=NOW)
    store.db.execute("INSERT INTO opt_outs (client_id, channel, at, source) VALUES (1, 'sms', 'x', 'reply')")
    store.db.conn.commit()
    with pytest.raises(BadInput, match="opted out of sms"):
        conversations.plan_message(store, coach1, "K00001", "Hoi", channel="sms", now=NOW)
    assert conversations.plan_message(store, coach1, "K00001", "Hoi", now=NOW).channel == "email"  # auto: the other
    with pytest.raises(NotFound):
        conversations.plan_message(store, coach1, "K00002", "Hoi", now=NOW)


def test_followups_from_the_cli_onto_the_attention_list(cli):
    from caseload.store import open_store
    from caseload.config import load_config

    assert cli("user", "add", "coach1", "--role", "coach").exit_code == 0
    store = open_store(load_config(None), cli.db)
    add_clients(store, 2)
    store.close()
    r = cli("followup", "add", "K00001", "Terugbellen over de huur", "--due", "today", user="coach1")
    assert r.exit_code == 0, r.output
    fid = int(r.stdout.strip())
    assert cli("followup", "add", "K00002", "Cv nakijken", "--due", "+7", user="coach1").exit_code == 0
    assert cli("followup", "add", "K00001", "x", "--due", "someday", user="coach1").exit_code == 2
    assert cli("followup", "add", "K00001", "x", "--due", "today", "--for", "nobody", user="coach1").exit_code == 2
    rows = json.loads(cli("followup", "list", "--due", "--format", "json", user="coach1").stdout)
    assert [(x["id"], x["client_number"]) for x in rows] == [(fid, "K00001")]
    listed = json.loads(cli("attention", "list", "--format", "json", user="coach1").stdout)
    assert "K00001" in [x["client_number"] for x in listed]
    assert "Terugbellen over de huur" in next(x["why"] for x in listed if x["client_number"] == "K00001")
    assert cli("followup", "done", str(fid), user="coach1").exit_code == 0
    assert cli("followup", "done", str(fid), user="coach1").exit_code == 2
    listed = json.loads(cli("attention", "list", "--format", "json", user="coach1").stdout)
    assert "K00001" not in [x["client_number"] for x in listed]
    assert len(json.loads(cli("followup", "list", "--all", "--format", "json", user="coach1").stdout)) == 2
    # a one-off message and the conversation from the CLI
    r = cli("client", "message", "K00001", "Tot morgen!", "--channel", "email", user="coach1")
    assert r.exit_code == 0, r.output
    conv = json.loads(cli("client", "conversation", "K00001", "--format", "json", user="coach1").stdout)
    assert {"message", "followup", "followup_done"} <= {e["kind"] for e in conv}


def test_due_dates_in_words():
    today = datetime(2026, 6, 16).date()  # a Tuesday
    assert followups.parse_due("vrijdag", today).isoformat() == "2026-06-19"
    assert followups.parse_due("dinsdag", today).isoformat() == "2026-06-23"  # next week's, not today
    assert followups.parse_due("morgen", today).isoformat() == "2026-06-17"
    assert followups.parse_due("+3", today).isoformat() == "2026-06-19"
    assert followups.parse_due("19-06-2026", today).isoformat() == "2026-06-19"
