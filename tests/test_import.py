"""Import: Dutch exports in, all or nothing, every bad row named."""

import sqlite3

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from caseload import access, importer
from caseload.errors import BadInput
from conftest import snapshot_tables

DUTCH_EXPORT = (
    "Klantnummer;Voornaam;Achternaam;E-mail;Telefoon;Taal;Voorkeurskanaal;Datum instroom;Geboortedatum;"
    "Welbevinden;Schulden;Kinderopvang geregeld;Vervoer;Beschikbare uren per week;Uitstroomtype;Uitstroomdatum\n"
    "1001;Joëlle;van den Berg;joelle@example.org;06-12345678;Nederlands;SMS;31-12-2024;01-02-1990;"
    "2;ja;nee;fiets;12,5;;\n"
    "1002;René;Öztürk;RENE@Example.ORG;0612345679;en;e-mail;2024-03-01;15-06-1985;4;nee;j;auto;20;;\n"
    "1003;Kees;Bakker;;+31 6 1234 5670;nl;telefoon;1-1-2023;;5;n;;;;voltijd;15-10-2025\n"
)


def labels(store):
    return {c.key: c.label["nl"] for c in store.catalog}


def test_dutch_excel_export_imports(store, admin, tmp_path):
    lbl = labels(store)
    assert lbl["childcare_arranged"] == "Kinderopvang geregeld" and lbl["debts"] == "Schulden"
    path = tmp_path / "export.csv"
    path.write_bytes(DUTCH_EXPORT.encode("cp1252"))
    report = importer.import_file(store, admin, path)
    assert (report.created, report.rows) == (3, 3)
    rows = {r[0]: r[1:] for r in store.db.execute(
        "SELECT client_number, first_name, last_name, email, phone, language, preferred_channel, intake_date,"
        " birth_date, status, outflow_type, outflow_date FROM clients")}
    assert rows["1001"] == ("Joëlle", "van den Berg", "joelle@example.org", "+31612345678", "nl", "sms",
                            "2024-12-31", "1990-02-01", "active", None, None)
    assert rows["1002"][2:6] == ("RENE@example.org", "+31612345679", "en", "email")
    assert rows["1003"][3:] == ("+31612345670", "nl", "phone", "2023-01-01", None, "outflow", "fulltime",
                                "2025-10-15")
    prof = dict(store.db.execute(
        'SELECT c.client_number, json_array(p.v_wellbeing, p.v_debts, p.v_childcare_arranged, p.v_transport,'
        ' p.v_availability_hours) FROM profile p JOIN clients c ON c.id = p.client_id'))
    assert prof["1001"] == '[2,1,0,"bicycle",12.5]'
    assert prof["1002"] == '[4,0,1,"car",20]'
    assert prof["1003"] == '[5,0,null,null,null]'
    n_obs = store.db.execute("SELECT COUNT(*) FROM observations WHERE source = 'import'").fetchone()[0]
    assert n_obs == report.observations == 5 + 5 + 2


def test_three_bad_rows_are_all_named_and_nothing_is_written(cli, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("Klantnummer;Voornaam;Welbevinden\n1;An;3\n", encoding="utf-8")
    assert cli("import", good).exit_code == 0
    before = snapshot_tables(cli.db)
    bad = tmp_path / "bad.csv"
    bad.write_bytes((
        "Klantnummer;Voornaam;Telefoon;Welbevinden;Schulden;Datum instroom\n"
        "2;Bo;06-12345678;3;ja;01-01-2024\n"
        "3;Cas;12345;3;ja;01-01-2024\n"
        "4;Dirk;06-12345678;9;ja;01-01-2024\n"
        "5;Eva;06-12345678;3;misschien;32-01-2024\n"
        "6;Fee;06-12345678;3;nee;01-01-2024\n"
    ).encode("cp1252"))
    result = cli("import", bad)
    assert result.exit_code == 2
    err = result.stderr
    assert "3 rows" in err
    assert "row 3, column 'Telefoon'" in err
    assert "row 4, column 'Welbevinden'" in err
    assert "row 5, column 'Schulden'" in err and "row 5, column 'Datum instroom'" in err
    assert "row 2," not in err and "row 6," not in err
    assert "12345" not in err and "value not shown" in err  # a phone number is personal data
    assert "'misschien'" in err  # a non-special characteristic's value helps the user find the cell
    assert "Traceback" not in result.output
    assert snapshot_tables(cli.db) == before


def test_reimport_updates_and_records_only_changed_values(store, admin, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("client_number,first_name,wellbeing,debts\n1,An,3,yes\n2,Bo,4,no\n", encoding="utf-8")
    importer.import_file(store, admin, path)
    path.write_text("client_number,first_name,wellbeing,debts\n1,Anne,3,yes\n2,Bo,2,no\n3,Cas,5,\n",
                    encoding="utf-8")
    report = importer.import_file(store, admin, path)
    assert (report.created, report.updated, report.unchanged) == (1, 2, 0)
    assert report.observations == 2  # client 2's wellbeing changed, client 3 is new
    history = [r[0] for r in store.db.execute(
        "SELECT value FROM observations o JOIN clients c ON c.id = o.client_id"
        " WHERE c.client_number = '2' AND characteristic_id = ? ORDER BY observed_at, seq", [store.ids["wellbeing"]])]
    assert history == [4, 2]
    assert store.db.execute("SELECT first_name FROM clients WHERE client_number = '1'").fetchone()[0] == "Anne"
    path.write_text("client_number,first_name,wellbeing,debts\n1,Anne,3,yes\n", encoding="utf-8")
    again = importer.import_file(store, admin, path)
    assert (again.updated, again.unchanged, again.observations) == (0, 1, 0)


@pytest.mark.parametrize("encoding,delimiter", [("utf-8-sig", ","), ("utf-8", "\t"), ("cp1252", ";")])
def test_delimiters_and_encodings(store, admin, tmp_path, encoding, delimiter):
    path = tmp_path / "x.csv"
    text = delimiter.join(["Klantnummer", "Achternaam", "Taal"]) + "\n" + delimiter.join(["7", "Müller", "en"]) + "\n"
    path.write_bytes(text.encode(encoding))
    importer.import_file(store, admin, path)
    assert store.db.execute("SELECT last_name, language FROM clients").fetchone() == ("Müller", "en")


def test_xlsx_import(store, admin, tmp_path):
    from datetime import datetime

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Klantnummer", "Voornaam", "Datum instroom", "Welbevinden", "Schulden"])
    ws.append([123, "Ayla", datetime(2024, 5, 6), 4, "nee"])
    path = tmp_path / "x.xlsx"
    wb.save(path)
    importer.import_file(store, admin, path)
    row = store.db.execute("SELECT client_number, intake_date FROM clients").fetchone()
    assert row == ("123", "2024-05-06")


def test_bsn_column_is_refused(store, admin, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Klantnummer;BSN\n1;123456782\n", encoding="utf-8")
    with pytest.raises(BadInput, match="column 2.*BSN"):
        importer.import_file(store, admin, path)


def test_unknown_column_names_position_and_suggests(store, admin, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Klantnummer;welbeing\n1;3\n", encoding="utf-8")
    with pytest.raises(BadInput) as e:
        importer.import_file(store, admin, path)
    assert "column 2" in e.value.message and "wellbeing" in e.value.message


def test_map_file_renames_and_ignores(store, admin, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Nr;Opmerking;Hoe gaat het\n1;vrije tekst;4\n", encoding="utf-8")
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns]\n"Nr" = "client_number"\n"Opmerking" = ""\n"Hoe gaat het" = "wellbeing"\n')
    importer.import_file(store, admin, path, importer.read_map(mapping))
    assert store.db.execute("SELECT v_wellbeing FROM profile").fetchone()[0] == 4


def test_duplicate_client_number_in_file(store, admin, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("client_number,first_name\n1,A\n1,B\n", encoding="utf-8")
    with pytest.raises(importer.ImportRefused) as e:
        importer.import_file(store, admin, path)
    assert "row 3" in e.value.details[0] and "row 2" in e.value.details[0]


def test_dry_run_writes_nothing(cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("client_number,first_name\n1,A\n", encoding="utf-8")
    before = snapshot_tables(cli.db)
    result = cli("import", "--dry-run", path)
    assert result.exit_code == 0 and "nothing written" in result.stderr
    assert snapshot_tables(cli.db) == before


def test_coach_cannot_bulk_import(cli, tmp_path):
    assert cli("user", "add", "jdevries", "--role", "coach").exit_code == 0
    path = tmp_path / "x.csv"
    path.write_text("client_number\n1\n", encoding="utf-8")
    result = cli("import", path, user="jdevries")
    assert result.exit_code == 1 and "role" in result.stderr


def test_intervention_import_all_or_nothing(cli, tmp_path):
    clients = tmp_path / "c.csv"
    clients.write_text("client_number\n1\n2\n", encoding="utf-8")
    assert cli("import", clients).exit_code == 0
    path = tmp_path / "i.csv"
    path.write_text("klantnummer;interventie;startdatum;einddatum;resultaat\n"
                    "1;work-first;01-02-2025;01-05-2025;completed\n"
                    "9;work-first;01-02-2025;;\n"
                    "2;cv_workshop;01-02-2025;01-01-2025;\n", encoding="utf-8")
    result = cli("intervention", "import", path)
    assert result.exit_code == 2
    assert "row 3" in result.stderr and "row 4" in result.stderr
    assert sqlite3.connect(cli.db).execute("SELECT COUNT(*) FROM interventions").fetchone()[0] == 0
    path.write_text("client_number,intervention,start,end,result\n1,work-first,2025-02-01,2025-05-01,completed\n",
                    encoding="utf-8")
    assert cli("intervention", "import", path).exit_code == 0
    assert sqlite3.connect(cli.db).execute("SELECT name, end_date, result FROM interventions").fetchall() == [
        ("work-first", "2025-05-01", "completed")]


# Property tests: what goes in comes back out of the export, and junk is only ever BadInput.

cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(cell, cell, cell, cell), min_size=1, max_size=5),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]), delimiter=st.sampled_from(";,\t"))
def test_arbitrary_cells_raise_only_bad_input(store, admin, tmp_path_factory, rows, encoding, delimiter):
    path = tmp_path_factory.mktemp("h") / "x.csv"
    import csv
    import io

    out = io.StringIO(newline="")
    w = csv.writer(out, delimiter=delimiter)
    w.writerow(["Klantnummer", "Welbevinden", "Geboortedatum", "Telefoon"])
    w.writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding, errors="replace"))
    before = store.db.execute("SELECT COUNT(*) FROM clients").fetchone()[0]
    try:
        importer.import_file(store, admin, path, dry_run=True)
    except BadInput:
        pass
    assert store.db.execute("SELECT COUNT(*) FROM clients").fetchone()[0] == before


values_st = st.fixed_dictionaries({
    "wellbeing": st.integers(1, 5),
    "debts": st.booleans(),
    "availability_hours": st.one_of(st.integers(0, 60), st.floats(0, 60, allow_nan=False).map(lambda x: round(x, 2))),
    "transport": st.sampled_from(["none", "walking", "bicycle", "public_transport", "moped", "car"]),
    "last_name": st.text(st.characters(whitelist_categories=("L",)), min_size=1, max_size=10),
})


_example = iter(range(10**9))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(values_st, min_size=1, max_size=6), dutch=st.booleans())
def test_import_then_export_round_trip(store, admin, tmp_path, rows, dutch):
    from caseload import exporter

    batch = next(_example)
    path = tmp_path / f"in{batch}.csv"
    sep = ";" if dutch else ","

    def fmt(key, v):
        if key == "debts":
            return ("ja" if v else "nee") if dutch else ("true" if v else "false")
        if isinstance(v, float) and dutch:
            return repr(v).replace(".", ",")
        return str(v)

    keys = ["wellbeing", "debts", "availability_hours", "transport", "last_name"]
    lines = [sep.join(["client_number", *keys])]
    for i, r in enumerate(rows):
        lines.append(sep.join([f"{batch}-{i}", *(fmt(k, r[k]) for k in keys)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    importer.import_file(store, admin, path)
    out = list(exporter.export_rows(store, admin, include_special=True))
    header = out[0]
    by_number = {r[header.index("client_number")]: r for r in out[1:]}
    for i, r in enumerate(rows):
        got = by_number[f"{batch}-{i}"]
        assert got[header.index("wellbeing")] == str(r["wellbeing"])
        assert got[header.index("debts")] == ("true" if r["debts"] else "false")
        assert float(got[header.index("availability_hours")]) == pytest.approx(r["availability_hours"])
        assert got[header.index("transport")] == r["transport"]
        assert got[header.index("last_name")] == r["last_name"]


def test_reimport_with_outflow_sets_status(store, admin, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("Klantnummer;Voornaam\n1;An\n", encoding="utf-8")
    importer.import_file(store, admin, path)
    path.write_text("Klantnummer;Uitstroomtype;Uitstroomdatum\n1;deeltijd;01-03-2026\n", encoding="utf-8")
    importer.import_file(store, admin, path)
    assert store.db.execute("SELECT status, outflow_type, outflow_date FROM clients").fetchone() == (
        "outflow", "parttime", "2026-03-01")


def test_bad_map_file_is_one_message_and_nothing_written(cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Nr\n1\n", encoding="utf-8")
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns\n"Nr" = "client_number"\n')
    before = snapshot_tables(cli.db)
    result = cli("import", path, "--map", mapping)
    assert result.exit_code == 2 and str(mapping) in result.stderr and "TOML" in result.stderr
    assert "Traceback" not in result.output
    assert snapshot_tables(cli.db) == before


def test_numbers_keep_their_exact_value_and_an_integer_beyond_64_bits_is_refused(tmp_path):
    """Doubles bypass the JSON path (exact round trip); an unbounded number too large for SQLite
    is a cell error naming row and column, and nothing is written."""
    from caseload.config import load_config
    from caseload.importer import ImportRefused
    from caseload.store import open_store

    (tmp_path / "config.toml").write_text(
        '[[characteristic]]\nkey = "savings"\ntype = "number"\nlabel = { en = "Savings", nl = "Spaargeld" }\n'
        'category = "income"\npurpose = "Test the number path"\n', encoding="utf-8")
    (tmp_path / "config.toml").chmod(0o600)
    s = open_store(load_config(tmp_path / "config.toml"), tmp_path / "n.db", create=True)
    access.add_user(s.db, "admin1", "admin")
    admin = access.resolve_actor(s.db, "admin1")
    good = tmp_path / "good.csv"
    good.write_text("client_number,savings,wellbeing\n1,0.1,3\n2,12,4\n3,-9223372036854775808,\n", encoding="utf-8")
    importer.import_file(s, admin, good)
    got = dict(s.conn.execute(
        "SELECT c.client_number, o.value FROM observations o JOIN clients c ON c.id = o.client_id"
        " WHERE o.characteristic_id = ?", [s.ids["savings"]]).fetchall())
    assert got == {"1": 0.1, "2": 12, "3": -9223372036854775808}
    assert all(type(v) is (float if k == "1" else int) for k, v in got.items())
    before = s.conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("client_number,savings\n4,1\n5,99999999999999999999\n", encoding="utf-8")
    with pytest.raises(ImportRefused) as refused:
        importer.import_file(s, admin, bad)
    assert any("row 3" in line and "savings" in line for line in refused.value.details), refused.value.details
    assert s.conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == before
    s.close()


def test_an_import_leaves_statistics_for_the_query_planner(store, admin, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("client_number,first_name,wellbeing,debts\n1,An,3,yes\n2,Bo,4,no\n", encoding="utf-8")
    assert not store.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()
    importer.import_file(store, admin, path)
    analysed = {r[0] for r in store.conn.execute("SELECT tbl FROM sqlite_stat1")}
    assert {"observations", "clients"} <= analysed
