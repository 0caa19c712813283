"""Coaches and caseload size: outflow per coach matched on client composition, small cells hidden."""

import random

import pytest

from caseload import access
from caseload.reports import coach_outflow_report
from test_reports_data import NOW, actor, insert_clients, insert_observations, new_store

COHORT = "2024-06-01"


def _caseloads(store, seed=12):
    """Three coaches with 120 clients and three with 260; the small caseloads get easier clients
    (20% with complaints against 50%) and add 10 points of outflow. A coach 'tiny' has 3 clients."""
    rng = random.Random(seed)
    rows, obs, cid = [], [], 0
    plan = [(f"s{i}", 120, 0.2, 0.10) for i in range(1, 4)] + [(f"l{i}", 260, 0.5, 0.0) for i in range(1, 4)]
    plan.append(("tiny", 3, 0.5, 0.0))
    for coach, size, complaints_share, extra in plan:
        access.add_user(store.db, coach, "coach", "north")
        for _ in range(size):
            cid += 1
            complaints = rng.random() < complaints_share
            gone = rng.random() < (0.10 if complaints else 0.40) + extra
            rows.append({"id": cid, "coach": coach, "intake_date": "2023-01-10", "outflow_type": "parttime" if gone else None,
                         "outflow_date": f"2024-{rng.randint(7, 12):02d}-15" if gone else None})
            obs.append((cid, "physical_complaints", complaints, "2023-01-10T10:00:00Z"))
    insert_clients(store, rows)
    insert_observations(store, obs)


@pytest.fixture(scope="module")
def caseloads(tmp_path_factory):
    store = new_store(tmp_path_factory.mktemp("coaches"))
    _caseloads(store)
    yield store
    store.close()


def test_adjusted_outflow_by_caseload_size_removes_the_composition(caseloads):
    store = caseloads
    r = coach_outflow_report(store, actor(store, "adam"), COHORT, 12, match=["physical_complaints"], now=NOW)
    bands = {b["caseload_size"]: b for b in r["by_size"]}
    small, large = bands["100-149"], bands["250+"]
    assert (small["coaches"], large["coaches"]) == (3, 3)
    naive = small["rate_pct"] - large["rate_pct"]
    adjusted = small["adjusted_pp"] - large["adjusted_pp"]
    # the naive gap is easier clients and the planted 10 points; adjusted, the clients' part is gone
    # (against the other coaches, whom the small caseloads' own 10 points also lift: about 11 expected)
    assert naive > adjusted + 4, r["by_size"]
    assert 5 <= adjusted <= 17, r["by_size"]
    assert large["ci_high_pp"] < small["ci_low_pp"]
    assert r["clients_matched_pct"] == 100.0 and not r["warnings"]
    assert "association" in r["label"]
    tiny = next(c for c in r["coaches"] if c["coach"] == "tiny")
    assert tiny["suppressed"] and tiny["n"] is None and tiny["adjusted_pp"] is None
    assert {c["coach"] for c in r["coaches"] if not c["suppressed"]} == {"s1", "s2", "s3", "l1", "l2", "l3"}
    assert "<100" not in bands  # the hidden coach is in no band either


def test_analyst_sees_no_name_of_a_coach_below_the_minimum(caseloads, no_noise):
    store = caseloads
    r = coach_outflow_report(store, actor(store, "ana"), COHORT, 12, match=["physical_complaints"], now=NOW)
    names = {c["coach"] for c in r["coaches"]}
    assert "tiny" not in names and "s1" in names
    assert r["privacy"]
    bands = {b["caseload_size"]: b for b in r["by_size"]}
    assert bands["100-149"]["adjusted_pp"] > bands["250+"]["adjusted_pp"]


def test_coach_sees_only_their_own_caseload(caseloads):
    store = caseloads
    r = coach_outflow_report(store, actor(store, "s1"), COHORT, 12, match=["physical_complaints"], now=NOW)
    assert [c["coach"] for c in r["coaches"]] == ["s1"]


def test_report_coaches_cli_and_html(caseloads, tmp_path):
    from click.testing import CliRunner

    from caseload.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text("[reports]\nmin_cell_size = 5\n", encoding="utf-8")
    env = {"SUDO_USER": "adam", "SUDO_UID": "", "LANG": "en_US.UTF-8", "COLUMNS": "250"}
    base = ["--db", str(caseloads.path), "--config", str(cfg), "report", "coaches", "--date", COHORT,
            "--match", "physical_complaints"]
    r = CliRunner().invoke(main, base, env=env)
    assert r.exit_code == 0, r.output
    assert "association, not an effect" in r.stderr and "250+" in r.stdout
    assert "suppressed" in next(line for line in r.stdout.splitlines() if "tiny" in line)  # staff see the name
    r = CliRunner().invoke(main, [*base, "--html", "-"], env=env)
    assert r.exit_code == 0 and "<svg" in r.stdout and "Outflow per coach" in r.stdout


def test_many_coaches_and_strata_take_memory_by_clients_not_by_coaches_times_strata(tmp_path):
    """300 coaches matched on the 8 key characteristics are 300 x 155,520 (coach, stratum) cells:
    the report keeps only the cells that hold clients (dense arrays took 4.9 GB at 100,000 clients)."""
    import tracemalloc

    store = new_store(tmp_path)
    insert_clients(store, [{"id": i, "coach": f"c{i:03d}", "intake_date": "2023-01-10"} for i in range(1, 301)])
    tracemalloc.start()
    try:
        r = coach_outflow_report(store, actor(store, "adam"), COHORT, 12, now=NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(r["matched_on"]) == 9 and len(r["coaches"]) == 300
    assert peak < 50 * 2**20, peak
    store.close()
