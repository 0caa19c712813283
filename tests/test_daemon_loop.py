"""The loop in-process and as a process: a job that raises is logged by its type and the loop
goes on; nightly work runs once a day after its hour; SIGTERM finishes the message in flight
and leaves the rest queued; `caseload daemon status` shows heartbeat, jobs and what is due."""

import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, outbox, templates
from caseload.daemon import loop
from daemon_support import DaemonProcess, daemon_config, env, open_test_store, query, wait_for
from servers import SmtpSink, add_clients

ADMIN = access.Actor("admin", "admin")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    config, port = daemon_config(tmp_path / "config.toml", tick=0.05,
                                 extra=f'backup_dir = "{tmp_path / "backups"}"\nbackup_at = "02:30"')
    (tmp_path / "backups").mkdir()
    store = open_test_store(tmp_path, config)
    yield store, config
    store.close()


def test_a_failing_job_is_logged_by_type_and_the_loop_goes_on(setup, caplog, monkeypatch):
    store, _ = setup
    d = loop.Daemon(store.config, store.path, tick=0.05, serve_webhooks=False)
    calls = {"activity": 0, "checkins": 0}

    def boom(now):
        calls["activity"] += 1
        raise ValueError("client K00001 has +31612345678")  # a message that must not reach the log

    def fine(now):
        calls["checkins"] += 1
        return {"queued": 0}

    monkeypatch.setattr(d, "job_activity", boom)
    monkeypatch.setattr(d, "job_checkins", fine)

    def run():  # SQLite connections stay in the thread that made them, as in the real process
        d.start()
        try:
            d.run()
        finally:
            d.close()

    t = threading.Thread(target=run)
    with caplog.at_level(logging.ERROR, logger="caseload.daemon"):
        t.start()
        wait_for(lambda: calls["activity"] >= 3 and calls["checkins"] >= 3, 10, "three rounds")
        d.stop.set()
        t.join(10)
    assert not t.is_alive()
    assert "ProgrammingError" not in caplog.text
    assert "job activity failed: ValueError" in caplog.text
    assert "+31612345678" not in caplog.text and "K00001" not in caplog.text
    jobs = {r[0]: r[1:] for r in query(store.path, "SELECT name, last_error, failures, runs FROM daemon_jobs")}
    assert jobs["activity"][0] == "ValueError" and jobs["activity"][1] >= 3
    assert jobs["checkins"][0] is None and jobs["checkins"][2] >= 3 and jobs["send"][2] >= 2


def test_nightly_runs_once_a_day_after_its_hour_and_retries_later_after_a_failure(setup, monkeypatch):
    store, _ = setup
    d = loop.Daemon(store.config, store.path, tick=1, serve_webhooks=False)
    d.start()
    try:
        night = datetime(2025, 6, 16, 0, 0, tzinfo=timezone.utc)  # 02:00 local
        assert d.run_job("nightly", night).result is None
        with sqlite3.connect(store.path) as conn:  # no statistics yet
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
                conn.execute("DELETE FROM sqlite_stat1")
        done = d.run_job("nightly", night + timedelta(hours=1)).result  # 03:00 local
        assert done["backup_bytes"] > 0 and "clients" in done
        # statistics for the query planner, fresh each night
        assert ("characteristics",) in query(store.path, "SELECT DISTINCT tbl FROM sqlite_stat1")
        assert d.run_job("nightly", night + timedelta(hours=5)).result is None  # once a day
        assert [p.name for p in (store.path.parent / "backups").iterdir()] == ["caseload-2025-06-16.db"]
        from caseload import retention

        real = retention.apply
        monkeypatch.setattr(retention, "apply", lambda *a, **k: (_ for _ in ()).throw(OSError("disk")))
        tomorrow = night + timedelta(days=1, hours=1)
        assert d.run_job("nightly", tomorrow).error == "OSError"
        assert d.run_job("nightly", tomorrow + timedelta(minutes=5)).result is None  # not again at once
        monkeypatch.setattr(retention, "apply", real)
        assert d.run_job("nightly", tomorrow + timedelta(minutes=20)).result["backup_bytes"] > 0
        assert query(store.path, "SELECT done_for FROM daemon_jobs WHERE name = 'nightly'") == [("2025-06-17",)]
    finally:
        d.close()


def test_status_shows_heartbeat_jobs_and_what_is_due(cli, tmp_path):
    r = cli("daemon", "status", "--format", "json")
    assert r.exit_code == 3, r.output  # no daemon runs: monitoring sees it in the exit code
    s = json.loads(r.stdout)
    assert s["running"] is False and s["heartbeat"] is None and s["due"]["open_checkins"] == 0
    assert cli("user", "add", "ann", "--role", "analyst").exit_code == 0
    assert cli("daemon", "status", user="ann").exit_code == 1
    assert cli("daemon", user="ann").exit_code == 1  # the daemon runs as the service's admin


@pytest.mark.slow
def test_sigterm_finishes_the_message_in_flight_and_leaves_the_rest_queued(tmp_path):
    with SmtpSink(delay=0.3) as sink:
        config, port = daemon_config(tmp_path / "config.toml", sink.port, tick=5)
        store = open_test_store(tmp_path, config)
        add_clients(store, 30)
        templates.add_template(store, ADMIN, "tip", "email", "Dag {{ first_name }}", subject="Tip")
        outbox.commit_queue(store, ADMIN, outbox.plan_queue(store, ADMIN, "status = active", "tip"))
        with DaemonProcess(tmp_path, store.path, config, port) as daemon:
            wait_for(lambda: len(sink.messages()) >= 3, 30, "some mail")
            started = time.monotonic()
            assert daemon.terminate() == 0, daemon.output()
            assert time.monotonic() - started < 5
        states = dict(query(store.path, "SELECT status, COUNT(*) FROM messages GROUP BY status"))
        assert "sending" not in states and states["sent"] + states["queued"] == 30
        assert states["sent"] == len(sink.messages())  # what went out is recorded, nothing else
        status = json.loads(subprocess.run(
            [sys.executable, "-c", "from caseload.cli import main; main()", "--db", str(store.path),
             "--config", str(config), "daemon", "status", "--format", "json"],
            capture_output=True, text=True, env=env(), timeout=60).stdout)
        assert status["running"] is False and status["heartbeat"]["stopped_at"]
        assert status["due"]["due_email"] == states["queued"]
        assert {j["job"] for j in status["jobs"]} >= {"send", "activity", "checkins", "campaigns"}


def test_a_missing_imap_password_is_named_at_start_and_in_the_job_table(tmp_path, monkeypatch, caplog):
    """Not 'RuntimeError': the administrator reads which variable to set, and no value."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.delenv("CASELOAD_IMAP_PASSWORD", raising=False)
    config, _ = daemon_config(tmp_path / "config.toml", tick=1)
    with open(config, "a", encoding="utf-8") as f:
        f.write('\n[imap]\nhost = "127.0.0.1"\nport = 9\nusername = "replies"\n')
    store = open_test_store(tmp_path, config)
    d = loop.Daemon(store.config, store.path, tick=1, serve_webhooks=False)
    with caplog.at_level(logging.WARNING, logger="caseload.daemon"):
        d.start()
        try:
            assert d.run_job("imap").error == "imap_password_missing"
        finally:
            d.close()
            store.close()
    assert caplog.text.count("CASELOAD_IMAP_PASSWORD") == 2  # at start, and when the job ran
    assert query(store.path, "SELECT last_error FROM daemon_jobs WHERE name = 'imap'") == [("imap_password_missing",)]
