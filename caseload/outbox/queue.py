"""Queueing: the one writer of message rows, and planning what `caseload queue` queues.

Every message row is made by `write` (and `enqueue`, one message through it): the token, the
expiry (config.policy.expire_after_hours after it is due), tracked links (every http(s) URL in
the text becomes a signed link that records a click, when a webhook secret is configured), the
occurrence that keeps a message from being queued twice, and its priority (personal messages,
such as check-ins, a coach's message to one client and STOP confirmations, before broadcasts).
`plan_queue` and `commit_queue` are `caseload queue` and the TUI's compose; campaigns and
check-ins plan their own rows and write them here.
"""

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence
from datetime import datetime, timedelta, timezone
from secrets import token_hex

from .. import access, audit, clock, languages, owners
from ..clock import iso
from ..db import last_id, write_transaction
from ..errors import BadInput, CaseloadError, NotFound
from ..i18n import t
from ..policy import NO_MESSAGES
from ..reach import Reach

CHANNELS = ("sms", "email")
KINDS = ("campaign", "checkin", "system")


def find_by_token(store, token: str) -> dict | None:
    """The message a reply or a link refers to."""
    row = store.db.execute("SELECT id, client_id, channel, kind, campaign_id, status, sent_at FROM messages"
                           " WHERE token = ?", [token]).fetchone()
    if row is None:
        return None
    return dict(zip(("id", "client_id", "channel", "kind", "campaign_id", "status", "sent_at"), row))


PERSONAL = 0  # check-ins, a coach's message to one client, STOP confirmations: before broadcasts
BROADCAST = 1  # a campaign to a segment
PRIORITIES = (PERSONAL, BROADCAST)


class Message(NamedTuple):
    """One message to write: what differs per client. What a batch shares (kind, campaign,
    template, when it is due, priority) is given to `write`."""
    client_id: int
    channel: str
    body: str
    subject: str | None = None
    html: str | None = None
    language: str | None = None
    occurrence: str = ""  # with the campaign and client: a message is queued once
    failed: str | None = None  # could not be made (e.g. its template failed to render): written as failed
    links: tuple = ()  # (item id, URL) per item of a digest; the text holds LINK.format(n) where link n goes


LINK = "\x1e{}\x1e"  # where a digest's item link n goes (no item text holds a control character)


class Queued(NamedTuple):
    id: int
    token: str


@dataclass
class Written:
    """What `write` wrote: per message its id (None when it was queued already) and token."""
    ids: list[int | None]
    tokens: list[str]

    @property
    def count(self) -> int:
        return sum(i is not None for i in self.ids)

    def __getitem__(self, i: int) -> Queued | None:
        return None if self.ids[i] is None else Queued(self.ids[i], self.tokens[i])


def expiry(config, due: datetime) -> datetime | None:
    """When a message due at `due` expires unsent: config.policy.expire_after_hours later (0: never)."""
    hours = config.policy.expire_after_hours
    return due + timedelta(hours=hours) if hours > 0 else None


_INSERT = ("INSERT OR IGNORE INTO messages (id, campaign_id, occurrence, client_id, kind, channel, language, template,"
           " subject, body, html, token, status, reason, priority, due_at, expires_at, created_at, updated_at)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def write(conn, store, messages: Sequence[Message], *, kind: str, now: datetime, due_at: datetime | None = None,
          expires_at: datetime | None = None, campaign_id: int | None = None, template: str | None = None,
          priority: int | None = None) -> Written:
    """Write message rows, inside the caller's write transaction: the one place a message is made.
    Each gets its token, its expiry (`expiry`, unless `expires_at`), tracked links in its text
    (`links.track_links`, when a webhook secret is configured) and a priority (PERSONAL, or
    BROADCAST for campaigns, unless given). Ids are never reused (see db.last_id). A message whose
    (campaign, client, occurrence) is queued already is left out: its id in the result is None."""
    if not conn.in_transaction:
        raise RuntimeError("outbox.write runs inside a write transaction")  # ids are taken under the write lock
    if kind not in KINDS:
        raise BadInput(t("outbox.bad_kind", kind=kind, allowed=", ".join(KINDS)))
    if not messages:
        return Written([], [])
    due = due_at or now
    expires = expires_at or expiry(store.config, due)
    due_s, expires_s, now_s = iso(due), iso(expires) if expires else None, iso(now)
    if priority is None:
        priority = BROADCAST if kind == "campaign" else PERSONAL
    if priority not in PRIORITIES:  # a claim looks for these only (claims.DUE)
        raise ValueError(f"priority {priority!r}: one of {PRIORITIES}")
    track = _tracker(store)
    item_link = _item_linker(store) if any(m.links for m in messages) else None
    first = last_id(conn, "messages") + 1
    rows, tokens = [], []
    for i, (client_id, channel, body, subject, html, language, occurrence, failed, links) in enumerate(messages):
        if channel not in CHANNELS:
            raise BadInput(t("outbox.bad_channel", channel=channel, allowed=", ".join(CHANNELS)))
        token = token_hex(12)
        tokens.append(token)
        if failed is not None:
            rows.append((first + i, campaign_id, occurrence, client_id, kind, channel, language, template,
                         None, "", None, token, "failed", failed[:500], priority, due_s, expires_s, now_s, now_s))
            continue
        if channel == "email" and not subject:
            raise BadInput(t("template.needs_subject"))
        html = languages.mark_html(html, language)
        if track is not None:
            body = track(token, body)
            html = track(token, html) if html else html
        for n, (item_id, url) in enumerate(links):
            body = body.replace(LINK.format(n), item_link(token, item_id, url))
        if channel == "email" and html is None and languages.rtl(language):
            html = languages.text_html(body, language)  # its links are tracked already
        rows.append((first + i, campaign_id, occurrence, client_id, kind, channel, language, template,
                     subject, body, html, token, "queued", None, priority, due_s, expires_s, now_s, now_s))
    ids = list(range(first, first + len(rows)))
    if conn.executemany(_INSERT, rows).rowcount < len(rows):
        present = {r[0] for r in conn.execute("SELECT id FROM messages WHERE id BETWEEN ? AND ?", [first, ids[-1]])}
        ids = [i if i in present else None for i in ids]
    return Written(ids, tokens)


def _tracker(store):
    """token, text -> the text with tracked links; None when no link key is configured."""
    from .. import links

    try:
        key = links.link_key()
    except CaseloadError:
        return None  # no webhook secret: no endpoint to record clicks, links stay as written
    base = store.config.daemon.public_url

    def track(token: str, text: str) -> str:
        return links.track_links(key, base, token, text) if "://" in text else text
    return track


def _item_linker(store):
    """token, item id, URL -> the item's own tracked link (it records the click against the
    client and the item); the URL itself when no link key is configured."""
    from .. import links

    try:
        key = links.link_key()
    except CaseloadError:
        return lambda token, item_id, url: url
    base = store.config.daemon.public_url
    return lambda token, item_id, url: links.item_url(key, base, token, url, item_id)


def enqueue(store, client_id: int, channel: str, body: str, *, subject: str | None = None, html: str | None = None,
            kind: str = "checkin", due_at: datetime | None = None, expires_at: datetime | None = None,
            campaign_id: int | None = None, occurrence: str = "", language: str | None = None,
            template: str | None = None, priority: int | None = None, conn=None,
            now: datetime | None = None) -> Queued | None:
    """Put one message in the outbox (through `write`); None when (campaign, client, occurrence)
    is queued already. Pass `conn` to queue inside the caller's transaction. System messages
    (e.g. the confirmation of a STOP) skip the opt-out and the frequency cap, never the quiet hours."""
    now = clock.now(now)
    one = [Message(client_id, channel, body, subject, html, language, occurrence)]
    args = dict(kind=kind, now=now, due_at=due_at, expires_at=expires_at, campaign_id=campaign_id,
                template=template, priority=priority)
    if conn is not None:
        return write(conn, store, one, **args)[0]
    with write_transaction(store.db) as c:
        return write(c, store, one, **args)[0]


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
    fit: str = "own"  # the language is the client's own, their second, or the fallback (caseload.languages)


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
    personal: bool = False  # a coach's message to one client (`client=`), not a segment that matched one
    fallback: str | None = None  # the organisation's language

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
        out = Reach(fallback=self.fallback)
        for p in self.messages:
            out.add(p.client_id, p.channel, self.due_at, language=p.language, fit=p.fit)
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


AWAY = ("phone", "letter")  # preferred channels that no message reaches: the call list and letters do


def channel_order(channel: str, preferred: str | None) -> list[str]:
    """The channels to try, in order. auto: the preferred one, else the other; none for a client
    who prefers phone or letter (nothing goes to them by another channel unless the coach chooses
    one: `channel`)."""
    if channel != "auto":
        return [channel]
    if preferred in AWAY:
        return []
    if preferred == "email":
        return ["email", "sms"]
    return ["sms", "email"]


def reachable(order: list[str], has_email, has_phone, opted) -> tuple[str | None, str]:
    """The first channel of `order` the client has an address for and has not opted out of;
    else None and why: "opted_out" or "no_address"."""
    why = "no_address"
    for ch in order:
        if not (has_email if ch == "email" else has_phone):
            continue
        if ch in opted:
            why = "opted_out"
            continue
        return ch, ""
    return None, why


def plan_queue(store, actor, segment: str | None, template: str, channel: str = "auto", at: str | None = None,
               campaign: str | None = None, now: datetime | None = None, keep_failed: bool = False,
               client: str | None = None) -> QueuePlan:
    """Who would get what: every client in the segment that the actor may see, on their channel
    (auto: the preferred one, else the other), rendered in their language. Writes nothing.
    A client whose message cannot be rendered stops the plan with BadInput, or with
    `keep_failed` (the daemon) goes into `failed` with the reason.

    `client` (a client number, instead of a segment) plans a coach's message to that one client:
    a personal message, sent before broadcasts (`QueuePlan.personal`)."""
    from .. import segments, templates

    access.require(actor, "coach", "teamlead", "admin")
    number, personal = client, client is not None  # `client` names each row below
    if personal:
        if segment:
            raise BadInput(t("queue.segment_or_client"))
        segment = "client_number = " + segments.quote_value(number.strip())
    elif not segment:
        raise BadInput(t("queue.segment_or_client"))
    if channel not in ("auto", *CHANNELS):
        raise BadInput(t("outbox.bad_channel", channel=channel, allowed="auto, sms, email"))
    now = clock.now(now)
    found = templates.variants(store, template)
    due = parse_at(store, at, now)
    expires = expiry(store.config, due)
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
    fields = ("id", "client_number", "first_name", "last_name", "email", "phone", "language", "second_language",
              "preferred_channel", "coach", "intake_date", "birth_date", "status", "outflow_type", "outflow_date")
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
        order = channel_order(channel, client["preferred_channel"])
        why, chosen = "no_channel" if order else f"prefers_{client['preferred_channel']}", None
        for ch in order:
            if not client["email" if ch == "email" else "phone"]:
                why = "no_address"
                continue
            if ch in opted.get(client["id"], ()):
                why = "opted_out"
                continue
            variant = templates.pick(found, ch, client["language"], fallback, client["second_language"])
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
                               rendered.subject, rendered.body, rendered.html,
                               languages.fit(variant.language, client["language"], client["second_language"])))
    if personal and not rows:
        raise NotFound(t("client.not_found", number=number))
    return QueuePlan(name, existing[0] if existing else None, template, segment, channel, due, expires,
                     planned, skipped, len(rows), failed, personal=personal, fallback=fallback)


def commit_queue(store, actor, plan: QueuePlan, now: datetime | None = None) -> dict:
    """Queue the plan in one transaction, audited as one "queue" entry on the campaign. Idempotent
    per (campaign, client): a client already in the campaign is never queued twice. A plan made
    for one client (`plan_queue(client=...)`) is a personal message (PERSONAL); a plan for a
    segment is a broadcast, however many clients it matched."""
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
        written = write(conn, store, [Message(p.client_id, p.channel, p.body, p.subject, p.html, p.language)
                                      for p in plan.messages],
                        kind="campaign", now=now, due_at=plan.due_at, expires_at=plan.expires_at, campaign_id=cid,
                        template=plan.template, priority=PERSONAL if plan.personal else BROADCAST)
        queued = written.count
        audit.record(conn, actor, "queue", f"campaign:{cid}")
    return {"campaign_id": cid, "campaign": plan.campaign, "queued": queued,
            "already": len(plan.messages) - queued + plan.skipped.get("already_queued", 0)}
