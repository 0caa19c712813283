"""`caseload send` as a real process: killed with SIGKILL at random moments and restarted, and
three of them at once. Every message arrives; a kill costs at most one duplicate, and that
message is marked; concurrent senders never duplicate anything."""

import os
import random
import shutil
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from caseload import outbox
from caseload.db import write_transaction
from servers import SmtpSink, add_clients, make_store

CASELOAD = shutil.which("caseload") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "caseload")


def _prepare(tmp_path, sink, n, due_order="queued"):
    """n queued emails, due in the order they were queued, or (due_order="reversed") the last
    queued due first: then a claim made ahead holds lower ids than the batch being sent."""
    store = make_store(tmp_path, sink.port)
    add_clients(store, n)
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    with write_transaction(store.db) as conn:
        for cid in range(1, n + 1):
            due = start - timedelta(seconds=cid) if due_order == "reversed" else None
            outbox.enqueue(store, cid, "email", f"Bericht {cid}", subject="Hoi", kind="campaign", conn=conn,
                           due_at=due)
    store.close()
    return {**os.environ, "CASELOAD_DB": str(tmp_path / "caseload.db"), "CASELOAD_CONFIG": str(tmp_path / "config.toml"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "LANG": "en_US.UTF-8", "CASELOAD_LOG": "ERROR",
            "SUDO_USER": "admin"}


def _outbox(tmp_path):
    import sqlite3

    conn = sqlite3.connect(tmp_path / "caseload.db")
    rows = conn.execute("SELECT id, status, possible_duplicate FROM messages").fetchall()
    sent_events = dict(conn.execute("SELECT message_id, COUNT(*) FROM message_events WHERE status = 'sent'"
                                    " GROUP BY message_id").fetchall())
    conn.close()
    return rows, sent_events


@pytest.mark.slow
@pytest.mark.parametrize("due_order", ["queued", "reversed"])
def test_kill_9_twenty_times_every_message_arrives_and_each_duplicate_is_marked(tmp_path, due_order):
    n, kills_wanted = 1000, 20
    rng = random.Random(20250616)
    with SmtpSink(delay=0.006) as sink:
        env = _prepare(tmp_path, sink, n, due_order)
        kills = 0
        while kills < kills_wanted:
            before = len(sink.received)
            p = subprocess.Popen([CASELOAD, "send"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # let it start sending, then kill it at a random moment (in a claim, mid-SMTP, mid-commit...)
            while len(sink.received) == before and p.poll() is None:
                time.sleep(0.002)
            if p.poll() is not None:
                break
            time.sleep(rng.uniform(0.0, 0.2))
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
        assert kills == kills_wanted, "the queue ran dry before every kill: make the test slower"
        final = subprocess.run([CASELOAD, "send"], env=env, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr
        counts = sink.count_by_id()

    rows, sent_events = _outbox(tmp_path)
    assert sorted(counts) == list(range(1, n + 1)), "a message never arrived"
    assert all(status == "sent" for _, status, _ in rows)
    duplicates = {mid: c - 1 for mid, c in counts.items() if c > 1}
    marked = {mid for mid, _, dup in rows if dup}
    # at most one per kill (a message may be the one in flight at two kills: it then arrives three times)
    assert sum(duplicates.values()) <= kills
    assert set(duplicates) <= marked  # and each one is marked in the outbox
    assert len(marked) <= kills
    assert all(sent_events.get(mid) == 1 for mid, _, _ in rows)  # recorded as sent exactly once


@pytest.mark.slow
def test_three_senders_at_once_never_duplicate(tmp_path):
    n = 1500
    with SmtpSink(delay=0.004) as sink:
        env = _prepare(tmp_path, sink, n)
        procs = [subprocess.Popen([CASELOAD, "send"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
        errors = [p.communicate(timeout=300)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errors
        counts = sink.count_by_id()
        senders = sink.connections()
    rows, sent_events = _outbox(tmp_path)
    assert sorted(counts) == list(range(1, n + 1)) and set(counts.values()) == {1}
    assert all(status == "sent" and not dup for _, status, dup in rows)
    assert all(sent_events.get(mid) == 1 for mid, _, _ in rows)
    assert senders >= 2, "the senders did not overlap: the test proved nothing"


@pytest.mark.slow
def test_sigterm_finishes_the_message_in_flight_and_exits(tmp_path):
    n = 300
    with SmtpSink(delay=0.01) as sink:
        env = _prepare(tmp_path, sink, n)
        p = subprocess.Popen([CASELOAD, "send"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while not sink.received and p.poll() is None:
            time.sleep(0.002)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        first = len(sink.received)
        rows, _ = _outbox(tmp_path)
        states = [status for _, status, _ in rows]
        assert "sending" not in states and states.count("sent") == first < n  # nothing left half-way
        rerun = subprocess.run([CASELOAD, "send"], env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        counts = sink.count_by_id()
    assert sorted(counts) == list(range(1, n + 1)) and set(counts.values()) == {1}
    assert not any(dup for _, _, dup in _outbox(tmp_path)[0])


DIES_AFTER = r"""
import os, sys
from caseload import outbox
from caseload.channels import open_channel
from caseload.config import load_config
from caseload.store import open_store

store = open_store(load_config(sys.argv[1]), sys.argv[2])
real, after, handed = open_channel(store.config, "email"), int(sys.argv[3]), []


class Dying:
    def connect(self):
        return real.connect()

    def close(self):
        real.close()

    def send(self, out, ready, upcoming=None):
        outcome = real.send(out, ready, upcoming)
        handed.append(out.id)
        if len(handed) == after:  # accepted by the relay, its outcome not yet recorded
            print(out.id, flush=True)
            os.kill(os.getpid(), 9)
        return outcome


outbox.send_due(store, batch=5, channels={"email": Dying()})
"""


def test_a_kill_while_the_next_batch_is_claimed_ahead_marks_the_message_in_flight(tmp_path):
    """Due times run opposite to ids here, so the pieces of the next batch, claimed while a batch
    ends, hold lower ids than the message in flight: "the lowest id" would mark the wrong one."""
    import sys

    n = 12
    with SmtpSink() as sink:
        env = _prepare(tmp_path, sink, n, due_order="reversed")
        # a first claim of one (a new channel), then a batch of five: die after its fourth message
        died = subprocess.run([sys.executable, "-c", DIES_AFTER, env["CASELOAD_CONFIG"], env["CASELOAD_DB"], "5"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert died.returncode == -signal.SIGKILL, died.stderr
        in_flight = int(died.stdout)
        rows, _ = _outbox(tmp_path)
        claimed_ahead = [mid for mid, status, _ in rows if status == "sending" and mid < in_flight]
        assert claimed_ahead, "nothing was claimed ahead: the test proved nothing"
        again = subprocess.run([CASELOAD, "send"], env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        counts = sink.count_by_id()
    rows, sent_events = _outbox(tmp_path)
    assert sorted(counts) == list(range(1, n + 1))
    assert {mid for mid, c in counts.items() if c > 1} == {in_flight}
    assert {mid for mid, _, dup in rows if dup} == {in_flight}
    assert all(status == "sent" and sent_events.get(mid) == 1 for mid, status, _ in rows)
