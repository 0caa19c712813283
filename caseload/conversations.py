"""Conversations: the inbox of unread replies across a caseload, marking them read, and a
one-off message to one client (SMS or email) without a saved template.

A one-off message is planned first (`plan_message`: the client's address, opt-out, a bad
address, outflow, quiet hours and the frequency cap, the SMS parts and encoding: the same
checks as any message) and then written by the outbox's one writer (`send_message`) as a
personal message, which goes out before broadcasts; the policies are checked again when it is
sent. The timeline itself (read and unread) is caseload.timeline.
"""

from dataclasses import dataclass
from datetime import datetime

from . import access, audit, clock, outbox, policy
from .attention import snippet, urgent_words
from .clients import client_fields
from .clock import iso
from .db import write_transaction
from .errors import BadInput
from .i18n import t

MAX_BODY = 1600  # characters: ten SMS parts, or a short email


def inbox(store, actor, coach: str | None = None, limit: int = 200) -> list[dict]:
    """Unread replies of the clients the actor may see, newest first, each with the urgency
    words it holds. One audit entry for the view."""
    where, params = access.client_scope(actor, "clients")
    if coach:
        where, params = f"({where}) AND clients.coach = ?", [*params, coach]
    org = store.config.message_language
    rows = []
    for rid, number, first, last, coach_name, lang, channel, text, at in store.conn.execute(
            f"SELECT r.id, clients.client_number, clients.first_name, clients.last_name, clients.coach,"
            f" clients.language, r.channel, r.text, r.received_at FROM clients"
            f" JOIN replies r INDEXED BY replies_unread ON r.client_id = clients.id AND r.read_at IS NULL"
            f" WHERE ({where}) AND r.text IS NOT NULL ORDER BY r.received_at DESC, r.id DESC LIMIT ?",
            [*params, limit]):
        rows.append({"id": rid, "client_number": number, "name": " ".join(p for p in (first, last) if p),
                     "coach": coach_name, "channel": channel, "received_at": at, "text": text,
                     "snippet": snippet(text), "urgent": urgent_words(text, (lang, org))})
    with write_transaction(store.db):
        audit.record(store.db, actor, "inbox", f"list:{coach or actor.name}", str(len(rows)))
    return rows


def mark_read(store, actor, number: str, unread: bool = False, now: datetime | None = None) -> int:
    """Mark a client's replies read (or the newest one unread again, `unread`); returns how many
    changed. Audited."""
    access.can_change_clients(actor)
    cid = client_fields(store, actor, number)["id"]
    with write_transaction(store.db) as conn:
        if unread:
            n = conn.execute("UPDATE replies SET read_at = NULL, read_by = NULL WHERE id = (SELECT id FROM replies"
                             " WHERE client_id = ? AND text IS NOT NULL ORDER BY received_at DESC, id DESC LIMIT 1)"
                             " AND read_at IS NOT NULL", [cid]).rowcount
        else:
            n = conn.execute("UPDATE replies SET read_at = ?, read_by = ? WHERE client_id = ? AND read_at IS NULL",
                             [iso(clock.now(now)), actor.name, cid]).rowcount
        if n:
            audit.record(conn, actor, "unread" if unread else "read", f"client:{cid}", str(n))
    return n


@dataclass(frozen=True)
class OneOff:
    """A planned one-off message: what would go out, to whom, when, and why not at once."""
    client_id: int
    client_number: str
    name: str
    channel: str
    language: str
    subject: str | None
    body: str
    due_at: datetime      # when it was asked for
    send_at: datetime     # the earliest moment the policies let it go out
    held: tuple           # (reason key, until) pairs: quiet hours, the frequency cap
    sms: object | None    # channels.sms.SmsInfo for an SMS


def plan_message(store, actor, number: str, body: str, channel: str = "auto", subject: str | None = None,
                 at: str | None = None, now: datetime | None = None) -> OneOff:
    """Check a one-off message to one client; writes nothing. BadInput says what stops it."""
    from .channels.sms import sms_info

    access.require(actor, "coach", "teamlead", "admin")
    now = clock.now(now)
    body = (body or "").strip()
    if not body:
        raise BadInput(t("conversation.empty"))
    if len(body) > MAX_BODY:
        raise BadInput(t("conversation.too_long", max=MAX_BODY))
    if channel not in ("auto", *outbox.CHANNELS):
        raise BadInput(t("outbox.bad_channel", channel=channel, allowed="auto, sms, email"))
    client = client_fields(store, actor, number)
    cid = client["id"]
    if client["status"] in policy.NO_MESSAGES:
        raise BadInput(t("conversation.outflow", number=number))
    opted = policy.opted_out_channels(store.db, cid)
    bad = {r[0] for r in store.db.execute("SELECT channel FROM bad_addresses WHERE client_id = ?", [cid])}
    order = [channel] if channel != "auto" else ["email", "sms"] if client["preferred_channel"] == "email" \
        else ["sms", "email"]
    why = None
    chosen = None
    for ch in order:
        if not client["email" if ch == "email" else "phone"]:
            why = why or t(f"conversation.no_{ch}")
        elif ch in opted:
            why = why or t("conversation.opted_out", channel=ch)
        elif ch in bad:
            why = why or t("conversation.bad_address", channel=ch)
        else:
            chosen = ch
            break
    if chosen is None:
        raise BadInput(why or t("conversation.no_channel"))
    lang = client["language"] or store.config.message_language
    if chosen == "email":
        subject = (subject or "").strip() or t("conversation.default_subject", lang=lang,
                                               organisation=store.config.organisation.name)
    else:
        subject = None
    due = outbox.parse_at(store, at, now)
    send_at, held = due, []
    recent = policy.recent_counts(store.db, store.config, [cid], send_at).get(cid)
    capped = policy.frequency_deferral(store.config, recent, send_at)
    if capped is not None and capped > send_at:
        held.append(("cap", capped))
        send_at = capped
    quiet = policy.quiet_until(store.config, send_at)
    if quiet is not None:
        held.append(("quiet", quiet))
        send_at = quiet
    return OneOff(cid, client["client_number"], " ".join(p for p in (client["first_name"], client["last_name"]) if p),
                  chosen, lang, subject, body, due, send_at, tuple(held),
                  sms_info(body) if chosen == "sms" else None)


def send_message(store, actor, plan: OneOff, now: datetime | None = None) -> int:
    """Put a planned one-off message in the outbox (the one writer), as a personal message
    written by the actor; the client's unread replies are read from then on. Returns the
    message id. Audited."""
    access.require(actor, "coach", "teamlead", "admin")
    now = clock.now(now)
    client_fields(store, actor, plan.client_number)  # still the actor's client
    with write_transaction(store.db) as conn:
        written = outbox.write(conn, store, [outbox.Message(plan.client_id, plan.channel, plan.body, plan.subject,
                                                            None, plan.language)],
                               kind="campaign", now=now, due_at=plan.due_at, priority=outbox.PERSONAL)
        mid = written.ids[0]
        # who wrote it: a one-off message has no campaign and no template, only its author
        conn.execute("UPDATE messages SET author = ? WHERE id = ?", [actor.name, mid])
        conn.execute("UPDATE replies SET read_at = ?, read_by = ? WHERE client_id = ? AND read_at IS NULL",
                     [iso(now), actor.name, plan.client_id])
        audit.record(conn, actor, "message", f"client:{plan.client_id}", f"message:{mid}")
    return mid
