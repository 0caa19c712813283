"""Imports as deployed: under sudo only standard input, within limits on rows, row length and
unpacked size, checked before the write lock is taken."""

import dataclasses
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from caseload import importer
from caseload.config import Imports
from caseload.errors import BadInput, CaseloadError
from conftest import snapshot_tables
from xlsx_support import SHEET, declare_size, inline_row, write_xlsx, zip_bomb

CASELOAD = str(Path(sys.executable).parent / "caseload") if (Path(sys.executable).parent / "caseload").exists() \
    else shutil.which("caseload")


def as_sudo(cli, *args, user: str, input=None):
    """`sudo -u caseload caseload ...` as `user`: the service's settings come from the
    environment the wrapper sets, and SUDO_UID is someone else's."""
    from caseload.cli import main

    env = {"SUDO_USER": user, "SUDO_UID": str(os.geteuid() + 1), "CASELOAD_DB": str(cli.db),
           "CASELOAD_CONFIG": str(cli.config), "LANG": "en_US.UTF-8", "COLUMNS": "200"}
    return CliRunner().invoke(main, ["--lang", "en", *map(str, args)], input=input, env=env, catch_exceptions=False)


@pytest.fixture
def teamlead(cli):
    assert cli("user", "add", "tlead", "--role", "teamlead", "--team", "noord").exit_code == 0
    return "tlead"


def limited(store, **limits):
    store.config = dataclasses.replace(store.config, imports=Imports(**limits))
    return store


def test_under_sudo_an_import_opens_no_named_file_and_quotes_none_of_it(cli, teamlead, tmp_path):
    """The break: the service account could read another person's export (a file it owns), and
    the cell errors quoted its contents back to the caller."""
    export = tmp_path / "teamlead-export.csv"
    export.write_text("Klantnummer;Schulden\n1;geheim-7731\n", encoding="utf-8")
    interventions = tmp_path / "interventions.csv"
    interventions.write_text("klantnummer;interventie;startdatum;resultaat\n1;cv;01-02-2025;geheim-7731\n",
                             encoding="utf-8")
    before = snapshot_tables(cli.db)
    for args in (("import", "--dry-run", export), ("intervention", "import", "--dry-run", interventions)):
        result = as_sudo(cli, *args, user=teamlead)
        assert result.exit_code == 2, result.output
        assert "geheim" not in result.output
        assert f"caseload {args[0]}" in result.output and " - < FILE" in result.output
    result = as_sudo(cli, "import", "-", "--map", tmp_path / "map.toml", user=teamlead, input="Klantnummer\n1\n")
    assert result.exit_code == 2 and '--column "Klant nr=client_number"' in result.output
    assert snapshot_tables(cli.db) == before


def test_under_sudo_an_import_reads_standard_input_csv_or_xlsx(cli, teamlead):
    csv_in = "Klant nr;Voornaam;Opmerking;Coach\n1;An;vrij;tlead\n2;Bo;vrij;tlead\n"
    result = as_sudo(cli, "import", "-", "--column", "Klant nr=client_number", "--column", "Opmerking=",
                     user=teamlead, input=csv_in.encode("cp1252"))
    assert result.exit_code == 0, result.output
    wb = openpyxl.Workbook()
    wb.active.append(["Klantnummer", "Voornaam", "Welbevinden"])
    wb.active.append([3, "Cas", 4])
    xlsx = io.BytesIO()
    wb.save(xlsx)
    result = as_sudo(cli, "import", "-", user=teamlead, input=xlsx.getvalue())
    assert result.exit_code == 0, result.output
    result = as_sudo(cli, "intervention", "import", "-", user=teamlead,
                     input="client_number,intervention,start\n1,work-first,2025-02-01\n")
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(cli.db)
    assert db.execute("SELECT client_number, first_name FROM clients ORDER BY 1").fetchall() == [
        ("1", "An"), ("2", "Bo"), ("3", "Cas")]
    assert db.execute("SELECT COUNT(*) FROM interventions").fetchone()[0] == 1


def test_a_column_map_and_columns_name_headers(store, admin, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Nr;Opmerking;Hoe gaat het\n1;vrije tekst;4\n", encoding="utf-8")
    importer.import_file(store, admin, path, importer.parse_columns(["Nr=client_number", "opmerking=",
                                                                     "Hoe gaat het=wellbeing"]))
    assert store.db.execute("SELECT v_wellbeing FROM profile").fetchone()[0] == 4
    with pytest.raises(BadInput, match="--column 2"):
        importer.parse_columns(["Nr=client_number", "no pair"])


def test_the_zip_bomb_is_refused_within_200_mb_and_10_s(cli, tmp_path):
    """877 KB, 3,000,000 rows: it took 238 s and 1 GB, even with --dry-run."""
    bomb = zip_bomb(tmp_path / "bomb.xlsx")
    assert bomb.stat().st_size < 2_000_000
    env = {**os.environ, "LANG": "en_US.UTF-8", "CASELOAD_DB": str(cli.db), "CASELOAD_CONFIG": str(cli.config),
           "SUDO_USER": "admin", "SUDO_UID": ""}
    # A child's ru_maxrss keeps the high-water mark of the memory it was exec'd from: started
    # straight from a long-lived xdist worker it read 200+ MB however little caseload used. So a
    # small launcher forks caseload from its own (small) memory and reports the grandchild's peak.
    measured = tmp_path / "rusage.json"
    with open(bomb, "rb") as stdin:
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", RUSAGE_LAUNCHER, str(measured), CASELOAD, "import",
                               "--dry-run", "-"], stdin=stdin, capture_output=True, env=env)
        elapsed = time.monotonic() - started
    stderr = proc.stderr.decode()
    returncode, maxrss_kb = json.loads(measured.read_text())
    assert returncode == 2, stderr
    assert "more than 1,000,000 rows" in stderr and "imports.max_rows" in stderr
    assert maxrss_kb < 200 * 1024, f"peak {maxrss_kb // 1024} MB"
    assert elapsed < 10, f"{elapsed:.1f} s"


RUSAGE_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss], f)
"""


def test_an_xlsx_is_refused_by_its_unpacked_size_declared_or_counted(store, admin, tmp_path):
    body = inline_row(["1001", "3"]) * 5000  # ~450 KB unpacked
    path = write_xlsx(tmp_path / "big.xlsx", ["Klantnummer", "Welbevinden"], [body])
    limited(store, max_xlsx_unpacked_bytes=200_000)
    with pytest.raises(BadInput, match="unpacks to more than 200,000 bytes.*imports.max_xlsx_unpacked_bytes"):
        importer.import_file(store, admin, path, dry_run=True)
    # a directory that understates the sheet's size does not get it past the limit
    declare_size(path, SHEET, 1000)
    with pytest.raises(BadInput, match="big.xlsx"):
        importer.import_file(store, admin, path, dry_run=True)
    limited(store, max_xlsx_unpacked_bytes=10_000_000, max_line_bytes=10_000)
    wide = write_xlsx(tmp_path / "wide.xlsx", ["Klantnummer"], [inline_row(["1"] * 2000)])
    with pytest.raises(BadInput, match="longer than 10,000 bytes.*imports.max_line_bytes"):
        importer.import_file(store, admin, wide, dry_run=True)


def test_a_csv_is_refused_past_its_row_and_line_limits(store, admin, tmp_path):
    limited(store, max_rows=3, max_line_bytes=100)
    path = tmp_path / "x.csv"
    path.write_text("client_number\n1\n2\n3\n", encoding="utf-8")
    assert importer.import_file(store, admin, path, dry_run=True).rows == 3
    path.write_text("client_number\n1\n2\n3\n4\n", encoding="utf-8")
    with pytest.raises(BadInput, match="more than 3 rows.*imports.max_rows"):
        importer.import_file(store, admin, path, dry_run=True)
    path.write_text("client_number,first_name\n1,An\n2," + "x" * 200 + "\n", encoding="utf-8")
    with pytest.raises(BadInput, match="line 3: a row is longer than 100 bytes.*imports.max_line_bytes"):
        importer.import_file(store, admin, path, dry_run=True)
    # a quoted cell that spans lines counts as one row
    path.write_text('client_number,first_name\n1,"' + "x\n" * 60 + '"\n', encoding="utf-8")
    with pytest.raises(BadInput, match="longer than 100 bytes"):
        importer.import_file(store, admin, path, dry_run=True)
    path.write_bytes(b"client_number\n" + b"9" * 5_000_000)  # no line end at all: never read whole
    with pytest.raises(BadInput, match="line 2: a row is longer"):
        importer.import_file(store, admin, path, dry_run=True)


def _rows_csv(path: Path, n: int, start: int = 1) -> Path:
    path.write_text("client_number,first_name,wellbeing\n"
                    + "".join(f"{i},An,3\n" for i in range(start, start + n)), encoding="utf-8")
    return path


def test_the_check_takes_no_write_lock_and_a_dry_run_none_at_all(store, admin, tmp_path):
    path = _rows_csv(tmp_path / "x.csv", 2500)
    other = sqlite3.connect(store.path, timeout=0, isolation_level=None)
    taken = []

    def while_checking(done, total):
        if done < 2500:
            other.execute("BEGIN IMMEDIATE")  # fails with "database is locked" if the import holds it
            other.execute("ROLLBACK")
            taken.append(done)

    report = importer.import_file(store, admin, path, progress=while_checking)
    assert taken == [1000, 2000] and report.created == 2500
    other.execute("BEGIN IMMEDIATE")  # someone else writes for the whole of a dry run
    try:
        store.conn.execute("PRAGMA busy_timeout = 100")
        report = importer.import_file(store, admin, _rows_csv(tmp_path / "y.csv", 10, start=5000), dry_run=True)
        assert report.created == 10
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_the_write_lock_waits_only_for_what_changes(store, admin, tmp_path):
    """A re-import of 500,000 unchanged clients held the lock for 25 s comparing them one by one:
    unchanged rows are now found in the check, and the lock is held only for the rows to write."""
    path = _rows_csv(tmp_path / "x.csv", 1500)
    importer.import_file(store, admin, path)
    path.write_text(path.read_text(encoding="utf-8").replace("\n7,An,3\n", "\n7,An,4\n"), encoding="utf-8")
    under_lock = []

    def trace(sql):
        if sql == "BEGIN IMMEDIATE" or (under_lock and under_lock[-1] != "COMMIT"):
            under_lock.append(sql)

    store.conn.set_trace_callback(trace)
    report = importer.import_file(store, admin, path)
    store.conn.set_trace_callback(None)
    assert (report.updated, report.unchanged, report.observations) == (1, 1499, 1)
    assert under_lock[-1] == "COMMIT" and len(under_lock) < 40, len(under_lock)


def test_a_client_added_while_the_file_is_checked_refuses_the_import(store, admin, tmp_path):
    path = _rows_csv(tmp_path / "x.csv", 1500)
    other = sqlite3.connect(store.path, isolation_level=None)

    def someone_adds_client_7(done, total):
        if done == 1000:
            other.execute("INSERT INTO clients (client_number, created_at, updated_at) VALUES ('7', 'x', 'x')")

    with pytest.raises(CaseloadError, match="client 7") as refused:
        importer.import_file(store, admin, path, progress=someone_adds_client_7)
    assert not isinstance(refused.value, BadInput)  # a run-time failure: run it again
    assert store.conn.execute("SELECT COUNT(*) FROM clients").fetchone()[0] == 1
    assert store.conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 0
    other.close()


def test_a_teamlead_is_told_every_row_that_is_not_theirs(cli, teamlead, tmp_path):
    assert cli("user", "add", "other", "--role", "coach", "--team", "zuid").exit_code == 0
    path = tmp_path / "a.csv"
    path.write_text("client_number,coach\n1,other\n2,other\n3,tlead\n", encoding="utf-8")
    assert cli("import", path).exit_code == 0
    path.write_text("client_number,first_name\n1,A\n2,B\n3,C\n", encoding="utf-8")
    before = snapshot_tables(cli.db)
    result = cli("import", path, user=teamlead)
    assert result.exit_code == 2
    assert "row 2, column 'client_number': not one of your clients" in result.stderr
    assert "row 3, column 'client_number'" in result.stderr and "row 4" not in result.stderr
    assert snapshot_tables(cli.db) == before


@pytest.mark.parametrize("data,message", [
    ("Klantnummer;Achternaam\n1;Müller\n2;Jansen\n3;Öztürk\n".encode("utf-8")
     + "4;Bakker\n5;Doğan\n".encode("utf-8")[:-1] + "\n6;Zoë\n".encode("cp1252"),
     "line 7 is not UTF-8 (byte 5 of the line), but line 2 is"),
    ("Klantnummer;Achternaam\n1;Müller\n".encode("cp1252") + "2;Öztürk\n".encode("utf-8"),
     "line 3 is UTF-8, but line 2 is Windows-1252"),
    (b"\xef\xbb\xbfKlantnummer;Achternaam\n1;Jansen\n2;M\xfcller\n", "line 3 is not UTF-8 (byte 4 of the line), but line 1 is"),
])
def test_a_file_that_mixes_encodings_is_refused_with_the_line(store, admin, tmp_path, data, message):
    """One stray byte used to turn the whole file into mojibake (Müller became MÃ¼ller)."""
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        importer.import_file(store, admin, path)
    assert store.conn.execute("SELECT COUNT(*) FROM clients").fetchone()[0] == 0


def test_old_excel_and_utf16_files_get_a_clear_message(store, admin, tmp_path):
    path = tmp_path / "x.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(BadInput, match=r"old Excel file \(.xls\)"):
        importer.import_file(store, admin, path)
    path.write_bytes("Klantnummer\t1\n".encode("utf-16"))
    with pytest.raises(BadInput, match="UTF-16"):
        importer.import_file(store, admin, path)


def test_file_and_map_cannot_both_be_standard_input(cli):
    result = cli("import", "-", "--map", "-", input="client_number\n1\n")
    assert result.exit_code == 2 and "Only one of FILE and --map" in result.stderr
