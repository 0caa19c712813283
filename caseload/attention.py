"""The attention list: per coach, only what needs a person today, ranked, each with its reason.

Reasons (signals), most urgent first:
  urgent_message   an unread message from the client with a word that signals urgency (ill,
                   rent, help, call: data/urgency.toml, in the client's language and the
                   organisation's)
  unread_message   an unread message from the client (free text a person has to read)
  new_barrier      a barrier observed recently that was not there before (debts, a ZRM domain at 1-2):
                   a known value that turned, or one the client reported; never an import
  wellbeing_drop   wellbeing down by 2 or more, recently
  missed_checkins  no reply to the last config.daemon.missed_checkins check-ins
  inactive         no activity for config.daemon.inactive_days (counted from intake or from when
                   the client was added, whichever is later, when nothing happened since)
  followup_due     a follow-up due today or earlier and not done
Each reason has a moment (`at`: when it happened). A client marked handled leaves the list
until a reason newer than the mark appears; a client snoozed until a date leaves it until that
date, or until a newer reason. Stale characteristics are not on this list but on the
maintenance list ("bij te werken", `maintenance_list`); failed deliveries are the
administrator's (`delivery_problems`). One audit entry per list view, not per client.

Other areas may add a signal with `register(Signal(...))`; its `find(ctx)` returns
{client_id: detail} or {client_id: (detail, at)}.
"""

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Callable

from . import access, audit, clock
from .clock import iso
from .db import write_transaction
from .errors import BadInput, PermissionDenied
from .i18n import language, t

BARRIERS = {  # bool characteristics whose value means a barrier
    "debts": True, "physical_complaints": True, "personal_problems": True, "low_literacy": True,
    "illiteracy": True, "burnout_recovery": True, "bank_account_issues": True, "addiction_support": True,
    "childcare_arranged": False,
}
ZRM_BARRIER = 2  # a ZRM domain at 1 or 2
SNIPPET = 70  # characters of a client's message shown as the reason


@dataclass
class Context:
    store: object
    where: str          # SQL over `clients`: the scope, active clients only
    params: list
    now: datetime       # UTC
    cache: dict = field(default_factory=dict)

    @property
    def recent_since(self) -> str:
        return iso(self.now - timedelta(days=self.store.config.reports.attention_recent_days))

    @property
    def today(self) -> date:
        return self.now.astimezone(self.store.tz).date()

    def clients_sql(self, columns: str = "clients.id") -> str:
        return f"SELECT {columns} FROM clients WHERE {self.where}"


@dataclass
class Signal:
    name: str
    weight: int  # rank: higher first
    find: Callable[[Context], dict]
    needs_table: str | None = None
    doc: str = ""


_REGISTRY: list[Signal] = []


def register(signal: Signal) -> Signal:
    """Add a signal (replacing one of the same name). Other areas call this from their module."""
    _REGISTRY[:] = [s for s in _REGISTRY if s.name != signal.name] + [signal]
    return signal


def unregister(name: str) -> None:
    _REGISTRY[:] = [s for s in _REGISTRY if s.name != name]


def label(name: str) -> str:
    """A signal's name in words, in the UI language."""
    return t(f"attention.signal.{name}")


# --- urgency --------------------------------------------------------------------------------

def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def urgency_words() -> dict[str, tuple[frozenset, tuple]]:
    """language -> (whole words, prefixes), folded, from data/urgency.toml."""
    raw = tomllib.loads(resources.files("caseload").joinpath("data/urgency.toml").read_text("utf-8"))
    out = {}
    for lang, words in raw.items():
        folded = [_fold(w) for w in words]
        out[lang] = (frozenset(w for w in folded if not w.endswith("*")),
                     tuple(w[:-1] for w in folded if w.endswith("*")))
    return out


_WORD = re.compile(r"\w+")


def urgent_words(text: str | None, languages) -> list[str]:
    """The urgency words in a message (as the client wrote them), for these languages."""
    if not text:
        return []
    table = urgency_words()
    whole, prefixes = set(), []
    for lang in dict.fromkeys(x for x in languages if x):
        w, p = table.get(lang, (frozenset(), ()))
        whole |= w
        prefixes.extend(p)
    found = []
    for m in _WORD.finditer(text):
        word = _fold(m.group())
        if word in whole or any(word.startswith(p) for p in prefixes):
            if m.group().lower() not in (f.lower() for f in found):
                found.append(m.group())
    return found


def snippet(text: str, n: int = SNIPPET) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[:n - 1].rstrip() + "…"


def _day(iso_date: str) -> str:
    """A date as people write it in the UI language (31-12-2026 in Dutch)."""
    y, m, d = iso_date[:10].split("-")
    return f"{d}-{m}-{y}" if language() == "nl" else f"{y}-{m}-{d}"


# --- the signals ----------------------------------------------------------------------------

def _unread(ctx: Context) -> dict[int, tuple[bool, str, str]]:
    """client -> (urgent, detail, newest unread moment); computed once for both message signals."""
    if "unread" in ctx.cache:
        return ctx.cache["unread"]
    org = ctx.store.config.message_language
    sql = (f"SELECT r.client_id, r.text, r.received_at, clients.language FROM replies r"
           f" JOIN clients ON clients.id = r.client_id WHERE r.read_at IS NULL AND r.text IS NOT NULL"
           f" AND r.client_id IN ({ctx.clients_sql()}) ORDER BY r.client_id, r.received_at")
    per: dict[int, list] = {}
    for cid, text, at, lang in ctx.store.conn.execute(sql, ctx.params):
        per.setdefault(cid, []).append((text, at, lang))
    out = {}
    for cid, msgs in per.items():
        words, newest = [], msgs[-1]
        for text, _, lang in msgs:
            words += [w for w in urgent_words(text, (lang, org)) if w.lower() not in (x.lower() for x in words)]
        quote = f"“{snippet(newest[0])}”"
        if words:
            detail = t("attention.detail.urgent", words=", ".join(words), text=quote)
        elif len(msgs) > 1:
            detail = t("attention.detail.unread_many", n=len(msgs), text=quote)
        else:
            detail = quote
        out[cid] = (bool(words), detail, newest[1])
    ctx.cache["unread"] = out
    return out


def _urgent_message(ctx: Context) -> dict:
    return {cid: (d, at) for cid, (urgent, d, at) in _unread(ctx).items() if urgent}


def _unread_message(ctx: Context) -> dict:
    return {cid: (d, at) for cid, (urgent, d, at) in _unread(ctx).items() if not urgent}


def _last_two(ctx: Context, keys: list[str]) -> list[tuple]:
    """(client_id, key, latest value, latest at, previous value or None, latest source) for keys
    observed recently; an import is no news (the file describes the past), so it is left out.
    profile_times says which (client, characteristic) changed recently; only those are read from
    the observations, two rows each by the primary key."""
    chars = [ctx.store.catalog[k] for k in keys if k in ctx.store.ids and k in ctx.store.catalog]
    if not chars:
        return []
    since = ctx.recent_since
    cols = ", ".join(f'pt."{c.at_column}"' for c in chars)
    recent = " OR ".join(f'pt."{c.at_column}" >= ?' for c in chars)
    pairs = []
    for row in ctx.store.conn.execute(
            f"SELECT pt.client_id, {cols} FROM profile_times pt WHERE pt.client_id IN ({ctx.clients_sql()})"
            f" AND ({recent})", [*ctx.params, *([since] * len(chars))]):
        pairs += [(row[0], c) for c, at in zip(chars, row[1:]) if at is not None and at >= since]
    keys_by_id = {ctx.store.ids[c.key]: c.key for c in chars}
    latest, previous = {}, {}
    for i in range(0, len(pairs), 400):
        chunk = pairs[i:i + 400]
        args = [x for cid, c in chunk for x in (cid, ctx.store.ids[c.key])]
        for cid, chid, value, at, source, rn in ctx.store.conn.execute(
                "SELECT client_id, characteristic_id, value, observed_at, source, rn FROM (SELECT o.client_id,"
                " o.characteristic_id, o.value, o.observed_at, o.source, ROW_NUMBER() OVER (PARTITION BY"
                " o.client_id, o.characteristic_id ORDER BY o.observed_at DESC, o.seq DESC) AS rn"
                f" FROM (VALUES {', '.join(['(?, ?)'] * len(chunk))}) AS p CROSS JOIN observations o"
                " ON o.client_id = p.column1 AND o.characteristic_id = p.column2) WHERE rn <= 2", args):
            (latest if rn == 1 else previous)[(cid, chid)] = (value, at, source)
    return [(cid, keys_by_id[chid], v, at, previous.get((cid, chid), (None,))[0], source)
            for (cid, chid), (v, at, source) in latest.items() if at >= since and source != "import"]


def _wellbeing_drop(ctx: Context) -> dict:
    out = {}
    for cid, _, value, at, prev, _ in _last_two(ctx, ["wellbeing"]):
        if value is not None and prev is not None and prev - value >= 2:
            out[cid] = (t("attention.detail.wellbeing", before=prev, now=value), at)
    return out


def _is_barrier(key: str, value) -> bool:
    if value is None:
        return False
    if key in BARRIERS:
        return bool(value) == BARRIERS[key]
    return key.startswith("zrm_") and value <= ZRM_BARRIER


def _new_barrier(ctx: Context) -> dict:
    keys = [k for k in BARRIERS if k in ctx.store.catalog]
    keys += [c.key for c in ctx.store.catalog if c.key.startswith("zrm_") and c.type == "scale"]
    found: dict[int, list] = {}
    for cid, key, value, at, prev, source in _last_two(ctx, keys):
        # news: a known value turned into a barrier, or the client tells us of one; a coach
        # recording a first value knows it already
        if _is_barrier(key, value) and (not _is_barrier(key, prev) if prev is not None else source == "reply"):
            c = ctx.store.catalog[key]
            found.setdefault(cid, []).append((f"{c.title()}: {c.value_title(value)}", at))
    return {cid: (", ".join(sorted(n for n, _ in items)), max(a for _, a in items)) for cid, items in found.items()}


def _missed_checkins(ctx: Context) -> dict:
    n = ctx.store.config.daemon.missed_checkins
    if n <= 0:
        return {}
    sql = ("SELECT client_id, MAX(COALESCE(closed_at, created_at)) FROM ("
           " SELECT k.client_id, k.status, k.closed_at, k.created_at, ROW_NUMBER() OVER (PARTITION BY k.client_id"
           "  ORDER BY k.created_at DESC, k.id DESC) AS rn"
           " FROM checkins k WHERE k.status IN ('answered', 'unanswered')"
           f"  AND k.client_id IN ({ctx.clients_sql()}))"
           " WHERE rn <= ? GROUP BY client_id HAVING COUNT(*) = ? AND SUM(status = 'unanswered') = ?")
    return {cid: (t("attention.detail.missed", n=n), at)
            for cid, at in ctx.store.conn.execute(sql, [*ctx.params, n, n, n])}


# the last sign of life: activity, else intake or when the client was added, whichever is later
LAST_SIGN = ("COALESCE(clients.last_activity, MAX(COALESCE(clients.intake_date || 'T00:00:00Z', ''),"
             " clients.created_at))")


def _inactive(ctx: Context) -> dict:
    days = ctx.store.config.daemon.inactive_days
    if days <= 0:
        return {}
    cutoff = iso(ctx.now - timedelta(days=days))
    out = {}
    for cid, last in ctx.store.conn.execute(
            f"{ctx.clients_sql(f'clients.id, {LAST_SIGN}')} AND {LAST_SIGN} < ?", [*ctx.params, cutoff]):
        since = (ctx.today - date.fromisoformat(last[:10])).days
        # the reason is new again every `days` days of silence: a handled client comes back
        periods = max(since // days, 1)
        at = iso(datetime.fromisoformat(last[:10]).replace(tzinfo=timezone.utc) + timedelta(days=periods * days))
        out[cid] = (t("attention.detail.inactive", days=since), at)
    return out


def _followup_due(ctx: Context) -> dict:
    sql = (f"SELECT client_id, MIN(due_date), COUNT(*), MIN(what) FROM follow_ups WHERE done_at IS NULL"
           f" AND due_date <= ? AND client_id IN ({ctx.clients_sql()}) GROUP BY client_id")
    out = {}
    for cid, due, n, what in ctx.store.conn.execute(sql, [ctx.today.isoformat(), *ctx.params]):
        text = snippet(what, 40) if n == 1 else t("attention.detail.followups", n=n)
        out[cid] = (t("attention.detail.followup", what=text, due=_day(due)), f"{due}T00:00:00Z")
    return out


for _s in (
    Signal("urgent_message", 100, _urgent_message, needs_table="replies"),
    Signal("unread_message", 90, _unread_message, needs_table="replies"),
    Signal("new_barrier", 80, _new_barrier),
    Signal("wellbeing_drop", 70, _wellbeing_drop),
    Signal("missed_checkins", 60, _missed_checkins, needs_table="checkins"),
    Signal("inactive", 50, _inactive),
    Signal("followup_due", 40, _followup_due, needs_table="follow_ups"),
):
    register(_s)


def _tables(store) -> set[str]:
    return {name for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def signals(store) -> list[Signal]:
    """The registered signals whose tables exist in this database, most urgent first."""
    tables = _tables(store)
    return sorted((s for s in _REGISTRY if s.needs_table is None or s.needs_table in tables),
                  key=lambda s: -s.weight)


@dataclass(frozen=True)
class Reason:
    signal: Signal
    detail: str
    at: str | None  # when it happened (UTC ISO); None: unknown


def _marks(store, ids) -> dict[int, tuple[str, str | None, str]]:
    out = {}
    ids = list(ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        out.update({cid: (state, until, at) for cid, state, until, at in store.conn.execute(
            f"SELECT client_id, state, until, at FROM attention_marks WHERE client_id IN ({', '.join('?' * len(chunk))})",
            chunk)})
    return out


def find_reasons(store, where: str, params: list, now: datetime | None = None,
                 marks: bool = True) -> dict[int, list[Reason]]:
    """client_id -> [Reason], most urgent first, for the active clients matching where/params;
    handled and snoozed clients left out unless a newer reason brought them back."""
    ctx = Context(store, f"clients.status = 'active' AND ({where})", list(params), clock.now(now))
    found: dict[int, list[Reason]] = {}
    for s in signals(store):
        for cid, value in s.find(ctx).items():
            detail, at = value if isinstance(value, tuple) else (value, None)
            found.setdefault(cid, []).append(Reason(s, detail, at))
    if marks and found:
        today = ctx.today.isoformat()
        for cid, (state, until, marked_at) in _marks(store, found).items():
            if state == "snoozed" and until is not None and until <= today:
                continue  # the snooze is over
            newer = [r for r in found[cid] if r.at is not None and r.at > marked_at]
            if newer:
                found[cid] = newer
            else:
                del found[cid]
    for reasons in found.values():
        reasons.sort(key=lambda r: -r.signal.weight)
    return found


def find(store, where: str, params: list, now: datetime | None = None) -> dict[int, list[tuple[Signal, str]]]:
    """client_id -> [(signal, detail)]: `find_reasons` without the moments (the caseload screen,
    the report per coach)."""
    return {cid: [(r.signal, r.detail) for r in rs] for cid, rs in find_reasons(store, where, params, now).items()}


def _rank(reasons: list[Reason]) -> tuple:
    """Most urgent reason first; within it the newest first, then the client with more reasons."""
    top = reasons[0]
    moment = clock.parse_iso(top.at).timestamp() if top.at else 0.0
    return (-top.signal.weight, -moment, -len(reasons))


def _scope(store, actor, coach: str | None) -> tuple[str, list]:
    where, params = access.client_scope(actor, "clients")
    if coach:
        where, params = f"({where}) AND clients.coach = ?", [*params, coach]
    return where, params


def _names(store, ids) -> dict[int, tuple]:
    info = {}
    ids = list(ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for row in store.conn.execute(
                f"SELECT id, client_number, first_name, last_name, coach FROM clients"
                f" WHERE id IN ({', '.join('?' * len(chunk))})", chunk):
            info[row[0]] = row
    return info


def attention_list(store, actor, coach: str | None = None, now: datetime | None = None) -> list[dict]:
    """Who needs a person today, most urgent first; coaches see their own clients, team leads
    their team's, admins everyone's. One audit entry for the view."""
    where, params = _scope(store, actor, coach)
    found = find_reasons(store, where, params, now)
    info = _names(store, found)
    rows = []
    for cid, reasons in sorted(found.items(), key=lambda kv: (_rank(kv[1]), info[kv[0]][1])):
        _, number, first, last, coach_name = info[cid]
        rows.append({
            "coach": coach_name, "client_number": number,
            "name": " ".join(p for p in (first, last) if p), "score": reasons[0].signal.weight,
            "reasons": [{"signal": r.signal.name, "label": label(r.signal.name), "detail": r.detail, "at": r.at}
                        for r in reasons],
            "why": "; ".join(f"{label(r.signal.name)}: {r.detail}" if r.detail else label(r.signal.name)
                             for r in reasons),
        })
    with write_transaction(store.db):
        audit.record(store.db, actor, "attention", f"list:{coach or actor.name}", str(len(rows)))
    return rows


# --- handled and snoozed --------------------------------------------------------------------

def mark(store, actor, number: str, state: str = "handled", until: str | date | None = None,
         now: datetime | None = None) -> None:
    """Mark a client on the attention list handled, or snoozed until a date (the client comes back
    that day, or earlier with a new reason). Audited."""
    from .clients import client_id

    access.can_change_clients(actor)
    if state not in ("handled", "snoozed"):
        raise BadInput(t("attention.bad_state", state=state))
    now = clock.now(now)
    day = None
    if state == "snoozed":
        if until is None or until == "":
            raise BadInput(t("attention.snooze_needs_date"))
        from .followups import parse_due

        day = parse_due(until, now.astimezone(store.tz).date())
        if day <= now.astimezone(store.tz).date():
            raise BadInput(t("attention.snooze_in_past", value=day.isoformat()))
    cid = client_id(store, actor, number)
    with write_transaction(store.db) as conn:
        conn.execute("INSERT OR REPLACE INTO attention_marks (client_id, state, until, at, author) VALUES (?, ?, ?, ?, ?)",
                     [cid, state, day.isoformat() if day else None, iso(now), actor.name])
        audit.record(conn, actor, f"attention_{state}", f"client:{cid}", day.isoformat() if day else "ok")


# --- the maintenance list and the administrator's list --------------------------------------

def maintenance_list(store, actor, coach: str | None = None, now: datetime | None = None) -> list[dict]:
    """"Bij te werken": active clients whose key characteristics are stale (older than their
    max age), oldest first. Work for a quiet hour, not for today. One audit entry."""
    where, params = _scope(store, actor, coach)
    now = clock.now(now)
    keys = [c for c in store.catalog if c.key_characteristic]
    rows = []
    if keys:
        cols = ", ".join(f'profile_times."{c.at_column}"' for c in keys)
        sql = (f"SELECT clients.id, clients.client_number, clients.first_name, clients.last_name, clients.coach, {cols}"
               f" FROM clients JOIN profile_times ON profile_times.client_id = clients.id"
               f" WHERE clients.status = 'active' AND ({where})")
        cut = [iso(now - timedelta(days=c.max_age_days)) for c in keys]
        for row in store.conn.execute(sql, params):
            stale = [(c, at) for c, at, limit in zip(keys, row[5:], cut) if at is not None and at < limit]
            if stale:
                oldest = min(at for _, at in stale)
                rows.append({"coach": row[4], "client_number": row[1],
                             "name": " ".join(p for p in (row[2], row[3]) if p),
                             "stale": ", ".join(c.title() for c, _ in stale), "oldest": oldest[:10]})
    rows.sort(key=lambda r: (r["oldest"], r["client_number"]))
    with write_transaction(store.db):
        audit.record(store.db, actor, "maintenance", f"list:{coach or actor.name}", str(len(rows)))
    return rows


def delivery_problems(store, actor, now: datetime | None = None) -> list[dict]:
    """The administrator's list: messages that failed recently, per client and channel, with
    the reason (a code, never a provider's text). Only admins: these are system problems
    (a relay down, a bad address), not the coach's. One audit entry."""
    if actor.role != "admin":
        raise PermissionDenied(t("attention.admin_only"))
    now = clock.now(now)
    since = iso(now - timedelta(days=store.config.reports.attention_recent_days))
    rows = []
    for number, first, last, coach, channel, reason, n, at in store.conn.execute(
            "SELECT c.client_number, c.first_name, c.last_name, c.coach, m.channel, COALESCE(m.reason, ''),"
            " COUNT(*), MAX(m.updated_at) FROM messages m JOIN clients c ON c.id = m.client_id"
            " WHERE m.status = 'failed' AND m.updated_at >= ? GROUP BY m.client_id, m.channel, m.reason"
            " ORDER BY MAX(m.updated_at) DESC", [since]):
        rows.append({"client_number": number, "name": " ".join(p for p in (first, last) if p), "coach": coach,
                     "channel": channel, "reason": reason, "failed": n, "last": at})
    with write_transaction(store.db):
        audit.record(store.db, actor, "delivery_problems", "list:admin", str(len(rows)))
    return rows
