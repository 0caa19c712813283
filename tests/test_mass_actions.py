"""Mass actions ask: every command that will message or schedule more than one client first shows
how many clients and messages, by channel, and when the first go out (from the core's plan, so
the TUI shows the same numbers), and asks; --yes for scripts; no answer is no. A check-in
schedule's first round waits for its --at time."""

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from caseload import access, campaigns, checkins, outbox, templates
from caseload.config import load_config
from caseload.daemon import loop
from caseload.clock import iso
from servers import add_clients, make_store

NOW = datetime(2025, 6, 16, 12, 0, tzinfo=timezone.utc)  # Monday 14:00 in Amsterdam
TOMORROW_10 = datetime(2025, 6, 17, 8, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in Amsterdam
ADMIN = access.Actor("admin", "admin")


def query(db, sql, args=()):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.fixture
def people(cli):
    """Three clients of the admin: two by SMS, one by email."""
    for number, extra in (("A1", ["phone=0612345671", "preferred_channel=sms"]),
                          ("A2", ["phone=0612345672", "preferred_channel=sms"]),
                          ("A3", ["email=a3@voorbeeld.nl", "preferred_channel=email"])):
        r = cli("client", "add", f"client_number={number}", "coach=admin", *extra)
        assert r.exit_code == 0, r.output
    return cli


def test_checkin_schedule_from_the_readme_asks_and_waits_for_its_at_time(people):
    """The break: 'schedule 1 added', and the next tick queued a check-in for everyone at once,
    despite --at 10:00."""
    cli = people
    with time_machine.travel(NOW, tick=False):
        r = cli("checkin", "schedule", "--segment", "status = active", "--every", "2w")  # no answer: no
        assert r.exit_code == 1, r.output
        assert "3 clients, 3 messages (email 1, sms 2); the first go out 2025-06-17 10:00." in r.output
        assert "Add this check-in schedule?" in r.output
        assert query(cli.db, "SELECT COUNT(*) FROM checkin_schedules") == [(0,)]
        r = cli("checkin", "schedule", "--segment", "status = active", "--every", "2w", input="y\n")
        assert r.exit_code == 0 and "schedule 1" in r.output, r.output
    d = loop.Daemon(load_config(cli.config), cli.db, tick=1, serve_webhooks=False)
    d.store = d.open_store()
    try:
        for moment, queued in ((NOW + timedelta(minutes=1), 0), (TOMORROW_10 - timedelta(minutes=1), 0),
                               (TOMORROW_10, 3), (TOMORROW_10 + timedelta(minutes=1), 0)):
            with time_machine.travel(moment, tick=False):
                assert d.run_job("checkins").result["queued"] == queued, moment
    finally:
        d.close()
    assert query(cli.db, "SELECT DISTINCT due_at FROM messages") == [(iso(TOMORROW_10),)]


def test_checkin_schedule_first_round_and_resume_wait_for_the_time_of_day(tmp_path):
    store = make_store(tmp_path)
    try:
        add_clients(store, 2, preferred_channel="sms")
        sid = checkins.add_schedule(store, ADMIN, "status = active", "1w", at="10:00", now=NOW)
        assert checkins.run_schedules(store, NOW + timedelta(hours=1))["queued"] == 0
        assert checkins.run_schedules(store, TOMORROW_10)["queued"] == 2
        checkins.set_schedule_status(store, ADMIN, sid, "paused")
        store.db.execute("UPDATE checkins SET status = 'unanswered'")  # their reply windows closed
        later = TOMORROW_10 + timedelta(days=9, hours=4)  # 14:00, a week and more later
        reach = checkins.plan_resume(store, ADMIN, sid, now=later)
        assert len(reach.clients) == 2 and reach.first_at == TOMORROW_10 + timedelta(days=10)
        checkins.set_schedule_status(store, ADMIN, sid, "active", now=later)
        assert checkins.run_schedules(store, later + timedelta(minutes=1))["queued"] == 0
        assert checkins.run_schedules(store, TOMORROW_10 + timedelta(days=10))["queued"] == 2
    finally:
        store.close()


def test_checkin_now_asks_with_the_counts_and_yes_goes_ahead(people):
    cli = people
    r = cli("checkin", "now", "--segment", "status = active", input="n\n")
    assert r.exit_code == 1 and "3 clients, 3 messages (email 1, sms 2)" in r.output, r.output
    assert query(cli.db, "SELECT COUNT(*) FROM messages") == [(0,)]
    r = cli("checkin", "now", "--segment", "status = active", "--yes")
    assert r.exit_code == 0, r.output
    assert query(cli.db, "SELECT COUNT(*) FROM checkins") == [(3,)]


def test_one_client_does_not_ask(people):
    r = people("checkin", "now", "--segment", "client_number = A1")
    assert r.exit_code == 0 and "1 clients, 1 messages (sms 1)" in r.output, r.output


def test_campaign_add_and_resume_ask(people):
    cli = people
    assert cli("template", "add", "tip", "--channel", "sms", "--body", "Hoi {{ first_name }}").exit_code == 0
    with time_machine.travel(NOW, tick=False):
        r = cli("campaign", "add", "tips", "--template", "tip", "--segment", "status = active", "--weekly", "wo",
                "--channel", "sms")
        assert r.exit_code == 1, r.output
        assert "2 clients, 2 messages (sms 2); the first go out 2025-06-18 10:00." in r.output
        assert query(cli.db, "SELECT COUNT(*) FROM campaigns") == [(0,)]
        r = cli("campaign", "add", "tips", "--template", "tip", "--segment", "status = active", "--weekly", "wo",
                "--channel", "sms", "--yes")
        assert r.exit_code == 0, r.output
        assert cli("campaign", "pause", "tips").exit_code == 0
        r = cli("campaign", "resume", "tips", input="n\n")
        assert r.exit_code == 1 and "2 clients, 2 messages (sms 2)" in r.output and "Resume campaign" in r.output
        assert query(cli.db, "SELECT status FROM campaigns") == [("paused",)]
        r = cli("--lang", "nl", "campaign", "resume", "tips", input="j\n")
        assert "2 klanten, 2 berichten (sms 2); de eerste gaan 2025-06-18 10:00 uit." in r.output
        assert "Campagne 'tips' hervatten?" in r.output and r.exit_code == 0, r.output
        assert query(cli.db, "SELECT status FROM campaigns") == [("active",)]


def test_relative_campaign_counts_the_dates_ahead(tmp_path):
    store = make_store(tmp_path)
    try:
        templates.add_template(store, ADMIN, "welkom", "sms", "Welkom {{ first_name }}")
        add_clients(store, 1, preferred_channel="sms", intake_date="2025-06-10")  # +14 days: 24 June
        add_clients(store, 1, start=2, preferred_channel="sms", intake_date="2025-05-01")  # long gone
        reach = campaigns.plan_add(store, ADMIN, "welkom", "welkom", "status = active", after="intake_date", days=14,
                                   now=NOW)
        assert len(reach.clients) == 1 and reach.first_at == datetime(2025, 6, 24, 8, 0, tzinfo=timezone.utc)
    finally:
        store.close()


def test_outbox_retry_of_more_than_one_asks(people):
    cli = people
    assert cli("template", "add", "tip", "--channel", "sms", "--body", "Hoi").exit_code == 0
    r = cli("queue", "--segment", "status = active", "--template", "tip", "--channel", "sms", "--campaign", "c",
            "--yes")
    assert r.exit_code == 0, r.output
    assert cli("outbox", "cancel", "--campaign", "c").exit_code == 0
    r = cli("outbox", "retry", "--campaign", "c")
    assert r.exit_code == 1 and "2 clients, 2 messages (sms 2)" in r.output and "Queue 2 messages again?" in r.output
    ids = [i for (i,) in query(cli.db, "SELECT id FROM messages ORDER BY id")]
    r = cli("outbox", "retry", str(ids[0]))  # one message: no question
    assert r.exit_code == 0 and "1 clients, 1 messages (sms 1)" in r.output, r.output
    r = cli("outbox", "retry", "--campaign", "c", "--yes")
    assert r.exit_code == 0, r.output
    assert query(cli.db, "SELECT status, COUNT(*) FROM messages GROUP BY status") == [("queued", 2)]


def test_plans_come_from_the_core(tmp_path):
    """The numbers the CLI and the TUI show: outbox.plan_retry, QueuePlan.reach."""
    store = make_store(tmp_path)
    try:
        add_clients(store, 3, preferred_channel="sms")
        templates.add_template(store, ADMIN, "tip", "sms", "Hoi")
        plan = outbox.plan_queue(store, ADMIN, "status = active", "tip", campaign="c", now=NOW)
        assert plan.reach().by_channel == {"sms": 3} and plan.reach().first_at == NOW
        outbox.commit_queue(store, ADMIN, plan, now=NOW)
        outbox.cancel(store, ADMIN, campaign="c", now=NOW)
        reach = outbox.plan_retry(store, ADMIN, campaign="c", now=NOW)
        assert (len(reach.clients), reach.messages, reach.asks()) == (3, 3, True)
        assert json.dumps(sorted(reach.by_channel.items())) == '[["sms", 3]]'
    finally:
        store.close()
