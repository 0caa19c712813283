"""A/B that waits: a split states what it can detect; compare gives no verdict before the follow-up."""

import random
from datetime import date, timedelta

import numpy as np

from caseload import segments
from caseload.reports import compare_report
from caseload.reports.common import add_months
from caseload.reports.stats import compare_proportions
from test_reports_data import actor, insert_clients, new_store

SPLIT_DAY = date(2025, 1, 6)


def _caseload(store, n=1200, left=300, seed=4):
    """n clients active on the split day, and `left` more who were there a year before and left
    in that year: the caseload's own outflow is left / (n + left)."""
    rng = random.Random(seed)
    rows = [{"id": i, "coach": "cora", "intake_date": "2023-06-01"} for i in range(1, n + 1)]
    rows += [{"id": i, "coach": "cora", "intake_date": "2023-06-01", "outflow_type": "fulltime",
              "outflow_date": (SPLIT_DAY - timedelta(days=rng.randint(1, 300))).isoformat()}
             for i in range(n + 1, n + left + 1)]
    insert_clients(store, rows)
    return n


def test_fresh_split_gives_no_verdict_and_after_follow_up_detects_the_planted_difference(tmp_path):
    store = new_store(tmp_path)
    n = _caseload(store)
    adam = actor(store, "adam")
    made = segments.split(store, adam, "status = active", ("Proef", "Controle"), seed=1, today=SPLIT_DAY)
    assert made["expected_from"] == "history" and made["expected_pct"] == 20.0, made
    assert made["groups"] == {"Proef": n // 2, "Controle": n // 2}
    assert made["verdict_from"] == "2026-01-06"
    fresh = compare_report(store, adam, "Proef", "Controle", now=SPLIT_DAY + timedelta(days=1))
    assert fresh["verdict"] == "waiting" and fresh["cohort_date"] == "2025-01-06"
    assert fresh["difference_pp"] is None and fresh["p_value"] is None
    assert "2026-01-06" in fresh["conclusion"]

    # a year of follow-up: Proef leaves at 45%, Controle at 30%
    rng = random.Random(9)
    proef = set(segments.client_ids(store, "Proef"))
    with store.db.conn:
        for cid in segments.client_ids(store, "status = active"):
            if rng.random() < (0.45 if cid in proef else 0.30):
                day = SPLIT_DAY + timedelta(days=rng.randint(1, 360))
                store.conn.execute("UPDATE clients SET status = 'outflow', outflow_type = 'parttime',"
                                   " outflow_date = ? WHERE id = ?", [day.isoformat(), cid])
    later = compare_report(store, adam, "Proef", "Controle", now=add_months(SPLIT_DAY, 12) + timedelta(days=1))
    assert later["follow_up_complete"] and later["verdict"] == "different", later
    assert later["ci_low_pp"] <= 15 <= later["ci_high_pp"], later
    assert later["split_mde_pp"] == made["mde_pp"]


def test_stated_detectable_difference_matches_a_simulation(tmp_path):
    """The split says: with these group sizes and this expected outflow, a difference of mde_pp is
    found 4 times in 5. Simulated splits with the same test as report compare agree within 2 points."""
    store = new_store(tmp_path)
    adam = actor(store, "adam")
    insert_clients(store, [{"id": i, "intake_date": "2023-06-01"} for i in range(1, 801)])
    made = segments.split(store, adam, "status = active", ("A", "B"), seed=3, today=SPLIT_DAY, expected_pct=25.0)
    na, nb = made["groups"]["A"], made["groups"]["B"]
    stated = made["mde_pp"]
    assert made["expected_from"] == "given" and 8 < stated < 14
    rng = np.random.default_rng(5)
    trials, p = 1000, 0.25

    def detected(diff_pp: float) -> float:
        ka = rng.binomial(na, p + diff_pp / 100, trials)
        kb = rng.binomial(nb, p, trials)
        return float(np.mean([compare_proportions(int(a), na, int(b), nb).p_value < 0.05 for a, b in zip(ka, kb)]))

    simulated = next(d / 2 for d in range(2, 60) if detected(d / 2) >= 0.80)
    assert abs(simulated - stated) <= 2.0, (simulated, stated)
