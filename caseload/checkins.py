"""Check-ins: "hoe gaat het met je?" asked often, a question or two at a time.

A check-in asks one client the wellbeing question and at most one or two other
characteristics, on the client's channel and in the client's language, using the catalog's
question texts. Which others: only those with a purpose for this client, missing or most stale
first. A characteristic has a purpose for a client when the check-in names it (`--ask`, the
coach's reason for this segment), or when the client already has a value for it (someone
recorded it for a reason) and it is not special-category data; a missing one is asked only when
named. Only missing or stale characteristics are asked (a fresh value needs no question), and
only those a reply can fill (`ANSWERABLE`): never free text, which a client could fill with anything.

Over SMS each question is its own message, wellbeing first; the next is queued when the previous
is answered (replies.py) or its reply window (config.daemon.reply_window_hours) closes
(activity.update). By email all questions go in one message, each answer option a signed one-tap
link. A check-in closes as answered (any answer), unanswered (none: counts towards inactivity)
or cancelled (nothing could be asked, e.g. after STOP).

Rhythm: a schedule (`caseload checkin schedule --segment S --every 2w`) gives every client in its
segment a check-in when their last one, of any schedule, started `every` days ago or more (by
local date), at the schedule's local time. A new or resumed schedule's first round waits for the
next such time (`starts_at`), never the next tick. `caseload checkin now` starts a round at once. The
daemon's `run_schedules` is driven by the database ("due and not yet done"), never by the
scheduler's memory, so a missed minute or a restart loses nothing and repeats nothing.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from . import access, audit, client_texts, languages, outbox, segments
from .db import last_id, write_transaction
from .outbox.queue import reachable
from .errors import BadInput, NotFound
from .i18n import pick, t
from .clock import iso
from .policy import NO_MESSAGES
from .reach import Reach

log = logging.getLogger("caseload.checkins")

WELLBEING = "wellbeing"
MAX_EXTRA = 2
# a reply fills only what can be parsed and checked; free text from a client never enters a profile
ANSWERABLE = ("bool", "enum", "scale", "number", "date")
CHANNELS = ("auto", "sms", "email")
_EVERY = re.compile(r"\s*(\d{1,3})\s*(d|day|days|dag|dagen|w|wk|week|weeks|weken)?\s*", re.I)
_AT = re.compile(r"\s*(\d{1,2}):(\d{2})\s*")


def parse_every(text: str) -> int:
    """"2w", "14d", "3 weeks", "10 dagen" -> days (1 to 365); a bare number means days."""
    m = _EVERY.fullmatch(str(text or ""))
    if not m:
        raise BadInput(t("checkin.bad_every", value=text))
    n = int(m[1])
    days = n * 7 if (m[2] or "d").lower().startswith("w") else n
    if not 1 <= days <= 365:
        raise BadInput(t("checkin.bad_every", value=text))
    return days


def parse_at(text: str) -> str:
    m = _AT.fullmatch(str(text or ""))
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise BadInput(t("checkin.bad_at", value=text))
    return f"{int(m[1]):02d}:{m[2]}"


def _ask_keys(store, ask) -> list[str]:
    keys = [store.catalog.require(k.strip()).key
            for k in (ask.split(",") if isinstance(ask, str) else ask or ()) if k and k.strip()]
    for k in keys:
        c = store.catalog[k]
        if not c.question:
            raise BadInput(t("checkin.no_question", key=k))
        if c.type not in ANSWERABLE:
            raise BadInput(t("checkin.not_answerable", key=k, type=c.type, allowed=", ".join(ANSWERABLE)))
    return list(dict.fromkeys(keys))


def channel_order(channel: str, preferred: str | None) -> list[str]:
    """auto: the client's preferred channel, else the other (as `caseload queue` does); a client
    who prefers phone gets a call (the check-in is on the call list, caseload.calls), one who
    prefers letters no check-in."""
    if channel != "auto":
        return [channel]
    if preferred == "phone":
        return ["phone"]
    if preferred == "letter":
        return []
    return ["email", "sms"] if preferred == "email" else ["sms", "email"]


# --- texts ---------------------------------------------------------------------------------

def question_text(store, key: str, lang: str) -> str:
    """The catalog's question in `lang` where it has one, else in the organisation's language."""
    question = store.catalog[key].question
    return question.get(lang) or question.get(store.config.message_language) or pick(question, lang)


def has_question(store, key: str, lang: str) -> bool:
    return key in store.catalog and lang in store.catalog[key].question


def check_in_language(store, keys: list[str], language: str | None, second: str | None) -> tuple[str, str]:
    """(language, fit) of a check-in: the client's language, else their second, when caseload has
    the client texts in it and the catalog the first question; else the organisation's language."""
    first = keys[0] if keys else WELLBEING
    chosen, fit = languages.choose(lambda code: client_texts.has(code) and has_question(store, first, code),
                                   language, second, store.config.message_language)
    if chosen is None:
        return store.config.message_language, languages.FALLBACK
    return chosen, fit


def _name(name: str | None, lang: str) -> str:
    return (name or "").strip() or client_texts.text("checkin.no_name", lang)


def sms_body(store, key: str, lang: str, first: bool, name: str | None) -> str:
    q = question_text(store, key, lang)
    if not first:
        return q
    return client_texts.text("checkin.sms_first", lang, name=_name(name, lang), question=q)


def answer_label(c, value, lang: str) -> str:
    """An answer in the client's words: yes/no in their language, a scale point with its label
    where the catalog has one in that language, an enum value's label (else the catalog's usual)."""
    if c.type == "bool":
        return client_texts.text("answers.yes_label" if value else "answers.no_label", lang)
    if c.type == "scale":
        label = c.scale_labels.get(str(value), {}).get(lang)
        return f"{value} ({label})" if label else str(value)
    if c.type == "enum":
        return c.value_labels.get(value, {}).get(lang) or c.value_title(value, lang)
    return str(value)


def options(c, lang: str) -> list[tuple[str, str]]:
    """(value as put in a link, label in the client's language) for a closed set of answers."""
    if c.type == "scale" and c.max - c.min <= 10:
        return [(str(v), answer_label(c, v, lang)) for v in range(int(c.min), int(c.max) + 1)]
    if c.type == "bool":
        return [("ja", answer_label(c, True, lang)), ("nee", answer_label(c, False, lang))]
    if c.type == "enum":
        return [(v, answer_label(c, v, lang)) for v in c.values]
    return []


def email_body(store, keys: list[str], lang: str, name: str | None, links: dict | None) -> str:
    """The text of a check-in email; `links` maps position -> [(label, url)] for one-tap answers."""
    lines = [client_texts.text("checkin.email_greeting", lang, name=_name(name, lang)), ""]
    for pos, key in enumerate(keys):
        lines.append(f"{pos + 1}. {question_text(store, key, lang)}")
        for label, url in (links or {}).get(pos, []):
            lines.append(f"   {label}: {url}")
        lines.append("")
    lines.append(client_texts.text("checkin.email_reply_hint", lang))
    lines.append(client_texts.text("checkin.email_stop_hint", lang))
    return "\n".join(lines) + "\n"


def email_html(store, keys: list[str], lang: str, name: str | None, links: dict | None) -> str:
    """The HTML part of a check-in email (sent for right-to-left languages, so the text runs the
    right way): the same text as `email_body`, each one-tap answer a link."""
    from html import escape

    rtl = ' dir="rtl"' if languages.rtl(lang) else ""
    out = [f'<!doctype html><html lang="{escape(lang)}"{rtl}><head><meta charset="utf-8"></head>'
           '<body style="font-family:sans-serif;font-size:16px;line-height:1.5">',
           f"<p>{escape(client_texts.text('checkin.email_greeting', lang, name=_name(name, lang)))}</p>"]
    for pos, key in enumerate(keys):
        out.append(f"<p><b>{pos + 1}. {escape(question_text(store, key, lang))}</b></p>")
        answers = (links or {}).get(pos, [])
        if answers:
            out.append("<p>" + " ".join(
                f'<a href="{escape(url, quote=True)}" style="display:inline-block;min-width:44px;padding:10px 14px;'
                f'margin:4px;border:1px solid #1a5fb4;border-radius:6px;text-decoration:none">{escape(label)}</a>'
                for label, url in answers) + "</p>")
    out.append(f"<p>{escape(client_texts.text('checkin.email_reply_hint', lang))}<br>"
               f"{escape(client_texts.text('checkin.email_stop_hint', lang))}</p></body></html>")
    return "".join(out)


# --- choosing questions --------------------------------------------------------------------

def candidate_keys(store, ask: list[str]) -> list[str]:
    """Characteristics a check-in may ask besides wellbeing: the named ones, and every
    non-special one with a question and an answer a reply can give (asked only when the client
    has a stale value)."""
    out = list(k for k in ask if k != WELLBEING)
    for c in store.catalog:
        if (c.key != WELLBEING and c.question and not c.special and c.type in ANSWERABLE
                and c.key not in out):
            out.append(c.key)
    return out


def picker(store, ask: list[str], extra: int, keys: list[str], now: datetime):
    """A function from a client's observed-at times (in `keys` order; None: no value) to the
    questions for that client: wellbeing, then up to `extra` others, missing first (only named
    ones), then the most stale (age over max age, largest first). Built once per round."""
    base = [WELLBEING] if WELLBEING in store.catalog and store.catalog[WELLBEING].question else []
    named = set(ask)
    where = {k: i for i, k in enumerate(keys)}
    missing_keys = [(k, where.get(k)) for k in ask if k != WELLBEING]
    spec = []
    for i, k in enumerate(keys):
        c = store.catalog[k]
        if k == WELLBEING or (c.special and k not in named):
            continue
        spec.append((i, k, iso(now - timedelta(days=c.max_age_days)), c.max_age_days * 86400.0))
    now_ts = now.timestamp()

    def pick(values) -> list[str]:
        if extra <= 0:
            return base
        missing = [k for k, i in missing_keys if i is None or values[i] is None]
        if len(missing) >= extra:
            return base + missing[:extra]
        # ISO text in UTC sorts as time does: only the stale ones are parsed
        stale = [(i, k, limit) for i, k, cut, limit in spec if values[i] is not None and values[i] < cut]
        if stale:
            ranked = sorted(((now_ts - datetime.fromisoformat(values[i].replace("Z", "+00:00")).timestamp()) / limit, k)
                            for i, k, limit in stale)
            missing += [k for _, k in reversed(ranked)]
        return base + missing[:extra]

    return pick


def choose(store, ask: list[str], extra: int, observed: dict[str, str | None], now: datetime) -> list[str]:
    """The questions for one client (see `picker`); `observed` maps key -> observed-at or None."""
    keys = list(observed)
    return picker(store, list(ask), extra, keys, now)([observed[k] for k in keys])


@dataclass
class Planned:
    client_id: int
    channel: str
    language: str
    name: str | None
    keys: list[str]
    fit: str = languages.OWN  # the language is the client's own, their second, or the fallback


@dataclass
class RoundPlan:
    planned: list[Planned] = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    in_segment: int = 0
    fallback: str | None = None  # the organisation's language

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def reach(self, at: datetime) -> Reach:
        """Who the round messages: one first message per check-in (over SMS the next question
        follows a reply), all going out at `at`."""
        out = Reach(fallback=self.fallback)
        for p in self.planned:
            if p.channel != "phone":  # a call on the call list, not a message
                out.add(p.client_id, p.channel, at, language=p.language, fit=p.fit)
        return out


def _local_day_start(store, day: date) -> str:
    return iso(datetime.combine(day, time(0), tzinfo=store.tz))


def plan_round(store, actor, segment: str, now: datetime | None = None, *, ask=(), extra: int = MAX_EXTRA,
               channel: str = "auto", every_days: int | None = None) -> RoundPlan:
    """Who gets a check-in now and what it asks; writes nothing. Clients with an open check-in
    are left out, and with `every_days` also those whose last check-in is more recent."""
    access.require(actor, "coach", "teamlead", "admin")
    if channel not in CHANNELS:
        raise BadInput(t("checkin.bad_channel", channel=channel, allowed=", ".join(CHANNELS)))
    if not 0 <= extra <= MAX_EXTRA:
        raise BadInput(t("checkin.bad_questions", max=MAX_EXTRA + 1))
    now = now or datetime.now(timezone.utc)
    ask = _ask_keys(store, ask)
    where, params = segments.resolve_where(store, segment)
    scope, scope_params = access.client_scope(actor, "clients")
    keys = candidate_keys(store, ask)
    cols = ", ".join(f'profile_times."{store.catalog[k].at_column}"' for k in keys)
    recent = ""
    args = [*scope_params, *params]
    if every_days is not None:
        today = now.astimezone(store.tz).date()
        recent = " OR c.created_at >= ?"
        args.append(_local_day_start(store, today - timedelta(days=every_days - 1)))
    sql = (f"SELECT clients.id, clients.first_name, clients.language, clients.second_language,"
           f" clients.preferred_channel,"
           f" clients.email IS NOT NULL AND clients.email != '', clients.phone IS NOT NULL AND clients.phone != '',"
           f" clients.status{', ' + cols if cols else ''}"
           f" FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
           f" LEFT JOIN profile_times ON profile_times.client_id = clients.id"
           f" WHERE ({scope}) AND ({where})"
           f" AND NOT EXISTS (SELECT 1 FROM checkins c WHERE c.client_id = clients.id AND (c.status = 'open'{recent}))"
           f" ORDER BY clients.id")
    opted: dict[int, set] = {}
    for cid, ch in store.db.execute("SELECT client_id, channel FROM opt_outs"):
        opted.setdefault(cid, set()).add(ch)
    pick = picker(store, ask, extra, keys, now)
    plan = RoundPlan(fallback=store.config.message_language)
    for row in store.db.execute(sql, args):
        cid, first, lang, second, preferred, has_email, has_phone, status = row[:8]
        plan.in_segment += 1
        if status in NO_MESSAGES:
            plan.skip("outflow")
            continue
        order = channel_order(channel, preferred)
        chosen, why = reachable(order, has_email, has_phone, opted.get(cid, ()))
        if chosen is None:
            plan.skip(why if order else "prefers_letter")
            continue
        chosen_keys = pick(row[8:])
        if not chosen_keys:
            plan.skip("nothing_to_ask")
            continue
        language, fit = check_in_language(store, chosen_keys, lang, second)
        plan.planned.append(Planned(cid, chosen, language, first, chosen_keys, fit))
    return plan


def _link_key():
    from .links import link_key
    from .errors import CaseloadError

    try:
        return link_key()
    except CaseloadError:
        return None  # no secret: emails ask for a reply instead of one-tap links


def queue_round(store, actor, plan: RoundPlan, now: datetime | None = None, schedule_id: int | None = None) -> dict:
    """Queue the planned check-ins in one transaction: per client a check-in, its questions and
    the first message (SMS: the wellbeing question; email: all questions), written by the
    outbox's writer. Audited once."""
    from . import links

    access.require(actor, "coach", "teamlead", "admin")
    now = now or datetime.now(timezone.utc)
    now_s = iso(now)
    key = _link_key()
    base = store.config.daemon.public_url
    link_expiry = links.expiry(store.config, now)
    option_cache: dict = {}
    checkin_rows, messages, questions, called = [], [], [], []
    with write_transaction(store.db) as conn:
        # one open check-in per client, also when another process queued one meanwhile
        busy = {r[0] for r in conn.execute("SELECT client_id FROM checkins WHERE status = 'open'")}
        kid = last_id(conn, "checkins")
        for p in plan.planned:
            if p.client_id in busy:
                continue
            busy.add(p.client_id)
            kid += 1
            checkin_rows.append((kid, p.client_id, schedule_id, p.channel, p.language, now_s))
            if p.channel == "phone":  # a call: every question on the call list at once, no message
                called += [(kid, pos, p.client_id, k, None, "queued") for pos, k in enumerate(p.keys)]
                continue
            if p.channel == "sms":
                body, subject, html = sms_body(store, p.keys[0], p.language, True, p.name), None, None
                questions.append((kid, p.client_id, p.keys, False))
            else:
                links_by_pos = {}
                if key is not None:
                    for pos, k in enumerate(p.keys):
                        opts = option_cache.get((k, p.language))
                        if opts is None:
                            opts = option_cache[(k, p.language)] = options(store.catalog[k], p.language)
                        if opts:
                            token = links.answer_token(key, kid, pos, link_expiry)
                            links_by_pos[pos] = [(label, links.answer_url(base, token, value)) for value, label in opts]
                body = email_body(store, p.keys, p.language, p.name, links_by_pos)
                subject = client_texts.text("checkin.email_subject", p.language)
                html = email_html(store, p.keys, p.language, p.name, links_by_pos) if languages.rtl(p.language) else None
                questions.append((kid, p.client_id, p.keys, True))
            messages.append(outbox.Message(p.client_id, p.channel, body, subject, html, p.language,
                                           f"checkin:{kid}:0"))
        conn.executemany("INSERT INTO checkins (id, client_id, schedule_id, channel, language, status, created_at)"
                         " VALUES (?, ?, ?, ?, ?, 'open', ?)", checkin_rows)
        written = outbox.write(conn, store, messages, kind="checkin", now=now)
        question_rows = called
        for (kid, cid, keys, all_at_once), mid in zip(questions, written.ids):
            question_rows += [(kid, pos, cid, k, mid if all_at_once or pos == 0 else None,
                               "queued" if all_at_once or pos == 0 else "waiting") for pos, k in enumerate(keys)]
        conn.executemany("INSERT INTO checkin_questions (checkin_id, position, client_id, characteristic, message_id,"
                         " status) VALUES (?, ?, ?, ?, ?, ?)", question_rows)
        if checkin_rows:
            audit.record(conn, actor, "checkin_round", f"checkin_schedule:{schedule_id}" if schedule_id else "checkins",
                         f"queued:{len(checkin_rows)}")
    return {"queued": len(checkin_rows), "skipped": dict(plan.skipped), "in_segment": plan.in_segment}


def queue_next(conn, store, checkin_id: int, now: datetime) -> bool:
    """Queue the next waiting SMS question of a check-in (inside the caller's transaction).
    False when none is waiting; remaining questions are skipped when the client opted out."""
    row = conn.execute(
        "SELECT q.position, q.characteristic, q.client_id, k.language FROM checkin_questions q"
        " JOIN checkins k ON k.id = q.checkin_id WHERE q.checkin_id = ? AND q.status = 'waiting'"
        " ORDER BY q.position LIMIT 1", [checkin_id]).fetchone()
    if row is None:
        return False
    pos, key, cid, lang = row
    blocked = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM opt_outs WHERE client_id = ? AND channel = 'sms'),"
        " (SELECT status FROM clients WHERE id = ?)", [cid, cid]).fetchone()
    if blocked[0] or blocked[1] is None or blocked[1] in NO_MESSAGES or key not in store.catalog:
        conn.execute("UPDATE checkin_questions SET status = 'skipped' WHERE checkin_id = ? AND status = 'waiting'",
                     [checkin_id])
        return False
    q = outbox.enqueue(store, cid, "sms", sms_body(store, key, lang, False, None), kind="checkin",
                       occurrence=f"checkin:{checkin_id}:{pos}", language=lang, conn=conn, now=now)
    if q is None:  # queued before (a replay): point at that message
        mid = conn.execute("SELECT id FROM messages WHERE campaign_id IS NULL AND client_id = ? AND occurrence = ?",
                           [cid, f"checkin:{checkin_id}:{pos}"]).fetchone()
        message_id = mid[0] if mid else None
    else:
        message_id = q.id
    conn.execute("UPDATE checkin_questions SET status = 'queued', message_id = ? WHERE checkin_id = ? AND position = ?",
                 [message_id, checkin_id, pos])
    return True


def fallback_to_sms(conn, store, message_id: int, occurrence: str, now: datetime):
    """A check-in email that failed hard goes on by SMS (inside the caller's transaction; see
    caseload.fallback): the check-in becomes an SMS check-in, its first question is written as a
    new SMS (through outbox.write, with `occurrence`) and the others wait for the answer, as in
    any SMS check-in. Returns (message id, None), or (None, reason) when it cannot."""
    row = conn.execute(
        "SELECT k.id, k.status, k.language, c.first_name FROM checkin_questions q JOIN checkins k ON k.id = q.checkin_id"
        " JOIN clients c ON c.id = k.client_id WHERE q.message_id = ? ORDER BY q.position LIMIT 1",
        [message_id]).fetchone()
    if row is None:
        return None, "no_checkin"
    kid, status, lang, first = row
    if status != "open":
        return None, "checkin_closed"
    keys = [r[0] for r in conn.execute("SELECT characteristic FROM checkin_questions WHERE checkin_id = ?"
                                       " AND status IN ('queued', 'asked', 'waiting') ORDER BY position", [kid])]
    keys = [k for k in keys if k in store.catalog]
    if not keys:
        return None, "checkin_closed"
    cid = conn.execute("SELECT client_id FROM checkins WHERE id = ?", [kid]).fetchone()[0]
    written = outbox.write(conn, store, [outbox.Message(cid, "sms", sms_body(store, keys[0], lang, True, first),
                                                        None, None, lang, occurrence)], kind="checkin", now=now)
    if written[0] is None:
        return None, "already_queued"
    conn.execute("UPDATE checkins SET channel = 'sms' WHERE id = ?", [kid])
    conn.execute("UPDATE checkin_questions SET status = 'waiting', message_id = NULL, asked_at = NULL, closes_at = NULL"
                 " WHERE checkin_id = ? AND status IN ('queued', 'asked')", [kid])
    conn.execute("UPDATE checkin_questions SET status = 'queued', message_id = ? WHERE checkin_id = ? AND position ="
                 " (SELECT MIN(position) FROM checkin_questions WHERE checkin_id = ? AND status = 'waiting'"
                 " AND characteristic = ?)", [written[0].id, kid, kid, keys[0]])
    return written[0].id, None


# --- schedules -----------------------------------------------------------------------------

SCHEDULE_COLUMNS = ("id", "segment", "every_days", "ask", "extra", "at_time", "channel", "status", "owner",
                    "author", "created_at")


def first_round_at(store, at_time: str, now: datetime) -> datetime:
    """When a schedule made or resumed at `now` starts its first round: the next `at_time` in the
    organisation's timezone (today's when it has not passed yet)."""
    local = now.astimezone(store.tz)
    h, m = (int(x) for x in at_time.split(":"))
    moment = datetime.combine(local.date(), time(h, m), tzinfo=store.tz)
    if moment < local.replace(second=0, microsecond=0):
        moment = datetime.combine(local.date() + timedelta(days=1), time(h, m), tzinfo=store.tz)
    return moment.astimezone(timezone.utc)


def _schedule_args(store, actor, segment: str, every, ask, questions: int, at: str, channel: str):
    access.require(actor, "coach", "teamlead", "admin")
    days = every if isinstance(every, int) else parse_every(every)
    if not 1 <= questions <= MAX_EXTRA + 1:
        raise BadInput(t("checkin.bad_questions", max=MAX_EXTRA + 1))
    if channel not in CHANNELS:
        raise BadInput(t("checkin.bad_channel", channel=channel, allowed=", ".join(CHANNELS)))
    segments.resolve_where(store, segment)  # a bad expression fails now, not in the daemon
    return days, _ask_keys(store, ask), parse_at(at)


def plan_schedule(store, actor, segment: str, every: str | int, ask=(), questions: int = 3, at: str = "10:00",
                  channel: str = "auto", now: datetime | None = None) -> Reach:
    """Whom a new schedule's first round would reach, and when; writes nothing."""
    days, keys, at_time = _schedule_args(store, actor, segment, every, ask, questions, at, channel)
    first = first_round_at(store, at_time, now or datetime.now(timezone.utc))
    plan = plan_round(store, actor, segment, first, ask=keys, extra=questions - 1, channel=channel, every_days=days)
    return plan.reach(first)


def add_schedule(store, actor, segment: str, every: str | int, ask=(), questions: int = 3, at: str = "10:00",
                 channel: str = "auto", now: datetime | None = None) -> int:
    """A check-in rhythm for a segment; the daemon starts the rounds, the first at the next `at`
    (see first_round_at). `questions` counts the wellbeing question (1 to 3)."""
    days, keys, at_time = _schedule_args(store, actor, segment, every, ask, questions, at, channel)
    now = now or datetime.now(timezone.utc)
    now_s = iso(now)
    with write_transaction(store.db) as conn:
        sid = conn.execute(
            "INSERT INTO checkin_schedules (segment, every_days, ask, extra, at_time, channel, status, owner, author,"
            " starts_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)",
            [segment.strip(), days, ",".join(keys), questions - 1, at_time, channel, actor.name, actor.name,
             iso(first_round_at(store, at_time, now)), now_s, now_s]).lastrowid
        audit.record(conn, actor, "checkin_schedule", f"checkin_schedule:{sid}")
    return sid


def list_schedules(store, actor) -> list[dict]:
    """Schedules with how many check-ins each started, is waiting on, and got answered."""
    access.require(actor, "coach", "teamlead", "admin")
    rows = []
    for r in store.db.execute(f"SELECT {', '.join(SCHEDULE_COLUMNS)} FROM checkin_schedules ORDER BY id"):
        d = dict(zip(SCHEDULE_COLUMNS, r))
        if actor.role == "coach" and d["owner"] != actor.name:
            continue
        counts = dict(store.db.execute("SELECT status, COUNT(*) FROM checkins WHERE schedule_id = ? GROUP BY status",
                                       [d["id"]]).fetchall())
        d.update(questions=d.pop("extra") + 1, open=counts.get("open", 0), answered=counts.get("answered", 0),
                 unanswered=counts.get("unanswered", 0))
        rows.append(d)
    return rows


def _schedule(store, actor, schedule_id: int) -> dict:
    """A schedule the actor may pause or resume: its owner, their team lead or an admin."""
    from . import owners

    access.require(actor, "coach", "teamlead", "admin")
    row = store.db.execute("SELECT id, segment, every_days, ask, extra, at_time, channel, status, owner"
                           " FROM checkin_schedules WHERE id = ?", [schedule_id]).fetchone()
    if row is None:
        raise NotFound(t("checkin.no_schedule", id=schedule_id))
    owners.require(store.db, actor, row[8], t("owners.schedule", id=schedule_id))
    return dict(zip(("id", "segment", "every_days", "ask", "extra", "at_time", "channel", "status", "owner"), row))


def plan_resume(store, actor, schedule_id: int, now: datetime | None = None) -> Reach:
    """Whom resuming a schedule reaches in its first round (at its next time of day), as its owner."""
    s = _schedule(store, actor, schedule_id)
    first = first_round_at(store, s["at_time"], now or datetime.now(timezone.utc))
    try:
        runs_as = access.resolve_actor(store.db, s["owner"], interface="daemon")
    except Exception:  # the owner left: the daemon skips it, so it reaches nobody
        return Reach()
    plan = plan_round(store, runs_as, s["segment"], first, ask=s["ask"], extra=s["extra"], channel=s["channel"],
                      every_days=s["every_days"])
    return plan.reach(first)


def set_schedule_status(store, actor, schedule_id: int, status: str, now: datetime | None = None) -> None:
    """Pause or resume: for the schedule's owner, their team lead or an admin. A resumed schedule
    starts again at its next time of day."""
    s = _schedule(store, actor, schedule_id)
    now = now or datetime.now(timezone.utc)
    starts = iso(first_round_at(store, s["at_time"], now)) if status == "active" else None
    with write_transaction(store.db) as conn:
        conn.execute("UPDATE checkin_schedules SET status = ?, starts_at = COALESCE(?, starts_at), updated_at = ?"
                     " WHERE id = ?", [status, starts, iso(now), schedule_id])
        audit.record(conn, actor, "checkin_schedule_" + status, f"checkin_schedule:{schedule_id}")


def plan_now(store, actor, segment: str, now: datetime | None = None, *, ask=(), questions: int = 3,
             channel: str = "auto") -> RoundPlan:
    """`caseload checkin now`: who gets a check-in at once (`.reach(now)`); queue it with queue_round."""
    return plan_round(store, actor, segment, now, ask=ask, extra=questions - 1, channel=channel)


def round_now(store, actor, segment: str, now: datetime | None = None, *, ask=(), questions: int = 3,
              channel: str = "auto") -> dict:
    """A round at once for the segment (sent by the next send run)."""
    plan = plan_now(store, actor, segment, now, ask=ask, questions=questions, channel=channel)
    return queue_round(store, actor, plan, now)


def run_schedules(store, now: datetime | None = None) -> dict:
    """The daemon's job: start the check-ins that are due for every active schedule whose local
    time has come today. Each schedule runs as its owner (their role scope)."""
    now = now or datetime.now(timezone.utc)
    local = now.astimezone(store.tz)
    done = {"schedules": 0, "queued": 0}
    rows = store.db.execute("SELECT id, segment, every_days, ask, extra, at_time, channel, owner, starts_at"
                            " FROM checkin_schedules WHERE status = 'active' ORDER BY every_days, id").fetchall()
    for sid, segment, every, ask, extra, at_time, channel, owner, starts_at in rows:
        if local.strftime("%H:%M") < at_time or (starts_at is not None and iso(now) < starts_at):
            continue
        try:
            actor = access.resolve_actor(store.db, owner, interface="daemon")
        except Exception:  # the owner left: the schedule waits for an admin
            log.warning("check-in schedule %d skipped: its owner is not an active user", sid)
            continue
        plan = plan_round(store, actor, segment, now, ask=ask, extra=extra, channel=channel, every_days=every)
        if plan.planned:
            done["queued"] += queue_round(store, actor, plan, now, schedule_id=sid)["queued"]
        done["schedules"] += 1
    return done


def list_checkins(store, actor, status: str | None = None, limit: int = 100) -> list[dict]:
    """Recent check-ins of clients the actor may see: who, when, channel, answered questions."""
    access.require(actor, "coach", "teamlead", "admin")
    scope, args = access.client_scope(actor, "clients")
    sql = ("SELECT k.id, clients.client_number, k.schedule_id, k.channel, k.status, k.created_at, k.replied_at,"
           " (SELECT COUNT(*) FROM checkin_questions q WHERE q.checkin_id = k.id),"
           " (SELECT COUNT(*) FROM checkin_questions q WHERE q.checkin_id = k.id AND q.status = 'answered')"
           f" FROM checkins k JOIN clients ON clients.id = k.client_id WHERE ({scope})")
    if status:
        sql += " AND k.status = ?"
        args.append(status)
    sql += " ORDER BY k.id DESC LIMIT ?"
    args.append(limit)
    cols = ("id", "client_number", "schedule", "channel", "status", "created_at", "replied_at", "questions", "answered")
    return [dict(zip(cols, r)) for r in store.db.execute(sql, args)]
