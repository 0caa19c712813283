"""The send run (`send_due`, run by `caseload send` from cron and by the daemon every minute).

1. In one BEGIN IMMEDIATE transaction it claims a batch of due messages that pass the policies
   (quiet hours, opt-out, outflow, frequency cap, rate limit): see claims.
2. It sends them one at a time, personal messages first and then by id (`Claimed.order`), over
   one connection per channel. After each send one transaction records the outcome and checks
   the next message again (still ours, no opt-out, no outflow), so the state of message N is
   committed before N+1's text is handed to the channel. That transaction runs in a writer thread while the relay answers N+1's first
   commands (threads.Writer). It also marks N+1 `possible_duplicate` until N+1's outcome is
   recorded, so the one message a sender can have in flight is always marked. The next batch is
   claimed in pieces over a batch's last messages, and the WAL is check-pointed in a background
   thread (threads.Checkpointer).
3. Claims of senders that died are taken up at the start and every RECLAIM_EVERY seconds.

`SendRun` is public in this module as a seam for tests (its `claim` and `step` run in the
writer thread); everything else uses `send_due`.
"""

import logging
import time
from datetime import datetime, timedelta
from secrets import token_hex

from .. import clock, policy
from ..channels import UNAVAILABLE, Outcome, open_channel
from ..clock import iso
from ..db import write_transaction
from . import claims, threads
from .claims import LEASE_SECONDS, Claimed, SendReport
from .queue import CHANNELS
from .threads import Checkpointer, Job, Once, Writer, after

log = logging.getLogger("caseload.outbox")

BATCH = 50
PREFETCH_PIECES = 3  # the next batch is claimed in this many pieces, one per message near a batch's end
RECLAIM_EVERY = 10.0  # seconds between looks for claims of dead senders during a run


class _Stopper:
    def __init__(self, stop):
        self.stop = stop

    def __call__(self) -> bool:
        if self.stop is None:
            return False
        if hasattr(self.stop, "is_set"):
            return self.stop.is_set()
        return bool(self.stop())


class SendRun:
    """One send run: its sender id, open channels, what it found."""

    def __init__(self, store, now, stop, batch, channels, settle=None):
        self.store = store
        self.settle = settle
        self.config = store.config
        self.fixed = now
        self.stopped = _Stopper(stop)
        self.batch = batch
        self.owner = f"{claims.sender_id()}:{token_hex(3)}"
        self.opened = dict(channels or {})
        self.down: dict[str, str] = {}
        self.dirty: set = set()
        self.report = SendReport()
        self.quiet = policy.quiet_hours(self.config)
        self.proven: set[str] = set()  # channels that took a message in this run
        self.prefetched: list[Job] = []  # the next batch's claim, in pieces, while a batch ends
        self.tail: Job | None = None  # the step recording a batch's last outcome, not waited for
        self.limit = None

    def clock(self) -> datetime:
        return clock.now(self.fixed)

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
            due = self.store.db.execute(f"SELECT 1 FROM messages WHERE {claims.DUE} AND channel = ? LIMIT 1",
                                        [iso(self.clock()), ch]).fetchone()
            if due is None:
                continue
            down = self.channel(ch).connect()
            if down is not None:
                self.down[ch] = down.reason
                log.error("%s unavailable: %s", ch, down.reason)

    def run(self, limit: int | None) -> SendReport:
        self.limit = limit
        conn = self.store.db.conn
        # a commit per message: the WAL is check-pointed in the background (Checkpointer)
        autocheckpoint = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint = {max(autocheckpoint, threads.WAL_PAGES)}")
        self.writer = Writer(self.store)
        self.checkpointer: Checkpointer | None = None  # started with the first batch
        try:
            with claims.active(self.owner):
                return self._run(limit)
        finally:
            if self.checkpointer is not None:
                self.checkpointer.close()
            self.writer.close()
            conn.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _run(self, limit: int | None) -> SendReport:
        report = self.report
        report.reclaimed += claims.reclaim(self.store, self.clock())[0]
        report.expired += claims.expire_due(self.store, self.clock())
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
                if not claimed and self.settle is not None and self.tail is not None:
                    self.tail.result()  # the last outcome may make a message to settle: claim once more
                    self.tail = None
                    continue
                if not claimed:
                    report.rate_limited = sorted(set(limited))
                    break
                self.send_batch(claimed)
                if time.monotonic() - last_reclaim > RECLAIM_EVERY:
                    report.reclaimed += claims.reclaim(self.store, self.clock())[0]
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
            if self.settle is not None:
                self.settle(conn, self.store, self.clock())
            out = claims.claim(conn, self.store, self.owner, self.clock(), n, usable, self.report, self.dirty,
                         probe={ch for ch in usable if ch not in self.proven})
        return out

    def step(self, db, pending, c: Claimed | None, release: list, reason: str | None) -> bool:
        """One transaction (in the writer thread): record the previous outcome, then release
        messages or check that `c` may still go out. True when it may."""
        now = self.clock()
        with write_transaction(db) as conn:
            if pending is not None:
                claims.record(conn, self.store, self.owner, now, *pending, self.report, self.dirty)
            if c is not None and not release and c.campaign_id in self.report.paused_campaigns:
                release, reason = [c], "campaign paused"
            ok = False
            if release:
                claims.release(conn, now, release, reason, self.report, self.owner)
            elif c is not None:
                ok = claims.still_ours(conn, self.owner, now, c, self.report)
            if time.monotonic() - self.renewed > LEASE_SECONDS / 3:
                conn.execute("UPDATE messages SET lease_until = ? WHERE status = 'sending' AND lease_owner = ?",
                             [iso(now + timedelta(seconds=LEASE_SECONDS)), self.owner])
                self.renewed = time.monotonic()
        return ok

    def send_batch(self, claimed: list[Claimed]) -> None:
        """Send in the claim's order (personal first, then by id). The transaction that records message N's outcome and checks message
        N+1 must commit before N+1 can be accepted. It starts in the writer thread the moment N's
        outcome is known, and the channel waits for it only at its point of no return, so the
        commit runs while the relay works on N+1's first commands."""
        if self.checkpointer is None:  # a run that finds nothing to send opens no third connection
            self.checkpointer = Checkpointer(self.store.path, self.writer)
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
            ready = Once(lambda job=started, before=before: after(before, job))
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


def _joined(jobs: list["Job"]) -> tuple[list[Claimed], list[str]]:
    """The claims of several claim jobs as one: messages in the order to send them (personal
    first), rate-limited channels."""
    claimed, limited = [], set()
    for job in jobs:
        more, hit = job.result()
        claimed += more
        limited.update(hit)
    claimed.sort(key=lambda c: c.order)
    return claimed, sorted(limited)


def send_due(store, limit: int | None = None, now: datetime | None = None, stop=None,
             batch: int = BATCH, channels: dict | None = None, settle=None) -> SendReport:
    """Send what is due now and return what happened. Safe in several processes at once and
    alongside the daemon. `stop` (a threading.Event or a callable) ends the run after the
    message in flight; the rest of the claim goes back to the queue. `now` fixes the clock
    (tests); `channels` maps "email"/"sms" to channel objects (tests, bench). `settle(conn,
    store, now)` runs in every claim transaction, before the claim, and may write messages that
    the claim then finds (caseload.fallback.settle: the SMS for a failed email)."""
    return SendRun(store, now, stop, batch, channels, settle).run(limit)


def due_summary(store, now: datetime | None = None) -> dict:
    """What a send run would find now, without changing anything (`caseload send --dry-run`)."""
    now = clock.now(now)
    rows = store.db.execute(
        "SELECT m.channel, COUNT(*) FROM messages m LEFT JOIN campaigns p ON p.id = m.campaign_id"
        " WHERE m.status = 'queued' AND m.due_at <= ? AND (p.status IS NULL OR p.status = 'active')"
        " GROUP BY m.channel", [iso(now)]).fetchall()
    due = dict(rows)
    later = store.db.execute("SELECT COUNT(*) FROM messages WHERE status = 'queued' AND priority IN (0, 1)"
                             " AND due_at > ?", [iso(now)]).fetchone()[0]
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
