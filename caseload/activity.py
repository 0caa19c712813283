"""Activity and inactivity: the last sign of life of each client, and the silence that is itself
a signal.

- `clients.last_activity`: the last reply, click or contact a coach logged; `clients.last_reply`:
  the last reply (SMS, email or one tap). Segments select on both (`last_reply < 30 days ago`).
- `update` (the daemon's job every tick): a check-in question whose message went out is asked
  and its reply window starts; a window that closed leaves the question unanswered and queues
  the next SMS question; a check-in with nothing left to ask closes (answered, unanswered or
  cancelled). An unanswered check-in counts towards inactivity.
- The attention list (caseload.attention) reads both: "no reply to the last N check-ins"
  (config.daemon.missed_checkins) and "no activity for N days" (config.daemon.inactive_days).
"""

from datetime import datetime, timedelta, timezone

from .db import write_transaction
from .clock import iso, parse_iso


def touch(conn, client_id: int, now: datetime, reply: bool) -> None:
    """A sign of life (inside the caller's transaction); times only move forward."""
    at = iso(now)
    if reply:
        conn.execute("UPDATE clients SET last_reply = MAX(COALESCE(last_reply, ''), ?),"
                     " last_activity = MAX(COALESCE(last_activity, ''), ?) WHERE id = ?", [at, at, client_id])
    else:
        conn.execute("UPDATE clients SET last_activity = MAX(COALESCE(last_activity, ''), ?) WHERE id = ?",
                     [at, client_id])


def close_checkin(conn, checkin_id: int, now: datetime) -> str:
    """Close a check-in whose questions are all settled; returns its final status."""
    counts = dict(conn.execute("SELECT status, COUNT(*) FROM checkin_questions WHERE checkin_id = ? GROUP BY status",
                               [checkin_id]).fetchall())
    status = "answered" if counts.get("answered") else "unanswered" if counts.get("unanswered") else "cancelled"
    conn.execute("UPDATE checkins SET status = ?, closed_at = ? WHERE id = ? AND status = 'open'",
                 [status, iso(now), checkin_id])
    return status


def update(store, now: datetime | None = None) -> dict:
    """Move check-in questions along (see the module text). One transaction; returns counts."""
    from . import checkins

    now = now or datetime.now(timezone.utc)
    now_s = iso(now)
    window = timedelta(hours=store.config.daemon.reply_window_hours)
    done = {"asked": 0, "skipped": 0, "unanswered": 0, "next": 0, "closed": 0}
    with write_transaction(store.db) as conn:
        sent = conn.execute(
            "SELECT q.checkin_id, q.position, m.sent_at FROM checkin_questions q JOIN messages m ON m.id = q.message_id"
            " WHERE q.status = 'queued' AND m.sent_at IS NOT NULL AND m.status IN ('sent', 'delivered')").fetchall()
        for kid, pos, sent_at in sent:
            closes = parse_iso(sent_at) + window
            conn.execute("UPDATE checkin_questions SET status = 'asked', asked_at = ?, closes_at = ?"
                         " WHERE checkin_id = ? AND position = ?", [sent_at, iso(closes), kid, pos])
        done["asked"] = len(sent)
        done["skipped"] = conn.execute(
            "UPDATE checkin_questions SET status = 'skipped' WHERE status = 'queued' AND message_id IN"
            " (SELECT id FROM messages WHERE status IN ('cancelled', 'failed', 'expired'))").rowcount
        closed = conn.execute("SELECT checkin_id FROM checkin_questions WHERE status = 'asked' AND closes_at <= ?",
                              [now_s]).fetchall()
        done["unanswered"] = conn.execute(
            "UPDATE checkin_questions SET status = 'unanswered' WHERE status = 'asked' AND closes_at <= ?",
            [now_s]).rowcount
        touched = {k for (k,) in closed}
        touched |= {k for (k,) in conn.execute(
            "SELECT DISTINCT checkin_id FROM checkin_questions WHERE status = 'skipped' AND checkin_id IN"
            " (SELECT id FROM checkins WHERE status = 'open')")}
        for kid in sorted(touched):
            busy = conn.execute("SELECT 1 FROM checkin_questions WHERE checkin_id = ? AND status IN ('queued', 'asked')",
                                [kid]).fetchone()
            if busy:
                continue
            channel = conn.execute("SELECT channel, status FROM checkins WHERE id = ?", [kid]).fetchone()
            if channel is None or channel[1] != "open":
                continue
            if channel[0] == "sms" and checkins.queue_next(conn, store, kid, now):
                done["next"] += 1
            else:
                conn.execute("UPDATE checkin_questions SET status = 'skipped' WHERE checkin_id = ? AND status = 'waiting'",
                             [kid])
                close_checkin(conn, kid, now)
                done["closed"] += 1
    return done


def missed_checkins(store, where: str, params: list, n: int | None = None) -> dict[int, int]:
    """client id -> n for clients (matching `where` over clients) whose last n closed check-ins
    all went unanswered; cancelled ones do not count either way."""
    n = n or store.config.daemon.missed_checkins
    if n <= 0:
        return {}
    sql = ("SELECT client_id, SUM(status = 'unanswered'), COUNT(*) FROM ("
           " SELECT k.client_id, k.status, ROW_NUMBER() OVER (PARTITION BY k.client_id"
           "  ORDER BY k.created_at DESC, k.id DESC) AS rn"
           " FROM checkins k WHERE k.status IN ('answered', 'unanswered')"
           f"  AND k.client_id IN (SELECT clients.id FROM clients WHERE {where}))"
           " WHERE rn <= ? GROUP BY client_id HAVING COUNT(*) = ? AND SUM(status = 'unanswered') = ?")
    return {cid: n for cid, _, _ in store.conn.execute(sql, [*params, n, n, n])}
