"""Email that falls back to SMS: when an email to a client fails hard (an address that a relay
or a bounce showed unreachable, a 5xx answer, no address at all), the same message goes once by
SMS, where the client has a phone number and has not opted out of SMS.

A failed email (not a system message) gets a `fallbacks` row 'pending' from a trigger, in the
transaction that fails it (migration 0019), so no failure is missed across kills. `settle`
decides the pending rows inside the send run's claim transaction (`outbox.send_due(settle=...)`,
as `caseload send` and the daemon run it), so a fallback goes out in the same run: an SMS is
written through the outbox's one writer with the email's campaign, kind and priority (the
template's SMS text rendered for the client; a check-in goes on as an SMS check-in) and the row
becomes 'queued' with its id; or the row becomes 'none' with the reason. The primary key makes
it once per failed email. A client who prefers phone or letter gets no SMS: they did not ask for
one (the call list and the letters reach them). Only codes and ids are logged and audited.
"""

import logging
from datetime import datetime

from . import access, audit, checkins, outbox, templates
from .channels import UNREACHABLE
from .clock import iso
from .errors import BadInput
from .policy import NO_MESSAGES

log = logging.getLogger("caseload.fallback")

STATES = ("pending", "queued", "none")
PER_CLAIM = 50  # pending rows one claim transaction settles (the rest in the next)
_FIELDS = ("id", "client_number", "first_name", "last_name", "email", "phone", "language", "preferred_channel",
           "coach", "intake_date", "birth_date", "status", "outflow_type", "outflow_date")


def hard(reason: str | None) -> bool:
    """Whether a failed email's reason says email cannot reach the client (not a passing problem)."""
    r = reason or ""
    return r in UNREACHABLE or r == "no_address" or r.startswith("smtp 5")


def settle(conn, store, now: datetime, limit: int = PER_CLAIM) -> int:
    """Decide up to `limit` pending fallbacks (inside the caller's write transaction). Returns how
    many SMS it queued."""
    rows = conn.execute(
        "SELECT f.message_id, m.client_id, m.kind, m.campaign_id, m.template, m.language, m.reason, m.priority,"
        " m.expires_at FROM fallbacks f JOIN messages m ON m.id = f.message_id WHERE f.status = 'pending'"
        " ORDER BY f.message_id LIMIT ?", [limit]).fetchall()
    if not rows:
        return 0
    now_s = iso(now)
    renderer, found, queued, reasons = templates.Renderer(store), {}, 0, {}
    for mid, cid, kind, campaign_id, template, lang, reason, priority, expires in rows:
        fid, why = None, _why_not(conn, store, cid, reason, expires, now_s)
        if why is None:
            fid, why = _queue(conn, store, renderer, found, mid, cid, kind, campaign_id, template, lang, priority,
                              expires, now)
        conn.execute("UPDATE fallbacks SET status = ?, fallback_id = ?, reason = ?, updated_at = ? WHERE message_id = ?",
                     ["queued" if fid else "none", fid, why, now_s, mid])
        if fid:
            queued += 1
            audit.record(conn, access.system_actor("send"), "fallback", f"message:{mid}", f"sms:{fid}")
        else:
            reasons[why] = reasons.get(why, 0) + 1
    if queued or reasons:
        log.info("email fallback: %d by SMS; not: %s", queued,
                 ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "-")
    return queued


def _why_not(conn, store, cid: int, reason: str | None, expires: str | None, now_s: str) -> str | None:
    if not hard(reason):
        return "not_hard"
    if expires is not None and expires < now_s:
        return "expired"
    client = conn.execute(
        "SELECT c.status, c.phone, c.preferred_channel,"
        " EXISTS (SELECT 1 FROM opt_outs o WHERE o.client_id = c.id AND o.channel = 'sms'),"
        " EXISTS (SELECT 1 FROM bad_addresses b WHERE b.client_id = c.id AND b.channel = 'sms')"
        " FROM clients c WHERE c.id = ?", [cid]).fetchone()
    if client is None or client[0] in NO_MESSAGES:
        return "outflow"
    status, phone, preferred, opted_out, bad = client
    if preferred in ("phone", "letter"):
        return f"prefers_{preferred}"
    if not phone:
        return "no_phone"
    if opted_out:
        return "opted_out"
    if bad:
        return "sms_unreachable"
    return None


def _queue(conn, store, renderer, found: dict, mid: int, cid: int, kind: str, campaign_id, template, lang, priority,
           expires, now: datetime) -> tuple[int | None, str | None]:
    occurrence = f"fallback:{mid}"
    if kind == "checkin":
        return checkins.fallback_to_sms(conn, store, mid, occurrence, now)
    if not template:
        return None, "no_sms_text"  # a digest: its items' links are made for the email
    if template not in found:
        found[template] = templates.variants(store, template, conn)
    variant = templates.pick(found[template], "sms", lang, store.config.message_language)
    if variant is None:
        return None, "no_sms_text"
    names = templates.names_used(store, variant)
    cols = templates.profile_columns(store, names)
    select = ", ".join([*(f"clients.{f}" for f in _FIELDS),
                        *(f"profile.{templates.quote_column(c.column)}" for c in cols)])
    row = conn.execute(f"SELECT {select} FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
                       " WHERE clients.id = ?", [cid]).fetchone()
    client, profile = dict(zip(_FIELDS, row)), dict(zip([c.column for c in cols], row[len(_FIELDS):]))
    try:
        rendered = renderer.render(variant, templates.context(store, client, profile, names, variant.language))
    except BadInput:
        return None, "render_failed"
    written = outbox.write(conn, store, [outbox.Message(cid, "sms", rendered.body, None, None, variant.language,
                                                        occurrence)],
                           kind=kind, now=now, expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00"))
                           if expires else None, campaign_id=campaign_id, template=template, priority=priority)
    return (written[0].id, None) if written[0] is not None else (None, "already_queued")
