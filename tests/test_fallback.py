"""A hard email failure falls back to SMS, once, where the client has a phone and has not opted
out: a real `caseload send` against the SMTP sink (which refuses two addresses and lacks
SMTPUTF8) and the CM stub."""

import os
import subprocess

from caseload import access, checkins, clock, fallback, outbox, policy, templates
from caseload.db import write_transaction
from servers import TOKEN, SmtpSink, SmsStub, add_clients, make_store
from test_send_kill import CASELOAD

ADMIN = access.Actor("admin", "admin")


def _send(store, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CASELOAD_DB": str(store.path), "CASELOAD_CONFIG": str(tmp_path / "config.toml"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "LANG": "en_US.UTF-8",
           "CASELOAD_LOG": "INFO", "SUDO_USER": "admin", "CASELOAD_SMS_TOKEN": TOKEN}
    return subprocess.run([CASELOAD, "send"], env=env, capture_output=True, text=True, timeout=120)


def test_a_hard_email_failure_goes_once_by_sms_to_a_client_with_a_phone_who_did_not_opt_out(tmp_path):
    with SmtpSink(smtputf8=False) as sink, SmsStub("cm").start() as sms:
        store = make_store(tmp_path, sink.port, sms=sms)
        add_clients(store, 3)  # K00001 refused (550), K00002 refused and opted out of SMS, K00003 fine
        add_clients(store, 1, start=4, email="josé@testdorp.example")  # a check-in; the relay lacks SMTPUTF8
        policy.set_opt_out(store, 2, "sms")
        templates.add_template(store, ADMIN, "afspraak", "email", "Dag {{ first_name }}, tot dinsdag.", subject="Afspraak")
        templates.add_template(store, ADMIN, "afspraak", "sms", "Hoi {{ first_name }}, tot dinsdag!")
        plan = outbox.plan_queue(store, ADMIN, "client_number in (K00001, K00002, K00003)", "afspraak")
        assert outbox.commit_queue(store, ADMIN, plan)["queued"] == 3
        assert checkins.round_now(store, ADMIN, "client_number = K00004")["queued"] == 1
        sink.refuse_rcpt("550 5.1.1 No such user", "550 5.1.1 No such user")

        first = _send(store, tmp_path)
        again = _send(store, tmp_path)  # nothing is sent twice
        got = sorted((m.number, m.body) for m in sms.received)
    assert [r.rcpt_tos for r in sink.messages()] == [["klant3@testdorp.example"]]
    assert got == [("+31600000001", "Hoi Voornaam1, tot dinsdag!"),
                   ("+31600000004", "Hoi Voornaam4! Hoe gaat het met je? Antwoord 1 (slecht) t/m 5 (goed)"
                                    " (Geen berichten meer? Antwoord STOP.)")]
    assert first.returncode == 1 and again.returncode == 0, first.stderr + again.stderr  # 3 emails failed
    rows = store.db.execute(
        "SELECT c.client_number, f.status, f.reason, s.channel, s.kind, s.priority = m.priority,"
        " s.campaign_id IS m.campaign_id, s.status FROM fallbacks f JOIN messages m ON m.id = f.message_id"
        " JOIN clients c ON c.id = m.client_id LEFT JOIN messages s ON s.id = f.fallback_id ORDER BY c.id").fetchall()
    assert rows == [("K00001", "queued", None, "sms", "campaign", 1, 1, "sent"),
                    ("K00002", "none", "opted_out", None, None, None, 0, None),
                    ("K00004", "queued", None, "sms", "checkin", 1, 1, "sent")]
    # the check-in goes on by SMS: its first question is in the SMS, the others wait for the answer
    assert store.db.execute("SELECT channel FROM checkins").fetchone() == ("sms",)
    (sms_id,) = store.db.execute("SELECT fallback_id FROM fallbacks WHERE status = 'queued' ORDER BY message_id DESC"
                                 " LIMIT 1").fetchone()
    assert store.db.execute("SELECT status, message_id FROM checkin_questions ORDER BY position").fetchall()[0] == \
        ("queued", sms_id)
    assert store.db.execute("SELECT COUNT(*) FROM audit WHERE action = 'fallback'").fetchone() == (2,)
    # logged without personal data: codes and counts only
    logs = first.stderr + again.stderr
    assert "fallback" in logs
    for secret in ("klant", "Voornaam", "+316", "jos", "testdorp"):
        assert secret not in logs, (secret, logs)
    store.close()


def test_a_bounce_falls_back_and_a_passing_failure_does_not(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 3)
    templates.add_template(store, ADMIN, "nieuws", "email", "Het nieuws.", subject="Nieuws")
    templates.add_template(store, ADMIN, "nieuws", "sms", "Het nieuws, kort.")
    add_clients(store, 1, start=4, preferred_channel="phone")
    ids = [outbox.enqueue(store, cid, "email", "Het nieuws.", subject="Nieuws", kind="campaign", template="nieuws").id
           for cid in (1, 2, 4)]
    with store.db.conn:
        store.db.execute("UPDATE messages SET status = 'sent' WHERE id IN (?, ?, ?)", ids)
    outbox.record_delivery(store, "failed", message_id=ids[0], reason="bounced")  # a bounce (replies._bounce)
    outbox.record_delivery(store, "failed", message_id=ids[1], reason="gave up: smtp 421 rcpt")
    outbox.record_delivery(store, "failed", message_id=ids[2], reason="bounced")  # prefers phone: no SMS
    with write_transaction(store.db) as conn:
        assert fallback.settle(conn, store, clock.now()) == 1
    assert store.db.execute("SELECT f.status, f.reason, s.body FROM fallbacks f LEFT JOIN messages s"
                            " ON s.id = f.fallback_id ORDER BY f.message_id").fetchall() == [
        ("queued", None, "Het nieuws, kort."), ("none", "not_hard", None), ("none", "prefers_phone", None)]
    store.close()
