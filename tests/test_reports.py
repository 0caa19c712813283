"""Reports, checked against planted truth and an independent pandas computation."""

import random
import sqlite3
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from caseload import audit
from caseload.errors import BadInput, PermissionDenied
from caseload.reports import attention_list, caseload_report, compare_report, effect_report, outflow_report
from caseload.reports.stats import compare_proportions, mde, power, wilson
from test_reports_data import (NOW, actor, insert_clients, insert_interventions, insert_observations, new_store,
                               planted)


@pytest.fixture(scope="module")
def planted_store(tmp_path_factory):
    store = new_store(tmp_path_factory.mktemp("planted"))
    truth = planted(store)
    yield store, truth
    store.close()


def test_matched_estimate_recovers_planted_uplift_and_naive_is_biased(planted_store):
    store, truth = planted_store
    r = effect_report(store, actor(store, "adam"), "assessment", match=["physical_complaints"], now=NOW)
    assert r["participants"] == truth["participants"]
    assert r["matched_participants"] == r["participants"]
    assert r["ci_low_pp"] <= truth["uplift_pp"] <= r["ci_high_pp"], r
    # participants were chosen for complaints that lower outflow: the naive estimate is pulled down
    assert r["naive_effect_pp"] < truth["uplift_pp"] - 8, r
    assert r["naive_ci_high_pp"] < truth["uplift_pp"], r
    assert r["verdict"] == "positive"
    assert r["method"] == "coarsened_exact_matching"
    for key in ("intervention", "participants", "matched_participants", "effect_pp", "ci_low_pp", "ci_high_pp",
                "naive_effect_pp", "method"):
        assert key in r


def test_matching_without_the_selecting_characteristic_is_as_biased_as_naive(planted_store):
    store, truth = planted_store
    r = effect_report(store, actor(store, "adam"), "assessment", match=[], now=NOW)
    assert r["ci_high_pp"] < truth["uplift_pp"]


def test_effect_uses_characteristics_as_of_the_start_not_todays_profile(tmp_path):
    """Everyone gets complaints recorded after the start: today's profile would put all in one
    stratum; the history as of the start must still separate them."""
    store = new_store(tmp_path)
    planted(store, n=3000, seed=5)
    late = [(cid, "physical_complaints", True, "2026-06-01T09:00:00Z")
            for (cid,) in store.conn.execute("SELECT id FROM clients")]
    insert_observations(store, late)
    r = effect_report(store, actor(store, "adam"), "assessment", match=["physical_complaints"], now=NOW)
    assert r["ci_low_pp"] <= 15 <= r["ci_high_pp"], r


def _pandas_effect(store, name, within, now):
    con = sqlite3.connect(store.path)
    clients = pd.read_sql("SELECT id, intake_date, outflow_date, outflow_type, status FROM clients", con)
    iv = pd.read_sql("SELECT client_id, MIN(start_date) AS start FROM interventions WHERE name = ? GROUP BY client_id",
                     con, params=[name])
    obs = pd.read_sql("SELECT client_id, observed_at, value FROM observations WHERE characteristic_id = ?",
                      con, params=[store.ids["physical_complaints"]])
    con.close()
    for c in ("intake_date", "outflow_date"):
        clients[c] = pd.to_datetime(clients[c])
    iv["start"] = pd.to_datetime(iv["start"])
    obs["day"] = pd.to_datetime(obs["observed_at"].str[:10])
    now = pd.Timestamp(now)
    p = iv.merge(clients, left_on="client_id", right_on="id")
    p = p[(p.start + pd.Timedelta(days=within) <= now) & (p.intake_date <= p.start)
          & (p.outflow_date.isna() | (p.outflow_date > p.start))].copy()
    p["ref"] = p.start
    ref = pd.Timestamp("2025-03-15")
    c = clients[~clients.id.isin(iv.client_id) & (clients.intake_date <= ref)
                & (clients.outflow_date.isna() | (clients.outflow_date > ref))].copy()
    c = c.rename(columns={"id": "client_id"})
    c["ref"] = ref
    both = pd.concat([p.assign(treated=True), c.assign(treated=False)], ignore_index=True)
    both["y"] = (both.outflow_date > both.ref) & (both.outflow_date <= both.ref + pd.Timedelta(days=within)) \
        & both.outflow_type.isin(["fulltime", "parttime", "self_employed"])
    months = (both.ref - both.intake_date).dt.days / 30.4375
    both["band"] = np.searchsorted([6, 12, 24, 60], months, side="right")
    latest = obs.sort_values("day")
    both = both.sort_values("ref")
    both = pd.merge_asof(both, latest[["client_id", "day", "value"]].sort_values("day"), left_on="ref",
                         right_on="day", by="client_id", direction="backward")
    both["cov"] = both["value"].fillna(-1)
    g = both.groupby(["band", "cov", "treated"])["y"].agg(["sum", "count"]).unstack("treated").dropna()
    w = g[("count", True)] / g[("count", True)].sum()
    att = (w * (g[("sum", True)] / g[("count", True)] - g[("sum", False)] / g[("count", False)])).sum()
    return 100 * att, int(g[("count", True)].sum())


def test_effect_agrees_with_pandas(planted_store):
    store, _ = planted_store
    r = effect_report(store, actor(store, "adam"), "assessment", match=["physical_complaints"], now=NOW)
    att, matched = _pandas_effect(store, "assessment", 365, NOW)
    assert r["matched_participants"] == matched
    assert r["effect_pp"] == pytest.approx(att, abs=0.051)


def insert_message(store, client_id: int, status: str, at: str, **values) -> None:
    """A row in the outbox's messages table, whatever its other required columns are."""
    cols = store.conn.execute("PRAGMA table_info(messages)").fetchall()
    if not cols:
        store.conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, client_id INTEGER, status TEXT,"
                           " channel TEXT, template TEXT, kind TEXT, sent_at TEXT, created_at TEXT, updated_at TEXT)")
        cols = store.conn.execute("PRAGMA table_info(messages)").fetchall()
    row = {"client_id": client_id, "status": status, "created_at": at, "updated_at": at, "due_at": at,
           "channel": "sms", "body": "x", "token": f"tok{random.random()}", **values}
    for _, name, _, notnull, default, pk in cols:
        if notnull and default is None and not pk and name not in row:
            row[name] = "x"
    row = {k: v for k, v in row.items() if k in {c[1] for c in cols}}
    store.conn.execute(f"INSERT INTO messages ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                       list(row.values()))
    store.conn.commit()


def _mixed(store, n=700, seed=11):
    rng = random.Random(seed)
    clients, obs = [], []
    types = ["fulltime", "parttime", "self_employed", "education", "moved", "other"]
    for i in range(1, n + 1):
        intake = date(2023, 1, 1) + timedelta(days=rng.randint(0, 700))
        out = intake + timedelta(days=rng.randint(10, 900)) if rng.random() < 0.6 else None
        clients.append({"id": i, "coach": rng.choice(["cora", "carl"]), "intake_date": intake.isoformat(),
                        "outflow_date": out.isoformat() if out else None,
                        "outflow_type": rng.choice(types) if out else None})
        at = f"{intake.isoformat()}T09:00:00Z"
        if rng.random() < 0.8:
            obs.append((i, "wellbeing", rng.randint(1, 5), at))
        if rng.random() < 0.7:
            obs.append((i, "debts", rng.random() < 0.3, at))
        if rng.random() < 0.7:
            obs.append((i, "education_level", rng.choice(["none", "primary", "mbo2_4", "hbo"]), at))
        if rng.random() < 0.7:
            obs.append((i, "availability_hours", rng.choice([0, 8, 14.5, 15, 32, 40, 60]), at))
        if rng.random() < 0.5:
            obs.append((i, "last_job_end", (date(2016, 1, 1) + timedelta(days=rng.randint(0, 3200))).isoformat(), at))
        if rng.random() < 0.5:
            obs.append((i, "talents", "handig", at))
    insert_clients(store, clients)
    insert_observations(store, obs)


def test_outflow_agrees_with_pandas(tmp_path):
    store = new_store(tmp_path)
    _mixed(store)
    keys = ["wellbeing", "debts", "education_level", "availability_hours", "last_job_end", "talents"]
    d = date(2024, 6, 1)
    r = outflow_report(store, actor(store, "adam"), d, 12, keys)
    con = sqlite3.connect(store.path)
    df = pd.read_sql("SELECT * FROM clients JOIN profile ON profile.client_id = clients.id", con)
    con.close()
    intake, out = pd.to_datetime(df.intake_date), pd.to_datetime(df.outflow_date)
    start, end = pd.Timestamp(d), pd.Timestamp("2025-06-01")
    df = df[(intake <= start) & (out.isna() | (out > start))].copy()
    out = pd.to_datetime(df.outflow_date)
    df["y"] = (out > start) & (out <= end)
    assert r["overall"]["n"] == len(df) and r["overall"]["outflow"] == int(df.y.sum())
    assert r["overall"]["rate_pct"] == pytest.approx(round(100 * df.y.mean(), 1))
    groups = {
        "wellbeing": df.v_wellbeing.map(lambda v: None if pd.isna(v) else str(int(v))),
        "debts": df.v_debts.map({0: False, 1: True}),
        "education_level": df.v_education_level,
        "availability_hours": pd.cut(df.v_availability_hours, [0, 15, 30, 45, np.inf], right=False,
                                     labels=["0-15", "15-30", "30-45", "45-60"]).astype(object),
        "last_job_end": pd.cut((start - pd.to_datetime(df.v_last_job_end)).dt.days,
                               [-np.inf, 366, 731, 1827, np.inf], right=False,
                               labels=["<1y", "1-2y", "2-5y", ">=5y"]).astype(object),
        "talents": df.v_talents.notna().map({True: "recorded", False: None}),
    }
    checked = 0
    for key, col in groups.items():
        truth = df.assign(g=col.map(lambda v: "__none__" if v is None or pd.isna(v) else str(v))).groupby("g")["y"]
        truth = truth.agg(["sum", "count"])
        rows = [x for x in r["by_characteristic"] if x["key"] == key]
        assert sum(x["n"] or 0 for x in rows) <= len(df)
        for x in rows:
            value = "__none__" if x["value"] is None else str(x["value"])
            expected = truth.loc[value] if value in truth.index else pd.Series({"sum": 0, "count": 0})
            if x["suppressed"]:
                continue
            assert x["n"] == expected["count"], (key, x)
            assert x["outflow"] == expected["sum"], (key, x)
            if x["n"]:
                lo, hi = wilson(int(expected["sum"]), int(expected["count"]))
                assert x["ci_low_pct"] == pytest.approx(100 * lo, abs=0.051)
                assert x["ci_high_pct"] == pytest.approx(100 * hi, abs=0.051)
                checked += 1
        assert sum(1 for x in rows if x["suppressed"]) != 1
    assert checked > 15
    by_type = df[df.y].outflow_type.value_counts()
    for x in r["by_type"]:
        if not x["suppressed"] and x["type"] != "none":
            assert x["n"] == by_type.get(x["type"], 0)


def test_roles_scope_and_audit(tmp_path):
    store = new_store(tmp_path)
    _mixed(store, n=300)
    d = date(2024, 6, 1)
    everyone = outflow_report(store, actor(store, "ana"), d, 12, ["debts"])  # noisy, within a few
    mine = outflow_report(store, actor(store, "cora"), d, 12, ["debts"])
    cora_n = store.conn.execute(
        "SELECT count(*) FROM clients WHERE coach = 'cora' AND intake_date <= '2024-06-01'"
        " AND (outflow_date IS NULL OR outflow_date > '2024-06-01')").fetchone()[0]
    assert mine["overall"]["n"] == cora_n < everyone["overall"]["n"]
    rows = store.conn.execute("SELECT actor, action, object FROM audit WHERE action = 'report'").fetchall()
    assert ("ana", "report", "report:outflow") in rows and ("cora", "report", "report:outflow") in rows
    assert audit.verify(store.db) == [] if hasattr(audit, "verify") else True
    with pytest.raises(PermissionDenied):
        attention_list(store, actor(store, "ana"))
    with pytest.raises(BadInput):
        effect_report(store, actor(store, "adam"), "no such programme")
    with pytest.raises(BadInput):
        outflow_report(store, actor(store, "adam"), d, 12, ["no_such_key"])


def test_small_cohort_is_suppressed_everywhere(tmp_path):
    store = new_store(tmp_path, min_cell_size=10)
    insert_clients(store, [{"id": i, "coach": "cora", "intake_date": "2024-01-01",
                            "outflow_date": "2024-09-01" if i < 4 else None,
                            "outflow_type": "fulltime" if i < 4 else None} for i in range(1, 8)])
    r = outflow_report(store, actor(store, "adam"), date(2024, 6, 1), 12, ["debts"])
    assert r["overall"]["suppressed"] and r["overall"]["n"] is None and r["overall"]["rate_pct"] is None
    assert all(x["suppressed"] or x["n"] == 0 for x in r["by_type"] + r["by_characteristic"])
    e = None
    insert_interventions(store, [(1, "cv", "2024-02-01", None, None), (2, "cv", "2024-02-01", None, None)])
    e = effect_report(store, actor(store, "adam"), "cv", now=NOW)
    assert e["suppressed"] and e["participants"] is None and e["effect_pp"] is None
    assert e["verdict"] == "too_small" and "too small" in e["conclusion"]
    c = caseload_report(store, actor(store, "adam"), now=datetime(2026, 6, 30, tzinfo=timezone.utc))
    assert all(x["n"] is None for x in c["coaches"])


def test_stats_match_scipy_and_known_values():
    from scipy.stats import fisher_exact

    lo, hi = wilson(81, 263)  # Newcombe (1998) example 
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    c = compare_proportions(2, 9, 7, 10)
    assert c.test == "fisher_exact" and c.p_value == pytest.approx(fisher_exact([[2, 7], [7, 3]])[1])
    c = compare_proportions(300, 1000, 250, 1000)
    assert c.test == "two_proportion_z" and c.p_value == pytest.approx(0.0127, abs=0.0005)
    assert power(0.3, 1000, 1000, mde(0.3, 1000, 1000)) == pytest.approx(0.80, abs=0.005)


def test_compare_two_segments(tmp_path):
    store = new_store(tmp_path)
    _mixed(store, n=800)
    r = compare_report(store, actor(store, "adam"), "debts = yes", "debts = no", date(2024, 6, 1), 12)
    con = sqlite3.connect(store.path)
    q = ("SELECT count(*), SUM(outflow_date > '2024-06-01' AND outflow_date <= '2025-06-01') FROM clients"
         " JOIN profile ON profile.client_id = clients.id WHERE intake_date <= '2024-06-01'"
         " AND (outflow_date IS NULL OR outflow_date > '2024-06-01') AND v_debts = ?")
    na, ka = con.execute(q, [1]).fetchone()
    nb, kb = con.execute(q, [0]).fetchone()
    con.close()
    assert (r["a"]["n"], r["a"]["outflow"], r["b"]["n"], r["b"]["outflow"]) == (na, ka, nb, kb)
    c = compare_proportions(ka, na, kb, nb)
    assert r["difference_pp"] == pytest.approx(100 * c.difference, abs=0.051)
    assert r["p_value"] == pytest.approx(c.p_value, abs=1e-4)
    assert r["verdict"] in ("different", "no_difference_found", "too_small") and r["conclusion"]
    assert r["overlap"] == 0


def test_compare_with_an_empty_group_says_too_small(tmp_path):
    store = new_store(tmp_path)
    _mixed(store, n=200)
    r = compare_report(store, actor(store, "adam"), "debts = yes", "wellbeing > 5", date(2024, 6, 1), 12)
    assert r["b"]["n"] == 0 and r["verdict"] == "too_small" and r["difference_pp"] is None and r["conclusion"]


def insert_row(store, table: str, **values) -> None:
    """A row in another area's table, filling its other required columns."""
    cols = store.conn.execute(f"PRAGMA table_info({table})").fetchall()
    for _, name, _, notnull, default, pk in cols:
        if notnull and default is None and not pk and name not in values:
            values[name] = "x"
    store.conn.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                       list(values.values()))
    store.conn.commit()


def test_engagement_reply_rates_by_channel_and_checkins_by_month(tmp_path):
    from caseload.reports import engagement_report

    store = new_store(tmp_path)
    insert_clients(store, [{"id": i, "coach": "cora", "intake_date": "2025-01-01"} for i in range(1, 41)])
    for i in range(1, 41):
        insert_message(store, client_id=i, status="sent", at="2026-05-01T10:00:00Z", sent_at="2026-05-01T10:00:00Z",
                       channel="sms" if i <= 30 else "email", template="hello", kind="campaign")
    if not store.conn.execute("PRAGMA table_info(replies)").fetchall():
        store.conn.execute("CREATE TABLE replies (id INTEGER PRIMARY KEY, message_id INTEGER)")
    for i in list(range(1, 13)) + [33]:
        (mid,) = store.conn.execute("SELECT id FROM messages WHERE client_id = ?", [i]).fetchone()
        insert_row(store, "replies", message_id=mid, channel="sms", received_at="2026-05-01T11:00:00Z")
    checkins = bool(store.conn.execute("PRAGMA table_info(checkins)").fetchall())
    if checkins:
        for i in range(1, 41):
            insert_row(store, "checkins", client_id=i, channel="sms", language="nl",
                       status="answered" if i % 4 == 0 else "unanswered", created_at="2026-04-02T10:00:00Z")
    r = engagement_report(store, actor(store, "adam"))
    sms = next(x for x in r["by"]["channel"] if x["value"] == "sms")
    email = next(x for x in r["by"]["channel"] if x["value"] == "email")
    assert (sms["n"], sms["replied"], sms["rate_pct"]) == (30, 12, 40.0)
    assert (email["n"], email["replied"]) == (10, 1)
    assert next(x for x in r["by"]["template"] if x["value"] == "hello")["replied"] == 13
    if checkins:
        assert r["by"]["checkin_month"] == [{"value": "2026-04", "n": 40, "replied": 10, "rate_pct": 25.0,
                                             "ci_low_pct": 14.2, "ci_high_pct": 40.2, "suppressed": False}]


def test_outflow_as_of_the_cohort_date_reads_the_history(tmp_path):
    store = new_store(tmp_path)
    _mixed(store, n=400)
    d = date(2024, 6, 1)
    before = outflow_report(store, actor(store, "adam"), d, 12, ["debts", "wellbeing", "last_job_end"], as_of=False)
    insert_observations(store, [(i, "debts", True, "2025-09-01T09:00:00Z") for i in range(1, 401)])
    latest = outflow_report(store, actor(store, "adam"), d, 12, ["debts"], as_of=False)
    as_of = outflow_report(store, actor(store, "adam"), d, 12, ["debts", "wellbeing", "last_job_end"])
    yes = {r["value"]: r["n"] for r in latest["by_characteristic"]}
    assert yes[True] == latest["overall"]["n"] and yes[False] == 0
    assert as_of["values"] == "as_of_cohort_date"
    assert as_of["by_characteristic"] == before["by_characteristic"]


def test_parallel_scan_gives_the_same_report(tmp_path, monkeypatch):
    from caseload.reports import scan

    store = new_store(tmp_path)
    _mixed(store, n=500)
    keys = ["wellbeing", "debts", "education_level", "availability_hours", "last_job_end", "talents"]
    single = outflow_report(store, actor(store, "adam"), date(2024, 6, 1), 12, keys, as_of=False)
    monkeypatch.setattr(scan, "PARALLEL_FROM", 0)
    monkeypatch.setattr(scan, "_free_cores", lambda: 3)
    calls = []
    real = scan._connect_ro
    monkeypatch.setattr(scan, "_connect_ro", lambda path: calls.append(path) or real(path))
    parallel = outflow_report(store, actor(store, "adam"), date(2024, 6, 1), 12, keys, as_of=False)
    assert len(calls) == 3
    assert parallel == single
