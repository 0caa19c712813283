"""Files a person names on the command line: opened with that person's rights, never the
service account's.

Under sudo (`sudo -u caseload caseload ...`) caseload runs as the service account, which can
read the secrets and write the database. A path the caller names would be opened with those
rights, so under sudo only `-` is accepted: standard input or output, which the caller's own
shell opens with the caller's rights (`... export > mine.csv`, `... import - < file.csv`).
Backups are the one exception: under sudo they may name a place inside `daemon.backup_dir`,
the service's own directory (`backup_target`, `backup_source`).

Run directly (an administrator, with their own rights), an output:
- never replaces an existing file without `force`, and never follows a symbolic link;
- is created 0600 and is written in full or not at all (a failure removes what was written;
  with `force` the new file is written beside the old one and renamed over it);
- is never one of caseload's own files (`OwnFiles`): the database and its -wal, -shm and
  -journal, the daemon's lock, the config, or anything in the backup directory. Paths are
  compared by their real path and by inode, so a symbolic or hard link to them is refused too.
"""

import os
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .access import under_sudo
from .errors import BadInput
from .i18n import t

STDIO = "-"
DB_SIDE_FILES = ("-wal", "-shm", "-journal", ".daemon.lock")


def is_stdio(path) -> bool:
    return str(path) == STDIO


def check_named(path, option: str, example: str) -> None:
    """Refuse a named path under sudo. `example` is the redirect form to suggest, such as
    `sudo -u caseload caseload import - < FILE`."""
    if path is not None and not is_stdio(path) and under_sudo():
        raise BadInput(t("files.sudo_named", option=option, example=example))


def open_input(path, option: str, example: str) -> BinaryIO:
    """A binary stream to read: stdin for `-`, else the named file (never under sudo)."""
    check_named(path, option, example)
    if is_stdio(path):
        return sys.stdin.buffer
    try:
        return open(Path(path), "rb")
    except OSError as e:
        raise BadInput(t("files.unreadable", file=path, error=e.strerror or type(e).__name__)) from None


def read_text(path, option: str, example: str, limit: int = 1_000_000) -> str:
    """A small UTF-8 text (a template body, an HTML part), at most `limit` bytes."""
    f = open_input(path, option, example)
    try:
        data = f.read(limit + 1)
    finally:
        if f is not sys.stdin.buffer:
            f.close()
    if len(data) > limit:
        raise BadInput(t("files.too_large", file=path, limit=limit))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(t("files.not_utf8", file=path, position=e.start)) from None


# --- outputs -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OwnFiles:
    """caseload's own files, which no output may replace: the database with its side files and
    lock, the config, and the backup directory (anything in it)."""

    files: tuple[Path, ...]
    dirs: tuple[Path, ...] = ()

    @classmethod
    def of(cls, db_path, config_path=None, backup_dir=None) -> "OwnFiles":
        db = Path(db_path)
        files = [db, *(Path(f"{db}{suffix}") for suffix in DB_SIDE_FILES)]
        if config_path:
            files.append(Path(config_path))
        return cls(tuple(files), (Path(backup_dir),) if backup_dir else ())

    def owns(self, path: Path) -> bool:
        real = os.path.realpath(path)
        if any(real == os.path.realpath(f) or _same(path, f) for f in self.files):
            return True
        for d in self.dirs:
            root = os.path.realpath(d)
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return True
            if any(_same(parent, d) for parent in Path(real).parents):
                return True
        return False


def _same(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path, option: str, example: str, own: OwnFiles, force: bool = False) -> None:
    """Everything that refuses an output, checked before any work is done."""
    if path is None or is_stdio(path):
        return
    check_named(path, option, example)
    path = Path(path)
    if path.is_symlink():
        raise BadInput(t("files.link", file=path))
    if own.owns(path):
        raise BadInput(t("files.own_file", file=path))
    if path.is_dir():
        raise BadInput(t("files.is_dir", file=path))
    if path.exists() and not force:
        raise BadInput(t("files.exists", file=path))
    if not path.parent.is_dir():
        raise BadInput(t("files.no_directory", file=path.parent))


@contextmanager
def open_output(path, option: str, example: str, own: OwnFiles, force: bool = False, binary: bool = False):
    """A stream to write: stdout for `-` or None, else a new private file (see the module's
    docstring). On an exception nothing stays behind, and an existing file is left as it was."""
    check_output(path, option, example, own, force)
    if path is None or is_stdio(path):
        out = sys.stdout.buffer if binary else sys.stdout
        yield out
        out.flush()
        return
    path = Path(path)
    replace = force and os.path.lexists(path)
    made = path.with_name(f".{path.name}.{os.getpid()}.partial") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(made, flags, 0o600)
    except FileExistsError:
        raise BadInput(t("files.exists", file=path)) from None
    ident = os.fstat(fd)
    f = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if replace:
            if path.is_symlink() or own.owns(path):  # changed while we wrote
                raise BadInput(t("files.own_file", file=path))
            os.replace(made, path)
    except BaseException:
        _remove_if_ours(made, ident)
        raise


def _remove_if_ours(path: Path, ident: os.stat_result) -> None:
    try:
        now = os.lstat(path)
    except OSError:
        return
    if stat.S_ISREG(now.st_mode) and (now.st_dev, now.st_ino) == (ident.st_dev, ident.st_ino):
        path.unlink(missing_ok=True)


# --- backups: the service's own directory -----------------------------------------------------------

def _inside(path: Path, directory) -> bool:
    if not directory:
        return False
    real, root = os.path.realpath(path), os.path.realpath(directory)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def backup_target(dest, own: OwnFiles, backup_dir) -> None:
    """Where a backup may go. Under sudo: `-`, or inside `daemon.backup_dir` (the service's own
    directory, where the service writes with its own rights anyway). Never over the database,
    its side files or the config."""
    if is_stdio(dest):
        return
    if under_sudo() and not _inside(Path(dest), backup_dir):
        raise BadInput(t("files.sudo_backup", option="DEST", dir=backup_dir or "-",
                         example="sudo -u caseload caseload backup - > caseload.db"))
    if OwnFiles(own.files).owns(Path(dest)):
        raise BadInput(t("files.own_file", file=dest))


def backup_source(src, backup_dir) -> None:
    """What a restore may read. Under sudo: `-`, or a file inside `daemon.backup_dir`."""
    if is_stdio(src):
        return
    if under_sudo() and not _inside(Path(src), backup_dir):
        raise BadInput(t("files.sudo_backup", option="SRC", dir=backup_dir or "-",
                         example="sudo -u caseload caseload restore - --force < caseload.db"))


@contextmanager
def spooled_stdin(directory: Path):
    """Standard input copied into a private temporary file in `directory` (the service's own
    directory), for code that needs a real file; removed afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".caseload-stdin-", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
