"""The real daemon process end to end: a check-in goes out by SMS to a local provider stub, the
reply comes back through the webhook, lands in the profile and moves the client into a segment;
then STOP holds the next message back. SMTP and SMS servers run on 127.0.0.1 only."""

from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, checkins, clients, outbox, segments, templates
from daemon_support import HOOK, DaemonProcess, daemon_config, open_test_store, post_json, query, wait_for
from servers import SmsStub, SmtpSink, add_clients

pytestmark = pytest.mark.slow
ADMIN = access.Actor("admin", "admin")


def test_checkin_reply_segment_and_stop_through_the_real_daemon(tmp_path):
    with SmtpSink() as sink, SmsStub("cm") as stub:
        config, port = daemon_config(tmp_path / "config.toml", sink.port, stub, tick=0.2)
        store = open_test_store(tmp_path, config)
        cid, other = add_clients(store, 2, preferred_channel="sms")
        templates.add_template(store, ADMIN, "tip", "sms", "Hoi {{ first_name }}, er is een nieuwe vacature.")
        clients.set_characteristics(store, ADMIN, "K00001", {"childcare_arranged": "nee"},
                                    observed_at="2024-01-01T09:00:00Z")  # stale: a second question
        # made yesterday: its first round (today 00:00, passed) is due now
        checkins.add_schedule(store, ADMIN, "status = active", "2w", at="00:00",
                              now=datetime.now(timezone.utc) - timedelta(days=1))
        assert cid not in segments.client_ids(store, "wellbeing <= 2")
        phone = store.db.execute("SELECT phone FROM clients WHERE id = ?", [cid]).fetchone()[0]

        with DaemonProcess(tmp_path, store.path, config, port) as daemon:
            daemon.wait_ready()
            # the daemon starts the round itself and sends the wellbeing question
            wait_for(lambda: len(stub.received) == 2, 20, "the check-in SMS of both clients")
            asked = [m for m in stub.received if m.number == phone]
            assert len(asked) == 1 and "Hoe gaat het met je?" in asked[0].body and asked[0].reference
            wait_for(lambda: query(store.path, "SELECT 1 FROM checkin_questions WHERE status = 'asked'"), 10, "asked")
            assert len(stub.received) == 2  # one question per message: the next waits for the reply

            reply = {"from": {"number": "00" + phone[1:]}, "to": {"number": "Testdorp"},
                     "message": {"text": "2"}, "reference": asked[0].reference, "groupings": ["", "", ""],
                     "timeUtc": "2025-06-16T10:00:00", "channel": "SMS", "messageContext": "mo-1"}
            assert post_json(port, f"/sms/cm/inbound?token={HOOK}", reply) == 200
            wait_for(lambda: query(store.path, "SELECT 1 FROM replies WHERE provider = 'cm'"), 10, "the reply")

            nxt = wait_for(lambda: [m for m in stub.received if m.number == phone][1:], 10, "the next question")
            assert "opvang" in nxt[0].body and "Hoi" not in nxt[0].body
            wellbeing = {p.key: p.value for p in clients.profile(store, cid)}["wellbeing"]
            assert wellbeing == 2
            assert query(store.path, "SELECT source FROM observations o JOIN characteristics c ON c.id ="
                         " o.characteristic_id WHERE client_id = ? AND c.key = 'wellbeing'", [cid]) == [("reply",)]
            assert cid in segments.client_ids(store, "wellbeing <= 2")
            assert other not in segments.client_ids(store, "wellbeing <= 2")
            assert cid in segments.client_ids(store, "last_reply = today")

            # a retry of the same webhook changes nothing
            assert post_json(port, f"/sms/cm/inbound?token={HOOK}", reply) == 200
            assert query(store.path, "SELECT COUNT(*) FROM observations WHERE client_id = ?", [cid]) == [(2,)]

            stop = {**reply, "message": {"text": "STOP"}, "timeUtc": "2025-06-16T10:05:00"}
            assert post_json(port, f"/sms/cm/inbound?token={HOOK}", stop) == 200
            wait_for(lambda: [m for m in stub.received if m.number == phone and "START" in m.body], 20,
                     "the confirmation of the STOP")
            sent_before = len(stub.received)

            number = store.db.execute("SELECT client_number FROM clients WHERE id = ?", [cid]).fetchone()[0]
            plan = outbox.plan_queue(store, ADMIN, f"client_number = {number}", "tip", channel="sms", campaign="vacature")
            assert plan.count == 0 and plan.skipped == {"opted_out": 1}  # refused at queue time already
            # queued behind the policy's back (as if before the STOP): held back at send time
            q = outbox.enqueue(store, cid, "sms", "Nog een bericht", kind="campaign", occurrence="late")
            wait_for(lambda: query(store.path, "SELECT status, reason FROM messages WHERE id = ?", [q.id])
                     == [("cancelled", "opt_out")], 10, "the message to be held back")
            assert len(stub.received) == sent_before

            assert daemon.terminate() == 0, daemon.output()
            assert "Traceback" not in daemon.output()
        assert query(store.path, "SELECT stopped_at IS NOT NULL FROM daemon_heartbeat") == [(1,)]
        assert not stub.problems
