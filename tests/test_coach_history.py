"""Who coached a client when: every change of a client's coach is kept (client update, import,
reassignment), `report coaches` counts each cohort client for the coach they had on the cohort
date, erasure leaves no period behind, and migration 0028 gives existing clients their coach."""

import json
from datetime import date, datetime, timezone

import sqlite_utils

from caseload import access, bulk, clients, coaches, erasure, importer, timeline
from caseload.migrations import migrations
from caseload.reports.common import add_months
from caseload.store import open_store
from console import caseload, clean_env
from test_reports_data import new_store


def _periods(store, number):
    cid = store.conn.execute("SELECT id FROM clients WHERE client_number = ?", [number]).fetchone()[0]
    return [p[:3] for p in coaches.periods(store.conn, cid)]


def test_a_handed_over_client_counts_for_the_coach_who_had_them_on_the_cohort_date(tmp_path):
    """anna's six clients (three of whom found work a month after the cohort date) go to isa half
    way through the follow-up: the report for that cohort still gives anna her six and their
    outflow, and isa only her own six."""
    store = new_store(tmp_path)
    for name in ("anna", "isa"):
        access.add_user(store.db, name, "coach", "north")
    admin = access.resolve_actor(store.db, "adam")
    cohort = add_months(date.today(), -6)
    for i in range(12):
        clients.add_client(store, admin, {"client_number": f"K{i}", "coach": "anna" if i < 6 else "isa",
                                          "intake_date": add_months(cohort, -12).isoformat()})
    for i in range(3):
        clients.record_outflow(store, admin, f"K{i}", "fulltime", add_months(cohort, 1).isoformat())
    config = store.config
    store.close()
    cfg = tmp_path / "config.toml"
    cfg.write_text("[reports]\nmin_cell_size = 5\n", encoding="utf-8")
    env = clean_env(SUDO_USER="adam", SUDO_UID="")
    base = ["--db", tmp_path / "c.db", "--config", cfg]
    r = caseload(*base, "client", "reassign", "--from", "anna", "--to", "isa", "--yes", env=env)
    assert r.returncode == 0, r.stderr
    r = caseload(*base, "report", "coaches", "--date", cohort.isoformat(), "--months", "12", "--format", "json",
                 env=env)
    assert r.returncode == 0, r.stderr
    rows = {row["coach"]: (row["n"], row["outflow"]) for row in json.loads(r.stdout)["coaches"]}
    assert rows == {"anna": (6, 3), "isa": (6, 0)}

    store = open_store(config, tmp_path / "c.db")
    assert _periods(store, "K0")[0][0] == "anna" and _periods(store, "K0")[1][0] == "isa"
    events = [e for e in timeline.timeline(store, admin, "K0") if e.kind == "coach"]
    assert [(e.text, e.author) for e in events] == [("anna -> isa", "adam")]
    store.close()


def test_a_coach_changed_by_update_or_import_opens_a_new_period(tmp_path):
    store = new_store(tmp_path)
    for name in ("anna", "isa"):
        access.add_user(store.db, name, "coach", "north")
    admin = access.resolve_actor(store.db, "adam")
    csv = tmp_path / "clients.csv"
    csv.write_text("klantnummer;coach;datum instroom\nK1;anna;10-01-2024\nK2;anna;01-02-2024\n", encoding="utf-8")
    importer.import_file(store, admin, csv)
    assert _periods(store, "K1") == [("anna", "2024-01-10T00:00:00Z", None)]

    csv.write_text("klantnummer;coach\nK1;isa\nK2;anna\n", encoding="utf-8")
    report = importer.import_file(store, admin, csv, dry_run=True)
    assert report.updated == 1 and len(_periods(store, "K1")) == 1  # a dry run writes no period
    importer.import_file(store, admin, csv)
    (old, new) = _periods(store, "K1")
    assert old[0] == "anna" and old[2] is not None and new == ("isa", old[2], None)
    assert _periods(store, "K2") == [("anna", "2024-02-01T00:00:00Z", None)]  # unchanged: no new period

    clients.update_client(store, admin, "K2", {"coach": "isa"})
    clients.update_client(store, admin, "K2", {"phone": "0612345678"})  # no change of coach
    clients.update_client(store, admin, "K2", {"coach": ""})  # no coach at all
    assert [p[0] for p in _periods(store, "K2")] == ["anna", "isa"]
    assert store.conn.execute("SELECT count(*) FROM coach_periods WHERE until IS NULL"
                              " AND client_id = (SELECT id FROM clients WHERE client_number = 'K2')").fetchone()[0] == 0
    store.close()


def test_a_client_from_before_the_history_gets_its_old_coach_first(tmp_path):
    """A client written without a period (as a test or an old tool does) and then handed over:
    the old coach's period comes first, from the intake date."""
    from test_reports_data import insert_clients

    store = new_store(tmp_path)
    access.add_user(store.db, "isa", "coach", "north")
    insert_clients(store, [{"id": 1, "coach": "cora", "intake_date": "2024-03-01"}])
    bulk.reassign(store, access.resolve_actor(store.db, "adam"), "isa", ["K1"])
    (old, new) = _periods(store, "K1")
    assert old[:2] == ("cora", "2024-03-01T00:00:00Z") and new == ("isa", old[2], None)
    store.close()


def test_erasure_and_retention_leave_no_period(tmp_path):
    store = new_store(tmp_path)
    access.add_user(store.db, "isa", "coach", "north")
    admin = access.resolve_actor(store.db, "adam")
    for number in ("K1", "K2"):
        clients.add_client(store, admin, {"client_number": number, "coach": "cora", "intake_date": "2020-01-06"})
        bulk.reassign(store, admin, "isa", [number])
    clients.record_outflow(store, admin, "K2", "moved", "2020-06-01")
    ids = dict(store.conn.execute("SELECT client_number, id FROM clients"))
    done = erasure.forget(store, admin, "K1")
    assert done["tables"]["coach_periods"] == 2
    from caseload import retention

    retention.apply(store, admin, now=datetime(2031, 1, 1, tzinfo=timezone.utc))  # ten years after K2 left
    left = store.conn.execute("SELECT count(*) FROM coach_periods WHERE client_id IN (?, ?)",
                              [ids["K1"], ids["K2"]]).fetchone()[0]
    assert store.conn.execute("SELECT count(*) FROM clients").fetchone()[0] == 0 and left == 0
    store.close()


def test_0028_gives_every_client_with_a_coach_one_open_period(tmp_path):
    db = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="0028_coach_periods")
    db.conn.executemany("INSERT INTO clients (id, client_number, coach, intake_date, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, 'x')",
                        [(1, "K1", "anna", "2023-05-01", "2024-01-01T09:00:00Z"),
                         (2, "K2", "isa", None, "2024-02-03T10:00:00Z"),
                         (3, "K3", None, "2023-05-01", "2024-01-01T09:00:00Z")])
    db.conn.commit()

    migrations.apply(db)

    assert db.conn.execute("SELECT client_id, coach, since, until, author FROM coach_periods ORDER BY client_id"
                           ).fetchall() == [(1, "anna", "2023-05-01T00:00:00Z", None, None),
                                            (2, "isa", "2024-02-03T10:00:00Z", None, None)]
    plan = " ".join(r[3] for r in db.conn.execute(
        f"EXPLAIN QUERY PLAN SELECT {coaches.on_day_sql(date(2024, 1, 1))} FROM clients WHERE id = 1"))
    assert "coach_periods_day" in plan
