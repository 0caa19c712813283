"""Segments: the language, its errors, missing values, dates in the organisation's timezone,
saved segments, cycles, random splits, roles, suppression and injection attempts."""

import hashlib
import shutil
import sqlite3
from datetime import date

import pytest

from caseload import access, audit, segments
from caseload.access import Actor
from caseload.clients import add_client, observe
from caseload.config import load_config
from caseload.db import write_transaction
from caseload.errors import BadInput, NotFound, PermissionDenied
from caseload.i18n import set_language
from caseload.segments import SegmentError, canonical, parse
from caseload.store import open_store

TODAY = date(2025, 6, 15)
ADMIN = Actor("admin1", "admin")
COACH = Actor("coach1", "coach", "t1")
COACH2 = Actor("coach2", "coach", "t2")
LEAD = Actor("lead1", "teamlead", "t1")
ANALYST = Actor("ana", "analyst")


@pytest.fixture(autouse=True)
def english():
    set_language("en")


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """Databases built once per module and copied for each test: empty (users only) and people."""
    base = tmp_path_factory.mktemp("templates")
    s = open_store(load_config(None), base / "empty.db", create=True)
    for a in (ADMIN, COACH, COACH2, LEAD, ANALYST):
        access.add_user(s.db, a.name, a.role, a.team)
    s.close()
    shutil.copy(base / "empty.db", base / "people.db")
    s = open_store(load_config(None), base / "people.db")
    add_people(s)
    s.close()
    return base


def opened(templates, name, tmp_path):
    shutil.copy(templates / name, tmp_path / "seg.db")
    s = open_store(load_config(None), tmp_path / "seg.db")
    return s


@pytest.fixture
def store(templates, tmp_path):
    s = opened(templates, "empty.db", tmp_path)
    yield s
    s.close()


def client(store, number, coach="coach1", obs=(), **fields):
    """A client with observations given as (key, value, observed_at UTC text)."""
    moments = {k: fields.pop(k) for k in ("last_reply", "last_activity") if k in fields}
    cid = add_client(store, ADMIN, {"client_number": number, "coach": coach, **fields})
    with write_transaction(store.db) as conn:
        for k, v in moments.items():
            conn.execute(f"UPDATE clients SET {k} = ? WHERE id = ?", [v, cid])
        for key, value, at in obs:
            observe(conn, store, cid, key, value, at, "coach", "admin1")
    return cid


def intervention(store, cid, name, start, end=None):
    store.db.execute("INSERT INTO interventions (client_id, name, start_date, end_date, created_at)"
                     " VALUES (?, ?, ?, ?, '2025-01-01T00:00:00Z')", [cid, name, start, end])


def numbers(store, expr, today=TODAY):
    ids = segments.client_ids(store, expr, today=today)
    marks = ",".join("?" * len(ids))
    return sorted(r[0] for r in store.db.execute(f"SELECT client_number FROM clients WHERE id IN ({marks})", ids))


@pytest.fixture
def people(templates, tmp_path):
    s = opened(templates, "people.db", tmp_path)
    yield s
    s.close()


def add_people(store):
    """Five clients with known data; today is 2025-06-15 in Europe/Amsterdam (UTC+2 in June)."""
    client(store, "1", birth_date="1990-06-15", intake_date="2024-06-16", first_name="Jan", last_name="Jansen",
           obs=[("wellbeing", 2, "2025-06-01T10:00:00Z"), ("debts", True, "2025-06-01T10:00:00Z"),
                ("desired_sector", "care", "2025-01-01T10:00:00Z"), ("interests", "Koken en 50% fietsen",
                                                                     "2025-01-01T10:00:00Z")])
    client(store, "2", birth_date="1990-06-16", intake_date="2024-06-15", first_name="Zoë", last_name="de Vries",
           obs=[("wellbeing", 4, "2025-06-14T21:59:59Z"), ("wellbeing", 1, "2025-03-01T10:00:00Z"),
                ("debts", False, "2025-06-14T22:00:00Z")])
    client(store, "3", coach="coach2", obs=[("childcare_arranged", True, "2024-01-01T00:00:00Z")])
    client(store, "4", last_reply="2025-06-14T22:30:00Z", last_activity="2025-05-16T21:59:00Z")
    client(store, "5", last_reply="2025-06-14T21:30:00Z", status="outflow", outflow_type="fulltime",
           outflow_date="2025-05-01")


# --- the language -------------------------------------------------------------------------------


def test_examples_from_the_issue_select_the_right_clients(people):
    assert numbers(people, "wellbeing <= 2 and childcare_arranged != true") == ["1"]
    assert numbers(people, "wellbeing.updated < 60 days ago") == []
    assert numbers(people, "wellbeing was <= 2 within 120 days") == ["1", "2"]
    assert numbers(people, "wellbeing was <= 2 within 30 days") == ["1"]
    assert numbers(people, "not debts = true") == ["2", "3", "4", "5"]


def test_and_binds_tighter_than_or_and_dutch_keywords_mean_the_same(people):
    english = "debts = true or wellbeing = 4 and debts = true"
    dutch = "debts = ja of wellbeing = 4 en debts = ja"
    assert numbers(people, english) == numbers(people, dutch) == ["1"]
    assert numbers(people, "(debts = true or wellbeing = 4) and debts is set") == ["1", "2"]
    assert canonical(parse(dutch, people.catalog)) == english
    assert canonical(parse("NIET debts = Nee", people.catalog)) == "not debts = false"


def test_missing_values_follow_the_documented_rule(people):
    # 1: debts true, 2: debts false, 3-5: unknown
    assert numbers(people, "debts = true") == ["1"]
    assert numbers(people, "debts = false") == ["2"]
    assert numbers(people, "debts != true") == ["2", "3", "4", "5"]
    assert numbers(people, "not debts = true") == numbers(people, "debts != true")
    assert numbers(people, "not (debts = true or debts = false)") == ["3", "4", "5"]
    assert numbers(people, "debts is not set") == ["3", "4", "5"]
    assert numbers(people, "wellbeing < 10") == ["1", "2"]
    assert numbers(people, "not wellbeing < 10") == ["3", "4", "5"]
    assert numbers(people, "wellbeing not in (2)") == ["2", "3", "4", "5"]
    # a bool characteristic alone means "= true"
    assert numbers(people, "debts") == ["1"]


def test_history_not_equal_means_never_equal_in_the_window(people):
    assert numbers(people, "wellbeing was = 1 within 200 days") == ["2"]
    assert numbers(people, "wellbeing was != 1 within 200 days") == ["1", "3", "4", "5"]
    assert numbers(people, "wellbeing was in (1, 2) within 1 year") == ["1", "2"]


def test_history_uses_an_index_by_characteristic_when_there_is_one(people):
    expressions = ["wellbeing was <= 2 within 120 days", "wellbeing was != 1 within 200 days",
                   "wellbeing was in (1, 4) within 1 day"]
    before = [numbers(people, e) for e in expressions]
    assert "EXISTS" in segments.resolve_where(people, expressions[0])[0]
    people.db.execute("CREATE INDEX obs_by_characteristic ON observations (characteristic_id, observed_at, value)")
    assert "EXISTS" not in segments.resolve_where(people, expressions[0])[0]
    assert [numbers(people, e) for e in expressions] == before == [["1", "2"], ["1", "3", "4", "5"], ["2"]]


def test_relative_dates_and_moments_are_local_days_in_the_organisation_timezone(people):
    # 2025-06-14T22:00Z is 2025-06-15 00:00 in Amsterdam: client 4 replied "today", client 5 "yesterday"
    assert numbers(people, "last_reply = today") == ["4"]
    assert numbers(people, "last_reply = 1 day ago") == ["5"]
    assert numbers(people, "last_reply = yesterday") == ["5"]
    assert numbers(people, "last_reply < today") == ["5"]
    assert numbers(people, "last_reply >= vandaag") == ["4"]
    assert numbers(people, "last_reply <= 14-06-2025") == ["5"]
    assert numbers(people, "last_reply > 2025-06-14") == ["4"]
    # 2025-05-16T21:59Z is still 16 May locally: exactly 30 days ago
    assert numbers(people, "last_activity = 30 days ago") == ["4"]
    assert numbers(people, "last_activity < 30 dagen geleden") == []
    assert numbers(people, "wellbeing.updated = 1 day ago") == ["2"]


def test_relative_dates_move_with_today(people):
    assert numbers(people, "last_reply = today", today=date(2025, 6, 16)) == []
    assert numbers(people, "last_reply = 1 day ago", today=date(2025, 6, 16)) == ["4"]


def test_age_and_months_in_caseload_count_whole_units_to_today(people):
    # client 1 turns 35 today, client 2 tomorrow
    assert numbers(people, "age = 35") == ["1"]
    assert numbers(people, "age = 34") == ["2"]
    assert numbers(people, "age >= 35") == ["1"]
    assert numbers(people, "leeftijd < 35") == ["2"]
    assert numbers(people, "age in (34, 35)") == ["1", "2"]
    assert numbers(people, "age != 35") == ["2", "3", "4", "5"]
    # client 2 came in exactly 12 months ago, client 1 one day short
    assert numbers(people, "months_in_caseload >= 12") == ["2"]
    assert numbers(people, "months_in_caseload = 11") == ["1"]


def test_built_in_fields(people):
    assert numbers(people, 'name ~ "JANS"') == ["1"]
    assert numbers(people, 'name = "Zoë de Vries"') == ["2"]
    assert numbers(people, "naam ~ zoë") == ["2"]
    assert numbers(people, "coach = coach2") == ["3"]
    assert numbers(people, "status = uitgestroomd") == ["5"]
    assert numbers(people, "outflow_type = fulltime and outflow_date >= 2025-05-01") == ["5"]
    assert numbers(people, "intake_date < 2024-06-16") == ["2"]
    assert numbers(people, "client_number in (1, \"3\")") == ["1", "3"]


def test_text_contains_treats_percent_and_underscore_literally(people):
    assert numbers(people, 'interests ~ "50%"') == ["1"]
    assert numbers(people, 'interests ~ "5_%"') == []
    assert numbers(people, 'interests ~ "KOKEN"') == ["1"]


def test_interventions_ever_and_active(people):
    ids = {r[1]: r[0] for r in people.db.execute("SELECT id, client_number FROM clients")}
    intervention(people, ids["1"], "work-first", "2024-01-01", "2024-06-01")
    intervention(people, ids["2"], "work-first", "2025-01-01")
    intervention(people, ids["3"], "cv_workshop", "2025-01-01")
    assert numbers(people, 'intervention = "work-first"') == ["1", "2"]
    assert numbers(people, 'intervention.active = "work-first"') == ["2"]
    assert numbers(people, 'interventie.actief in ("work-first", cv_workshop)') == ["2", "3"]
    assert numbers(people, 'intervention != "work-first"') == ["3", "4", "5"]
    assert numbers(people, "intervention is set") == ["1", "2", "3"]
    assert numbers(people, 'intervention ~ "FIRST"') == ["1", "2"]


# --- errors ---------------------------------------------------------------------------------------


def error(store, text) -> SegmentError:
    with pytest.raises(SegmentError) as e:
        segments.resolve_where(store, text)
    assert isinstance(e.value, BadInput) and e.value.exit_code == 2
    return e.value


def test_unknown_characteristic_names_the_nearest_and_points_at_it(store):
    e = error(store, "debts = true and welbeing <= 2")
    assert e.position == 17
    assert "welbeing" in e.message and "wellbeing" in e.message
    lines = e.message.splitlines()
    assert lines[1] == "  debts = true and welbeing <= 2"
    assert lines[2] == "  " + " " * 17 + "^"
    # a Dutch label finds the key too
    assert "wellbeing" in error(store, "welzijn <= 2").message


def test_enum_value_outside_the_catalog_lists_the_allowed_ones(store):
    e = error(store, "desired_sector = kapper")
    assert e.position == 17
    assert "care, retail, logistics" in e.message


def test_comparison_the_type_does_not_support(store):
    e = error(store, "desired_sector < care")
    assert e.position == 15 and "<" in e.reason and "is set" in e.reason
    assert error(store, "wellbeing ~ 2").position == 10
    assert error(store, "segment is set").position == 8


def test_unparseable_dates(store):
    assert error(store, "intake_date < 2025-02-30").position == 14
    assert error(store, "intake_date < 31-13-2025").position == 14
    assert error(store, "intake_date < soon").position == 14
    assert error(store, "age > 3 days ago").position == 6


def test_errors_point_into_the_right_line_of_a_multi_line_expression(store):
    e = error(store, "debts = true\nand wellbeing = 9")
    assert e.position == 29
    assert "Line 2, column 17" in e.message
    assert e.message.splitlines()[1:] == ["  and wellbeing = 9", "  " + " " * 16 + "^"]


@pytest.mark.parametrize("text", [
    "", "   ", "(", "debts = true)", "debts =", "debts = true and", "wellbeing <= 2 or or debts",
    '"unclosed', "wellbeing ^ 2", "wellbeing was 2 within 3 days", "wellbeing was = 2 within days",
    "wellbeing was = 2", "age = 1e999", "wellbeing = 123456789012345678901234567890",
    "intake_date > 99999999 days ago", "wellbeing.bogus = 1", "age.updated > today", "(" * 30 + "debts" + ")" * 30,
    "x" * 5000, "wellbeing in ()", "wellbeing in (1,", "debts = true debts = false", "name = ''",
    "talents in (" + ", ".join(["a"] * 101) + ")", " or ".join(["debts"] * 101),
])
def test_bad_input_raises_only_segment_error(store, text):
    e = error(store, text)
    assert e.message and 0 <= e.position <= len(text)


def test_message_in_dutch(store):
    set_language("nl")
    e = error(store, "welbeing <= 2")
    assert "Onbekend kenmerk" in e.message and "Kolom 1" in e.message


# --- canonical form -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("WELLBEING<=2 EN niet (debts=ja of debts IS NOT SET)",
     "wellbeing <= 2 and not (debts = true or debts is not set)"),
    ("intake_date < 31-03-2025", "intake_date < 2025-03-31"),
    ("last_reply < 2 weken geleden", "last_reply < 2 weeks ago"),
    ("last_reply < 1 dag geleden", "last_reply < 1 day ago"),
    ("wellbeing.bijgewerkt >= vandaag", "wellbeing.updated >= today"),
    ("wellbeing was <> 2 binnen 3 maanden", "wellbeing was != 2 within 3 months"),
    ("desired_sector in ('Care', RETAIL)", "desired_sector in (care, retail)"),
    ('talents = "say \\"hi\\""', 'talents = "say \\"hi\\""'),
    ("segment == 'Zorg eerst'", 'segment = "Zorg eerst"'),
    ("a_b", None),
])
def test_canonical_form(store, text, expected):
    if expected is None:
        with pytest.raises(SegmentError):
            parse(text, store.catalog)
        return
    tree = parse(text, store.catalog)
    assert canonical(tree) == expected
    assert parse(canonical(tree), store.catalog) == tree


# --- saved segments -------------------------------------------------------------------------------


def test_saved_segments_are_live_and_nest(people):
    saved = segments.save(people, COACH, "Zorg eerst", "wellbeing <= 2 of debts = ja", "who needs care first")
    assert saved["expression"] == "wellbeing <= 2 or debts = true"
    assert saved["author"] == "coach1" and saved["kind"] == "expression"
    assert numbers(people, "Zorg eerst") == ["1"]
    assert numbers(people, "zorg eerst") == ["1"]  # names ignore case
    segments.save(people, COACH, "Zorg en jong", 'segment = "Zorg eerst" and age < 40')
    assert numbers(people, 'segment = "Zorg en jong"') == ["1"]
    # live: a new observation changes the result without re-saving
    cid = people.db.execute("SELECT id FROM clients WHERE client_number = '2'").fetchone()[0]
    with write_transaction(people.db) as conn:
        observe(conn, people, cid, "wellbeing", 1, "2025-06-15T08:00:00Z", "coach", "coach1")
    assert numbers(people, "Zorg en jong") == ["1", "2"]
    assert [s["name"] for s in segments.saved(people)] == ["Zorg eerst", "Zorg en jong"]
    assert segments.get(people, "ZORG EERST")["description"] == "who needs care first"


def test_unknown_saved_segment_names_the_nearest(people):
    segments.save(people, COACH, "Zorg eerst", "wellbeing <= 2")
    e = error(people, 'segment = "Zorg eersst"')
    assert '"Zorg eerst"' in e.message and e.position == 10
    with pytest.raises(NotFound, match="Zorg eerst"):
        segments.get(people, "Zorg eersst")


def test_cycles_are_an_error(people):
    segments.save(people, COACH, "A", "debts = true")
    segments.save(people, COACH, "B", 'segment = "A" or wellbeing = 1')
    with pytest.raises(SegmentError, match="A.*B.*A"):
        segments.save(people, COACH, "A", 'segment = "B"')
    with pytest.raises(SegmentError):
        segments.save(people, COACH, "C", 'segment = "C"')
    assert segments.get(people, "A")["expression"] == "debts = true"
    # a cycle made behind our back (edited database) is still caught when evaluating
    people.db.execute("UPDATE segments SET expression = 'segment = \"B\"' WHERE name = 'A'")
    with pytest.raises(SegmentError, match="circle"):
        segments.count(people, ADMIN, "B")


def test_a_broken_saved_segment_reports_where(people):
    segments.save(people, COACH, "Old", "wellbeing <= 2")
    people.db.execute("UPDATE segments SET expression = 'wellbeingg <= 2' WHERE name = 'Old'")
    e = error(people, 'debts or segment = "Old"')
    assert "Old" in e.reason and e.text == "wellbeingg <= 2" and e.position == 0


def test_delete_refuses_while_referenced_and_checks_ownership(people):
    segments.save(people, COACH, "Base", "debts = true")
    segments.save(people, COACH, "Top", 'segment = "Base"')
    with pytest.raises(BadInput, match="Top"):
        segments.delete(people, COACH, "Base")
    with pytest.raises(PermissionDenied):
        segments.delete(people, COACH2, "Top")
    segments.delete(people, LEAD, "Top")
    segments.delete(people, COACH, "base")
    assert segments.saved(people) == []
    with pytest.raises(NotFound):
        segments.delete(people, ADMIN, "Base")
    actions = [r[0] for r in people.db.execute("SELECT action FROM audit WHERE object LIKE 'segment:%'")]
    assert actions.count("segment_save") == 2 and actions.count("segment_delete") == 2


def test_bad_segment_names(people):
    for name in ("", "   ", "x" * 81, "tab\there"):
        with pytest.raises(BadInput):
            segments.save(people, COACH, name, "debts")


# --- random split ---------------------------------------------------------------------------------


def test_split_is_random_recorded_and_selectable(store):
    for i in range(40):
        client(store, f"s{i}", obs=[("debts", True, "2025-01-01T00:00:00Z")])
    client(store, "other")
    result = segments.split(store, ADMIN, "debts = true", ("Test", "Control"), ratio=25, seed=42)
    assert result["groups"] == {"Test": 10, "Control": 30} and result["seed"] == 42
    test_group, control = numbers(store, 'segment = "Test"'), numbers(store, 'segment = "Control"')
    assert len(test_group) == 10 and len(control) == 30 and not set(test_group) & set(control)
    assert sorted(test_group + control) == sorted(f"s{i}" for i in range(40))
    info = segments.get(store, "Test")
    assert (info["kind"], info["split_seed"], info["split_ratio"], info["split_partner"], info["split_of"]) == (
        "split", 42, 25, "Control", "debts = true")
    # the same seed on the same clients gives the same groups
    again = segments.split(store, ADMIN, "debts = true", ("T2", "C2"), ratio=25, seed=42)
    assert again["groups"] == {"T2": 10, "C2": 30}
    assert numbers(store, 'segment = "T2"') == test_group
    # the groups are fixed and combine with other conditions
    assert numbers(store, 'segment = "Test" and debts = true') == test_group
    assert numbers(store, 'segment in ("Test", "Control")') == sorted(test_group + control)
    with pytest.raises(BadInput):
        segments.split(store, ADMIN, "debts", ("Test", "New"), seed=1)
    with pytest.raises(BadInput):
        segments.save(store, ADMIN, "Test", "debts")


def test_split_of_a_coach_covers_only_their_own_clients(store):
    for i in range(6):
        client(store, f"m{i}", coach="coach1" if i < 4 else "coach2", obs=[("debts", True, "2025-01-01T00:00:00Z")])
    result = segments.split(store, COACH, "debts", ("Mine A", "Mine B"), seed=3)
    assert sum(result["groups"].values()) == 4
    with pytest.raises(BadInput):
        segments.split(store, COACH, "debts", ("X", "Y"), ratio=0)
    with pytest.raises(BadInput):
        segments.split(store, COACH, "wellbeing = 5", ("X", "Y"))


# --- roles, suppression, audit --------------------------------------------------------------------


def test_roles_scope_select_and_count(people):
    assert segments.count(people, ADMIN, "debts is not set") == 3
    assert segments.count(people, COACH, "debts is not set") == 2
    assert segments.count(people, COACH2, "debts is not set") == 1
    assert [r["client_number"] for r in segments.select(people, COACH2, "debts is not set")] == ["3"]
    assert len(segments.select(people, ADMIN, "debts is not set", limit=2)) == 2
    row = segments.select(people, ADMIN, "debts = true")[0]
    assert row["client_number"] == "1" and row["first_name"] == "Jan"
    with pytest.raises(PermissionDenied):
        segments.select(people, ANALYST, "debts = true")


def test_analyst_counts_below_the_minimum_cell_size_are_suppressed(store, no_noise):
    for i in range(7):
        client(store, f"a{i}", obs=[("debts", i < 5, "2025-01-01T00:00:00Z")])
    assert store.config.reports.min_cell_size == 5
    assert segments.count(store, ANALYST, "debts = true") == 5
    assert segments.count(store, ANALYST, "debts = false") is None
    assert segments.count(store, ANALYST, "wellbeing = 5") is None
    assert segments.count(store, ADMIN, "debts = false") == 2


def test_listing_is_audited_without_personal_data(people):
    segments.save(people, COACH, "Zorg", "debts = true")
    segments.select(people, COACH, 'name ~ "Jansen"')
    segments.select(people, COACH, "Zorg")
    rows = people.db.execute("SELECT action, object FROM audit WHERE action = 'segment_list' ORDER BY id").fetchall()
    assert rows[0] == ("segment_list", "clients")
    assert rows[1][1].startswith("segment:")
    assert not any("Jansen" in str(r) for r in people.db.execute("SELECT * FROM audit"))
    assert audit.verify(people.db) == []


def test_check_warns_about_an_intervention_nobody_had(people):
    ids = {r[1]: r[0] for r in people.db.execute("SELECT id, client_number FROM clients")}
    intervention(people, ids["1"], "work-first", "2024-01-01")
    result = segments.check(people, 'intervention = "work-frist"')
    assert result["canonical"] == 'intervention = "work-frist"'
    assert len(result["warnings"]) == 1 and "work-first" in result["warnings"][0]
    assert segments.check(people, 'intervention = "work-first"')["warnings"] == []


# --- injection ------------------------------------------------------------------------------------

PAYLOADS = [
    "x'; DROP TABLE clients; --",
    'x"); DELETE FROM clients; --',
    "' OR 1=1 --",
    "1) OR (1=1",
    "%' OR '1'='1",
    "\\'; UPDATE clients SET coach = 'evil'; --",
    "Robert'); ATTACH DATABASE '/tmp/segments/pwn.db' AS pwn; --",
]


def snapshot(store) -> str:
    h = hashlib.sha256()
    for (name,) in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        h.update(name.encode())
        h.update(repr(sorted(map(repr, store.db.execute(f'SELECT * FROM "{name}"')))).encode())
    h.update(repr(store.db.execute("SELECT * FROM sqlite_master ORDER BY name").fetchall()).encode())
    return h.hexdigest()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_are_values_never_sql(people, payload):
    before = snapshot(people)
    quoted = '"' + payload.replace("\\", "\\\\").replace('"', '\\"') + '"'
    for template in ("client_number = {}", "name ~ {}", "talents = {}", "coach in ({}, x)",
                     "intervention = {}", "not interests ~ {}", "talents was = {} within 3 days"):
        expr = template.format(quoted)
        where, params = segments.resolve_where(people, expr)
        assert payload not in where and any(payload in str(p) for p in params)
        assert segments.count(people, ADMIN, expr) in (0, 5)
    for expr in (payload, f"debts = {quoted}", f"segment = {quoted}", f"{payload} = 1"):
        with pytest.raises(SegmentError):
            segments.count(people, ADMIN, expr)
    assert snapshot(people) == before


def test_a_nul_byte_is_refused_because_sqlite_would_cut_the_value_there(people):
    e = error(people, 'name ~ "ab\x00c"')
    assert e.position == 10


@pytest.mark.parametrize("expr", [
    "clients.id = 1", "profile.v_debts = 1", "v_debts = 1", "1 = 1", "debts = true; DROP TABLE clients",
    "debts = true -- comment", "debts = true /* x */", "sqlite_master is set", "debts = (SELECT 1)",
    "wellbeing = 1 union select 1",
])
def test_sql_shaped_expressions_are_rejected(people, expr):
    before = snapshot(people)
    with pytest.raises(SegmentError):
        segments.count(people, ADMIN, expr)
    assert snapshot(people) == before


def test_a_saved_segment_name_with_quotes_stays_a_value(people):
    name = 'x" OR 1=1 --'
    segments.save(people, COACH, name, "debts = true")
    assert numbers(people, name) == ["1"]
    assert numbers(people, 'segment = "x\\" OR 1=1 --"') == ["1"]


def test_compiled_sql_only_reads(people):
    """SQLite's authorizer sees every action the statement takes: reads and selects only."""
    segments.save(people, COACH, "Nested", "wellbeing was <= 2 within 90 days or intervention = x")
    where, params = segments.resolve_where(
        people, 'not debts = true and (segment = "Nested" or name ~ "a%" or age > 30 or last_reply < today)')
    seen = set()

    def authorizer(action, *_):
        seen.add(action)
        return sqlite3.SQLITE_OK

    conn = people.db.conn
    conn.set_authorizer(authorizer)
    try:
        conn.execute(f"SELECT count(*) FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
                     f" WHERE {where}", params).fetchone()
    finally:
        conn.set_authorizer(None)
    assert seen <= {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
