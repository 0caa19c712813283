"""The smaller things a coach trips on: outflow dates that cannot be, a second outflow that
silently replaced the first, commands that said nothing, an import that accepted an unknown
coach, a wellbeing chart spaced by count, a preview that promised a send time the frequency
cap would not keep, a demo with activity before intake."""

from datetime import datetime, timedelta, timezone

from caseload import access, outbox, templates
from caseload.clock import iso
from caseload.db import write_transaction
from caseload.tui.screens.client import chart_points
from caseload.tui.screens.compose import held_by_cap
from servers import add_clients, make_store


def audit_actions(cli) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(cli.db)
    try:
        return [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY id")]
    finally:
        conn.close()


def test_outflow_before_intake_is_refused_and_a_second_outflow_is_only_a_correction(cli):
    assert cli("client", "add", "client_number=1", "coach=admin", "intake_date=01-03-2025").exit_code == 0
    r = cli("client", "outflow", "1", "--type", "parttime", "--date", "01-01-2025")
    assert r.exit_code == 2 and "2025-01-01 is before the intake date 2025-03-01" in r.stderr
    r = cli("client", "outflow", "1", "--type", "parttime", "--date", "01-06-2025")
    assert r.exit_code == 0 and "Client 1: outflow (" in r.stderr and "2025-06-01 recorded" in r.stderr
    r = cli("client", "outflow", "1", "--type", "fulltime", "--date", "01-07-2025")
    assert r.exit_code == 2 and "already flowed out on 2025-06-01" in r.stderr and "--correct" in r.stderr
    r = cli("client", "outflow", "1", "--type", "fulltime", "--date", "01-07-2025", "--correct")
    assert r.exit_code == 0 and "corrected" in r.stderr
    shown = cli("client", "show", "1", "--format", "json").stdout
    assert '"outflow_type": "fulltime"' in shown and '"outflow_date": "2025-07-01"' in shown
    assert audit_actions(cli).count("outflow") == 1 and audit_actions(cli).count("outflow_correct") == 1


def test_intervention_start_and_end_say_what_they_did(cli):
    assert cli("client", "add", "client_number=1", "coach=admin").exit_code == 0
    r = cli("intervention", "start", "1", "work-first", "--date", "02-03-2026")
    assert r.exit_code == 0 and "Client 1: work-first started on 2026-03-02." in r.stderr
    r = cli("intervention", "end", "1", "work-first", "--date", "10-03-2026", "--result", "completed")
    assert r.exit_code == 0 and "Client 1: work-first ended on 2026-03-10 (result: completed)." in r.stderr


def test_an_unknown_coach_in_an_import_is_a_cell_error_naming_the_row(cli, tmp_path):
    assert cli("user", "add", "anna", "--role", "coach").exit_code == 0
    path = tmp_path / "x.csv"
    path.write_text("client_number,coach\n1,anna\n2,Anna\n3,piet\n", encoding="utf-8")
    r = cli("import", path)
    assert r.exit_code == 2
    assert "row 3, column 'coach', value 'Anna'" in r.stderr and "did you mean 'anna'" in r.stderr
    assert "row 4, column 'coach', value 'piet'" in r.stderr and "caseload user add" in r.stderr
    assert "row 2" not in r.stderr
    assert cli("client", "list", "--format", "csv").stdout.count("\n") <= 1  # nothing written


def test_the_wellbeing_chart_is_spaced_by_time():
    history = [{"value": 3, "observed_at": "2026-01-01T10:00:00Z"}, {"value": 2, "observed_at": "2026-01-03T10:00:00Z"},
               {"value": 4, "observed_at": "2026-03-02T10:00:00Z"}]
    xs, ys, ticks, labels = chart_points(history)
    assert xs == [0, 2, 60] and ys == [3, 2, 4]
    assert ticks[0] == 0 and ticks[-1] == 60 and len(labels) == 5


def test_the_preview_tells_when_the_frequency_cap_holds_a_message(tmp_path):
    store = make_store(tmp_path, max_per_week=2)
    add_clients(store, 2, preferred_channel="sms")
    admin = access.Actor("admin", "admin")
    templates.add_template(store, admin, "tip", "sms", "Hoi {{ first_name }}")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with write_transaction(store.db) as conn:  # client 1 had two messages this week, the first three days ago
        for days in (3, 1):
            conn.execute("INSERT INTO messages (client_id, channel, kind, body, token, status, due_at, sent_at,"
                         " created_at, updated_at) VALUES (1, 'sms', 'campaign', 'x', ?, 'sent', ?, ?, ?, ?)",
                         [f"t{days}", *[iso(now - timedelta(days=days))] * 4])
    plan = outbox.plan_queue(store, admin, None, "tip", client="K00001")
    held = held_by_cap(store, plan)
    assert len(held) == 1 and held[0] >= now + timedelta(days=4) - timedelta(minutes=1)
    assert held_by_cap(store, outbox.plan_queue(store, admin, None, "tip", client="K00002")) == []
    store.close()


def test_the_demo_has_no_activity_before_intake(cli):
    assert cli("demo", "--clients", "300", "--force").exit_code == 0
    import sqlite3

    conn = sqlite3.connect(cli.db)
    try:
        early = conn.execute("SELECT count(*) FROM clients WHERE substr(last_activity, 1, 10) < intake_date").fetchone()
        obs = conn.execute("SELECT count(*) FROM observations o JOIN clients c ON c.id = o.client_id"
                           " WHERE substr(o.observed_at, 1, 10) < c.intake_date").fetchone()
        notes = conn.execute("SELECT count(*) FROM notes n JOIN clients c ON c.id = n.client_id"
                             " WHERE substr(n.created_at, 1, 10) < c.intake_date").fetchone()
    finally:
        conn.close()
    assert (early[0], obs[0], notes[0]) == (0, 0, 0)
