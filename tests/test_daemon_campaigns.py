"""Scheduled campaigns: once, weekly, every N weeks, monthly on the Nth weekday, and relative to a
date; membership is taken when the occurrence is due, each occurrence is queued once, missed ones
collapse and very late ones are skipped."""

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from caseload import access, campaigns, templates
from caseload.errors import BadInput
from caseload.clock import iso
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
MON = datetime(2025, 6, 16, 8, 0, tzinfo=timezone.utc)  # Monday 10:00 in Amsterdam


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.delenv("CASELOAD_WEBHOOK_TOKEN", raising=False)
    s = make_store(tmp_path)
    templates.add_template(s, ADMIN, "tip", "sms", "Hoi {{ first_name }}, kijk op https://werk.example/tip")
    yield s
    s.close()


def local(store, moment):
    return moment.astimezone(store.tz).strftime("%Y-%m-%d %H:%M")


def schedule(store, name):
    return next(s for s in campaigns._schedules(store) if s["name"] == name)


def test_next_occurrences_weekly_every_two_weeks_and_monthly(store):
    r = campaigns.add(store, ADMIN, "w", "tip", "status = active", weekly="wo", every_weeks=2, at="09:30", now=MON)
    s = schedule(store, "w")
    first = campaigns.parse_iso(r["next_at"])
    assert local(store, first) == "2025-06-18 09:30"
    assert local(store, campaigns.next_occurrence(store, s, first)) == "2025-07-02 09:30"
    campaigns.add(store, ADMIN, "m", "tip", "status = active", monthly="last fri", at="14:00", now=MON)
    s = schedule(store, "m")
    nxt = campaigns.parse_iso(s["next_at"])
    assert local(store, nxt) == "2025-06-27 14:00"
    assert local(store, campaigns.next_occurrence(store, s, nxt)) == "2025-07-25 14:00"
    campaigns.add(store, ADMIN, "m1", "tip", "status = active", monthly="first ma", at="10:00", now=MON)
    assert local(store, campaigns.parse_iso(schedule(store, "m1")["next_at"])) == "2025-07-07 10:00"
    # across the change to winter time the local hour stays
    s = schedule(store, "w")
    autumn = campaigns.next_occurrence(store, s, datetime(2025, 10, 23, tzinfo=timezone.utc))
    assert local(store, autumn) == "2025-11-05 09:30"


def test_membership_is_taken_when_the_occurrence_is_due(store):
    add_clients(store, 2, preferred_channel="sms")
    campaigns.add(store, ADMIN, "w", "tip", "status = active", weekly="ma", at="10:00", now=MON - timedelta(days=1))
    add_clients(store, 1, start=3, preferred_channel="sms")  # joins after the campaign was made
    store.db.execute("UPDATE clients SET status = 'outflow' WHERE id = 1")
    store.db.conn.commit()
    assert campaigns.run_due(store, MON - timedelta(minutes=1))["queued"] == 0
    done = campaigns.run_due(store, MON + timedelta(minutes=1))
    assert done == {"occurrences": 1, "queued": 2, "skipped_late": 0}
    rows = store.db.execute("SELECT client_id, occurrence FROM messages ORDER BY client_id").fetchall()
    assert rows == [(2, "2025-06-16T10:00"), (3, "2025-06-16T10:00")]
    assert campaigns.run_due(store, MON + timedelta(minutes=2))["queued"] == 0  # done, not again
    assert local(store, campaigns.parse_iso(schedule(store, "w")["next_at"])) == "2025-06-23 10:00"


def test_missed_occurrences_collapse_and_very_late_ones_are_skipped(store):
    add_clients(store, 1, preferred_channel="sms")
    campaigns.add(store, ADMIN, "w", "tip", "status = active", weekly="ma", at="10:00", now=MON - timedelta(days=1))
    hours = store.config.policy.expire_after_hours
    done = campaigns.run_due(store, MON + timedelta(hours=hours + 1))  # the daemon was down a week
    assert done["skipped_late"] == 1 and done["queued"] == 0
    assert local(store, campaigns.parse_iso(schedule(store, "w")["next_at"])) == "2025-06-30 10:00"
    done = campaigns.run_due(store, MON + timedelta(days=14, hours=3))
    assert done["queued"] == 1
    assert store.db.execute("SELECT occurrence FROM messages").fetchall() == [("2025-06-30T10:00",)]


def test_once(store):
    add_clients(store, 1, preferred_channel="sms")
    campaigns.add(store, ADMIN, "o", "tip", "status = active", once="2025-06-16 12:00", now=MON)
    assert campaigns.run_due(store, MON + timedelta(hours=3))["queued"] == 1
    assert schedule(store, "o")["next_at"] is None
    assert campaigns.run_due(store, MON + timedelta(days=30))["occurrences"] == 0


def test_relative_to_intake_date(store):
    add_clients(store, 1, preferred_channel="sms", intake_date="2025-06-02")  # 14 days before MON
    add_clients(store, 1, start=2, preferred_channel="sms", intake_date="2025-06-03")
    add_clients(store, 1, start=3, preferred_channel="sms", intake_date="2025-01-01")  # long before the campaign
    campaigns.add(store, ADMIN, "welkom", "tip", "status = active", after="intake_date", days=14, at="09:00",
                  now=MON - timedelta(days=2))
    assert campaigns.run_due(store, MON - timedelta(hours=2))["queued"] == 0  # 08:00 local
    assert campaigns.run_due(store, MON + timedelta(minutes=5))["queued"] == 1
    assert campaigns.run_due(store, MON + timedelta(minutes=6))["queued"] == 0
    assert campaigns.run_due(store, MON + timedelta(days=1))["queued"] == 1
    rows = store.db.execute("SELECT client_id, occurrence FROM messages ORDER BY id").fetchall()
    assert rows == [(1, "intake_date:2025-06-02"), (2, "intake_date:2025-06-03")]


def test_tracked_links_when_a_secret_is_set(store, monkeypatch):
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "hook")
    add_clients(store, 1, preferred_channel="sms")
    campaigns.add(store, ADMIN, "o", "tip", "status = active", once="2025-06-16 12:00", now=MON)
    campaigns.run_due(store, MON + timedelta(hours=3))
    body = store.db.execute("SELECT body FROM messages").fetchone()[0]
    assert "werk.example" not in body and "/l/" in body


@pytest.mark.parametrize("kw", [{}, {"weekly": "ma", "monthly": "first ma"}, {"weekly": "someday"},
                                {"monthly": "fifth ma"}, {"after": "intake_date"}, {"after": "debts", "days": 3},
                                {"once": "2020-01-01 10:00"}, {"weekly": "ma", "at": "25:00"}])
def test_bad_schedules(store, kw):
    with pytest.raises(BadInput):
        campaigns.add(store, ADMIN, "x", "tip", "status = active", now=MON, **kw)


def test_cli_add_list_pause(cli):
    assert cli("template", "add", "tip", "--channel", "sms", "--body", "Hoi").exit_code == 0
    r = cli("campaign", "add", "tips", "--template", "tip", "--segment", "status = active", "--weekly", "ma")
    assert r.exit_code == 0, r.output
    rows = json.loads(cli("campaign", "list", "--format", "json").stdout)
    assert rows[0]["name"] == "tips" and rows[0]["next_at"]
    assert cli("campaign", "pause", "tips").exit_code == 0
    assert json.loads(cli("campaign", "list", "--format", "json").stdout)[0]["status"] == "paused"
    assert cli("campaign", "add", "tips", "--template", "tip", "--segment", "x = 1", "--weekly", "ma").exit_code == 2
