"""Exports for spreadsheets: text that a spreadsheet would run as a formula comes back inert (CSV:
a leading quote; XLSX: a string cell, never a formula), and XLSX cells are typed."""

import csv
import datetime
import io

import openpyxl

from caseload.cli.output import emit, emit_record

FORMULA = '=HYPERLINK("http://x","y")'
SALDO = """
[[characteristic]]
key = "saldo"
type = "number"
min = -100000
max = 100000
label = { en = "Balance", nl = "Saldo" }
category = "income"
special = false
purpose = "test"
"""


def setup(cli):
    with open(cli.config, "a") as f:
        f.write(SALDO)
    r = cli("client", "add", "client_number=007", f"first_name={FORMULA}", "last_name=-2+3+cmd|' /C calc'!A0",
            "phone=06-12345678", "intake_date=31-12-2024")
    assert r.exit_code == 0, r.output
    r = cli("client", "set", "007", "saldo=-250", "debts=ja", "talents=@SUM(1+1)")
    assert r.exit_code == 0, r.output


def test_formulas_come_back_inert_through_openpyxl(cli, tmp_path):
    setup(cli)
    out = tmp_path / "out.xlsx"
    assert cli("export", "--format", "xlsx", "--output", out).exit_code == 0
    streamed = cli("export", "--format", "xlsx")
    assert streamed.exit_code == 0
    for book in (openpyxl.load_workbook(out), openpyxl.load_workbook(io.BytesIO(streamed.stdout_bytes))):
        ws = book.active
        header = [c.value for c in ws[1]]
        cell = {h: ws.cell(2, i + 1) for i, h in enumerate(header)}
        assert cell["first_name"].data_type == "s" and cell["first_name"].value == FORMULA
        assert cell["last_name"].data_type == "s" and cell["talents"].data_type == "s"
        assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)
        # typed: numbers as numbers (a negative one too), dates as dates, true/false, text stays text
        assert cell["saldo"].value == -250 and cell["saldo"].data_type == "n"
        assert cell["intake_date"].value == datetime.datetime(2024, 12, 31) and cell["intake_date"].is_date
        assert cell["debts"].value is True
        assert cell["client_number"].value == "007" and cell["phone"].value == "+31612345678"


def test_csv_cells_get_a_quote_and_numbers_stay_numbers(cli):
    setup(cli)
    row = next(csv.DictReader(io.StringIO(cli("export").stdout)))
    assert row["first_name"] == "'" + FORMULA and row["last_name"].startswith("'-2+3")
    assert row["talents"] == "'@SUM(1+1)" and row["phone"] == "'+31612345678"
    assert row["saldo"] == "-250" and row["client_number"] == "007" and row["debts"] == "true"
    listed = next(csv.DictReader(io.StringIO(cli("client", "list", "--format", "csv").stdout)))
    assert all(not v.startswith(("=", "+", "-", "@")) for v in listed.values())
    shown = cli("client", "show", "007", "--format", "csv").stdout
    assert "'" + FORMULA.replace('"', '""') in shown and "\n=" not in shown and ",=" not in shown


def test_emit_neutralises_text_not_numbers(capsys):
    emit([{"a": "=1+2", "n": -3, "x": -2.5, "t": "\tx", "r": "\rx", "ok": "plain"}], ["a", "n", "x", "t", "r", "ok"], "csv")
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row == {"a": "'=1+2", "n": "-3", "x": "-2.5", "t": "'\tx", "r": "'\nx", "ok": "plain"}
    emit_record({"name": "+31 6", "count": -1}, "csv")
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["field", "value"], ["name", "'+31 6"], ["count", "-1"]]
