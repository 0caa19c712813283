"""Aggregates for analysts: no selection on what identifies a person, every count audited, and
(below) numbers that cannot be differenced into a fact about one client."""

import shutil

import pytest

import math

from caseload import access, audit, privacy, segments
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
INTAKE = {0: "2023-05-17", N - 1: "2023-06-02"}  # one with addiction support, one without: unique dates


@pytest.fixture(autouse=True)
def english():
    set_language("en")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """N clients, the first half with addiction support; two clients with a unique intake date."""
    path = tmp_path_factory.mktemp("privacy") / "org.db"
    s = open_store(load_config(None), path, create=True)
    for a in (ADMIN, COACH, ANALYST):
        access.add_user(s.db, a.name, a.role, a.team)
    for i in range(N):
        cid = add_client(s, ADMIN, {"client_number": f"K{i}", "first_name": f"Voornaam{i}",
                                    "last_name": f"Achternaam{i}", "coach": "coach1",
                                    "intake_date": INTAKE.get(i, "2023-01-01")})
        with write_transaction(s.db) as conn:
            observe(conn, s, cid, "addiction_support", i < N // 2, "2025-01-01T00:00:00Z", "coach", "admin1")
            if i % 3 == 0:
                observe(conn, s, cid, "talents", f"Zingt in koor {i}", "2025-01-01T00:00:00Z", "coach", "admin1")
    s.db.execute("INSERT INTO interventions (client_id, name, start_date, created_at)"
                 " VALUES (1, 'Voornaam0 traject', '2024-01-01', '2025-01-01T00:00:00Z')")
    s.close()
    return path


def opened(template, tmp_path, privacy=""):
    shutil.copy(template, tmp_path / "org.db")
    (tmp_path / "config.toml").write_text(f"[privacy]\n{privacy}\n")
    (tmp_path / "config.toml").chmod(0o600)
    return open_store(load_config(tmp_path / "config.toml"), tmp_path / "org.db")


@pytest.fixture
def store(template, tmp_path):
    s = opened(template, tmp_path)
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
    """Not refused as `talents ~ "koor 3"` is. The analyst's count is a noisy release, so it may
    come back suppressed (None) now and then: the test asserts the refusal, not the number."""
    try:
        segments.count(store, ANALYST, "talents is set")
    except NotForAnalysts as e:
        pytest.fail(f"refused: {e.message}")
    assert segments.count(store, ADMIN, "talents is set") == -(-N // 3)


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


# --- differencing --------------------------------------------------------------------------------


def test_two_counts_no_longer_tell_whether_one_client_has_a_characteristic(template, tmp_path):
    """The attack of issue 13 with a field analysts may still use (a unique intake date instead
    of the name): count A, count A without the one client, and guess from the difference.
    Each count is epsilon-DP, so the two together are 2 epsilon-DP about that client, and no
    guess can be right more often than e^2e / (1 + e^2e); without noise it is always right."""
    s = opened(template, tmp_path, "epsilon = 0.5\nbudget = 100000")
    trials, right = 300, 0
    for trial in range(trials):
        has = trial % 2 == 0  # client 0 has addiction support, client N - 1 has not
        day = INTAKE[0 if has else N - 1]
        if s.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'privacy_releases'").fetchone():
            s.db.execute("DELETE FROM privacy_releases")  # a new period: fresh noise, fresh budget
        everyone = segments.count(s, ANALYST, "addiction_support = true")
        without = segments.count(s, ANALYST, f"addiction_support = true and intake_date != {day}")
        right += ((everyone or 0) - (without or 0) >= 1) == has
    bound = math.exp(2 * 0.5) / (1 + math.exp(2 * 0.5))
    assert right / trials <= bound + 3 * math.sqrt(0.25 / trials), right / trials
    s.close()


def test_a_repeated_query_gives_the_same_answer_and_costs_nothing(store):
    first = segments.count(store, ANALYST, "addiction_support = true")
    assert privacy.spent(store, ANALYST) == store.config.privacy.epsilon
    assert all(segments.count(store, ANALYST, "addiction_support = ja") == first for _ in range(5))
    assert segments.count(store, Actor("bo", "analyst"), "addiction_support") == first  # shared, not re-drawn
    assert privacy.spent(store, ANALYST) == store.config.privacy.epsilon
    assert privacy.spent(store, Actor("bo", "analyst")) == 0
    results = [e["result"] for e in audit.entries(store.db) if e["action"] == "count"]
    assert results == ["ok"] + ["repeat"] * 6
    with write_transaction(store.db) as conn:  # the data changes: the answer stays for the period
        observe(conn, store, 40, "addiction_support", True, "2025-02-01T00:00:00Z", "coach", "admin1")
    assert segments.count(store, ANALYST, "addiction_support") == first
    assert segments.count(store, ADMIN, "addiction_support") == N // 2 + 1  # staff: exact and live


def test_a_spent_budget_refuses_new_queries_until_the_next_period(template, tmp_path):
    s = opened(template, tmp_path, "epsilon = 0.5\nbudget = 1.0\nperiod_days = 7")
    segments.count(s, ANALYST, "addiction_support")
    outflow_report(s, ANALYST, "2024-06-01", 12, ["debts"])
    with pytest.raises(privacy.BudgetSpent) as e:
        segments.count(s, ANALYST, "debts")
    assert "1 of 1" in e.value.message and privacy.period(s)[1].isoformat() in e.value.message
    with pytest.raises(privacy.BudgetSpent):
        segments.split(s, ANALYST, "debts", ("A", "B"))
    assert not s.db.execute("SELECT 1 FROM segments WHERE name = 'A'").fetchone()  # nothing half-done
    segments.count(s, ANALYST, "addiction_support")  # asked before: still answers
    assert segments.count(s, ADMIN, "debts") is not None  # staff have no budget
    later = privacy.period(s)[1]
    segments.count(s, ANALYST, "debts", today=later)  # a new period, a new budget
    assert privacy.spent(s, ANALYST, today=later) == 0.5
    s.close()


def test_the_cli_says_how_exact_the_count_is_and_refuses_when_the_budget_is_spent(tmp_path):
    cl = Caseload(tmp_path).with_people()
    text = cl.config.read_text().replace("epsilon = 0.5", "epsilon = 1.0").replace("budget = 10.0", "budget = 1.0")
    cl.config.write_text(text)
    r = cl.ok("segment", "count", "debts", user="analyst1")
    assert "±" in r.stderr and "budget left 0 of 1" in r.stderr
    assert cl.ok("segment", "count", "debts = ja", user="analyst1").stdout == r.stdout
    r = cl.run("segment", "count", "wellbeing >= 1", user="analyst1")
    assert r.exit_code == 1 and "privacy budget" in r.output and "Traceback" not in r.output
    assert cl.ok("segment", "count", "wellbeing >= 1").stdout.strip() == "3"  # the admin: exact


# --- the guarantee's premise: what one client can change --------------------------------------


def _l1(a: dict, b: dict) -> int:
    """How far apart two sets of exact counts are (strata matched by their ids)."""
    import numpy as np

    total = 0
    for name in a:
        if name == "strata_ids":
            continue
        if name == "strata":
            rows_a = dict(zip(a["strata_ids"].tolist(), np.asarray(a["strata"]).tolist()))
            rows_b = dict(zip(b["strata_ids"].tolist(), np.asarray(b["strata"]).tolist()))
            for key in rows_a.keys() | rows_b.keys():
                total += sum(abs(x - y) for x, y in zip(rows_a.get(key, [0] * 4), rows_b.get(key, [0] * 4)))
            continue
        total += int(np.abs(np.asarray(a[name], dtype=np.int64) - np.asarray(b[name], dtype=np.int64)).sum())
    return total


@pytest.fixture(scope="module")
def planted_template(tmp_path_factory):
    from test_reports import insert_message, insert_row
    from test_reports_data import new_store, planted

    path = tmp_path_factory.mktemp("planted")
    s = new_store(path)
    planted(s, n=400, seed=5)
    s.conn.execute("INSERT INTO templates (name, channel, language, body, author, created_at, updated_at)"
                   " VALUES ('hello', 'sms', 'nl', 'x', 'adam', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    s.conn.commit()
    for i in range(1, 80):
        for j in range(1 + i % 4):
            insert_message(s, client_id=i, status="sent", at=f"2026-0{1 + j}-01T10:00:00Z",
                           sent_at=f"2026-0{1 + j}-01T10:00:00Z", channel="sms" if (i + j) % 3 else "email",
                           template="hello", kind="campaign", occurrence=str(j))
            if (i + j) % 2:
                (mid,) = s.conn.execute("SELECT max(id) FROM messages").fetchone()
                insert_row(s, "replies", message_id=mid, client_id=i, channel="sms",
                           received_at="2026-05-01T11:00:00Z")
        insert_row(s, "checkins", client_id=i, channel="sms", language="nl",
                   status="answered" if i % 3 else "unanswered", created_at="2026-04-02T10:00:00Z")
    s.close()
    return path / "c.db"


@pytest.mark.parametrize("number", ["K2", "K3", "K7"])  # a participant, controls, with messages
def test_one_client_changes_each_release_by_at_most_its_sensitivity(planted_template, tmp_path, monkeypatch, number):
    """Every release's noise is scaled to the sensitivity it declares: remove one client and the
    exact counts behind each analyst report move by no more than that (in L1)."""
    import dataclasses
    from datetime import datetime, timezone

    from caseload import erasure
    from caseload.config import Privacy
    from caseload.reports import caseload_report, effect_report, engagement_report
    from test_reports_data import NOW

    shutil.copy(planted_template, tmp_path / "c.db")
    s = open_store(load_config(None), tmp_path / "c.db")
    s.config = dataclasses.replace(s.config, privacy=Privacy(budget=1000))
    ana, adam = access.resolve_actor(s.db, "ana"), access.resolve_actor(s.db, "adam")
    seen, real = [], privacy.release

    def spy(store, actor, kind, query, sensitivity, compute, *args, **kw):
        exact = compute()
        seen.append((query[:40], sensitivity, exact))
        return real(store, actor, kind, query, sensitivity, lambda: exact, *args, **kw)

    monkeypatch.setattr(privacy, "release", spy)

    def every_report():
        segments.count(s, ana, "physical_complaints = true")
        outflow_report(s, ana, "2025-01-01", 12, ["physical_complaints", "wellbeing"], ["wellbeing >= 3"], now=NOW)
        compare_report(s, ana, "wellbeing >= 3", "physical_complaints", "2025-01-01", now=NOW)
        caseload_report(s, ana, now=datetime(2026, 6, 30, tzinfo=timezone.utc))
        engagement_report(s, ana)
        effect_report(s, ana, "assessment", match=["physical_complaints"], now=NOW)

    every_report()
    before, seen[:] = list(seen), []
    assert s.db.execute("SELECT count(*) FROM messages WHERE client_id = 7").fetchone()[0] > 0
    erasure.forget(s, adam, number)
    every_report()
    assert len(before) == len(seen) == 7  # the effect report is two releases
    moved = [(q, _l1(a, b), d) for (q, d, a), (_, _, b) in zip(before, seen)]
    assert all(change <= d for _, change, d in moved), moved
    assert any(change > 0 for _, change, _ in moved)
    s.close()


def test_an_analysts_effect_report_finds_a_planted_effect_without_noise(tmp_path, no_noise):
    from caseload.reports import effect_report
    from test_reports_data import NOW, new_store, planted

    s = new_store(tmp_path)
    truth = planted(s)
    ana = access.resolve_actor(s.db, "ana")
    r = effect_report(s, ana, "assessment", match=["physical_complaints"], now=NOW)
    assert r["participants"] == truth["participants"] and r["months_compared"] == ["2025-03"]
    assert r["ci_low_pp"] < truth["uplift_pp"] < r["ci_high_pp"] and r["verdict"] == "positive"
    assert privacy.spent(s, ana) == 2 * s.config.privacy.epsilon  # the start months, then the report
    again = effect_report(s, ana, "assessment", match=["physical_complaints"], now=NOW)
    assert again["privacy"]["repeated"] and {**again, "privacy": None} == {**r, "privacy": None}
    assert privacy.spent(s, ana) == 2 * s.config.privacy.epsilon
    s.close()


def test_an_analysts_reports_say_how_exact_they_are(tmp_path):
    from test_reports_data import new_store, planted

    s = new_store(tmp_path)
    planted(s, n=300, seed=4)
    s.close()
    cl = Caseload(tmp_path)
    cl.db, cl.config = tmp_path / "c.db", tmp_path / "config.toml"
    for args in (["outflow", "--key", "wellbeing", "--date", "2025-01-01"], ["caseload"],
                 ["compare", "wellbeing >= 3", "wellbeing < 3", "--date", "2025-01-01"],
                 ["effect", "--intervention", "assessment", "--match", "physical_complaints"]):
        r = cl.ok("report", *args, user="ana")
        assert "±" in r.stderr and "budget left" in r.stderr, (args, r.stderr)
        assert "±" not in cl.ok("report", *args, user="adam").stderr  # staff: exact
    r = cl.ok("report", "outflow", "--key", "wellbeing", "--date", "2025-01-01", "--html", "-", user="ana")
    assert "±" in r.stdout and "<!DOCTYPE html>" in r.stdout
    s = open_store(load_config(None), tmp_path / "c.db")
    rows = [e for e in audit.entries(s.db) if e["actor"] == "ana" and e["action"] == "report"]
    s.close()
    assert [e["object"] for e in rows][:2] == ["report:outflow", "report:caseload"]
