"""Helpers for the daemon tests: a config with a [daemon] section on 127.0.0.1, the real daemon
process started and stopped, HTTP requests to its endpoint, waiting for a condition."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from servers import HOST, TOKEN, caseload_config, free_port

HOOK = "hook-secret-3e9a"
ROOT = Path(__file__).resolve().parent.parent


def daemon_config(path: Path, smtp_port=None, sms=None, tick: float = 0.2, port: int | None = None,
                  extra: str = "", **policy) -> tuple[Path, int]:
    """config.toml for the servers in tests/servers.py plus a [daemon] section; returns (path, port)."""
    port = port or free_port()
    caseload_config(path, smtp_port, sms, **policy)
    with open(path, "a", encoding="utf-8") as f:
        f.write(f'\n[daemon]\nlisten = "{HOST}:{port}"\npublic_url = "http://{HOST}:{port}"\n'
                f"tick_seconds = {tick}\n{extra}\n")
    return path, port


def env(**more) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CASELOAD_")}
    e.update({"CASELOAD_SMS_TOKEN": TOKEN, "CASELOAD_WEBHOOK_TOKEN": HOOK, "SUDO_USER": "admin",
              "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "CASELOAD_LOG": "WARNING",
              "LANG": "en_US.UTF-8", "PYTHONPATH": str(ROOT)})
    e.update(more)
    return e


class DaemonProcess:
    """`caseload daemon` as a real process."""

    def __init__(self, tmp: Path, db: Path, config: Path, port: int, *args, **env_more):
        self.tmp, self.db, self.config, self.port = tmp, db, config, port
        self.log = open(tmp / f"daemon-{time.monotonic_ns()}.log", "w+b")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from caseload.cli import main; main()", "--db", str(db), "--config", str(config),
             "daemon", *args], env=env(**env_more), stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def wait_ready(self, timeout: float = 20) -> None:
        wait_for(lambda: self.proc.poll() is not None or get(self.port, "/health")[0] == 200, timeout,
                 "the daemon's endpoint")
        assert self.proc.poll() is None, self.output()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def wait_for(predicate, timeout: float = 20, what: str = "a condition", every: float = 0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def request(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", data=body if method != "GET" else None,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b"", {}


def get(port: int, path: str):
    return request(port, "GET", path)


def post_json(port: int, path: str, data) -> int:
    return request(port, "POST", path, json.dumps(data).encode(), {"Content-Type": "application/json"})[0]


def query(db: Path, sql: str, args=()) -> list:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def open_test_store(tmp: Path, config: Path, name: str = "caseload.db"):
    """A store on a fresh database with users admin (admin) and coach1/coach2 (coaches)."""
    from caseload import access
    from caseload.config import load_config
    from caseload.store import open_store

    store = open_store(load_config(config), tmp / name, create=True)
    for user, role in (("admin", "admin"), ("coach1", "coach"), ("coach2", "coach")):
        if not store.db.execute("SELECT 1 FROM users WHERE name = ?", [user]).fetchone():
            access.add_user(store.db, user, role, "t1")
    return store
