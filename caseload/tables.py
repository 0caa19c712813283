"""Reading the CSV and XLSX files municipalities export: delimiter and encoding detected,
every cell handed on as text with its row number as a spreadsheet shows it."""

import csv
import io
from datetime import date, datetime
from pathlib import Path

from .errors import BadInput
from .i18n import t

DELIMITERS = (";", ",", "\t")


def decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else cp1252, the two encodings Dutch exports come in."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as e:
        raise BadInput(t("import.bad_encoding", file=name, position=e.start)) from None


def sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Table:
    """Headers, an estimate of the row count, and rows as (row_number, cells)."""

    def __init__(self, headers: list[str], rows, total: int):
        self.headers = headers
        self.rows = rows
        self.total = total


def read_table(path: Path | str) -> Table:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadInput(t("import.unreadable", file=path, error=e.strerror)) from None
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(path)
    text = decode(data, str(path))
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first))
    try:
        headers = next(reader)
    except StopIteration:
        raise BadInput(t("import.empty", file=path)) from None
    except csv.Error as e:
        raise BadInput(t("import.csv_error", file=path, row=1, error=str(e))) from None

    def rows():
        n = 1
        try:
            for cells in reader:
                n += 1
                if cells and any(cells):
                    yield n, cells
        except csv.Error as e:
            raise BadInput(t("import.csv_error", file=path, row=n + 1, error=str(e))) from None

    return Table([h.strip() for h in headers], rows(), max(text.count("\n") - 1, 0))


def _read_xlsx(path: Path) -> Table:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged file
        raise BadInput(t("import.bad_xlsx", file=path)) from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    try:
        headers = [_cell(h).strip() for h in next(it)]
    except StopIteration:
        raise BadInput(t("import.empty", file=path)) from None
    while headers and not headers[-1]:
        headers.pop()

    def rows():
        for n, values in enumerate(it, start=2):
            cells = [_cell(v) for v in values[: len(headers)]]
            if any(cells):
                yield n, cells
        wb.close()

    return Table(headers, rows(), max((ws.max_row or 1) - 1, 0))
