"""One scan over clients and their profile that returns a small integer code per client for
each of many expressions.

Fetching 80 values per client through Python costs about 1.6 s per 100,000 clients; here SQLite
packs the codes into a few 62-bit integers per client (mixed radix), numpy unpacks them, and
large tables are read through a memory-mapped connection, in client-id ranges on several at once
when cores are free (the sqlite3 module releases the GIL while SQLite works). See
bench/bench_reports.py."""

import itertools
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .common import FROM_SQL as FROM

WORD = 1 << 62
PARALLEL_FROM = 40_000  # profile rows; below this one connection is faster


def _words(cards: list[int]) -> list[list[tuple[int, int]]]:
    """Group expression indexes into words whose radix product fits in 62 bits."""
    words, current, mult = [], [], 1
    for i, card in enumerate(cards):
        if card >= WORD:
            raise ValueError("code range too large")
        if mult * card >= WORD:
            words.append(current)
            current, mult = [], 1
        current.append((i, mult))
        mult *= card
    if current:
        words.append(current)
    return words


def _run(conn, sql: str, params: list, width: int) -> np.ndarray:
    flat = np.fromiter(itertools.chain.from_iterable(conn.execute(sql, params)), dtype=np.int64)
    return flat.reshape(-1, width)


def _free_cores() -> int:
    """Scan in parallel only on cores nobody else is using: measured on a busy 2-core machine, two
    threads took longer than one (and 25% more CPU)."""
    cores = min(4, os.cpu_count() or 1)
    try:
        busy = os.getloadavg()[0]
    except OSError:
        return cores
    return max(1, min(cores, int(cores - busy + 0.5)))


def _connect_ro(path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA query_only = 1")
    conn.execute("PRAGMA mmap_size = 17179869184")  # read pages in place: ~20% less CPU than copying them
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def scan_codes(store, exprs: list[str], cards: list[int], where: str, params: list,
               workers: int | None = None) -> np.ndarray:
    """Codes (n_clients x len(exprs), int64), one row per client matching `where` over
    `clients` and `profile`. Each expression must give an integer in 0 .. card - 1."""
    words = _words(cards)
    selects = [" + ".join(f"({exprs[i]}) * {m}" for i, m in word) for word in words]
    sql = f"SELECT {', '.join(selects)} FROM {FROM} WHERE ({where})"
    lo, hi, count = store.conn.execute("SELECT min(client_id), max(client_id), count(*) FROM profile").fetchone()
    if count is None or count < PARALLEL_FROM or store.path is None:
        packed = _run(store.conn, sql, params, len(words))
    else:
        workers = workers or _free_cores()
        step = (hi - lo) // workers + 1
        bounds = [(lo + i * step, min(hi, lo + (i + 1) * step - 1)) for i in range(workers)]
        ranged = sql + " AND profile.client_id BETWEEN ? AND ?"

        def part(bound):
            conn = _connect_ro(store.path)
            try:
                return _run(conn, ranged, [*params, *bound], len(words))
            finally:
                conn.close()

        if workers == 1:
            parts = [part(bounds[0])]
        else:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(part, bounds))
        parts = [p for p in parts if len(p)]
        packed = np.concatenate(parts) if parts else np.zeros((0, len(words)), dtype=np.int64)
    out = np.zeros((len(packed), len(exprs)), dtype=np.int64)
    for w, word in enumerate(words):
        col = packed[:, w].copy() if len(packed) else np.zeros(0, dtype=np.int64)
        for i, _ in word:
            out[:, i] = col % cards[i]
            col //= cards[i]
    return out
