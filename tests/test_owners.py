"""Owners of shared objects: templates, saved segments, campaigns and check-in schedules are
changed, deleted, paused, resumed or retried only by their owner, the owner's team lead or an
admin, in the core (so the TUI gets the same answer as the CLI); a change to what a scheduled
campaign sends or reaches is audited with who made it; templates can be deleted."""

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, campaigns, checkins, outbox, segments, templates
from caseload.errors import BadInput, PermissionDenied
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
COACH1 = access.Actor("coach1", "coach", "noord")
COACH2 = access.Actor("coach2", "coach", "zuid")
LEAD_NOORD = access.Actor("lead_noord", "teamlead", "noord")
LEAD_ZUID = access.Actor("lead_zuid", "teamlead", "zuid")
MON = datetime(2025, 6, 16, 8, 0, tzinfo=timezone.utc)  # Monday 10:00 in Amsterdam


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.delenv("CASELOAD_WEBHOOK_TOKEN", raising=False)
    s = make_store(tmp_path)
    s.db.execute("UPDATE users SET team = 'noord' WHERE name = 'coach1'")
    s.db.execute("UPDATE users SET team = 'zuid' WHERE name = 'coach2'")
    access.add_user(s.db, "lead_noord", "teamlead", "noord")
    access.add_user(s.db, "lead_zuid", "teamlead", "zuid")
    add_clients(s, 2, coach="coach1", preferred_channel="sms")
    add_clients(s, 2, start=3, coach="coach2", preferred_channel="sms")
    yield s
    s.close()


def audit_rows(store, action=None):
    sql = "SELECT actor, action, object, result FROM audit"
    return [r for r in store.db.execute(sql).fetchall() if action is None or r[1] == action]


# --- templates ---------------------------------------------------------------------------------

def test_only_the_owner_their_team_lead_or_an_admin_replace_a_template(store):
    templates.add_template(store, COACH1, "tip", "sms", "Hoi {{ first_name }}")
    for other in (COACH2, LEAD_ZUID):
        with pytest.raises(PermissionDenied):
            templates.add_template(store, other, "tip", "sms", "Van iemand anders", replace=True)
        with pytest.raises(PermissionDenied):  # a new variant of someone else's template is a change too
            templates.add_template(store, other, "tip", "email", "Van iemand anders", subject="x")
    assert templates.variants(store, "tip")[0].body == "Hoi {{ first_name }}"
    v = templates.add_template(store, LEAD_NOORD, "tip", "sms", "Hoi {{ first_name }}!", replace=True)
    assert v.owner == "coach1" and v.author == "lead_noord"  # the owner stays; who changed it is kept
    templates.add_template(store, ADMIN, "tip", "email", "Hallo", subject="Tip")
    assert {v.owner for v in templates.variants(store, "tip")} == {"coach1"}
    assert [r["owner"] for r in templates.list_templates(store)] == ["coach1", "coach1"]


def test_a_coach_cannot_replace_a_template_that_an_admins_campaign_sends_to_everyone(store):
    """The break: a coach replaced a shared template, and an admin's scheduled campaign sent the
    coach's text to the clients of every coach."""
    templates.add_template(store, ADMIN, "tip", "sms", "Kom naar de banenmarkt, {{ first_name }}")
    campaigns.add(store, ADMIN, "banenmarkt", "tip", "status = active", weekly="ma", at="10:00",
                  now=MON - timedelta(days=1))
    with pytest.raises(PermissionDenied):
        templates.add_template(store, COACH2, "tip", "sms", "Klik hier {{ first_name }}", replace=True)
    campaigns.run_due(store, MON + timedelta(minutes=1))
    bodies = {r[0] for r in store.db.execute("SELECT body FROM messages")}
    assert len(bodies) == 4 and all(b.startswith("Kom naar de banenmarkt") for b in bodies)


def test_a_change_to_a_template_a_scheduled_campaign_sends_is_audited_with_who_changed_it(store):
    templates.add_template(store, COACH1, "tip", "sms", "Hoi {{ first_name }}")
    r = campaigns.add(store, COACH1, "tips", "tip", "status = active", weekly="ma", now=MON)
    tid = templates.variants(store, "tip")[0].id
    templates.add_template(store, LEAD_NOORD, "tip", "sms", "Hallo {{ first_name }}", replace=True)
    assert ("lead_noord", "content_change", f"campaign:{r['campaign_id']}", f"template:{tid}") in audit_rows(store)
    # nobody's personal data in any entry: objects by internal id or name only
    assert not any("Hallo" in " ".join(row) for row in audit_rows(store))


def test_a_template_that_another_persons_campaign_sends_is_changed_only_by_who_may_change_that_campaign(store):
    templates.add_template(store, COACH1, "tip", "sms", "Hoi {{ first_name }}")
    campaigns.add(store, ADMIN, "iedereen", "tip", "status = active", weekly="ma", now=MON)
    with pytest.raises(PermissionDenied) as e:
        templates.add_template(store, COACH1, "tip", "sms", "Nu voor iedereen", replace=True)
    assert "iedereen" in e.value.message
    templates.add_template(store, ADMIN, "tip", "sms", "Hallo {{ first_name }}", replace=True)


def test_template_delete(store):
    templates.add_template(store, COACH1, "tip", "sms", "Hoi")
    templates.add_template(store, COACH1, "tip", "email", "Hoi", subject="Tip")
    templates.add_template(store, COACH1, "tip", "sms", "Hi", language="en")
    with pytest.raises(PermissionDenied):
        templates.delete_template(store, COACH2, "tip")
    assert templates.delete_template(store, COACH1, "tip", channel="sms", language="en") == 1
    r = campaigns.add(store, COACH1, "tips", "tip", "status = active", weekly="ma", now=MON)
    with pytest.raises(BadInput) as e:  # an active campaign still sends it
        templates.delete_template(store, LEAD_NOORD, "tip")
    assert "tips" in e.value.message
    campaigns.set_status(store, COACH1, "tips", "paused")
    assert templates.delete_template(store, LEAD_NOORD, "tip") == 2
    with pytest.raises(Exception):
        templates.variants(store, "tip")
    assert ("lead_noord", "template_delete") in [r[:2] for r in audit_rows(store)]
    assert r["campaign_id"]


# --- saved segments ----------------------------------------------------------------------------

def test_only_the_owner_their_team_lead_or_an_admin_replace_or_delete_a_saved_segment(store):
    segments.save(store, COACH1, "Mijn groep", "wellbeing <= 2")
    for other in (COACH2, LEAD_ZUID):
        with pytest.raises(PermissionDenied):
            segments.save(store, other, "Mijn groep", "status = active")
        with pytest.raises(PermissionDenied):
            segments.delete(store, other, "Mijn groep")
    assert segments.get(store, "Mijn groep")["expression"] == "wellbeing <= 2"
    saved = segments.save(store, LEAD_NOORD, "Mijn groep", "wellbeing <= 3")
    assert saved["owner"] == "coach1" and saved["author"] == "lead_noord"
    assert [s["owner"] for s in segments.saved(store)] == ["coach1"]


def test_a_change_to_a_segment_a_scheduled_campaign_or_checkin_uses_is_audited_and_guarded(store):
    templates.add_template(store, ADMIN, "tip", "sms", "Hoi")
    segments.save(store, COACH1, "Basis", "wellbeing <= 2")
    segments.save(store, COACH1, "Mijn groep", 'segment = "Basis" and status = active')
    r = campaigns.add(store, COACH1, "tips", "tip", "Mijn groep", weekly="ma", now=MON)
    sid = checkins.add_schedule(store, COACH1, 'segment = "Basis"', "2w", now=MON)
    base_id = store.db.execute("SELECT id FROM segments WHERE name = 'Basis'").fetchone()[0]
    segments.save(store, LEAD_NOORD, "Basis", "wellbeing <= 3")
    rows = audit_rows(store, "content_change")
    assert ("lead_noord", "content_change", f"campaign:{r['campaign_id']}", f"segment:{base_id}") in rows
    assert ("lead_noord", "content_change", f"checkin_schedule:{sid}", f"segment:{base_id}") in rows
    campaigns.add(store, ADMIN, "iedereen", "tip", "Basis", weekly="ma", now=MON)
    with pytest.raises(PermissionDenied):  # the admin's campaign reaches everyone through it now
        segments.save(store, COACH1, "Basis", "status = active")


# --- campaigns, check-in schedules and the outbox ----------------------------------------------

def test_campaign_pause_resume_and_outbox_retry_and_cancel_answer_the_same(store):
    templates.add_template(store, COACH1, "tip", "sms", "Hoi")
    campaigns.add(store, COACH1, "tips", "tip", "status = active", weekly="ma", now=MON)
    campaigns.set_status(store, COACH1, "tips", "paused")
    for other in (COACH2, LEAD_ZUID):
        with pytest.raises(PermissionDenied):  # the break: retry resumed what resume refused
            outbox.retry(store, other, campaign="tips")
        with pytest.raises(PermissionDenied):
            outbox.cancel(store, other, campaign="tips")
        with pytest.raises(PermissionDenied):
            campaigns.set_status(store, other, "tips", "active")
    assert store.db.execute("SELECT status FROM campaigns WHERE name = 'tips'").fetchone()[0] == "paused"
    outbox.retry(store, LEAD_NOORD, campaign="tips")
    assert store.db.execute("SELECT status FROM campaigns WHERE name = 'tips'").fetchone()[0] == "active"
    campaigns.set_status(store, ADMIN, "tips", "paused")


def test_checkin_schedules_are_paused_and_resumed_by_their_owner_team_lead_or_an_admin(store):
    sid = checkins.add_schedule(store, COACH1, "status = active", "2w", now=MON)
    for other in (COACH2, LEAD_ZUID):
        with pytest.raises(PermissionDenied):
            checkins.set_schedule_status(store, other, sid, "paused")
    checkins.set_schedule_status(store, LEAD_NOORD, sid, "paused")
    checkins.set_schedule_status(store, COACH1, sid, "active")
    assert [s["owner"] for s in checkins.list_schedules(store, COACH1)] == ["coach1"]


def test_the_daemon_runs_a_campaign_as_its_owner(store):
    templates.add_template(store, COACH1, "tip", "sms", "Hoi {{ first_name }}")
    campaigns.add(store, COACH1, "tips", "tip", "status = active", weekly="ma", at="10:00", now=MON - timedelta(days=1))
    store.db.execute("UPDATE campaigns SET author = 'admin'")  # the last changer, not its owner
    campaigns.run_due(store, MON + timedelta(minutes=1))
    assert sorted(r[0] for r in store.db.execute("SELECT client_id FROM messages")) == [1, 2]


# --- the CLI, as it is really used ---------------------------------------------------------------

def test_cli_refuses_another_coachs_template_and_segment_and_lists_owners(cli):
    for user, role, team in (("coach1", "coach", "noord"), ("coach2", "coach", "zuid")):
        assert cli("user", "add", user, "--role", role, "--team", team).exit_code == 0
    assert cli("template", "add", "tip", "--channel", "sms", "--body", "Hoi", user="coach1").exit_code == 0
    r = cli("template", "add", "tip", "--channel", "sms", "--body", "Klik hier", "--replace", user="coach2")
    assert r.exit_code == 1 and "coach1" in r.output, r.output
    rows = json.loads(cli("template", "list", "--format", "json", user="coach2").stdout)
    assert rows[0]["owner"] == "coach1"
    assert cli("segment", "save", "groep", "wellbeing <= 2", user="coach1").exit_code == 0
    r = cli("segment", "save", "groep", "status = active", user="coach2")
    assert r.exit_code == 1 and "coach1" in r.output, r.output
    rows = json.loads(cli("segment", "saved", "--format", "json", user="coach2").stdout)
    assert rows[0]["owner"] == "coach1" and rows[0]["expression"] == "wellbeing <= 2"
    r = cli("template", "delete", "tip", user="coach2")
    assert r.exit_code == 1, r.output
    r = cli("template", "delete", "tip", "--channel", "sms", user="coach1")
    assert r.exit_code == 0, r.output
    assert json.loads(cli("template", "list", "--format", "json").stdout) == []
    conn = sqlite3.connect(cli.db)
    refused = conn.execute("SELECT actor, object FROM audit WHERE action = 'refused'").fetchall()
    conn.close()
    assert ("coach2", "command:template add") in refused and ("coach2", "command:template delete") in refused


def test_queue_adds_only_to_a_campaign_the_actor_may_change(store):
    templates.add_template(store, ADMIN, "tip", "sms", "Hoi {{ first_name }}")
    plan = outbox.plan_queue(store, COACH1, "status = active", "tip", campaign="banenmarkt", now=MON)
    outbox.commit_queue(store, COACH1, plan, now=MON)
    with pytest.raises(PermissionDenied):
        outbox.plan_queue(store, COACH2, "status = active", "tip", campaign="banenmarkt", now=MON)
    mine = outbox.plan_queue(store, COACH1, "status = active", "tip", now=MON)
    outbox.commit_queue(store, COACH1, mine, now=MON)
    theirs = outbox.plan_queue(store, COACH2, "status = active", "tip", now=MON)  # the default name is taken
    assert theirs.campaign == f"{mine.campaign} coach2" and theirs.count == 2
    outbox.commit_queue(store, COACH2, theirs, now=MON)
    assert store.db.execute("SELECT name, owner FROM campaigns ORDER BY id").fetchall() == [
        ("banenmarkt", "coach1"), (mine.campaign, "coach1"), (theirs.campaign, "coach2")]
