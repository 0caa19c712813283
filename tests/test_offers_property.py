"""Eligibility by property: for random items (conditions, validity, languages, tags) and clients
(profiles, languages), every item a digest picks holds for its client, and each client's count
of eligible items is what plain SQL per item says (condition met, valid today, a language the
client reads)."""

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from caseload import access, clients, items, offers, segments
from caseload.db import write_transaction
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
NOW = datetime(2025, 6, 17, 10, 0, tzinfo=timezone.utc)
TODAY = date(2025, 6, 17)
CONDITIONS = ["", "", "transport = car", "wellbeing >= 3", "has_cv = false", "not debts = true",
              "interests ~ zorg", "transport in (car, moped) and wellbeing < 4"]
TAGS = ["zorg", "bouw", "car", "techniek", "koken"]
_batch = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = make_store(tmp_path_factory.mktemp("eligibility"))
    add_clients(s, 24)
    yield s
    s.close()


item_st = st.fixed_dictionaries({
    "requires": st.sampled_from(CONDITIONS),
    "valid_from": st.sampled_from(["", "2025-06-17", "2025-06-18", "2025-01-01"]),
    "valid_until": st.sampled_from(["", "2025-06-16", "2025-06-17", "2026-01-01"]),
    "language": st.sampled_from(["nl", "nl", "en", "tr"]),
    "tags": st.lists(st.sampled_from(TAGS), max_size=2).map(", ".join),
    "expired": st.booleans(),
})
client_st = st.fixed_dictionaries({
    "language": st.sampled_from(["nl", "en", None]),
    "transport": st.sampled_from(["car", "moped", "bicycle", None]),
    "wellbeing": st.sampled_from([1, 3, 5, None]),
    "has_cv": st.sampled_from(["ja", "nee", None]),
    "interests": st.sampled_from(["zorg", "bouw, koken", None]),
})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item_rows=st.lists(item_st, min_size=1, max_size=8), people=st.lists(client_st, min_size=24, max_size=24),
       n=st.integers(1, 4))
def test_picked_items_hold_and_eligible_counts_match_sql(store, item_rows, people, n):
    batch = next(_batch)
    with write_transaction(store.db) as conn:
        conn.execute("DELETE FROM item_tags")
        conn.execute("DELETE FROM items")
    ids = [r[0] for r in store.db.execute("SELECT id FROM clients ORDER BY id")]
    for cid, person in zip(ids, people):
        store.db.execute("UPDATE clients SET language = ? WHERE id = ?", [person["language"], cid])
        number = store.db.execute("SELECT client_number FROM clients WHERE id = ?", [cid]).fetchone()[0]
        values = {k: v for k, v in person.items() if k != "language" and v is not None}
        if values:
            clients.set_characteristics(store, ADMIN, number, values)
    for i, row in enumerate(item_rows):
        vf, vu = row["valid_from"], row["valid_until"]
        if vf and vu and vu < vf:
            vu = ""
        items.add(store, ADMIN, {"key": f"p{batch}-{i}", "kind": "tip", "title": f"Item {i}",
                                 "url": f"https://werk.example/{i}", "tags": row["tags"], "requires": row["requires"],
                                 "valid_from": vf, "valid_until": vu, "language": row["language"]})
        if row["expired"]:
            items.expire(store, ADMIN, f"p{batch}-{i}", now=NOW)
    p = offers.plan(store, ADMIN, "status = active", n, now=NOW, seed=batch)
    # the reference: per item, the clients that may get it, by plain SQL and plain rules
    may: dict[int, set] = {}
    for item in store.db.execute("SELECT id, requires, valid_from, valid_until, language, expired_at FROM items"):
        item_id, requires, vf, vu, lang, expired = item
        if expired or (vf and vf > TODAY.isoformat()) or (vu and vu < TODAY.isoformat()):
            may[item_id] = set()
            continue
        who = set(segments.client_ids(store, requires, today=TODAY)) if requires else set(ids)
        readers = {cid for cid, language in store.db.execute("SELECT id, language FROM clients")
                   if (language or "nl") == lang}
        may[item_id] = who & readers
    expected = {cid: sum(cid in group for group in may.values()) for cid in ids}
    got = dict(zip(p.scan.ids.tolist(), p.picks.eligible.tolist()))
    reachable = {int(p.scan.ids[k]) for k in range(len(p.scan.ids)) if p.channels[k]}
    for cid in ids:
        if cid in reachable:
            assert got[cid] == expected[cid], (cid, got[cid], expected[cid])
    for k in p.rows.tolist():
        cid = int(p.scan.ids[k])
        picked = [int(p.cat.ids[c]) for c in p.picks.items[k] if c >= 0]
        assert len(picked) == min(n, expected[cid]) and len(set(picked)) == len(picked)
        assert all(cid in may[item_id] for item_id in picked), (cid, picked)
