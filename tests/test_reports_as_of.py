"""Characteristics as of a day (caseload.reports.history.codes_as_of) against the plain SQL
question: per client and key, the latest observation on or before the day (later seq first when
two share a moment: a correction recorded in the same second), 0 when there is none."""

from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from caseload.clients import OBSERVE_SQL
from caseload.reports import history
from caseload.reports.coding import coder
from test_reports_data import insert_clients, new_store

KEYS = ["wellbeing", "ph_quality_of_life", "physical_complaints", "availability_hours", "last_job_end",
        "desired_sector", "talents"]
BASE = date(2025, 3, 10)
BASE_DAY = int(np.datetime64(BASE.isoformat(), "D").astype(np.int64))
CLIENTS = range(1, 7)  # client 6 never has an observation


def observe(store, rows):
    """rows: (client, key, stored value, moment); the same moment twice gets the next seq."""
    with store.db.conn:
        store.conn.execute("DELETE FROM observations")
        for cid, key, value, at in rows:
            kid = store.ids[key]
            store.conn.execute(OBSERVE_SQL, (cid, kid, at, cid, kid, at, value, "coach", "cora"))


def reference(store, keys, clients, days, ref, coarse):
    out = np.zeros((len(clients), len(keys)), dtype=np.int64)
    for r, (cid, day) in enumerate(zip(clients, days)):
        next_day = str(np.datetime64(int(day) + 1, "D"))
        for j, key in enumerate(keys):
            cd = coder(store.catalog[key], "value", ref, coarse=coarse)
            row = store.conn.execute(
                f"SELECT {cd.expr} & 15 FROM observations WHERE client_id = ? AND characteristic_id = ?"
                " AND observed_at < ? ORDER BY observed_at DESC, seq DESC LIMIT 1",
                [int(cid), store.ids[key], next_day]).fetchone()
            out[r, j] = row[0] if row else 0
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = new_store(tmp_path_factory.mktemp("asof"))
    insert_clients(s, [{"id": i, "coach": "cora"} for i in CLIENTS])
    yield s
    s.close()


def moment(offset: int, clock: str) -> str:
    return f"{np.datetime64(BASE_DAY + offset, 'D')}T{clock}Z"


def test_correction_boundaries_later_values_and_no_history(store):
    observe(store, [
        (1, "wellbeing", 2, moment(0, "10:00:00")),
        (1, "wellbeing", 4, moment(0, "10:00:00")),   # corrected in the same second: 4 counts
        (1, "wellbeing", 5, moment(1, "00:00:00")),   # the next day: not yet
        (2, "wellbeing", 3, moment(0, "23:59:59")),   # the last second of the day counts
        (2, "wellbeing", None, moment(-1, "08:00:00")),
        (3, "wellbeing", 1, moment(-5, "08:00:00")),
        (3, "wellbeing", None, moment(-2, "08:00:00")),  # cleared: not recorded
    ])
    got = history.codes_as_of(store, ["wellbeing"], np.array([1, 2, 3, 6]), np.full(4, BASE_DAY), BASE,
                              coarse=False)
    assert got[:, 0].tolist() == [4, 3, 0, 0]
    assert got.tolist() == reference(store, ["wellbeing"], [1, 2, 3, 6], [BASE_DAY] * 4, BASE, False).tolist()


values = st.one_of(st.none(), st.integers(-2, 12), st.floats(-5, 70, allow_nan=False), st.booleans().map(int),
                   st.sampled_from(["care", "retail", "xyz", "2024-01-31", "2019-06-01", "koken", ""]))
observation = st.tuples(st.sampled_from(CLIENTS[:3]), st.sampled_from(KEYS[:4] + KEYS[-3:][:1]), values,
                        st.builds(moment, st.integers(-3, 2), st.sampled_from(["00:00:00", "23:59:59"])))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(observation, min_size=1, max_size=25),
       corrections=st.lists(st.tuples(st.integers(0, 24), values), max_size=6),
       queries=st.lists(st.tuples(st.sampled_from(CLIENTS), st.integers(-4, 3)), min_size=1, max_size=8),
       one_day=st.booleans(), keys=st.one_of(st.just(None), st.lists(st.sampled_from(KEYS), min_size=1)),
       coarse=st.booleans(), chunk=st.sampled_from([1, 2, 1000]), own=st.booleans(), cores=st.sampled_from([1, 2, 3]))
def test_codes_as_of_match_the_latest_observation_on_or_before_the_day(store, monkeypatch, rows, corrections, queries,
                                                                        one_day, keys, coarse, chunk, own, cores):
    rows += [(*rows[i % len(rows)][:2], value, rows[i % len(rows)][3]) for i, value in corrections]  # same moment
    observe(store, rows)
    keys = keys or [c.key for c in store.catalog]  # None: all 80, read without the key filter
    clients = np.array([q[0] for q in queries])
    days = np.full(len(queries), BASE_DAY + queries[0][1]) if one_day else BASE_DAY + np.array([q[1] for q in queries])
    monkeypatch.setattr(history, "CHUNK", chunk)
    monkeypatch.setattr(history, "OWN_CONNECTION_FROM", 0 if own else 10 ** 9)
    monkeypatch.setattr(history, "_free_cores", lambda: cores)
    got = history.codes_as_of(store, keys, clients, days, BASE, coarse=coarse)
    assert got.tolist() == reference(store, keys, clients, days, BASE, coarse).tolist()
