"""The demo caseload as a coach meets it: a history on every screen, nothing before intake, an
attention list short enough for a day (at most 15% of each coach's active clients, none for
stale data alone); and a plea posted through the real daemon's SMS webhook is first on its
coach's list at once, and leaves it when marked handled."""

from datetime import date

import pytest

from caseload import access, attention, conversations, demo
from daemon_support import HOOK, DaemonProcess, daemon_config, open_test_store, post_json

pytestmark = pytest.mark.slow
PLEA = "Ik ben ziek en mijn huur is niet betaald, kan iemand bellen?"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    where = tmp_path_factory.mktemp("demo")
    config, port = daemon_config(where / "config.toml", tick=0.5)
    store = open_test_store(where, config)
    summary = demo.build(store, 1200, seed=7)
    yield where, config, port, store, summary
    store.close()


def test_every_screen_has_history_and_nothing_happens_before_intake(demo_db):
    _, _, _, store, summary = demo_db
    assert summary["messages"] > 1000 and summary["replies"] > 500 and summary["clicks"] > 20
    assert summary["follow_ups"] > 20
    q = store.db.execute
    assert q("SELECT count(*) FROM replies WHERE read_at IS NULL").fetchone()[0] > 5
    assert q("SELECT count(*) FROM messages WHERE author IS NOT NULL").fetchone()[0] > 20  # coaches' answers
    assert q("SELECT count(*) FROM messages WHERE status = 'failed'").fetchone()[0] > 0
    for table, column in (("messages", "created_at"), ("replies", "received_at"), ("clicks", "at"),
                          ("notes", "created_at"), ("follow_ups", "created_at")):
        early = q(f"SELECT count(*) FROM {table} t JOIN clients c ON c.id = t.client_id"
                  f" WHERE substr(t.{column}, 1, 10) < c.intake_date").fetchone()[0]
        assert early == 0, table
    assert q("SELECT count(*) FROM clients WHERE substr(last_activity, 1, 10) < intake_date").fetchone()[0] == 0
    # a coach left and a team lead handed their clients over: the history keeps who had them
    assert summary["reassigned"] > 10 and summary["reassigned"] == q(
        "SELECT count(*) FROM coach_periods p JOIN users u ON u.name = p.coach WHERE u.active = 0"
        " AND p.until IS NOT NULL").fetchone()[0]
    assert q("SELECT count(*) FROM coach_periods p JOIN clients c ON c.id = p.client_id"
             " WHERE substr(p.since, 1, 10) < c.intake_date").fetchone()[0] == 0
    assert q("SELECT count(*) FROM observations o JOIN clients c ON c.id = o.client_id"
             " WHERE o.source != 'import' AND substr(o.observed_at, 1, 10) < c.intake_date").fetchone()[0] == 0


def test_a_coachs_attention_list_is_short_and_never_for_stale_data_alone(demo_db):
    _, _, _, store, _ = demo_db
    coaches = [r[0] for r in store.db.execute("SELECT name FROM users WHERE role = 'coach' AND active = 1")]
    for name in coaches:
        coach = access.resolve_actor(store.db, name)
        active = store.db.execute("SELECT count(*) FROM clients WHERE coach = ? AND status = 'active'",
                                  [name]).fetchone()[0]
        rows = attention.attention_list(store, coach)
        assert len(rows) <= 0.15 * active, (name, len(rows), active)
        assert all(r["reasons"] for r in rows)
        assert "stale_key" not in {x["signal"] for r in rows for x in r["reasons"]}
    assert any(attention.maintenance_list(store, access.resolve_actor(store.db, n)) for n in coaches)
    assert any(conversations.inbox(store, access.resolve_actor(store.db, n)) for n in coaches)


def test_a_plea_through_the_sms_webhook_is_first_and_leaves_when_handled(demo_db):
    where, config, port, store, _ = demo_db
    number, phone, coach_name = store.db.execute(
        "SELECT client_number, phone, coach FROM clients c WHERE status = 'active' AND phone IS NOT NULL"
        " AND (SELECT count(*) FROM clients d WHERE d.phone = c.phone) = 1 ORDER BY id LIMIT 1").fetchone()
    coach = access.resolve_actor(store.db, coach_name)
    assert attention.attention_list(store, coach)[0]["client_number"] != number
    with DaemonProcess(where, store.path, config, port) as daemon:
        daemon.wait_ready()
        plea = {"from": {"number": "00" + phone[1:]}, "to": {"number": "Testdorp"}, "message": {"text": PLEA},
                "groupings": ["", "", ""], "timeUtc": f"{date.today().isoformat()}T10:00:00", "channel": "SMS",
                "messageContext": "plea-1"}
        assert post_json(port, f"/sms/cm/inbound?token={HOOK}", plea) == 200
        # recorded when the webhook answers: first on the list without waiting for a tick
        top = attention.attention_list(store, coach)[0]
        assert top["client_number"] == number and top["reasons"][0]["signal"] == "urgent_message"
        assert "ziek" in top["why"] and "huur" in top["why"] and "bellen" in top["why"]
    attention.mark(store, coach, number, "handled")
    assert number not in [r["client_number"] for r in attention.attention_list(store, coach)]
