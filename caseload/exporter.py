"""`caseload export`: one row per client, built-in fields and profile, values normalised.

Spreadsheets must not run what clients or coaches typed: a text cell that starts with `=`, `+`,
`-`, `@`, tab or CR is neutralised (OWASP's advice on CSV injection). In CSV it gets a leading
single quote; in XLSX it is written as a string cell (never a formula) with Excel's own
quote-prefix mark, so the text stays exactly as it was. Numbers are never touched, so a
negative number stays a number. XLSX cells are typed: numbers, dates, booleans; client
numbers and phone numbers stay text.
"""

import csv
import sys
from datetime import date

from . import access, audit
from .fields import FIELDS

EXPORT_FIELDS = [f for f in FIELDS if f not in ("last_activity",)]
DATE_FIELDS = {"intake_date", "birth_date", "outflow_date"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A text that no spreadsheet takes for a formula, for a CSV cell. A carriage return inside
    becomes a newline: Python's csv module quotes a field with a newline but not one with a lone
    CR (with lineterminator "\n"), and an unquoted CR breaks the row for every reader."""
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _date(value):
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        return value


def _typed(c, value):
    if value is None:
        return None
    if c.type == "bool":
        return bool(value)
    if c.type == "date":
        return _date(value)
    return value


def export_values(store, actor, include_special: bool = False, where: str = "1", params: list | None = None):
    """Header, then one list of typed values per client (None, str, int, float, bool, date);
    audited as one export."""
    scope, scope_params = access.client_scope(actor, "clients")
    chars = [c for c in store.catalog if include_special or not c.special]
    header = [*EXPORT_FIELDS, *(c.key for c in chars)]
    select = ", ".join([*(f"clients.{f}" for f in EXPORT_FIELDS), *(f'profile."{c.column}"' for c in chars)])
    sql = (f"SELECT {select} FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
           f" WHERE {scope} AND ({where}) ORDER BY clients.client_number")
    audit.record(store.db, actor, "export_special" if include_special else "export", "clients")
    yield header
    n_fields = len(EXPORT_FIELDS)
    dates = [f in DATE_FIELDS for f in EXPORT_FIELDS]
    for row in store.db.execute(sql, [*scope_params, *(params or [])]):
        yield [*(_date(v) if d and v else v for d, v in zip(dates, row[:n_fields])),
               *(_typed(c, v) for c, v in zip(chars, row[n_fields:]))]


def text(value) -> str:
    """The CSV form of a typed value: ISO dates, true/false, numbers as Python writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def export_rows(store, actor, include_special: bool = False, where: str = "1", params: list | None = None):
    """Header, then one list of text per client (the values as CSV holds them, not yet neutralised)."""
    for row in export_values(store, actor, include_special, where, params):
        yield [text(v) for v in row]


def csv_cell(value) -> str:
    """A typed value as a CSV cell: text neutralised, numbers untouched."""
    return spreadsheet_safe(value) if isinstance(value, str) else text(value)


def write_csv(rows, out=None) -> int:
    w = csv.writer(out or sys.stdout, lineterminator="\n")
    n = -1
    for n, row in enumerate(rows):
        w.writerow(row if n == 0 else [csv_cell(v) for v in row])
    return max(n, 0)


def write_xlsx(rows, out) -> int:
    """Typed rows to an XLSX workbook in OUT (a path or a binary stream, also one that cannot seek)."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("clients")

    def cell(value):
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            c = WriteOnlyCell(ws, value=value)
            c.data_type = "s"  # openpyxl makes a formula of any string that starts with "="
            c.quotePrefix = True
            return c
        return value

    n = -1
    for n, row in enumerate(rows):
        ws.append([cell(v) for v in row])
    wb.save(out)
    return max(n, 0)
