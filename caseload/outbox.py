"""The outbox: every message to a client, from queued to sent, durable across crashes, kills and
concurrent senders.

States: queued -> sending -> sent -> delivered | failed | cancelled | expired. Every change is a
row in `message_events` (written by a trigger, timestamped with the change).

How a sender works (`send_due`, run by `caseload send` from cron and by the daemon every minute):
1. In one BEGIN IMMEDIATE transaction it claims a batch of due messages that pass the policies
   (quiet hours, opt-out, outflow, frequency cap, rate limit): status `sending`, a lease in its
   own name (host:pid:process start) until now + LEASE_SECONDS.
2. It sends them one at a time, in id order, over one connection per channel. After each send
   one transaction records the outcome and checks the next message again (still ours, no
   opt-out, no outflow), so the state of message N is committed before N+1's text is handed to
   the channel. That transaction runs in a writer thread while the relay answers N+1's first
   commands. It also marks N+1 `possible_duplicate` until N+1's outcome is recorded, so the one
   message a sender can have in flight is always marked. The next batch is claimed in pieces
   over a batch's last messages, and the WAL is check-pointed in a background thread.
3. A claim whose sender died is taken up by the next sender: at once when the dead process ran on
   this host (its pid is gone), else when the lease runs out (at most LEASE_SECONDS). Its
   messages go back to the queue; the one it may have handed over keeps its mark and is sent
   again marked. So a kill costs at most one duplicate, marked. (Not "the lowest id": a claim
   made ahead can hold lower ids than the batch being sent, as messages are claimed in the order
   they are due.)

Temporary errors retry with exponential backoff up to config.policy.max_attempts; permanent ones
fail with a reason (a code, never a provider's text: it may quote an address). A channel that is
down (connection refused, login failed, 429) releases its messages without counting an attempt.
A campaign pauses itself after config.policy.pause_after_failures failures in a row.
"""

import logging
import os
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from secrets import token_hex

from . import access, audit, clock, owners, policy
from .channels import PERMANENT, SENT, TEMPORARY, UNAVAILABLE, Outcome, Outgoing, open_channel
from .db import write_transaction
from .errors import BadInput, NotFound
from .i18n import t
from .clock import iso, parse_iso
from .policy import NO_MESSAGES
from .reach import Reach

log = logging.getLogger("caseload.outbox")

STATES = ("queued", "sending", "sent", "delivered", "failed", "cancelled", "expired")
CHANNELS = ("sms", "email")
KINDS = ("campaign", "checkin", "system")
LEASE_SECONDS = 45
BATCH = 50
PREFETCH_PIECES = 3  # the next batch is claimed in this many pieces, one per message near a batch's end
RECLAIM_EVERY = 10.0  # seconds between looks for claims of dead senders during a run
BACKOFF_BASE = 60
BACKOFF_CAP = 3600
MAX_POLICY_ROWS = 500  # rows one claim transaction may look at before it commits
WAL_PAGES = 10_000  # the writer's own checkpoints, a backstop: _Checkpointer does the work
CHECKPOINT_EVERY = 0.25  # seconds between checkpoints in the background during a run
RESTART_FRAMES = 4000  # WAL frames (pages) after which the writer starts the WAL file afresh
COUNTED_COMMITS = {"n": 0}  # transactions committed by the send path (bench/bench_send.py reads it)


# --- who is sending -------------------------------------------------------------------------

def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) of a process from /proc, None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw.rpartition(")")[2].split()
    return fields[0], fields[19]


_PROCESS: dict[int, str] = {}
_ACTIVE: set[str] = set()  # runs of this process that are sending right now
_ACTIVE_LOCK = threading.Lock()


def sender_id() -> str:
    """host:pid:start of this process, unique even when the pid is reused later."""
    pid = os.getpid()
    if pid not in _PROCESS:
        stat = _proc_stat(pid) if os.path.exists("/proc/self/stat") else None
        _PROCESS[pid] = f"{socket.gethostname()}:{pid}:{stat[1] if stat else token_hex(4)}"
    return _PROCESS[pid]


def owner_alive(owner: str) -> bool | None:
    """Whether the run that holds a lease (host:pid:start:run) still runs: False when its
    process on this host is gone (or a zombie), or when it is an earlier run of this very
    process that ended without finishing; None when we cannot tell (another host)."""
    parts = owner.split(":")
    if len(parts) < 4:
        return None
    host, pid_text, start = ":".join(parts[:-3]), parts[-3], parts[-2]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    if owner.rpartition(":")[0] == sender_id():
        with _ACTIVE_LOCK:
            return owner in _ACTIVE
    pid = int(pid_text)
    if os.path.exists("/proc/self/stat"):
        stat = _proc_stat(pid)
        return stat is not None and stat[0] not in ("Z", "X") and stat[1] == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- reports --------------------------------------------------------------------------------

@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    deferred: int = 0
    released: int = 0
    reclaimed: int = 0
    possible_duplicates: int = 0
    quiet_until: str | None = None
    rate_limited: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    paused_campaigns: list[int] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.failed

    @property
    def ok(self) -> bool:
        """Nothing failed and every channel that had work was reachable."""
        return not self.failed and not self.unavailable and not self.paused_campaigns

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("sent", "retried", "failed", "cancelled", "expired", "deferred",
                                              "released", "reclaimed", "possible_duplicates", "quiet_until")}
        out.update(rate_limited=list(self.rate_limited), unavailable=dict(self.unavailable),
                   paused_campaigns=list(self.paused_campaigns), reasons=dict(self.reasons))
        return out


@dataclass
class Claimed:
    id: int
    client_id: int
    channel: str
    kind: str
    campaign_id: int | None
    attempts: int
    possible_duplicate: bool
    outgoing: Outgoing


# --- state changes --------------------------------------------------------------------------

def _set(conn, message_id: int, now: datetime, status: str, reason: str | None, **extra) -> int:
    cols = {"status": status, "reason": reason, "updated_at": iso(now), **extra}
    sets = ", ".join(f"{k} = ?" for k in cols)
    return conn.execute(f"UPDATE messages SET {sets} WHERE id = ?", [*cols.values(), message_id]).rowcount


def backoff(attempts: int) -> float:
    """Seconds before retry number `attempts` (1, 2, ...): 1, 2, 4 ... minutes up to an hour, jittered."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)


def reclaim(store, now: datetime | None = None) -> tuple[int, int]:
    """Give the claims of dead senders (gone from this host, or lease run out) back to the queue.
    Returns (messages returned, messages marked possible_duplicate)."""
    now = clock.now(now)
    back = marked = 0
    rows = store.db.execute("SELECT lease_owner, MIN(lease_until) FROM messages WHERE status = 'sending'"
                            " GROUP BY lease_owner").fetchall()
    dead = [o for o, until in rows if owner_alive(o or "") is False or (until or "") < iso(now)]
    if not dead:
        return 0, 0
    with write_transaction(store.db) as conn:
        for owner in dead:
            rows = conn.execute("SELECT id, possible_duplicate FROM messages WHERE status = 'sending'"
                                " AND lease_owner IS ? ORDER BY id", [owner]).fetchall()
            for mid, dup in rows:
                # the message the sender may have handed over carries the mark already (see _Run.step)
                _set(conn, mid, now, "queued", "reclaimed" if dup else "released", lease_owner=None, lease_until=None)
            back += len(rows)
            marked += sum(dup for _, dup in rows)
        COUNTED_COMMITS["n"] += 1
    if back:
        log.warning("took up %d messages of %d stopped senders (%d possibly sent already)", back, len(dead), marked)
    return back, marked


def expire_due(store, now: datetime | None = None) -> int:
    now = clock.now(now)
    if store.db.execute("SELECT 1 FROM messages WHERE status = 'queued' AND due_at <= ? AND expires_at < ? LIMIT 1",
                        [iso(now), iso(now)]).fetchone() is None:
        return 0  # the common case, without taking the write lock
    with write_transaction(store.db) as conn:
        n = conn.execute("UPDATE messages SET status = 'expired', reason = 'expired', updated_at = ?"
                         " WHERE status = 'queued' AND due_at <= ? AND expires_at < ?",
                         [iso(now), iso(now), iso(now)]).rowcount
    return n


_CANDIDATES = """
SELECT m.id, m.client_id, m.channel, m.kind, m.campaign_id, m.expires_at, m.attempts, m.possible_duplicate,
       m.subject, m.body, m.html, m.token, m.language, c.status, c.email, c.phone,
       EXISTS (SELECT 1 FROM opt_outs o WHERE o.client_id = m.client_id AND o.channel = m.channel),
       COALESCE(p.failures_in_a_row, 0)
FROM messages m
LEFT JOIN clients c ON c.id = m.client_id
LEFT JOIN campaigns p ON p.id = m.campaign_id
WHERE m.status = 'queued' AND m.due_at <= ? AND m.channel IN ({channels})
  AND (p.status IS NULL OR p.status = 'active')
ORDER BY m.due_at, m.id
LIMIT ?
"""


def _claim(conn, store, owner: str, now: datetime, n: int, channels: list[str], report: SendReport,
           dirty: set, probe: set = frozenset()) -> tuple[list[Claimed], list[str]]:
    """Claim up to n due messages that pass the policies (inside the caller's transaction).
    A channel in `probe` gets one message only (it has not worked yet in this run).
    Returns the claimed ones in id order and the channels that hit their rate limit."""
    config = store.config
    budget = {ch: policy.rate_budget(conn, config, ch, now) for ch in channels}
    limited = [ch for ch, b in budget.items() if b == 0]
    open_ = [ch for ch in channels if ch not in limited]
    caps = {ch: 1 for ch in probe}
    claimed: list[Claimed] = []
    seen = 0
    now_s = iso(now)
    lease = iso(now + timedelta(seconds=LEASE_SECONDS))
    while open_ and len(claimed) < n and seen < MAX_POLICY_ROWS:
        fresh = len(claimed)
        sql = _CANDIDATES.format(channels=", ".join("?" * len(open_)))
        rows = conn.execute(sql, [now_s, *open_, n - len(claimed)]).fetchall()
        if not rows:
            break
        # counts the rows claimed in earlier rounds too: they are 'sending' by now
        recent = policy.recent_counts(conn, config, [r[1] for r in rows if r[3] != "system"], now)
        per_client: Counter = Counter()
        for (mid, cid, ch, kind, camp, expires, attempts, dup, subject, body, html, token, lang,
             cstatus, email, phone, opted_out, failures) in rows:
            seen += 1
            if ch not in open_:
                continue
            if expires is not None and expires < now_s:
                _set(conn, mid, now, "expired", "expired")
                report.expired += 1
                continue
            if cstatus is None or cstatus in NO_MESSAGES:
                _set(conn, mid, now, "cancelled", cstatus or "erased")
                report.cancelled += 1
                continue
            if opted_out and kind != "system":
                _set(conn, mid, now, "cancelled", "opt_out")
                report.cancelled += 1
                continue
            address = email if ch == "email" else phone
            if not address:
                _set(conn, mid, now, "failed", "no_address")
                report.failed += 1
                report.reasons["no_address"] += 1
                continue
            if kind != "system":
                until = policy.frequency_deferral(config, recent.get(cid), now, per_client[cid])
                if until is not None:
                    if expires is not None and iso(until) > expires:
                        _set(conn, mid, now, "expired", "frequency_cap")
                        report.expired += 1
                    else:
                        _set(conn, mid, now, "queued", "frequency_cap", due_at=iso(until))
                        report.deferred += 1
                    continue
            per_client[cid] += 1
            if failures and camp is not None:
                dirty.add(camp)
            claimed.append(Claimed(mid, cid, ch, kind, camp, attempts, bool(dup), Outgoing(
                id=mid, channel=ch, address=address, body=body, token=token, subject=subject, html=html,
                language=lang)))
            if budget[ch] is not None:
                budget[ch] -= 1
                if budget[ch] <= 0:
                    open_.remove(ch)
                    limited.append(ch)
            if ch in caps and ch in open_:
                caps[ch] -= 1
                if caps[ch] <= 0:
                    open_.remove(ch)
            if len(claimed) >= n:
                break
        # claimed rows leave the queue before the next look, so no row is claimed twice
        conn.executemany("UPDATE messages SET status = 'sending', reason = NULL, lease_owner = ?, lease_until = ?,"
                         " updated_at = ? WHERE id = ?", [(owner, lease, now_s, c.id) for c in claimed[fresh:]])
    for ch in channels:
        policy.use_rate(conn, ch, now, sum(1 for c in claimed if c.channel == ch))
    claimed.sort(key=lambda c: c.id)
    return claimed, limited


def _campaign_failed(conn, store, campaign_id: int, now: datetime, report: SendReport, dirty: set) -> None:
    dirty.add(campaign_id)
    conn.execute("UPDATE campaigns SET failures_in_a_row = failures_in_a_row + 1, updated_at = ? WHERE id = ?",
                 [iso(now), campaign_id])
    failures, status = conn.execute("SELECT failures_in_a_row, status FROM campaigns WHERE id = ?",
                                    [campaign_id]).fetchone()
    if status == "active" and failures >= store.config.policy.pause_after_failures:
        conn.execute("UPDATE campaigns SET status = 'paused', paused_at = ?, updated_at = ? WHERE id = ?",
                     [iso(now), iso(now), campaign_id])
        audit.record(conn, access.system_actor("send"), "pause", f"campaign:{campaign_id}", "failures")
        report.paused_campaigns.append(campaign_id)
        log.error("campaign %d paused after %d failures in a row", campaign_id, failures)


def _record(conn, store, owner: str, now: datetime, c: Claimed, outcome: Outcome, report: SendReport,
            dirty: set) -> None:
    """Write the outcome of one attempt (inside the caller's transaction)."""
    if outcome.kind == SENT:
        n = conn.execute(
            "UPDATE messages SET status = 'sent', reason = NULL, sent_at = ?, attempts = attempts + 1,"
            " provider_id = ?, possible_duplicate = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?"
            " WHERE id = ? AND status = 'sending' AND lease_owner = ?",
            [iso(now), outcome.provider_id, int(c.possible_duplicate), iso(now), c.id, owner]).rowcount
        if n == 0:
            _sent_without_lease(conn, owner, now, c, outcome)
        report.sent += 1
        if c.possible_duplicate:
            report.possible_duplicates += 1
        if c.campaign_id is not None and c.campaign_id in dirty:
            conn.execute("UPDATE campaigns SET failures_in_a_row = 0 WHERE id = ?", [c.campaign_id])
            dirty.discard(c.campaign_id)
        return
    if outcome.kind == UNAVAILABLE:
        extra = {}
        if outcome.retry_after:
            extra["due_at"] = iso(now + timedelta(seconds=outcome.retry_after))
        _set(conn, c.id, now, "queued", f"unavailable: {outcome.reason}", lease_owner=None, lease_until=None,
             possible_duplicate=int(c.possible_duplicate), **extra)
        report.released += 1
        return
    attempts = c.attempts + 1
    report.reasons[outcome.reason] += 1
    if outcome.kind == TEMPORARY and attempts < store.config.policy.max_attempts:
        _set(conn, c.id, now, "queued", f"retry: {outcome.reason}", attempts=attempts,
             due_at=iso(now + timedelta(seconds=backoff(attempts))), lease_owner=None, lease_until=None,
             possible_duplicate=1 if (outcome.ambiguous or c.possible_duplicate) else 0)
        report.retried += 1
    else:
        reason = outcome.reason if outcome.kind == PERMANENT else f"gave up: {outcome.reason}"
        _set(conn, c.id, now, "failed", reason, attempts=attempts, lease_owner=None, lease_until=None,
             possible_duplicate=1 if (outcome.ambiguous or c.possible_duplicate) else 0)
        report.failed += 1
    if c.campaign_id is not None:
        _campaign_failed(conn, store, c.campaign_id, now, report, dirty)


def _sent_without_lease(conn, owner: str, now: datetime, c: Claimed, outcome: Outcome) -> None:
    """We sent a message whose claim another sender took over (our lease ran out): record that it
    went out, and mark it when the other sender may send it too."""
    status, holder = conn.execute("SELECT status, lease_owner FROM messages WHERE id = ?", [c.id]).fetchone()
    common = ["sent_at = COALESCE(sent_at, ?)", "provider_id = COALESCE(provider_id, ?)", "updated_at = ?"]
    args = [iso(now), outcome.provider_id, iso(now)]
    if status in ("delivered", "failed") and holder == owner:  # a delivery report beat our commit
        conn.execute(f"UPDATE messages SET {', '.join(common)}, attempts = attempts + 1, lease_owner = NULL,"
                     " lease_until = NULL, possible_duplicate = ? WHERE id = ?", [*args, int(c.possible_duplicate), c.id])
    elif status in ("sending", "sent", "delivered"):
        conn.execute(f"UPDATE messages SET {', '.join(common)}, possible_duplicate = 1 WHERE id = ?", [*args, c.id])
    else:  # back in the queue (or cancelled meanwhile): it did go out, once
        conn.execute(f"UPDATE messages SET status = 'sent', reason = 'sent after losing the claim', {', '.join(common)},"
                     " attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, possible_duplicate = ?"
                     " WHERE id = ?", [*args, int(c.possible_duplicate), c.id])


# may the message go out now: still ours, no opt-out, no outflow, its campaign not paused. Marks it
# possible_duplicate at once (see the module docstring); one statement, as it runs per message
_MAY_GO = f"""
UPDATE messages SET possible_duplicate = 1
WHERE id = ? AND status = 'sending' AND lease_owner = ?
  AND EXISTS (SELECT 1 FROM clients c WHERE c.id = messages.client_id
                                        AND {" AND ".join(f"c.status != '{s}'" for s in NO_MESSAGES)})
  AND (kind = 'system' OR NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.client_id = messages.client_id
                                                                  AND o.channel = messages.channel))
  AND (campaign_id IS NULL OR NOT EXISTS (SELECT 1 FROM campaigns p WHERE p.id = messages.campaign_id
                                                                        AND p.status = 'paused'))
"""


def _still_ours(conn, owner: str, now: datetime, c: Claimed, report: SendReport) -> bool:
    """Check a claimed message again right before it goes out (opt-out and outflow from this
    moment) and mark it possible_duplicate; when it may not go out, find out why and act on it."""
    if conn.execute(_MAY_GO, [c.id, owner]).rowcount:
        return True
    row = conn.execute(
        "SELECT m.status, m.lease_owner, c.status,"
        " EXISTS (SELECT 1 FROM opt_outs o WHERE o.client_id = m.client_id AND o.channel = m.channel), p.status"
        " FROM messages m LEFT JOIN clients c ON c.id = m.client_id LEFT JOIN campaigns p ON p.id = m.campaign_id"
        " WHERE m.id = ?", [c.id]).fetchone()
    if row is None or row[0] != "sending" or row[1] != owner:
        return False
    if row[4] == "paused":  # paused meanwhile (by another sender)
        _release(conn, now, [c], "campaign paused", report, owner)
        return False
    if row[2] is None or row[2] in NO_MESSAGES or (row[3] and c.kind != "system"):
        _set(conn, c.id, now, "cancelled", "opt_out" if row[3] else (row[2] or "erased"),
             lease_owner=None, lease_until=None)
        report.cancelled += 1
        return False
    conn.execute("UPDATE messages SET possible_duplicate = 1 WHERE id = ?", [c.id])
    return True


def _release(conn, now: datetime, items: list[Claimed], reason: str, report: SendReport, owner: str) -> None:
    for c in items:
        conn.execute("UPDATE messages SET status = 'queued', reason = ?, lease_owner = NULL, lease_until = NULL,"
                     " possible_duplicate = ?, updated_at = ? WHERE id = ? AND status = 'sending' AND lease_owner = ?",
                     [reason, int(c.possible_duplicate), iso(now), c.id, owner])
    report.released += len(items)


class _Writer:
    """One thread with its own connection that commits the per-message steps, so a commit runs
    while the channel waits for the relay instead of in between. (A lock hand-off costs half of
    what a ThreadPoolExecutor future does; this runs once per message.)"""

    def __init__(self, store):
        from queue import SimpleQueue

        self.jobs: SimpleQueue = SimpleQueue()
        self.path = store.path
        self.started = threading.Lock()
        self.started.acquire()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="caseload-outbox", daemon=True)
        self.thread.start()
        self.started.acquire()  # the connection is open (or failed to open)
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        from .db import open_db

        try:
            db = open_db(self.path)
            db.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")
        except BaseException as e:  # handed to the caller of __init__
            self.error = e
            self.started.release()
            return
        self.started.release()
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    return
                job.run(db)
        finally:
            try:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                db.close()

    def submit(self, fn, *args) -> "_Job":
        job = _Job(fn, args)
        self.jobs.put(job)
        return job

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


class _Checkpointer:
    """Copies the WAL into the database file during a run, in its own thread and connection.
    Left to the writer, a checkpoint of 10,000 pages stopped it for 130 to 170 ms (mostly the
    fsync of the WAL), and the relay waited with it. Once a checkpoint here has caught up with a
    long WAL, the writer checkpoints the few pages written since: only a writer can start the
    WAL file from the beginning, and it does so in its next transaction."""

    def __init__(self, path, writer: _Writer):
        self.writer = writer
        self.asked: _Job | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._work, args=(path,), name="caseload-checkpoint", daemon=True)
        self.thread.start()

    def _work(self, path) -> None:
        from .db import open_db

        try:
            db = open_db(path)
        except Exception:  # the writer's own checkpoints still bound the WAL
            log.warning("no checkpoints in the background during this send run")
            return
        try:
            while not self.stopping.wait(CHECKPOINT_EVERY):
                busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if not busy and frames >= RESTART_FRAMES and copied > 0 and (
                        self.asked is None or self.asked.finished()):
                    self.asked = self.writer.submit(_checkpoint)
        finally:
            db.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()


def _checkpoint(db) -> None:
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")


class _Job:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args
        self.value = self.error = None
        self.done = threading.Lock()
        self.done.acquire()

    def run(self, db) -> None:
        try:
            self.value = self.fn(db, *self.args)
        except BaseException as e:  # re-raised where the result is asked for
            self.error = e
        finally:
            self.done.release()

    def finished(self) -> bool:
        return not self.done.locked()

    def result(self):
        if self.done.acquire():
            self.done.release()
        if self.error is not None:
            raise self.error
        return self.value


class _Stopper:
    def __init__(self, stop):
        self.stop = stop

    def __call__(self) -> bool:
        if self.stop is None:
            return False
        if hasattr(self.stop, "is_set"):
            return self.stop.is_set()
        return bool(self.stop())


class _Run:
    """One send run: its sender id, open channels, what it found."""

    def __init__(self, store, now, stop, batch, channels):
        self.store = store
        self.config = store.config
        self.fixed = now
        self.stopped = _Stopper(stop)
        self.batch = batch
        self.owner = f"{sender_id()}:{token_hex(3)}"
        self.opened = dict(channels or {})
        self.down: dict[str, str] = {}
        self.dirty: set = set()
        self.report = SendReport()
        self.quiet = policy.quiet_hours(self.config)
        self.proven: set[str] = set()  # channels that took a message in this run
        self.prefetched: list[_Job] = []  # the next batch's claim, in pieces, while a batch ends
        self.tail: _Job | None = None  # the step recording a batch's last outcome, not waited for
        self.limit = None

    def clock(self) -> datetime:
        return self.fixed if self.fixed is not None else datetime.now(timezone.utc)

    def quiet_until(self, now: datetime) -> datetime | None:
        return self.quiet.until(now, self.config.tz) if self.quiet else None

    def channel(self, name: str):
        if name not in self.opened:
            self.opened[name] = open_channel(self.config, name)
        return self.opened[name]

    def connect(self, usable: list[str]) -> None:
        """Open each channel that has due messages before claiming any for it: a channel that is
        down then costs no claims (and no events) at all."""
        for ch in usable:
            if ch in self.proven:
                continue
            due = self.store.db.execute("SELECT 1 FROM messages WHERE status = 'queued' AND due_at <= ? AND channel = ?"
                                        " LIMIT 1", [iso(self.clock()), ch]).fetchone()
            if due is None:
                continue
            down = self.channel(ch).connect()
            if down is not None:
                self.down[ch] = down.reason
                log.error("%s unavailable: %s", ch, down.reason)

    def run(self, limit: int | None) -> SendReport:
        self.limit = limit
        report = self.report
        conn = self.store.db.conn
        # a commit per message: the WAL is check-pointed in the background (_Checkpointer)
        autocheckpoint = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint = {max(autocheckpoint, WAL_PAGES)}")
        self.writer = _Writer(self.store)
        self.checkpointer: _Checkpointer | None = None  # started with the first batch
        with _ACTIVE_LOCK:
            _ACTIVE.add(self.owner)
        try:
            return self._run(limit)
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(self.owner)
            if self.checkpointer is not None:
                self.checkpointer.close()
            self.writer.close()
            conn.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _run(self, limit: int | None) -> SendReport:
        report = self.report
        report.reclaimed += reclaim(self.store, self.clock())[0]
        report.expired += expire_due(self.store, self.clock())
        last_reclaim = time.monotonic()
        try:
            while not self.stopped():
                if limit is not None and self.tail is not None:
                    self.tail.result()  # the report counts the batch's last message
                remaining = None if limit is None else limit - report.attempted
                if remaining is not None and remaining <= 0:
                    break
                until = self.quiet_until(self.clock())
                if until is not None:
                    report.quiet_until = iso(until)
                    break
                jobs, self.prefetched = self.prefetched, []
                if not jobs:
                    self.connect([ch for ch in CHANNELS if ch not in self.down])
                    usable = [ch for ch in CHANNELS if ch not in self.down]
                    if not usable:
                        break
                    jobs = [self.writer.submit(self.claim, min(self.batch, remaining or self.batch), usable)]
                claimed, limited = _joined(jobs)
                if not claimed:
                    report.rate_limited = sorted(set(limited))
                    break
                self.send_batch(claimed)
                if time.monotonic() - last_reclaim > RECLAIM_EVERY:
                    report.reclaimed += reclaim(self.store, self.clock())[0]
                    last_reclaim = time.monotonic()
            if self.tail is not None:
                self.tail.result()
        finally:
            if self.prefetched:  # claimed for a batch that will not be sent now
                claimed, _ = _joined(self.prefetched)
                self.prefetched = []
                self.writer.submit(self.step, None, None, claimed, "stopped").result()
            for ch in self.opened.values():
                try:
                    ch.close()
                except Exception:  # closing must not hide what happened
                    log.warning("closing a channel failed")
        report.unavailable.update(self.down)
        return report

    def claim(self, db, n: int, usable: list[str]) -> tuple[list[Claimed], list[str]]:
        """One claim transaction (in the writer thread)."""
        with write_transaction(db) as conn:
            out = _claim(conn, self.store, self.owner, self.clock(), n, usable, self.report, self.dirty,
                         probe={ch for ch in usable if ch not in self.proven})
            COUNTED_COMMITS["n"] += 1
        return out

    def step(self, db, pending, c: Claimed | None, release: list, reason: str | None) -> bool:
        """One transaction (in the writer thread): record the previous outcome, then release
        messages or check that `c` may still go out. True when it may."""
        now = self.clock()
        with write_transaction(db) as conn:
            if pending is not None:
                _record(conn, self.store, self.owner, now, *pending, self.report, self.dirty)
            if c is not None and not release and c.campaign_id in self.report.paused_campaigns:
                release, reason = [c], "campaign paused"
            ok = False
            if release:
                _release(conn, now, release, reason, self.report, self.owner)
            elif c is not None:
                ok = _still_ours(conn, self.owner, now, c, self.report)
            if time.monotonic() - self.renewed > LEASE_SECONDS / 3:
                conn.execute("UPDATE messages SET lease_until = ? WHERE status = 'sending' AND lease_owner = ?",
                             [iso(now + timedelta(seconds=LEASE_SECONDS)), self.owner])
                self.renewed = time.monotonic()
            COUNTED_COMMITS["n"] += 1
        return ok

    def send_batch(self, claimed: list[Claimed]) -> None:
        """Send in id order. The transaction that records message N's outcome and checks message
        N+1 must commit before N+1 can be accepted. It starts in the writer thread the moment N's
        outcome is known, and the channel waits for it only at its point of no return, so the
        commit runs while the relay works on N+1's first commands."""
        if self.checkpointer is None:  # a run that finds nothing to send opens no third connection
            self.checkpointer = _Checkpointer(self.store.path, self.writer)
        pending: tuple[Claimed, Outcome] | None = None
        started = None  # the step already running for the message about to go out
        before = self.tail  # the previous batch's last step
        self.renewed = time.monotonic()
        step = self.writer.submit
        quiet_from = self.quiet.next_start(self.clock(), self.config.tz) if self.quiet else None

        def blocked(c: Claimed, now: datetime) -> tuple[list, str] | None:
            if self.stopped() or (quiet_from is not None and now >= quiet_from):
                return claimed[claimed.index(c):], "stopped" if self.stopped() else "quiet_hours"
            if c.channel in self.down:
                return [c], f"unavailable: {self.down[c.channel]}"
            return None

        for i, c in enumerate(claimed):
            if started is not None and self.stopped():  # its step ran already: give the rest back
                started.result()
                step(self.step, None, None, claimed[i:], "stopped").result()
                return
            if started is None:
                stop = blocked(c, self.clock())
                if stop is not None:
                    step(self.step, pending, None, *stop).result()
                    pending = None
                    if stop[1] in ("stopped", "quiet_hours"):
                        return
                    continue
                started = step(self.step, pending, c, [], None)
            ready = _Once(lambda job=started, before=before: _after(before, job))
            before = None
            upcoming = claimed[i + 1] if i + 1 < len(claimed) else None
            if 1 < len(claimed) - i <= PREFETCH_PIECES + 1 and c.channel in self.proven:
                self.prefetch()
            outcome = self.channel(c.channel).send(c.outgoing, ready, upcoming.outgoing if upcoming else None)
            pending, started = None, None
            if not ready()() or outcome is None:  # no longer ours: nothing went out
                continue
            if outcome.kind == UNAVAILABLE:
                self.down[c.channel] = outcome.reason
                log.error("%s unavailable: %s", c.channel, outcome.reason)
            else:
                self.proven.add(c.channel)
            pending = (c, outcome)
            if upcoming is not None and blocked(upcoming, self.clock()) is None:
                started = step(self.step, pending, upcoming, [], None)  # record N, check N+1: now
                pending = None
        if pending is not None:  # waited for by the next batch's first message, or at the end
            self.tail = step(self.step, pending, None, [], None)

    def prefetch(self) -> None:
        """Claim a piece of the next batch in the writer thread, between two messages' steps: a
        whole batch at once (about 2 ms) would hold up the steps the relay is waiting for, and a
        piece of 17 takes about as long as one message to a local relay."""
        if self.limit is not None or self.stopped():
            return
        piece = -(-self.batch // PREFETCH_PIECES)
        last = self.prefetched[-1] if self.prefetched else None
        if last is not None and last.finished() and (last.error is not None or len(last.value[0]) < piece):
            return  # the queue has run dry (or the claim failed: that is raised when it is joined)
        usable = [ch for ch in CHANNELS if ch not in self.down]
        if usable:
            self.prefetched.append(self.writer.submit(self.claim, piece, usable))


def _joined(jobs: list["_Job"]) -> tuple[list[Claimed], list[str]]:
    """The claims of several claim jobs as one: messages in id order, rate-limited channels."""
    claimed, limited = [], set()
    for job in jobs:
        more, hit = job.result()
        claimed += more
        limited.update(hit)
    claimed.sort(key=lambda c: c.id)
    return claimed, sorted(limited)


def _after(before: "_Job | None", job: "_Job"):
    """job.result, but first raise if the step before it (recording a batch's last outcome)
    failed: the writer runs jobs in order, so it has finished by then."""
    if before is None:
        return job.result

    def result():
        before.result()
        return job.result()
    return result


class _Once:
    """Runs a function the first time it is called; later calls return that first result."""

    def __init__(self, fn):
        self.fn = fn
        self.called = False
        self.result = None

    def __call__(self):
        if not self.called:
            self.called = True
            self.result = self.fn()
        return self.result


def send_due(store, limit: int | None = None, now: datetime | None = None, stop=None,
             batch: int = BATCH, channels: dict | None = None) -> SendReport:
    """Send what is due now and return what happened. Safe in several processes at once and
    alongside the daemon. `stop` (a threading.Event or a callable) ends the run after the
    message in flight; the rest of the claim goes back to the queue. `now` fixes the clock
    (tests); `channels` maps "email"/"sms" to channel objects (tests, bench)."""
    return _Run(store, now, stop, batch, channels).run(limit)


def due_summary(store, now: datetime | None = None) -> dict:
    """What a send run would find now, without changing anything (`caseload send --dry-run`)."""
    now = clock.now(now)
    rows = store.db.execute(
        "SELECT m.channel, COUNT(*) FROM messages m LEFT JOIN campaigns p ON p.id = m.campaign_id"
        " WHERE m.status = 'queued' AND m.due_at <= ? AND (p.status IS NULL OR p.status = 'active')"
        " GROUP BY m.channel", [iso(now)]).fetchall()
    due = dict(rows)
    later = store.db.execute("SELECT COUNT(*) FROM messages WHERE status = 'queued' AND due_at > ?",
                             [iso(now)]).fetchone()[0]
    paused = store.db.execute("SELECT COUNT(*) FROM messages m JOIN campaigns p ON p.id = m.campaign_id"
                              " WHERE m.status = 'queued' AND p.status = 'paused'").fetchone()[0]
    sending = store.db.execute("SELECT COUNT(*) FROM messages WHERE status = 'sending'").fetchone()[0]
    until = policy.quiet_until(store.config, now)
    out = {"due_email": due.get("email", 0), "due_sms": due.get("sms", 0), "queued_later": later,
           "paused": paused, "sending_now": sending, "quiet_until": iso(until) if until else None}
    for ch in CHANNELS:
        budget = policy.rate_budget(store.db.conn, store.config, ch, now)
        out[f"rate_budget_{ch}"] = "unlimited" if budget is None else budget
    return out


# --- webhooks and replies (called by the daemon) --------------------------------------------

DELIVERY = ("delivered", "failed")


def record_delivery(store, status: str, message_id: int | None = None, provider_id: str | None = None,
                    reason: str | None = None, now: datetime | None = None) -> bool:
    """A provider's delivery report: sent -> delivered | failed, found by our message id (the
    reference we gave) or the provider's id. Idempotent; False when nothing matched or changed.
    `reason` must be a code, not the provider's text."""
    if status not in DELIVERY:
        raise BadInput(t("outbox.bad_delivery_status", status=status, allowed=", ".join(DELIVERY)))
    if message_id is None and not provider_id:
        raise BadInput(t("outbox.delivery_needs_id"))
    now = clock.now(now)
    where, arg = ("id = ?", message_id) if message_id is not None else ("provider_id = ?", provider_id)
    with write_transaction(store.db) as conn:
        row = conn.execute(f"SELECT id, status FROM messages WHERE {where}", [arg]).fetchone()
        if row is None or row[1] not in ("sending", "sent"):
            return False
        extra = {"delivered_at": iso(now)} if status == "delivered" else {}
        _set(conn, row[0], now, status, reason if status == "failed" else None, **extra)
    return True


def find_by_token(store, token: str) -> dict | None:
    """The message a reply or a link refers to."""
    row = store.db.execute("SELECT id, client_id, channel, kind, campaign_id, status, sent_at FROM messages"
                           " WHERE token = ?", [token]).fetchone()
    if row is None:
        return None
    return dict(zip(("id", "client_id", "channel", "kind", "campaign_id", "status", "sent_at"), row))


@dataclass(frozen=True)
class Queued:
    id: int
    token: str


def enqueue(store, client_id: int, channel: str, body: str, *, subject: str | None = None, html: str | None = None,
            kind: str = "checkin", due_at: datetime | None = None, expires_at: datetime | None = None,
            campaign_id: int | None = None, occurrence: str = "", language: str | None = None,
            template: str | None = None, conn=None, now: datetime | None = None) -> Queued | None:
    """Put one message in the outbox; None when (campaign, client, occurrence) is queued already.
    Pass `conn` to queue inside the caller's transaction. System messages (e.g. the confirmation
    of a STOP) skip the opt-out and the frequency cap, never the quiet hours."""
    if channel not in CHANNELS:
        raise BadInput(t("outbox.bad_channel", channel=channel, allowed=", ".join(CHANNELS)))
    if kind not in KINDS:
        raise BadInput(t("outbox.bad_kind", kind=kind, allowed=", ".join(KINDS)))
    if channel == "email" and not subject:
        raise BadInput(t("template.needs_subject"))
    now = clock.now(now)
    due = due_at or now
    hours = store.config.policy.expire_after_hours
    expires = expires_at or (due + timedelta(hours=hours) if hours > 0 else None)
    token = token_hex(12)
    row = [campaign_id, occurrence, client_id, kind, channel, language, template, subject, body, html, token,
           iso(due), iso(expires) if expires else None, iso(now), iso(now)]
    sql = ("INSERT OR IGNORE INTO messages (campaign_id, occurrence, client_id, kind, channel, language, template,"
           " subject, body, html, token, due_at, expires_at, created_at, updated_at)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    if conn is not None:
        cur = conn.execute(sql, row)
    else:
        with write_transaction(store.db) as c:
            cur = c.execute(sql, row)
    return Queued(cur.lastrowid, token) if cur.rowcount else None


# --- campaigns and queueing -----------------------------------------------------------------

@dataclass(frozen=True)
class Planned:
    client_id: int
    client_number: str
    name: str
    channel: str
    language: str
    subject: str | None
    body: str
    html: str | None


@dataclass
class QueuePlan:
    campaign: str
    campaign_id: int | None
    template: str
    segment: str
    channel: str
    due_at: datetime
    expires_at: datetime | None
    messages: list[Planned]
    skipped: Counter
    in_segment: int
    failed: list[tuple[int, str, str, str]] = field(default_factory=list)  # (client, channel, language, why)

    @property
    def count(self) -> int:
        return len(self.messages)

    def sample(self, n: int = 5) -> list[Planned]:
        if len(self.messages) <= n:
            return list(self.messages)
        rng = random.Random(len(self.messages))
        return sorted(rng.sample(self.messages, n), key=lambda p: p.client_number)

    def by_channel(self) -> dict[str, int]:
        return dict(Counter(p.channel for p in self.messages))

    def reach(self) -> Reach:
        out = Reach()
        for p in self.messages:
            out.add(p.client_id, p.channel, self.due_at)
        return out


def parse_at(store, text: str | None, now: datetime | None = None) -> datetime:
    """--at: "2025-03-01 09:30", "2025-03-01T09:30", "01-03-2025 09:30" in the organisation's
    timezone, an ISO time with an offset, or a date alone (09:00 that day). Not in the past."""
    now = clock.now(now)
    if not text:
        return now
    raw = text.strip()
    moment = None
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d-%m-%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            moment = datetime.strptime(raw, fmt).replace(tzinfo=store.tz)
            break
        except ValueError:
            pass
    if moment is None:
        for fmt in ("%Y-%m-%d", "%d-%m-%Y"):
            try:
                moment = datetime.strptime(raw, fmt).replace(hour=9, tzinfo=store.tz)
                break
            except ValueError:
                pass
    if moment is None:
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=store.tz)
        except ValueError:
            raise BadInput(t("queue.bad_at", value=text)) from None
    if moment < now - timedelta(minutes=5):
        raise BadInput(t("queue.at_in_past", value=text))
    return moment.astimezone(timezone.utc)


def _channel_order(channel: str, preferred: str | None) -> list[str]:
    if channel != "auto":
        return [channel]
    if preferred == "email":
        return ["email", "sms"]
    return ["sms", "email"]


def plan_queue(store, actor, segment: str, template: str, channel: str = "auto", at: str | None = None,
               campaign: str | None = None, now: datetime | None = None, keep_failed: bool = False) -> QueuePlan:
    """Who would get what: every client in the segment that the actor may see, on their channel
    (auto: the preferred one, else the other), rendered in their language. Writes nothing.
    A client whose message cannot be rendered stops the plan with BadInput, or with
    `keep_failed` (the daemon) goes into `failed` with the reason."""
    from . import segments, templates

    access.require(actor, "coach", "teamlead", "admin")
    if channel not in ("auto", *CHANNELS):
        raise BadInput(t("outbox.bad_channel", channel=channel, allowed="auto, sms, email"))
    now = clock.now(now)
    found = templates.variants(store, template)
    due = parse_at(store, at, now)
    hours = store.config.policy.expire_after_hours
    expires = due + timedelta(hours=hours) if hours > 0 else None
    name = (campaign or f"{template} {due.astimezone(store.tz).date().isoformat()}").strip()
    if not name or len(name) > 120:
        raise BadInput(t("queue.bad_campaign", max=120))
    existing = store.db.execute("SELECT id, template, owner FROM campaigns WHERE name = ?", [name]).fetchone()
    if existing and not campaign and not owners.may_change(store.db, actor, existing[2]):
        name = f"{name} {actor.name}"[:120]  # today's default name is someone else's campaign
        existing = store.db.execute("SELECT id, template, owner FROM campaigns WHERE name = ?", [name]).fetchone()
    if existing:
        owners.require(store.db, actor, existing[2], t("owners.campaign", name=name))
    if existing and existing[1] != template:
        raise BadInput(t("queue.campaign_other_template", campaign=name, template=existing[1]))
    already = set()
    if existing:
        already = {r[0] for r in store.db.execute(
            "SELECT client_id FROM messages WHERE campaign_id = ? AND occurrence = ''", [existing[0]])}
    where, params = segments.resolve_where(store, segment)
    scope, scope_params = access.client_scope(actor, "clients")
    renderer = templates.Renderer(store)
    names: set[str] = set()
    for v in found:
        names |= templates.names_used(store, v)
    cols = templates.profile_columns(store, names)
    fields = ("id", "client_number", "first_name", "last_name", "email", "phone", "language", "preferred_channel",
              "coach", "intake_date", "birth_date", "status", "outflow_type", "outflow_date")
    select = ", ".join([*(f"clients.{f}" for f in fields), *(f"profile.{templates.quote_column(c.column)}" for c in cols)])
    rows = store.db.execute(
        f"SELECT {select} FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
        f" WHERE ({scope}) AND ({where}) ORDER BY clients.id", [*scope_params, *params]).fetchall()
    opted: dict[int, set] = {}
    for cid, ch in store.db.execute("SELECT client_id, channel FROM opt_outs"):
        opted.setdefault(cid, set()).add(ch)
    fallback = store.config.message_language
    planned, skipped, failed = [], Counter(), []
    for r in rows:
        client = dict(zip(fields, r))
        profile = dict(zip([c.column for c in cols], r[len(fields):]))
        if client["id"] in already:
            skipped["already_queued"] += 1
            continue
        if client["status"] in NO_MESSAGES:
            skipped["outflow"] += 1
            continue
        why, chosen = "no_channel", None
        for ch in _channel_order(channel, client["preferred_channel"]):
            if not client["email" if ch == "email" else "phone"]:
                why = "no_address"
                continue
            if ch in opted.get(client["id"], ()):
                why = "opted_out"
                continue
            variant = templates.pick(found, ch, client["language"], fallback)
            if variant is None:
                why = "no_template"
                continue
            chosen = (ch, variant)
            break
        if chosen is None:
            skipped[why] += 1
            continue
        ch, variant = chosen
        try:
            rendered = renderer.render(variant, templates.context(store, client, profile, names, variant.language))
        except BadInput as e:
            if not keep_failed:
                raise BadInput(t("queue.render_failed", number=client["client_number"], error=e.message)) from None
            failed.append((client["id"], ch, variant.language, e.message))
            continue
        full = " ".join(x for x in (client["first_name"], client["last_name"]) if x)
        planned.append(Planned(client["id"], client["client_number"], full, ch, variant.language,
                               rendered.subject, rendered.body, rendered.html))
    return QueuePlan(name, existing[0] if existing else None, template, segment, channel, due, expires,
                     planned, skipped, len(rows), failed)


def commit_queue(store, actor, plan: QueuePlan, now: datetime | None = None) -> dict:
    """Queue the plan in one transaction, audited as one "queue" entry on the campaign. Idempotent
    per (campaign, client): a client already in the campaign is never queued twice."""
    access.require(actor, "coach", "teamlead", "admin")
    now = clock.now(now)
    with write_transaction(store.db) as conn:
        row = conn.execute("SELECT id, template, owner FROM campaigns WHERE name = ?", [plan.campaign]).fetchone()
        if row and row[1] != plan.template:
            raise BadInput(t("queue.campaign_other_template", campaign=plan.campaign, template=row[1]))
        if row:
            owners.require(conn, actor, row[2], t("owners.campaign", name=plan.campaign))
            cid = row[0]
        else:
            cid = conn.execute(
                "INSERT INTO campaigns (name, template, segment, channel, owner, author, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [plan.campaign, plan.template, plan.segment, plan.channel, actor.name, actor.name, iso(now),
                 iso(now)]).lastrowid
        before = conn.execute("SELECT COUNT(*) FROM messages WHERE campaign_id = ?", [cid]).fetchone()[0]
        due, expires = iso(plan.due_at), iso(plan.expires_at) if plan.expires_at else None
        conn.executemany(
            "INSERT OR IGNORE INTO messages (campaign_id, client_id, kind, channel, language, template, subject, body,"
            " html, token, due_at, expires_at, created_at, updated_at)"
            " VALUES (?, ?, 'campaign', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(cid, p.client_id, p.channel, p.language, plan.template, p.subject, p.body, p.html, token_hex(12),
              due, expires, iso(now), iso(now)) for p in plan.messages])
        after = conn.execute("SELECT COUNT(*) FROM messages WHERE campaign_id = ?", [cid]).fetchone()[0]
        audit.record(conn, actor, "queue", f"campaign:{cid}")
    return {"campaign_id": cid, "campaign": plan.campaign, "queued": after - before,
            "already": len(plan.messages) - (after - before) + plan.skipped.get("already_queued", 0)}


# --- looking and changing by hand -----------------------------------------------------------

LIST_COLUMNS = ("id", "campaign", "client_number", "channel", "status", "due_at", "attempts", "possible_duplicate",
                "reason", "updated_at")


def _campaign_id(store, name_or_id: str, actor=None) -> int:
    """The campaign's id; with `actor`, only when they may change it (its owner, their team lead
    or an admin)."""
    row = store.db.execute("SELECT id, name, owner FROM campaigns WHERE name = ? OR CAST(id AS TEXT) = ?",
                           [name_or_id, name_or_id]).fetchone()
    if row is None:
        raise NotFound(t("outbox.no_campaign", campaign=name_or_id))
    if actor is not None:
        owners.require(store.db, actor, row[2], t("owners.campaign", name=row[1]))
    return row[0]



def list_messages(store, actor, status: str | None = None, campaign: str | None = None,
                  limit: int | None = 100) -> list[dict]:
    """Messages to clients the actor may see, newest first. No bodies (they stay in the database)."""
    access.require(actor, "coach", "teamlead", "admin")
    scope, args = access.client_scope(actor, "clients")
    sql = ("SELECT m.id, p.name, clients.client_number, m.channel, m.status, m.due_at, m.attempts,"
           " m.possible_duplicate, m.reason, m.updated_at FROM messages m JOIN clients ON clients.id = m.client_id"
           f" LEFT JOIN campaigns p ON p.id = m.campaign_id WHERE ({scope})")
    if status:
        if status not in STATES:
            raise BadInput(t("outbox.bad_status", status=status, allowed=", ".join(STATES)))
        sql += " AND m.status = ?"
        args.append(status)
    if campaign:
        sql += " AND m.campaign_id = ?"
        args.append(_campaign_id(store, campaign))
    sql += " ORDER BY m.id DESC"
    if limit:
        sql += " LIMIT ?"
        args.append(limit)
    return [{**dict(zip(LIST_COLUMNS, r)), "possible_duplicate": bool(r[7])} for r in store.db.execute(sql, args)]


def summary(store, actor) -> list[dict]:
    """Per campaign: its state and how many messages are in each state (actor's clients only)."""
    access.require(actor, "coach", "teamlead", "admin")
    scope, args = access.client_scope(actor, "clients")
    rows = store.db.execute(
        "SELECT COALESCE(p.name, '(' || m.kind || ')'), p.status, m.status, COUNT(*), SUM(m.possible_duplicate)"
        " FROM messages m JOIN clients ON clients.id = m.client_id LEFT JOIN campaigns p ON p.id = m.campaign_id"
        f" WHERE ({scope}) GROUP BY 1, 2, 3 ORDER BY 1", args).fetchall()
    out: dict[str, dict] = {}
    for name, cstatus, mstatus, n, dups in rows:
        entry = out.setdefault(name, {"campaign": name, "campaign_status": cstatus or "", **{s: 0 for s in STATES},
                                      "possible_duplicate": 0})
        entry[mstatus] = n
        entry["possible_duplicate"] += dups or 0
    return list(out.values())


def events(store, actor, message_id: int) -> list[dict]:
    access.require(actor, "coach", "teamlead", "admin")
    scope, args = access.client_scope(actor, "clients")
    row = store.db.execute(f"SELECT m.client_id FROM messages m JOIN clients ON clients.id = m.client_id"
                           f" WHERE m.id = ? AND ({scope})", [message_id, *args]).fetchone()
    if row is None:
        raise NotFound(t("outbox.no_message", id=message_id))
    return [dict(zip(("at", "status", "reason", "attempts"), r)) for r in store.db.execute(
        "SELECT at, status, reason, attempts FROM message_events WHERE message_id = ? ORDER BY id", [message_id])]


def _select(conn, actor, ids: list[int] | None, campaign_id: int | None, states: tuple) -> list[tuple]:
    """(id, client id, channel) of the chosen messages in `states`, of clients the actor may see."""
    scope, args = access.client_scope(actor, "clients")
    sql = ("SELECT m.id, m.client_id, m.channel FROM messages m JOIN clients ON clients.id = m.client_id"
           f" WHERE ({scope})"
           f" AND m.status IN ({', '.join('?' * len(states))})")
    args += list(states)
    if ids:
        sql += f" AND m.id IN ({', '.join('?' * len(ids))})"
        args += list(ids)
    if campaign_id is not None:
        sql += " AND m.campaign_id = ?"
        args.append(campaign_id)
    return conn.execute(sql, args).fetchall()


def _select_ids(conn, actor, ids: list[int] | None, campaign_id: int | None, states: tuple) -> list[int]:
    return [r[0] for r in _select(conn, actor, ids, campaign_id, states)]


RETRIED = ("failed", "expired", "cancelled")


def plan_retry(store, actor, ids: list[int] | None = None, campaign: str | None = None,
               now: datetime | None = None) -> Reach:
    """Whom `retry` reaches: the messages it queues again (due now) and, with a paused campaign,
    the queued ones that waited for it. Writes nothing."""
    access.require(actor, "coach", "teamlead", "admin")
    if not ids and not campaign:
        raise BadInput(t("outbox.needs_ids_or_campaign"))
    now = clock.now(now)
    camp = _campaign_id(store, campaign, actor) if campaign else None
    out = Reach()
    for _, client_id, channel in _select(store.db, actor, ids, camp, RETRIED):
        out.add(client_id, channel, now)
    paused = camp is not None and store.db.execute("SELECT status FROM campaigns WHERE id = ?", [camp]).fetchone()[0]
    if paused == "paused":
        for client_id, channel, due in store.db.execute(
                "SELECT client_id, channel, due_at FROM messages WHERE campaign_id = ? AND status = 'queued'", [camp]):
            out.add(client_id, channel, max(now, parse_iso(due)))
    return out


def cancel(store, actor, ids: list[int] | None = None, campaign: str | None = None,
           now: datetime | None = None) -> int:
    """Cancel queued messages (by id, of clients the actor may see; or a whole campaign, by who may
    change it). A message being sent cannot be stopped."""
    access.require(actor, "coach", "teamlead", "admin")
    if not ids and not campaign:
        raise BadInput(t("outbox.needs_ids_or_campaign"))
    now = clock.now(now)
    camp = _campaign_id(store, campaign, actor) if campaign else None
    with write_transaction(store.db) as conn:
        chosen = _select_ids(conn, actor, ids, camp, ("queued",))
        for mid in chosen:
            _set(conn, mid, now, "cancelled", f"by {actor.name}")
        if camp is not None:
            audit.record(conn, actor, "cancel", f"campaign:{camp}")
        else:
            for mid in chosen:
                audit.record(conn, actor, "cancel", f"message:{mid}")
    return len(chosen)


def retry(store, actor, ids: list[int] | None = None, campaign: str | None = None,
          now: datetime | None = None) -> int:
    """Queue failed, expired or cancelled messages again (due now, attempts from zero); with a
    campaign, also resume it when it paused itself. Policies apply again when they are sent. By
    id: messages to clients the actor may see (a paused campaign's stay held); by campaign: only
    who may change that campaign, as `campaign resume`."""
    access.require(actor, "coach", "teamlead", "admin")
    if not ids and not campaign:
        raise BadInput(t("outbox.needs_ids_or_campaign"))
    now = clock.now(now)
    camp = _campaign_id(store, campaign, actor) if campaign else None
    hours = store.config.policy.expire_after_hours
    expires = iso(now + timedelta(hours=hours)) if hours > 0 else None
    with write_transaction(store.db) as conn:
        chosen = _select_ids(conn, actor, ids, camp, RETRIED)
        for mid in chosen:
            _set(conn, mid, now, "queued", f"retry by {actor.name}", attempts=0, due_at=iso(now), expires_at=expires)
        if camp is not None:
            conn.execute("UPDATE campaigns SET status = 'active', failures_in_a_row = 0, paused_at = NULL,"
                         " updated_at = ? WHERE id = ?", [iso(now), camp])
            audit.record(conn, actor, "retry", f"campaign:{camp}")
        else:
            for mid in chosen:
                audit.record(conn, actor, "retry", f"message:{mid}")
    return len(chosen)
