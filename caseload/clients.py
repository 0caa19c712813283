"""Clients and their observations: the profile is the latest observation per characteristic,
and the whole history stays. Every function takes the acting user; reads and changes are
scoped by role and written to the audit trail."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from . import access, audit, coaches
from .clock import parse_iso, utcnow
from .db import write_transaction
from .errors import BadInput, NotFound
from .fields import FIELDS, find as find_field
from .i18n import language, t

SOURCES = ("import", "coach", "reply", "system")
OBSERVE_SQL = (
    "INSERT INTO observations (client_id, characteristic_id, observed_at, seq, value, source, author)"
    " VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq) + 1, 0) FROM observations"
    " WHERE client_id = ? AND characteristic_id = ? AND observed_at = ?), ?, ?, ?)")
LIST_COLUMNS = ("client_number", "first_name", "last_name", "coach", "status", "preferred_channel",
                "intake_date", "last_activity")


@dataclass
class ProfileValue:
    key: str
    value: object
    observed_at: str | None
    stale: bool


def is_stale(observed_at: str | None, max_age_days: int, now: datetime | None = None) -> bool:
    if observed_at is None:
        return False
    now = now or datetime.now(timezone.utc)
    return parse_iso(observed_at) < now - timedelta(days=max_age_days)


def _row(store, actor, number: str, audit_action: str | None = "view") -> dict:
    where, params = access.client_scope(actor, "clients")
    row = store.db.execute(
        f"SELECT * FROM clients WHERE client_number = ? AND {where}", [number, *params]).fetchone()
    if row is None:
        raise NotFound(t("client.not_found", number=number))
    cols = [d[0] for d in store.db.execute("SELECT * FROM clients LIMIT 0").description]
    client = dict(zip(cols, row))
    if audit_action:
        audit.record(store.db, actor, audit_action, f"client:{client['id']}")
    return client


def get_client(store, actor, number: str) -> dict:
    """A client's fields; recorded as a view in the audit trail."""
    return _row(store, actor, number)


def client_id(store, actor, number: str) -> int:
    return _row(store, actor, number, audit_action=None)["id"]


def client_fields(store, actor, number: str) -> dict:
    """A client's fields without an audit entry: for callers that record their own view."""
    return _row(store, actor, number, audit_action=None)


def profile(store, client_id: int, include_special: bool = True) -> list[ProfileValue]:
    cur = store.db.execute("SELECT * FROM profile LEFT JOIN profile_times USING (client_id) WHERE client_id = ?",
                           [client_id])
    row = cur.fetchone()
    if row is None:
        return []
    data = dict(zip([d[0] for d in cur.description], row))
    now = datetime.now(timezone.utc)
    out = []
    for c in store.catalog:
        if c.special and not include_special:
            continue
        value = data.get(c.column)
        if value is None:
            continue
        at = data.get(c.at_column)
        out.append(ProfileValue(c.key, c.from_sql(value), at, is_stale(at, c.max_age_days, now)))
    return out


def show_client(store, actor, number: str) -> dict:
    """Everything a coach sees on one client: fields, profile, notes, interventions."""
    client = get_client(store, actor, number)
    cid = client["id"]
    client["profile"] = profile(store, cid)
    client["notes"] = [dict(zip(("text", "source", "author", "created_at"), r)) for r in store.db.execute(
        "SELECT text, source, author, created_at FROM notes WHERE client_id = ? ORDER BY created_at, id", [cid])]
    client["interventions"] = [dict(zip(("name", "start_date", "end_date", "result"), r)) for r in store.db.execute(
        "SELECT name, start_date, end_date, result FROM interventions WHERE client_id = ? ORDER BY start_date, id",
        [cid])]
    return client


def history(store, actor, number: str, key: str) -> list[dict]:
    c = store.catalog.require(key)
    cid = client_id(store, actor, number)
    audit.record(store.db, actor, "view_history", f"client:{cid}")
    return [{"value": c.from_sql(v), "observed_at": at, "source": s, "author": a} for v, at, s, a in store.db.execute(
        "SELECT value, observed_at, source, author FROM observations WHERE client_id = ? AND characteristic_id = ?"
        " ORDER BY observed_at, seq", [cid, store.ids[c.key]])]


def list_clients(store, actor, limit: int | None = None, after: tuple | None = None,
                 where: str = "1", params: list | None = None) -> list[dict]:
    """Clients in (last_name, first_name, id) order, paged by keyset: pass the last row's key."""
    scope, scope_params = access.client_scope(actor, "clients")
    sql = f"SELECT id, {', '.join(LIST_COLUMNS)} FROM clients WHERE {scope} AND ({where})"
    args = [*scope_params, *(params or [])]
    if after is not None:
        sql += " AND (COALESCE(last_name, ''), COALESCE(first_name, ''), id) > (?, ?, ?)"
        args += list(after)
    sql += " ORDER BY COALESCE(last_name, ''), COALESCE(first_name, ''), id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    cols = ("id", *LIST_COLUMNS)
    return [dict(zip(cols, r)) for r in store.db.execute(sql, args)]


def parse_fields(raw: dict[str, str]) -> dict:
    """Built-in fields from text; BadInput names the first bad field."""
    out = {}
    for given, text in raw.items():
        f = find_field(given)  # by name or label: telefoon=...
        if f is None:
            raise BadInput(t("client.unknown_field", field=given, allowed=", ".join(FIELDS)))
        name = f.name
        if name in out:
            raise BadInput(t("naming.named_twice", key=name))
        if text is None or str(text).strip() == "":
            out[name] = None
            continue
        try:
            out[name] = f.parse(str(text))
        except ValueError as e:
            raise BadInput(t("client.bad_field", field=name, reason=str(e))) from None
    if out.get("outflow_type"):
        out["status"] = "outflow"
    return out


def add_client(store, actor, raw: dict[str, str]) -> int:
    access.can_change_clients(actor)
    fields = parse_fields(raw)
    if not fields.get("client_number"):
        raise BadInput(t("client.number_required"))
    if actor.role == "coach":
        fields.setdefault("coach", actor.name)
        if fields["coach"] != actor.name:
            raise BadInput(t("client.coach_only_self"))
    now = utcnow()
    fields.setdefault("status", "active")
    fields.setdefault("intake_date", date.today().isoformat())
    with write_transaction(store.db) as conn:
        if conn.execute("SELECT 1 FROM clients WHERE client_number = ?", [fields["client_number"]]).fetchone():
            raise BadInput(t("client.exists", number=fields["client_number"]))
        cols = [*fields, "created_at", "updated_at"]
        cur = conn.execute(
            f"INSERT INTO clients ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [*fields.values(), now, now])
        cid = cur.lastrowid
        conn.execute("INSERT INTO profile (client_id) VALUES (?)", [cid])
        coaches.open_first(conn, "id = ?", [cid], actor.name)
        audit.record(store.db, actor, "create", f"client:{cid}")
    return cid


def update_client(store, actor, number: str, raw: dict[str, str]) -> None:
    access.can_change_clients(actor)
    fields = parse_fields(raw)
    if "client_number" in fields:
        raise BadInput(t("client.number_fixed"))
    if actor.role == "coach" and "coach" in fields and fields["coach"] != actor.name:
        raise BadInput(t("client.coach_only_self"))
    cid = client_id(store, actor, number)
    now = utcnow()
    with write_transaction(store.db) as conn:
        if "coach" in fields:
            coaches.assign(conn, cid, fields["coach"], now, actor.name)
        sets = ", ".join(f"{k} = ?" for k in fields)
        conn.execute(f"UPDATE clients SET {sets}, updated_at = ? WHERE id = ?", [*fields.values(), now, cid])
        audit.record(store.db, actor, "change", f"client:{cid}")


def observe(conn, store, cid: int, key: str, value, observed_at: str, source: str, author: str | None) -> None:
    """Write one typed observation and move the profile if it is the newest. Inside a transaction."""
    observe_stored(conn, store.catalog[key], store.ids[key], cid, store.catalog[key].to_sql(value), observed_at,
                   source, author)


def observe_stored(conn, c, kid: int, cid: int, stored, observed_at: str, source: str, author: str | None) -> None:
    """observe() for a value already in its stored form."""
    conn.execute(OBSERVE_SQL, (cid, kid, observed_at, cid, kid, observed_at, stored, source, author))
    moved = conn.execute(
        f'INSERT INTO profile_times (client_id, "{c.at_column}") VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE'
        f' SET "{c.at_column}" = excluded."{c.at_column}"'
        f' WHERE "{c.at_column}" IS NULL OR "{c.at_column}" <= excluded."{c.at_column}"', (cid, observed_at)).rowcount
    if moved:
        conn.execute(f'UPDATE profile SET "{c.column}" = ? WHERE client_id = ?', (stored, cid))


def set_characteristics(store, actor, number: str, raw: dict[str, str], source: str = "coach",
                        observed_at: str | None = None) -> int:
    """Record observations from text (key -> value as typed); all or nothing. Returns how many."""
    access.can_change_clients(actor)
    if source not in SOURCES:
        raise BadInput(t("client.bad_source", allowed=", ".join(SOURCES)))
    parsed = {}
    for key, text in raw.items():
        c = store.catalog.require(key)  # by key or by label: welbevinden=3
        if c.key in parsed:
            raise BadInput(t("naming.named_twice", key=c.key))
        try:
            parsed[c.key] = c.parse(str(text)) if isinstance(text, str) else c.check(text)
        except ValueError as e:
            raise BadInput(t("client.bad_value", key=key, reason=str(e))) from None
    cid = client_id(store, actor, number)
    at = observed_at or utcnow()
    with write_transaction(store.db) as conn:
        for key, value in parsed.items():
            observe(conn, store, cid, key, value, at, source, actor.name)
        if source == "coach" and observed_at is None:  # a contact logged now is activity
            conn.execute("UPDATE clients SET last_activity = MAX(COALESCE(last_activity, ''), ?) WHERE id = ?", [at, cid])
        audit.record(store.db, actor, "observe", f"client:{cid}")
    return len(parsed)


def add_note(store, actor, number: str, text: str, source: str = "coach") -> None:
    access.can_change_clients(actor)
    if not text.strip():
        raise BadInput(t("client.empty_note"))
    cid = client_id(store, actor, number)
    with write_transaction(store.db) as conn:
        now = utcnow()
        conn.execute("INSERT INTO notes (client_id, text, source, author, created_at) VALUES (?, ?, ?, ?, ?)",
                     [cid, text, source, actor.name, now])
        if source == "coach":
            conn.execute("UPDATE clients SET last_activity = ? WHERE id = ?", [now, cid])
        audit.record(store.db, actor, "note", f"client:{cid}")


def record_outflow(store, actor, number: str, outflow_type: str, outflow_date: str | None = None,
                   correct: bool = False) -> dict:
    """Record that a client left. An outflow before the intake date is refused, and so is a
    second outflow: it replaces the first only as a correction (`correct=True`, audited as
    `outflow_correct`), as case systems do. Returns what was recorded."""
    access.can_change_clients(actor)
    parsed = parse_fields({"outflow_type": outflow_type, "outflow_date": outflow_date or date.today().isoformat()})
    outflow_type, when = parsed["outflow_type"], parsed["outflow_date"]
    if outflow_type is None:
        raise BadInput(t("client.bad_field", field="outflow_type", reason=t("value.empty")))
    cid = client_id(store, actor, number)
    with write_transaction(store.db) as conn:
        intake, old_type, old_date = conn.execute(
            "SELECT intake_date, outflow_type, outflow_date FROM clients WHERE id = ?", [cid]).fetchone()
        if intake and when < intake:
            raise BadInput(t("client.outflow_before_intake", date=show_day(when), intake=show_day(intake)))
        if old_date and not correct:
            raise BadInput(t("client.outflow_already", number=number, date=show_day(old_date),
                             type=t(f"reports.type.{old_type or 'other'}")))
        conn.execute("UPDATE clients SET status = 'outflow', outflow_type = ?, outflow_date = ?, updated_at = ?"
                     " WHERE id = ?", [outflow_type, when, utcnow(), cid])
        audit.record(store.db, actor, "outflow_correct" if old_date else "outflow", f"client:{cid}")
    return {"client_number": number, "outflow_type": outflow_type, "outflow_date": when,
            "corrected": bool(old_date)}


def show_day(iso_date: str) -> str:
    """A date as people in the current language write it (31-12-2025 in Dutch)."""
    y, m, d = iso_date[:10].split("-")
    return f"{d}-{m}-{y}" if language() == "nl" else f"{y}-{m}-{d}"