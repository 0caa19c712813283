"""Clients, observations and the profile, through the CLI and the core."""

import json
import os
import stat

from caseload import clients, interventions
from caseload.errors import BadInput, NotFound

import pytest


def test_database_is_created_0600(cli):
    assert stat.S_IMODE(os.stat(cli.db).st_mode) == 0o600


def test_database_readable_by_others_is_refused(cli):
    os.chmod(cli.db, 0o644)
    result = cli("client", "list")
    assert result.exit_code == 1 and "chmod 600" in result.stderr


def test_add_set_show_history(cli):
    assert cli("client", "add", "client_number=1001", "first_name=An", "phone=06-12345678").exit_code == 0
    assert cli("client", "set", "1001", "wellbeing=2", "debts=ja").exit_code == 0
    assert cli("client", "set", "1001", "wellbeing=4").exit_code == 0
    shown = json.loads(cli("client", "show", "1001", "--format", "json").stdout)
    assert shown["phone"] == "+31612345678" and shown["wellbeing"] == 4 and shown["debts"] is True
    hist = json.loads(cli("client", "history", "1001", "wellbeing", "--format", "json").stdout)
    assert [h["value"] for h in hist] == [2, 4] and {h["source"] for h in hist} == {"coach"}
    assert hist[0]["author"] == "admin"


def test_characteristics_and_fields_by_their_dutch_labels(cli):
    """`client set N welbevinden=3`: a characteristic or field by its key or its label in either
    language, matched as import matches headers; what is stored keeps the key."""
    assert cli("client", "add", "Klantnummer=1001", "voornaam=An", "Telefoon=06-12345678").exit_code == 0
    r = cli("client", "set", "1001", "welbevinden=2", "Kinderopvang geregeld=nee", "SCHULDEN=ja")
    assert r.exit_code == 0, r.output
    assert cli("client", "set", "1001", "welbevinden=3").exit_code == 0
    assert cli("client", "update", "1001", "voorkeurskanaal=e-mail").exit_code == 0
    shown = json.loads(cli("client", "show", "1001", "--format", "json").stdout)
    assert (shown["wellbeing"], shown["childcare_arranged"], shown["debts"]) == (3, False, True)
    assert shown["first_name"] == "An" and shown["preferred_channel"] == "email"
    hist = json.loads(cli("client", "history", "1001", "welbevinden", "--format", "json").stdout)
    assert [h["value"] for h in hist] == [2, 3]
    assert cli("segment", "count", "welbevinden <= 3 en kinderopvang_geregeld = nee").stdout.strip() == "1"
    check = cli("segment", "check", '"Kinderopvang geregeld" != ja of welbevinden <= 2')
    assert "childcare_arranged != true or wellbeing <= 2" in check.stdout  # the canonical form keeps the key
    twice = cli("client", "set", "1001", "welbevinden=3", "wellbeing=2")
    assert twice.exit_code == 2 and "wellbeing" in twice.stderr


@pytest.mark.parametrize("args,needle", [
    (("client", "set", "1001", "wellbeing=9"), "wellbeing"),
    (("client", "set", "1001", "welbeing=3"), "wellbeing"),
    (("client", "set", "1001", "wellbeing"), "KEY=VALUE"),
    (("client", "set", "9999", "wellbeing=3"), "9999"),
    (("client", "add", "client_number=1001"), "exists"),
    (("client", "add", "first_name=Bo"), "client_number"),
    (("client", "add", "client_number=2", "phone=123"), "phone"),
])
def test_bad_input_is_one_message_exit_2_nothing_written(cli, args, needle):
    cli("client", "add", "client_number=1001")
    from conftest import snapshot_tables

    before = snapshot_tables(cli.db)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "Traceback" not in result.output
    after = snapshot_tables(cli.db)
    after.pop("audit", None), before.pop("audit", None)
    assert after == before


def test_back_dated_observation_keeps_newer_profile(store, admin):
    clients.add_client(store, admin, {"client_number": "1"})
    clients.set_characteristics(store, admin, "1", {"wellbeing": "4"}, observed_at="2026-01-10T10:00:00Z")
    clients.set_characteristics(store, admin, "1", {"wellbeing": "1"}, observed_at="2025-01-10T10:00:00Z")
    clients.set_characteristics(store, admin, "1", {"wellbeing": "3"}, observed_at="2026-01-10T10:00:00Z")
    cid = clients.client_id(store, admin, "1")
    prof = {p.key: p for p in clients.profile(store, cid)}
    assert prof["wellbeing"].value == 3 and prof["wellbeing"].observed_at == "2026-01-10T10:00:00Z"
    assert prof["wellbeing"].stale  # older than 30 days
    assert len(clients.history(store, admin, "1", "wellbeing")) == 3


def test_notes_outflow_and_interventions(cli):
    cli("client", "add", "client_number=7", "intake_date=01-01-2025")
    assert cli("client", "note", "7", "Gebeld [bold]ok[/]").exit_code == 0
    assert cli("intervention", "start", "7", "work-first", "--date", "01-02-2025").exit_code == 0
    assert cli("intervention", "start", "7", "work-first").exit_code == 2
    assert cli("intervention", "end", "7", "work-first", "--date", "2025-01-01").exit_code == 2
    assert cli("intervention", "end", "7", "work-first", "--date", "2025-05-01", "--result", "completed").exit_code == 0
    assert cli("client", "outflow", "7", "--type", "parttime", "--date", "31-05-2025").exit_code == 0
    shown = json.loads(cli("client", "show", "7", "--format", "json").stdout)
    assert shown["status"] == "outflow" and shown["outflow_type"] == "parttime" and shown["outflow_date"] == "2025-05-31"
    assert shown["notes"][0]["text"] == "Gebeld [bold]ok[/]"
    assert shown["interventions"] == [{"name": "work-first", "start_date": "2025-02-01", "end_date": "2025-05-01",
                                       "result": "completed"}]
    table = cli("client", "show", "7").stdout
    assert "[bold]ok[/]" in table  # markup in a note shows as text


def test_coach_sees_only_own_clients(store, admin):
    from caseload import access

    access.add_user(store.db, "anouk", "coach", "noord")
    access.add_user(store.db, "bram", "coach", "noord")
    clients.add_client(store, admin, {"client_number": "1", "coach": "anouk"})
    clients.add_client(store, admin, {"client_number": "2", "coach": "bram"})
    anouk = access.resolve_actor(store.db, "anouk")
    assert [c["client_number"] for c in clients.list_clients(store, anouk)] == ["1"]
    with pytest.raises(NotFound):
        clients.get_client(store, anouk, "2")
    with pytest.raises(NotFound):
        clients.set_characteristics(store, anouk, "2", {"wellbeing": "3"})
    with pytest.raises(BadInput):
        clients.add_client(store, anouk, {"client_number": "3", "coach": "bram"})


def test_list_formats(cli):
    cli("client", "add", "client_number=1", "last_name=[red]Zed[/red]")
    csv_out = cli("client", "list", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("client_number,first_name,last_name") and "[red]Zed[/red]" in csv_out[1]
    assert "[red]Zed[/red]" in cli("client", "list").stdout
