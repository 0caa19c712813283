"""Claims: the state machine of a message once it is queued, and who holds it.

States: queued -> sending -> sent -> delivered | failed | cancelled | expired. Every change is a
row in `message_events` (written by a trigger, timestamped with the change). A sender claims due
messages that pass the policies (status `sending`, a lease in its own name, host:pid:process
start:run, until now + LEASE_SECONDS); a claim whose sender died goes back to the queue (see
`reclaim`). The steps of the send run (`claim`, `still_ours`, `record`, `release`) are public in
this module so that tests can drive the state machine one step at a time; everything else uses
the package's face (caseload.outbox).
"""

import logging
import os
import random
import socket
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from secrets import token_hex

from .. import access, audit, clock, policy
from ..channels import PERMANENT, SENT, TEMPORARY, UNAVAILABLE, Outcome, Outgoing
from ..clock import iso
from ..db import write_transaction
from ..errors import BadInput
from ..i18n import t
from ..policy import NO_MESSAGES

log = logging.getLogger("caseload.outbox")

STATES = ("queued", "sending", "sent", "delivered", "failed", "cancelled", "expired")
LEASE_SECONDS = 45
BACKOFF_BASE = 60
BACKOFF_CAP = 3600
MAX_POLICY_ROWS = 500  # rows one claim transaction may look at before it commits


# --- who is sending -------------------------------------------------------------------------

def proc_stat(pid: int) -> tuple[str, str] | None:
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
        stat = proc_stat(pid) if os.path.exists("/proc/self/stat") else None
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
        stat = proc_stat(pid)
        return stat is not None and stat[0] not in ("Z", "X") and stat[1] == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def active(owner: str):
    """Marks a run of this process as sending while the block runs (see owner_alive)."""
    with _ACTIVE_LOCK:
        _ACTIVE.add(owner)
    try:
        yield
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(owner)


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
    priority: int
    outgoing: Outgoing

    @property
    def order(self) -> tuple[int, int]:
        """The order a run sends in: personal messages before broadcasts, then by id."""
        return self.priority, self.id


# --- state changes --------------------------------------------------------------------------

def set_status(conn, message_id: int, now: datetime, status: str, reason: str | None, **extra) -> int:
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
                # the message the sender may have handed over carries the mark already (see run.SendRun.step)
                set_status(conn, mid, now, "queued", "reclaimed" if dup else "released", lease_owner=None, lease_until=None)
            back += len(rows)
            marked += sum(dup for _, dup in rows)
    if back:
        log.warning("took up %d messages of %d stopped senders (%d possibly sent already)", back, len(dead), marked)
    return back, marked


# Queued and due (one parameter: now), as two range searches of the index messages_queued
# (priority, due_at, id): personal (0) first, then broadcasts (1); queue.write writes no other priority.
DUE = "status = 'queued' AND priority IN (0, 1) AND due_at <= ?"


def expire_due(store, now: datetime | None = None) -> int:
    now = clock.now(now)
    if store.db.execute(f"SELECT 1 FROM messages WHERE {DUE} AND expires_at < ? LIMIT 1",
                        [iso(now), iso(now)]).fetchone() is None:
        return 0  # the common case, without taking the write lock
    with write_transaction(store.db) as conn:
        n = conn.execute(f"UPDATE messages SET status = 'expired', reason = 'expired', updated_at = ? WHERE {DUE}"
                         " AND expires_at < ?", [iso(now), iso(now), iso(now)]).rowcount
    return n


_CANDIDATES = """
SELECT m.id, m.client_id, m.channel, m.kind, m.campaign_id, m.expires_at, m.attempts, m.possible_duplicate,
       m.subject, m.body, m.html, m.token, m.language, m.priority, c.status, c.email, c.phone,
       EXISTS (SELECT 1 FROM opt_outs o WHERE o.client_id = m.client_id AND o.channel = m.channel),
       COALESCE(p.failures_in_a_row, 0),
       (SELECT b.reason FROM bad_addresses b WHERE b.client_id = m.client_id AND b.channel = m.channel)
FROM messages m
LEFT JOIN clients c ON c.id = m.client_id
LEFT JOIN campaigns p ON p.id = m.campaign_id
WHERE m.status = 'queued' AND m.priority IN (0, 1) AND m.due_at <= ? AND m.channel IN ({channels})
  AND (p.status IS NULL OR p.status = 'active')
ORDER BY m.priority, m.due_at, m.id
LIMIT ?
"""


def claim(conn, store, owner: str, now: datetime, n: int, channels: list[str], report: SendReport,
           dirty: set, probe: set = frozenset()) -> tuple[list[Claimed], list[str]]:
    """Claim up to n due messages that pass the policies (inside the caller's transaction).
    A channel in `probe` gets one message only (it has not worked yet in this run).
    Returns the claimed ones in the order to send them (`Claimed.order`) and the channels that
    hit their rate limit."""
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
        for (mid, cid, ch, kind, camp, expires, attempts, dup, subject, body, html, token, lang, priority,
             cstatus, email, phone, opted_out, failures, bad) in rows:
            seen += 1
            if ch not in open_:
                continue
            if expires is not None and expires < now_s:
                set_status(conn, mid, now, "expired", "expired")
                report.expired += 1
                continue
            if cstatus is None or cstatus in NO_MESSAGES:
                set_status(conn, mid, now, "cancelled", cstatus or "erased")
                report.cancelled += 1
                continue
            if opted_out and kind != "system":
                set_status(conn, mid, now, "cancelled", "opt_out")
                report.cancelled += 1
                continue
            address = email if ch == "email" else phone
            if not address or bad:  # no address, or one a bounce showed unreachable (channels.UNREACHABLE)
                set_status(conn, mid, now, "failed", bad or "no_address")
                report.failed += 1
                report.reasons[bad or "no_address"] += 1
                continue
            if kind != "system":
                until = policy.frequency_deferral(config, recent.get(cid), now, per_client[cid])
                if until is not None:
                    if expires is not None and iso(until) > expires:
                        set_status(conn, mid, now, "expired", "frequency_cap")
                        report.expired += 1
                    else:
                        set_status(conn, mid, now, "queued", "frequency_cap", due_at=iso(until))
                        report.deferred += 1
                    continue
            per_client[cid] += 1
            if failures and camp is not None:
                dirty.add(camp)
            claimed.append(Claimed(mid, cid, ch, kind, camp, attempts, bool(dup), priority, Outgoing(
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
    claimed.sort(key=lambda c: c.order)
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


def record(conn, store, owner: str, now: datetime, c: Claimed, outcome: Outcome, report: SendReport,
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
        set_status(conn, c.id, now, "queued", f"unavailable: {outcome.reason}", lease_owner=None, lease_until=None,
             possible_duplicate=int(c.possible_duplicate), **extra)
        report.released += 1
        return
    attempts = c.attempts + 1
    report.reasons[outcome.reason] += 1
    if outcome.kind == TEMPORARY and attempts < store.config.policy.max_attempts:
        set_status(conn, c.id, now, "queued", f"retry: {outcome.reason}", attempts=attempts,
             due_at=iso(now + timedelta(seconds=backoff(attempts))), lease_owner=None, lease_until=None,
             possible_duplicate=1 if (outcome.ambiguous or c.possible_duplicate) else 0)
        report.retried += 1
    else:
        reason = outcome.reason if outcome.kind == PERMANENT else f"gave up: {outcome.reason}"
        set_status(conn, c.id, now, "failed", reason, attempts=attempts, lease_owner=None, lease_until=None,
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


def still_ours(conn, owner: str, now: datetime, c: Claimed, report: SendReport) -> bool:
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
        release(conn, now, [c], "campaign paused", report, owner)
        return False
    if row[2] is None or row[2] in NO_MESSAGES or (row[3] and c.kind != "system"):
        set_status(conn, c.id, now, "cancelled", "opt_out" if row[3] else (row[2] or "erased"),
             lease_owner=None, lease_until=None)
        report.cancelled += 1
        return False
    conn.execute("UPDATE messages SET possible_duplicate = 1 WHERE id = ?", [c.id])
    return True


def release(conn, now: datetime, items: list[Claimed], reason: str, report: SendReport, owner: str) -> None:
    for c in items:
        conn.execute("UPDATE messages SET status = 'queued', reason = ?, lease_owner = NULL, lease_until = NULL,"
                     " possible_duplicate = ?, updated_at = ? WHERE id = ? AND status = 'sending' AND lease_owner = ?",
                     [reason, int(c.possible_duplicate), iso(now), c.id, owner])
    report.released += len(items)


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
        set_status(conn, row[0], now, status, reason if status == "failed" else None, **extra)
    return True
