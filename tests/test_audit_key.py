"""The audit head is sealed with a secret key: someone who can write the database file but lacks
the key cannot move the base of the trail and delete up to it (the known two-statement attack),
with or without an anchor; only retention prunes, never an entry younger than the retention
period; without a key `audit verify` says the seal proves nothing."""

import shutil
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, audit, retention
from caseload.access import Actor
from caseload.config import load_config
from caseload.errors import CaseloadError
from caseload.store import open_store
from privacy import Caseload

ADMIN = Actor("admin1", "admin", origin="test@host")
KEY = "b3f1c2d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit_key") / "audit.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("CASELOAD_AUDIT_KEY", KEY)
    s = open_store(load_config(None), path, create=True)
    access.add_user(s.db, "admin1", "admin")
    for i in range(1, 11):
        audit.record(s.db, ADMIN, "view", f"client:{i}")
    s.close()
    mp.undo()
    return path


@pytest.fixture
def store(template, tmp_path, monkeypatch):
    monkeypatch.setenv("CASELOAD_AUDIT_KEY", KEY)
    shutil.copy2(template, tmp_path / "audit.db")
    s = open_store(load_config(None), tmp_path / "audit.db")
    yield s
    s.close()


def kinds(store, anchors=(), keep_years=None):
    return [p.kind for p in audit.check(store.db, anchors, **({"keep_years": keep_years} if keep_years else {}))]


def move_base(store, upto: int, reseal: bool):
    """The attack: two SQL statements on the file, no trigger dropped. With `reseal` the attacker
    also recomputes the seal the way caseload computes it without a key."""
    conn = sqlite3.connect(store.path, isolation_level=None)
    base_hash = conn.execute("SELECT hash FROM audit WHERE id = ?", [upto]).fetchone()[0]
    h = audit.head(conn)
    seal = audit._seal(h.entries - upto, h.last_id, h.last_hash, upto, base_hash) if reseal else h.seal
    conn.execute("UPDATE audit_head SET base_id = ?, base_hash = ?, entries = entries - ?, seal = ?",
                 [upto, base_hash, upto, seal])
    conn.execute("DELETE FROM audit WHERE id <= ?", [upto])
    conn.close()


@pytest.mark.parametrize("reseal", [False, True])
def test_moving_the_base_and_deleting_up_to_it_is_reported_with_and_without_an_anchor(store, reseal):
    anchor = f"5:{store.db.execute('SELECT hash FROM audit WHERE id = 5').fetchone()[0]}"
    assert kinds(store, [anchor]) == []
    move_base(store, 7, reseal)
    without = kinds(store)
    assert without and set(without) <= {"head_changed", "head_unkeyed"}
    assert "anchor_pruned" in kinds(store, [anchor])


def test_the_cli_reports_the_attack(store, tmp_path, monkeypatch):
    move_base(store, 7, reseal=True)
    cl = Caseload(tmp_path)
    cl.db = store.path
    r = cl.run("audit", "verify", user="admin1")
    assert r.exit_code == 1 and "not sealed with the audit key" in r.output


def test_retention_prunes_only_what_is_older_than_the_retention_period(store):
    now = datetime.now(timezone.utc)
    later = now + timedelta(days=366 * 7 + 2)  # every entry is now older than seven years
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    cut = audit._years_before(later, 7).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert audit.prune(conn, cut) == 9
    conn.execute("COMMIT")
    assert kinds(store, keep_years=7) == ["pruned_young"]  # today, those entries are not seven years old
    assert [p.kind for p in audit.check(store.db, keep_years=7, now=later)] == []
    assert audit.head(store.db).seal.startswith("k1:")  # sealed with the key


def test_a_process_without_the_key_records_nothing_in_a_sealed_trail(store, monkeypatch):
    monkeypatch.delenv("CASELOAD_AUDIT_KEY")
    monkeypatch.setattr(audit, "_keyring", {"secret": None})
    entries = audit.head(store.db).entries
    with pytest.raises(CaseloadError, match="audit key"):
        audit.record(store.db, ADMIN, "view", "client:1")
    assert audit.head(store.db).entries == entries
    assert kinds(store) == ["head_no_key"]


def test_a_key_set_later_is_taken_on_by_audit_seal(tmp_path, monkeypatch):
    monkeypatch.delenv("CASELOAD_AUDIT_KEY", raising=False)
    monkeypatch.setattr(audit, "_keyring", {"secret": None})
    cl = Caseload(tmp_path).init()
    r = cl.run("audit", "verify")
    assert r.exit_code == 0 and "no audit key is configured" in r.output
    monkeypatch.setenv("CASELOAD_AUDIT_KEY", KEY)
    r = cl.run("audit", "verify")
    assert r.exit_code == 1 and "audit seal" in r.output
    r = cl.run("audit", "seal")
    assert r.exit_code == 0, r.output
    r = cl.run("audit", "verify")
    assert r.exit_code == 0 and "no audit key" not in r.output
