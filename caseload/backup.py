"""Backups with SQLite's online backup API: a consistent copy while the daemon keeps writing,
and a restore that checks what it restores before it replaces anything."""

import logging
import os
import shutil
import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from . import access, audit
from .db import check_file_mode, daemon_holds, open_db, write_transaction
from .erasure import checkpoint, erase
from .errors import BadInput, CaseloadError, PermissionDenied
from .i18n import t
from .migrations import LINKED, migrations

log = logging.getLogger("caseload.backup")
ERASURES = ("forget", "retention_erase", "forget_again")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_private_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _snapshot(store, tmp: Path, check: bool):
    """One consistent copy of the open database into the new file TMP; its audit head."""
    target = sqlite3.connect(tmp, isolation_level=None)
    try:
        store.conn.backup(target)  # all pages in one step: one consistent snapshot
        target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        status = target.execute("PRAGMA quick_check").fetchone()[0] if check else "ok"
        entries = audit.head(target)
    finally:
        target.close()
    if status != "ok":
        raise CaseloadError(t("backup.check_failed", file=tmp, error=status))
    os.chmod(tmp, 0o600)
    _fsync(tmp)
    return entries


def _dated(directory: Path) -> Path:
    """A new dated name in DIRECTORY; a second backup within the same second gets -2, -3, ..."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    n = 1
    while (directory / (name := f"caseload-{stamp}{f'-{n}' if n > 1 else ''}.db")).exists():
        n += 1
    return directory / name


def backup(store, actor, dest: Path | str, force: bool = False, check: bool = True) -> dict:
    """Copy the open database to DEST (a file, or a directory for a dated file), mode 0600.
    The copy is written beside DEST first and renamed into place, so DEST is never half a copy.
    check runs PRAGMA quick_check on the copy (most of the time: ~20 s per 500 MB)."""
    access.require_admin(actor)
    dest = Path(dest)
    if dest.is_dir():
        dest = _dated(dest)
    if dest.exists() and not force:
        raise BadInput(t("backup.exists", file=dest))
    if not dest.parent.is_dir():
        raise BadInput(t("backup.no_directory", file=dest.parent))
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    tmp.unlink(missing_ok=True)
    _new_private_file(tmp)
    try:
        entries = _snapshot(store, tmp, check)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    audit.record(store.db, actor, "backup", "database")
    log.info("backup by %s: %s (%d bytes)", actor.name, dest, dest.stat().st_size)
    return {"file": str(dest), "bytes": dest.stat().st_size,
            "audit_entries": entries.entries if entries else 0}


def backup_stream(store, actor, out, check: bool = True) -> dict:
    """A backup written to the binary stream OUT (standard output under sudo: the caller's
    shell opens the file). The copy is made and checked in a private file beside the database
    first, so OUT receives a whole, checked copy or nothing."""
    access.require_admin(actor)
    fd, name = tempfile.mkstemp(dir=Path(store.path).parent, prefix=".caseload-backup-", suffix=".partial")
    os.close(fd)
    tmp = Path(name)
    try:
        entries = _snapshot(store, tmp, check)
        size = tmp.stat().st_size
        with open(tmp, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)
        out.flush()
    finally:
        tmp.unlink(missing_ok=True)
    audit.record(store.db, actor, "backup", "database")
    log.info("backup by %s to a stream (%d bytes)", actor.name, size)
    return {"file": "-", "bytes": size, "audit_entries": entries.entries if entries else 0}


def check_may_restore(target: Path | str, user: str | None = None) -> None:
    """What refuses a restore before anything is read: a daemon holding the database, or a
    user who is not an active admin in the database it would replace (when that is readable)."""
    target = Path(target)
    if daemon_holds(target):
        raise CaseloadError(t("files.daemon_running", file=target))
    if target.exists():
        conn = sqlite3.connect(target)
        try:
            is_admin = _admin_in(conn, user or access.os_user())
        except sqlite3.DatabaseError:
            return  # unreadable: the backup's admin decides (restore checks that)
        finally:
            conn.close()
        if not is_admin:
            raise PermissionDenied(t("backup.not_admin_in_target", user=user or access.os_user()))


def inspect(src: Path | str) -> dict:
    """What a backup holds, checked: SQLite integrity, a caseload database, migrations this
    version knows, an intact audit trail. BadInput lists every problem."""
    src = Path(src)
    if not src.is_file():
        raise BadInput(t("backup.src_missing", file=src))
    try:
        with sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True) as conn:
            problems, names, head = _inspect(conn)
    except sqlite3.DatabaseError as e:
        problems, names, head = [t("backup.unreadable", error=str(e))], [], None
    if problems:
        raise BadInput(t("backup.refused", file=src), details=problems)
    known = [m.name for m in migrations._migrations]
    return {"file": str(src), "migrations": len(names), "pending": len([n for n in known if n not in names]),
            "audit_entries": head.entries, "last_id": head.last_id, "last_hash": head.last_hash}


def _inspect(conn) -> tuple[list[str], list[str], audit.Head | None]:
    status = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if status != ["ok"]:
        return [t("backup.integrity", error="; ".join(status[:3]))], [], None
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"_sqlite_migrations", "audit", "audit_head", "users"} <= tables:
        return [t("backup.not_caseload")], [], None
    names = [r[0] for r in conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid", [migrations.name])]
    unknown = [n for n in names if n not in {m.name for m in migrations._migrations}]
    if unknown:
        return [t("backup.newer", names=", ".join(unknown))], names, None
    return [str(p) for p in audit.check(conn)], names, audit.head(conn)


def _admin_in(conn, user: str) -> bool:
    row = conn.execute("SELECT role, active FROM users WHERE name = ?", [user]).fetchone()
    return row is not None and row[0] == "admin" and bool(row[1])


def _given_out(conn) -> dict[str, int]:
    """The highest id ever given out per table whose ids a link or a provider names."""
    out = {}
    for table in LINKED:
        try:
            seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [table]).fetchone()
        except sqlite3.OperationalError:  # made before migration 0010: no sequence yet
            seq = None
        out[table] = max(seq[0] if seq else 0, conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0])
    return out


def restore(src: Path | str, target: Path | str, user: str | None = None, force: bool = False,
            interface: str = "cli") -> dict:
    """Put a backup in place of the database. The user must be an active admin in the backup
    and, when there is one, in the database it replaces; an existing database needs force.
    The copy goes through SQLite (backup API), never by moving files under a running process."""
    src, target = Path(src), Path(target)
    user = user or access.os_user()
    if daemon_holds(target):
        raise CaseloadError(t("files.daemon_running", file=target))
    info = inspect(src)
    with sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True) as conn:
        if not _admin_in(conn, user):
            raise PermissionDenied(t("backup.not_admin_in_backup", user=user))
    later: list[tuple] | None = None
    given_out: dict[str, int] = {}
    if target.exists():
        if not force:
            raise BadInput(t("backup.target_exists", file=target))
        check_file_mode(target)
        try:
            with sqlite3.connect(target) as conn:
                is_admin = _admin_in(conn, user)
                later = audit.since(conn, info["last_id"], info["last_hash"])
                given_out = _given_out(conn)
        except sqlite3.DatabaseError:
            is_admin = True  # the database being replaced is unreadable: the backup's admin decides
        if not is_admin:
            raise PermissionDenied(t("backup.not_admin_in_target", user=user))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        _new_private_file(target)
    source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True)
    dest = sqlite3.connect(target, isolation_level=None)
    try:
        dest.execute("PRAGMA busy_timeout = 30000")
        source.backup(dest)
    finally:
        source.close()
        dest.close()
    db = open_db(target)  # WAL again, and any migrations the backup predates
    try:
        actor = access.resolve_actor(db, user, interface=interface)
        with write_transaction(db) as conn:
            carried = audit.carry(conn, later or [])
            for table, last in given_out.items():  # ids handed out after the backup stay used
                conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", [last, table])
            erased = [int(r[5].split(":")[1]) for r in later or []
                      if r[4] in ERASURES and r[5].startswith("client:") and r[5][7:].isdigit()]
            again = [r[0] for r in conn.execute(
                f"SELECT id FROM clients WHERE id IN ({', '.join('?' * len(erased))})", erased)]
            if again:
                erase(conn, actor, again, action="forget_again")
            audit.record(conn, actor, "restore", "database", "trail_carried" if later is not None else "trail_reset")
        checkpoint(db.conn)
    finally:
        db.close()
    log.info("restore by %s from %s: %d entries carried, %d clients erased again", user, src, carried, len(again))
    return {**info, "file": str(target), "source": str(src), "carried": carried, "erased_again": len(again),
            "trail_continues": later is not None}
