"""The reader of CSV and XLSX files (caseload.tables), by properties: what a spreadsheet writes
comes back cell for cell, a file in one encoding is read in it, a file that mixes two is refused
with the line, and any bytes at all give rows or one BadInput."""

import csv
import io

from hypothesis import HealthCheck, example, given, settings, strategies as st

from caseload.config import Imports
from caseload.errors import BadInput
from caseload.tables import open_table

LIMITS = Imports()
CHECKS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def read(tmp_path, data: bytes, limits=LIMITS):
    path = tmp_path / "in"
    path.write_bytes(data)
    with open_table(path, limits) as table:
        return [table.headers, *(cells for _, cells in table.rows)]


def write_csv(rows, delimiter: str) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue()


def shaped(cell):
    """Rows as the reader hands them on: a header of stripped names, rows with a cell that is
    not blank (blank rows are skipped)."""
    return st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=6).map(
        lambda rows: [[f"h{i}" for i in range(3)], *(r for r in rows if any(r))])


any_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10)
# Letters Windows-1252 writes as one byte from 0xC0 up: such a byte is never followed by a UTF-8
# continuation byte (0x80-0xBF) here, so no line of them can pass for UTF-8
latin = st.text(st.sampled_from("abcXYZ 019.-'àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÉÖÜß"), max_size=10)


@CHECKS
@given(rows=shaped(any_text), delimiter=st.sampled_from(";,\t"), bom=st.booleans())
def test_utf8_comes_back_cell_for_cell(tmp_path, rows, delimiter, bom):
    data = write_csv(rows, delimiter).encode("utf-8-sig" if bom else "utf-8")
    assert read(tmp_path, data) == rows


@CHECKS
@given(rows=shaped(latin), delimiter=st.sampled_from(";,\t"))
def test_windows_1252_comes_back_cell_for_cell(tmp_path, rows, delimiter):
    assert read(tmp_path, write_csv(rows, delimiter).encode("cp1252")) == rows


@CHECKS
@given(lines=st.lists(st.text("abc ", max_size=8), min_size=3, max_size=12), data=st.data(),
       utf8_letter=st.sampled_from("éöüß€ğœ"), cp1252_letter=st.sampled_from("éëïöüçñ"))
@example(lines=["a", "b", "c"], data=None, utf8_letter="é", cp1252_letter="é")
def test_one_line_in_the_other_encoding_is_refused_with_its_line(tmp_path, lines, data, utf8_letter, cp1252_letter):
    """Whichever of the two lines comes second is named: the first sets the file's encoding."""
    if data is None:
        at_utf8, at_cp1252 = 1, 2
    else:
        at_utf8 = data.draw(st.integers(1, len(lines) - 1))
        at_cp1252 = data.draw(st.integers(1, len(lines) - 1).filter(lambda i: i != at_utf8))
    encoded = [("h" + text).encode("ascii") for text in lines]
    encoded[at_utf8] = (lines[at_utf8] + utf8_letter).encode("utf-8")
    encoded[at_cp1252] = (lines[at_cp1252] + cp1252_letter).encode("cp1252")
    second = max(at_utf8, at_cp1252) + 1
    try:
        read(tmp_path, b"\n".join(encoded) + b"\n")
    except BadInput as e:
        assert f"line {second} is" in e.message and "mixes encodings" in e.message
    else:
        raise AssertionError("a file mixing UTF-8 and Windows-1252 was read")


@CHECKS
@example(data=b"PK\x03\x04not a zip", limits=LIMITS)
@example(data=b"PK\x05\x06" + bytes(18), limits=LIMITS)
@example(data=b"a\r\nb\x00c\n", limits=LIMITS)
@given(data=st.binary(max_size=300), limits=st.builds(Imports, max_rows=st.integers(1, 5),
                                                      max_line_bytes=st.integers(1, 60)))
def test_any_bytes_give_rows_or_one_bad_input(tmp_path, data, limits):
    try:
        rows = read(tmp_path, data, limits)
    except BadInput:
        return
    assert len(rows) - 1 <= limits.max_rows


def test_the_format_comes_from_the_content(tmp_path):
    assert read(tmp_path, b"PKnr;x\n1;2\n") == [["PKnr", "x"], ["1", "2"]]
    try:
        read(tmp_path, b"PK\x03\x04 not a zip")
    except BadInput as e:
        assert "not a readable Excel file" in e.message
    else:
        raise AssertionError("a damaged zip was read")


def test_a_row_straddling_chunks_and_old_mac_line_ends(tmp_path):
    import caseload.tables as tables

    rows = [["client_number", "name"], *([str(i), "é" * (i % 7)] for i in range(1, 3000))]
    data = write_csv(rows, ";").encode("utf-8")
    old, tables.CHUNK = tables.CHUNK, 4099  # odd, so rows, \r\n pairs and characters straddle
    try:
        assert read(tmp_path, data) == [r for r in rows if any(r)]
        assert read(tmp_path, data.replace(b"\r\n", b"\r")) == [r for r in rows if any(r)]
    finally:
        tables.CHUNK = old
