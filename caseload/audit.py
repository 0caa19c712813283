"""The audit trail: append-only and hash-chained, so an edited, deleted or reordered entry
shows. Entries name objects by internal id, never by personal data."""

import hashlib

from .db import utcnow


def _hash(prev: str, at: str, actor: str, origin: str, action: str, obj: str, result: str) -> str:
    payload = "\x1f".join((prev, at, actor, origin, action, obj, result))
    return hashlib.sha256(payload.encode()).hexdigest()


def record(db, actor, action: str, obj: str, result: str = "ok") -> None:
    """Append one entry. Call inside the write transaction of the change it describes."""
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        prev = row[0] if row else ""
        at = utcnow()
        h = _hash(prev, at, actor.name, actor.origin, action, obj, result)
        conn.execute(
            "INSERT INTO audit (at, actor, origin, action, object, result, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, actor.name, actor.origin, action, obj, result, prev, h),
        )
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")


def verify(db) -> list[str]:
    """Problems found in the chain, each naming the entry; empty when intact."""
    problems = []
    prev = ""
    last_id = 0
    for row in db.execute("SELECT id, at, actor, origin, action, object, result, prev_hash, hash FROM audit ORDER BY id"):
        id_, at, actor, origin, action, obj, result, prev_hash, h = row
        if id_ != last_id + 1:
            problems.append(f"entries {last_id + 1}..{id_ - 1} are missing")
        if prev_hash != prev:
            problems.append(f"entry {id_} does not follow the entry before it (deleted or reordered)")
        if _hash(prev_hash, at, actor, origin, action, obj, result) != h:
            problems.append(f"entry {id_} was changed")
        prev, last_id = h, id_
    return problems
