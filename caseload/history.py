"""Dated history in: what a municipality knew, on the day it knew it.

A long-form history file holds one observation per row: client_number, characteristic, value,
observed_at (Dutch headers: klantnummer, kenmerk, waarde, datum). Values are read as the client
import reads them (ja/nee, 12,5, 31-12-2024); the date as a day (31-12-2024 or 2024-12-31, stored
as that day at 00:00 UTC) or a stored timestamp. Every row is checked before the write lock is
taken; one bad row means nothing is written, and every bad row is named. An observation already
recorded with the same value at the same moment is not recorded twice, so the same file can be
imported again. The profile moves only where an imported value is newer than what it holds: an
old value never overwrites a newer one."""

import re
from datetime import date, datetime, timezone

from . import access, audit, values
from .clock import FORMAT, utcnow
from .errors import BadInput, CaseloadError
from .i18n import t

BATCH = 2000
COLUMNS = {
    "clientnumber": "client_number", "klantnummer": "client_number", "klantnr": "client_number",
    "clientnr": "client_number", "characteristic": "characteristic", "kenmerk": "characteristic",
    "key": "characteristic", "value": "value", "waarde": "value", "observedat": "observed_at",
    "datum": "observed_at", "date": "observed_at", "peildatum": "observed_at", "observed": "observed_at",
}
# a wide client file's one observation date for its row
ROW_DATE_HEADERS = {"peildatum", "observedat", "observationdate", "datumwaarneming"}
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def is_history(headers: list[str]) -> bool:
    """A long-form history file: it names a characteristic column and a value column."""
    targets = {COLUMNS.get(values.fold(h)) for h in headers}
    return {"characteristic", "value"} <= targets


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def observed_at(raw: str, today: date | None = None) -> str:
    """A day or a stored timestamp as a stored timestamp; a day to come is refused."""
    raw = raw.strip()
    if _STAMP.fullmatch(raw):
        try:
            moment = datetime.strptime(raw, FORMAT).replace(tzinfo=timezone.utc)
        except ValueError:
            raise ValueError(t("value.not_a_date")) from None
        if moment > datetime.now(timezone.utc):
            raise ValueError(t("impact.in_future"))
        return raw
    day = values.parse_date(raw)
    if day > (today or utc_today()):
        raise ValueError(t("impact.in_future"))
    return f"{day.isoformat()}T00:00:00Z"


def import_history(store, actor, table, dry_run: bool = False):
    """Check and write a history file (an open tables.Table) all or nothing; an ImportReport."""
    from .importer import CellError, ImportRefused, ImportReport, converter

    access.require(actor, "admin", "teamlead")
    cols = {}
    for i, header in enumerate(table.headers):
        target = COLUMNS.get(values.fold(header))
        if target is None:
            raise BadInput(t("impact.unknown_history_column", column=header or "?", position=i + 1))
        if target in cols:
            raise BadInput(t("import.duplicate_column", column=header, other=table.headers[cols[target]],
                             target=target))
        cols[target] = i
    for needed in ("client_number", "characteristic", "value", "observed_at"):
        if needed not in cols:
            raise BadInput(t("import.missing_column", column=needed))
    report = ImportReport(columns={table.headers[i]: name for name, i in cols.items()}, history=True)
    conn = store.conn
    scope, scope_params = (("1", []) if actor.role == "admin" else access.client_scope(actor, "clients"))
    ids = dict(conn.execute(f"SELECT client_number, id FROM clients WHERE {scope}", scope_params))
    chars, convs = {}, {}
    seen: dict[tuple, int] = {}
    today = utc_today()
    temp_store = conn.execute("PRAGMA temp_store").fetchone()[0]
    conn.execute("PRAGMA temp_store = FILE")
    conn.execute("DROP TABLE IF EXISTS temp.import_history")
    conn.execute("CREATE TEMP TABLE import_history (client_id INTEGER, characteristic_id INTEGER, value,"
                 " observed_at TEXT)")
    try:
        conn.execute("BEGIN")  # a read snapshot of the clients; only the temporary table is written
        staged = []
        for n, cells in table.rows:
            report.rows += 1

            def cell(name):
                i = cols[name]
                return cells[i] if i < len(cells) else ""

            def bad(name, reason, private=False):
                report.errors.append(CellError(n, table.headers[cols[name]], cell(name).strip(), reason, private))

            number = cell("client_number").strip()
            cid = ids.get(number)
            if not number:
                bad("client_number", t("value.empty"))
            elif cid is None:
                bad("client_number", t("import.unknown_client"), True)
            name = cell("characteristic").strip()
            c = chars.get(name)
            if c is None and name:
                c = store.catalog.find(name)
                if c is not None:
                    chars[name] = c
            if c is None:
                near = store.catalog.nearest(values.fold(name)) if name else []
                hint = t("catalog.did_you_mean", names=", ".join(near)) if near else ""
                bad("characteristic", (t("impact.unknown_characteristic") + hint) if name else t("value.empty"))
            value = at = None
            raw = cell("value")
            if not raw.strip():
                bad("value", t("value.empty"))
            elif c is not None:
                conv = convs.get(c.key) or convs.setdefault(c.key, converter(c))
                try:
                    value = conv(raw)
                except ValueError as e:
                    bad("value", str(e), c.special)
            raw_at = cell("observed_at")
            if not raw_at.strip():
                bad("observed_at", t("value.empty"))
            else:
                try:
                    at = observed_at(raw_at, today)
                except ValueError as e:
                    bad("observed_at", str(e))
            if cid is not None and c is not None and at is not None:
                other = seen.setdefault((cid, c.key, at), n)
                if other != n:
                    bad("observed_at", t("impact.same_moment_twice", other=other))
            if not report.errors:
                staged.append((cid, store.ids[c.key], value, at))
                if len(staged) >= BATCH:
                    conn.executemany("INSERT INTO temp.import_history VALUES (?, ?, ?, ?)", staged)
                    staged = []
        if report.errors:
            raise ImportRefused(report)
        conn.executemany("INSERT INTO temp.import_history VALUES (?, ?, ?, ?)", staged)
        conn.execute("COMMIT")
        _write(store, actor, report, table.sha256(), scope, scope_params, dry_run)
        return report
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.execute("DROP TABLE IF EXISTS temp.import_history")
        conn.execute(f"PRAGMA temp_store = {int(temp_store)}")


NEW_SQL = ("FROM temp.import_history s WHERE NOT EXISTS (SELECT 1 FROM observations o WHERE o.client_id ="
           " s.client_id AND o.characteristic_id = s.characteristic_id AND o.observed_at = s.observed_at"
           " AND o.value IS s.value)")


def _write(store, actor, report, digest: str, scope, scope_params, dry_run: bool) -> None:
    """Under the write lock: the observations not yet recorded, the profile where they are newest."""
    conn = store.conn
    conn.execute("BEGIN" if dry_run else "BEGIN IMMEDIATE")
    try:
        gone = conn.execute("SELECT 1 FROM temp.import_history s LEFT JOIN clients ON clients.id = s.client_id"
                            f" WHERE clients.id IS NULL OR NOT ({scope}) LIMIT 1", scope_params).fetchone()
        if gone:
            raise CaseloadError(t("impact.history_changed_meanwhile"))
        new = conn.execute(f"SELECT count(*), count(DISTINCT s.client_id) {NEW_SQL}").fetchone()
        report.observations, report.updated = new
        report.unchanged = report.rows - report.observations
        if dry_run:
            report.dry_run = True
            conn.execute("ROLLBACK")
            return
        conn.execute(
            "CREATE TEMP TABLE import_history_new AS SELECT s.* " + NEW_SQL)
        conn.execute(
            "INSERT INTO observations (client_id, characteristic_id, observed_at, seq, value, source, author)"
            " SELECT s.client_id, s.characteristic_id, s.observed_at, (SELECT COALESCE(MAX(o.seq) + 1, 0)"
            " FROM observations o WHERE o.client_id = s.client_id AND o.characteristic_id = s.characteristic_id"
            " AND o.observed_at = s.observed_at), s.value, 'import', ? FROM temp.import_history_new s",
            [actor.name])
        kids = [r[0] for r in conn.execute("SELECT DISTINCT characteristic_id FROM temp.import_history_new")]
        by_id = {store.ids[c.key]: c for c in store.catalog if c.key in store.ids}
        conn.execute("INSERT OR IGNORE INTO profile_times (client_id) SELECT DISTINCT client_id"
                     " FROM temp.import_history_new")
        for kid in kids:
            c = by_id[kid]
            latest = (f"FROM observations o WHERE o.client_id = {{t}}.client_id AND o.characteristic_id = {kid}"
                      " ORDER BY o.observed_at DESC, o.seq DESC LIMIT 1")
            touched = f"SELECT client_id FROM temp.import_history_new WHERE characteristic_id = {kid}"
            conn.execute(f'UPDATE profile SET "{c.column}" = (SELECT o.value {latest.format(t="profile")})'
                         f" WHERE client_id IN ({touched})")
            conn.execute(f'UPDATE profile_times SET "{c.at_column}" = (SELECT o.observed_at'
                         f' {latest.format(t="profile_times")}) WHERE client_id IN ({touched})')
        conn.execute("INSERT INTO imports (at, author, file_sha256, rows, created, updated, observations)"
                     " VALUES (?, ?, ?, ?, 0, ?, ?)",
                     [utcnow(), actor.name, digest, report.rows, report.updated, report.observations])
        audit.record(store.db, actor, "import_history", f"import:{report.rows}rows")
    except BaseException:
        conn.execute("ROLLBACK")
        conn.execute("DROP TABLE IF EXISTS temp.import_history_new")
        raise
    conn.execute("COMMIT")
    conn.execute("DROP TABLE IF EXISTS temp.import_history_new")
