"""Who is asking, and what their role lets them see and change. Enforced here, in the core,
so the CLI, the TUI and the daemon get the same answer."""

import getpass
import os
import socket
from dataclasses import dataclass

from .clock import utcnow
from .errors import PermissionDenied
from .i18n import t

ROLES = ("coach", "teamlead", "analyst", "admin")


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    team: str | None = None
    origin: str = "cli"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def os_user() -> str:
    """The person sudo vouches for (SUDO_USER), else the OS account running us."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def under_sudo() -> bool:
    """True when sudo runs us for another account (`sudo -u caseload caseload ...`). Then only
    sudo vouches for the environment: the caller's own files and flags are not trusted."""
    uid = os.environ.get("SUDO_UID", "")
    return bool(os.environ.get("SUDO_USER")) and uid.isdigit() and int(uid) != os.geteuid()


def origin(interface: str) -> str:
    ssh = os.environ.get("SSH_CLIENT", "").split(" ")[0]
    return f"{interface}@{socket.gethostname()}" + (f" from {ssh}" if ssh else "")


def system_actor(interface: str = "daemon") -> Actor:
    """The service itself (daemon, nightly jobs); acts as admin, audited as 'system'."""
    return Actor(name="system", role="admin", origin=origin(interface))


def resolve_actor(db, name: str | None = None, interface: str = "cli") -> Actor:
    name = name or os_user()
    row = db.execute("SELECT role, team, active FROM users WHERE name = ?", [name]).fetchone()
    if row is None or not row[2]:
        raise PermissionDenied(t("access.unknown_user", user=name))
    return Actor(name=name, role=row[0], team=row[1], origin=origin(interface))


def add_user(db, name: str, role: str, team: str | None = None) -> None:
    db.execute("INSERT INTO users (name, role, team, active, created_at) VALUES (?, ?, ?, 1, ?)",
               [name, role, team, utcnow()])


def require(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise PermissionDenied(t("access.denied", role=actor.role))


def require_admin(actor: Actor) -> None:
    require(actor, "admin")


def client_scope(actor: Actor, alias: str = "clients") -> tuple[str, list]:
    """A WHERE fragment limiting clients to what the actor may see individually."""
    if actor.role == "admin":
        return "1", []
    if actor.role == "coach":
        return f"{alias}.coach = ?", [actor.name]
    if actor.role == "teamlead":
        return (f"{alias}.coach IN (SELECT name FROM users WHERE team IS ?)", [actor.team])
    raise PermissionDenied(t("access.no_client_data", role=actor.role))


def aggregate_scope(actor: Actor, alias: str = "clients") -> tuple[str, list]:
    """What aggregates may count: analysts see the whole organisation, in suppressed groups."""
    if actor.role == "analyst":
        return "1", []
    return client_scope(actor, alias)


def can_change_clients(actor: Actor) -> None:
    require(actor, "coach", "teamlead", "admin")
