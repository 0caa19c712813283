"""The caseload at a glance: the clients an actor may see, narrowed by a segment, sorted by
name, wellbeing, last activity or client number, and read one page at a time by keyset (never
an OFFSET over the whole list once a page is known), with wellbeing, its trend and the
attention reasons of the clients on that page. Built for 500,000 clients: a page is a
bounded query, and the trend and reasons are read for the page's clients only."""

from dataclasses import dataclass, field

from . import access

SORTS = ("name", "wellbeing", "last_activity", "client_number")
PAGE = 100
FROM = "FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
WELLBEING = "wellbeing"


@dataclass
class Row:
    id: int
    client_number: str
    first_name: str | None
    last_name: str | None
    status: str
    coach: str | None
    last_activity: str | None
    wellbeing: int | None
    wellbeing_at: str | None
    key: tuple
    wellbeing_before: int | None = None
    reasons: list[tuple[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def trend(self) -> int:
        """-1 worse, 0 the same or unknown, 1 better than the observation before."""
        if self.wellbeing is None or self.wellbeing_before is None:
            return 0
        return (self.wellbeing > self.wellbeing_before) - (self.wellbeing < self.wellbeing_before)


def _sort_columns(store, sort: str) -> list[str]:
    if sort not in SORTS:
        raise ValueError(sort)
    name = ["COALESCE(clients.last_name, '') COLLATE NOCASE", "COALESCE(clients.first_name, '') COLLATE NOCASE"]
    if sort == "wellbeing":
        first = [f'COALESCE(profile."{store.catalog[WELLBEING].column}", 99)'] if WELLBEING in store.catalog else []
        return [*first, *name, "clients.id"]
    if sort == "last_activity":
        return ["COALESCE(clients.last_activity, '')", *name, "clients.id"]
    if sort == "client_number":
        return ["clients.client_number", "clients.id"]
    return [*name, "clients.id"]


def _from(where: str, sort: str = "name") -> str:
    # the wide profile is read only when the selection or the order needs it
    return FROM if "profile." in where or sort == "wellbeing" else "FROM clients"


def count(store, actor, where: str = "1", params: list | tuple = ()) -> int:
    """How many clients the actor may see are in `where` (SQL from segments.resolve_where)."""
    scope, scope_params = access.client_scope(actor, "clients")
    return store.conn.execute(f"SELECT count(*) {_from(where)} WHERE ({scope}) AND ({where})",
                              [*scope_params, *params]).fetchone()[0]


def page(store, actor, where: str = "1", params: list | tuple = (), sort: str = "name", descending: bool = False,
         after: tuple | None = None, offset: int = 0, limit: int = PAGE, with_reasons: bool = True) -> list[Row]:
    """One page of the caseload. Pass the previous page's last `Row.key` as `after` (keyset);
    `offset` is only for a jump into the middle when no neighbouring page is known. With
    with_reasons=False the attention reasons are left for `reasons()` (show the rows first)."""
    scope, scope_params = access.client_scope(actor, "clients")
    keys = _sort_columns(store, sort)
    sql = (f"SELECT clients.id, clients.client_number, clients.first_name, clients.last_name, clients.status,"
           f" clients.coach, clients.last_activity, NULL, NULL, {', '.join(keys)}"
           f" {_from(where, sort)} WHERE ({scope}) AND ({where})")
    args = [*scope_params, *params]
    direction = "DESC" if descending else ""
    if after is not None:
        sql += f" AND ({', '.join(keys)}) {'<' if descending else '>'} ({', '.join('?' * len(keys))})"
        args += list(after)
    sql += f" ORDER BY {', '.join(f'{k} {direction}' for k in keys)} LIMIT ?"
    args.append(int(limit))
    if after is None and offset:
        sql += " OFFSET ?"
        args.append(int(offset))
    rows = [Row(*r[:9], key=tuple(r[9:])) for r in store.conn.execute(sql, args)]
    if rows and WELLBEING in store.catalog:
        _wellbeing(store, rows)
    if rows and with_reasons:
        found = reasons(store, actor, [r.id for r in rows])
        for r in rows:
            r.reasons = found.get(r.id, [])
    return rows


def _wellbeing(store, rows: list[Row]) -> None:
    """The current wellbeing (profile) and the one observed before it, for the page's clients."""
    wb = store.catalog[WELLBEING]
    by_id = {r.id: r for r in rows}
    marks = ", ".join("?" * len(by_id))
    for cid, value, at in store.conn.execute(
            f'SELECT client_id, "{wb.column}", "{wb.at_column}" FROM profile LEFT JOIN profile_times'
            f' USING (client_id) WHERE client_id IN ({marks})', [*by_id]):
        by_id[cid].wellbeing, by_id[cid].wellbeing_at = value, at
    seen: dict[int, int] = {}
    marks = ", ".join("?" * len(by_id))
    for cid, value in store.conn.execute(
            f"SELECT client_id, value FROM observations WHERE client_id IN ({marks}) AND characteristic_id = ?"
            " ORDER BY client_id, observed_at DESC, seq DESC", [*by_id, store.ids[WELLBEING]]):
        seen[cid] = seen.get(cid, 0) + 1
        if seen[cid] == 2:
            by_id[cid].wellbeing_before = value


def reasons(store, actor, client_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """The attention signals (reports.attention) of these clients, strongest first:
    client id -> [(signal, detail)]. Only clients the actor may see."""
    from .reports.attention import find

    if not client_ids:
        return {}
    scope, scope_params = access.client_scope(actor, "clients")
    where = f"({scope}) AND clients.id IN ({', '.join('?' * len(client_ids))})"
    out = {}
    for cid, found in find(store, where, [*scope_params, *client_ids]).items():
        found.sort(key=lambda r: -r[0].weight)
        out[cid] = [(s.name, d) for s, d in found]
    return out
