"""`caseload daemon`: one long-running process, a thin loop over the core.

Every tick (config.daemon.tick_seconds, 60 by default) it runs, each job in its own try/except:
  activity   reply windows, the next SMS question, check-ins closing (activity.update)
  checkins   check-in rounds that are due (checkins.run_schedules)
  campaigns  campaign occurrences that are due (campaigns.run_due)
  digests    digest rounds that are due (offers.run_due): cap, quiet hours and opt-out as any message
  imap       email replies, when [imap] host is set (replies.fetch_imap over channels.email_inbound)
  send       what is due in the outbox: the same core as `caseload send` (outbox.send_due)
  nightly    once a day after config.daemon.backup_at (local): retention, then a backup
and writes its heartbeat. The webhook endpoint runs beside it in its own threads.

What is due comes from the database ("due and not yet done"), never from the scheduler's
memory: a job that failed, a tick missed during a suspend or a restart after kill -9 simply
finds the same work next time. `schedule` only paces the jobs. A job that raises is logged by its
type (never its message: it may quote personal data) and the loop goes on.

One daemon per database: an exclusive flock on `<database>.daemon.lock` (released by the kernel
when the process dies, even by SIGKILL), and the heartbeat row for daemons on other machines
sharing the file. SIGTERM (and SIGINT) finish the message in flight, stop the endpoint and exit 0.
"""

import errno
import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import schedule

from .. import access
from ..db import daemon_holds, daemon_lock_path, refresh_statistics, write_transaction
from ..errors import CaseloadError
from ..i18n import t
from ..secrets import SecretMissing
from ..clock import iso, parse_iso

log = logging.getLogger("caseload.daemon")

JOBS = ("activity", "checkins", "campaigns", "digests", "imap", "send", "nightly")
NIGHTLY_RETRY = timedelta(minutes=15)
CACHE_KIB = 8192  # the daemon's page cache per connection (the CLI uses 64 MiB)


lock_path = daemon_lock_path
held_by_other = daemon_holds  # restore asks this too, so it lives in the core


class Lock:
    """An exclusive flock on the lock file beside the database; the kernel drops it when the
    process ends, however it ends."""

    def __init__(self, db_path: Path):
        self.path = lock_path(db_path)
        self.fd = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def heartbeat(db) -> dict | None:
    row = db.execute("SELECT owner, host, pid, started_at, beat_at, stopped_at, tick_seconds, listen"
                     " FROM daemon_heartbeat WHERE id = 1").fetchone()
    cols = ("owner", "host", "pid", "started_at", "beat_at", "stopped_at", "tick_seconds", "listen")
    return dict(zip(cols, row)) if row else None


def _fresh(beat: dict, now: datetime) -> bool:
    return beat["stopped_at"] is None and parse_iso(beat["beat_at"]) > now - timedelta(
        seconds=3 * float(beat["tick_seconds"]) + 30)


@dataclass
class JobResult:
    ok: bool
    result: dict | None = None
    error: str | None = None


class Daemon:
    def __init__(self, config, db_path: Path | str, tick: float | None = None, listen: str | None = None,
                 serve_webhooks: bool = True):
        self.config = config
        self.db_path = Path(db_path)
        self.tick = float(tick if tick is not None else config.daemon.tick_seconds)
        if self.tick <= 0:
            raise CaseloadError(t("daemon.bad_tick", value=self.tick))
        self.listen = listen or config.daemon.listen
        self.serve_webhooks = serve_webhooks
        self.stop = threading.Event()
        self.lock = Lock(self.db_path)
        self.store = None
        self.server = None
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.scheduler = schedule.Scheduler()
        self.actor = access.system_actor("daemon")

    # -- opening --

    def open_store(self):
        from ..store import open_store

        s = open_store(self.config, self.db_path)
        s.db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        return s

    def start(self) -> None:
        if not self.lock.acquire():
            raise CaseloadError(t("daemon.already_running", file=self.db_path))
        try:
            self.store = self.open_store()
            now = datetime.now(timezone.utc)
            beat = heartbeat(self.store.db)
            if beat and beat["host"] != socket.gethostname() and _fresh(beat, now):
                raise CaseloadError(t("daemon.running_elsewhere", host=beat["host"], at=beat["beat_at"]))
            with write_transaction(self.store.db) as conn:
                conn.execute("INSERT INTO daemon_heartbeat (id, owner, host, pid, started_at, beat_at, tick_seconds,"
                             " listen) VALUES (1, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                             " owner = excluded.owner, host = excluded.host, pid = excluded.pid,"
                             " started_at = excluded.started_at, beat_at = excluded.beat_at, stopped_at = NULL,"
                             " tick_seconds = excluded.tick_seconds, listen = excluded.listen",
                             [self.owner, socket.gethostname(), os.getpid(), iso(now), iso(now), self.tick,
                              self.listen if self.serve_webhooks else None])
            if self.serve_webhooks:
                from .webhooks import serve

                self.server = serve(self.config, self.open_store, self.listen)
        except BaseException:
            self.close()
            raise
        for name in JOBS:
            if name == "imap" and not self.config.imap.host:
                continue
            self.scheduler.every(self.tick).seconds.do(self.run_job, name)
        log.info("daemon started (tick %ss)", self.tick)
        from ..channels import sms

        if sms.provider_class(self.config.sms.provider)(self.config).sender_number is None:
            log.warning("[sms] sender is a name, not a number: clients cannot answer an SMS; replies need a reply"
                        " number in E.164 as sender (docs/daemon.md)")
        from ..audit import audit_key
        from ..display import reason
        from ..secrets import get_secret

        if self.config.imap.host and get_secret("imap_password") is None:
            log.warning("[imap] %s: email replies are not read", reason("imap_password_missing"))
        if audit_key() is None:
            log.warning("no audit key (CASELOAD_AUDIT_KEY): the audit trail's head is sealed with a plain hash")

    # -- the loop --

    def run(self) -> None:
        """Run until stopped (SIGTERM, SIGINT or `self.stop.set()`)."""
        self.scheduler.run_all()
        self.beat()
        while not self.stop.is_set():
            idle = self.scheduler.idle_seconds
            self.stop.wait(max(0.01, min(self.tick, idle if idle is not None else self.tick)))
            if self.stop.is_set():
                break
            self.scheduler.run_pending()
            self.beat()

    def beat(self) -> None:
        try:
            with write_transaction(self.store.db) as conn:
                conn.execute("UPDATE daemon_heartbeat SET beat_at = ? WHERE id = 1 AND owner = ?",
                             [iso(datetime.now(timezone.utc)), self.owner])
        except Exception as e:  # a busy database now is no reason to stop
            log.warning("heartbeat not written: %s", type(e).__name__)

    def run_job(self, name: str, now: datetime | None = None) -> JobResult:
        if self.stop.is_set():
            return JobResult(True)
        started = now or datetime.now(timezone.utc)
        t0 = time.monotonic()
        try:
            result = getattr(self, f"job_{name}")(started)
            outcome = JobResult(True, result)
        except SecretMissing as e:  # the message names a variable, never a value
            log.error("job %s failed: %s", name, e.message)
            outcome = JobResult(False, error=e.code)
        except Exception as e:
            log.error("job %s failed: %s", name, type(e).__name__, exc_info=os.environ.get("CASELOAD_DEBUG") == "1")
            outcome = JobResult(False, error=type(e).__name__)
        self._record(name, started, started + timedelta(seconds=time.monotonic() - t0), outcome)
        return outcome

    def _record(self, name: str, started: datetime, finished: datetime, r: JobResult) -> None:
        now = iso(finished)
        result = json.dumps(_numbers(r.result), sort_keys=True) if r.result else None
        try:
            with write_transaction(self.store.db) as conn:
                conn.execute(
                    "INSERT INTO daemon_jobs (name, last_started_at, last_finished_at, last_ok_at, last_error,"
                    " last_result, runs, failures) VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (name) DO UPDATE SET"
                    " last_started_at = excluded.last_started_at, last_finished_at = excluded.last_finished_at,"
                    " last_ok_at = COALESCE(excluded.last_ok_at, last_ok_at),"
                    " last_error = CASE WHEN excluded.last_ok_at IS NULL THEN excluded.last_error ELSE NULL END,"
                    " last_result = COALESCE(excluded.last_result, last_result), runs = runs + 1,"
                    " failures = failures + excluded.failures",
                    [name, iso(started), now, now if r.ok else None, r.error, result, 0 if r.ok else 1])
        except Exception as e:
            log.warning("job run of %s not recorded: %s", name, type(e).__name__)

    # -- the jobs --

    def job_activity(self, now):
        from .. import activity

        return activity.update(self.store, now)

    def job_checkins(self, now):
        from .. import checkins

        return checkins.run_schedules(self.store, now)

    def job_campaigns(self, now):
        from .. import campaigns

        return campaigns.run_due(self.store, now)

    def job_digests(self, now):
        from .. import offers

        return offers.run_due(self.store, now)

    def job_imap(self, now):
        from .. import replies

        return replies.fetch_imap(self.store, now)

    def job_send(self, now):
        from .. import fallback, outbox

        deadline = time.monotonic() + max(self.tick * 0.8, 1.0)
        report = outbox.send_due(self.store, stop=lambda: self.stop.is_set() or time.monotonic() > deadline,
                                 settle=fallback.settle)
        if report.failed or report.unavailable:
            log.warning("send: %d failed; unavailable: %s", report.failed, ", ".join(sorted(report.unavailable)) or "-")
        d = report.as_dict()
        return {k: v for k, v in d.items() if isinstance(v, int) and v}

    def job_nightly(self, now):
        from .. import backup, retention

        local = now.astimezone(self.store.tz)
        today = local.date().isoformat()
        row = self.store.db.execute("SELECT done_for, last_error, last_finished_at FROM daemon_jobs"
                                    " WHERE name = 'nightly'").fetchone()
        if local.strftime("%H:%M") < self.config.daemon.backup_at or (row and row[0] == today):
            return None
        if row and row[1] and row[2] and parse_iso(row[2]) > now - NIGHTLY_RETRY:
            return None  # it failed a moment ago: try again later, not every tick
        done = retention.apply(self.store, self.actor, now)
        out = {k: int(v) for k, v in done.items()}
        refresh_statistics(self.store.db)
        if self.config.daemon.backup_dir:
            # one file per local day; a retry the same day replaces it
            made = backup.backup(self.store, self.actor, Path(self.config.daemon.backup_dir) / f"caseload-{today}.db",
                                 force=True)
            out["backup_bytes"] = made["bytes"]
        with write_transaction(self.store.db) as conn:
            conn.execute("INSERT INTO daemon_jobs (name, done_for) VALUES ('nightly', ?)"
                         " ON CONFLICT (name) DO UPDATE SET done_for = excluded.done_for", [today])
        return out

    # -- closing --

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.store is not None:
            try:
                with write_transaction(self.store.db) as conn:
                    conn.execute("UPDATE daemon_heartbeat SET stopped_at = ? WHERE id = 1 AND owner = ?",
                                 [iso(datetime.now(timezone.utc)), self.owner])
            except Exception as e:
                log.warning("heartbeat not closed: %s", type(e).__name__)
            self.store.close()
            self.store = None
        self.lock.release()


def _numbers(d: dict) -> dict:
    """Only counts and times go into the job table (never data)."""
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)
            and (not isinstance(v, str) or len(v) <= 40)}


def run_daemon(config, db_path, tick: float | None = None, listen: str | None = None,
               serve_webhooks: bool = True) -> None:
    """The `caseload daemon` process: start, run until SIGTERM/SIGINT, close."""
    d = Daemon(config, db_path, tick, listen, serve_webhooks)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: d.stop.set())
    d.start()
    try:
        d.run()
    finally:
        d.close()
    log.info("daemon stopped")


def status(store, db_path: Path, now: datetime | None = None) -> dict:
    """What `caseload daemon status` shows: the heartbeat, each job's last run, what is due."""
    from .. import outbox

    now = now or datetime.now(timezone.utc)
    beat = heartbeat(store.db)
    running = held_by_other(db_path)
    jobs = [dict(zip(("job", "last_started_at", "last_ok_at", "last_error", "runs", "failures", "last_result",
                      "done_for"), r)) for r in store.db.execute(
        "SELECT name, last_started_at, last_ok_at, last_error, runs, failures, last_result, done_for FROM daemon_jobs"
        " ORDER BY name")]
    due = outbox.due_summary(store, now)
    checkins = dict(store.db.execute("SELECT status, COUNT(*) FROM checkins GROUP BY status").fetchall())
    waiting = store.db.execute("SELECT COUNT(*) FROM checkin_questions WHERE status IN ('queued', 'asked')").fetchone()[0]
    next_campaign = store.db.execute("SELECT MIN(s.next_at) FROM campaign_schedules s JOIN campaigns p"
                                     " ON p.id = s.campaign_id WHERE p.status = 'active'").fetchone()[0]
    schedules = store.db.execute("SELECT COUNT(*) FROM checkin_schedules WHERE status = 'active'").fetchone()[0]
    return {
        "running": running,
        "heartbeat": beat,
        "heartbeat_age_seconds": int((now - parse_iso(beat["beat_at"])).total_seconds()) if beat else None,
        "jobs": jobs,
        "due": {**due, "open_checkins": checkins.get("open", 0), "questions_waiting_for_reply": waiting,
                "active_checkin_schedules": schedules, "next_campaign_at": next_campaign},
    }
