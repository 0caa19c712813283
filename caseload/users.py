"""Users and their roles: closed registration, managed by admins, every change audited.

A user's name is the account that sudo (or SSH) vouches for; a client's `coach` is a user name.
"""

import logging
import re

from . import access, audit
from .access import ROLES
from .clock import utcnow
from .db import write_transaction
from .errors import BadInput, NotFound
from .i18n import t

log = logging.getLogger("caseload.users")
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")
COLUMNS = ("name", "role", "team", "active", "created_at")


def _check(name: str, role: str, team: str | None) -> tuple[str, str, str | None]:
    if not NAME_RE.fullmatch(name or ""):
        raise BadInput(t("users.bad_name", name=name))
    if role not in ROLES:
        raise BadInput(t("users.bad_role", role=role, allowed=", ".join(ROLES)))
    team = (team or "").strip() or None
    if role == "teamlead" and team is None:
        raise BadInput(t("users.team_required"))
    return name, role, team


def _active_admins(conn, other_than: str) -> int:
    return conn.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1 AND name != ?",
                        [other_than]).fetchone()[0]


def add(store, actor, name: str, role: str, team: str | None = None) -> str:
    """Add a user, or change an existing user's role and team (enabling them again).
    Returns "added" or "changed". Admins only; audited as a role change."""
    access.require_admin(actor)
    name, role, team = _check(name, role, team)
    with write_transaction(store.db) as conn:
        row = conn.execute("SELECT role, active FROM users WHERE name = ?", [name]).fetchone()
        if row is None:
            conn.execute("INSERT INTO users (name, role, team, active, created_at) VALUES (?, ?, ?, 1, ?)",
                         [name, role, team, utcnow()])
            outcome = "added"
        else:
            if row[0] == "admin" and role != "admin" and row[1] and not _active_admins(conn, name):
                raise BadInput(t("users.last_admin", name=name))
            conn.execute("UPDATE users SET role = ?, team = ?, active = 1 WHERE name = ?", [role, team, name])
            outcome = "changed"
        audit.record(store.db, actor, "role_change", f"user:{name}", f"{outcome}:{role}")
    log.info("role change by %s: user %s %s as %s", actor.name, name, outcome, role)
    return outcome


def disable(store, actor, name: str) -> None:
    """Take away all access; the user's history stays. The last active admin cannot go."""
    access.require_admin(actor)
    with write_transaction(store.db) as conn:
        row = conn.execute("SELECT role, active FROM users WHERE name = ?", [name]).fetchone()
        if row is None:
            raise NotFound(t("users.not_found", name=name))
        if row[0] == "admin" and row[1] and not _active_admins(conn, name):
            raise BadInput(t("users.last_admin", name=name))
        conn.execute("UPDATE users SET active = 0 WHERE name = ?", [name])
        audit.record(store.db, actor, "user_disable", f"user:{name}")
    log.info("user %s disabled by %s", name, actor.name)


def list_users(store, actor) -> list[dict]:
    access.require_admin(actor)
    rows = store.db.execute(f"SELECT {', '.join(COLUMNS)} FROM users ORDER BY name").fetchall()
    audit.record(store.db, actor, "view_users", "users")
    return [{**dict(zip(COLUMNS, r)), "active": bool(r[3])} for r in rows]


def register_first_admin(store, name: str, actor_origin: str = "cli") -> bool:
    """`caseload init`: whoever creates the database becomes its first admin. Only a store
    that created the database file itself may register one (an existing database, even one
    without users, is never handed to whoever runs init first). False when users exist."""
    if not store.created:
        return False
    with write_transaction(store.db) as conn:
        if conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
            return False
        name, role, team = _check(name, "admin", None)
        conn.execute("INSERT INTO users (name, role, team, active, created_at) VALUES (?, 'admin', NULL, 1, ?)",
                     [name, utcnow()])
        actor = access.Actor(name=name, role="admin", origin=access.origin(actor_origin))
        audit.record(store.db, actor, "role_change", f"user:{name}", "added:admin")
    return True
