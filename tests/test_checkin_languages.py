"""Check-ins in the client's language: asked in their own language where caseload has the client
texts and the catalog the question, else their second language, else the organisation's; the
plan says how many get which before anything is queued; email in a right-to-left language has
an HTML part that runs right to left; STOP is confirmed in the client's language."""

from datetime import datetime, timezone

import pytest

from caseload import access, checkins, replies
from caseload.reach import Reach
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
NOW = datetime(2025, 6, 16, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "hook-secret-3e9a")
    s = make_store(tmp_path)
    yield s
    s.close()


def test_the_language_of_a_checkin_is_own_then_second_then_the_organisations(store):
    cases = [("ar", None, "ar", "own"), ("ti", "ar", "ti", "own"), ("ku", "ar", "ar", "second"),
             ("ku", None, "nl", "fallback"), ("de", "en", "en", "second"), ("en", None, "en", "own")]
    for i, (lang, second, _, _) in enumerate(cases, start=1):
        add_clients(store, 1, start=i, language=lang, second_language=second, preferred_channel="sms")
    plan = checkins.plan_now(store, ADMIN, "client_number != x", NOW, questions=1)
    got = {p.client_id: (p.language, p.fit) for p in plan.planned}
    assert list(got.values()) == [(lang, fit) for _, _, lang, fit in cases]
    line = plan.reach(NOW).describe(store.tz)
    assert "ar 2" in line and "nl 1" in line and "3 in the client's own language" in line
    assert "2 in their second language" in line and "1 in the organisation's (nl)" in line


def test_an_arabic_speaker_is_asked_in_arabic_by_sms(store):
    add_clients(store, 1, language="ar", preferred_channel="sms", first_name="أمل")
    checkins.round_now(store, ADMIN, "client_number = K00001", now=NOW, questions=1)
    body, language = store.db.execute("SELECT body, language FROM messages").fetchone()
    assert language == "ar"
    assert body.startswith("مرحبًا أمل! كيف حالك؟") and "STOP" in body


def test_an_arabic_email_checkin_runs_right_to_left_with_answers_in_arabic(store):
    add_clients(store, 1, language="ar", preferred_channel="email")
    store.db.execute("UPDATE profile SET v_childcare_arranged = 1 WHERE client_id = 1")
    store.db.execute("INSERT OR REPLACE INTO profile_times (client_id, t_childcare_arranged) VALUES (1, '2020-01-01T00:00:00Z')")
    store.db.conn.commit()
    checkins.round_now(store, ADMIN, "client_number = K00001", now=NOW, ask="childcare_arranged", questions=2)
    subject, body, html = store.db.execute("SELECT subject, body, html FROM messages").fetchone()
    assert subject == "كيف حالك؟"
    assert "1 (سيئ)" in body and "5 (جيد)" in body and "نعم: http" in body and "لا: http" in body
    assert html.startswith('<!doctype html><html lang="ar" dir="rtl">') and "/a/" in html


def test_stop_in_arabic_is_confirmed_in_arabic(store):
    add_clients(store, 1, language="ar", preferred_channel="sms")
    result = replies.handle_sms(store, replies.Inbound("cm", "m1", "+31600000001", "توقف"), now=NOW)
    assert result.outcome == "stop"
    (body,) = store.db.execute("SELECT body FROM messages WHERE kind = 'system'").fetchone()
    assert body.startswith("لن تصلك رسائل نصية منّا") and "START" in body


def test_reach_without_languages_describes_as_before():
    r = Reach()
    r.add(1, "sms", NOW)
    assert "\n" not in r.describe(timezone.utc)
