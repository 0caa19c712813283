"""Daemon benchmark on the 100,000-client database (bench/generate.py, cached):

1. A check-in round for every active client planned and queued (`checkins.round_now`: the
   segment, per client the channel, language and questions from 80 characteristics' staleness,
   then the check-ins, their questions and the first messages in one transaction), against a
   baseline in the same run: the same number of check-in and message rows written with plain
   executemany, without planning. Target: under 10 s.
2. The real `caseload daemon` process idling on that database (webhook endpoint up, nothing due):
   its resident size, against a bare Python process holding the same database open. Target:
   under 80 MB.

    python bench/bench_daemon.py [--clients N]
"""

import argparse
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import build  # noqa: E402
from bench.results import write_section  # noqa: E402


def copy_db(src: Path, dest: Path) -> Path:
    conn = sqlite3.connect(src)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.copyfile(src, dest)
    os.chmod(dest, 0o600)
    return dest


def config_file(tmp: Path, port: int) -> Path:
    path = tmp / "config.toml"
    path.write_text(f'[daemon]\nlisten = "127.0.0.1:{port}"\npublic_url = "https://caseload.example.org"\n'
                    f"tick_seconds = 1\n[policy]\nquiet_hours = \"\"\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def round_timing(db: Path, config: Path) -> dict:
    from caseload import access, checkins
    from caseload.config import load_config
    from caseload.store import open_store

    store = open_store(load_config(config), db)
    actor = access.system_actor("bench")
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    plan = checkins.plan_round(store, actor, "status = active", now)
    t1 = time.perf_counter()
    result = checkins.queue_round(store, actor, plan, now)
    t2 = time.perf_counter()
    questions = store.db.execute("SELECT COUNT(*) FROM checkin_questions").fetchone()[0]
    channels = dict(store.db.execute("SELECT channel, COUNT(*) FROM messages GROUP BY channel").fetchall())
    store.close()
    return {"plan": t1 - t0, "queue": t2 - t1, "total": t2 - t0, "queued": result["queued"],
            "questions": questions, "channels": channels, "skipped": result["skipped"]}


def baseline_timing(db: Path, n: int, questions: int) -> float:
    """The same rows, written without planning: the floor for queueing a round."""
    conn = sqlite3.connect(db, isolation_level=None)
    t0 = time.perf_counter()
    ids = [r[0] for r in conn.execute("SELECT id FROM clients WHERE status = 'active' ORDER BY id LIMIT ?", [n])]
    now = "2026-01-01T00:00:00Z"
    conn.execute("BEGIN IMMEDIATE")
    start = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM checkins").fetchone()[0]
    conn.executemany("INSERT INTO checkins (id, client_id, channel, language, status, created_at)"
                     " VALUES (?, ?, 'sms', 'nl', 'open', ?)", [(start + i, c, now) for i, c in enumerate(ids)])
    cur = conn.executemany(
        "INSERT INTO messages (client_id, kind, channel, body, token, due_at, created_at, updated_at, occurrence)"
        " VALUES (?, 'checkin', 'sms', 'Hoe gaat het met je?', ?, ?, ?, ?, ?)",
        [(c, os.urandom(12).hex(), now, now, now, f"base:{c}") for c in ids])
    per = max(1, round(questions / max(1, len(ids))))
    conn.executemany("INSERT INTO checkin_questions (checkin_id, position, client_id, characteristic, status)"
                     " VALUES (?, ?, ?, 'wellbeing', 'waiting')",
                     [(start + i, p, c) for i, c in enumerate(ids) for p in range(per)])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_rss(db: Path, config: Path, port: int, seconds: float = 8.0) -> dict:
    env = {**os.environ, "CASELOAD_WEBHOOK_TOKEN": "bench-secret", "SUDO_USER": "bench", "PYTHONPATH": str(ROOT),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    proc = subprocess.Popen([sys.executable, "-c", "from caseload.cli import main; main()", "--db", str(db),
                             "--config", str(config), "daemon"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    samples = []
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        start = time.monotonic()
        while time.monotonic() - start < seconds and proc.poll() is None:
            samples.append(rss_kib(proc.pid))
            time.sleep(0.25)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
    finally:
        proc.terminate()
        proc.wait(30)
    bare = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]);"
                             " c.execute('SELECT COUNT(*) FROM clients').fetchone(); time.sleep(3)", str(db)])
    time.sleep(2)
    base = rss_kib(bare.pid)
    bare.wait()
    return {"max_kib": max(samples), "last_kib": samples[-1], "bare_kib": base}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=100_000)
    args = p.parse_args()
    src = build(clients=args.clients)
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        tmp = Path(tmp)
        port = free_port()
        config = config_file(tmp, port)
        db = copy_db(src, tmp / "caseload.db")
        conn = sqlite3.connect(db)
        if not conn.execute("SELECT 1 FROM users WHERE name = 'bench'").fetchone():
            conn.execute("INSERT INTO users (name, role, active, created_at) VALUES ('bench', 'admin', 1, '2026-01-01')")
            conn.commit()
        conn.close()
        os.environ["CASELOAD_WEBHOOK_TOKEN"] = "bench-secret"
        memory = idle_rss(db, config, port)
        r = round_timing(db, config)
        base = baseline_timing(copy_db(src, tmp / "baseline.db"), r["queued"], r["questions"])
    mb = memory["max_kib"] / 1024
    body = f"""
{args.clients:,} clients (bench/generate.py). A check-in round for every active client: plan (segment,
channel, language, questions from the staleness of 80 characteristics) and queue (check-ins, their
questions and the first message of each, one transaction).

| run | seconds |
|---|---|
| baseline: the same check-in, question and message rows with plain executemany | {base:.2f} |
| `checkins.plan_round` | {r['plan']:.2f} |
| `checkins.queue_round` | {r['queue']:.2f} |
| plan + queue | {r['total']:.2f} |
| ratio to baseline | {r['total'] / base:.1f}x (target: under 10 s) |

Queued {r['queued']:,} check-ins with {r['questions']:,} questions ({', '.join(f'{k} {v:,}' for k, v in sorted(r['channels'].items()))} messages);
skipped: {', '.join(f'{k} {v:,}' for k, v in sorted(r['skipped'].items())) or 'none'}.

The real `caseload daemon` idling on that database (webhook endpoint up, tick 1 s, nothing due), sampled
for 8 s: resident {mb:.1f} MB at most, {memory['last_kib'] / 1024:.1f} MB last (target: under 80 MB);
a bare Python process with the same database open: {memory['bare_kib'] / 1024:.1f} MB.
"""
    print(body)
    write_section("Daemon", body)
    if r["total"] >= 10 or mb >= 80:
        sys.exit(1)


if __name__ == "__main__":
    main()
