"""`caseload send` as a real process: killed with SIGKILL at random moments and restarted, and
three of them at once. Every message arrives; a kill costs at most one duplicate, and that
message is marked; concurrent senders never duplicate anything."""

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from caseload import outbox
from caseload.db import write_transaction
from servers import SmtpSink, add_clients, make_store

CASELOAD = shutil.which("caseload") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "caseload")


def _prepare(tmp_path, sink, n):
    store = make_store(tmp_path, sink.port)
    add_clients(store, n)
    with write_transaction(store.db) as conn:
        for cid in range(1, n + 1):
            outbox.enqueue(store, cid, "email", f"Bericht {cid}", subject="Hoi", kind="campaign", conn=conn)
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
def test_kill_9_twenty_times_every_message_arrives_and_each_duplicate_is_marked(tmp_path):
    n, kills_wanted = 1000, 20
    rng = random.Random(20250616)
    with SmtpSink(delay=0.006) as sink:
        env = _prepare(tmp_path, sink, n)
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
    assert max(counts.values()) <= 2
    assert sum(duplicates.values()) <= kills  # at most one per kill
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
