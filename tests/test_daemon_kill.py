"""Killing the real daemon: SIGKILL at random moments and a restart lose no scheduled message and
send none twice beyond the one in flight (which is marked); a second daemon on the same database
refuses to start, and the lock goes with the process however it dies."""

import random
from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, campaigns, outbox, templates
from caseload.i18n import t
from daemon_support import DaemonProcess, daemon_config, open_test_store, query, wait_for
from servers import SmtpSink, add_clients

pytestmark = pytest.mark.slow
ADMIN = access.Actor("admin", "admin")


def test_sigkill_and_restart_lose_nothing_and_duplicate_only_the_message_in_flight(tmp_path):
    rng = random.Random(5)
    with SmtpSink(delay=0.03) as sink:
        config, port = daemon_config(tmp_path / "config.toml", sink.port, tick=0.2)
        store = open_test_store(tmp_path, config)
        add_clients(store, 50)
        templates.add_template(store, ADMIN, "tip", "email", "Dag {{ first_name }}", subject="Een tip")
        outbox.commit_queue(store, ADMIN, outbox.plan_queue(store, ADMIN, "status = active", "tip", campaign="now"))
        soon = (datetime.now(timezone.utc) + timedelta(seconds=1)).astimezone(store.tz)
        campaigns.add(store, ADMIN, "scheduled", "tip", "status = active", once=soon.strftime("%Y-%m-%d %H:%M:%S"))
        kills = 0
        for _ in range(4):
            with DaemonProcess(tmp_path, store.path, config, port) as daemon:
                target = len(sink.messages()) + rng.randint(3, 20)
                wait_for(lambda: len(sink.messages()) >= target or daemon.proc.poll() is not None, 30, "some mail")
                assert daemon.proc.poll() is None, daemon.output()
                daemon.kill()
                kills += 1
        with DaemonProcess(tmp_path, store.path, config, port) as daemon:
            wait_for(lambda: query(store.path, "SELECT COUNT(*) FROM messages WHERE status = 'sent'") == [(100,)]
                     and query(store.path, "SELECT COUNT(*) FROM messages") == [(100,)], 60, "every message sent")
            assert daemon.terminate() == 0, daemon.output()

        rows = query(store.path, "SELECT id, campaign_id, client_id, possible_duplicate FROM messages")
        per_campaign = {}
        for _, camp, client, _ in rows:
            per_campaign.setdefault(camp, set()).add(client)
        assert [len(v) for v in per_campaign.values()] == [50, 50]  # the occurrence queued once per client
        arrived = sink.count_by_id()
        assert set(arrived) == {r[0] for r in rows}  # nothing lost
        twice = {mid for mid, n in arrived.items() if n > 1}
        assert all(n <= 2 for n in arrived.values())
        assert len(twice) <= kills  # at most the one in flight per kill
        marked = {r[0] for r in rows if r[3]}
        assert twice <= marked  # and each of those is marked in the outbox


def test_a_second_daemon_refuses_and_the_lock_dies_with_the_first(tmp_path):
    config, port = daemon_config(tmp_path / "config.toml", tick=0.2)
    store = open_test_store(tmp_path, config)
    with DaemonProcess(tmp_path, store.path, config, port) as first:
        first.wait_ready()
        with DaemonProcess(tmp_path, store.path, config, port) as second:
            assert second.proc.wait(20) == 1
            assert t("daemon.already_running", lang="nl", file=store.path) in second.output()
            assert "Traceback" not in second.output()
        beat = query(store.path, "SELECT pid, stopped_at FROM daemon_heartbeat")
        assert beat == [(first.pid, None)]
        first.kill()
    with DaemonProcess(tmp_path, store.path, config, port) as third:
        third.wait_ready()
        assert query(store.path, "SELECT pid FROM daemon_heartbeat") == [(third.pid,)]
        assert third.terminate() == 0
