"""Dated history in: a long-form history file, a wide file's peildatum, `client set --at`."""

import sqlite3
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from caseload import clients, importer
from caseload.errors import BadInput
from conftest import snapshot_tables

CLIENTS = "Klantnummer;Voornaam;Welbevinden\n1001;Joëlle;4\n1002;René;3\n"


@pytest.fixture
def two(store, admin, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text(CLIENTS, encoding="utf-8")
    importer.import_file(store, admin, path)
    return store


def _history(store, number, key):
    cid = store.db.execute("SELECT id FROM clients WHERE client_number = ?", [number]).fetchone()[0]
    return store.conn.execute("SELECT value, observed_at, source FROM observations WHERE client_id = ?"
                              " AND characteristic_id = ? ORDER BY observed_at, seq", [cid, store.ids[key]]).fetchall()


def _profile(store, number, key):
    cid = store.db.execute("SELECT id FROM clients WHERE client_number = ?", [number]).fetchone()[0]
    return {p.key: (p.value, p.observed_at) for p in clients.profile(store, cid)}.get(key)


def test_dutch_history_file_records_dated_values_and_keeps_the_newer_profile(two, admin, tmp_path):
    store = two
    path = tmp_path / "history.csv"
    path.write_text("Klantnummer;Kenmerk;Waarde;Datum\n"
                    "1001;Welbevinden;2;15-03-2024\n"
                    "1001;Schulden;ja;15-03-2024\n"
                    "1001;Beschikbare uren per week;12,5;01-06-2024\n"
                    "1002;debts;nee;2024-02-01\n", encoding="utf-8")
    r = importer.import_file(store, admin, path)
    assert r.history and (r.rows, r.observations, r.updated) == (4, 4, 2)
    assert _history(store, "1001", "wellbeing")[0] == (2, "2024-03-15T00:00:00Z", "import")
    # today's 4 stays the profile: an old value never overwrites a newer one
    assert _profile(store, "1001", "wellbeing")[0] == 4
    assert _profile(store, "1001", "debts") == (True, "2024-03-15T00:00:00Z")
    assert _profile(store, "1001", "availability_hours")[0] == 12.5
    # the same file again records nothing twice
    again = importer.import_file(store, admin, path)
    assert (again.observations, again.unchanged) == (0, 4)
    assert len(_history(store, "1001", "wellbeing")) == 2


def test_every_bad_history_row_is_named_and_nothing_is_written(two, admin, tmp_path):
    store = two
    path = tmp_path / "history.csv"
    path.write_text("client_number,characteristic,value,observed_at\n"
                    "1001,wellbeing,2,2024-03-15\n"
                    "9999,wellbeing,2,2024-03-15\n"
                    "1002,wellbeing,9,2024-03-15\n"
                    "1002,no_such_thing,1,2024-03-15\n"
                    "1002,debts,ja,31-02-2024\n"
                    "1002,debts,ja,2999-01-01\n"
                    "1001,wellbeing,3,15-03-2024\n", encoding="utf-8")
    before = snapshot_tables(store.path)
    with pytest.raises(BadInput) as e:
        importer.import_file(store, admin, path)
    text = str(e.value) + " ".join(str(x) for x in e.value.report.errors)
    rows = sorted({err.row for err in e.value.report.errors})
    assert rows == [3, 4, 5, 6, 7, 8], e.value.report.errors
    assert "row 2" in str(e.value.report.errors[-1])  # the same moment twice names the first row
    assert snapshot_tables(store.path) == before
    assert "9999" not in text


def test_wide_file_with_peildatum_dates_its_row(two, admin, tmp_path):
    store = two
    path = tmp_path / "wide.csv"
    path.write_text("Klantnummer;Welbevinden;Schulden;Peildatum\n"
                    "1001;1;ja;01-01-2024\n"
                    "1003;2;nee;02-01-2024\n"
                    "1004;3;;\n", encoding="utf-8")
    r = importer.import_file(store, admin, path)
    assert (r.created, r.updated) == (2, 1)
    assert _history(store, "1001", "wellbeing")[0] == (1, "2024-01-01T00:00:00Z", "import")
    assert _profile(store, "1001", "wellbeing")[0] == 4  # today's value is newer
    assert _profile(store, "1003", "wellbeing") == (2, "2024-01-02T00:00:00Z")
    assert _history(store, "1003", "debts") == [(0, "2024-01-02T00:00:00Z", "import")]
    assert _history(store, "1004", "wellbeing")[0][1] > "2025"  # no peildatum: now
    bad = tmp_path / "bad.csv"
    bad.write_text("Klantnummer;Welbevinden;Peildatum\n1005;1;gisteren\n", encoding="utf-8")
    with pytest.raises(BadInput) as e:
        importer.import_file(store, admin, bad)
    assert e.value.report.errors[0].column == "Peildatum"


def test_client_set_at_records_the_past_without_moving_the_profile(cli, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(CLIENTS, encoding="utf-8")
    assert cli("import", path).exit_code == 0
    r = cli("client", "set", "1001", "welbevinden=1", "--at", "15-03-2024")
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(cli.db)
    assert con.execute("SELECT value, observed_at FROM observations WHERE observed_at LIKE '2024%'").fetchall() == [
        (1, "2024-03-15T00:00:00Z")]
    r = cli("client", "set", "1001", "welbevinden=1", "--at", "2999-01-01")
    assert r.exit_code == 2 and "--at" in r.output
    r = cli("client", "history", "1001", "wellbeing", "--format", "csv")
    assert "2024-03-15" in r.output


# Property test: arbitrary history cells are only ever BadInput, and a refused file writes nothing.

cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n;\""), max_size=12)
good = st.tuples(st.sampled_from(["1001", "1002"]), st.sampled_from(["wellbeing", "Schulden", "debts"]),
                 st.sampled_from(["1", "5", "ja", "nee"]), st.sampled_from(["01-02-2024", "2024-02-02", "3-3-2023"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.one_of(good, st.tuples(cell, cell, cell, cell)), min_size=1, max_size=5))
def test_arbitrary_history_cells_raise_only_bad_input_and_write_nothing_when_refused(two, admin,
                                                                                   tmp_path_factory, rows):
    store = two
    path = tmp_path_factory.mktemp("h") / "h.csv"
    path.write_text("klantnummer;kenmerk;waarde;datum\n" + "".join(";".join(r) + "\n" for r in rows),
                    encoding="utf-8")
    before = store.db.execute("SELECT count(*) FROM observations").fetchone()[0]
    try:
        r = importer.import_file(store, admin, path)
    except BadInput:
        assert store.db.execute("SELECT count(*) FROM observations").fetchone()[0] == before
        return
    assert store.db.execute("SELECT count(*) FROM observations").fetchone()[0] == before + r.observations


day = st.dates(min_value=date(2000, 1, 1), max_value=date(2026, 1, 1))
peil = st.one_of(day.map(lambda d: d.strftime("%d-%m-%Y")), day.map(str), cell)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(1, 5), peil), min_size=1, max_size=4))
def test_wide_file_peildatum_cells_date_their_row_or_are_named(two, admin, tmp_path_factory, rows):
    """A peildatum cell is a day (its row's values are observed then), blank (now) or refused by name."""
    from caseload import values

    store = two
    batch = next(_batch)
    path = tmp_path_factory.mktemp("p") / "w.csv"
    path.write_text("klantnummer;welbevinden;peildatum\n"
                    + "".join(f"P{batch}-{i};{w};{p}\n" for i, (w, p) in enumerate(rows)), encoding="utf-8")
    before = store.db.execute("SELECT count(*) FROM observations").fetchone()[0]
    try:
        importer.import_file(store, admin, path)
    except BadInput as e:
        assert store.db.execute("SELECT count(*) FROM observations").fetchone()[0] == before
        assert all(err.column == "peildatum" for err in e.report.errors)
        return
    for i, (w, p) in enumerate(rows):
        got = _history(store, f"P{batch}-{i}", "wellbeing")
        assert got[0][0] == w
        if p.strip():
            assert got[0][1] == f"{values.parse_date(p).isoformat()}T00:00:00Z"


_batch = iter(range(10**9))
