"""Reading the CSV and XLSX files municipalities export: format, delimiter and encoding detected
from the content, every cell handed on as text with its row number as a spreadsheet shows it.

The files are untrusted and may be large (a national caseload is 500,000 rows), so they are read
as a stream within the limits of config.toml's [imports] section: rows, the length of one row,
and the unpacked size of an XLSX, which is checked from the zip's directory and counted again
while unpacking, before openpyxl parses anything. A CSV must be all UTF-8 or all Windows-1252:
a file that mixes them is refused with the line, never read as mojibake.
"""

import csv
import hashlib
import io
import os
import re
import stat
import sys
import tempfile
import zipfile
from datetime import date, datetime
from itertools import chain

from . import files
from .errors import BadInput
from .i18n import language, t

DELIMITERS = (";", ",", "\t")
CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")  # an XLSX is a zip
UTF8, CP1252 = "UTF-8", "Windows-1252"
LIMIT_KEYS = {"rows": "imports.max_rows", "line": "imports.max_line_bytes",
              "unpacked": "imports.max_xlsx_unpacked_bytes"}
# openpyxl reads these parts whole, into objects ~9x their size (measured: 65 MB of shared
# strings took 690 MB); worksheets it streams
WHOLE_PART_SHARE = 32
# the start of a row element in a worksheet, with or without a namespace prefix (<x:row ...>)
ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")


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


def _number(n: int) -> str:
    return f"{n:,}".replace(",", "." if language() == "nl" else ",")


def _too_many(name, what: str, limit: int, line: int | None = None) -> BadInput:
    where = t("import.at_line", line=line) if line else ""
    return BadInput(t(f"import.limit_{what}", file=name, where=where, limit=_number(limit), key=LIMIT_KEYS[what]))


class Table:
    """Headers, rows as (row_number, cells), and after the rows were read the file's SHA-256.
    Use it as a context manager: it closes the file (never standard input)."""

    def __init__(self, name: str, headers: list[str], rows, digest, closers, estimate):
        self.name = name
        self.headers = headers
        self.rows = rows
        self._digest = digest
        self._closers = closers
        self._estimate = estimate

    def estimate(self, done: int) -> int | None:
        """About how many data rows the file has, for a progress bar; None when unknown."""
        return self._estimate(done)

    def sha256(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_table(source, limits, option: str = "FILE",
               example: str = "sudo -u caseload caseload import - < FILE") -> Table:
    """Open a CSV or XLSX: a path, or `-` for standard input (the only form under sudo).
    The format comes from the content, since standard input has no extension."""
    f = files.open_input(source, option, example)
    name = "stdin" if files.is_stdio(source) else str(source)
    closers = [] if f is sys.stdin.buffer else [f.close]
    try:
        head = f.read(4)
        if head in ZIP_SIGNATURES:
            headers, rows, digest, estimate = _xlsx(f, head, name, limits, closers)
        elif head == b"\xd0\xcf\x11\xe0":
            raise BadInput(t("import.old_xls", file=name))
        elif head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise BadInput(t("import.utf16", file=name))
        else:
            headers, rows, digest, estimate = _csv(f, head, name, limits)
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    return Table(name, headers, rows, digest, closers, estimate)


class _Lines:
    """The decoded physical lines of a CSV stream, line endings kept (as csv wants them).

    A line that is not ASCII is UTF-8 if it decodes as UTF-8, else Windows-1252; the first such
    line (or a BOM) sets the file's encoding, and a line in the other one is refused. `pending`
    counts the bytes of the row being read; the reader resets it after every row."""

    def __init__(self, f, head: bytes, name: str, limits, digest):
        self.f, self.head, self.name, self.digest = f, head, name, digest
        self.limit = limits.max_line_bytes
        self.number = 0
        self.pending = 0
        self.consumed = len(head)
        self.encoding = None
        self.encoding_line = 0

    def __iter__(self):
        buf = self.head
        self.digest.update(buf)
        if buf.startswith(BOM):
            buf = buf[len(BOM):]
            self.encoding, self.encoding_line = UTF8, 1
        while True:
            chunk = self.f.read(CHUNK)
            self.digest.update(chunk)
            self.consumed += len(chunk)
            lines = (buf + chunk).splitlines(keepends=True)
            buf = b""
            # a last line without its line end continues in the next chunk (a \r may be half of \r\n)
            if chunk and lines and not lines[-1].endswith(b"\n"):
                buf = lines.pop()
                if len(buf) > self.limit:
                    raise _too_many(self.name, "line", self.limit, self.number + len(lines) + 1)
            for raw in lines:
                self.number += 1
                self.pending += len(raw)
                if self.pending > self.limit:
                    raise _too_many(self.name, "line", self.limit, self.number)
                yield raw.decode("ascii") if raw.isascii() else self._decode(raw)
            if not chunk:
                return

    def _decode(self, raw: bytes) -> str:
        try:
            text, found = raw.decode("utf-8"), UTF8
        except UnicodeDecodeError as e:
            try:
                text, found = raw.decode("cp1252"), CP1252
            except UnicodeDecodeError as undefined:
                raise BadInput(t("import.bad_encoding", file=self.name, line=self.number,
                                 position=undefined.start + 1)) from None
            if self.encoding == UTF8:
                raise BadInput(t("import.not_utf8", file=self.name, line=self.number, position=e.start + 1,
                                 first=self.encoding_line)) from None
        if self.encoding is None:
            self.encoding, self.encoding_line = found, self.number
        elif found != self.encoding:
            raise BadInput(t("import.mixed_encodings", file=self.name, line=self.number, found=found,
                             first=self.encoding_line, other=self.encoding))
        return text


def _csv(f, head: bytes, name: str, limits):
    digest = hashlib.sha256()
    lines = _Lines(f, head, name, limits, digest)
    it = iter(lines)
    first = next(it, None)
    if first is None:
        raise BadInput(t("import.empty", file=name))
    reader = csv.reader(chain([first], it), delimiter=sniff_delimiter(first))
    try:
        headers = next(reader)
    except csv.Error as e:
        raise BadInput(t("import.csv_error", file=name, row=1, error=str(e))) from None
    lines.pending = 0
    max_rows = limits.max_rows

    def rows():
        n = 1
        try:
            for cells in reader:
                n += 1
                lines.pending = 0
                if n - 1 > max_rows:
                    raise _too_many(name, "rows", max_rows)
                if cells and any(cells):
                    yield n, cells
        except csv.Error as e:
            raise BadInput(t("import.csv_error", file=name, row=n + 1, error=str(e))) from None

    size = _size(f)

    def estimate(done):
        return int(done * size / lines.consumed) if size and lines.consumed else None

    return [h.strip() for h in headers], rows(), digest, estimate


def _size(f) -> int | None:
    try:
        st = os.fstat(f.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _seekable(f, head: bytes, name: str, limit: int, digest):
    """The XLSX as a seekable file (zip needs its directory at the end): the file itself, or
    standard input spooled to memory and past 16 MB to an unnamed temporary file (0600)."""
    try:
        seekable = f.seekable()
    except (OSError, ValueError):
        seekable = False
    if seekable:
        f.seek(0)
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
        f.seek(0)
        return f
    spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)
    size = 0
    for chunk in chain([head], iter(lambda: f.read(CHUNK), b"")):
        size += len(chunk)
        if size > limit:
            spool.close()
            raise _too_many(name, "unpacked", limit)
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return spool


def check_xlsx(zf: zipfile.ZipFile, name: str, limits) -> None:
    """Refuse an XLSX beyond the limits before openpyxl reads it: by the sizes its zip directory
    declares, then by unpacking each worksheet as a stream, counting bytes (a directory can lie),
    rows, and the length of each row. openpyxl reads every worksheet on opening when the sheet
    gives no dimension, so every worksheet is checked, not only the first."""
    limit, max_rows, max_line = limits.max_xlsx_unpacked_bytes, limits.max_rows, limits.max_line_bytes
    infos = zf.infolist()
    if sum(i.file_size for i in infos) > limit:
        raise _too_many(name, "unpacked", limit)
    sheets = [i for i in infos if "worksheets/" in i.filename and i.filename.endswith(".xml")]
    whole = sum(i.file_size for i in infos if i not in sheets and i.filename.endswith((".xml", ".rels")))
    if whole > limit // WHOLE_PART_SHARE:
        raise BadInput(t("import.limit_parts", file=name, limit=_number(limit // WHOLE_PART_SHARE),
                         share=WHOLE_PART_SHARE, key=LIMIT_KEYS["unpacked"]))
    unpacked = 0
    for info in sheets:
        rows, since_row, tail = 0, 0, b""
        with zf.open(info) as src:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                unpacked += len(chunk)
                if unpacked > limit:
                    raise _too_many(name, "unpacked", limit)
                # a row start may straddle two chunks: search the end of the last one again,
                # and count only the starts that end in this one
                buf = tail + chunk
                for m in ROW_START.finditer(buf):
                    if m.end() <= len(tail):
                        continue
                    rows += 1
                    since_row += m.start() - len(tail)
                    if since_row > max_line:
                        raise _too_many(name, "line", max_line)
                    since_row = len(tail) - m.start()
                since_row += len(chunk)
                if since_row > max_line:
                    raise _too_many(name, "line", max_line)
                if rows > max_rows + 1:  # the header row is not a data row
                    raise _too_many(name, "rows", max_rows)
                tail = buf[-64:]


def _xlsx(f, head: bytes, name: str, limits, closers: list):
    import openpyxl

    digest = hashlib.sha256()
    src = _seekable(f, head, name, limits.max_xlsx_unpacked_bytes, digest)
    if src is not f:
        closers.append(src.close)
    try:
        with zipfile.ZipFile(src) as zf:
            check_xlsx(zf, name, limits)
        src.seek(0)
        wb = openpyxl.load_workbook(src, read_only=True, data_only=True)
        closers.append(wb.close)
        ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        first = next(it, None)
    except BadInput:
        raise
    except Exception:  # zipfile, zlib and openpyxl raise many kinds for a damaged file
        raise BadInput(t("import.bad_xlsx", file=name)) from None
    if first is None:
        raise BadInput(t("import.empty", file=name))
    headers = [_cell(h).strip() for h in first]
    while headers and not headers[-1]:
        headers.pop()
    width, max_rows = len(headers), limits.max_rows

    def rows():
        n = 1
        try:
            for n, values in enumerate(it, start=2):
                if n - 1 > max_rows:
                    raise _too_many(name, "rows", max_rows)
                cells = [_cell(v) for v in values[:width]]
                if any(cells):
                    yield n, cells
        except BadInput:
            raise
        except Exception:
            raise BadInput(t("import.bad_xlsx_row", file=name, row=n + 1)) from None

    total = max((ws.max_row or 1) - 1, 0) or None
    return headers, rows(), digest, lambda done: total
