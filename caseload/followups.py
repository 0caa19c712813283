"""Follow-ups: something a coach must do for a client by a date ("terugbellen vrijdag").

A follow-up has what, when (a date in the organisation's calendar) and for whom (a user; by
default whoever adds it). Open ones due today or earlier put the client on the attention list
(caseload.attention, "followup_due") until they are done. Scoped and audited like every read
or change of a client.
"""

from datetime import date, datetime

from . import access, audit, clock
from .clock import iso
from .clients import client_id
from .db import write_transaction
from .errors import BadInput, NotFound
from .i18n import t
from .values import parse_date

MAX_WHAT = 500
WEEKDAYS = {"maandag": 0, "dinsdag": 1, "woensdag": 2, "donderdag": 3, "vrijdag": 4, "zaterdag": 5, "zondag": 6,
            "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6}
RELATIVE = {"vandaag": 0, "today": 0, "morgen": 1, "tomorrow": 1, "overmorgen": 2}


def parse_due(text: str | date, today: date) -> date:
    """A due date: a date (2026-03-06, 06-03-2026), today/vandaag, morgen/tomorrow, +N (days),
    or a weekday (vrijdag, friday: the next one, today excluded)."""
    if isinstance(text, date):
        return text
    raw = str(text).strip().lower()
    if raw in RELATIVE:
        return date.fromordinal(today.toordinal() + RELATIVE[raw])
    if raw.startswith("+") and raw[1:].isdigit() and len(raw) <= 5:
        return date.fromordinal(today.toordinal() + int(raw[1:]))
    if raw in WEEKDAYS:
        ahead = (WEEKDAYS[raw] - today.weekday()) % 7 or 7
        return date.fromordinal(today.toordinal() + ahead)
    try:
        return parse_date(raw)
    except ValueError as e:
        raise BadInput(t("followup.bad_due", value=text, reason=str(e))) from None


def add(store, actor, number: str, what: str, due: str | date, assignee: str | None = None,
        now: datetime | None = None) -> int:
    """A follow-up for a client; returns its id. `assignee` must be an active staff user."""
    access.can_change_clients(actor)
    what = (what or "").strip()
    if not what:
        raise BadInput(t("followup.empty"))
    if len(what) > MAX_WHAT:
        raise BadInput(t("followup.too_long", max=MAX_WHAT))
    now = clock.now(now)
    day = parse_due(due, now.astimezone(store.tz).date())
    assignee = (assignee or actor.name).strip()
    row = store.db.execute("SELECT role, active FROM users WHERE name = ?", [assignee]).fetchone()
    if row is None or not row[1] or row[0] == "analyst":
        raise BadInput(t("followup.bad_assignee", name=assignee))
    cid = client_id(store, actor, number)
    with write_transaction(store.db) as conn:
        fid = conn.execute("INSERT INTO follow_ups (client_id, what, due_date, assignee, author, created_at)"
                           " VALUES (?, ?, ?, ?, ?, ?)",
                           [cid, what, day.isoformat(), assignee, actor.name, iso(now)]).lastrowid
        audit.record(conn, actor, "followup_add", f"client:{cid}", f"followup:{fid}")
    return fid


def done(store, actor, followup_id: int, now: datetime | None = None) -> None:
    """Mark a follow-up done (of a client the actor may change)."""
    access.can_change_clients(actor)
    now = clock.now(now)
    where, params = access.client_scope(actor, "clients")
    row = store.db.execute(
        f"SELECT f.client_id, f.done_at FROM follow_ups f JOIN clients ON clients.id = f.client_id"
        f" WHERE f.id = ? AND ({where})", [followup_id, *params]).fetchone()
    if row is None:
        raise NotFound(t("followup.not_found", id=followup_id))
    if row[1] is not None:
        raise BadInput(t("followup.already_done", id=followup_id))
    with write_transaction(store.db) as conn:
        conn.execute("UPDATE follow_ups SET done_at = ?, done_by = ? WHERE id = ?", [iso(now), actor.name, followup_id])
        audit.record(conn, actor, "followup_done", f"client:{row[0]}", f"followup:{followup_id}")


COLUMNS = ["id", "client_number", "name", "what", "due_date", "assignee", "author", "done_at"]


def hand_over(conn, cid: int, old_coach: str, new_coach: str) -> int:
    """A client's open follow-ups that were the old coach's become the new coach's (bulk.reassign).
    Inside its transaction."""
    return conn.execute("UPDATE follow_ups SET assignee = ? WHERE client_id = ? AND assignee = ? AND done_at IS NULL",
                        [new_coach, cid, old_coach]).rowcount


def list_followups(store, actor, number: str | None = None, assignee: str | None = None, due_only: bool = False,
                   include_done: bool = False, now: datetime | None = None, limit: int = 1000) -> list[dict]:
    """Follow-ups of the clients the actor may see, earliest due first: one client's
    (`number`), one user's (`assignee`), only those due by today (`due_only`). One audit entry."""
    now = clock.now(now)
    where, params = access.client_scope(actor, "clients")
    sql = [f"SELECT f.id, clients.client_number, clients.first_name, clients.last_name, f.what, f.due_date,"
           f" f.assignee, f.author, f.done_at, f.client_id FROM follow_ups f JOIN clients ON clients.id = f.client_id"
           f" WHERE ({where})"]
    args = list(params)
    target = "list:followups"
    if number is not None:
        cid = client_id(store, actor, number)
        sql.append("AND f.client_id = ?")
        args.append(cid)
        target = f"client:{cid}"
    if assignee:
        sql.append("AND f.assignee = ?")
        args.append(assignee)
    if not include_done:
        sql.append("AND f.done_at IS NULL")
    if due_only:
        sql.append("AND f.due_date <= ?")
        args.append(now.astimezone(store.tz).date().isoformat())
    sql.append("ORDER BY f.done_at IS NOT NULL, f.due_date, f.id LIMIT ?")
    args.append(limit)
    rows = [{"id": r[0], "client_number": r[1], "name": " ".join(p for p in (r[2], r[3]) if p), "what": r[4],
             "due_date": r[5], "assignee": r[6], "author": r[7], "done_at": r[8]}
            for r in store.db.execute(" ".join(sql), args)]
    with write_transaction(store.db):
        audit.record(store.db, actor, "followup_list", target, str(len(rows)))
    return rows
