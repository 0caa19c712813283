"""Opening the database: one SQLite file per organisation, created 0600, in WAL mode."""

import errno
import fcntl
import os
import stat
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from .errors import CaseloadError
from .i18n import t
from .migrations import migrations


def check_file_mode(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CaseloadError(t("db.readable_by_others", file=path, mode=oct(mode & 0o777)))


SQLITE_HEADER = b"SQLite format 3\x00"


def check_is_sqlite(path: Path) -> None:
    """An empty or foreign file where the database should be is refused, never migrated into a
    new, empty database (which `init` would then hand to whoever runs it first)."""
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if head != SQLITE_HEADER:
        raise CaseloadError(t("files.db_empty" if not head else "files.db_not_sqlite", file=path))


def open_db(path: Path | str, create: bool = False) -> sqlite_utils.Database:
    """Open (or with create=True, make) the database and migrate it."""
    return connect(path, create)[0]


def connect(path: Path | str, create: bool = False) -> tuple[sqlite_utils.Database, bool]:
    """open_db, and whether this call created the file (only one caller ever does: O_EXCL)."""
    path = Path(path)
    created = False
    if not path.exists():
        if not create:
            raise CaseloadError(t("db.not_found", file=path))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
            created = True
        except FileExistsError:  # another process made it a moment ago
            pass
    check_file_mode(path)
    if not created:
        check_is_sqlite(path)
    old_umask = os.umask(0o077)  # the -wal and -shm files are created 0600 too
    try:
        db = sqlite_utils.Database(path)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("PRAGMA cache_size = -65536")
        db.execute("PRAGMA temp_store = MEMORY")
        db.execute("PRAGMA secure_delete = ON")  # deleted personal data is zeroed, not left in free pages
        migrations.apply(db)
    finally:
        os.umask(old_umask)
    return db, created


def daemon_lock_path(db_path: Path | str) -> Path:
    """The daemon's lock file beside the database."""
    return Path(str(db_path) + ".daemon.lock")


def daemon_holds(db_path: Path | str) -> bool:
    """True when a daemon holds the lock of this database now (on this machine)."""
    path = daemon_lock_path(db_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True
        raise
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def refresh_statistics(db: sqlite_utils.Database) -> None:
    """ANALYZE, sampling at most ~1000 rows per index (fast at any size): without statistics the
    query planner guesses, and measured at 100k clients some segments took 2x as long. Run after
    an import and nightly."""
    db.execute("PRAGMA analysis_limit = 1000")
    db.execute("ANALYZE")


@contextmanager
def write_transaction(db: sqlite_utils.Database):
    """BEGIN IMMEDIATE ... COMMIT: the write lock is taken up front, so no lock upgrade can fail."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def last_id(conn, table: str) -> int:
    """The highest id ever given out in `table`, also when its row was deleted since
    (AUTOINCREMENT's sqlite_sequence): an id that a link or a provider names is never reused.
    Writers that take ids themselves (to link rows written in one go) start after it, under
    the write lock."""
    return conn.execute(f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0),"
                        f" COALESCE((SELECT MAX(id) FROM {table}), 0))", [table]).fetchone()[0]
