"""Working on many clients at once: the same observation for every marked client (a tag), and
handing clients to another coach when one leaves. Each is all or nothing: every client is
checked first (a number the actor may not see is named), then everything is written in one
BEGIN IMMEDIATE transaction with one audit entry per client changed.

Reassigning is for team leads (within their team) and admins; the core enforces it."""

from . import access, audit, coaches, followups, segments
from .clients import observe
from .clock import utcnow
from .db import write_transaction
from .errors import BadInput, NotFound, PermissionDenied
from .i18n import t


def _ids(conn, actor, numbers: list[str]) -> list[int]:
    """The ids of these clients, in order; the first number the actor may not see is named."""
    if not numbers:
        raise BadInput(t("bulk.none"))
    scope, params = access.client_scope(actor)
    found = {}
    numbers = list(dict.fromkeys(numbers))
    for start in range(0, len(numbers), 500):
        part = numbers[start:start + 500]
        marks = ", ".join("?" * len(part))
        for cid, number in conn.execute(f"SELECT id, client_number FROM clients WHERE client_number IN ({marks})"
                                        f" AND {scope}", [*part, *params]):
            found[number] = cid
    for number in numbers:
        if number not in found:
            raise NotFound(t("client.not_found", number=number))
    return [found[n] for n in numbers]


def numbers_in(store, actor, segment: str) -> list[str]:
    """The client numbers of a segment that the actor may see, by number."""
    where, params = segments.resolve_where(store, segment)
    scope, scope_params = access.client_scope(actor)
    return [r[0] for r in store.conn.execute(
        f"SELECT clients.client_number FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
        f" WHERE ({where}) AND {scope} ORDER BY clients.client_number", [*params, *scope_params])]


def set_many(store, actor, numbers: list[str], raw: dict[str, str]) -> int:
    """Record the same observations (key -> value as typed) for every one of these clients; all
    or nothing. Returns how many clients."""
    access.can_change_clients(actor)
    parsed = {}
    for key, text in raw.items():
        c = store.catalog.require(key)
        try:
            parsed[c.key] = c.parse(str(text))
        except ValueError as e:
            raise BadInput(t("client.bad_value", key=key, reason=str(e))) from None
    if not parsed:
        raise BadInput(t("bulk.nothing_to_set"))
    at = utcnow()
    with write_transaction(store.db) as conn:
        ids = _ids(conn, actor, numbers)
        for cid in ids:
            for key, value in parsed.items():
                observe(conn, store, cid, key, value, at, "coach", actor.name)
            audit.record(conn, actor, "observe", f"client:{cid}")
    return len(ids)


def reassign(store, actor, to_coach: str, numbers: list[str]) -> int:
    """Give these clients, and their open follow-ups that were their coach's, to another coach;
    all or nothing. A team lead moves only clients of their team, and only to a coach of their
    team; an admin moves anyone to any active coach."""
    access.require(actor, "teamlead", "admin")
    row = store.conn.execute("SELECT role, team, active FROM users WHERE name = ?", [to_coach]).fetchone()
    if row is None or not row[2] or row[0] not in ("coach", "teamlead"):
        raise BadInput(t("bulk.not_a_coach", name=to_coach))
    if actor.role == "teamlead" and row[1] != actor.team:
        raise PermissionDenied(t("bulk.other_team", name=to_coach))
    now = utcnow()
    with write_transaction(store.db) as conn:
        ids = _ids(conn, actor, numbers)
        for cid in ids:
            (old,) = conn.execute("SELECT coach FROM clients WHERE id = ?", [cid]).fetchone()
            coaches.assign(conn, cid, to_coach, now, actor.name)
            conn.execute("UPDATE clients SET coach = ?, updated_at = ? WHERE id = ?", [to_coach, now, cid])
            if old:
                followups.hand_over(conn, cid, old, to_coach)
            audit.record(conn, actor, "reassign", f"client:{cid}")
    return len(ids)


def coaches_for(store, actor) -> list[str]:
    """Who the actor may hand clients to: a team lead their team's coaches, an admin every coach."""
    access.require(actor, "teamlead", "admin")
    sql = "SELECT name FROM users WHERE active = 1 AND (role = 'coach' OR role = 'teamlead')"
    params = []
    if actor.role == "teamlead":
        sql += " AND team IS ?"
        params.append(actor.team)
    return [r[0] for r in store.conn.execute(sql + " ORDER BY name", params)]
