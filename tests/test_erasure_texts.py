"""Erasure also clears the client from saved segment expressions, their descriptions and the
segments of campaigns and check-in schedules (they still parse and mean the same for everyone
else), and its leftover check finds the client's values inside any other text, in any case."""

from datetime import datetime, timezone

import pytest

from caseload import access, campaigns, checkins, erasure, segments, templates
from caseload.clock import utcnow
from caseload.db import write_transaction
from caseload.errors import CaseloadError
from conftest import snapshot_tables
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
NOW = datetime(2025, 6, 16, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    s = make_store(tmp_path)
    add_clients(s, 1, client_number="100042", first_name="Jan", last_name="Jansen", phone="+31612345678",
                email="jan.jansen@example.org")
    add_clients(s, 2, start=2)
    yield s
    s.close()


def texts(store) -> list[str]:
    rows = store.db.execute("SELECT expression FROM segments UNION ALL SELECT description FROM segments"
                            " UNION ALL SELECT segment FROM campaigns UNION ALL SELECT segment FROM checkin_schedules")
    return [r[0] for r in rows]


def test_forget_clears_the_client_from_saved_segments_campaigns_and_schedules(store):
    segments.save(store, ADMIN, "zonder_jan", 'name != "Jan Jansen" and status = active',
                  description="Iedereen behalve JAN JANSEN (100042), tel 0612345678")
    segments.save(store, ADMIN, "alleen_jan", "client_number = 100042 or client_number = 1000421")
    templates.add_template(store, ADMIN, "tip", "sms", "Hoi {{ first_name }}")
    campaigns.add(store, ADMIN, "c", "tip", "klantnummer in (100042, K00002) and wellbeing <= 4",
                  once="2025-07-01 10:00", now=NOW)
    checkins.add_schedule(store, ADMIN, 'naam = "jan jansen" or status = active', "2w", now=NOW)
    erasure.forget(store, ADMIN, "100042")
    joined = "\n".join(texts(store)).casefold()
    for value in ("jan jansen", "100042,", "100042 ", "0612345678"):
        assert value not in joined
    assert "1000421" in joined and "k00002" in joined and "wellbeing <= 4" in joined  # others stay
    for text in [r[0] for r in store.db.execute("SELECT expression FROM segments")] + \
            [r[0] for r in store.db.execute("SELECT segment FROM campaigns UNION ALL SELECT segment FROM checkin_schedules")]:
        segments.check(store, text)  # still a valid expression
    assert segments.count(store, ADMIN, "zonder_jan") == 2


def test_the_leftover_check_finds_a_value_inside_a_text_and_erases_nothing(store):
    now = utcnow()
    with write_transaction(store.db) as conn:  # a template that names the client in its text
        conn.execute("INSERT INTO templates (name, channel, language, body, author, created_at, updated_at)"
                     " VALUES ('x', 'sms', 'nl', 'Bel morgen even met jan JANSEN over de cursus', 'admin', ?, ?)",
                     [now, now])
    before = snapshot_tables(store.path)
    with pytest.raises(CaseloadError, match=r"templates\.body"):
        erasure.forget(store, ADMIN, "100042")
    assert snapshot_tables(store.path) == before


def test_a_value_inside_a_longer_number_or_word_is_not_the_client(store):
    now = utcnow()
    with write_transaction(store.db) as conn:
        conn.execute("INSERT INTO templates (name, channel, language, body, author, created_at, updated_at)"
                     " VALUES ('x', 'sms', 'nl', 'Bel 10004299 of mail marijan.jansen@example.org', 'admin', ?, ?)",
                     [now, now])
    erasure.forget(store, ADMIN, "100042")
    assert store.db.execute("SELECT COUNT(*) FROM clients WHERE client_number = '100042'").fetchone() == (0,)
