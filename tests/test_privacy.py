"""Aggregates for analysts: no selection on what identifies a person, every count audited, and
(below) numbers that cannot be differenced into a fact about one client."""

import shutil

import pytest

from caseload import access, audit, segments
from caseload.access import Actor
from caseload.clients import add_client, observe
from caseload.config import load_config
from caseload.db import write_transaction
from caseload.fields import IDENTIFYING as IDENTIFYING_COLUMNS
from caseload.i18n import set_language
from caseload.reports import compare_report, outflow_report
from caseload.segments import BUILTIN, IDENTIFYING, NotForAnalysts
from caseload.store import open_store
from privacy import Caseload

ADMIN = Actor("admin1", "admin")
COACH = Actor("coach1", "coach", "t1")
ANALYST = Actor("ana", "analyst")
N = 40


@pytest.fixture(autouse=True)
def english():
    set_language("en")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """N clients, the first half with addiction support; one client with a unique intake date."""
    path = tmp_path_factory.mktemp("privacy") / "org.db"
    s = open_store(load_config(None), path, create=True)
    for a in (ADMIN, COACH, ANALYST):
        access.add_user(s.db, a.name, a.role, a.team)
    for i in range(N):
        cid = add_client(s, ADMIN, {"client_number": f"K{i}", "first_name": f"Voornaam{i}",
                                    "last_name": f"Achternaam{i}", "coach": "coach1",
                                    "intake_date": "2023-01-01" if i else "2023-05-17"})
        with write_transaction(s.db) as conn:
            observe(conn, s, cid, "addiction_support", i < N // 2, "2025-01-01T00:00:00Z", "coach", "admin1")
            if i % 3 == 0:
                observe(conn, s, cid, "talents", f"Zingt in koor {i}", "2025-01-01T00:00:00Z", "coach", "admin1")
    s.db.execute("INSERT INTO interventions (client_id, name, start_date, created_at)"
                 " VALUES (1, 'Voornaam0 traject', '2024-01-01', '2025-01-01T00:00:00Z')")
    s.close()
    return path


@pytest.fixture
def store(template, tmp_path):
    shutil.copy(template, tmp_path / "org.db")
    s = open_store(load_config(None), tmp_path / "org.db")
    yield s
    s.close()


# --- identifying fields ------------------------------------------------------------------------


@pytest.mark.parametrize("expression, name, column", [
    ('addiction_support = true and name != "Voornaam3 Achternaam3"', "name", 30),
    ('klantnummer = "K3"', "client_number", 1),
    ('addiction_support and (client_number in ("K1", "K2") or debts)', "client_number", 24),
    ('talents ~ "koor 3"', "talents", 1),
])
def test_an_analyst_cannot_select_on_what_identifies_a_person(store, expression, name, column):
    with pytest.raises(NotForAnalysts) as e:
        segments.count(store, ANALYST, expression)
    assert f"'{name}'" in e.value.message and f"Column {column}:" in e.value.message
    assert e.value.exit_code == 1 and isinstance(e.value, access.PermissionDenied)
    assert isinstance(segments.count(store, ADMIN, expression), int)  # staff may: they see clients anyway


def test_every_path_an_analysts_expression_takes_to_sql_refuses_it(store):
    attack = 'addiction_support and name != "Voornaam3 Achternaam3"'
    for call in (lambda: segments.split(store, ANALYST, attack, ("A", "B")),
                 lambda: outflow_report(store, ANALYST, "2024-06-01", 12, ["debts"], [attack]),
                 lambda: compare_report(store, ANALYST, "addiction_support", attack, "2024-06-01"),
                 lambda: compare_report(store, ANALYST, attack, "debts", "2024-06-01")):
        with pytest.raises(NotForAnalysts, match="'name'"):
            call()
    outflow_report(store, ADMIN, "2024-06-01", 12, ["debts"], [attack])


def test_a_saved_segment_cannot_smuggle_an_identifying_field_in(store):
    segments.save(store, COACH, "alleen K3", 'client_number = "K3"')
    with pytest.raises(NotForAnalysts) as e:
        segments.count(store, ANALYST, 'addiction_support and not segment = "alleen K3"')
    assert "'alleen K3'" in e.value.message and "'client_number'" in e.value.message
    with pytest.raises(NotForAnalysts):
        segments.count(store, ANALYST, "alleen K3")


def test_whether_free_text_is_filled_in_may_be_counted(store):
    assert segments.count(store, ANALYST, "talents is set") is not None


def test_every_built_in_field_reading_an_identifying_column_is_refused():
    reads = {name for name, (_, sql) in BUILTIN.items() if any(f"clients.{c}" in sql for c in IDENTIFYING_COLUMNS)}
    assert reads - {"age"} == set(IDENTIFYING)  # age: whole years only, a group


def test_the_refusal_is_audited_and_the_cli_says_where(tmp_path):
    cl = Caseload(tmp_path).with_people()
    r = cl.run("segment", "count", 'debts and name != "Zwaantje Quirijnsen"', user="analyst1")
    assert r.exit_code == 1, r.output
    assert "'name'" in r.output and "Column 11" in r.output and "Traceback" not in r.output
    rows = cl.ok("audit", "--format", "csv").stdout
    assert "refused" in rows and "Zwaantje" not in rows


# --- audit -------------------------------------------------------------------------------------


def test_an_analysts_count_is_audited_without_personal_data(store):
    segments.count(store, ANALYST, 'addiction_support and intervention = "Voornaam0 traject"')
    segments.save(store, COACH, "Voornaam1 en anderen", "debts")
    segments.count(store, ANALYST, "Voornaam1 en anderen")
    entries = [e for e in audit.entries(store.db) if e["actor"] == "ana"]
    assert [e["action"] for e in entries] == ["count", "count"]
    assert entries[0]["object"] == 'segment:count addiction_support = true and intervention = "…"'
    assert entries[1]["object"].startswith("segment:count segment:")
    assert not any("Voornaam" in e["object"] for e in entries)
