"""Erasure and retention: after `client forget` no byte of the database files holds the client's
name, number, phone or email, in any table, including tables the trust code does not know."""

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from caseload import access, audit, clients, erasure, retention
from caseload.config import load_config
from caseload.i18n import t
from caseload.store import open_store
from privacy import NOTES, PERSONS, Caseload, personal_values

A, B = PERSONS[0], PERSONS[1]
A_VALUES = personal_values([A], {A["client_number"]: NOTES[A["client_number"]]}) + [
    "zwaantje", "quirijnsen",  # as a full-text index stores them
    "Hoi Zwaantje, je afspraak", "Ja hoor, ik kom Zwaantje", "doorverwezen naar Quirijnsen-coach"]


def file_bytes(db: Path) -> bytes:
    return b"".join(Path(str(db) + s).read_bytes() for s in ("", "-wal") if Path(str(db) + s).exists())


def client_id(cl, number):
    conn = sqlite3.connect(cl.db)
    row = conn.execute("SELECT id FROM clients WHERE client_number = ?", [number]).fetchone()
    conn.close()
    return row[0] if row else None


def add_everything(cl):
    """The test clients with history in every kind of table, including some made up here the
    way other parts of caseload add theirs (outbox, replies, segment members, full-text)."""
    cl.with_people()
    a, b = client_id(cl, A["client_number"]), client_id(cl, B["client_number"])
    cl.ok("intervention", "start", A["client_number"], "cv_workshop", user="coach1")
    cl.ok("client", "set", A["client_number"], "wellbeing=1", user="coach1")
    cl.ok("client", "update", A["client_number"], "phone=06-49999999", user="coach1")  # old value
    cl.ok("client", "update", A["client_number"], f"phone={A['phone']}", user="coach1")
    conn = sqlite3.connect(cl.db, isolation_level=None)
    conn.executescript("""
        CREATE TABLE replies_x (id INTEGER PRIMARY KEY, message_id INTEGER REFERENCES messages (id),
                                sender TEXT, text TEXT);
        CREATE TABLE referrals_x (id INTEGER PRIMARY KEY, subject INTEGER REFERENCES clients (id), why TEXT);
        CREATE VIRTUAL TABLE notes_fts USING fts5 (client_id UNINDEXED, text);
    """)
    now = "2025-01-01T00:00:00Z"
    for cid, person, body in ((a, A, "Hoi Zwaantje, je afspraak is morgen"), (b, B, "Hoi Barend-Jan")):
        msg = conn.execute(
            "INSERT INTO messages (client_id, channel, body, token, due_at, created_at, updated_at)"
            " VALUES (?, 'sms', ?, ?, ?, ?, ?)", [cid, body, f"tok{cid}", now, now, now]).lastrowid
        conn.execute("UPDATE messages SET status = 'sent', updated_at = ? WHERE id = ?", [now, msg])
        conn.execute("INSERT INTO replies_x (message_id, sender, text) VALUES (?, ?, ?)",
                     [msg, "+31" + person["phone"][1:].replace("-", ""),
                      "Ja hoor, ik kom Zwaantje" if cid == a else "Ja hoor, ik kom"])
        conn.execute("INSERT INTO opt_outs (client_id, channel, at, source) VALUES (?, 'email', ?, 'reply')", [cid, now])
        conn.execute("INSERT INTO notes_fts (client_id, text) VALUES (?, ?)",
                     [cid, f"{person['first_name']} {person['last_name']} {person['email']}"])
    conn.execute("INSERT INTO referrals_x (subject, why) VALUES (?, 'doorverwezen naar Quirijnsen-coach')", [a])
    conn.execute("INSERT INTO segments (name, expression, created_at, updated_at) VALUES ('s', 'wellbeing <= 2', ?, ?)",
                 [now, now])
    conn.execute("INSERT INTO segment_members (segment_id, client_id) VALUES (1, ?), (1, ?)", [a, b])
    conn.close()
    return a, b


@pytest.fixture
def cl(tmp_path):
    return Caseload(tmp_path)


def test_forget_leaves_no_byte_of_the_client_in_the_database_files(cl):
    a, b = add_everything(cl)
    before = file_bytes(cl.db)
    assert all(v.encode() in before for v in ("Zwaantje", A["client_number"], "+31641234567", A["email"]))
    r = cl.ok("client", "forget", A["client_number"], "--yes")
    assert t("erasure.done", rows=1, tables=1).split(":")[0] in r.output
    data = file_bytes(cl.db)
    found = [v for v in A_VALUES if v.encode() in data]
    assert found == []
    assert b"+31649999999" not in data  # the phone number A had before
    # the other clients are all still there (and the search would have found them)
    assert all(v.encode() in data for v in (B["first_name"], B["email"], "Hoi Barend-Jan", "Ja hoor, ik kom"))


def test_forget_removes_every_row_that_belongs_to_the_client_and_keeps_the_audit_fact(cl):
    a, b = add_everything(cl)
    cl.ok("client", "forget", A["client_number"], "--yes")
    conn = sqlite3.connect(cl.db)
    for table, col in (("clients", "id"), ("profile", "client_id"), ("observations", "client_id"),
                       ("notes", "client_id"), ("interventions", "client_id"), ("messages", "client_id"),
                       ("opt_outs", "client_id"), ("segment_members", "client_id"), ("referrals_x", "subject"),
                       ("notes_fts", "client_id")):
        assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {col} = ?", [a]).fetchone()[0] == 0, table
        if table not in ("referrals_x", "clients", "interventions"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {col} = ?", [b]).fetchone()[0] > 0, table
    assert conn.execute("SELECT COUNT(*) FROM replies_x").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM message_events WHERE message_id NOT IN (SELECT id FROM messages)"
                        ).fetchone()[0] == 0
    conn.close()
    rows = json.loads(cl.ok("audit", "--client", f"client:{a}", "--format", "json").stdout)
    assert rows[-1]["action"] == "forget" and rows[-1]["actor"] == "admin1"
    assert "note" in [r["action"] for r in rows]  # the facts of who did what stay
    cl.ok("audit", "verify")
    assert cl.run("client", "show", A["client_number"]).exit_code == 2


def test_forget_refuses_when_a_copy_would_remain_and_writes_nothing(cl):
    cl.with_people()
    conn = sqlite3.connect(cl.db, isolation_level=None)
    conn.execute("CREATE TABLE suppressions_x (address TEXT, at TEXT)")
    conn.execute("INSERT INTO suppressions_x VALUES (?, '2025-01-01')", [A["email"]])
    conn.close()
    r = cl.run("client", "forget", A["client_number"], "--yes")
    assert r.exit_code == 1
    assert "suppressions_x.address" in r.output and A["email"] not in r.output
    shown = cl.ok("client", "show", A["client_number"]).stdout
    assert A["email"] in shown and NOTES[A["client_number"]][:20] in shown
    assert "forget" not in cl.ok("audit", "--format", "csv").stdout


def test_a_value_shared_with_another_client_is_theirs_and_stays(cl):
    cl.with_people()
    cl.ok("client", "update", B["client_number"], f"email={A['email']}")  # one address for a household
    cl.ok("client", "forget", A["client_number"], "--yes")
    assert A["email"] in cl.ok("client", "show", B["client_number"]).stdout


def test_forget_plan_follows_foreign_keys_down(cl):
    cl.with_people()
    conn = sqlite3.connect(cl.db, isolation_level=None)
    conn.executescript("""
        CREATE TABLE a_x (id INTEGER PRIMARY KEY, client_id INTEGER);
        CREATE TABLE b_x (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a_x (id));
        CREATE TABLE c_x (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b_x (id));
    """)
    steps = {s.table: s.depth for s in erasure.plan(conn)}
    conn.close()
    assert steps["clients"] == 0 and steps["a_x"] == 1 and steps["b_x"] == 2 and steps["c_x"] == 3
    assert steps["message_events"] == 2 and "audit" not in steps and "users" not in steps
    order = list(steps)
    assert order.index("c_x") < order.index("b_x") < order.index("a_x") < order.index("clients")


def test_forget_asks_first_and_is_for_admins(cl):
    cl.with_people()
    number = A["client_number"]
    r = cl.run("client", "forget", number, input="n\n")
    assert r.exit_code == 1 and client_id(cl, number) is not None
    r = cl.run("client", "forget", number, "--yes", user="coach1")
    assert r.exit_code == 1 and client_id(cl, number) is not None
    assert cl.run("client", "forget", "KL-000000", "--yes").exit_code == 2
    cl.ok("client", "forget", number, input="y\n")
    assert client_id(cl, number) is None


def test_without_secure_delete_a_deleted_row_would_stay_in_the_file(cl):
    """Proof that the byte search above can fail: SQLite's plain delete leaves the bytes."""
    cl.with_people()
    conn = sqlite3.connect(cl.db, isolation_level=None)
    conn.execute("PRAGMA secure_delete = OFF")
    conn.execute("DELETE FROM notes WHERE text = ?", [NOTES[A["client_number"]]])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert NOTES[A["client_number"]].encode() in file_bytes(cl.db)


def test_a_reused_internal_id_does_not_inherit_the_audit_of_the_erased_client(cl):
    cl.with_people()
    last = PERSONS[-1]["client_number"]
    old = client_id(cl, last)
    cl.ok("client", "show", last, user="coach2")
    cl.ok("client", "forget", last, "--yes")
    cl.ok("client", "add", "client_number=NEW1", "coach=coach2")
    if client_id(cl, "NEW1") == old:  # SQLite hands out the highest id again
        rows = json.loads(cl.ok("audit", "--client", "NEW1", "--format", "json").stdout)
        assert [r["action"] for r in rows] == ["create"]
    rows = json.loads(cl.ok("audit", "--client", f"client:{old}", "--format", "json").stdout)
    assert "forget" in [r["action"] for r in rows]


# --- retention ----------------------------------------------------------------------------

RULES = """
[retention]
years_after_outflow = 10
observation_days = 365
audit_years = 2

[[characteristic]]
key = "bike_course"
type = "bool"
label = { en = "Bike course", nl = "Fietscursus" }
category = "skills"
purpose = "Match to the bike project"
retention_days = 30
"""
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def rstore(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text(RULES)
    (tmp_path / "config.toml").chmod(0o600)
    s = open_store(load_config(tmp_path / "config.toml"), tmp_path / "r.db", create=True)
    access.add_user(s.db, "admin1", "admin")
    admin = access.resolve_actor(s.db, "admin1")
    monkeypatch.setattr(audit, "utcnow", lambda: iso(NOW - timedelta(days=365 * 3)))
    clients.add_client(s, admin, {"client_number": "OLD", "first_name": "Oudje", "outflow_type": "fulltime",
                                  "outflow_date": "2016-05-31"})
    clients.show_client(s, admin, "OLD")
    monkeypatch.undo()
    clients.add_client(s, admin, {"client_number": "RECENT", "outflow_type": "parttime", "outflow_date": "2016-06-02"})
    clients.add_client(s, admin, {"client_number": "ACTIVE", "first_name": "Actief"})
    for number in ("RECENT", "ACTIVE"):
        clients.set_characteristics(s, admin, number, {"wellbeing": "2"}, observed_at=iso(NOW - timedelta(days=400)))
        clients.set_characteristics(s, admin, number, {"debts": "ja"}, observed_at=iso(NOW - timedelta(days=400)))
        clients.set_characteristics(s, admin, number, {"debts": "nee"}, observed_at=iso(NOW - timedelta(days=10)))
        clients.set_characteristics(s, admin, number, {"bike_course": "ja"}, observed_at=iso(NOW - timedelta(days=40)))
    yield s, admin
    s.close()


def test_retention_apply_follows_every_rule(rstore):
    s, admin = rstore
    done = retention.apply(s, admin, now=NOW)
    assert done["clients"] == 1
    assert [r[0] for r in s.db.execute("SELECT client_number FROM clients ORDER BY 1")] == ["ACTIVE", "RECENT"]
    # wellbeing (general rule 365 days): gone, also from the profile; debts: the old one gone,
    # the recent one kept; bike_course (its own 30 days): gone
    assert done["observations"] == 6
    kept = s.db.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
    assert kept == 2
    prof = s.db.execute("SELECT v_wellbeing, t_wellbeing, v_debts, v_bike_course FROM profile"
                        " LEFT JOIN profile_times USING (client_id)"
                        " WHERE client_id = (SELECT id FROM clients WHERE client_number = 'ACTIVE')").fetchone()
    assert prof == (None, None, 0, None)
    assert done["profile_values"] == 4
    # audit entries older than 2 years went, and the trail still verifies
    assert done["audit_entries"] == 2
    assert s.db.execute("SELECT MIN(at) FROM audit").fetchone()[0] > iso(NOW - timedelta(days=365 * 2))
    assert audit.verify(s.db) == []
    assert s.db.execute("SELECT action, result FROM audit ORDER BY id DESC LIMIT 1").fetchone() == (
        "retention", "clients:1 observations:6 profile_values:4 audit_entries:%d" % done["audit_entries"])
    # nothing more to do a second time
    again = retention.apply(s, admin, now=NOW)
    assert (again["clients"], again["observations"], again["profile_values"]) == (0, 0, 0)


def test_retention_erases_like_forget(rstore):
    s, admin = rstore
    retention.apply(s, admin, now=NOW)
    s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"Oudje" not in file_bytes(s.path)
    assert s.db.execute("SELECT COUNT(*) FROM audit WHERE action = 'retention_erase'").fetchone()[0] == 1


def test_retention_is_for_admins(cl):
    cl.with_people()
    for user in ("coach1", "lead1", "analyst1"):
        assert cl.run("retention", "apply", user=user).exit_code == 1
    out = json.loads(cl.ok("retention", "apply", "--format", "json").stdout)
    assert out["clients"] == 0 and out["checkpointed"] in (True, "true")


def test_nothing_goes_when_rules_are_off(tmp_path):
    (tmp_path / "config.toml").write_text("[retention]\nyears_after_outflow = 0\nobservation_days = 0\naudit_years = 0\n")
    s = open_store(load_config(tmp_path / "config.toml"), tmp_path / "r.db", create=True)
    access.add_user(s.db, "admin1", "admin")
    admin = access.resolve_actor(s.db, "admin1")
    clients.add_client(s, admin, {"client_number": "X", "outflow_type": "moved", "outflow_date": "1990-01-01"})
    clients.set_characteristics(s, admin, "X", {"wellbeing": "3"}, observed_at="1990-01-01T00:00:00Z")
    done = retention.apply(s, admin, now=NOW)
    assert (done["clients"], done["observations"], done["audit_entries"]) == (0, 0, 0)
    s.close()
