"""Import benchmark: 100,000 clients x 80 characteristics from a Dutch Excel-style CSV,
against a baseline in the same run: the same file read with the csv module and the same rows
written into the same tables with executemany in one transaction, without parsing or validation.

    python bench/bench_import.py [--clients N] [--rounds R]

Each round is a pair run back to back, the baseline first in odd rounds and the import first in
even ones; what counts is the median of the rounds' ratios (the machine is shared and noisy).
The import checks the whole file before it takes the write lock: the table shows how long the
lock was held (from BEGIN IMMEDIATE to COMMIT).
"""

import argparse
import csv
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import import_csv  # noqa: E402
from bench.results import write_section  # noqa: E402
from caseload import access, importer  # noqa: E402
from caseload.config import load_config  # noqa: E402
from caseload.store import open_store  # noqa: E402


def fresh_store(path: Path):
    store = open_store(load_config(None), path, create=True)
    access.add_user(store.db, "bench", "admin")
    return store, access.resolve_actor(store.db, "bench")


def baseline(csv_path: Path, db_path: Path) -> float:
    store, _ = fresh_store(db_path)
    chars = list(store.catalog)
    t0 = time.perf_counter()
    text = csv_path.read_bytes().decode("cp1252")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    next(reader)
    conn = store.conn
    profile_sql = (f"INSERT INTO profile (client_id, {', '.join(chr(34) + c.column + chr(34) for c in chars)})"
                   f" VALUES ({', '.join('?' * (len(chars) + 1))})")
    times_sql = (f"INSERT INTO profile_times (client_id, {', '.join(chr(34) + c.at_column + chr(34) for c in chars)})"
                 f" VALUES ({', '.join('?' * (len(chars) + 1))})")
    client_sql = ("INSERT INTO clients (id, client_number, first_name, last_name, email, phone, language,"
                  " preferred_channel, coach, intake_date, birth_date, created_at, updated_at, status)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active')")
    obs_sql = ("INSERT INTO observations (client_id, characteristic_id, value, observed_at, source, author)"
               " VALUES (?, ?, ?, ?, 'import', ?)")
    ids = [store.ids[c.key] for c in chars]
    now = "2026-01-01T00:00:00Z"
    conn.execute("BEGIN IMMEDIATE")
    clients, profiles, times, obs = [], [], [], []
    for cid, row in enumerate(reader, start=1):
        clients.append((cid, *row[:10], now, now))
        values = [raw or None for raw in row[10:]]
        profiles.append((cid, *values))
        times.append((cid, *(now if v else None for v in values)))
        obs += [(cid, ids[k], v, now, "bench") for k, v in enumerate(values) if v]
        if len(clients) >= 2000:
            conn.executemany(client_sql, clients)
            conn.executemany(profile_sql, profiles)
            conn.executemany(times_sql, times)
            conn.executemany(obs_sql, obs)
            clients, profiles, times, obs = [], [], [], []
    conn.executemany(client_sql, clients)
    conn.executemany(profile_sql, profiles)
    conn.executemany(times_sql, times)
    conn.executemany(obs_sql, obs)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed


def ours(csv_path: Path, db_path: Path) -> tuple[float, float, importer.ImportReport]:
    """Seconds for the import, seconds the write lock was held, and the report."""
    store, actor = fresh_store(db_path)
    lock = {}

    def trace(sql):
        if sql == "BEGIN IMMEDIATE" or (sql == "COMMIT" and "BEGIN IMMEDIATE" in lock):
            lock.setdefault(sql, time.perf_counter())

    store.conn.set_trace_callback(trace)
    t0 = time.perf_counter()
    report = importer.import_file(store, actor, csv_path)
    elapsed = time.perf_counter() - t0
    store.conn.set_trace_callback(None)
    store.close()
    return elapsed, lock["COMMIT"] - lock["BEGIN IMMEDIATE"], report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    csv_path = import_csv(args.clients)
    rounds = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as d:
            if r % 2 == 0:
                base = baseline(csv_path, Path(d) / "baseline.db")
                mine, locked, report = ours(csv_path, Path(d) / "import.db")
            else:
                mine, locked, report = ours(csv_path, Path(d) / "import.db")
                base = baseline(csv_path, Path(d) / "baseline.db")
        rounds.append((base, mine, locked))
        print(f"round {r + 1}: baseline {base:.1f} s, import {mine:.1f} s (write lock {locked:.1f} s),"
              f" ratio {mine / base:.2f}", flush=True)
    ratio = statistics.median(m / b for b, m, _ in rounds)
    base, mine, locked = (statistics.median(x[i] for x in rounds) for i in range(3))
    lines = [
        f"Import of {args.clients:,} clients x 80 characteristics from a semicolon/cp1252 CSV with Dutch labels,",
        f"dates, ja/nee and 06-numbers ({report.observations:,} observations written); medians of",
        f"{args.rounds} paired rounds, {', '.join(f'{m / b:.2f}' for b, m, _ in rounds)}.",
        "",
        "| run | seconds |",
        "|---|---|",
        f"| baseline: csv module + executemany, no parsing | {base:.1f} |",
        f"| `caseload import` (parse, validate, normalise, write) | {mine:.1f} |",
        f"| of which the write lock was held (the file checked before) | {locked:.1f} |",
        f"| ratio (median of the rounds' ratios) | {ratio:.2f}x (target: at most 4x and 30 s) |",
    ]
    print("\n".join(lines))
    write_section("Import", "\n".join(lines))


if __name__ == "__main__":
    main()
