"""`caseload export`: one row per client, built-in fields and profile, values normalised."""

import csv
import sys

from . import access, audit
from .fields import FIELDS

EXPORT_FIELDS = [f for f in FIELDS if f not in ("last_activity",)]


def _normal(c, value):
    if value is None:
        return ""
    if c is not None and c.type == "bool":
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def export_rows(store, actor, include_special: bool = False, where: str = "1", params: list | None = None):
    """Header, then one list of text per client; audited as one export."""
    scope, scope_params = access.client_scope(actor, "clients")
    chars = [c for c in store.catalog if include_special or not c.special]
    header = [*EXPORT_FIELDS, *(c.key for c in chars)]
    select = ", ".join([*(f"clients.{f}" for f in EXPORT_FIELDS), *(f'profile."{c.column}"' for c in chars)])
    sql = (f"SELECT {select} FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
           f" WHERE {scope} AND ({where}) ORDER BY clients.client_number")
    audit.record(store.db, actor, "export_special" if include_special else "export", "clients")
    yield header
    n_fields = len(EXPORT_FIELDS)
    for row in store.db.execute(sql, [*scope_params, *(params or [])]):
        yield [*("" if v is None else str(v) for v in row[:n_fields]),
               *(_normal(c, v) for c, v in zip(chars, row[n_fields:]))]


def write_csv(rows, out=None) -> int:
    w = csv.writer(out or sys.stdout, lineterminator="\n")
    n = -1
    for n, row in enumerate(rows):
        w.writerow(row)
    return max(n, 0)


def write_xlsx(rows, path) -> int:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("clients")
    n = -1
    for n, row in enumerate(rows):
        ws.append(row)
    wb.save(path)
    return max(n, 0)
