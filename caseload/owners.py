"""Owners of shared objects: templates, saved segments, campaigns and check-in schedules.

Every such object has an owner, the user who made it. Templates and saved segments are shared
for reading (a team reuses texts and selections); only the owner, a team lead of the owner's
team, or an admin may replace, delete, pause, resume or retry them. The daemon runs a campaign
or check-in schedule with its owner's role scope.

A template or saved segment that a scheduled campaign or check-in schedule uses (`users_of_...`)
is part of what that campaign sends or whom it reaches: changing it also needs the right to
change each of them, and the change is audited on each of them (`content_change`, with who
changed it and the object by internal id).
"""

from dataclasses import dataclass

from . import audit
from .errors import PermissionDenied
from .i18n import t


def may_change(db, actor, owner: str | None) -> bool:
    """The owner, a team lead whose team is the owner's team, or an admin."""
    if actor.role == "admin" or (owner is not None and owner == actor.name):
        return True
    if actor.role != "teamlead" or actor.team is None or owner is None:
        return False
    row = db.execute("SELECT team FROM users WHERE name = ?", [owner]).fetchone()
    return row is not None and row[0] == actor.team


def require(db, actor, owner: str | None, what: str) -> None:
    if not may_change(db, actor, owner):
        raise PermissionDenied(t("owners.not_yours", what=what, owner=owner or "-"))


@dataclass(frozen=True)
class User:
    """A scheduled campaign or check-in schedule that uses a template or saved segment."""

    kind: str  # "campaign" or "checkin_schedule"
    id: int
    name: str
    owner: str | None

    @property
    def title(self) -> str:
        return t("owners.campaign", name=self.name) if self.kind == "campaign" else t("owners.schedule", id=self.id)


LIVE_CAMPAIGNS = ("SELECT p.id, p.name, p.owner, p.template, p.segment FROM campaigns p"
                  " JOIN campaign_schedules s ON s.campaign_id = p.id"
                  " WHERE p.status = 'active' AND (s.kind = 'relative' OR s.next_at IS NOT NULL) ORDER BY p.id")


def users_of_template(db, name: str) -> list[User]:
    """Active scheduled campaigns that will still send template `name`."""
    return [User("campaign", cid, cname, owner) for cid, cname, owner, template, _ in db.execute(LIVE_CAMPAIGNS)
            if template == name]


def users_of_segment(store, name: str) -> list[User]:
    """Active scheduled campaigns and check-in schedules whose segment selects through the saved
    segment `name` (directly or through other saved segments)."""
    from .segments import depends_on

    key = name.casefold()
    out = [User("campaign", cid, cname, owner) for cid, cname, owner, _, segment in store.db.execute(LIVE_CAMPAIGNS)
           if key in depends_on(store, segment or "")]
    out += [User("checkin_schedule", sid, str(sid), owner) for sid, owner, segment in store.db.execute(
        "SELECT id, owner, segment FROM checkin_schedules WHERE status = 'active' ORDER BY id")
        if key in depends_on(store, segment or "")]
    return out


def require_users(db, actor, users: list[User], what: str) -> None:
    """Changing what a campaign sends or reaches is changing that campaign."""
    for u in users:
        if not may_change(db, actor, u.owner):
            raise PermissionDenied(t("owners.used_by", what=what, user=u.title, owner=u.owner or "-"))


def record_change(conn, actor, users: list[User], changed: str) -> None:
    """Audit, on each campaign or schedule, that what it sends or reaches was changed."""
    for u in users:
        audit.record(conn, actor, "content_change", f"{u.kind}:{u.id}", changed)
