"""A client's own reply fills only characteristics whose answer can be parsed and checked (bool,
enum, scale, number, date): free text is never taken into the profile, and a check-in never asks
a text characteristic."""

from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, checkins, clients, replies
from caseload.errors import BadInput
from caseload.clock import iso
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
NOW = datetime(2025, 6, 16, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "hook")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    s = make_store(tmp_path)
    yield s
    s.close()


def text_key(store) -> str:
    return next(c.key for c in store.catalog if c.type == "text" and c.question and not c.special)


def test_a_reply_never_parses_into_a_text_characteristic(store):
    assert replies.parse_answer(store.catalog[text_key(store)], "Koken en fietsen") is None


def test_a_checkin_never_asks_a_text_characteristic(store):
    key = text_key(store)
    add_clients(store, 1, preferred_channel="sms")
    clients.set_characteristics(store, ADMIN, "K00001", {key: "schilderen"}, observed_at=iso(NOW - timedelta(days=5000)))
    plan = checkins.plan_round(store, ADMIN, "status = active", NOW)
    assert plan.planned[0].keys == ["wellbeing"]
    with pytest.raises(BadInput, match=key):
        checkins.plan_round(store, ADMIN, "status = active", NOW, ask=key)
    with pytest.raises(BadInput, match=key):
        checkins.add_schedule(store, ADMIN, "status = active", "2w", ask=key)


def test_a_reply_to_a_text_question_asked_before_stays_a_note(store):
    """A check-in queued by an older version may still ask a text characteristic: the answer is
    kept as a note, and the profile keeps what the coach recorded."""
    key = text_key(store)
    add_clients(store, 1, preferred_channel="sms")
    clients.set_characteristics(store, ADMIN, "K00001", {key: "schilderen"}, observed_at=iso(NOW - timedelta(days=500)))
    checkins.round_now(store, ADMIN, "status = active", NOW, questions=1)
    store.db.execute("UPDATE checkin_questions SET characteristic = ?", [key])
    store.db.execute("UPDATE messages SET status = 'sent', sent_at = ?", [iso(NOW)])
    store.db.conn.commit()
    phone = store.db.execute("SELECT phone FROM clients").fetchone()[0]
    result = replies.handle_sms(store, replies.Inbound("cm", "r1", phone, "Ik kook graag {{ x }}"), NOW)
    assert result.outcome == "note"
    col = store.catalog[key].column
    assert store.db.execute(f'SELECT "{col}" FROM profile').fetchone() == ("schilderen",)
    assert store.db.execute("SELECT COUNT(*) FROM observations WHERE source = 'reply'").fetchone() == (0,)
