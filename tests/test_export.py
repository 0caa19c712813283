"""Export: normalised values, special columns only on request, files readable by the owner only."""

import csv
import io
import os
import stat

import openpyxl


def setup_clients(cli):
    cli("client", "add", "client_number=1", "first_name=An", "phone=06-12345678", "intake_date=31-12-2024")
    cli("client", "set", "1", "wellbeing=2", "debts=ja", "availability_hours=12,5")


def test_csv_to_stdout_normalised_without_special(cli):
    setup_clients(cli)
    result = cli("export")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # a phone starts with "+", which a spreadsheet would read as a formula: neutralised
    assert rows[0]["phone"] == "'+31612345678" and rows[0]["intake_date"] == "2024-12-31"
    assert rows[0]["debts"] == "true" and rows[0]["availability_hours"] == "12.5"
    assert "wellbeing" not in rows[0]


def test_include_special_and_xlsx_file_mode(cli, tmp_path):
    setup_clients(cli)
    out = tmp_path / "out.xlsx"
    assert cli("export", "--format", "xlsx", "--output", out, "--include-special").exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    ws = openpyxl.load_workbook(out).active
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("wellbeing") + 1).value == 2


def test_export_is_audited(cli):
    import sqlite3

    setup_clients(cli)
    cli("export", "--include-special")
    actions = [r[0] for r in sqlite3.connect(cli.db).execute("SELECT action FROM audit")]
    assert "export_special" in actions
