"""Hand-made XLSX files: a real workbook around a worksheet written as XML, so a test can make a
sheet of millions of identical rows (a zip bomb: deflate packs them ~1000:1) without openpyxl
building it cell by cell."""

import io
import zipfile
from pathlib import Path

import openpyxl

SHEET = "xl/worksheets/sheet1.xml"
HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
TAIL = b"</sheetData></worksheet>"


def inline_row(cells) -> bytes:
    return b"<row>" + b"".join(b'<c t="inlineStr"><is><t>' + str(c).encode() + b"</t></is></c>" for c in cells) + b"</row>"


def write_xlsx(path: Path, header: list[str], body_chunks) -> Path:
    """A workbook whose first sheet is `header` and then the row XML in `body_chunks`, streamed
    into the zip."""
    template = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.append(header)
    wb.save(template)
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename == SHEET:
                with out.open(SHEET, "w", force_zip64=True) as sheet:
                    sheet.write(HEAD + inline_row(header))
                    for chunk in body_chunks:
                        sheet.write(chunk)
                    sheet.write(TAIL)
            else:
                out.writestr(info, src.read(info))
    return path


def zip_bomb(path: Path, rows: int = 3_000_000) -> Path:
    """The issue's zip bomb: millions of identical rows in a file of a few hundred KB."""
    block = inline_row(["1001", "3"]) * 10_000
    return write_xlsx(path, ["Klantnummer", "Welbevinden"], (block for _ in range(rows // 10_000)))


def declare_size(path: Path, name: str, size: int) -> None:
    """Make the zip directory lie about how large `name` unpacks."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    encoded = name.encode()
    for sig, name_at, size_at in ((b"PK\x01\x02", 46, 24), (b"PK\x03\x04", 30, 22)):
        at = data.find(sig)
        while at != -1:
            if data[at + name_at:at + name_at + len(encoded)] == encoded:
                if info.file_size < 0xFFFFFFFF:
                    data[at + size_at:at + size_at + 4] = size.to_bytes(4, "little")
            at = data.find(sig, at + 4)
    path.write_bytes(bytes(data))
