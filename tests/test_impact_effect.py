"""Effects honestly: a confounder known only from a dated history file, and effects per group.

The caseloads are generated with planted truth (seeded): whoever takes part was chosen at the
gate for a characteristic that lowers outflow, and that characteristic reaches caseload only
through a history file dated at intake, imported the way a municipality would."""

import math
import random
from datetime import date, timedelta

import pytest

from caseload import importer
from caseload.reports import effect_report
from test_reports_data import NOW, actor, insert_clients, insert_interventions, new_store


def _exp_days(rng, p_year):
    return rng.expovariate(-math.log(1 - p_year) / 365)


def generate(store, tmp_path, n=3000, seed=11, dated=True, programme="assessment"):
    """'assessment' adds 5 points of work within a year, and is given mostly to clients with
    physical complaints (who leave far less often); 'cv_workshop' (in a caseload of its own)
    adds 20 points, but only for clients with debts. Complaints and debts are in a history file
    dated at intake."""
    rng = random.Random(seed)
    clients, ivs, lines = [], [], ["klantnummer;kenmerk;waarde;datum"]
    for i in range(1, n + 1):
        complaints, debts = rng.random() < 0.4, rng.random() < 0.5
        p0 = 0.10 if complaints else 0.45
        intake = NOW - timedelta(days=rng.randint(800, 1100))
        leave = intake + timedelta(days=_exp_days(rng, p0))
        start = date(2025, 3, rng.randint(1, 28))
        if leave > start:
            if programme == "assessment" and rng.random() < (0.5 if complaints else 0.05):
                leave = start + timedelta(days=_exp_days(rng, p0 + 0.05))
                ivs.append((i, "assessment", start.isoformat(), None, None))
            elif programme == "cv_workshop" and rng.random() < (0.4 if complaints else 0.15):
                leave = start + timedelta(days=_exp_days(rng, p0 + (0.20 if debts else 0.0)))
                ivs.append((i, "cv_workshop", start.isoformat(), None, None))
        gone = leave <= NOW
        clients.append({"id": i, "coach": "cora" if i % 2 else "carl", "intake_date": intake.isoformat(),
                        "outflow_date": leave.isoformat() if gone else None,
                        "outflow_type": "fulltime" if gone else None})
        when = intake.strftime("%d-%m-%Y") if dated else date.today().strftime("%d-%m-%Y")
        lines.append(f"K{i};Lichamelijke klachten;{'ja' if complaints else 'nee'};{when}")
        lines.append(f"K{i};Schulden;{'ja' if debts else 'nee'};{when}")
    insert_clients(store, clients)
    insert_interventions(store, ivs)
    path = tmp_path / f"geschiedenis-{programme}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = importer.import_file(store, actor(store, "adam"), path)
    assert report.history and report.observations == 2 * n
    return {"assessment_pp": 5.0, "cv_debts_pp": 20.0}


@pytest.fixture(scope="module")
def impact(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("impact")
    store = new_store(tmp)
    truth = generate(store, tmp)
    yield store, truth
    store.close()


@pytest.fixture(scope="module")
def workshop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("workshop")
    store = new_store(tmp)
    truth = generate(store, tmp, seed=13, programme="cv_workshop")
    yield store, truth
    store.close()


def test_confounder_from_dated_history_lets_matching_recover_the_planted_effect(impact, tmp_path):
    store, truth = impact
    r = effect_report(store, actor(store, "adam"), "assessment", match=["physical_complaints"], now=NOW)
    assert r["ci_low_pp"] <= truth["assessment_pp"] <= r["ci_high_pp"], r
    # chosen at the gate for complaints: the naive figure is far below the truth, and says so
    assert r["naive_ci_high_pp"] < truth["assessment_pp"] - 5, r
    assert r["matched_share_pct"] == 100.0 and "low_coverage" not in r["warnings"]
    # the same values without their dates: nothing was recorded before today, matching cannot help
    undated = new_store(tmp_path)
    generate(undated, tmp_path, dated=False)
    u = effect_report(undated, actor(undated, "adam"), "assessment", match=["physical_complaints"], now=NOW)
    assert u["ci_high_pp"] < truth["assessment_pp"], u
    undated.close()


def test_per_group_intervals_cover_the_effect_in_its_group_and_zero_outside(workshop):
    store, truth = workshop
    r = effect_report(store, actor(store, "adam"), "cv_workshop", match=["physical_complaints"], by="debts",
                      now=NOW)
    groups = {g["value"]: g for g in r["groups"]}
    assert set(groups) == {True, False}, r["groups"]
    yes, no = groups[True], groups[False]
    assert yes["ci_low_pp"] <= truth["cv_debts_pp"] <= yes["ci_high_pp"], yes
    assert yes["ci_low_pp"] > 0 and yes["verdict"] == "positive"
    assert no["ci_low_pp"] <= 0 <= no["ci_high_pp"], no
    for g in (yes, no):
        assert g["mde_pp"] > 0 and g["matched_share_pct"] == 100.0
    assert yes["participants"] + no["participants"] == r["participants"]


def test_segment_restricts_participants_and_comparison_alike(workshop):
    store, truth = workshop
    from caseload import segments

    segments.save(store, actor(store, "adam"), "schulden", "debts = ja")
    r = effect_report(store, actor(store, "adam"), "cv_workshop", match=["physical_complaints"], segment="schulden",
                      now=NOW)
    assert r["segment"] == "schulden"
    assert r["ci_low_pp"] <= truth["cv_debts_pp"] <= r["ci_high_pp"], r


def test_low_coverage_and_small_groups_warn(tmp_path):
    """Participants whose stratum has no comparison client are not matched: the report warns
    when fewer than 80% were, and when the groups are too small to tell."""
    store = new_store(tmp_path)
    rows, ivs = [], []
    for i in range(1, 41):
        rows.append({"id": i, "intake_date": "2024-01-01"})
        if i <= 20:
            ivs.append((i, "solo", "2025-03-10", None, None))
    insert_clients(store, rows)
    insert_interventions(store, ivs)
    from test_reports_data import insert_observations

    # 15 of the 20 participants are the only ones with complaints: no one to compare them with
    insert_observations(store, [(i, "physical_complaints", i <= 15, "2024-01-01T10:00:00Z") for i in range(1, 41)])
    r = effect_report(store, actor(store, "adam"), "solo", match=["physical_complaints"], now=NOW)
    assert r["matched_share_pct"] == 25.0
    assert r["warnings"] == ["low_coverage", "too_small"]
    assert any("25.0%" in w for w in r["warning_text"])


def test_analyst_gets_noisy_per_group_effects(workshop, no_noise):
    store, truth = workshop
    r = effect_report(store, actor(store, "ana"), "cv_workshop", match=["physical_complaints"], by="debts", now=NOW)
    groups = {g["value"]: g for g in r["groups"]}
    assert groups[True]["ci_low_pp"] <= truth["cv_debts_pp"] <= groups[True]["ci_high_pp"], groups[True]
    assert groups[False]["ci_low_pp"] <= 0 <= groups[False]["ci_high_pp"], groups[False]
    assert r["privacy"]


def test_report_effect_cli_by_and_segment(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from caseload.cli import main

    store = new_store(tmp_path, name="caseload.db")
    generate(store, tmp_path, n=600, seed=2, programme="cv_workshop")
    store.close()
    cfg = tmp_path / "config.toml"
    cfg.write_text("[reports]\nmin_cell_size = 5\n", encoding="utf-8")
    env = {"SUDO_USER": "adam", "SUDO_UID": "", "LANG": "en_US.UTF-8", "COLUMNS": "250"}
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "caseload.db"), "--config", str(cfg), "report", "effect",
                                  "--intervention", "cv_workshop", "--by", "schulden"], env=env)
    assert r.exit_code == 0, r.output
    assert "The effect per value of Debts" in r.output
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "caseload.db"), "--config", str(cfg), "report", "effect",
                                  "--intervention", "cv_workshop", "--segment", "debts = ja", "--format", "json"],
                           env=env)
    assert r.exit_code == 0, r.output
    assert '"segment": "debts = ja"' in r.output
