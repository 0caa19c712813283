"""Check-ins: which questions (wellbeing first, then missing-and-named or most stale, only with a
purpose for the client), one SMS question at a time, reply windows that close, the rhythm of a
schedule driven by the database, the role scope of a schedule's author, and the CLI."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, activity, checkins, clients, clock, policy
from caseload.clock import iso
from caseload.reports import attention
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
COACH1 = access.Actor("coach1", "coach", "t1")
NOW = datetime(2025, 6, 16, 10, 0, tzinfo=timezone.utc)  # 12:00 in Amsterdam


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "hook")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    s = make_store(tmp_path)
    yield s
    s.close()


def ago(days):
    return iso(NOW - timedelta(days=days))


def test_choose_wellbeing_then_named_missing_then_most_stale(store):
    c = store.catalog
    observed = {"childcare_arranged": ago(200), "transport": None, "debts": ago(10), "available_hours": ago(400)}
    observed = {k: v for k, v in observed.items() if k in c}
    keys = checkins.choose(store, ["transport"], 2, observed, NOW)
    assert keys[0] == "wellbeing" and keys[1] == "transport"
    stale = sorted((k for k, at in observed.items() if at and (NOW - clock.parse_iso(at)).days > c[k].max_age_days),
                   key=lambda k: -(NOW - clock.parse_iso(observed[k])).days / c[k].max_age_days)
    assert keys[2] == stale[0]
    assert checkins.choose(store, [], 0, observed, NOW) == ["wellbeing"]
    assert "debts" not in checkins.choose(store, [], 2, {"debts": ago(10)}, NOW)  # fresh: no question


def test_special_characteristics_only_when_named(store):
    special = next(c.key for c in store.catalog if c.special and c.question and c.key != "wellbeing")
    old = {special: ago(5000)}
    assert checkins.choose(store, [], 2, old, NOW) == ["wellbeing"]
    assert checkins.choose(store, [special], 2, old, NOW) == ["wellbeing", special]


def test_missing_characteristics_only_when_named(store):
    add_clients(store, 1, preferred_channel="sms")
    plan = checkins.plan_round(store, ADMIN, "status = active", NOW)
    assert [p.keys for p in plan.planned] == [["wellbeing"]]
    plan = checkins.plan_round(store, ADMIN, "status = active", NOW, ask="transport")
    assert plan.planned[0].keys == ["wellbeing", "transport"]


def test_who_is_skipped(store):
    add_clients(store, 1, preferred_channel="sms")
    add_clients(store, 1, start=2, status="outflow")
    add_clients(store, 1, start=3, email=None, phone=None)
    add_clients(store, 1, start=4, preferred_channel="sms", email=None)
    policy.set_opt_out(store, 4, "sms")
    plan = checkins.plan_round(store, ADMIN, "status = active or status = outflow", NOW)
    assert [p.client_id for p in plan.planned] == [1]
    assert plan.skipped == {"outflow": 1, "no_address": 1, "opted_out": 1}


def sent(store, at):
    store.db.execute("UPDATE messages SET status = 'sent', sent_at = ? WHERE status = 'queued'", [iso(at)])
    store.db.conn.commit()


def test_sms_asks_one_question_at_a_time_and_moves_on_when_the_window_closes(store):
    add_clients(store, 1, preferred_channel="sms")
    clients.set_characteristics(store, ADMIN, "K00001", {"childcare_arranged": "nee"}, observed_at=ago(300))
    r = checkins.round_now(store, ADMIN, "status = active", NOW)
    assert r["queued"] == 1
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone() == (1,)
    sent(store, NOW)
    assert activity.update(store, NOW + timedelta(minutes=1))["asked"] == 1
    window = store.config.daemon.reply_window_hours
    assert activity.update(store, NOW + timedelta(hours=window - 1))["unanswered"] == 0
    done = activity.update(store, NOW + timedelta(hours=window, minutes=1))
    assert done["unanswered"] == 1 and done["next"] == 1
    bodies = [b for (b,) in store.db.execute("SELECT body FROM messages ORDER BY id")]
    assert len(bodies) == 2 and "opvang" in bodies[1]
    sent(store, NOW + timedelta(hours=window, minutes=2))
    activity.update(store, NOW + timedelta(hours=window, minutes=3))
    activity.update(store, NOW + timedelta(hours=2 * window, minutes=5))
    assert store.db.execute("SELECT status, replied_at FROM checkins").fetchone() == ("unanswered", None)


def test_two_unanswered_checkins_put_the_client_on_the_attention_list(store):
    add_clients(store, 2, preferred_channel="sms")
    at = NOW
    for _ in range(2):
        checkins.round_now(store, ADMIN, "status = active", at)
        sent(store, at)
        activity.update(store, at)
        at += timedelta(days=4)
        activity.update(store, at)
    assert activity.missed_checkins(store, "1", []) == {1: 2, 2: 2}
    from caseload import replies

    checkins.round_now(store, ADMIN, "client_number = K00002", at)
    sent(store, at)
    phone = store.db.execute("SELECT phone FROM clients WHERE id = 2").fetchone()[0]
    replies.handle_sms(store, replies.Inbound("cm", "r1", phone, "3"), at)
    assert activity.missed_checkins(store, "1", []) == {1: 2}
    rows = attention.attention_list(store, ADMIN, now=at)
    missed = {r["client_number"] for r in rows if any(x["signal"] == "missed_checkins" for x in r["reasons"])}
    assert missed == {"K00001"}


def test_email_checkin_is_one_message_with_every_question_and_tap_links(store):
    add_clients(store, 1)
    clients.set_characteristics(store, ADMIN, "K00001", {"childcare_arranged": "nee"}, observed_at=ago(300))
    checkins.round_now(store, ADMIN, "status = active", NOW)
    (subject, body), = store.db.execute("SELECT subject, body FROM messages").fetchall()
    assert subject == "Hoe gaat het met je?"
    assert body.count("/a/") == 7  # five for wellbeing, ja and nee
    assert store.db.execute("SELECT COUNT(DISTINCT message_id), COUNT(*) FROM checkin_questions").fetchone() == (1, 2)


def test_a_schedule_follows_each_clients_rhythm_from_the_database(store):
    add_clients(store, 2, preferred_channel="sms")
    sid = checkins.add_schedule(store, ADMIN, "status = active", "2w", at="11:00", now=NOW.replace(hour=7))
    assert checkins.run_schedules(store, NOW.replace(hour=8))["queued"] == 0  # 10:00 local: not yet
    assert checkins.run_schedules(store, NOW)["queued"] == 2
    assert checkins.run_schedules(store, NOW + timedelta(minutes=1))["queued"] == 0  # done already
    sent(store, NOW)
    activity.update(store, NOW + timedelta(days=4))  # windows closed: check-ins closed
    assert checkins.run_schedules(store, NOW + timedelta(days=13))["queued"] == 0
    add_clients(store, 1, start=3, preferred_channel="sms")  # joins the segment: starts at once
    assert checkins.run_schedules(store, NOW + timedelta(days=13))["queued"] == 1
    assert checkins.run_schedules(store, NOW + timedelta(days=14))["queued"] == 2
    checkins.set_schedule_status(store, ADMIN, sid, "paused")
    assert checkins.run_schedules(store, NOW + timedelta(days=40))["queued"] == 0


def test_a_coachs_schedule_reaches_only_their_own_clients(store):
    add_clients(store, 1, preferred_channel="sms", coach="coach1")
    add_clients(store, 1, start=2, preferred_channel="sms", coach="coach2")
    checkins.add_schedule(store, COACH1, "status = active", "1w", at="00:00", now=NOW - timedelta(days=1))
    checkins.run_schedules(store, NOW)
    assert store.db.execute("SELECT client_id FROM checkins").fetchall() == [(1,)]
    assert [s["owner"] for s in checkins.list_schedules(store, COACH1)] == ["coach1"]
    assert checkins.list_schedules(store, access.Actor("coach2", "coach")) == []


@pytest.mark.parametrize("every, days", [("2w", 14), ("14d", 14), ("3 weeks", 21), ("10 dagen", 10), ("5", 5)])
def test_parse_every(every, days):
    assert checkins.parse_every(every) == days


@pytest.mark.parametrize("every", ["", "0d", "2 months", "w", "400d", "-1w"])
def test_parse_every_refuses(every):
    from caseload.errors import BadInput

    with pytest.raises(BadInput):
        checkins.parse_every(every)


def test_cli_schedule_now_and_list(cli):
    assert cli("client", "add", "client_number=A1", "phone=0612345678", "preferred_channel=sms", "coach=admin").exit_code == 0
    r = cli("checkin", "schedule", "--segment", "status = active", "--every", "2w", "--ask", "transport")
    assert r.exit_code == 0, r.output
    r = cli("checkin", "schedule", "--segment", "status = active", "--every", "2 months")
    assert r.exit_code == 2 and "--every" in r.output
    r = cli("checkin", "schedule", "--segment", "status = active", "--every", "1w", "--ask", "no_such_key")
    assert r.exit_code == 2
    r = cli("checkin", "now", "--segment", "status = active")
    assert r.exit_code == 0 and "1" in r.output, r.output
    rows = json.loads(cli("checkin", "list", "--format", "json").stdout)
    assert rows[0]["every_days"] == 14 and rows[0]["ask"] == "transport"
    recent = json.loads(cli("checkin", "list", "--recent", "--format", "json").stdout)
    assert recent[0]["client_number"] == "A1" and recent[0]["status"] == "open" and recent[0]["channel"] == "sms"
    assert cli("checkin", "pause", "1").exit_code == 0
    assert json.loads(cli("checkin", "list", "--format", "json").stdout)[0]["status"] == "paused"
    assert cli("checkin", "pause", "99").exit_code == 2
