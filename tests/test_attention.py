"""The attention list triages: only what needs a person today, ranked, each with its reason;
stale characteristics on the maintenance list, failed deliveries on the administrator's;
handled and snoozed clients come back with a new event; one audit entry per view."""

from datetime import datetime, timedelta, timezone

import pytest

from caseload import attention, followups
from caseload.errors import BadInput, PermissionDenied
from test_reports import insert_message
from test_reports_data import actor, insert_clients, insert_observations, new_store

NOW = datetime(2026, 6, 30, 12, tzinfo=timezone.utc)
RECENT, OLD, FRESH = "2026-06-25T10:00:00Z", "2026-03-01T10:00:00Z", "2026-06-29T10:00:00Z"


def reply(store, cid: int, text: str, at: str, read: bool = False) -> None:
    store.conn.execute("INSERT INTO replies (client_id, channel, provider, text, outcome, received_at, read_at)"
                       " VALUES (?, 'sms', 'cm', ?, 'note', ?, ?)", [cid, text, at, at if read else None])
    store.conn.commit()


@pytest.fixture
def store(tmp_path):
    store = new_store(tmp_path)
    insert_clients(store, [{"id": i, "coach": "cora" if i < 12 else "carl", "intake_date": "2025-01-01",
                            "last_activity": FRESH, "language": "nl"} for i in range(1, 13)])
    store.conn.execute("UPDATE clients SET last_activity = '2026-03-01T10:00:00Z' WHERE id = 4")
    store.conn.commit()
    insert_observations(store, [
        (1, "wellbeing", 4, OLD), (1, "wellbeing", 2, RECENT),          # dropped by 2
        (2, "debts", False, OLD), (2, "debts", True, RECENT),           # new barrier
        (2, "childcare_arranged", True, OLD), (2, "childcare_arranged", False, RECENT),  # and one more
        (3, "zrm_finances", 4, OLD), (3, "zrm_finances", 1, RECENT),    # ZRM domain to 1
        (6, "wellbeing", 3, OLD),                                        # stale key characteristic only
        (7, "wellbeing", 3, OLD), (7, "wellbeing", 3, RECENT),           # fine
        (8, "debts", True, OLD), (8, "debts", True, RECENT),             # a barrier, but not new
    ])
    reply(store, 5, "Kunt u mij even terugsturen wanneer de afspraak is?", "2026-06-28T09:00:00Z")
    reply(store, 9, "ik ben ziek en mijn huur is niet betaald, kan iemand bellen?", "2026-06-27T09:00:00Z")
    reply(store, 10, "ik ben ziek", "2026-06-20T09:00:00Z", read=True)  # read already: nothing to do
    yield store
    store.close()


def test_ranked_with_reasons_and_nothing_for_stale_data_alone(store):
    followups.add(store, actor(store, "cora"), "K11", "Terugbellen over de cursus", "2026-06-29",
                  now=NOW - timedelta(days=3))
    rows = attention.attention_list(store, actor(store, "cora"), now=NOW)
    order = [r["client_number"] for r in rows]
    why = {r["client_number"]: [x["signal"] for x in r["reasons"]] for r in rows}
    # the plea first, then the unread message, barriers, wellbeing, silence, the follow-up due
    assert order == ["K9", "K5", "K2", "K3", "K1", "K4", "K11"], why
    assert why["K9"] == ["urgent_message"] and why["K5"] == ["unread_message"]
    detail = {r["client_number"]: [x["detail"] for x in r["reasons"]] for r in rows}
    assert detail["K9"][0].startswith("ziek, huur, bellen: “ik ben ziek")
    assert detail["K2"] == ["Childcare arranged: no, Debts: yes"]  # what the barrier is, not only its name
    assert detail["K3"] == ["ZRM: finances: 1 (Acute problem)"]
    assert "Terugbellen over de cursus" in detail["K11"][0]
    assert "K6" not in order and "K7" not in order and "K8" not in order and "K10" not in order
    assert "K12" not in order  # carl's
    # one audit entry for the view, not one per client
    assert store.conn.execute("SELECT count(*) FROM audit WHERE action = 'attention' AND actor = 'cora'"
                              ).fetchone()[0] == 1
    # stale key characteristics are on the maintenance list instead
    stale = attention.maintenance_list(store, actor(store, "cora"), now=NOW)
    assert "K6" in [r["client_number"] for r in stale]
    lead = attention.attention_list(store, actor(store, "tess"), now=NOW)
    assert {r["coach"] for r in lead} == {"cora"}


def test_handled_and_snoozed_come_back_with_a_new_event(store):
    cora = actor(store, "cora")
    attention.mark(store, cora, "K9", "handled", now=NOW)
    attention.mark(store, cora, "K1", "snoozed", until="2026-07-03", now=NOW)
    listed = [r["client_number"] for r in attention.attention_list(store, cora, now=NOW)]
    assert "K9" not in listed and "K1" not in listed
    # a new message from K9 brings them back; K1 returns on the snooze date
    reply(store, 9, "Hallo?", "2026-06-30T13:00:00Z")
    later = NOW + timedelta(hours=2)
    listed = [r["client_number"] for r in attention.attention_list(store, cora, now=later)]
    assert "K9" in listed and "K1" not in listed
    listed = [r["client_number"] for r in attention.attention_list(store, cora, now=datetime(2026, 7, 3, 9,
                                                                                               tzinfo=timezone.utc))]
    assert "K1" in listed
    with pytest.raises(BadInput):
        attention.mark(store, cora, "K2", "snoozed", until="2026-06-01", now=NOW)
    with pytest.raises(BadInput):
        attention.mark(store, cora, "K2", "snoozed", now=NOW)
    actions = [a for (a,) in store.conn.execute("SELECT action FROM audit WHERE action LIKE 'attention_%'")]
    assert actions == ["attention_handled", "attention_snoozed"]


def test_failed_deliveries_are_the_administrators_and_plugins_still_plug_in(store):
    insert_message(store, client_id=7, status="failed", at=RECENT, reason="no_address")
    rows = attention.attention_list(store, actor(store, "cora"), now=NOW)
    assert "K7" not in [r["client_number"] for r in rows]
    problems = attention.delivery_problems(store, actor(store, "adam"), now=NOW)
    assert [(p["client_number"], p["reason"], p["failed"]) for p in problems] == [("K7", "no_address", 1)]
    with pytest.raises(PermissionDenied):
        attention.delivery_problems(store, actor(store, "cora"), now=NOW)
    attention.register(attention.Signal("plugged_in", 95, lambda ctx: {7: "2"}))
    try:
        rows = attention.attention_list(store, actor(store, "cora"), now=NOW)
    finally:
        attention.unregister("plugged_in")
    assert rows[1]["client_number"] == "K7" and rows[1]["reasons"][0]["signal"] == "plugged_in"


def test_urgency_words_in_the_clients_language():
    assert attention.urgent_words("I am sick and cannot pay the rent. Please call!", ("en", "nl")) == \
        ["sick", "rent", "call"]
    assert attention.urgent_words("Hastayım, kira ödeyemedim", ("tr", "nl")) == ["Hastayım", "kira"]
    assert attention.urgent_words("Dank je wel, tot volgende week", ("nl",)) == []
    assert attention.urgent_words("De belasting is betaald", ("nl",)) == []  # "bel" is a whole word only
