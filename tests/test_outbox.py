"""The outbox: idempotent queueing, channel choice, policies at send time, leases and claims of
dead senders, timestamped events, retries, campaign pause, delivery reports, opt-outs, CLI."""

import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from caseload import access, clock, outbox, policy, templates
from caseload.cli import main
from caseload.db import write_transaction
from caseload.errors import BadInput, PermissionDenied
# the send run's steps, one at a time (the seams each module documents); everything else uses the face
from caseload.outbox import claims, run, threads
from caseload.clock import iso
from servers import add_clients, make_store, smtp_sink  # noqa: F401  (fixture)

ADMIN = access.Actor("admin", "admin")
COACH = access.Actor("coach1", "coach", "t1")
COACH2 = access.Actor("coach2", "coach", "t1")
ANALYST = access.Actor("ana", "analyst")
NOON = datetime(2025, 6, 16, 10, 0, tzinfo=timezone.utc)  # 12:00 in Amsterdam


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


def setup(tmp_path, sink, n=5, **policy_):
    store = make_store(tmp_path, sink.port if sink else None, **policy_)
    add_clients(store, n)
    templates.add_template(store, ADMIN, "tip", "email", "Dag {{ first_name }}", subject="Hoi")
    templates.add_template(store, ADMIN, "tip", "sms", "Hoi {{ first_name }}")
    return store


def queue(store, actor=ADMIN, segment="status = active", template="tip", now=NOON, **kw):
    plan = outbox.plan_queue(store, actor, segment, template, now=now, **kw)
    return plan, outbox.commit_queue(store, actor, plan, now=now)


def statuses(store):
    return dict(store.db.execute("SELECT id, status FROM messages ORDER BY id").fetchall())


# --- queueing -------------------------------------------------------------------------------

def test_queue_twice_never_queues_a_client_twice(tmp_path):
    store = setup(tmp_path, None)
    plan, first = queue(store, campaign="Voorjaar")
    assert first["queued"] == 5 and plan.by_channel() == {"email": 5}
    add_clients(store, 2, start=100)
    plan2, second = queue(store, campaign="Voorjaar")
    assert second["queued"] == 2 and plan2.skipped["already_queued"] == 5
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 7
    # the database itself refuses a second message to the same client in the same campaign
    cid = store.db.execute("SELECT id FROM campaigns WHERE name = 'Voorjaar'").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError):
        with write_transaction(store.db) as conn:
            conn.execute("INSERT INTO messages (campaign_id, client_id, channel, body, token, due_at, created_at,"
                         " updated_at) VALUES (?, 1, 'sms', 'x', 'tok', 'x', 'x', 'x')", [cid])
    # a plan made before the first commit cannot double it either
    (tmp_path / "b").mkdir()
    store2 = setup(tmp_path / "b", None)
    p1 = outbox.plan_queue(store2, ADMIN, "status = active", "tip", campaign="C", now=NOON)
    p2 = outbox.plan_queue(store2, ADMIN, "status = active", "tip", campaign="C", now=NOON)
    assert outbox.commit_queue(store2, ADMIN, p1, now=NOON)["queued"] == 5
    assert outbox.commit_queue(store2, ADMIN, p2, now=NOON)["queued"] == 0


def test_queue_is_audited_once_per_action_without_personal_data(tmp_path):
    store = setup(tmp_path, None)
    _, result = queue(store)
    rows = store.db.execute("SELECT action, object, actor FROM audit WHERE action = 'queue'").fetchall()
    assert rows == [("queue", f"campaign:{result['campaign_id']}", "admin")]


def test_auto_channel_prefers_the_clients_channel_and_falls_back(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 1, start=1, preferred_channel="sms")
    add_clients(store, 1, start=2, preferred_channel="sms", phone=None)
    add_clients(store, 1, start=3, preferred_channel="email")
    add_clients(store, 1, start=4, preferred_channel="email", email=None)
    add_clients(store, 1, start=5, preferred_channel=None, email=None, phone=None)
    add_clients(store, 1, start=6, preferred_channel="email")
    policy.set_opt_out(store, 6, "email", source="coach", actor=ADMIN)
    templates.add_template(store, ADMIN, "tip", "email", "Dag", subject="Hoi")
    templates.add_template(store, ADMIN, "tip", "sms", "Hoi")
    plan = outbox.plan_queue(store, ADMIN, "status = active", "tip", now=NOON)
    chosen = {p.client_number: p.channel for p in plan.messages}
    assert chosen == {"K00001": "sms", "K00002": "email", "K00003": "email", "K00004": "sms", "K00006": "sms"}
    assert plan.skipped == {"no_address": 1}
    only_email = outbox.plan_queue(store, ADMIN, "status = active", "tip", channel="email", now=NOON)
    assert {p.client_number for p in only_email.messages} == {"K00001", "K00002", "K00003"}
    assert only_email.skipped == {"no_address": 2, "opted_out": 1}


def test_queue_falls_back_when_a_channel_has_no_template(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 2, preferred_channel="sms")
    templates.add_template(store, ADMIN, "mail", "email", "Dag", subject="Hoi")
    plan = outbox.plan_queue(store, ADMIN, "status = active", "mail", now=NOON)
    assert plan.by_channel() == {"email": 2}
    assert outbox.plan_queue(store, ADMIN, "status = active", "mail", channel="sms", now=NOON).skipped == {
        "no_template": 2}


def test_queue_only_the_actors_clients_and_not_outflow(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 3, coach="coach1")
    add_clients(store, 2, start=10, coach="coach2")
    add_clients(store, 1, start=20, coach="coach1", status="outflow")
    templates.add_template(store, ADMIN, "tip", "sms", "Hoi")
    plan = outbox.plan_queue(store, COACH, "client_number is set", "tip", now=NOON)
    assert sorted(p.client_number for p in plan.messages) == ["K00001", "K00002", "K00003"]
    assert plan.skipped == {"outflow": 1}
    with pytest.raises(PermissionDenied):
        outbox.plan_queue(store, ANALYST, "client_number is set", "tip", now=NOON)


def test_queue_at_is_organisation_time_and_not_in_the_past(tmp_path):
    store = setup(tmp_path, None)
    plan = outbox.plan_queue(store, ADMIN, "status = active", "tip", at="2025-06-20 09:30", now=NOON)
    assert plan.due_at == datetime(2025, 6, 20, 7, 30, tzinfo=timezone.utc)  # CEST is UTC+2
    assert plan.expires_at == plan.due_at + timedelta(hours=store.config.policy.expire_after_hours)
    assert outbox.parse_at(store, "20-06-2025", now=NOON) == datetime(2025, 6, 20, 7, 0, tzinfo=timezone.utc)
    with pytest.raises(BadInput, match="in the past"):
        outbox.plan_queue(store, ADMIN, "status = active", "tip", at="2025-06-01 09:00", now=NOON)
    with pytest.raises(BadInput, match="not a date"):
        outbox.plan_queue(store, ADMIN, "status = active", "tip", at="morgen", now=NOON)
    queue(store, campaign="X")
    templates.add_template(store, ADMIN, "other", "sms", "x")
    with pytest.raises(BadInput, match="another campaign name"):
        outbox.plan_queue(store, ADMIN, "status = active", "other", campaign="X", now=NOON)


def test_queue_render_problem_names_the_client_and_writes_nothing(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 2)
    add_clients(store, 1, start=3, first_name="x" * 300)
    templates.add_template(store, ADMIN, "long", "sms", "{{ first_name }} {{ first_name }} {{ first_name }}"
                                                       " {{ first_name }} {{ first_name }} {{ first_name }}")
    with pytest.raises(BadInput, match="K00003"):
        outbox.plan_queue(store, ADMIN, "status = active", "long", now=NOON)
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


# --- sending and policies -------------------------------------------------------------------

def test_every_state_change_is_a_timestamped_event(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=2)
    queue(store)
    report = outbox.send_due(store, now=NOON)
    assert report.sent == 2 and report.ok
    for mid in (1, 2):
        ev = store.db.execute("SELECT status, at, attempts FROM message_events WHERE message_id = ? ORDER BY id",
                              [mid]).fetchall()
        assert [e[0] for e in ev] == ["queued", "sending", "sent"]
        assert all(e[1] == iso(NOON) for e in ev) and ev[-1][2] == 1
    assert len(smtp_sink.messages()) == 2


def test_opt_out_is_honoured_from_the_moment_it_arrives(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=3)
    queue(store)
    assert policy.set_opt_out(store, 1, "email", now=NOON) is True
    assert statuses(store)[1] == "cancelled"  # queued messages on that channel are cancelled at once
    assert policy.set_opt_out(store, 1, "email", now=NOON) is False  # nothing new
    # an opt-out written between claim and send (another process: the daemon) still holds
    original = claims.still_ours

    def opt_out_meanwhile(conn, owner, now, c, report):
        if c.id == 2:
            conn.execute("INSERT INTO opt_outs (client_id, channel, at, source) VALUES (2, 'email', ?, 'reply')",
                         [iso(now)])
        return original(conn, owner, now, c, report)

    claims.still_ours = opt_out_meanwhile
    try:
        report = outbox.send_due(store, now=NOON)
    finally:
        claims.still_ours = original
    assert statuses(store) == {1: "cancelled", 2: "cancelled", 3: "sent"}
    assert [r.caseload_id for r in smtp_sink.messages()] == [3]
    assert report.cancelled == 1
    assert ("opt_out", "client:1") in store.db.execute("SELECT action, object FROM audit").fetchall()
    # START: the client may get messages again
    assert policy.set_opt_out(store, 1, "all", opted_out=False, now=NOON) is True
    assert policy.opted_out_channels(store.db, 1) == set()


def test_quiet_hours_make_messages_wait(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=2, quiet_hours="21:00-08:00")
    late = datetime(2025, 6, 16, 21, 30, tzinfo=timezone.utc)  # 23:30 in Amsterdam
    queue(store, now=late - timedelta(hours=2))
    report = outbox.send_due(store, now=late)
    assert report.sent == 0 and report.quiet_until == "2025-06-17T06:00:00Z"  # 08:00 local
    assert set(statuses(store).values()) == {"queued"} and smtp_sink.messages() == []
    assert outbox.send_due(store, now=datetime(2025, 6, 17, 6, 0, tzinfo=timezone.utc)).sent == 2


@pytest.mark.parametrize("text, local, quiet", [
    ("21:00-08:00", "20:59", False), ("21:00-08:00", "21:00", True), ("21:00-08:00", "03:00", True),
    ("21:00-08:00", "08:00", False), ("12:00-13:30", "13:00", True), ("12:00-13:30", "13:30", False),
])
def test_quiet_hours_boundaries(text, local, quiet):
    from zoneinfo import ZoneInfo

    q = policy.QuietHours(*[datetime.strptime(x, "%H:%M").time() for x in text.split("-")])
    tz = ZoneInfo("Europe/Amsterdam")
    moment = datetime.combine(datetime(2025, 1, 10).date(), datetime.strptime(local, "%H:%M").time(), tzinfo=tz)
    assert (q.until(moment, tz) is not None) == quiet


def test_bad_quiet_hours_is_bad_input(tmp_path):
    store = make_store(tmp_path, quiet_hours="22:00-25:00")
    with pytest.raises(BadInput, match="policy.quiet_hours"):
        outbox.send_due(store, now=NOON)


def test_frequency_cap_defers_to_when_the_oldest_drops_out(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=1, max_per_week=2)
    for i, day in enumerate((1, 3, 5)):
        outbox.enqueue(store, 1, "email", f"Bericht {i}", subject="Hoi", kind="campaign",
                       now=NOON + timedelta(days=day))
    assert outbox.send_due(store, now=NOON + timedelta(days=1)).sent == 1
    assert outbox.send_due(store, now=NOON + timedelta(days=3)).sent == 1
    report = outbox.send_due(store, now=NOON + timedelta(days=5))
    assert report.sent == 0 and report.deferred == 1
    due = store.db.execute("SELECT due_at, reason FROM messages WHERE id = 3").fetchone()
    assert due == (iso(NOON + timedelta(days=8, seconds=1)), "frequency_cap")
    # a system message (the confirmation of a STOP) is not capped
    outbox.enqueue(store, 1, "email", "Je bent afgemeld", subject="Afgemeld", kind="system", now=NOON + timedelta(days=5))
    assert outbox.send_due(store, now=NOON + timedelta(days=5)).sent == 1
    assert outbox.send_due(store, now=NOON + timedelta(days=8, seconds=2)).sent == 1
    assert len(smtp_sink.messages()) == 4


def test_no_messages_to_outflow_or_erased_clients(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=3)
    queue(store)
    with write_transaction(store.db) as conn:
        conn.execute("UPDATE clients SET status = 'outflow' WHERE id = 1")
        conn.execute("UPDATE clients SET status = 'erased' WHERE id = 2")
    report = outbox.send_due(store, now=NOON)
    assert statuses(store) == {1: "cancelled", 2: "cancelled", 3: "sent"} and report.cancelled == 2
    reasons = [r[0] for r in store.db.execute("SELECT reason FROM messages WHERE id IN (1, 2) ORDER BY id")]
    assert reasons == ["outflow", "erased"]


def test_rate_limit_per_channel_is_shared_by_every_sender(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=8, rate_per_minute_email=3)
    queue(store)
    first = outbox.send_due(store, now=NOON)
    assert first.sent == 3 and first.rate_limited == ["email"] and first.ok
    # another sender in the same minute gets nothing
    assert outbox.send_due(store, now=NOON + timedelta(seconds=20)).sent == 0
    assert outbox.send_due(store, now=NOON + timedelta(seconds=120)).sent == 3
    assert len(smtp_sink.messages()) == 6


def test_messages_expire(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=2, expire_after_hours=2)
    queue(store)
    report = outbox.send_due(store, now=NOON + timedelta(hours=3))
    assert report.expired == 2 and set(statuses(store).values()) == {"expired"} and report.sent == 0


# --- claims, leases, crashes ----------------------------------------------------------------

def _dead_owner() -> str:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return f"{socket.gethostname()}:{p.pid}:123:run1"


def _claim_as(store, owner, ids, lease_until, in_flight=None):
    """Claim messages as another sender would, with `in_flight` handed to its channel."""
    with write_transaction(store.db) as conn:
        conn.executemany("UPDATE messages SET status = 'sending', lease_owner = ?, lease_until = ?, updated_at = ?,"
                         " possible_duplicate = ? WHERE id = ?",
                         [(owner, lease_until, iso(NOON), int(i == in_flight), i) for i in ids])


class _Watched:
    """The real email channel, which calls look(connection, message) at the moment the outbox
    lets the message's text go to the relay, with a connection of its own (as another process)."""

    def __init__(self, store, look):
        from caseload.channels import open_channel

        self.real, self.path, self.look = open_channel(store.config, "email"), store.path, look

    def connect(self):
        return self.real.connect()

    def close(self):
        self.real.close()

    def send(self, out, ready, upcoming=None):
        def watched_ready():
            decide = ready()

            def go():
                ok = decide()
                with sqlite3.connect(self.path) as conn:
                    self.look(conn, out)
                return ok
            return go
        return self.real.send(out, watched_ready, upcoming)


def test_claims_of_a_dead_sender_are_taken_up_at_once_and_the_one_in_flight_is_marked(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=4)
    queue(store)
    # it had claimed 2 and 4 ahead while 3 went out (claims follow due times, not ids)
    _claim_as(store, _dead_owner(), [2, 3, 4], iso(NOON + timedelta(hours=1)), in_flight=3)  # lease still running
    report = outbox.send_due(store, now=NOON)
    assert report.reclaimed == 3 and report.sent == 4 and report.possible_duplicates == 1
    marked = dict(store.db.execute("SELECT id, possible_duplicate FROM messages").fetchall())
    assert marked == {1: 0, 2: 0, 3: 1, 4: 0}
    reasons = [r[0] for r in store.db.execute("SELECT reason FROM message_events WHERE message_id = 3 ORDER BY id")]
    assert "reclaimed" in reasons


def test_only_the_message_in_flight_carries_the_mark_while_sending(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=6)
    queue(store)
    seen = {}

    def look(conn, out):  # what a sender taking over would find
        seen[out.id] = conn.execute("SELECT id FROM messages WHERE possible_duplicate = 1").fetchall()

    report = outbox.send_due(store, now=NOON, batch=3, channels={"email": _Watched(store, look)})
    assert report.sent == 6 and report.possible_duplicates == 0
    # when each text is handed to the relay, the mark is on that message and no other
    assert seen == {mid: [(mid,)] for mid in range(1, 7)}
    assert store.db.execute("SELECT COUNT(*) FROM messages WHERE possible_duplicate = 1").fetchone()[0] == 0


def test_a_lease_of_another_host_runs_out(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=2)
    queue(store)
    _claim_as(store, "elsewhere.example:4242:99:run1", [1, 2], iso(NOON + timedelta(seconds=outbox.LEASE_SECONDS)))
    assert outbox.send_due(store, now=NOON).sent == 0  # alive as far as we can tell: its lease holds
    later = NOON + timedelta(seconds=outbox.LEASE_SECONDS + 1)
    report = outbox.send_due(store, now=later)
    assert report.reclaimed == 2 and report.sent == 2
    assert outbox.LEASE_SECONDS + run.RECLAIM_EVERY <= 60  # taken up within a minute


def test_a_live_sender_on_this_host_keeps_its_claim(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=1)
    queue(store)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = f"{socket.gethostname()}:{other.pid}:{claims.proc_stat(other.pid)[1]}:run1"
        _claim_as(store, owner, [1], iso(NOON + timedelta(seconds=30)))
        assert outbox.owner_alive(owner) is True
        assert outbox.send_due(store, now=NOON).reclaimed == 0
        assert statuses(store) == {1: "sending"}
    finally:
        other.kill()
        other.wait()
    assert outbox.owner_alive(owner) is False
    assert outbox.send_due(store, now=NOON).sent == 1


def test_claims_of_an_earlier_run_of_this_process_are_taken_up(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=2)
    queue(store)
    _claim_as(store, f"{outbox.sender_id()}:abc123", [1, 2], iso(NOON + timedelta(seconds=30)), in_flight=1)  # died
    report = outbox.send_due(store, now=NOON)
    assert report.reclaimed == 2 and report.sent == 2 and report.possible_duplicates == 1


def test_sent_after_losing_the_claim_is_recorded_and_marked(tmp_path, smtp_sink):
    from caseload.channels import SENT, Outcome

    store = setup(tmp_path, smtp_sink, n=1)
    queue(store)
    report = outbox.SendReport()
    with write_transaction(store.db) as conn:
        (c,), _ = claims.claim(conn, store, "me:1:1:a", NOON, 1, ["email"], report, set())
    # our lease ran out and another sender has it now
    _claim_as(store, "other:2:2:b", [1], iso(NOON + timedelta(minutes=1)))
    with write_transaction(store.db) as conn:
        claims.record(conn, store, "me:1:1:a", NOON, c, Outcome(SENT), report, set())
    assert store.db.execute("SELECT status, possible_duplicate FROM messages").fetchone() == ("sending", 1)


def test_stop_releases_the_rest_of_the_claim(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=5)
    queue(store)

    def stop():  # asked before each message: true once two went out
        return len(smtp_sink.messages()) >= 2

    report = outbox.send_due(store, now=NOON, stop=stop)
    assert report.sent == 2 and report.released == 3
    assert list(statuses(store).values()).count("queued") == 3
    assert outbox.send_due(store, now=NOON).sent == 3


# --- failures, retries, pause ---------------------------------------------------------------

def test_temporary_failures_back_off_then_give_up(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=1, max_attempts=3)
    queue(store)
    smtp_sink.refuse_rcpt("451 4.3.0 Try again later", "451 4.3.0 Try again later", "451 4.3.0 Try again later")
    r1 = outbox.send_due(store, now=NOON)
    assert r1.retried == 1 and r1.ok  # a retry is not a failure (cron stays quiet)
    due1, attempts = store.db.execute("SELECT due_at, attempts FROM messages").fetchone()
    assert attempts == 1 and NOON + timedelta(seconds=47) <= clock.parse_iso(due1) <= NOON + timedelta(seconds=73)
    assert outbox.send_due(store, now=NOON).sent == 0  # not due yet
    later = NOON + timedelta(hours=1)
    assert outbox.send_due(store, now=later).retried == 1
    r3 = outbox.send_due(store, now=later + timedelta(hours=1))
    assert r3.failed == 1 and not r3.ok
    assert store.db.execute("SELECT status, reason, attempts FROM messages").fetchone() == (
        "failed", "gave up: smtp 451 rcpt", 3)


def test_backoff_grows_and_is_capped():
    waits = [outbox.backoff(n) for n in range(1, 12)]
    assert 48 <= waits[0] <= 72 and 96 <= waits[1] <= 144
    assert all(w <= claims.BACKOFF_CAP * 1.2 for w in waits)


def test_campaign_pauses_after_failures_in_a_row_and_resumes(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=6, pause_after_failures=3)
    queue(store, campaign="Zomer")
    smtp_sink.refuse_rcpt(*["550 5.1.1 No such user"] * 3)
    report = outbox.send_due(store, now=NOON)
    assert report.failed == 3 and report.paused_campaigns == [1] and not report.ok
    assert store.db.execute("SELECT status, failures_in_a_row FROM campaigns").fetchone() == ("paused", 3)
    assert list(statuses(store).values()) == ["failed"] * 3 + ["queued"] * 3
    assert outbox.send_due(store, now=NOON).sent == 0  # paused: nothing of it goes out
    assert ("pause", "campaign:1") in store.db.execute("SELECT action, object FROM audit").fetchall()
    assert outbox.retry(store, ADMIN, campaign="Zomer", now=NOON) == 3
    assert outbox.send_due(store, now=NOON).sent == 6
    assert store.db.execute("SELECT status, failures_in_a_row FROM campaigns").fetchone() == ("active", 0)


def test_a_success_resets_the_failure_count(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=5, pause_after_failures=3)
    queue(store)
    smtp_sink.refuse_rcpt("550 no", "550 no")
    outbox.send_due(store, now=NOON, batch=3)
    smtp_sink.refuse_rcpt("550 no")
    report = outbox.send_due(store, now=NOON)
    assert report.paused_campaigns == [] and store.db.execute("SELECT status FROM campaigns").fetchone() == ("active",)


def test_cancel_and_retry_by_hand(tmp_path):
    store = setup(tmp_path, None, n=3)
    queue(store)
    assert outbox.cancel(store, ADMIN, [1, 2], now=NOON) == 2
    assert outbox.cancel(store, ADMIN, [1], now=NOON) == 0  # only queued messages
    assert outbox.retry(store, COACH, [1], now=NOON) == 1
    assert statuses(store) == {1: "queued", 2: "cancelled", 3: "queued"}
    assert outbox.cancel(store, COACH2, [3], now=NOON) == 0  # not their client
    actions = store.db.execute("SELECT action, object FROM audit WHERE action IN ('cancel', 'retry')").fetchall()
    assert actions == [("cancel", "message:1"), ("cancel", "message:2"), ("retry", "message:1")]
    with pytest.raises(BadInput):
        outbox.cancel(store, ADMIN)


# --- delivery reports, enqueue, tokens (for the daemon) -------------------------------------

def test_delivery_reports(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=2)
    queue(store)
    outbox.send_due(store, now=NOON)
    assert outbox.record_delivery(store, "delivered", message_id=1, now=NOON) is True
    assert outbox.record_delivery(store, "delivered", message_id=1, now=NOON) is False  # idempotent
    with write_transaction(store.db) as conn:
        conn.execute("UPDATE messages SET provider_id = 'SMabc' WHERE id = 2")
    assert outbox.record_delivery(store, "failed", provider_id="SMabc", reason="30005", now=NOON) is True
    assert statuses(store) == {1: "delivered", 2: "failed"}
    assert outbox.record_delivery(store, "delivered", message_id=99) is False
    with pytest.raises(BadInput):
        outbox.record_delivery(store, "read", message_id=1)
    events = [r[0] for r in store.db.execute("SELECT status FROM message_events WHERE message_id = 1 ORDER BY id")]
    assert events == ["queued", "sending", "sent", "delivered"]


def test_enqueue_and_find_by_token(tmp_path):
    store = setup(tmp_path, None, n=1)
    q = outbox.enqueue(store, 1, "sms", "Hoe gaat het? Antwoord 1-5", kind="checkin", occurrence="2025-W25", now=NOON)
    assert outbox.enqueue(store, 1, "sms", "again", kind="checkin", occurrence="2025-W25", now=NOON) is None
    found = outbox.find_by_token(store, q.token)
    assert found["id"] == q.id and found["client_id"] == 1 and found["kind"] == "checkin"
    assert outbox.find_by_token(store, "nope") is None
    with pytest.raises(BadInput):
        outbox.enqueue(store, 1, "fax", "x")


def test_system_messages_pass_an_opt_out(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=1)
    policy.set_opt_out(store, 1, "email", now=NOON)
    outbox.enqueue(store, 1, "email", "Afgemeld", subject="Afgemeld", kind="system", now=NOON)
    outbox.enqueue(store, 1, "email", "Tip", subject="Tip", kind="campaign", now=NOON)
    outbox.send_due(store, now=NOON)
    assert statuses(store) == {1: "sent", 2: "cancelled"}


# --- CLI ------------------------------------------------------------------------------------

def _cli(tmp_path, *args, user="admin", input=None):
    return CliRunner().invoke(main, ["--db", str(tmp_path / "caseload.db"), "--config", str(tmp_path / "config.toml"),
                                     "--lang", "en", *args], env={"SUDO_USER": user}, input=input)


def test_cli_queue_asks_first_and_shows_count_and_sample(tmp_path):
    setup(tmp_path, None, n=3).close()
    r = _cli(tmp_path, "queue", "--segment", "status = active", "--template", "tip", input="n\n")
    assert r.exit_code == 1 and "3 of 3 clients" in r.output and "K00001" in r.output and "Queue 3 messages?" in r.output
    assert _cli(tmp_path, "outbox", "--format", "json").output.strip() == "[]"
    r = _cli(tmp_path, "queue", "--segment", "status = active", "--template", "tip", "--campaign", "C1", input="y\n")
    assert r.exit_code == 0 and "Queued 3 messages" in r.output
    r = _cli(tmp_path, "queue", "--segment", "status = active", "--template", "tip", "--campaign", "C1", "--yes")
    assert r.exit_code == 0 and "Nothing to queue" in r.output and "already in this campaign 3" in r.output
    r = _cli(tmp_path, "queue", "--segment", "wellbeing <", "--template", "tip", "--yes")
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_cli_outbox_commands(tmp_path):
    store = setup(tmp_path, None, n=2)
    queue(store, campaign="C1")
    store.close()
    r = _cli(tmp_path, "outbox", "--status", "queued", "--format", "csv")
    assert r.exit_code == 0 and r.output.count("\n") == 3 and "Dag" not in r.output  # no texts
    r = _cli(tmp_path, "outbox", "cancel", "1")
    assert r.exit_code == 0 and "Cancelled 1" in r.output
    r = _cli(tmp_path, "outbox", "show", "1", "--format", "json")
    assert r.exit_code == 0 and '"cancelled"' in r.output
    r = _cli(tmp_path, "outbox", "summary", "--format", "json")
    assert r.exit_code == 0 and '"queued": 1' in r.output and '"cancelled": 1' in r.output
    r = _cli(tmp_path, "outbox", "retry", "--campaign", "C1")
    assert r.exit_code == 0 and "Queued 1 messages again" in r.output
    r = _cli(tmp_path, "outbox", "show", "99")
    assert r.exit_code == 2
    r = _cli(tmp_path, "client", "optout", "K00001", "--channel", "sms", user="coach1")
    assert r.exit_code == 0 and "no more sms" in r.output
    r = _cli(tmp_path, "send", "--dry-run")
    assert r.exit_code == 0 and "Due by email" in r.output  # a table for people: headers in the UI language


def test_frequency_cap_counts_messages_claimed_together(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=2, max_per_week=1, expire_after_hours=500)
    for client in (1, 1, 2):
        outbox.enqueue(store, client, "email", "Bericht", subject="Hoi", kind="campaign", now=NOON)
    report = outbox.send_due(store, now=NOON)
    assert report.sent == 2 and report.deferred == 1
    assert statuses(store) == {1: "sent", 2: "queued", 3: "sent"}


def test_cli_send_limit(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=4)
    queue(store, now=None)
    store.close()
    r = _cli(tmp_path, "send", "--limit", "3", "-v")
    assert r.exit_code == 0 and "Sent 3" in r.output and len(smtp_sink.messages()) == 3


def test_a_claim_made_ahead_is_given_back_when_the_run_stops(tmp_path, smtp_sink):
    store = setup(tmp_path, smtp_sink, n=6)
    queue(store)
    # batches of 2: the next claim starts while the last message of a batch goes out
    report = outbox.send_due(store, now=NOON, batch=2, stop=lambda: len(smtp_sink.messages()) >= 3)
    states = statuses(store)
    assert report.sent == 3 and "sending" not in states.values()
    assert list(states.values()).count("queued") == 3
    assert outbox.send_due(store, now=NOON).sent == 3 and len(smtp_sink.messages()) == 6


def test_each_outcome_is_committed_before_the_next_message_goes_out(tmp_path, smtp_sink, monkeypatch):
    """The outbox's promise against duplicates: when a message's text is handed to the relay,
    every earlier message's outcome is in the database, across batch ends too (the next batch is
    claimed in pieces meanwhile, and a batch's last outcome is committed in the background)."""
    store = setup(tmp_path, smtp_sink, n=23)
    queue(store)
    unrecorded = {}

    def look(conn, out):
        unrecorded[out.id] = conn.execute("SELECT COUNT(*) FROM messages WHERE id < ? AND status != 'sent'",
                                          [out.id]).fetchone()[0]

    claimed = []
    claim = run.SendRun.claim

    def counted_claim(self, db, n, usable):
        out = claim(self, db, n, usable)
        claimed.append((n, len(out[0])))
        return out

    monkeypatch.setattr(run.SendRun, "claim", counted_claim)
    record = claims.record

    def slow_record(*args):  # slower than the relay: the sender must wait for it
        time.sleep(0.01)
        return record(*args)

    monkeypatch.setattr(claims, "record", slow_record)
    report = outbox.send_due(store, now=NOON, batch=10, channels={"email": _Watched(store, look)})
    assert report.sent == 23 and set(statuses(store).values()) == {"sent"}
    assert unrecorded == {mid: 0 for mid in range(1, 24)}
    assert [r.caseload_id for r in smtp_sink.messages()] == list(range(1, 24))
    # a first claim of 10 (one message: the channel is new), one of 10, then pieces
    assert claimed[:2] == [(10, 1), (10, 10)] and sum(got for _, got in claimed) == 23
    assert {asked for asked, _ in claimed[2:]} == {-(-10 // run.PREFETCH_PIECES)} and len(claimed) > 3


def test_the_wal_file_stays_small_during_a_long_run(tmp_path, smtp_sink, monkeypatch):
    """Checkpoints run beside the sender, and the sender starts the WAL afresh once they have
    caught up: without that, every commit of every message would stay in the WAL file."""
    monkeypatch.setattr(threads, "WAL_PAGES", 0)  # the writer never checkpoints on its own
    monkeypatch.setattr(threads, "CHECKPOINT_EVERY", 0.01)
    monkeypatch.setattr(threads, "RESTART_FRAMES", 40)
    store = setup(tmp_path, smtp_sink, n=300)
    queue(store)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    report = outbox.send_due(store, now=NOON)
    assert report.sent == 300 and len(smtp_sink.messages()) == 300
    page = store.db.execute("PRAGMA page_size").fetchone()[0]
    # the WAL file keeps its largest size. Without checkpoints this run leaves ~1,420 frames; with
    # them 90 to 530 were measured, depending on how often the busy host let the checkpointer run
    assert (tmp_path / "caseload.db-wal").stat().st_size < 710 * (page + 24)
