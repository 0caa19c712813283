"""Characteristics as they were on a given day, from the observation history (not today's
profile): what matching needs to compare clients as they were when an intervention began.

One read of the queried clients' observations before the last day, in primary-key order (client,
characteristic, observed_at, seq), through the client index: SQLite codes each row and hands
back one comma-separated string per chunk of clients (cheaper than a Python tuple per row), and
numpy takes the last row per client and characteristic. Timestamps are stored as clock.FORMAT,
which sorts as time does. bench/bench_reports.py times it against the latest values."""

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .coding import coder
from .scan import _connect_ro, _free_cores

SECOND_BITS = 32  # seconds since 1970 fit in 32 bits until 2106
CODE_BITS = 4     # every code is below 16 (the widest: a 0-10 scale, 12 codes)
CHUNK = 10_000    # clients per read: the string stays a few MB
OWN_CONNECTION_FROM = 20_000  # clients; from here a memory-mapped read-only connection is faster


def to_days(iso: list[str | None] | np.ndarray) -> np.ndarray:
    """ISO dates or timestamps -> days since 1970 (int64); missing -> a large sentinel."""
    arr = np.array([s[:10] if s else "NaT" for s in iso], dtype="datetime64[D]")
    days = arr.astype(np.int64)
    days[np.isnat(arr)] = np.iinfo(np.int64).max // 4
    return days


def _code_sql(ids: list[int], leaves: list[str]) -> str:
    """CASE on characteristic_id as a binary search over the sorted ids (a flat CASE of 80 WHENs
    costs SQLite ~40 comparisons a row); NULL for any other id, which group_concat skips."""
    if len(ids) == 1:
        return f"CASE characteristic_id WHEN {ids[0]} THEN {leaves[0]} END"
    m = len(ids) // 2
    return (f"CASE WHEN characteristic_id < {ids[m]} THEN {_code_sql(ids[:m], leaves[:m])}"
            f" ELSE {_code_sql(ids[m:], leaves[m:])} END")


def _read(store, sql: str, clients: np.ndarray, before: str) -> np.ndarray:
    """The packed rows of `sql` for the sorted unique `clients`, in key order: chunk by chunk,
    on as many connections at once as there are free cores (as scan.scan_codes)."""
    def part(conn, ids: np.ndarray) -> list[np.ndarray]:
        out = []
        for lo in range(0, len(ids), CHUNK):
            text, count = conn.execute(sql, [json.dumps(ids[lo:lo + CHUNK].tolist()), before]).fetchone()
            if count:
                codes = np.fromstring(text, dtype=np.int64, sep=",")
                if len(codes) != count:
                    raise sqlite3.DatabaseError("observation codes not read to the end")
                out.append(codes)
        return out

    def own(ids: np.ndarray) -> list[np.ndarray]:
        conn = _connect_ro(store.path)
        try:
            return part(conn, ids)
        finally:
            conn.close()

    if store.path is None or len(clients) < OWN_CONNECTION_FROM:
        parts = part(store.conn, clients)
    else:
        workers = min(_free_cores(), -(-len(clients) // CHUNK))
        with ThreadPoolExecutor(workers) as pool:
            parts = [p for got in pool.map(own, np.array_split(clients, workers)) for p in got]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def codes_as_of(store, keys: list[str], clients: np.ndarray, days: np.ndarray, ref,
                coarse: bool = True) -> np.ndarray:
    """For each (client, day) pair the code of each key's latest observation on or before that
    day (0 when there was none). Returns an int64 array (len(clients) x len(keys))."""
    out = np.zeros((len(clients), len(keys)), dtype=np.int64)
    if not keys or not len(clients):
        return out
    if len(set(keys)) < len(keys):  # one key twice would match only one of its two columns
        distinct = list(dict.fromkeys(keys))
        return codes_as_of(store, distinct, clients, days, ref, coarse)[:, [distinct.index(k) for k in keys]]
    clients, days = np.asarray(clients, dtype=np.int64), np.asarray(days, dtype=np.int64)
    # column j of the packed codes is the j-th key by characteristic id, the table's order
    by_id = sorted(range(len(keys)), key=lambda i: store.ids[keys[i]])
    ids = [store.ids[keys[i]] for i in by_id]
    coders = [coder(store.catalog[keys[i]], "value", ref, coarse=coarse) for i in by_id]
    one_day = bool((days == days[0]).all())
    k_bits = max(1, (len(keys) - 1).bit_length())
    t_bits = 0 if one_day else SECOND_BITS
    c_bits = max(1, int(clients.max()).bit_length())
    if c_bits + k_bits + t_bits + CODE_BITS > 63:
        raise ValueError("client ids too large to pack")
    # one integer per observation: client | key column | [seconds |] code
    stamp = f"<< {SECOND_BITS} | ifnull(unixepoch(observed_at), 0)" if t_bits else ""
    leaves = [f"(((client_id << {k_bits} | {j}){stamp}) << {CODE_BITS}) | ({cd.expr} & {(1 << CODE_BITS) - 1})"
              for j, cd in enumerate(coders)]
    code = _code_sql(ids, leaves)
    # a few keys: SQLite skips the other rows before coding them; most keys: the CASE is cheaper
    few = f" AND characteristic_id IN ({', '.join(map(str, ids))})" if 2 * len(ids) < len(store.ids) else ""
    sql = (f"SELECT group_concat(code), count(code) FROM (SELECT {code} AS code FROM observations"
           f" WHERE client_id IN (SELECT value FROM json_each(?)){few} AND observed_at < ?"
           " ORDER BY client_id, characteristic_id, observed_at, seq)")
    after_last = str(np.datetime64(int(days.max()) + 1, "D"))  # nothing observed later can matter
    unique, inverse = np.unique(clients, return_inverse=True)
    packed = _read(store, sql, unique, after_last)
    if not len(packed):
        return out
    column = np.array(by_id, dtype=np.int64)
    if one_day:
        # the day's filter was the SQL's: the last row of each client and key is the one
        group = packed >> CODE_BITS
        last = np.ones(len(group), dtype=bool)
        last[:-1] = group[1:] != group[:-1]
        group, codes = group[last], packed[last] & ((1 << CODE_BITS) - 1)
        found = np.zeros((len(unique), len(keys)), dtype=np.int64)
        found[np.searchsorted(unique, group >> k_bits), column[group & ((1 << k_bits) - 1)]] = codes
        return found[inverse]
    stamps = packed >> CODE_BITS  # (client | key column) << 32 | seconds
    codes = packed & ((1 << CODE_BITS) - 1)
    if len(stamps) > 1 and (stamps[1:] < stamps[:-1]).any():  # a stamp not in clock.FORMAT; ties keep row order
        order = np.argsort(stamps, kind="stable")
        stamps, codes = stamps[order], codes[order]
    j = np.arange(len(keys), dtype=np.int64)
    query = (((clients[:, None] << k_bits) | j) << SECOND_BITS) | (days * 86400 + 86399)[:, None]
    idx = np.searchsorted(stamps, query.ravel(), side="right") - 1
    hit = idx >= 0
    idx = np.where(hit, idx, 0)
    hit &= (stamps[idx] >> SECOND_BITS) == (query.ravel() >> SECOND_BITS)
    out[:, column] = np.where(hit, codes[idx], 0).reshape(len(clients), len(keys))
    return out
