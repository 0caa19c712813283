"""Digests: one message per client with the items that fit them best (caseload.offers.matching),
on their channel and in their language, each item with its own tracked link.

`plan` works out who gets what and writes nothing; the CLI shows its reach and asks, as every
mass action does. `commit` writes the round in one transaction: a campaign row (so a digest
pauses, fails and reports like any campaign), a `digests` row, the messages through the one
writer (`outbox.write`, which makes each item's tracked link) and an `offers` row per item
shown, with its rank, score and whether it was an exploration slot or a random digest.

The policies: a client who opted out of a channel gets the other (or nothing), one who left
(outflow) or has no address nothing; a client who reached the frequency cap in the last 7 days
is left out of this round rather than queued behind it; during quiet hours the round is due
when they end; the send run checks opt-out, outflow, quiet hours and the cap again as each
message goes out. A schedule (`digest schedule`) queues a round every day or week at a local
time; the daemon runs the rounds that are due (`run_due`), once per schedule and day.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from secrets import token_hex

import numpy as np

from .. import access, audit, client_texts, clock, languages, outbox, owners, policy, segments
from ..clock import iso, parse_iso
from ..db import write_transaction
from ..errors import BadInput, NotFound
from ..i18n import t
from ..reach import Reach
from . import matching
from ..outbox import queue as outbox_queue

log = logging.getLogger("caseload.offers")

MAX_ITEMS = 10
SMS_TITLE = 60
EMAIL_TEXT = 300
WRITE_BLOCK = 2000
EVERY = {"1d": 1, "1w": 7}


@dataclass
class DigestPlan:
    segment: str
    n: int
    channel: str
    due_at: datetime
    expires_at: datetime | None
    cat: matching.Catalogue
    scan: matching.Scan
    picks: matching.Picks
    model: matching.Model
    channels: np.ndarray  # per scanned client: "" (none), "sms" or "email"
    skipped: Counter
    occurrence: str = ""
    schedule_id: int | None = None
    campaign_id: int | None = None
    now: datetime | None = None
    explore_share: float = 0.0
    random_share: float = 0.0
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # clients who get a digest
    fallback: str = "nl"  # the organisation's language

    @property
    def in_segment(self) -> int:
        return len(self.scan.ids)

    @property
    def count(self) -> int:
        return len(self.rows)

    def reach(self) -> Reach:
        """Who gets a digest, on which channel, and in which language (own, second or fallback)."""
        out = Reach(fallback=self.fallback)
        for k in self.rows:
            first, second = self.scan.languages[k]
            lang = frame_language(first, second, self.fallback)
            out.add(int(self.scan.ids[k]), str(self.channels[k]), self.due_at, lang, languages.fit(lang, first, second))
        return out

    def items_shown(self) -> int:
        return int((self.picks.items[self.rows] >= 0).sum()) if self.count else 0


def frame_language(first: str | None, second: str | None, fallback: str) -> str:
    """The language of a digest's own words: the client's, else their second, else the
    organisation's, as far as caseload has its client texts in it (locale/clients/)."""
    for lang in (first, second, fallback):
        if client_texts.has(lang):
            return lang
    return fallback


def _due(store, now: datetime) -> datetime:
    until = policy.quiet_until(store.config, now)
    return until if until is not None else now


def plan(store, actor, segment: str, n: int | None = None, channel: str = "auto", now: datetime | None = None,
         occurrence: str = "", campaign_id: int | None = None, schedule_id: int | None = None,
         expires_at: datetime | None = None, seed: int | None = None) -> DigestPlan:
    """Who gets which items: every client in the segment that the actor may see, each with their
    n best eligible items, on their channel. Writes nothing."""
    access.require(actor, "coach", "teamlead", "admin")
    n = store.config.offers.items if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ITEMS:
        raise BadInput(t("offers.bad_items", max=MAX_ITEMS))
    if channel not in ("auto", *outbox.CHANNELS):
        raise BadInput(t("outbox.bad_channel", channel=channel, allowed="auto, sms, email"))
    now = clock.now(now)
    today = now.astimezone(store.tz).date()
    where, params = segments.resolve_where(store, segment)
    scope, scope_params = access.client_scope(actor, "clients")
    with matching.small_cache(store):
        return _plan(store, segment, n, channel, now, today, where, params, scope, scope_params, occurrence,
                     campaign_id, schedule_id, expires_at, seed)


def _plan(store, segment, n, channel, now, today, where, params, scope, scope_params, occurrence, campaign_id,
          schedule_id, expires_at, seed) -> DigestPlan:
    cat = matching.catalogue(store, today)
    prof = matching.Profiler(store, cat)
    s = matching.scan(store, f"({scope}) AND ({where})", [*scope_params, *params], cat, prof, today)
    channels, active, skipped = _reachable(store, s, channel, now, campaign_id, occurrence)
    matching.give_back()  # the policy look-ups' rows and dicts, before the history's and ranking's arrays
    hist = matching.history(store, s, cat, now)
    model = matching.learn(s, cat, hist) if len(s.ids) else matching.load_model(store)
    cfg = store.config.offers
    rng = np.random.default_rng(seed)
    picks = matching.rank(store, s, cat, hist, model, n, rng, explore_share=cfg.explore_share,
                         random_share=cfg.random_share, active=active)
    has_items = picks.items[:, 0] >= 0 if n else np.zeros(len(s.ids), dtype=bool)
    skipped["no_items"] += int((active & ~has_items).sum())
    if not skipped["no_items"]:
        del skipped["no_items"]
    rows = np.nonzero(active & has_items)[0]
    due = _due(store, now)
    expires = expires_at or outbox_queue.expiry(store.config, due)
    return DigestPlan(segment, n, channel, due, expires, cat, s, picks, model, channels, skipped, occurrence,
                      schedule_id, campaign_id, now, cfg.explore_share, cfg.random_share, rows,
                      store.config.message_language)


def _reachable(store, s, channel: str, now: datetime, campaign_id, occurrence: str):
    """Per scanned client: the channel a digest goes on ("" for none), whether they get one, and
    why the others do not (outflow, opted out, no address, at the frequency cap, queued already)."""
    skipped: Counter = Counter()
    opted: dict[int, set] = {}
    for cid, ch in store.db.execute("SELECT client_id, channel FROM opt_outs"):
        opted.setdefault(cid, set()).add(ch)
    recent = policy.recent_counts(store.db.conn, store.config, s.ids.tolist(), now)
    cap = store.config.policy.max_per_week
    already = set()
    if campaign_id is not None:
        already = {r[0] for r in store.db.execute(
            "SELECT client_id FROM messages WHERE campaign_id = ? AND occurrence = ?", [campaign_id, occurrence])}
    channels = np.full(len(s.ids), "", dtype=object)
    active = np.zeros(len(s.ids), dtype=bool)
    for k, cid in enumerate(s.ids.tolist()):
        preferred, has_email, has_phone, status = s.channels[k]
        if cid in already:
            skipped["already_queued"] += 1
            continue
        if status in policy.NO_MESSAGES:
            skipped["outflow"] += 1
            continue
        order = outbox_queue.channel_order(channel, preferred)
        chosen, why = outbox_queue.reachable(order, has_email, has_phone, opted.get(cid, ()))
        if chosen is None:
            skipped[why if order else f"prefers_{preferred}"] += 1
            continue
        if cap > 0 and recent.get(cid, (0, None))[0] >= cap:
            skipped["frequency_cap"] += 1
            continue
        channels[k] = chosen
        active[k] = True
    return channels, active, skipped


def render(store, lang: str, channel: str, first_name: str | None, items: list[dict]) -> tuple[str | None, str]:
    """(subject, body) of one digest; item n's link is outbox.LINK.format(n)."""
    name = (first_name or "").strip()
    greeting = (client_texts.text("digest.greeting", lang, name=name) if name
                else client_texts.text("digest.greeting_plain", lang))
    if channel == "sms":
        lines = [f"{greeting} {client_texts.text('digest.intro', lang)}"]
        for k, it in enumerate(items):
            title = it["title"] if len(it["title"]) <= SMS_TITLE else it["title"][:SMS_TITLE - 1] + "…"
            lines.append(f"{k + 1}. {title} {outbox.LINK.format(k)}")
        lines.append(client_texts.text("digest.stop_sms", lang))
        return None, "\n".join(lines)
    lines = [greeting, "", client_texts.text("digest.intro", lang), ""]
    for k, it in enumerate(items):
        lines.append(f"{k + 1}. {it['title']}")
        text = " ".join((it.get("text") or "").split())
        if text:
            lines.append("   " + (text if len(text) <= EMAIL_TEXT else text[:EMAIL_TEXT - 1] + "…"))
        lines.append("   " + outbox.LINK.format(k))
        lines.append("")
    lines += [client_texts.text("digest.closing", lang), store.config.organisation.name]
    return client_texts.text("digest.subject", lang, n=len(items)), "\n".join(lines)


def commit(store, actor, p: DigestPlan, now: datetime | None = None, advance: tuple | None = None) -> dict:
    """Queue the plan in one transaction; audited as one "digest" entry. Returns the digest id,
    campaign id and how many messages and items were queued. `advance` (next_at, occurrence)
    moves the plan's schedule on in the same transaction."""
    access.require(actor, "coach", "teamlead", "admin")
    now = clock.now(now or p.now)
    s, picks, cat = p.scan, p.picks, p.cat
    queued = shown = 0
    with write_transaction(store.db) as conn:
        cid = p.campaign_id
        if cid is None:
            name = f"{t('offers.campaign_name', lang=store.config.message_language)} {iso(now)} {token_hex(2)}"
            cid = conn.execute(
                "INSERT INTO campaigns (name, template, segment, channel, owner, author, created_at, updated_at)"
                " VALUES (?, NULL, ?, ?, ?, ?, ?, ?)",
                [name, p.segment, p.channel, actor.name, actor.name, iso(now), iso(now)]).lastrowid
        digest_id = conn.execute(
            "INSERT INTO digests (campaign_id, schedule_id, occurrence, segment, items, random_share, explore_share,"
            " author, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [cid, p.schedule_id, p.occurrence, p.segment, p.n, p.random_share, p.explore_share, actor.name,
             iso(now)]).lastrowid
        priority = outbox.PERSONAL if p.count == 1 else outbox.BROADCAST
        shown_at = iso(now)
        for start in range(0, p.count, WRITE_BLOCK):
            block = p.rows[start:start + WRITE_BLOCK]
            messages, offers = [], []
            for k in block.tolist():
                cols = [int(c) for c in picks.items[k] if c >= 0]
                its = [cat.rows[c] for c in cols]
                first, second = s.languages[k]
                lang = frame_language(first, second, store.config.message_language)
                subject, body = render(store, lang, str(p.channels[k]), s.first_names[k], its)
                messages.append(outbox.Message(int(s.ids[k]), str(p.channels[k]), body, subject, None, lang,
                                               p.occurrence, None, tuple((it["id"], it["url"]) for it in its)))
                offers.append([(cat.rows[c]["id"], slot + 1, float(picks.scores[k, slot]),
                                int(picks.explore[k, slot]), int(picks.random[k]))
                               for slot, c in enumerate(picks.items[k].tolist()) if c >= 0])
            written = outbox.write(conn, store, messages, kind="campaign", now=now, due_at=p.due_at,
                                   expires_at=p.expires_at, campaign_id=cid, priority=priority)
            rows = []
            for j, mid in enumerate(written.ids):
                if mid is None:
                    continue
                queued += 1
                client = messages[j].client_id
                rows += [(digest_id, mid, client, item, rank, score, explore, rnd, shown_at)
                         for item, rank, score, explore, rnd in offers[j]]
            conn.executemany("INSERT INTO offers (digest_id, message_id, client_id, item_id, rank, score, explore,"
                             " random, shown_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            shown += len(rows)
        if len(p.scan.ids):
            matching.save_model(conn, p.model, now)
        if advance is not None:
            conn.execute("UPDATE digest_schedules SET next_at = ?, last_occurrence = ?, updated_at = ? WHERE id = ?",
                         [advance[0], advance[1], iso(now), p.schedule_id])
        audit.record(conn, actor, "digest", f"digest:{digest_id}")
    return {"digest_id": digest_id, "campaign_id": cid, "queued": queued, "items": shown,
            "already": p.skipped.get("already_queued", 0)}


# --- schedules --------------------------------------------------------------------------------

SCHEDULE_COLUMNS = ("id", "campaign_id", "segment", "every_days", "at_time", "items", "channel", "status",
                    "next_at", "last_occurrence", "owner", "author", "created_at", "updated_at")


def _at(text: str | None) -> str:
    import re

    text = (text or "09:00").strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise BadInput(t("offers.bad_at", value=text))
    return f"{int(m[1]):02d}:{m[2]}"


def next_at(store, at_time: str, after: datetime, every_days: int = 1, last: datetime | None = None) -> datetime:
    """The next local at_time after `after` (from `last`: every_days later)."""
    hh, mm = (int(x) for x in at_time.split(":"))
    if last is not None:
        day = last.astimezone(store.tz).date() + timedelta(days=every_days)
    else:
        day = after.astimezone(store.tz).date()
    moment = datetime.combine(day, time(hh, mm), tzinfo=store.tz)
    while moment <= after:
        day += timedelta(days=1 if last is None else every_days)
        moment = datetime.combine(day, time(hh, mm), tzinfo=store.tz)
    return moment.astimezone(timezone.utc)


def plan_schedule(store, actor, segment: str, every: str, at: str | None = None, n: int | None = None,
                  channel: str = "auto", now: datetime | None = None) -> tuple[DigestPlan, datetime]:
    """The first round of a new schedule as it would go out now, and when it will."""
    now = clock.now(now)
    if every not in EVERY:
        raise BadInput(t("offers.bad_every", value=every, allowed=", ".join(EVERY)))
    at_time = _at(at)
    first = next_at(store, at_time, now - timedelta(seconds=1))
    segments.check(store, segment)
    p = plan(store, actor, segment, n, channel, now)
    p.due_at = max(p.due_at, first)
    return p, first


def add_schedule(store, actor, segment: str, every: str, at: str | None = None, n: int | None = None,
                 channel: str = "auto", now: datetime | None = None) -> dict:
    access.require(actor, "coach", "teamlead", "admin")
    now = clock.now(now)
    if every not in EVERY:
        raise BadInput(t("offers.bad_every", value=every, allowed=", ".join(EVERY)))
    n = store.config.offers.items if n is None else n
    if not 1 <= n <= MAX_ITEMS:
        raise BadInput(t("offers.bad_items", max=MAX_ITEMS))
    if channel not in ("auto", *outbox.CHANNELS):
        raise BadInput(t("outbox.bad_channel", channel=channel, allowed="auto, sms, email"))
    at_time = _at(at)
    segments.check(store, segment)
    first = next_at(store, at_time, now - timedelta(seconds=1))
    with write_transaction(store.db) as conn:
        name = f"{t('offers.campaign_name', lang=store.config.message_language)} {segment[:60]} {token_hex(2)}"
        cid = conn.execute(
            "INSERT INTO campaigns (name, template, segment, channel, owner, author, created_at, updated_at)"
            " VALUES (?, NULL, ?, ?, ?, ?, ?, ?)", [name, segment, channel, actor.name, actor.name, iso(now),
                                                   iso(now)]).lastrowid
        sid = conn.execute(
            "INSERT INTO digest_schedules (campaign_id, segment, every_days, at_time, items, channel, next_at, owner,"
            " author, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [cid, segment, EVERY[every], at_time, n, channel, iso(first), actor.name, actor.name, iso(now),
             iso(now)]).lastrowid
        audit.record(conn, actor, "digest_schedule", f"digest_schedule:{sid}")
    return get_schedule(store, sid)


def get_schedule(store, sid) -> dict:
    row = store.db.execute(f"SELECT {', '.join(SCHEDULE_COLUMNS)} FROM digest_schedules WHERE CAST(id AS TEXT) = ?",
                           [str(sid)]).fetchone()
    if row is None:
        raise NotFound(t("offers.unknown_schedule", id=sid))
    return dict(zip(SCHEDULE_COLUMNS, row))


def list_schedules(store, actor) -> list[dict]:
    access.require(actor, "coach", "teamlead", "admin")
    return [dict(zip(SCHEDULE_COLUMNS, r)) for r in store.db.execute(
        f"SELECT {', '.join(SCHEDULE_COLUMNS)} FROM digest_schedules ORDER BY id")]


def set_status(store, actor, sid, status: str) -> None:
    """Pause or resume a schedule (its owner, their team lead or an admin)."""
    access.require(actor, "coach", "teamlead", "admin")
    s = get_schedule(store, sid)
    with write_transaction(store.db) as conn:
        owners.require(conn, actor, s["owner"], t("offers.schedule_what", id=s["id"]))
        conn.execute("UPDATE digest_schedules SET status = ?, updated_at = ? WHERE id = ?",
                     [status, clock.utcnow(), s["id"]])
        conn.execute("UPDATE campaigns SET status = ?, updated_at = ? WHERE id = ?",
                     [status, clock.utcnow(), s["campaign_id"]])
        audit.record(conn, actor, "pause" if status == "paused" else "resume", f"digest_schedule:{s['id']}")


def _schedule_actor(store, s: dict):
    """The schedule's owner, while an active user; else None (the round waits, as a campaign's)."""
    from ..errors import CaseloadError

    try:
        return access.resolve_actor(store.db, s["owner"], interface="daemon")
    except CaseloadError:
        log.warning("digest schedule %d skipped: its owner is not an active user", s["id"])
        return None


def run_due(store, now: datetime | None = None) -> dict:
    """Queue every scheduled round that is due (the daemon, each tick). A round is one
    occurrence per schedule and local day: queued once, also after a crash in between."""
    now = clock.now(now)
    out = {"rounds": 0, "queued": 0}
    due = store.db.execute("SELECT id FROM digest_schedules WHERE status = 'active' AND next_at <= ? ORDER BY next_at",
                           [iso(now)]).fetchall()
    for (sid,) in due:
        s = get_schedule(store, sid)
        at = parse_iso(s["next_at"])
        occurrence = at.astimezone(store.tz).date().isoformat()
        nxt = next_at(store, s["at_time"], now, s["every_days"], last=at)
        actor = _schedule_actor(store, s)
        if actor is None or actor.role == "analyst":
            continue
        expires = at + timedelta(days=s["every_days"])
        p = plan(store, actor, s["segment"], s["items"], s["channel"], now, occurrence=occurrence,
                 campaign_id=s["campaign_id"], schedule_id=s["id"], expires_at=expires)
        r = commit(store, actor, p, now, advance=(iso(nxt), occurrence))
        del p
        matching.give_back()
        out["rounds"] += 1
        out["queued"] += r["queued"]
    return out
