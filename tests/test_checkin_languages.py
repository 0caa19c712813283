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


def test_an_arabic_speaker_is_asked_in_arabic_and_answers_in_arabic_through_the_webhook(store):
    """٣ (Arabic-Indic three) answers the wellbeing question, نعم the yes/no question, STOP opts out;
    each an inbound SMS posted to the endpoint over HTTP as CM posts it."""
    import json

    from caseload import activity, clients
    from caseload.clock import iso
    from caseload.daemon import webhooks
    from caseload.store import open_store
    from daemon_support import HOOK, request
    from servers import HOST, free_port

    add_clients(store, 1, language="ar", preferred_channel="sms", phone="+31612345678", first_name="أمل")
    clients.set_characteristics(store, ADMIN, "K00001", {"childcare_arranged": "nee"}, observed_at="2020-01-01T09:00:00Z")
    checkins.round_now(store, ADMIN, "client_number = K00001", now=NOW, ask="childcare_arranged", questions=2)

    def sent() -> str:  # the provider took the newest message: its question is asked
        mid, body = store.db.execute("SELECT id, body FROM messages ORDER BY id DESC LIMIT 1").fetchone()
        store.db.execute("UPDATE messages SET status = 'sent', sent_at = ? WHERE id = ?", [iso(NOW), mid])
        store.db.conn.commit()
        activity.update(store, now=NOW)
        return body

    def reply(text: str, n: int) -> None:
        payload = {"from": {"number": "0031612345678", "name": ""}, "to": {"number": "Gemeente"},
                   "message": {"text": text}, "reference": None, "groupings": ["", "", ""],
                   "timeUtc": "2025-06-16T10:00:00", "channel": "SMS", "messageContext": f"mo-{n}"}
        status = request(port, "POST", f"/sms/cm/inbound?token={HOOK}", json.dumps(payload).encode(),
                         {"Content-Type": "application/json"})[0]
        assert status == 200

    def profile() -> dict:
        return {p.key: p.value for p in clients.profile(store, 1)}

    port = free_port()
    server = webhooks.serve(store.config, lambda: open_store(store.config, store.path), f"{HOST}:{port}")
    try:
        assert sent().startswith("مرحبًا أمل! كيف حالك؟ أجب برقم من 1 (سيئ) إلى 5 (جيد)")
        reply("٣", 1)
        assert profile()["wellbeing"] == 3
        assert "ja of nee" in sent()  # the catalog has this question in Dutch only: asked in Dutch
        reply("نعم.", 2)
        assert profile()["childcare_arranged"] is True
        reply("STOP", 3)
    finally:
        server.stop()
    outcomes = [o for (o,) in store.db.execute("SELECT outcome FROM replies ORDER BY id")]
    assert outcomes == ["observation", "observation", "stop"]
    assert store.db.execute("SELECT channel FROM opt_outs WHERE client_id = 1").fetchall() == [("sms",)]
    (confirmation,) = store.db.execute("SELECT body FROM messages WHERE kind = 'system'").fetchone()
    assert confirmation.startswith("لن تصلك رسائل نصية منّا")
