"""Cohorts at their start: an old cohort's outflow report does not move when a value is recorded today."""

import random
from datetime import date

from markupsafe import escape

from caseload import clients
from caseload.reports import outflow_report
from caseload.reports.html import render_html
from test_reports_data import actor, insert_clients, insert_observations, new_store

COHORT = date(2024, 6, 1)


def _caseload(store, n=300, seed=6):
    rng = random.Random(seed)
    rows, obs = [], []
    for i in range(1, n + 1):
        gone = rng.random() < 0.4
        rows.append({"id": i, "intake_date": "2024-01-15", "outflow_type": "fulltime" if gone else None,
                     "outflow_date": f"2024-{rng.randint(7, 12):02d}-10" if gone else None})
        obs.append((i, "wellbeing", rng.randint(1, 5), "2024-02-01T10:00:00Z"))
        obs.append((i, "debts", rng.random() < 0.3, "2024-02-01T10:00:00Z"))
    insert_clients(store, rows)
    insert_observations(store, obs)


def test_old_cohort_report_does_not_change_when_a_value_is_recorded_today(tmp_path):
    store = new_store(tmp_path)
    _caseload(store)
    adam = actor(store, "adam")
    before = outflow_report(store, adam, COHORT, 12, ["wellbeing", "debts"], record=False)
    assert before["values"] == "as_of_cohort_date" and "2024-06-01" in before["values_note"]
    for i in range(1, 121):  # a third of the cohort gets a low wellbeing and debts recorded today
        clients.set_characteristics(store, adam, f"K{i}", {"wellbeing": "1", "debts": "ja"})
    after = outflow_report(store, adam, COHORT, 12, ["wellbeing", "debts"], record=False)
    assert after["by_characteristic"] == before["by_characteristic"]
    assert after["overall"] == before["overall"]
    # the latest-recorded view is what moved (the reverse causation the default avoids)
    latest = outflow_report(store, adam, COHORT, 12, ["wellbeing", "debts"], record=False, as_of=False)
    assert latest["by_characteristic"] != before["by_characteristic"]
    assert latest["values"] == "latest_recorded"
    assert str(escape(before["values_note"])) in render_html(before, store.catalog)


def test_cli_says_which_values_it_used(cli):
    r = cli("report", "outflow", "--key", "wellbeing")
    assert r.exit_code == 0, r.output
    assert "as recorded on or before" in r.stderr
    r = cli("report", "outflow", "--key", "wellbeing", "--latest")
    assert r.exit_code == 0 and "as recorded most recently" in r.stderr
