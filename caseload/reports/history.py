"""Characteristics as they were on a given day, from the observation history (not today's
profile): what matching needs to compare clients as they were when an intervention began."""

import itertools

import numpy as np

from .coding import coder

SECOND_BITS = 32  # seconds since 1970 fit in 32 bits until 2106
CODE_BITS = 4     # every code is below 16 (the widest: a 0-10 scale, 12 codes)


def to_days(iso: list[str | None] | np.ndarray) -> np.ndarray:
    """ISO dates or timestamps -> days since 1970 (int64); missing -> a large sentinel."""
    arr = np.array([s[:10] if s else "NaT" for s in iso], dtype="datetime64[D]")
    days = arr.astype(np.int64)
    days[np.isnat(arr)] = np.iinfo(np.int64).max // 4
    return days


def codes_as_of(store, keys: list[str], clients: np.ndarray, days: np.ndarray, ref,
                coarse: bool = True) -> np.ndarray:
    """For each (client, day) pair the code of each key's latest observation on or before that
    day (0 when there was none). Returns an int64 array (len(clients) x len(keys))."""
    out = np.zeros((len(clients), len(keys)), dtype=np.int64)
    if not keys or not len(clients):
        return out
    chars = [store.catalog[k] for k in keys]
    coders = [coder(c, "value", ref, coarse=coarse) for c in chars]
    ids = [store.ids[k] for k in keys]
    # one integer per observation: client | seconds | key index | code, unpacked by numpy
    k_bits = max(1, (len(keys) - 1).bit_length())
    c_bits = max(1, int(store.conn.execute("SELECT max(id) FROM clients").fetchone()[0] or 1).bit_length())
    if c_bits + SECOND_BITS + k_bits + CODE_BITS > 63:
        raise ValueError("client ids too large to pack")
    cases = " ".join(f"WHEN {i} THEN {j << CODE_BITS} | ({cd.expr} & {(1 << CODE_BITS) - 1})"
                     for j, (i, cd) in enumerate(zip(ids, coders)))
    after_last = str(np.datetime64(int(days.max()) + 1, "D"))  # nothing observed later can matter
    cur = store.conn.execute(
        f"SELECT ((client_id << {SECOND_BITS}) | ifnull(unixepoch(observed_at), 0)) << {k_bits + CODE_BITS}"
        f" | CASE characteristic_id {cases} ELSE 0 END"
        f" FROM observations WHERE characteristic_id IN ({', '.join(map(str, ids))}) AND observed_at < ?"
        " ORDER BY client_id, characteristic_id, observed_at, seq", [after_last])
    packed = np.fromiter(itertools.chain.from_iterable(cur), dtype=np.int64)
    if not len(packed):
        return out
    code = packed & ((1 << CODE_BITS) - 1)
    key_index = (packed >> CODE_BITS) & ((1 << k_bits) - 1)
    stamp = packed >> (k_bits + CODE_BITS)  # client << 32 | seconds, as the lookup wants
    query = clients.astype(np.int64) << SECOND_BITS | (days.astype(np.int64) * 86400 + 86399)
    for j in range(len(ids)):
        sel = key_index == j
        if not sel.any():
            continue
        keyed = stamp[sel]
        order = np.argsort(keyed, kind="stable")  # the same second: the higher seq wins
        keyed, kcode = keyed[order], code[sel][order]
        idx = np.searchsorted(keyed, query, side="right") - 1
        found = idx >= 0
        idx = np.where(found, idx, 0)
        found &= (keyed[idx] >> SECOND_BITS) == clients
        out[:, j] = np.where(found, kcode[idx], 0)
    return out
