"""`caseload tui` for real: started in a pseudo-terminal on a real database, it shows the
caseload, records a login in the audit trail, and quits on `q` with exit code 0."""

import os
import pty
import re
import select
import sqlite3
import sys
import time

from tui_fixture import database

ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?")


def _read_until(fd, wanted: bytes, timeout: float) -> bytes:
    seen, start = b"", time.monotonic()
    while time.monotonic() - start < timeout:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
            if wanted in ANSI.sub(b"", seen):
                return seen
    raise AssertionError(ANSI.sub(b"", seen)[-300:])


def test_caseload_tui_opens_the_caseload_audits_the_login_and_quits(tmp_path):
    db = database(tmp_path)
    env = {**os.environ, "TERM": "xterm-256color", "SUDO_USER": "anna", "LANG": "nl_NL.UTF-8",
           "XDG_CONFIG_HOME": str(tmp_path)}
    for name in ("SUDO_UID", "CASELOAD_CONFIG", "CASELOAD_DB"):
        env.pop(name, None)
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tmp_path)
        os.execvpe(sys.executable, [sys.executable, "-c", "from caseload.cli import main; main()",
                                    "--db", str(db), "tui"], env)
    status = None
    try:
        _read_until(fd, b"klanten", 60)
        os.write(fd, b"q")
        for _ in range(300):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            status = None
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status is not None, "caseload tui did not quit on q"
    assert os.waitstatus_to_exitcode(status) == 0
    conn = sqlite3.connect(db)
    actor, origin, action, obj = conn.execute(
        "SELECT actor, origin, action, object FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    assert (actor, action, obj) == ("anna", "login", "tui") and origin.startswith("tui@")
