"""A client's timeline: messages, replies, notes, interventions and outflow, newest first.
Scoped by role like every read of one client, and recorded in the audit trail as one view."""

from dataclasses import dataclass

from . import audit
from .clients import client_id

KINDS = ("message", "reply", "note", "intervention_start", "intervention_end", "outflow")


@dataclass(frozen=True)
class Event:
    at: str          # UTC ISO moment, or an ISO date for day events (interventions, outflow)
    kind: str        # one of KINDS
    text: str        # what happened, as written (a note, a reply, a message's subject or body)
    detail: str = ""  # the message's channel, the intervention's result, the outflow type
    author: str | None = None
    status: str | None = None  # messages: queued, sent, failed, ...
    reason: str | None = None  # messages: why it failed, was cancelled or expired


def timeline(store, actor, number: str, limit: int = 300) -> list[Event]:
    cid = client_id(store, actor, number)
    db = store.conn
    events: list[Event] = []
    for at, channel, status, reason, subject, body in db.execute(
            "SELECT COALESCE(sent_at, due_at), channel, status, reason, subject, body FROM messages"
            " WHERE client_id = ? ORDER BY id DESC LIMIT ?", [cid, limit]):
        shown = reason if status in ("failed", "cancelled", "expired") else None
        events.append(Event(at, "message", subject or body, channel, status=status, reason=shown))
    for at, text, source, author in db.execute(
            "SELECT created_at, text, source, author FROM notes WHERE client_id = ? ORDER BY created_at DESC, id DESC"
            " LIMIT ?", [cid, limit]):
        events.append(Event(at, "reply" if source == "reply" else "note", text, source, author))
    for name, start, end, result, author in db.execute(
            "SELECT name, start_date, end_date, result, author FROM interventions WHERE client_id = ?"
            " ORDER BY start_date DESC, id DESC LIMIT ?", [cid, limit]):
        events.append(Event(start, "intervention_start", name, "", author))
        if end:
            events.append(Event(end, "intervention_end", name, result or "", author))
    outflow = db.execute("SELECT outflow_date, outflow_type FROM clients WHERE id = ? AND outflow_date IS NOT NULL",
                         [cid]).fetchone()
    if outflow:
        events.append(Event(outflow[0], "outflow", outflow[1] or "other", outflow[1] or ""))
    audit.record(store.db, actor, "view_timeline", f"client:{cid}")
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]
