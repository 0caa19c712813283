"""The call list: clients who prefer phone, each with the question to ask, and the answer a
coach records after the call.

No message goes to a client who prefers phone unless the coach picks a channel for it
(outbox.queue.channel_order); a check-in round gives them a phone check-in instead (channel
'phone', every question queued, no message), and those questions are what the call list asks,
oldest check-in first. A client without one is asked the wellbeing question. Recording an
answer writes an observation (source coach, the coach as author), answers the question (the
check-in closes with its last one) and counts as a sign of life. Coaches see their own clients,
team leads their team's, admins all; the list and every answer are in the audit trail.
"""

from dataclasses import dataclass, field
from datetime import datetime

from . import access, activity, audit, checkins, clock
from .clients import observe
from .db import write_transaction
from .errors import BadInput, NotFound
from .i18n import language, t
from .policy import NO_MESSAGES

COLUMNS = ("client_number", "name", "phone", "coach", "question", "answers", "since")


@dataclass
class Call:
    client_id: int
    client_number: str
    name: str
    phone: str | None
    coach: str | None
    key: str  # the characteristic the question asks
    question: str  # in the coach's language
    options: list = field(default_factory=list)  # (value, label): key n records option n
    checkin_id: int | None = None
    position: int | None = None
    since: str | None = None  # when the check-in started

    def row(self) -> dict:
        return {"client_number": self.client_number, "name": self.name, "phone": self.phone or "",
                "coach": self.coach or "", "question": self.question,
                "answers": "  ".join(f"{n} {label}" for n, (_, label) in enumerate(self.options, 1)),
                "since": self.since or ""}


def _pending(conn, ids: list[int]) -> dict[int, tuple]:
    """client id -> (check-in id, position, characteristic, started) of the first open phone question."""
    out: dict[int, tuple] = {}
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        for cid, kid, pos, key, started in conn.execute(
                "SELECT q.client_id, q.checkin_id, q.position, q.characteristic, k.created_at FROM checkin_questions q"
                " JOIN checkins k ON k.id = q.checkin_id WHERE k.status = 'open' AND k.channel = 'phone'"
                f" AND q.status = 'queued' AND q.client_id IN ({', '.join('?' * len(part))})"
                " ORDER BY k.created_at, q.checkin_id, q.position", part):
            out.setdefault(cid, (kid, pos, key, started))
    return out


def _call(store, row, pending) -> Call | None:
    cid, number, first, last, phone, coach = row
    kid = pos = started = None
    if pending is not None:
        kid, pos, key, started = pending
    else:
        key = checkins.WELLBEING
    if key not in store.catalog or not store.catalog[key].question:
        return None
    lang = language()
    c = store.catalog[key]
    return Call(cid, number, " ".join(x for x in (first, last) if x), phone, coach, key,
                checkins.question_text(store, key, lang), checkins.options(c, lang), kid, pos, started)


_CLIENTS = ("SELECT clients.id, clients.client_number, clients.first_name, clients.last_name, clients.phone,"
            " clients.coach FROM clients WHERE ({scope}) AND {where} ORDER BY clients.client_number")
_ON_LIST = ("(" + " AND ".join(f"clients.status != '{s}'" for s in NO_MESSAGES) + ")"
            " AND (clients.preferred_channel = 'phone' OR EXISTS (SELECT 1 FROM checkins k"
            " WHERE k.client_id = clients.id AND k.status = 'open' AND k.channel = 'phone'))")


def call_list(store, actor) -> list[Call]:
    """Who to call: clients who prefer phone (or have an open phone check-in) that the actor may
    see, with an open check-in's question first (oldest first), then the others. Audited: one
    `call_list` entry per client shown."""
    access.require(actor, "coach", "teamlead", "admin")
    scope, params = access.client_scope(actor, "clients")
    rows = store.db.execute(_CLIENTS.format(scope=scope, where=_ON_LIST), params).fetchall()
    pending = _pending(store.db.conn, [r[0] for r in rows])
    calls = [c for c in (_call(store, r, pending.get(r[0])) for r in rows) if c is not None]
    calls.sort(key=lambda c: (c.since is None, c.since or "", c.client_number))
    if calls:
        with write_transaction(store.db) as conn:
            for c in calls:
                audit.record(conn, actor, "call_list", f"client:{c.client_id}")
    return calls


def _value(c, text: str, options: list):
    from .replies import parse_answer

    text = (text or "").strip()
    if c.type in ("bool", "enum") and text.isdigit() and 1 <= int(text) <= len(options):
        text = options[int(text) - 1][0]  # the number of an answer, as on the call list
    value = parse_answer(c, text)
    if value is None:
        allowed = ", ".join(f"{n} ({label})" for n, (_, label) in enumerate(options, 1)) or c.type
        raise BadInput(t("calls.bad_answer", answer=text, question=c.key, allowed=allowed))
    return value


def record(store, actor, number: str, answer: str, now: datetime | None = None) -> dict:
    """Record the answer a client gave on the phone to their question (as on the call list: an
    open phone check-in's, else wellbeing; any client the actor may see) (an
    option's number or value, or the value itself): the observation, the question answered, the
    check-in closed after its last. Returns what was recorded and the next question, if any."""
    access.require(actor, "coach", "teamlead", "admin")
    now = clock.now(now)
    scope, params = access.client_scope(actor, "clients")
    with write_transaction(store.db) as conn:
        row = conn.execute(_CLIENTS.format(scope=scope, where="clients.client_number = ?"),
                           [*params, number]).fetchone()
        if row is None:
            raise NotFound(t("client.not_found", number=number))
        call = _call(store, row, _pending(conn, [row[0]]).get(row[0]))
        if call is None:
            raise NotFound(t("calls.no_question", number=number))
        c = store.catalog[call.key]
        value = _value(c, answer, call.options)
        at = clock.iso(now)
        observe(conn, store, call.client_id, call.key, value, at, "coach", actor.name)
        if call.checkin_id is not None:
            conn.execute("UPDATE checkin_questions SET status = 'answered', answered_at = ? WHERE checkin_id = ?"
                         " AND position = ?", [at, call.checkin_id, call.position])
            conn.execute("UPDATE checkins SET replied_at = COALESCE(replied_at, ?) WHERE id = ?", [at, call.checkin_id])
            if conn.execute("SELECT 1 FROM checkin_questions WHERE checkin_id = ? AND status = 'queued'",
                            [call.checkin_id]).fetchone() is None:
                activity.close_checkin(conn, call.checkin_id, now)
        activity.touch(conn, call.client_id, now, reply=True)
        audit.record(conn, actor, "call_answer", f"client:{call.client_id}", call.key)
        nxt = _pending(conn, [call.client_id]).get(call.client_id) if call.checkin_id is not None else None
    return {"client_number": call.client_number, "characteristic": call.key, "value": c.to_sql(value),
            "next": checkins.question_text(store, nxt[2], language()) if nxt and nxt[2] in store.catalog else None}
