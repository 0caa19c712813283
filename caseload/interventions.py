"""Interventions: the programmes a client takes part in, with start, end and result."""

from datetime import date

from . import access, audit
from .clients import client_id
from .clock import utcnow
from .db import write_transaction
from .errors import BadInput
from .i18n import t
from .values import parse_date

RESULTS = ("completed", "dropped_out", "referred", "work", "other")


def _date(raw, field: str) -> str | None:
    if raw in (None, ""):
        return None
    try:
        return parse_date(str(raw)).isoformat()
    except ValueError as e:
        raise BadInput(t("client.bad_field", field=field, reason=str(e))) from None


def _name(raw: str) -> str:
    name = (raw or "").strip()
    if not name or len(name) > 80:
        raise BadInput(t("intervention.bad_name"))
    return name


def start(store, actor, number: str, name: str, start_date: str | None = None) -> int:
    access.can_change_clients(actor)
    name = _name(name)
    begun = _date(start_date, "start") or date.today().isoformat()
    cid = client_id(store, actor, number)
    with write_transaction(store.db) as conn:
        if conn.execute("SELECT 1 FROM interventions WHERE client_id = ? AND name = ? AND end_date IS NULL",
                        [cid, name]).fetchone():
            raise BadInput(t("intervention.already_active", name=name))
        cur = conn.execute("INSERT INTO interventions (client_id, name, start_date, author, created_at)"
                           " VALUES (?, ?, ?, ?, ?)", [cid, name, begun, actor.name, utcnow()])
        audit.record(store.db, actor, "intervention_start", f"client:{cid}")
        return cur.lastrowid


def end(store, actor, number: str, name: str, end_date: str | None = None, result: str | None = None) -> None:
    access.can_change_clients(actor)
    name = _name(name)
    ended = _date(end_date, "end") or date.today().isoformat()
    if result is not None and result not in RESULTS:
        raise BadInput(t("intervention.bad_result", allowed=", ".join(RESULTS)))
    cid = client_id(store, actor, number)
    with write_transaction(store.db) as conn:
        row = conn.execute("SELECT id, start_date FROM interventions WHERE client_id = ? AND name = ?"
                           " AND end_date IS NULL ORDER BY start_date DESC LIMIT 1", [cid, name]).fetchone()
        if row is None:
            raise BadInput(t("intervention.not_active", name=name))
        if ended < row[1]:
            raise BadInput(t("intervention.end_before_start"))
        conn.execute("UPDATE interventions SET end_date = ?, result = ? WHERE id = ?", [ended, result, row[0]])
        audit.record(store.db, actor, "intervention_end", f"client:{cid}")


def active_names(store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT DISTINCT name FROM interventions ORDER BY name")]
