"""10,000 emails through `caseload send` into a local SMTP sink, against a raw smtplib loop over
one connection, in the same run: `python bench/bench_send.py [--messages N] [--rounds R]`.

The raw loop sends what `caseload send` sends, header for header (the sink's work grows with
every line). Both senders are separate processes talking to the same sink process (aiosmtpd on 127.0.0.1,
its own core), and both rates are measured at the sink, from the first to the last message it
accepted, so process start-up (Python, imports) counts for neither; the wall time of the
`caseload send` process, start-up included, is reported too.

This machine is shared: the rate of the same loop drifts by a third within minutes. So each
round is a pair run back to back, raw first in odd rounds and caseload first in even ones, and
what counts is the median of the rounds' ratios (target >= 0.9). The ratio of the two medians
is shown too; drift between rounds moves it.

Every state change of every message must be committed on its own: after each caseload round
the bench checks that each message has its queued, sending and sent events and is `sent`, and a
smaller in-process run counts the transactions the send path committed per message (the COMMITs
SQLite runs, through sqlite3's trace callback: nothing in caseload counts for the bench).
"""

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.results import write_section  # noqa: E402

SINK = r"""
import sys, time
from aiosmtpd.controller import Controller

class Counter:
    n, first, last, size = 0, 0.0, 0.0, 0

    async def handle_DATA(self, server, session, envelope):
        now = time.perf_counter()
        if not self.n:
            self.first = now
        self.n += 1
        self.last = now
        self.size += len(envelope.original_content)
        return "250 OK"

h = Counter()
c = Controller(h, hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "stats":
        print(h.n, h.first, h.last, h.size, flush=True)
    elif line.strip() == "reset":
        h.n, h.first, h.last, h.size = 0, 0.0, 0.0, 0
        print("ok", flush=True)
c.stop()
"""

RAW = r"""
import smtplib, sys
from email.utils import formatdate
port, n = int(sys.argv[1]), int(sys.argv[2])
s = smtplib.SMTP("127.0.0.1", port)
for i in range(1, n + 1):
    token = "%024x" % i
    msg = ("From: Werkplein <noreply@bench.example>\r\nTo: klant%d@bench.example\r\nSubject: Hoi Voornaam%d\r\n"
           "Date: %s\r\nMessage-ID: <%s.%d@bench.example>\r\nReply-To: reply+%s@bench.example\r\n"
           "List-Id: <caseload.bench.example>\r\n"
           "List-Unsubscribe: <mailto:unsubscribe+%s@bench.example>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           "Dag Voornaam%d,\r\n\r\nHoe gaat het met je? Antwoord met een cijfer van 1 tot 5.\r\n\r\nGroet, je coach\r\n"
           % (i, i, formatdate().replace("-0000", "+0000"), token, i, token, token, i)).encode()
    s.sendmail("bounce+%s@bench.example" % token, ["klant%d@bench.example" % i], msg)  # VERP, as caseload
s.quit()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", SINK, str(self.port)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def ask(self, cmd: str) -> str:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def rate(self) -> tuple[int, float]:
        n, first, last, size = self.ask("stats").split()
        n, first, last = int(n), float(first), float(last)
        self.ask("reset")
        self.mean_size = int(size) / n if n else 0.0
        return n, (n - 1) / (last - first) if n > 1 and last > first else 0.0

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def prepare(folder: Path, port: int, n: int) -> Path:
    """A database with n clients and n queued emails (rendered from a template), and its config."""
    from caseload import access, outbox, templates
    from caseload.config import load_config
    from caseload.clock import utcnow
    from caseload.db import write_transaction
    from caseload.store import open_store

    cfg = folder / "config.toml"
    cfg.write_text(f"""[email]
host = "127.0.0.1"
port = {port}
security = "none"
sender = "Werkplein <noreply@bench.example>"

[policy]
quiet_hours = ""
max_per_week = 1000
rate_per_minute_email = 0
rate_per_minute_sms = 0
""", encoding="utf-8")
    cfg.chmod(0o600)
    store = open_store(load_config(cfg), folder / "template.db", create=True)
    access.add_user(store.db, "bench", "admin")
    now = utcnow()
    with write_transaction(store.db) as conn:
        conn.executemany("INSERT INTO clients (client_number, first_name, last_name, email, language,"
                         " preferred_channel, coach, status, created_at, updated_at)"
                         " VALUES (?, ?, ?, ?, 'nl', 'email', 'bench', 'active', ?, ?)",
                         [(f"B{i:06d}", f"Voornaam{i}", f"Achternaam{i}", f"klant{i}@bench.example", now, now)
                          for i in range(1, n + 1)])
        conn.execute("INSERT INTO profile (client_id) SELECT id FROM clients")
    admin = access.Actor("bench", "admin")
    templates.add_template(store, admin, "bench", "email",
                           "Dag {{ first_name }},\n\nHoe gaat het met je? Antwoord met een cijfer van 1 tot 5.\n\n"
                           "Groet, je coach", subject="Hoi {{ first_name }}")
    plan = outbox.plan_queue(store, admin, "status = active", "bench", channel="email")
    outbox.commit_queue(store, admin, plan)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return cfg


def fresh_db(folder: Path) -> Path:
    db = folder / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(folder / "template.db", db)
    db.chmod(0o600)
    return db


def check_committed(db: Path, n: int) -> None:
    import sqlite3

    conn = sqlite3.connect(db)
    sent = conn.execute("SELECT COUNT(*) FROM messages WHERE status = 'sent'").fetchone()[0]
    chains = conn.execute(
        "SELECT COUNT(*) FROM (SELECT message_id, group_concat(status, '>') AS chain FROM"
        " (SELECT message_id, status FROM message_events ORDER BY id) GROUP BY message_id)"
        " WHERE chain = 'queued>sending>sent'").fetchone()[0]
    conn.close()
    assert sent == n and chains == n, f"{sent} sent, {chains} complete event chains of {n}"


@contextmanager
def counted_commits():
    """Counts the COMMITs that SQLite runs on every connection opened meanwhile (the send run
    opens its writer's and checkpointer's own), seen through sqlite3's trace callback."""
    import sqlite3

    count = [0]
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(lambda sql: sql == "COMMIT" and count.__setitem__(0, count[0] + 1))
        return conn

    sqlite3.connect = traced
    try:
        yield count
    finally:
        sqlite3.connect = connect


def commits_per_message(folder: Path, cfg: Path, sink: Sink, n: int = 1000) -> float:
    """Send n of the queued messages in this process and count the send path's commits."""
    from caseload import outbox
    from caseload.config import load_config
    from caseload.db import write_transaction
    from caseload.store import open_store

    store = open_store(load_config(cfg), fresh_db(folder))
    with write_transaction(store.db) as conn:
        conn.execute("UPDATE messages SET status = 'cancelled', reason = 'bench', updated_at = due_at WHERE id > ?", [n])
    with counted_commits() as commits:
        report = outbox.send_due(store)
    store.close()
    sink.rate()
    assert report.sent == n, report.as_dict()
    return commits[0] / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    args, _ = ap.parse_known_args()  # `python -m bench` passes options meant for others
    n = args.messages
    caseload = shutil.which("caseload", path=str(Path(sys.executable).parent)) or "caseload"
    folder = Path(tempfile.mkdtemp(prefix="bench_send_", dir=os.environ.get("BENCH_DIR")))
    sink = Sink()
    try:
        print(f"preparing {n:,} queued emails ...", flush=True)
        cfg = prepare(folder, sink.port, n)
        env = {**os.environ, "CASELOAD_CONFIG": str(cfg), "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
               "CASELOAD_LOG": "ERROR", "SUDO_USER": "bench"}  # send runs as an admin
        raw, ours, walls, cpus, sizes = [], [], [], [], {}

        def run_raw():
            subprocess.run([sys.executable, "-c", RAW, str(sink.port), str(n)], check=True)
            got, rate = sink.rate()
            assert got == n, got
            raw.append(rate)
            sizes["raw"] = sink.mean_size

        def run_caseload():
            db = fresh_db(folder)
            t0, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run([caseload, "--db", str(db), "send"], env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            assert done.returncode == 0, done.stderr
            got, rate = sink.rate()
            assert got == n, got
            sizes["caseload"] = sink.mean_size
            check_committed(db, n)
            ours.append(rate)

        for r in range(args.rounds):
            for run in (run_raw, run_caseload) if r % 2 == 0 else (run_caseload, run_raw):
                run()
            print(f"round {r + 1}: raw smtplib {raw[-1]:,.0f}/s, caseload send {ours[-1]:,.0f}/s"
                  f" (ratio {ours[-1] / raw[-1]:.2f}; process wall {walls[-1]:.1f} s, CPU {cpus[-1]:.2f} s)", flush=True)
        per_message = commits_per_message(folder, cfg, sink)
    finally:
        sink.close()
        shutil.rmtree(folder, ignore_errors=True)
    from caseload.outbox import run as send_run

    r_raw, r_ours = statistics.median(raw), statistics.median(ours)
    ratio = statistics.median(b / a for a, b in zip(raw, ours))
    print(f"median: raw {r_raw:,.0f}/s, caseload {r_ours:,.0f}/s (ratio of medians {r_ours / r_raw:.2f});"
          f" median of the rounds' ratios {ratio:.2f} (target >= 0.9); CPU of caseload send"
          f" {statistics.median(cpus):.2f} s;"
          f" {per_message:.3f} commits per message; message size at the sink: raw {sizes['raw']:.0f} bytes,"
          f" caseload {sizes['caseload']:.0f}")
    rows = "\n".join(f"| {i + 1} | {'raw' if i % 2 == 0 else 'caseload'} | {a:,.0f} | {b:,.0f} | {b / a:.2f} | {w:.1f} |"
                     f" {c:.2f} |" for i, (a, b, w, c) in enumerate(zip(raw, ours, walls, cpus)))
    write_section("Messages", f"""
{n:,} emails into a local aiosmtpd sink (its own process), sent by a raw smtplib loop over one
connection and by `caseload send` (claims, policies, one commit per message, MIME built per
message, one SMTP connection). Rates are measured at the sink, first to last message accepted.
Both send the same headers and body: {sizes['raw']:.0f} bytes per message from the raw loop,
{sizes['caseload']:.0f} from `caseload send`, as received.

| round | first | raw smtplib msg/s | `caseload send` msg/s | ratio | `caseload send` wall s (incl. start-up) | its CPU s |
|---|---|---|---|---|---|---|
{rows}
| median | | {r_raw:,.0f} | {r_ours:,.0f} | **{ratio:.2f}** (target >= 0.9; ratio of the medians {r_ours / r_raw:.2f}) | {statistics.median(walls):.1f} | {statistics.median(cpus):.2f} |

Each round is a pair run back to back, in alternating order; the verdict is the median of the
rounds' ratios, because the shared machine drifts between rounds (see the module docstring).

Every message ended `sent` with the event chain queued > sending > sent (checked each round).
Transactions committed by the send path: {per_message:.3f} per message (one per message, one
more at the end of each batch of 50, and the claims: the next batch is claimed in
{send_run.PREFETCH_PIECES} pieces over a batch's last messages), counted in an in-process run of 1,000. The commit of message N
runs in a writer thread while the relay answers MAIL, RCPT and DATA of message N+1, and is
waited for before N+1's text goes out, and the WAL is check-pointed in a background thread.
Database in {folder.parent} (BENCH_DIR). Load average at the end:
{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
