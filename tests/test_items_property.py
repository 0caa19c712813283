"""The item importer, by property: a file with any mix of good and bad rows is refused whole,
naming exactly the bad rows (each by its row number and column), and writes nothing; a file of
good rows comes back as it went in. Arbitrary cells only ever raise BadInput."""

import csv
import io
import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from caseload import access, items
from caseload.errors import BadInput
from caseload.importer import ImportRefused
from servers import make_store

ADMIN = access.Actor("admin", "admin")
HEADERS = ["key", "kind", "title", "text", "url", "tags", "requires", "valid_from", "valid_until", "language"]
DUTCH = ["sleutel", "soort", "titel", "tekst", "url", "tags", "voorwaarde", "geldig_vanaf", "geldig_tot", "taal"]
# one way to break a row: (column, value)
BAD = {
    "kind": ("kind", "baantje?"),
    "title": ("title", ""),
    "url": ("url", "javascript:alert(1)"),
    "requires": ("requires", "wellbeing <"),
    "unknown_characteristic": ("requires", "no_such_thing = 3"),
    "valid_from": ("valid_from", "31-02-2025"),
    "until_before_from": ("valid_until", "2025-01-01"),
    "tags": ("tags", "x" * 60),
    "language": ("language", "klingon"),
}
_batch = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = make_store(tmp_path_factory.mktemp("items"))
    yield s
    s.close()


text = st.text(st.characters(whitelist_categories=("L", "N", "Zs"), max_codepoint=0x2FF), min_size=1,
               max_size=20).filter(str.strip)
good_row = st.fixed_dictionaries({
    "kind": st.sampled_from(["vacancy", "tip", "activity", "news", "vacature", "activiteit"]),
    "title": text,
    "text": st.one_of(st.just(""), text),
    "tags": st.lists(st.sampled_from(["zorg", "Bouw", "logistiek", "Zorg en welzijn", "cv", "leren"]),
                     max_size=3).map(", ".join),
    "requires": st.sampled_from(["", "transport = car", "wellbeing >= 3", "has_cv = false"]),
    "valid_from": st.sampled_from(["", "2025-03-01", "1-3-2025"]),
    "valid_until": st.sampled_from(["", "2025-12-31"]),
    "language": st.sampled_from(["", "nl", "en", "tr"]),
})
rows_st = st.lists(st.tuples(good_row, st.one_of(st.none(), st.sampled_from(sorted(BAD)))), min_size=1, max_size=8)


def write(path, header, rows) -> None:
    out = io.StringIO(newline="")
    w = csv.writer(out)
    w.writerow(header)
    w.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_st, dutch=st.booleans(), duplicate=st.booleans())
def test_a_file_with_bad_rows_is_refused_whole_naming_exactly_those_rows(store, tmp_path_factory, rows, dutch,
                                                                         duplicate):
    batch = next(_batch)
    lines, bad_rows = [], {}
    for i, (row, breaks) in enumerate(rows):
        cells = {**row, "key": f"b{batch}-{i}", "url": f"https://werk.example/{batch}/{i}"}
        if breaks:
            column, value = BAD[breaks]
            cells[column] = value
            if breaks == "until_before_from":
                cells["valid_from"] = "2025-06-01"
            bad_rows[i + 2] = column  # row 1 is the header
        lines.append([cells[h] for h in HEADERS])
    if duplicate:  # the first key once more, on an otherwise good row
        again = [rows[0][0][h] if h in rows[0][0] else "" for h in HEADERS]
        again[0], again[4] = f"b{batch}-0", "https://werk.example/again"
        lines.append(again)
        bad_rows[len(lines) + 1] = "key"
    path = tmp_path_factory.mktemp("f") / "items.csv"
    write(path, DUTCH if dutch else HEADERS, lines)
    before = store.db.execute("SELECT COUNT(*), COALESCE(MAX(updated_at), '') FROM items").fetchone()
    if not bad_rows:
        counts = items.import_items(store, ADMIN, str(path))
        assert counts == {"rows": len(rows), "added": len(rows), "updated": 0}
        for i, (row, _) in enumerate(rows):
            got = items.get(store, f"b{batch}-{i}")
            assert got["title"] == row["title"].strip() and got["text"] == row["text"].strip()
            assert got["kind"] == items.parse_kind(row["kind"])
            assert got["tags"] == items.parse_tags(row["tags"])
            assert got["language"] == (row["language"] or "nl")
            assert (got["requires"] is None) == (row["requires"] == "")
        return
    with pytest.raises(ImportRefused) as e:
        items.import_items(store, ADMIN, str(path))
    named = {err.row: err.column for err in e.value.report.errors}
    assert set(named) == set(bad_rows)
    for row, column in bad_rows.items():
        header = (DUTCH if dutch else HEADERS)[HEADERS.index(column)]
        assert any(err.row == row and err.column == header for err in e.value.report.errors), (row, column)
        assert any(f" {row}" in line for line in e.value.details)
    assert store.db.execute("SELECT COUNT(*), COALESCE(MAX(updated_at), '') FROM items").fetchone() == before


cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"), max_size=15)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cell, min_size=4, max_size=4), min_size=1, max_size=4),
       header=st.lists(st.sampled_from(HEADERS + DUTCH + ["kolom", ""]), min_size=1, max_size=5))
def test_arbitrary_cells_raise_only_bad_input_and_write_nothing(store, tmp_path_factory, rows, header):
    path = tmp_path_factory.mktemp("g") / "junk.csv"
    write(path, header, rows)
    before = store.db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    try:
        items.import_items(store, ADMIN, str(path), dry_run=True)
    except BadInput:
        pass
    assert store.db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == before
