"""A client's timeline, the conversation: messages sent, letters printed, replies, notes, clicks,
observations, follow-ups, interventions, changes of coach and outflow, newest first, each reply
read or unread.

Scoped by role like every read of one client, and recorded in the audit trail as one view.
When the client's own coach views it, the unread replies are read from then on (the events
returned still say which were unread, so a screen can show them as new)."""

from dataclasses import dataclass

from . import audit, clock, coaches
from .clients import client_fields
from .clock import iso
from .db import write_transaction

KINDS = ("message", "letter", "reply", "note", "click", "observation", "followup", "followup_done",
         "intervention_start", "intervention_end", "coach", "outflow")


@dataclass(frozen=True)
class Event:
    at: str          # UTC ISO moment, or an ISO date for day events (interventions, outflow)
    kind: str        # one of KINDS
    text: str        # what happened, as written (a note, a reply, a message's body, "Wellbeing: 2")
    detail: str = ""  # the channel, the intervention's result, the outflow type, a follow-up's due date
    author: str | None = None
    status: str | None = None  # messages: queued, sent, failed, ...
    reason: str | None = None  # messages: why it failed, was cancelled or expired
    unread: bool = False       # replies: nobody has read it yet
    subject: str | None = None  # email messages


def _observations(store, cid: int, limit: int) -> list[Event]:
    names = {v: k for k, v in store.ids.items()}
    out = []
    for chid, value, at, source, author in store.conn.execute(
            "SELECT characteristic_id, value, observed_at, source, author FROM observations WHERE client_id = ?"
            " AND source != 'import' ORDER BY observed_at DESC LIMIT ?", [cid, limit]):
        key = names.get(chid)
        if key is None or key not in store.catalog:
            continue
        c = store.catalog[key]
        shown = c.value_title(c.from_sql(value))
        out.append(Event(at, "observation", f"{c.title()}: {shown}", source, author))
    return out


def _coach_changes(db, cid: int) -> list[Event]:
    """"anna -> isa" when the client changed coach (the first coach is no change); "-" for no coach."""
    out, previous = [], None
    for coach, since, until, author in coaches.periods(db, cid):
        if previous is not None and previous[1] == since:
            out.append(Event(since, "coach", f"{previous[0]} -> {coach}", author or "", author))
        elif previous is not None:
            out += [Event(previous[1], "coach", f"{previous[0]} -> -"),
                    Event(since, "coach", f"- -> {coach}", author or "", author)]
        previous = (coach, until)
    if previous is not None and previous[1] is not None:
        out.append(Event(previous[1], "coach", f"{previous[0]} -> -"))
    return out


def timeline(store, actor, number: str, limit: int = 300, mark_read: bool | None = None,
             now=None) -> list[Event]:
    """The newest `limit` events. `mark_read`: mark the client's unread replies read (default:
    when the actor is the client's coach)."""
    client = client_fields(store, actor, number)
    cid = client["id"]
    db = store.conn
    events: list[Event] = []
    for at, channel, status, reason, subject, body, author in db.execute(
            "SELECT COALESCE(sent_at, due_at), channel, status, reason, subject, body, author FROM messages"
            " WHERE client_id = ? ORDER BY id DESC LIMIT ?", [cid, limit]):
        shown = reason if status in ("failed", "cancelled", "expired") else None
        events.append(Event(at, "message", body or subject or "", channel, author, status=status, reason=shown,
                            subject=subject))
    # a letter is printed by `caseload letter`, not sent: the audit trail is its only record
    for at, author, template in db.execute(
            "SELECT at, actor, result FROM audit WHERE object = ? AND action = 'letter' ORDER BY id DESC LIMIT ?",
            [f"client:{cid}", limit]):
        events.append(Event(at, "letter", template, "letter", author))
    for at, channel, text, read_at in db.execute(
            "SELECT received_at, channel, text, read_at FROM replies WHERE client_id = ? AND text IS NOT NULL"
            " ORDER BY received_at DESC, id DESC LIMIT ?", [cid, limit]):
        events.append(Event(at, "reply", text, channel, "client", unread=read_at is None))
    for at, text, source, author in db.execute(
            "SELECT created_at, text, source, author FROM notes n WHERE client_id = ? AND NOT (source = 'reply'"
            " AND EXISTS (SELECT 1 FROM replies r WHERE r.client_id = n.client_id AND r.text = n.text))"
            " ORDER BY created_at DESC, id DESC LIMIT ?", [cid, limit]):
        events.append(Event(at, "reply" if source == "reply" else "note", text, source, author))
    for at, kind in db.execute("SELECT at, kind FROM clicks WHERE client_id = ? AND kind != 'answer'"
                               " ORDER BY at DESC LIMIT ?", [cid, limit]):
        events.append(Event(at, "click", kind, kind, "client"))
    events += _observations(store, cid, limit)
    for created, what, due, assignee, author, done_at, done_by in db.execute(
            "SELECT created_at, what, due_date, assignee, author, done_at, done_by FROM follow_ups WHERE client_id = ?"
            " ORDER BY created_at DESC LIMIT ?", [cid, limit]):
        events.append(Event(created, "followup", what, due, author, status=assignee))
        if done_at:
            events.append(Event(done_at, "followup_done", what, due, done_by))
    for name, start, end, result, author in db.execute(
            "SELECT name, start_date, end_date, result, author FROM interventions WHERE client_id = ?"
            " ORDER BY start_date DESC, id DESC LIMIT ?", [cid, limit]):
        events.append(Event(start, "intervention_start", name, "", author))
        if end:
            events.append(Event(end, "intervention_end", name, result or "", author))
    events += _coach_changes(db, cid)
    if client.get("outflow_date"):
        events.append(Event(client["outflow_date"], "outflow", client["outflow_type"] or "other",
                            client["outflow_type"] or ""))
    if mark_read is None:
        mark_read = client.get("coach") == actor.name
    with write_transaction(store.db) as conn:
        audit.record(conn, actor, "view_timeline", f"client:{cid}")
        if mark_read:
            n = conn.execute("UPDATE replies SET read_at = ?, read_by = ? WHERE client_id = ? AND read_at IS NULL",
                             [iso(clock.now(now)), actor.name, cid]).rowcount
            if n:
                audit.record(conn, actor, "read", f"client:{cid}", str(n))
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]
