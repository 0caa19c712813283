"""Property: no report ever shows a group under the minimum cell size, nor leaves a single
hidden group that a shown total would give away."""

import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseload.reports import caseload_report, outflow_report
from test_reports_data import actor, insert_clients, new_store

TYPES = [None, "fulltime", "parttime", "education", "moved"]
client = st.tuples(st.sampled_from(["cora", "carl", "x", "y"]), st.sampled_from(TYPES),
                   st.sampled_from([None, 0, 1]), st.sampled_from([None, 1, 2, 3, 4, 5]))

_store = {}


def store_for(k: int):
    if k not in _store:
        _store[k] = new_store(Path(tempfile.mkdtemp(prefix="reports-sup-")), min_cell_size=k)
    s = _store[k]
    with s.db.conn:
        for table in ("profile", "clients", "privacy_releases"):  # the releases: a new question each time
            s.conn.execute(f"DELETE FROM {table}")
    return s


def check_partition(rows, k, total_shown=True):
    for r in rows:
        if r["suppressed"]:
            assert r.get("n") is None and r.get("rate_pct") is None and r.get("outflow") is None
            assert r.get("ci_low_pct") is None and r.get("share_pct") is None
        else:
            assert r["n"] == 0 or r["n"] >= k, r
    if total_shown:
        assert sum(r["suppressed"] for r in rows) != 1, rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(client, min_size=0, max_size=45), st.integers(2, 7))
def test_outflow_never_shows_a_small_group(clients, k):
    store = store_for(k)
    insert_clients(store, [{"id": i + 1, "coach": c, "intake_date": "2024-01-01",
                            "outflow_date": "2024-09-01" if t else None, "outflow_type": t}
                           for i, (c, t, _, _) in enumerate(clients)])
    with store.db.conn:
        store.conn.executemany("UPDATE profile SET v_debts = ?, v_wellbeing = ? WHERE client_id = ?",
                               [(d, w, i + 1) for i, (_, _, d, w) in enumerate(clients)])
    for who in ("ana", "adam"):  # the analyst's noisy numbers, then the admin's exact ones
        r = outflow_report(store, actor(store, who), date(2024, 6, 1), 12, ["debts", "wellbeing"],
                           now=date(2026, 1, 1), record=False, as_of=False)
        check_outflow(r, clients, k, exact=who == "adam")


def check_outflow(r, clients, k, exact):
    n = len(clients)
    if 0 < n < k and exact:
        assert r["overall"]["suppressed"] and r["overall"]["n"] is None
    shown = not r["overall"]["suppressed"]
    check_partition(r["by_type"], k, shown)
    for key in ("debts", "wellbeing"):
        check_partition([x for x in r["by_characteristic"] if x["key"] == key], k, shown)
    # what is shown is true
    if shown and exact:
        assert r["overall"]["n"] == n
        for x in r["by_type"]:
            if not x["suppressed"]:
                assert x["n"] == sum(1 for c in clients if (c[1] or "none") == x["type"])
        for x in r["by_characteristic"]:
            if not x["suppressed"] and x["key"] == "debts":
                want = {None: None, False: 0, True: 1}[x["value"]]
                assert x["n"] == sum(1 for c in clients if c[2] == want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(client, min_size=0, max_size=45), st.integers(2, 7))
def test_caseload_never_shows_a_small_group(clients, k):
    store = store_for(k)
    insert_clients(store, [{"id": i + 1, "coach": c, "intake_date": "2024-01-01",
                            "last_activity": "2020-01-01T00:00:00Z" if d else "2026-06-29T00:00:00Z"}
                           for i, (c, _, d, _) in enumerate(clients)])
    for who in ("ana", "adam"):
        r = caseload_report(store, actor(store, who), now=datetime(2026, 6, 30, tzinfo=timezone.utc), record=False)
        check_caseload(r, clients, k, exact=who == "adam")


def check_caseload(r, clients, k, exact):
    check_partition(r["coaches"], k, r["active"] is not None)
    if r["active"] is None and exact:
        assert 0 < len(clients) < k
    for row in r["coaches"]:
        if not row["attention_suppressed"]:
            assert row["attention"] == 0 or row["attention"] >= k
            assert row["n"] - row["attention"] == 0 or row["n"] - row["attention"] >= k
    if r["needing_attention"] is not None:
        assert sum(1 for row in r["coaches"] if row["attention"] is None) != 1
    for s in r["signals"]:
        assert s["suppressed"] or s["n"] >= k
