"""Personal messages go before broadcasts: a check-in queued while a real `caseload send` works
through a 2,000-message broadcast goes out within the next batch, not after the broadcast."""

import os
import signal
import subprocess
import time

import pytest

from caseload import access, checkins, clock, outbox, templates
from caseload.outbox.run import BATCH
from servers import SmtpSink, add_clients, make_store
from test_send_kill import CASELOAD

ADMIN = access.Actor("admin", "admin")


@pytest.mark.slow
def test_a_check_in_queued_during_a_broadcast_goes_out_within_the_next_batch(tmp_path):
    n = 2000
    with SmtpSink(delay=0.002) as sink:
        store = make_store(tmp_path, sink.port)
        add_clients(store, n)
        templates.add_template(store, ADMIN, "nieuws", "email", "Dag {{ first_name }}, het nieuws.", subject="Nieuws")
        plan = outbox.plan_queue(store, ADMIN, "status = active", "nieuws", channel="email")
        assert outbox.commit_queue(store, ADMIN, plan)["queued"] == n
        add_clients(store, 1, start=n + 1)  # the client who gets the check-in
        env = {**os.environ, "CASELOAD_DB": str(store.path), "CASELOAD_CONFIG": str(tmp_path / "config.toml"),
               "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "LANG": "en_US.UTF-8",
               "CASELOAD_LOG": "ERROR", "SUDO_USER": "admin"}
        sender = subprocess.Popen([CASELOAD, "send"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        try:
            sink.wait_for(3 * BATCH - 30, timeout=60)  # well into the third batch
            assert sender.poll() is None, sender.stderr.read()
            assert checkins.round_now(store, ADMIN, f"client_number = K{n + 1:05d}")["queued"] == 1
            queued_at = len(sink.messages())  # what went out before the check-in existed
            (checkin_id,) = store.db.execute("SELECT id FROM messages WHERE kind = 'checkin'").fetchone()
            deadline = time.monotonic() + 60
            while checkin_id not in sink.count_by_id() and time.monotonic() < deadline and sender.poll() is None:
                time.sleep(0.005)
        finally:
            sender.send_signal(signal.SIGTERM)  # the rest of the broadcast is not needed
            _, errors = sender.communicate(timeout=60)
        got = [r.caseload_id for r in sink.messages()]
    assert sender.returncode in (0, -signal.SIGTERM), errors
    assert checkin_id in got, "the check-in never went out"
    ahead = got.index(checkin_id) - queued_at
    assert queued_at < n - 2 * BATCH and ahead <= 2 * BATCH, (queued_at, ahead)  # the batch in flight and the next
    # nothing lost: what did not go out is back in the queue
    states = dict(store.db.execute("SELECT status, COUNT(*) FROM messages GROUP BY status").fetchall())
    assert states.get("sending", 0) == 0 and states["sent"] == len(set(got))
    store.close()


@pytest.mark.anyio
async def test_a_message_composed_on_a_clients_screen_is_personal(tmp_path):
    """m on a client's screen writes to that client alone (a personal message); compose for a
    segment that happens to match one client stays a broadcast (test_message_writer)."""
    from textual.widgets import Select

    from caseload.tui.app import build_app
    from caseload.tui.screens.client import ClientScreen
    from caseload.tui.screens.compose import ComposeScreen
    from caseload.tui.screens.confirm import ConfirmScreen
    from tui_fixture import settle

    store = make_store(tmp_path)
    add_clients(store, 3, preferred_channel="sms")
    templates.add_template(store, ADMIN, "afspraak", "sms", "Hoi {{ first_name }}, bel je me even?")
    app = build_app(store, access.resolve_actor(store.db, "coach1", interface="tui"), lang="en")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        app.open_client("K00002")
        await settle(pilot)
        assert isinstance(app.screen, ClientScreen)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ComposeScreen) and screen.client == "K00002"
        screen.query_one("#template", Select).value = "afspraak"
        await settle(pilot)
        assert screen.plan is not None and screen.plan.personal and screen.plan.count == 1
        await pilot.press("f8")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("escape")  # back to the client
        await settle(pilot)
        assert isinstance(app.screen, ClientScreen)
    rows = store.db.execute("SELECT client_id, priority, body FROM messages").fetchall()
    assert rows == [(2, outbox.PERSONAL, "Hoi Voornaam2, bel je me even?")]
    store.close()


def test_a_stop_confirmation_is_personal_and_goes_before_a_queued_broadcast(tmp_path):
    from caseload import replies
    from caseload.channels.sms import Inbound
    from caseload.outbox.claims import DUE

    store = make_store(tmp_path)
    add_clients(store, 3, preferred_channel="sms")
    templates.add_template(store, ADMIN, "nieuws", "sms", "Het nieuws.")
    assert outbox.commit_queue(store, ADMIN, outbox.plan_queue(store, ADMIN, "status = active", "nieuws"))["queued"] == 3
    assert replies.handle_sms(store, Inbound("cm", "in-1", "+31600000002", "STOP")).outcome == "stop"
    first = store.db.execute(f"SELECT kind, client_id, priority FROM messages WHERE {DUE}"
                             " ORDER BY priority, due_at, id LIMIT 1", [clock.iso(clock.now())]).fetchone()
    assert first == ("system", 2, outbox.PERSONAL)  # the claim's order: the confirmation first
    store.close()
