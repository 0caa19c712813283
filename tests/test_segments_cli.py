"""`caseload segment ...` through the real click group, on a real database file."""

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner

from caseload import access
from caseload.cli import main
from caseload.config import load_config
from caseload.store import open_store


def runner_for(db, config):
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(main, ["--db", str(db), "--config", str(config), "--lang", "en", *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result

    return run


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Made once through the CLI itself: init, four clients with wellbeing and debts."""
    base = tmp_path_factory.mktemp("cli")
    run = runner_for(base / "c.db", base / "config.toml")
    run("init")
    for i, (debts, wellbeing) in enumerate([("ja", 1), ("nee", 2), ("ja", 4), ("", 5)], start=1):
        run("client", "add", f"client_number=10{i}", f"first_name=Klant{i}", "last_name=Test")
        pairs = [f"wellbeing={wellbeing}"] + ([f"debts={debts}"] if debts else [])
        run("client", "set", f"10{i}", *pairs)
    return base


@pytest.fixture
def cli(template, tmp_path):
    for name in ("c.db", "config.toml"):
        shutil.copy(template / name, tmp_path / name)
    return runner_for(tmp_path / "c.db", tmp_path / "config.toml")


def test_count_prints_the_number_alone(cli):
    assert cli("segment", "count", "debts = true").stdout == "2\n"
    assert cli("segment", "count", "niet", "debts", "=", "ja").stdout == "2\n"  # words are joined
    assert json.loads(cli("segment", "count", "wellbeing <= 2", "--format", "json").stdout) == {
        "count": 2, "suppressed": False}


def test_check_prints_the_canonical_form(cli):
    assert cli("segment", "check", "wellbeing<=2 EN niet debts=ja").stdout == "wellbeing <= 2 and not debts = true\n"
    out = json.loads(cli("segment", "check", "debts", "--format", "json").stdout)
    assert out["valid"] is True and out["canonical"] == "debts = true"


def test_a_bad_expression_exits_2_with_a_caret_and_no_traceback(cli):
    result = cli("segment", "count", "debts = true and welbeing <= 2", code=2)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert "welbeing" in lines[0] and "wellbeing" in lines[0]
    assert lines[1:] == ["  debts = true and welbeing <= 2", "  " + " " * 17 + "^"]


def test_list_in_every_format(cli):
    rows = list(csv.DictReader(io.StringIO(cli("segment", "list", "debts = true", "--format", "csv").stdout)))
    assert [r["client_number"] for r in rows] == ["101", "103"]
    assert "id" not in rows[0]
    data = json.loads(cli("segment", "list", "wellbeing >= 4", "--format", "json", "--limit", "1").stdout)
    assert len(data) == 1 and data[0]["first_name"] == "Klant3"
    assert "Klant1" in cli("segment", "list", "wellbeing = 1").stdout


def test_save_show_saved_delete(cli):
    assert cli("segment", "save", "Zorg eerst", "wellbeing <= 2 of debts = ja",
               "--description", "care first").stdout == "wellbeing <= 2 or debts = true\n"
    assert cli("segment", "count", "Zorg eerst").stdout == "3\n"
    shown = json.loads(cli("segment", "show", "zorg eerst", "--format", "json").stdout)
    assert shown["expression"] == "wellbeing <= 2 or debts = true" and shown["description"] == "care first"
    listed = json.loads(cli("segment", "saved", "--format", "json").stdout)
    assert [s["name"] for s in listed] == ["Zorg eerst"]
    cli("segment", "save", "Zorg en schuld", 'segment = "Zorg eerst" and debts')
    result = cli("segment", "delete", "Zorg eerst", code=2)
    assert "Zorg en schuld" in result.stderr
    cli("segment", "delete", "Zorg en schuld")
    cli("segment", "delete", "Zorg eerst")
    assert json.loads(cli("segment", "saved", "--format", "json").stdout) == []
    assert "No saved segment" in cli("segment", "show", "Zorg eerst", code=2).stderr


def test_split_makes_two_selectable_groups(cli):
    out = json.loads(cli("segment", "split", "wellbeing is set", "--into", "A", "B", "--ratio", "50",
                         "--seed", "7", "--format", "json").stdout)
    assert {r["group"]: r["size"] for r in out} == {"A": 2, "B": 2} and {r["seed"] for r in out} == {7}
    a = cli("segment", "count", 'segment = "A"').stdout
    b = cli("segment", "count", 'segment = "B"').stdout
    assert a == b == "2\n"
    assert cli("segment", "count", 'segment = "A" or segment = "B"').stdout == "4\n"
    cli("segment", "split", "wellbeing is set", "--into", "A", "C", code=2)


def test_export_takes_a_saved_name_or_an_expression(cli):
    cli("segment", "save", "Schulden", "debts = true")
    by_name = cli("export", "--segment", "Schulden").stdout
    by_expression = cli("export", "--segment", "debts = ja").stdout
    assert by_name == by_expression
    assert [r["client_number"] for r in csv.DictReader(io.StringIO(by_name))] == ["101", "103"]


def test_analyst_sees_a_suppressed_count(tmp_path, no_noise):
    db, config = tmp_path / "a.db", tmp_path / "config.toml"
    store = open_store(load_config(None), db, create=True)
    access.add_user(store.db, access.os_user(), "analyst")
    store.close()
    runner = CliRunner()
    result = runner.invoke(main, ["--db", str(db), "--config", str(config), "--lang", "en", "segment", "count",
                                  "debts = true"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "<5\n" and "suppressed" in result.stderr
    result = runner.invoke(main, ["--db", str(db), "--config", str(config), "segment", "list", "debts = true"])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_every_segment_command_has_help_and_read_commands_take_format(cli):
    from caseload.cli.segments import segment

    for name, command in segment.commands.items():
        assert command.help, name
        assert cli("segment", name, "--help").stdout
        if name in ("check", "count", "list", "show", "saved", "split"):
            assert any(p.name == "fmt" for p in command.params), name
