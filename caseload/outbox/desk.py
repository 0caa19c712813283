"""The desk: looking at the outbox and changing it by hand (list, summary, events, cancel,
retry), always within the actor's scope and audited."""

from datetime import datetime

from .. import access, audit, clock, owners
from ..clock import iso, parse_iso
from ..db import write_transaction
from ..errors import BadInput, NotFound
from ..i18n import t
from ..reach import Reach
from .claims import STATES, set_status
from .queue import expiry


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
            set_status(conn, mid, now, "cancelled", f"by {actor.name}")
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
    until = expiry(store.config, now)
    expires = iso(until) if until else None
    with write_transaction(store.db) as conn:
        chosen = _select_ids(conn, actor, ids, camp, RETRIED)
        for mid in chosen:
            set_status(conn, mid, now, "queued", f"retry by {actor.name}", attempts=0, due_at=iso(now), expires_at=expires)
        if camp is not None:
            conn.execute("UPDATE campaigns SET status = 'active', failures_in_a_row = 0, paused_at = NULL,"
                         " updated_at = ? WHERE id = ?", [iso(now), camp])
            audit.record(conn, actor, "retry", f"campaign:{camp}")
        else:
            for mid in chosen:
                audit.record(conn, actor, "retry", f"message:{mid}")
    return len(chosen)
