"""Migrations that rebuild tables keep every row, index and trigger."""

import sqlite3

import pytest
import sqlite_utils

from caseload.migrations import _or_checks, migrations

REBUILT = ("observations", "messages", "checkins", "checkin_questions", "replies", "clicks")


def _rows(conn, table, columns=None):
    """The rows of `table`, in the columns it had (later migrations may add some)."""
    columns = columns or [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    return columns, conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()


def _schema(conn, table):
    return sorted(conn.execute("SELECT type, name FROM sqlite_master WHERE tbl_name = ? AND type != 'table'",
                               [table]).fetchall())


def test_0007_keeps_rows_indexes_and_triggers_and_still_checks(tmp_path):
    db = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="0007_checks_without_in")
    conn = db.conn
    conn.execute("INSERT INTO clients (id, client_number, created_at, updated_at) VALUES (1, 'K1', 'x', 'x')")
    conn.execute("INSERT INTO characteristics (id, key, type, added_at) VALUES (7, 'wellbeing', 'scale', 'x')")
    conn.executemany("INSERT INTO observations (client_id, characteristic_id, observed_at, value, source)"
                     " VALUES (1, 7, ?, ?, 'coach')", [("2026-01-0%dT00:00:00Z" % d, d) for d in range(1, 6)])
    conn.execute("INSERT INTO messages (client_id, channel, body, token, due_at, created_at, updated_at)"
                 " VALUES (1, 'sms', 'hoi', 'tok', 'x', 'x', 'x')")
    conn.execute("UPDATE messages SET status = 'sending', updated_at = 'y' WHERE id = 1")
    conn.commit()
    before = {t: (_rows(conn, t), _schema(conn, t)) for t in REBUILT}
    events = conn.execute("SELECT message_id, status FROM message_events ORDER BY id").fetchall()
    assert events == [(1, "queued"), (1, "sending")]

    migrations.apply(db, stop_before="0008_clients_sort_name")

    for table in REBUILT:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
        assert " IN (" not in " ".join(sql.split()), table
        assert _rows(conn, table, before[table][0][0]) == before[table][0]
        assert set(before[table][1]) <= set(_schema(conn, table))  # later migrations may add indexes
    # the triggers that write the event log still fire, and the checks still refuse
    conn.execute("UPDATE messages SET status = 'sent', updated_at = 'z' WHERE id = 1")
    assert conn.execute("SELECT status FROM message_events ORDER BY id DESC LIMIT 1").fetchone() == ("sent",)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO observations (client_id, characteristic_id, observed_at, value, source)"
                     " VALUES (1, 7, 'z', 1, 'gossip')")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE messages SET status = 'lost' WHERE id = 1")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_or_checks_spells_each_value():
    sql = "a TEXT CHECK (a IN ('x', 'y', 'z')), b TEXT NOT NULL CHECK (b IN\n  ('p', 'q'))"
    assert _or_checks(sql) == "a TEXT CHECK (a = 'x' OR a = 'y' OR a = 'z'), b TEXT NOT NULL CHECK (b = 'p' OR b = 'q')"


def test_0019_keeps_checkins_and_their_id_sequence_and_allows_phone(tmp_path):
    db = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="0019_priority_fallback_calls_letters")
    conn = db.conn
    conn.execute("INSERT INTO clients (id, client_number, created_at, updated_at) VALUES (1, 'K1', 'x', 'x')")
    conn.executemany("INSERT INTO checkins (client_id, channel, language, created_at) VALUES (1, ?, 'nl', 'x')",
                     [("sms",), ("email",), ("sms",)])
    conn.execute("DELETE FROM checkins WHERE id = 3")  # an erased client's check-in: its id is never given again
    conn.commit()
    rows = _rows(conn, "checkins")
    indexes = _schema(conn, "checkins")

    migrations.apply(db)

    assert _rows(conn, "checkins", rows[0]) == rows and _schema(conn, "checkins") == indexes
    conn.execute("INSERT INTO checkins (client_id, channel, language, created_at) VALUES (1, 'phone', 'nl', 'y')")
    assert conn.execute("SELECT MAX(id) FROM checkins").fetchone() == (4,)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO checkins (client_id, channel, language, created_at) VALUES (1, 'fax', 'nl', 'y')")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_the_claim_reads_personal_then_broadcast_messages_from_the_index(tmp_path):
    """Two range searches of messages_queued, in the index's order: no scan, no sort."""
    from caseload.outbox.claims import _CANDIDATES

    db = sqlite_utils.Database(tmp_path / "new.db")
    migrations.apply(db)
    plan = [r[3] for r in db.conn.execute("EXPLAIN QUERY PLAN " + _CANDIDATES.format(channels="?, ?"),
                                          ["2026-01-01T00:00:00Z", "sms", "email", 50])]
    assert "SEARCH m USING INDEX messages_queued (priority=? AND due_at<?)" in plan, plan
    assert not any("TEMP B-TREE" in step or step.startswith("SCAN m") for step in plan), plan
