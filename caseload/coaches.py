"""Who coached a client when: the one writer of `coach_periods` (migration 0028).

A period is one coach from `since` until `until` (UTC moments; `until` NULL: the current coach).
Whatever sets or changes `clients.coach` calls this module in the same transaction: a client's
first coach is theirs from the intake date (`open_first`), a change closes the open period and
opens the next at the moment of the change (`assign`, called before `clients.coach` is written).
Erasure and retention remove the periods with the client (erasure finds the `client_id`).

Reports ask for the coach of each client at the end of a day (`on_day_sql`), the moment a cohort
is taken (reports.common.active_on); a client with no period then counts for its current coach,
as history from before migration 0028 is not known."""

from datetime import date, timedelta

FIRST_SINCE = "COALESCE(NULLIF(intake_date, '') || 'T00:00:00Z', created_at)"


def open_first(conn, where: str, params: list, author: str | None) -> int:
    """Open the first period of the clients matching `where` (on clients) that have a coach and no
    open period, from their intake date. Returns how many."""
    return conn.execute(
        f"INSERT INTO coach_periods (client_id, coach, since, author) SELECT id, coach, {FIRST_SINCE}, ?"
        f" FROM clients WHERE coach IS NOT NULL AND coach != '' AND ({where})"
        " AND NOT EXISTS (SELECT 1 FROM coach_periods p WHERE p.client_id = clients.id AND p.until IS NULL)"
        " ORDER BY id", [author, *params]).rowcount


def assign(conn, cid: int, coach: str | None, at: str, author: str | None) -> bool:
    """The client's coach becomes `coach` (None: no coach) at moment `at`: the open period closes
    and a new one opens. Call it before clients.coach is written: a client without any period
    (inserted before this history was kept) gets its old coach's period first. False when the
    coach stays the same."""
    coach = coach or None
    row = conn.execute("SELECT id, coach FROM coach_periods WHERE client_id = ? AND until IS NULL", [cid]).fetchone()
    if row is None and not conn.execute("SELECT 1 FROM coach_periods WHERE client_id = ?", [cid]).fetchone():
        open_first(conn, "id = ?", [cid], None)
        row = conn.execute("SELECT id, coach FROM coach_periods WHERE client_id = ? AND until IS NULL",
                           [cid]).fetchone()
    if (row[1] if row else None) == coach:
        return False
    if row is not None:
        conn.execute("UPDATE coach_periods SET until = ? WHERE id = ?", [at, row[0]])
    if coach is not None:
        conn.execute("INSERT INTO coach_periods (client_id, coach, since, author) VALUES (?, ?, ?, ?)",
                     [cid, coach, at, author])
    return True


def insert_history(conn, rows: list[tuple]) -> None:
    """Periods made up whole, for the synthetic demo: (client_id, coach, since, until, author)."""
    conn.executemany("INSERT INTO coach_periods (client_id, coach, since, until, author) VALUES (?, ?, ?, ?, ?)",
                     rows)


def periods(conn, cid: int) -> list[tuple]:
    """A client's periods, oldest first: (coach, since, until, author)."""
    return conn.execute("SELECT coach, since, until, author FROM coach_periods WHERE client_id = ?"
                        " ORDER BY since, id", [cid]).fetchall()


def on_day_sql(day: date, alias: str = "clients") -> str:
    """SQL: the client's coach at the end of `day` (UTC), or its current coach when no period
    covers that moment, or ''."""
    moment = (day + timedelta(days=1)).isoformat() + "T00:00:00Z"
    return (f"COALESCE((SELECT p.coach FROM coach_periods p WHERE p.client_id = {alias}.id"
            f" AND p.since <= '{moment}' AND (p.until IS NULL OR p.until > '{moment}')"
            f" ORDER BY p.since DESC LIMIT 1), {alias}.coach, '')")
