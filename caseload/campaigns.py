"""Campaigns on a schedule: a template for a segment, once at a time, recurring (weekly, every N
weeks, monthly on the Nth weekday), or relative to a date (14 days after intake_date, at 10:00).

Nothing is queued when the campaign is made: at each occurrence the daemon (`run_due`) takes the
segment as it is then, renders the template per client and queues the messages in one
transaction, together with moving the schedule to its next occurrence. Each message carries its
occurrence ("2025-03-03T10:00" or "intake_date:2025-02-17"), and the outbox keeps one message per
(campaign, client, occurrence), so a crash or a restart repeats nothing. Occurrences missed while
the daemon was down collapse into one, and one older than config.policy.expire_after_hours is
skipped rather than sent late. A relative campaign only counts dates from its own creation on.
"""

import calendar
import logging
import re
from datetime import date, datetime, time, timedelta, timezone

from . import access, audit, languages, outbox, segments
from .db import write_transaction
from .errors import BadInput, CaseloadError, NotFound
from .i18n import t
from .clock import iso, parse_iso
from .reach import Reach

log = logging.getLogger("caseload.campaigns")

KINDS = ("once", "weekly", "monthly", "relative")
WEEKDAYS = {"mon": 0, "monday": 0, "ma": 0, "maandag": 0, "tue": 1, "tuesday": 1, "di": 1, "dinsdag": 1,
            "wed": 2, "wednesday": 2, "wo": 2, "woensdag": 2, "thu": 3, "thursday": 3, "do": 3, "donderdag": 3,
            "fri": 4, "friday": 4, "vr": 4, "vrijdag": 4, "sat": 5, "saturday": 5, "za": 5, "zaterdag": 5,
            "sun": 6, "sunday": 6, "zo": 6, "zondag": 6}
NTH = {"1": 1, "first": 1, "eerste": 1, "2": 2, "second": 2, "tweede": 2, "3": 3, "third": 3, "derde": 3,
       "4": 4, "fourth": 4, "vierde": 4, "last": -1, "laatste": -1}
RELATIVE_CATCH_UP_DAYS = 7
SCHEDULE_COLUMNS = ("kind", "at_time", "start_date", "end_date", "every_weeks", "weekday", "nth", "date_field",
                    "offset_days", "next_at", "last_occurrence", "created_at")


def _weekday(text: str) -> int:
    w = WEEKDAYS.get(str(text or "").strip().lower())
    if w is None:
        raise BadInput(t("campaign.bad_weekday", value=text))
    return w


def parse_monthly(text: str) -> tuple[int, int]:
    """"first mon", "1 ma", "last fri", "laatste vrijdag" -> (nth, weekday)."""
    parts = str(text or "").strip().lower().split()
    if len(parts) != 2 or parts[0] not in NTH:
        raise BadInput(t("campaign.bad_monthly", value=text))
    return NTH[parts[0]], _weekday(parts[1])


def _at(text: str) -> str:
    from .checkins import parse_at

    return parse_at(text)


def _local(store, day: date, at_time: str) -> datetime:
    h, m = (int(x) for x in at_time.split(":"))
    return datetime.combine(day, time(h, m), tzinfo=store.tz).astimezone(timezone.utc)


def nth_weekday(year: int, month: int, nth: int, weekday: int) -> date:
    days = [d for d in range(1, calendar.monthrange(year, month)[1] + 1) if date(year, month, d).weekday() == weekday]
    return date(year, month, days[nth - 1] if nth > 0 else days[-1])


def next_occurrence(store, s: dict, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after` (UTC), or None when there is none left."""
    kind = s["kind"]
    end = date.fromisoformat(s["end_date"]) if s.get("end_date") else None
    if kind == "once":
        moment = parse_iso(s["start_date"])
        return moment if moment > after else None
    local_after = after.astimezone(store.tz).date()
    if kind == "weekly":
        start = date.fromisoformat(s["start_date"])
        first = start + timedelta(days=(s["weekday"] - start.weekday()) % 7)
        step = 7 * s["every_weeks"]
        k = max(0, (local_after - first).days // step - 1)
        day = first + timedelta(days=k * step)
        while True:
            moment = _local(store, day, s["at_time"])
            if moment > after:
                break
            day += timedelta(days=step)
    elif kind == "monthly":
        start = date.fromisoformat(s["start_date"])
        y, m = max((local_after.year, local_after.month), (start.year, start.month))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        while True:
            day = nth_weekday(y, m, s["nth"], s["weekday"])
            moment = _local(store, day, s["at_time"])
            if moment > after and day >= start:
                break
            y, m = (y, m + 1) if m < 12 else (y + 1, 1)
    else:
        return None
    return None if end is not None and day > end else moment


def _spec(store, actor, name: str, template: str, segment: str, channel: str, once, weekly, every_weeks, monthly,
          after, days, at, start, end, now: datetime) -> tuple[str, dict, datetime | None]:
    """The checked name, schedule and first occurrence of a new campaign (none when relative)."""
    from . import templates
    from .values import parse_date

    access.require(actor, "coach", "teamlead", "admin")
    chosen = [k for k, v in (("once", once), ("weekly", weekly), ("monthly", monthly), ("relative", after)) if v]
    if len(chosen) != 1:
        raise BadInput(t("campaign.one_schedule"))
    kind = chosen[0]
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise BadInput(t("queue.bad_campaign", max=120))
    if channel not in ("auto", "sms", "email"):
        raise BadInput(t("outbox.bad_channel", channel=channel, allowed="auto, sms, email"))
    templates.variants(store, template)  # NotFound for an unknown template
    segments.resolve_where(store, segment)
    at_time = _at(at)
    today = now.astimezone(store.tz).date()
    try:
        start_day = parse_date(start) if start else today
        end_day = parse_date(end).isoformat() if end else None
    except ValueError as e:
        raise BadInput(t("campaign.bad_date", reason=str(e))) from None
    s = {"kind": kind, "at_time": at_time, "start_date": start_day.isoformat(), "end_date": end_day,
         "every_weeks": None, "weekday": None, "nth": None, "date_field": None, "offset_days": None}
    if kind == "once":
        s["start_date"] = iso(outbox.parse_at(store, once, now))
    elif kind == "weekly":
        if not 1 <= int(every_weeks) <= 52:
            raise BadInput(t("campaign.bad_every", value=every_weeks))
        s.update(weekday=_weekday(weekly), every_weeks=int(every_weeks))
    elif kind == "monthly":
        nth, wd = parse_monthly(monthly)
        s.update(nth=nth, weekday=wd)
    else:
        if days is None or not -3650 <= int(days) <= 3650:
            raise BadInput(t("campaign.needs_days"))
        field_sql(store, after)
        s.update(date_field=after, offset_days=int(days))
    nxt = next_occurrence(store, s, now - timedelta(seconds=1)) if kind != "relative" else None
    if kind != "relative" and nxt is None:
        raise BadInput(t("campaign.no_occurrence"))
    if store.db.execute("SELECT 1 FROM campaigns WHERE name = ?", [name]).fetchone():
        raise BadInput(t("campaign.exists", name=name))
    s.update(name=name, template=template, segment=segment.strip(), channel=channel, created_at=iso(now))
    return name, s, nxt


def plan_add(store, actor, name: str, template: str, segment: str, channel: str = "auto", *,
             once: str | None = None, weekly: str | None = None, every_weeks: int = 1, monthly: str | None = None,
             after: str | None = None, days: int | None = None, at: str = "10:00", start: str | None = None,
             end: str | None = None, now: datetime | None = None) -> Reach:
    """Whom a new campaign's first occurrence would reach (the segment as it is now), and when;
    for a relative campaign, every client whose date is still ahead. Writes nothing."""
    now = now or datetime.now(timezone.utc)
    name, s, nxt = _spec(store, actor, name, template, segment, channel, once, weekly, every_weeks, monthly, after,
                         days, at, start, end, now)
    return _reach_next(store, actor, s, nxt, None, now)


def add(store, actor, name: str, template: str, segment: str, channel: str = "auto", *, once: str | None = None,
        weekly: str | None = None, every_weeks: int = 1, monthly: str | None = None, after: str | None = None,
        days: int | None = None, at: str = "10:00", start: str | None = None, end: str | None = None,
        now: datetime | None = None) -> dict:
    """Make a scheduled campaign; exactly one of once, weekly, monthly, after (with days)."""
    now = now or datetime.now(timezone.utc)
    name, s, nxt = _spec(store, actor, name, template, segment, channel, once, weekly, every_weeks, monthly, after,
                         days, at, start, end, now)
    kind, at_time = s["kind"], s["at_time"]
    with write_transaction(store.db) as conn:
        if conn.execute("SELECT 1 FROM campaigns WHERE name = ?", [name]).fetchone():
            raise BadInput(t("campaign.exists", name=name))
        cid = conn.execute("INSERT INTO campaigns (name, template, segment, channel, owner, author, created_at,"
                           " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [name, template, segment.strip(), channel, actor.name, actor.name, iso(now),
                            iso(now)]).lastrowid
        conn.execute("INSERT INTO campaign_schedules (campaign_id, kind, at_time, start_date, end_date, every_weeks,"
                     " weekday, nth, date_field, offset_days, next_at, created_at, updated_at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [cid, kind, at_time, s["start_date"], s["end_date"], s["every_weeks"], s["weekday"], s["nth"],
                      s["date_field"], s["offset_days"], iso(nxt) if nxt else None, iso(now), iso(now)])
        audit.record(conn, actor, "campaign_add", f"campaign:{cid}")
    return {"campaign_id": cid, "name": name, "kind": kind, "next_at": iso(nxt) if nxt else None}


def _reach_next(store, actor, s: dict, nxt: datetime | None, campaign_id: int | None, now: datetime) -> Reach:
    """The messages of a campaign's next occurrence (or a relative campaign's dates ahead), on
    each client's channel as `queue` would choose it, within the actor's scope."""
    out = Reach(fallback=store.config.message_language)
    if s["kind"] != "relative" and nxt is None:
        return out
    plan = outbox.plan_queue(store, actor, s["segment"], s["template"], channel=s["channel"], campaign=s["name"],
                             now=now)
    if s["kind"] != "relative":
        for p in plan.messages:
            out.add(p.client_id, p.channel, max(nxt, now), p.language, p.fit)
        return out
    days = dict(_relative_ahead(store, s, campaign_id, now))
    off = timedelta(days=s["offset_days"])
    for p in plan.messages:
        if p.client_id in days:
            out.add(p.client_id, p.channel, max(now, _local(store, date.fromisoformat(days[p.client_id]) + off,
                                                            s["at_time"])), p.language, p.fit)
    return out


def _relative_ahead(store, s: dict, campaign_id: int | None, now: datetime) -> list[tuple[int, str]]:
    """(client id, date value) of the clients a relative campaign will still message: their date +
    offset falls on or after the first day it still counts (see relative_due), not yet queued."""
    col = field_sql(store, s["date_field"])
    today = now.astimezone(store.tz).date()
    first_day = max(today - timedelta(days=RELATIVE_CATCH_UP_DAYS),
                    parse_iso(s["created_at"]).astimezone(store.tz).date())
    lo = (first_day - timedelta(days=s["offset_days"])).isoformat()
    where, params = segments.resolve_where(store, s["segment"])
    sql = (f"SELECT clients.id, {col} FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
           f" WHERE {col} >= ? AND ({where})")
    args = [lo, *params]
    if campaign_id is not None:
        sql += (" AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = ? AND m.client_id = clients.id"
                f" AND m.occurrence = ? || {col})")
        args += [campaign_id, f"{s['date_field']}:"]
    return list(store.db.execute(sql, args))


def field_sql(store, key: str) -> str:
    """The SQL of a date to count from: intake_date, birth_date, outflow_date or a date characteristic."""
    if key in ("intake_date", "birth_date", "outflow_date"):
        return f"clients.{key}"
    c = store.catalog.get(key)
    if c is None or c.type != "date":
        raise BadInput(t("campaign.bad_date_field", field=key))
    return f'profile."{c.column}"'


def _schedules(store, where: str = "1", args=()) -> list[dict]:
    cols = ("id", "name", "template", "segment", "channel", "status", "owner", *SCHEDULE_COLUMNS)
    sql = (f"SELECT p.id, p.name, p.template, p.segment, p.channel, p.status, p.owner,"
           f" {', '.join('s.' + c for c in SCHEDULE_COLUMNS)} FROM campaign_schedules s"
           f" JOIN campaigns p ON p.id = s.campaign_id WHERE {where} ORDER BY p.id")
    return [dict(zip(cols, r)) for r in store.db.execute(sql, list(args))]


def list_campaigns(store, actor) -> list[dict]:
    access.require(actor, "coach", "teamlead", "admin")
    out = []
    for s in _schedules(store):
        if actor.role == "coach" and s["owner"] != actor.name:
            continue
        n = store.db.execute("SELECT COUNT(*) FROM messages WHERE campaign_id = ?", [s["id"]]).fetchone()[0]
        out.append({**s, "messages": n, "when": describe(store, s)})
    return out


def describe(store, s: dict) -> str:
    days = [k for k, v in WEEKDAYS.items() if v == s["weekday"] and len(k) == 3]
    if s["kind"] == "once":
        return parse_iso(s["start_date"]).astimezone(store.tz).strftime("%Y-%m-%d %H:%M")
    if s["kind"] == "weekly":
        return t("campaign.when_weekly", n=s["every_weeks"], day=days[0] if days else "?", at=s["at_time"])
    if s["kind"] == "monthly":
        return t("campaign.when_monthly", nth=s["nth"], day=days[0] if days else "?", at=s["at_time"])
    return t("campaign.when_relative", days=s["offset_days"], field=s["date_field"], at=s["at_time"])


def _campaign(store, actor, name: str) -> dict:
    """A scheduled campaign (by name or id) the actor may pause or resume: its owner, their team
    lead or an admin."""
    from . import owners

    access.require(actor, "coach", "teamlead", "admin")
    rows = _schedules(store, "p.name = ? OR CAST(p.id AS TEXT) = ?", [name, name])
    if not rows:
        raise NotFound(t("outbox.no_campaign", campaign=name))
    owners.require(store.db, actor, rows[0]["owner"], t("owners.campaign", name=rows[0]["name"]))
    return rows[0]


def held(store, campaign_id: int, now: datetime) -> Reach:
    """The messages of a campaign that are queued and wait (while it is paused)."""
    out = Reach(fallback=store.config.message_language)
    for cid, channel, due, lang, own, second in store.db.execute(
            "SELECT m.client_id, m.channel, m.due_at, m.language, c.language, c.second_language FROM messages m"
            " LEFT JOIN clients c ON c.id = m.client_id WHERE m.campaign_id = ? AND m.status = 'queued'",
            [campaign_id]):
        out.add(cid, channel, max(now, parse_iso(due)), lang, languages.fit(lang, own, second) if lang else None)
    return out


def plan_resume(store, actor, name: str, now: datetime | None = None) -> tuple[Reach, int]:
    """Whom resuming a campaign reaches: its queued messages that waited, and its next occurrence
    (the segment as it is now, in its owner's scope). Returns the reach and how many waited."""
    s = _campaign(store, actor, name)
    now = now or datetime.now(timezone.utc)
    waiting = held(store, s["id"], now)
    runs_as = _actor(store, s)
    if runs_as is None:
        return waiting, waiting.messages
    nxt = parse_iso(s["next_at"]) if s["next_at"] else None
    return waiting | _reach_next(store, runs_as, s, nxt, s["id"], now), waiting.messages


def set_status(store, actor, name: str, status: str) -> None:
    """Pause or resume: for the campaign's owner, their team lead or an admin."""
    rows = [_campaign(store, actor, name)]
    with write_transaction(store.db) as conn:
        conn.execute("UPDATE campaigns SET status = ?, failures_in_a_row = 0, updated_at = ? WHERE id = ?",
                     [status, iso(datetime.now(timezone.utc)), rows[0]["id"]])
        audit.record(conn, actor, "campaign_" + ("pause" if status == "paused" else "resume"), f"campaign:{rows[0]['id']}")


# --- the daemon's job ----------------------------------------------------------------------

def _queue(store, actor, s: dict, occurrence: str, only: set[int] | None, now: datetime,
           advance: tuple[str | None, str | None] | None) -> int:
    """Render and queue one occurrence (members as of now); with `advance`, move the schedule
    from its current next_at to the given one in the same transaction. Returns how many."""
    plan = outbox.plan_queue(store, actor, s["segment"], s["template"], channel=s["channel"], campaign=s["name"],
                             now=now, keep_failed=True)
    rows = [outbox.Message(p.client_id, p.channel, p.body, p.subject, p.html, p.language, occurrence)
            for p in plan.messages if only is None or p.client_id in only]
    # a message that cannot be rendered fails with the reason (it is not tried again every tick)
    rows += [outbox.Message(cid, channel, "", language=language, occurrence=occurrence, failed=why)
             for cid, channel, language, why in plan.failed if only is None or cid in only]
    with write_transaction(store.db) as conn:
        if advance is not None:
            moved = conn.execute("UPDATE campaign_schedules SET next_at = ?, last_occurrence = ?, updated_at = ?"
                                 " WHERE campaign_id = ? AND next_at IS ?",
                                 [advance[1], occurrence, iso(now), s["id"], advance[0]]).rowcount
            if not moved:  # another run took this occurrence
                return 0
        written = outbox.write(conn, store, rows, kind="campaign", now=now, campaign_id=s["id"],
                               template=s["template"], priority=outbox.BROADCAST)
        n = written.count
        if n:
            audit.record(conn, actor, "queue", f"campaign:{s['id']}", f"occurrence:{occurrence}")
    return n


def _actor(store, s: dict):
    try:
        return access.resolve_actor(store.db, s["owner"], interface="daemon")
    except CaseloadError:
        log.warning("campaign %d skipped: its owner is not an active user", s["id"])
        return None


def run_due(store, now: datetime | None = None) -> dict:
    """Queue every occurrence that is due and not yet done; returns counts."""
    now = now or datetime.now(timezone.utc)
    done = {"occurrences": 0, "queued": 0, "skipped_late": 0}
    grace = timedelta(hours=store.config.policy.expire_after_hours or 24 * 365)
    for s in _schedules(store, "p.status = 'active' AND s.kind != 'relative' AND s.next_at IS NOT NULL"
                               " AND s.next_at <= ?", [iso(now)]):
        due = parse_iso(s["next_at"])
        nxt = next_occurrence(store, s, now)
        occurrence = due.astimezone(store.tz).strftime("%Y-%m-%dT%H:%M")
        if now - due > grace:
            with write_transaction(store.db) as conn:
                conn.execute("UPDATE campaign_schedules SET next_at = ?, updated_at = ? WHERE campaign_id = ?"
                             " AND next_at = ?", [iso(nxt) if nxt else None, iso(now), s["id"], s["next_at"]])
            log.warning("campaign %d: occurrence %s skipped, too late", s["id"], occurrence)
            done["skipped_late"] += 1
            continue
        actor = _actor(store, s)
        if actor is None:
            continue
        done["queued"] += _queue(store, actor, s, occurrence, None, now, (s["next_at"], iso(nxt) if nxt else None))
        done["occurrences"] += 1
    for s in _schedules(store, "p.status = 'active' AND s.kind = 'relative'"):
        ids = relative_due(store, s, now)
        if not ids:
            continue
        actor = _actor(store, s)
        if actor is None:
            continue
        by_value: dict[str, set[int]] = {}
        for cid, value in ids:
            by_value.setdefault(value, set()).add(cid)
        for value, members in sorted(by_value.items()):
            done["queued"] += _queue(store, actor, s, f"{s['date_field']}:{value}", members, now, None)
            done["occurrences"] += 1
    return done


def relative_due(store, s: dict, now: datetime) -> list[tuple[int, str]]:
    """(client id, date value) of clients whose date + offset has come (at the campaign's local
    time), within the catch-up window and not before the campaign was made, not yet queued."""
    col = field_sql(store, s["date_field"])
    local = now.astimezone(store.tz)
    today = local.date()
    last_day = today if local.strftime("%H:%M") >= s["at_time"] else today - timedelta(days=1)
    first_day = max(last_day - timedelta(days=RELATIVE_CATCH_UP_DAYS), parse_iso(s["created_at"]).astimezone(store.tz).date())
    if first_day > last_day:
        return []
    off = timedelta(days=s["offset_days"])
    lo, hi = (first_day - off).isoformat(), (last_day - off).isoformat()
    where, params = segments.resolve_where(store, s["segment"])
    sql = (f"SELECT clients.id, {col} FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
           f" WHERE {col} BETWEEN ? AND ? AND ({where}) AND NOT EXISTS (SELECT 1 FROM messages m"
           f" WHERE m.campaign_id = ? AND m.client_id = clients.id AND m.occurrence = ? || {col})")
    return [(cid, v) for cid, v in store.db.execute(sql, [lo, hi, *params, s["id"], f"{s['date_field']}:"])]
