"""The attention list: per coach, today's clients who need attention, and why, ranked.

Each reason is a Signal: a name, a weight for ranking, and a function that returns
{client_id: detail} for the active clients matching a scope. Signals that need other areas'
tables (check-ins without reply, failed deliveries) register themselves with `register()` from
their own module, or are found here when their tables exist (see `table_signals`)."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from .. import access, audit
from ..clock import iso
from ..db import write_transaction
from ..i18n import t

BARRIERS = {  # bool characteristics whose value means a barrier
    "debts": True, "physical_complaints": True, "personal_problems": True, "low_literacy": True,
    "illiteracy": True, "burnout_recovery": True, "bank_account_issues": True, "addiction_support": True,
    "childcare_arranged": False,
}
ZRM_BARRIER = 2  # a ZRM domain at 1 or 2


@dataclass
class Context:
    store: object
    where: str          # SQL over `clients`: the scope, active clients only
    params: list
    now: datetime       # UTC

    @property
    def recent_since(self) -> str:
        return iso(self.now - timedelta(days=self.store.config.reports.attention_recent_days))

    def clients_sql(self, columns: str = "clients.id") -> str:
        return f"SELECT {columns} FROM clients WHERE {self.where}"


@dataclass
class Signal:
    name: str
    weight: int
    find: Callable[[Context], dict[int, str]]
    needs_table: str | None = None
    doc: str = field(default="")


_REGISTRY: list[Signal] = []


def register(signal: Signal) -> Signal:
    """Add a signal (replacing one of the same name). Other areas call this from their module."""
    _REGISTRY[:] = [s for s in _REGISTRY if s.name != signal.name] + [signal]
    return signal


def unregister(name: str) -> None:
    _REGISTRY[:] = [s for s in _REGISTRY if s.name != name]


def _tables(store) -> dict[str, set[str]]:
    out = {}
    for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        out[name] = {r[1] for r in store.conn.execute(f'PRAGMA table_info("{name}")')}
    return out


def _inactive(ctx: Context) -> dict[int, str]:
    days = ctx.store.config.daemon.inactive_days
    cutoff = iso(ctx.now - timedelta(days=days))
    last = "COALESCE(clients.last_activity, clients.intake_date || 'T00:00:00Z', clients.created_at)"
    out = {}
    for cid, at in ctx.store.conn.execute(f"{ctx.clients_sql(f'clients.id, {last}')} AND {last} < ?",
                                          [*ctx.params, cutoff]):
        since = (ctx.now.date() - date.fromisoformat(at[:10])).days
        out[cid] = t("reports.attention.inactive_detail", days=since)
    return out


def _last_two(ctx: Context, keys: list[str]) -> list[tuple]:
    """(client_id, key, latest value, latest at, previous value or None) for keys observed recently."""
    ids = {ctx.store.ids[k]: k for k in keys if k in ctx.store.ids}
    if not ids:
        return []
    sql = (f"SELECT client_id, characteristic_id, value, observed_at, rn FROM ("
           f" SELECT o.client_id, o.characteristic_id, o.value, o.observed_at, ROW_NUMBER() OVER ("
           f"  PARTITION BY o.client_id, o.characteristic_id ORDER BY o.observed_at DESC, o.seq DESC) AS rn"
           f" FROM observations o WHERE o.client_id IN ({ctx.clients_sql()})"
           f" AND o.characteristic_id IN ({', '.join(map(str, ids))})) WHERE rn <= 2")
    latest, previous = {}, {}
    for cid, chid, value, at, rn in ctx.store.conn.execute(sql, ctx.params):
        (latest if rn == 1 else previous)[(cid, chid)] = (value, at)
    since = ctx.recent_since
    return [(cid, ids[chid], v, at, previous.get((cid, chid), (None,))[0])
            for (cid, chid), (v, at) in latest.items() if at >= since]


def _wellbeing_drop(ctx: Context) -> dict[int, str]:
    out = {}
    for cid, _, value, _, prev in _last_two(ctx, ["wellbeing"]):
        if value is not None and prev is not None and prev - value >= 2:
            out[cid] = t("reports.attention.wellbeing_detail", before=prev, now=value)
    return out


def _is_barrier(store, key: str, value) -> bool:
    if value is None:
        return False
    if key in BARRIERS:
        return bool(value) == BARRIERS[key]
    return key.startswith("zrm_") and value <= ZRM_BARRIER


def _new_barrier(ctx: Context) -> dict[int, str]:
    keys = [k for k in BARRIERS if k in ctx.store.catalog]
    keys += [c.key for c in ctx.store.catalog if c.key.startswith("zrm_") and c.type == "scale"]
    found: dict[int, list[str]] = {}
    for cid, key, value, _, prev in _last_two(ctx, keys):
        if _is_barrier(ctx.store, key, value) and not _is_barrier(ctx.store, key, prev):
            c = ctx.store.catalog[key]
            found.setdefault(cid, []).append(f"{c.title()}: {c.value_title(value)}")
    return {cid: ", ".join(sorted(names)) for cid, names in found.items()}


def _stale_key(ctx: Context) -> dict[int, str]:
    keys = [c for c in ctx.store.catalog if c.key_characteristic]
    if not keys:
        return {}
    cols = ", ".join(f'profile_times."{c.at_column}"' for c in keys)
    sql = (f"SELECT clients.id, {cols} FROM clients JOIN profile_times ON profile_times.client_id = clients.id"
           f" WHERE {ctx.where}")
    cut = {c.key: iso(ctx.now - timedelta(days=c.max_age_days)) for c in keys}
    out = {}
    for row in ctx.store.conn.execute(sql, ctx.params):
        stale = [c.title() for c, at in zip(keys, row[1:]) if at is not None and at < cut[c.key]]
        if stale:
            out[row[0]] = ", ".join(stale)
    return out


def _reply_not_understood(ctx: Context) -> dict[int, str]:
    sql = (f"SELECT n.client_id, count(*) FROM notes n WHERE n.source = 'reply' AND n.created_at >= ?"
           f" AND n.client_id IN ({ctx.clients_sql()}) AND NOT EXISTS (SELECT 1 FROM notes c"
           f"  WHERE c.client_id = n.client_id AND c.source = 'coach' AND c.created_at > n.created_at)"
           f" GROUP BY n.client_id")
    return {cid: t("reports.attention.replies_detail", n=n)
            for cid, n in ctx.store.conn.execute(sql, [ctx.recent_since, *ctx.params])}


def _failed_deliveries(ctx: Context) -> dict[int, str]:
    cols = _tables(ctx.store).get("messages", set())
    when = next((c for c in ("failed_at", "updated_at", "sent_at", "created_at", "queued_at") if c in cols), None)
    since = f" AND m.{when} >= ?" if when else ""
    sql = (f"SELECT m.client_id, count(*) FROM messages m WHERE m.status = 'failed'{since}"
           f" AND m.client_id IN ({ctx.clients_sql()}) GROUP BY m.client_id")
    args = ([ctx.recent_since] if when else []) + ctx.params
    return {cid: t("reports.attention.failed_detail", n=n) for cid, n in ctx.store.conn.execute(sql, args)}


for _s in (
    Signal("failed_delivery", 5, _failed_deliveries, needs_table="messages"),
    Signal("wellbeing_drop", 4, _wellbeing_drop),
    Signal("new_barrier", 4, _new_barrier),
    Signal("reply_not_understood", 3, _reply_not_understood),
    Signal("inactive", 2, _inactive),
    Signal("stale_key", 1, _stale_key),
):
    register(_s)

try:  # the check-ins area's "no reply to the last N check-ins"
    from ..activity import register_signal as _register_activity
except ImportError:  # pragma: no cover - an installation without check-ins
    _register_activity = None
if _register_activity is not None:
    _register_activity(register, Signal)


def signals(store) -> list[Signal]:
    """The registered signals whose tables exist in this database."""
    tables = _tables(store)
    usable = []
    for s in _REGISTRY:
        if s.needs_table is None:
            usable.append(s)
        elif s.needs_table in tables and (s.name != "failed_delivery" or {"client_id", "status"} <= tables[s.needs_table]):
            usable.append(s)
    return usable


def find(store, where: str, params: list, now: datetime | None = None) -> dict[int, list[tuple[Signal, str]]]:
    """client_id -> [(signal, detail)] for the active clients matching where/params."""
    ctx = Context(store, f"clients.status = 'active' AND ({where})", list(params),
                  now or datetime.now(timezone.utc))
    found: dict[int, list[tuple[Signal, str]]] = {}
    for s in signals(store):
        for cid, detail in s.find(ctx).items():
            found.setdefault(cid, []).append((s, detail))
    return found


def attention_list(store, actor, coach: str | None = None, now: datetime | None = None) -> list[dict]:
    """Who needs attention today, ranked; coaches see their own clients, team leads their team's."""
    where, params = access.client_scope(actor, "clients")
    if coach:
        where, params = f"({where}) AND clients.coach = ?", [*params, coach]
    found = find(store, where, params, now)
    if not found:
        return []
    info = {}
    ids = list(found)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for row in store.conn.execute(
                f"SELECT id, client_number, first_name, last_name, coach FROM clients"
                f" WHERE id IN ({', '.join('?' * len(chunk))})", chunk):
            info[row[0]] = row
    rows = []
    for cid, reasons in found.items():
        reasons.sort(key=lambda r: -r[0].weight)
        _, number, first, last, coach_name = info[cid]
        rows.append({
            "coach": coach_name, "client_number": number,
            "name": " ".join(p for p in (first, last) if p), "score": sum(s.weight for s, _ in reasons),
            "reasons": [{"signal": s.name, "detail": d} for s, d in reasons],
            "why": "; ".join(f"{t('reports.signal.' + s.name)}: {d}" if d else t('reports.signal.' + s.name)
                             for s, d in reasons),
            "_id": cid,
        })
    rows.sort(key=lambda r: (r["coach"] or "", -r["score"], r["client_number"]))
    with write_transaction(store.db):
        for r in rows:
            audit.record(store.db, actor, "attention", f"client:{r['_id']}")
    for r in rows:
        del r["_id"]
    return rows


from .. import activity as _activity  # noqa: E402  (its signal: no reply to the last check-ins)

_activity.register_signal(register, Signal)
