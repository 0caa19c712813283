"""The audit trail: what it records, and that verify names every entry changed, deleted
(including the last ones) or reordered behind the tool's back with raw sqlite3."""

import json
import multiprocessing
import shutil
import sqlite3

import pytest

from caseload import access, audit
from caseload.access import Actor
from caseload.config import load_config
from caseload.errors import BadInput, PermissionDenied
from caseload.i18n import set_language, t
from caseload.store import open_store
from privacy import Caseload

ADMIN = Actor("admin1", "admin", origin="test@host")


@pytest.fixture(autouse=True)
def english():
    set_language("en")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit") / "audit.db"
    s = open_store(load_config(None), path, create=True)
    access.add_user(s.db, "admin1", "admin")
    for i in range(1, 11):
        audit.record(s.db, ADMIN, "view", f"client:{i}")
    s.close()
    return path


@pytest.fixture
def store(template, tmp_path):
    shutil.copy2(template, tmp_path / "audit.db")
    s = open_store(load_config(None), tmp_path / "audit.db")
    yield s
    s.close()


def raw(store):
    """A plain sqlite3 connection, as someone with the file in hand would use."""
    conn = sqlite3.connect(store.path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    return conn


def kinds(store, anchors=()):
    return [(p.kind, p.entry, p.other) for p in audit.check(store.db, anchors)]


def test_an_untouched_trail_verifies(store):
    assert audit.verify(store.db) == []
    h = audit.head(store.db)
    assert (h.entries, h.last_id) == (10, 10) and h.intact


def test_the_triggers_keep_it_append_only(store):
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET action = 'x' WHERE id = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE id = 10")
    with pytest.raises(sqlite3.IntegrityError, match="stays"):
        conn.execute("DELETE FROM audit_head")
    conn.close()


@pytest.mark.parametrize("column, value", [("action", "change"), ("object", "client:99"), ("actor", "mallory"),
                                           ("at", "2020-01-01T00:00:00Z"), ("result", "denied"),
                                           ("origin", "cli@elsewhere")])
def test_an_edited_entry_is_named(store, column, value):
    raw(store).execute(f"UPDATE audit SET {column} = ? WHERE id = 5", [value])
    assert kinds(store) == [("changed", 5, 0)]
    assert audit.verify(store.db) == [t("audit.problem.changed", entry=5)]


def test_an_edited_entry_with_a_recomputed_hash_is_named_by_the_next(store):
    conn = raw(store)
    at, actor, origin, obj, result, prev = conn.execute(
        "SELECT at, actor, origin, object, result, prev_hash FROM audit WHERE id = 5").fetchone()
    forged = audit._hash(prev, at, actor, origin, "change", obj, result)
    conn.execute("UPDATE audit SET action = 'change', hash = ? WHERE id = 5", [forged])
    assert kinds(store) == [("broken", 6, 5)]


def test_a_deleted_entry_is_named(store):
    raw(store).execute("DELETE FROM audit WHERE id = 5")
    assert kinds(store) == [("deleted", 5, 5), ("count", 0, 0)]
    msgs = audit.verify(store.db)
    assert msgs[0] == t("audit.problem.deleted", entry=5, other=5)
    assert msgs[1] == t("audit.problem.count", expected=10, found=9)


def test_deleted_last_entries_are_named(store):
    raw(store).execute("DELETE FROM audit WHERE id >= 9")
    assert kinds(store) == [("tail_deleted", 9, 10), ("count", 0, 0)]
    assert audit.verify(store.db)[0] == t("audit.problem.tail_deleted", entry=9, other=10)


def test_a_deleted_last_entry_stays_visible_after_new_entries(store):
    raw(store).execute("DELETE FROM audit WHERE id = 10")
    audit.record(store.db, ADMIN, "view", "client:11")  # SQLite hands out id 10 again
    assert kinds(store) == [("broken", 10, 9), ("count", 0, 0)]


def test_deleted_tail_with_a_naively_fixed_head_is_named(store):
    conn = raw(store)
    last = conn.execute("SELECT hash FROM audit WHERE id = 8").fetchone()[0]
    conn.execute("DELETE FROM audit WHERE id >= 9")
    conn.execute("UPDATE audit_head SET entries = 8, last_id = 8, last_hash = ?", [last])
    assert kinds(store) == [("head_changed", 8, 0)]
    # the mark stays when caseload writes on: the next entry cannot hide it
    audit.record(store.db, ADMIN, "view", "client:1")
    assert kinds(store) == [("head_changed", 9, 9)]
    assert audit.head(store.db).seal == "broken:9"


def test_deleted_first_entries_are_named(store):
    raw(store).execute("DELETE FROM audit WHERE id <= 2")
    assert kinds(store) == [("first_deleted", 1, 3), ("count", 0, 0)]


def test_reordered_entries_are_named(store):
    conn = raw(store)
    cols = "at, actor, origin, action, object, result, prev_hash, hash"
    three = conn.execute(f"SELECT {cols} FROM audit WHERE id = 3").fetchone()
    four = conn.execute(f"SELECT {cols} FROM audit WHERE id = 4").fetchone()
    sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
    conn.execute(f"UPDATE audit SET {sets} WHERE id = 3", four)
    conn.execute(f"UPDATE audit SET {sets} WHERE id = 4", three)
    assert kinds(store) == [("moved", 3, 4), ("moved", 4, 2), ("moved", 5, 3)]
    assert audit.verify(store.db)[0] == t("audit.problem.moved", entry=3, other=4)


def test_renumbered_entries_are_named(store):
    conn = raw(store)
    conn.execute("UPDATE audit SET id = id + 100 WHERE id >= 6")
    found = kinds(store)
    assert ("renumbered", 106, 5) in found


def test_a_consistent_rewrite_is_caught_by_an_anchor_kept_elsewhere(store):
    anchor = audit.head(store.db).anchor
    conn = raw(store)
    conn.execute("DELETE FROM audit WHERE id >= 4")
    prev = conn.execute("SELECT hash FROM audit WHERE id = 3").fetchone()[0]
    rows = [(i, "2025-01-01T00:00:00Z", "admin1", "x", "view", "client:1", "ok") for i in range(4, 11)]
    for id_, at, who, origin, action, obj, result in rows:  # a forger who knows the algorithm
        h = audit._hash(prev, at, who, origin, action, obj, result)
        conn.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (id_, at, who, origin, action, obj, result, prev, h))
        prev = h
    conn.execute("UPDATE audit_head SET last_hash = ?, seal = ?", [prev, audit._seal(10, 10, prev, 0, "")])
    assert kinds(store) == []  # without an anchor this cannot show
    assert kinds(store, [anchor]) == [("anchor", 10, 0)]


def test_a_bad_anchor_is_bad_input(store):
    with pytest.raises(BadInput):
        audit.check(store.db, ["12:nothex"])


def test_pruning_keeps_the_trail_verifiable(store):
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    cut = conn.execute("SELECT at FROM audit WHERE id = 10").fetchone()[0]
    n = audit.prune(conn, cut + "Z")  # everything but the newest entry is older than this
    conn.execute("COMMIT")
    assert n == 9
    assert audit.verify(store.db) == []
    assert audit.head(store.db).entries == 1
    # ... and deleting beyond what was pruned is still refused
    with pytest.raises(sqlite3.IntegrityError):
        sqlite3.connect(store.path).execute("DELETE FROM audit WHERE id = 10")


def _writer(path, n):
    s = open_store(load_config(None), path)
    for i in range(n):
        audit.record(s.db, Actor("admin1", "admin", origin="proc"), "view", f"client:{i}")
    s.close()


def test_concurrent_writers_keep_one_chain(store):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(store.path, 25)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert audit.verify(store.db) == []
    assert audit.head(store.db).entries == 85


# --- the command line ---------------------------------------------------------------------

@pytest.fixture
def cl(tmp_path):
    cl = Caseload(tmp_path).init()
    cl.ok("client", "add", "client_number=A1", "first_name=Ada", "coach=coach1")
    cl.ok("client", "add", "client_number=B1", "first_name=Cor", "coach=coach2")
    cl.ok("client", "show", "A1", user="coach1")
    cl.ok("client", "show", "B1", user="coach2")
    return cl


def test_audit_lists_action_object_result_origin_actor_and_time(cl):
    rows = json.loads(cl.ok("audit", "--format", "json").stdout)
    assert set(rows[0]) == {"id", "at", "actor", "origin", "action", "object", "result"}
    view = [r for r in rows if r["action"] == "view" and r["actor"] == "coach1"][0]
    assert view["object"].startswith("client:") and view["result"] == "ok"
    assert view["origin"].startswith("cli@") and view["at"].endswith("Z")


def test_audit_filters(cl):
    def listed(*args):
        return json.loads(cl.ok("audit", *args, "--format", "json").stdout)

    mine = listed("--user", "coach2")
    assert {r["actor"] for r in mine} == {"coach2"} and [r["action"] for r in mine] == ["view"]
    a1 = listed("--client", "A1")
    assert [r["action"] for r in a1] == ["create", "view"]
    assert {r["object"] for r in a1} == {a1[0]["object"]}
    assert listed("--since", "01-01-2999") == []
    assert len(listed("--since", "2000-01-01")) >= 8
    assert cl.run("audit", "--since", "gisteren").exit_code == 2
    assert cl.run("audit", "--client", "ZZ").exit_code == 2
    # the look itself is recorded
    assert listed("--user", "admin1")[-1]["action"] == "view_audit"


def test_audit_is_for_admins(cl):
    for user in ("coach1", "lead1", "analyst1"):
        for args in (["audit"], ["audit", "verify"]):
            r = cl.run(*args, user=user)
            assert r.exit_code == 1 and "Your role" in r.output


def test_audit_verify_on_the_command_line_in_both_languages(cl):
    r = cl.ok("audit", "verify")
    anchor = r.stdout.strip()
    assert t("audit.intact", entries=10).split(":")[0] in r.output
    conn = sqlite3.connect(cl.db)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor = 'nobody' WHERE id = 6")
    conn.commit()
    conn.close()
    r = cl.run("audit", "verify", "--anchor", anchor)
    assert r.exit_code == 1
    assert t("audit.problem.changed", entry=6) in r.output
    r = cl.run("--lang", "nl", "audit", "verify")
    assert t("audit.problem.changed", entry=6, lang="nl") in r.output
    assert r.exit_code == 1


def test_audit_entries_hold_no_personal_data(cl):
    s = open_store(load_config(None), cl.db)
    text = " ".join(" ".join(map(str, r)) for r in s.db.execute("SELECT * FROM audit"))
    s.close()
    assert "Ada" not in text and "A1" not in text and "B1" not in text


def test_core_trail_refuses_non_admins(cl):
    s = open_store(load_config(None), cl.db)
    with pytest.raises(PermissionDenied):
        audit.trail(s, access.resolve_actor(s.db, "lead1"))
    s.close()
