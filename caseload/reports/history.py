"""Characteristics as they were on a given day, from the observation history (not today's
profile): what matching needs to compare clients as they were when an intervention began."""

import numpy as np

from .coding import coder

SECOND_BITS = 32  # seconds since 1970 fit in 32 bits until 2106


def to_days(iso: list[str | None] | np.ndarray) -> np.ndarray:
    """ISO dates or timestamps -> days since 1970 (int64); missing -> a large sentinel."""
    arr = np.array([s[:10] if s else "NaT" for s in iso], dtype="datetime64[D]")
    days = arr.astype(np.int64)
    days[np.isnat(arr)] = np.iinfo(np.int64).max // 4
    return days


def to_seconds(stamps) -> np.ndarray:
    """UTC ISO timestamps (YYYY-MM-DDTHH:MM:SSZ) -> seconds since 1970."""
    arr = np.array([s[:19] for s in stamps], dtype="datetime64[s]")
    return arr.astype(np.int64)


def codes_as_of(store, keys: list[str], clients: np.ndarray, days: np.ndarray, ref) -> np.ndarray:
    """For each (client, day) pair the coarse code of each key's latest observation on or before
    that day (0 when there was none). Returns an int64 array (len(clients) x len(keys))."""
    out = np.zeros((len(clients), len(keys)), dtype=np.int64)
    if not keys or not len(clients):
        return out
    chars = [store.catalog[k] for k in keys]
    coders = [coder(c, "value", ref, coarse=True) for c in chars]
    ids = [store.ids[k] for k in keys]
    cases = " ".join(f"WHEN {i} THEN {cd.expr}" for i, cd in zip(ids, coders))
    rows = store.conn.execute(
        f"SELECT client_id, characteristic_id, CASE characteristic_id {cases} ELSE 0 END, observed_at"
        f" FROM observations WHERE characteristic_id IN ({', '.join(map(str, ids))})"
        " ORDER BY client_id, characteristic_id, observed_at, seq").fetchall()
    if not rows:
        return out
    cid, chid, code, at = zip(*rows)
    cid = np.array(cid, dtype=np.int64)
    chid = np.array(chid, dtype=np.int64)
    code = np.array(code, dtype=np.int64)
    obs_at = to_seconds(at)
    query = clients.astype(np.int64) << SECOND_BITS | (days.astype(np.int64) * 86400 + 86399)
    for j, char_id in enumerate(ids):
        sel = chid == char_id
        if not sel.any():
            continue
        keyed = cid[sel] << SECOND_BITS | obs_at[sel]
        order = np.argsort(keyed, kind="stable")  # the same second: the higher seq wins
        keyed, kcode = keyed[order], code[sel][order]
        idx = np.searchsorted(keyed, query, side="right") - 1
        found = idx >= 0
        idx = np.where(found, idx, 0)
        found &= (keyed[idx] >> SECOND_BITS) == clients
        out[:, j] = np.where(found, kcode[idx], 0)
    return out
