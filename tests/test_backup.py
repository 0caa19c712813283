"""Backups and restores: a consistent copy while another process writes, mode 0600, and a
restore that checks before it replaces, keeps the audit trail going and repeats erasures."""

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from caseload import audit, backup
from caseload.errors import BadInput
from caseload.i18n import t
from privacy import PERSONS, Caseload

A, B = PERSONS[0], PERSONS[1]


@pytest.fixture
def cl(tmp_path):
    return Caseload(tmp_path).with_people()


def numbers(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT client_number FROM clients ORDER BY 1")]
    finally:
        conn.close()


def flat(text: str) -> str:
    """Output without the line breaks rich puts in for the terminal width."""
    return " ".join(text.split())


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


def test_round_trip(cl):
    r = cl.ok("backup", cl.dir)
    files = list(cl.dir.glob("caseload-*.db"))
    assert len(files) == 1 and mode(files[0]) == "0o600"
    assert str(files[0]) in r.output
    saved = numbers(cl.db)
    cl.ok("client", "add", "client_number=LATER", "coach=coach1")
    cl.ok("client", "note", A["client_number"], "written after the backup")
    r = cl.run("restore", files[0])
    assert r.exit_code == 2 and t("backup.target_exists", file=cl.db) in flat(r.output)
    assert "LATER" in numbers(cl.db)
    cl.ok("restore", files[0], "--force")
    assert numbers(cl.db) == saved
    assert "written after the backup" not in cl.ok("client", "show", A["client_number"]).stdout
    assert mode(cl.db) == "0o600"
    # the trail of what happened after the backup was carried over, then the restore itself
    actions = [line.split(",")[4] for line in cl.ok("audit", "--format", "csv").stdout.splitlines()[1:]]
    assert actions[-5:] == ["backup", "create", "note", "restore", "view"]
    cl.ok("audit", "verify")


def test_restore_repeats_erasures_made_after_the_backup(cl):
    cl.ok("backup", cl.dir / "b.db")
    cl.ok("client", "forget", A["client_number"], "--yes")
    r = cl.ok("restore", cl.dir / "b.db", "--force")
    assert t("backup.erased_again", n=1) in flat(r.output)
    assert A["client_number"] not in numbers(cl.db) and B["client_number"] in numbers(cl.db)
    data = cl.db.read_bytes()
    assert A["email"].encode() not in data and B["email"].encode() in data
    cl.ok("audit", "verify")


def test_restore_of_an_unrelated_backup_says_the_trail_was_not_carried(cl, tmp_path):
    other = Caseload(tmp_path / "other")
    (tmp_path / "other").mkdir()
    other.with_people()
    cl.ok("backup", cl.dir / "mine.db")
    other.ok("client", "add", "client_number=OTHER", "coach=coach1")
    other.ok("backup", other.dir / "theirs.db")
    r = cl.ok("restore", other.dir / "theirs.db", "--force")
    assert t("backup.trail_reset") in flat(r.output)
    assert "OTHER" in numbers(cl.db)


def test_restore_into_a_new_place(cl, tmp_path):
    cl.ok("backup", cl.dir / "b.db")
    fresh = tmp_path / "elsewhere" / "new.db"
    r = cl.runner.invoke(__import__("caseload.cli", fromlist=["main"]).main,
                         ["--lang", "en", "--db", str(fresh), "--config", str(cl.config), "restore", str(cl.dir / "b.db")],
                         env={"SUDO_USER": "admin1", "SUDO_UID": ""})
    assert r.exit_code == 0, r.output
    assert numbers(fresh) == numbers(cl.db) and mode(fresh) == "0o600"


def test_backup_refuses_to_overwrite_and_is_for_admins(cl):
    cl.ok("backup", cl.dir / "b.db")
    r = cl.run("backup", cl.dir / "b.db")
    assert r.exit_code == 2
    cl.ok("backup", cl.dir / "b.db", "--force")
    for user in ("coach1", "lead1", "analyst1", "nobody"):
        r = cl.run("backup", cl.dir / f"{user}.db", user=user)
        assert r.exit_code == 1 and not (cl.dir / f"{user}.db").exists()
    assert cl.run("backup", cl.dir / "missing" / "b.db").exit_code == 2
    assert not list(cl.dir.glob(".*.partial"))


def test_two_backups_into_a_directory_in_the_same_second_both_land(cl, tmp_path):
    """A dated name has seconds; the documented backup and the cron line's met in one second and
    the second one was refused ("exists; use --force")."""
    import time_machine

    where = tmp_path / "backups"
    where.mkdir()
    with time_machine.travel("2026-06-01 02:30:00", tick=False):
        cl.ok("backup", where)
        cl.ok("backup", where)
    assert sorted(p.name for p in where.iterdir()) == ["caseload-20260601-023000-2.db", "caseload-20260601-023000.db"]


def test_restore_needs_an_admin_in_the_backup_and_in_the_database(cl):
    cl.ok("backup", cl.dir / "b.db")
    r = cl.run("restore", cl.dir / "b.db", "--force", user="coach1")
    assert r.exit_code == 1 and t("backup.not_admin_in_backup", user="coach1") in flat(r.output)
    cl.ok("user", "add", "admin2", "--role", "admin")
    cl.ok("backup", cl.dir / "b2.db")
    cl.ok("user", "disable", "admin2")
    r = cl.run("restore", cl.dir / "b2.db", "--force", user="admin2")
    assert r.exit_code == 1


def _corrupt(path: Path):
    data = bytearray(path.read_bytes())
    for i in range(4096 * 3, 4096 * 3 + 2000):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def _fake_migration(path: Path):
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('caseload', '0099_future', 'x')")
    conn.commit()
    conn.close()


def _tamper_audit(path: Path):
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2")
    conn.commit()
    conn.close()


def _not_caseload(path: Path):
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE x (y)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("spoil, expect", [
    (_corrupt, None),
    (lambda p: p.write_bytes(b"not a database at all" * 100), "backup.unreadable"),
    (_not_caseload, "backup.not_caseload"),
    (_fake_migration, "backup.newer"),
    (_tamper_audit, "audit.problem.changed"),
])
def test_restore_checks_the_backup_first(cl, spoil, expect):
    cl.ok("backup", cl.dir / "b.db")
    spoil(cl.dir / "b.db")
    before = cl.db.read_bytes()
    r = cl.run("restore", cl.dir / "b.db", "--force")
    assert r.exit_code == 2, r.output
    assert t("backup.refused", file=cl.dir / "b.db") in flat(r.output)
    if expect:
        assert t(expect, names="0099_future", entry=2, error="").split(":")[0][:25] in flat(r.output)
    assert cl.db.read_bytes() == before
    with pytest.raises(BadInput):
        backup.inspect(cl.dir / "b.db")


WRITER = textwrap.dedent("""
    import sys, time
    from caseload import access, clients
    from caseload.config import load_config
    from caseload.store import open_store
    s = open_store(load_config(None), sys.argv[1])
    me = access.resolve_actor(s.db, "admin1")
    i = 0
    print("ready", flush=True)
    while True:
        clients.add_client(s, me, {"client_number": f"W{i}", "coach": "coach1"})
        clients.set_characteristics(s, me, f"W{i}", {"wellbeing": "3"})
        i += 1
""")


def test_backup_while_another_process_writes(cl):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(cl.db)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        copies = []
        for i in range(3):
            cl.ok("backup", cl.dir / f"live{i}.db")
            copies.append(cl.dir / f"live{i}.db")
            time.sleep(0.2)
    finally:
        writer.kill()
        writer.wait()
    counts = []
    for copy in copies:
        info = backup.inspect(copy)  # integrity, migrations and an intact audit trail with its head
        conn = sqlite3.connect(copy)
        n = conn.execute("SELECT COUNT(*) FROM clients WHERE client_number LIKE 'W%'").fetchone()[0]
        # each client is whole: its observation came in the same snapshot or not at all
        half = conn.execute("SELECT COUNT(*) FROM clients c WHERE client_number LIKE 'W%' AND NOT EXISTS"
                            " (SELECT 1 FROM observations o WHERE o.client_id = c.id)").fetchone()[0]
        conn.close()
        assert info["audit_entries"] > 0 and half <= 1
        counts.append(n)
    assert counts == sorted(counts) and counts[-1] > counts[0] > 0
    cl.ok("restore", copies[-1], "--force")
    assert audit.verify(sqlite3.connect(cl.db)) == []


def test_restore_leaves_no_wal_behind(cl):
    cl.ok("backup", cl.dir / "b.db")
    cl.ok("restore", cl.dir / "b.db", "--force")
    assert not Path(str(cl.dir / "b.db") + "-wal").exists()
    assert os.path.getsize(cl.dir / "b.db") > 0
