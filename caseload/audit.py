"""The audit trail: append-only and hash-chained, so an edited, deleted or reordered entry
shows. Entries name objects by internal id ("client:42"), never by personal data.

Each entry's hash covers its own fields and the hash of the entry before it. A chain alone
cannot show that its last entries were cut off, so `audit_head` (one row, written in the same
transaction as every entry) keeps the count, the last id and hash, and a seal over itself.
An anchor (`ID:HASH`, printed by `caseload audit verify`) kept outside the database makes even
a consistent rewrite of the trail and its head visible.

The seal is an HMAC with the audit key (CASELOAD_AUDIT_KEY or keyring caseload:audit_key), so
someone who can write the database file but does not have the key cannot move the head: not its
end, and not its base, up to which retention pruned (`prune`, the only way entries go; the head
keeps the time of the newest pruned entry, and `check` reports a base younger than the retention
period, and an anchor behind a base it cannot trust). Without a key the seal is a plain SHA-256,
which anyone who knows the algorithm can recompute: `audit verify` says so. Once a head is sealed
with the key, a process without it records nothing (a misconfiguration, refused); a head that
lost its key seal is reported until an admin has checked the trail and run `caseload audit seal`.
"""

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from datetime import datetime, time

from . import access
from . import clock
from .clock import iso, utcnow
from .errors import BadInput, CaseloadError, NotFound
from .i18n import t
from .values import parse_date

log = logging.getLogger("caseload.audit")
FIELDS = ("at", "actor", "origin", "action", "object", "result")


def _hash(prev: str, at: str, actor: str, origin: str, action: str, obj: str, result: str) -> str:
    payload = "\x1f".join((prev, at, actor, origin, action, obj, result))
    return hashlib.sha256(payload.encode()).hexdigest()


KEYED = "k1:"
_keyring: dict = {}


def audit_key() -> bytes | None:
    """The HMAC key for the head, derived from the audit secret; None when none is configured.
    The environment is read every time, the keyring once per process."""
    secret = os.environ.get("CASELOAD_AUDIT_KEY")
    if not secret:
        if "secret" not in _keyring:
            from .secrets import get_secret

            _keyring["secret"] = get_secret("audit_key")
        secret = _keyring["secret"]
    return hmac.new(secret.encode(), b"caseload audit head v1", hashlib.sha256).digest() if secret else None


def _seal(entries: int, last_id: int, last_hash: str, base_id: int, base_hash: str, base_at: str = "",
          key: bytes | None = None) -> str:
    fields = ["head", str(entries), str(last_id), last_hash, str(base_id), base_hash]
    if base_at:
        fields.append(base_at)
    payload = "\x1f".join(fields).encode()
    if key is None:
        return hashlib.sha256(payload).hexdigest()
    return KEYED + hmac.new(key, payload, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Head:
    entries: int
    last_id: int
    last_hash: str
    base_id: int
    base_hash: str
    seal: str
    base_at: str = ""  # when the newest entry that retention pruned was written ("": none, or before 0010)

    def _expected(self, key: bytes | None) -> str:
        return _seal(self.entries, self.last_id, self.last_hash, self.base_id, self.base_hash, self.base_at, key)

    @property
    def keyed(self) -> bool:
        return self.seal.startswith(KEYED)

    def state(self, key: bytes | None) -> str:
        """sealed (as it should be for this key) | unkeyed (a valid seal without the key, while a key
        is configured) | no_key (sealed with a key that this process does not have) | changed."""
        if self.keyed:
            if key is None:
                return "no_key"
            return "sealed" if hmac.compare_digest(self.seal, self._expected(key)) else "changed"
        if self.seal == self._expected(None):
            return "sealed" if key is None else "unkeyed"
        return "changed"

    @property
    def intact(self) -> bool:
        return self.state(audit_key()) == "sealed"

    @property
    def anchor(self) -> str:
        """`ID:HASH` of the newest entry: keep it outside the database to check against later."""
        return f"{self.last_id}:{self.last_hash}"


def head(db) -> Head | None:
    conn = getattr(db, "conn", db)
    cols = {r[1] for r in conn.execute("PRAGMA table_info(audit_head)")}
    extra = ", base_at" if "base_at" in cols else ""  # before migration 0010
    row = conn.execute(f"SELECT entries, last_id, last_hash, base_id, base_hash, seal{extra} FROM audit_head"
                       " WHERE id = 1").fetchone()
    return Head(*row) if row else None


def init_head(conn) -> None:
    """Create the head for an existing trail (used by the migration that adds it)."""
    rows = conn.execute("SELECT COUNT(*), MAX(id) FROM audit").fetchone()
    entries, last_id = rows[0], rows[1] or 0
    last_hash = ""
    if last_id:
        last_hash = conn.execute("SELECT hash FROM audit WHERE id = ?", [last_id]).fetchone()[0]
    first = conn.execute("SELECT id, prev_hash FROM audit ORDER BY id LIMIT 1").fetchone()
    base_id, base_hash = (first[0] - 1, first[1]) if first else (0, "")
    conn.execute("INSERT INTO audit_head (id, entries, last_id, last_hash, base_id, base_hash, seal)"
                 " VALUES (1, ?, ?, ?, ?, ?, ?)",
                 [entries, last_id, last_hash, base_id, base_hash,
                  _seal(entries, last_id, last_hash, base_id, base_hash)])


def _write_head(conn, old: Head, entries: int, last_id: int, last_hash: str, base_id: int, base_hash: str,
                base_at: str | None = None) -> None:
    # an unkeyed head gets a plain seal whether or not a key is configured now (`audit seal` takes
    # the key on), so the key, which may mean a keyring lookup, is needed only for a keyed head
    key = audit_key() if old.keyed else None
    state = old.state(key)
    if state == "no_key":  # the trail is sealed with a key this process lacks: record nothing
        raise CaseloadError(t("audit.key_missing"))
    base_at = old.base_at if base_at is None else base_at
    # a head that was changed behind our back stays marked, so the next entry cannot hide it; one
    # that lost its key seal keeps a plain one (verify reports it until `audit seal`)
    if state == "changed":
        seal = old.seal if old.seal.startswith("broken:") else f"broken:{last_id}"
    else:
        seal = _seal(entries, last_id, last_hash, base_id, base_hash, base_at, key if state == "sealed" else None)
    conn.execute("UPDATE audit_head SET entries = ?, last_id = ?, last_hash = ?, base_id = ?, base_hash = ?,"
                 " seal = ?, base_at = ? WHERE id = 1", [entries, last_id, last_hash, base_id, base_hash, seal, base_at])


def record(db, actor, action: str, obj: str, result: str = "ok") -> None:
    """Append one entry. Call inside the write transaction of the change it describes.
    `db` is the store's Database (or its sqlite3 connection)."""
    conn = getattr(db, "conn", db)
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        h0 = head(conn)
        if h0 is None:
            raise CaseloadError(t("audit.head_missing"))
        at = utcnow()
        h = _hash(h0.last_hash, at, actor.name, actor.origin, action, obj, result)
        cur = conn.execute(
            "INSERT INTO audit (at, actor, origin, action, object, result, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, actor.name, actor.origin, action, obj, result, h0.last_hash, h),
        )
        _write_head(conn, h0, h0.entries + 1, cur.lastrowid, h, h0.base_id, h0.base_hash)
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")


def since(conn, last_id: int, last_hash: str) -> list[tuple] | None:
    """The raw entries after (last_id, last_hash), or None when this trail does not run through
    that entry (another database, or a rewritten trail)."""
    if last_id:
        row = conn.execute("SELECT hash FROM audit WHERE id = ?", [last_id]).fetchone()
        if row is None or row[0] != last_hash:
            return None
    return conn.execute("SELECT id, at, actor, origin, action, object, result, prev_hash, hash FROM audit"
                        " WHERE id > ? ORDER BY id", [last_id]).fetchall()


def carry(conn, rows: list[tuple]) -> int:
    """Append entries from another copy of this trail as they are (a restore keeps the trail of
    what happened after the backup). Each must follow on the head; returns how many."""
    h0 = head(conn)
    for id_, at, actor, origin, action, obj, result, p_hash, h in rows:
        if p_hash != h0.last_hash or id_ <= h0.last_id or _hash(p_hash, at, actor, origin, action, obj, result) != h:
            raise CaseloadError(t("audit.cannot_carry", entry=id_))
        conn.execute("INSERT INTO audit (id, at, actor, origin, action, object, result, prev_hash, hash)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (id_, at, actor, origin, action, obj, result, p_hash, h))
        _write_head(conn, h0, h0.entries + 1, id_, h, h0.base_id, h0.base_hash)
        h0 = head(conn)
    return len(rows)


@dataclass(frozen=True)
class Problem:
    """One finding of verify: kind names what happened, entry (and other) where."""

    kind: str
    entry: int = 0
    other: int = 0
    expected: str = ""
    found: str = ""

    def __str__(self) -> str:
        return t(f"audit.problem.{self.kind}", entry=self.entry, other=self.other,
                 expected=self.expected, found=self.found)


def parse_anchor(text: str) -> tuple[int, str]:
    entry, sep, digest = text.strip().partition(":")
    if not sep or not entry.isdigit() or len(digest) != 64:
        raise BadInput(t("audit.bad_anchor", anchor=text))
    return int(entry), digest.lower()


def check(db, anchors: list[str] = (), keep_years: int | None = None, now: datetime | None = None) -> list[Problem]:
    """Every problem in the trail, in order; empty when intact. Reads the whole trail once.
    keep_years: the retention period (config retention.audit_years); when given (and not 0),
    a base that retention could not have reached by now is reported."""
    conn = getattr(db, "conn", db)
    problems: list[Problem] = []
    h0 = head(conn)
    rows = conn.execute("SELECT id, at, actor, origin, action, object, result, prev_hash, hash"
                        " FROM audit ORDER BY id").fetchall()
    where = {r[8]: r[0] for r in rows}  # hash -> id, to tell a moved entry from a deleted one
    if h0 is None:
        problems.append(Problem("head_missing"))
        base_id, base_hash = (rows[0][0] - 1, rows[0][7]) if rows else (0, "")
    else:
        base_id, base_hash = h0.base_id, h0.base_hash
        state = h0.state(audit_key())
        if state == "changed":
            problems.append(Problem("head_changed", entry=h0.last_id,
                                    other=int(h0.seal.split(":")[1]) if h0.seal.startswith("broken:") else 0))
        elif state != "sealed":
            problems.append(Problem(f"head_{state}"))
        if h0.base_at and keep_years:
            cutoff = iso(_years_before(clock.now(now), keep_years))
            if h0.base_at >= cutoff:
                problems.append(Problem("pruned_young", entry=h0.base_id, found=h0.base_at))
    prev_id, prev_hash = base_id, base_hash
    for id_, at, actor, origin, action, obj, result, p_hash, h in rows:
        if _hash(p_hash, at, actor, origin, action, obj, result) != h:
            problems.append(Problem("changed", entry=id_))
        if p_hash != prev_hash:
            if p_hash in where and where[p_hash] != id_:
                problems.append(Problem("moved", entry=id_, other=where[p_hash]))
            elif prev_id == base_id:
                problems.append(Problem("first_deleted", entry=base_id + 1, other=id_))
            elif id_ > prev_id + 1:
                problems.append(Problem("deleted", entry=prev_id + 1, other=id_ - 1))
            else:
                problems.append(Problem("broken", entry=id_, other=prev_id))
        elif id_ != prev_id + 1:
            problems.append(Problem("renumbered", entry=id_, other=prev_id))
        prev_id, prev_hash = id_, h
    if h0 is not None:
        last_id = rows[-1][0] if rows else base_id
        if last_id < h0.last_id:
            problems.append(Problem("tail_deleted", entry=last_id + 1, other=h0.last_id))
        elif last_id != h0.last_id or prev_hash != h0.last_hash:
            problems.append(Problem("head_mismatch", entry=h0.last_id, other=last_id))
        if len(rows) != h0.entries:
            problems.append(Problem("count", expected=str(h0.entries), found=str(len(rows))))
    by_id = {r[0]: r[8] for r in rows}
    trusted_base = h0 is not None and not problems
    for text in anchors:
        entry, digest = parse_anchor(text)
        if entry <= base_id:
            if not trusted_base:  # only retention prunes, and only a sealed head says it did
                problems.append(Problem("anchor_pruned", entry=entry, other=base_id))
            continue
        if by_id.get(entry) != digest:
            problems.append(Problem("anchor", entry=entry))
    return problems


def verify(db, anchors: list[str] = (), keep_years: int | None = None) -> list[str]:
    """Problems found in the trail, each naming the entry (in the current language); empty when intact."""
    problems = check(db, anchors, keep_years)
    for p in problems:
        log.warning("audit trail: %s at entry %d (%d)", p.kind, p.entry, p.other)
    return [str(p) for p in problems]


def prune(conn, before: str) -> int:
    """Delete entries older than `before` (UTC ISO) inside the caller's transaction; the head's
    base moves past them, so the trail still verifies. Returns how many were deleted."""
    h0 = head(conn)
    if h0 is None:
        raise CaseloadError(t("audit.head_missing"))
    # the newest entry always stays: it carries the chain on
    row = conn.execute("SELECT id, hash FROM audit WHERE at < ? AND id < ? ORDER BY id DESC LIMIT 1",
                       [before, h0.last_id]).fetchone()
    if row is None or row[0] <= h0.base_id:
        return 0
    n, base_at = conn.execute("SELECT COUNT(*), MAX(at) FROM audit WHERE id <= ?", [row[0]]).fetchone()
    _write_head(conn, h0, h0.entries - n, h0.last_id, h0.last_hash, row[0], row[1], base_at)
    conn.execute("DELETE FROM audit WHERE id <= ?", [row[0]])
    return n


def seal(store, actor) -> Head:
    """`caseload audit seal`: seal the head with the audit key, after checking the whole trail
    (the only problem allowed is a head without the key's seal). Admins only; audited."""
    access.require_admin(actor)
    key = audit_key()
    if key is None:
        raise CaseloadError(t("audit.no_key"))
    conn = store.db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        problems = [p for p in check(conn, keep_years=store.config.retention.audit_years) if p.kind != "head_unkeyed"]
        if problems:
            raise CaseloadError(t("audit.cannot_seal", problem=str(problems[0])))
        record(conn, actor, "audit_seal", "audit")
        h = head(conn)
        conn.execute("UPDATE audit_head SET seal = ? WHERE id = 1", [h._expected(key)])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return head(conn)


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def entries(db, objects: list[str] | None = None, actor: str | None = None, since: str | None = None,
            after_id: int = 0, limit: int | None = None) -> list[dict]:
    """Entries, oldest first, filtered by object(s), acting user and time (UTC ISO)."""
    sql = "SELECT id, at, actor, origin, action, object, result FROM audit WHERE id > ?"
    args: list = [after_id]
    if objects is not None:
        sql += f" AND object IN ({', '.join('?' * len(objects))})"
        args += objects
    if actor is not None:
        sql += " AND actor = ?"
        args.append(actor)
    if since is not None:
        sql += " AND at >= ?"
        args.append(since)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    cols = ("id", *FIELDS)
    return [dict(zip(cols, r)) for r in db.execute(sql, args)]


def trail(store, actor, client: str | None = None, user: str | None = None, since: str | None = None,
          limit: int | None = None) -> list[dict]:
    """`caseload audit`: entries, oldest first; admins only, and the look is audited itself.

    client is a client number (or `client:<id>` for an erased one): a current client's entries
    start after the last erasure of its internal id, which SQLite may hand out again.
    since is a date (31-12-2024 or 2024-12-31), meaning local midnight."""
    access.require_admin(actor)
    objects, after = None, 0
    if client is not None:
        if client.startswith("client:") and client[7:].isdigit():
            objects = [client]
        else:
            row = store.db.execute("SELECT id FROM clients WHERE client_number = ?", [client]).fetchone()
            if row is None:
                raise NotFound(t("client.not_found", number=client))
            objects = [f"client:{row[0]}"]
            erased = store.db.execute("SELECT MAX(id) FROM audit WHERE object = ? AND action IN"
                                      " ('forget', 'retention_erase')", objects).fetchone()[0]
            after = erased or 0
    since_utc = None
    if since is not None:
        try:
            day = parse_date(since)
        except ValueError as e:
            raise BadInput(t("audit.bad_since", reason=str(e))) from None
        local = datetime.combine(day, time(0), tzinfo=store.tz)
        since_utc = iso(local)
    rows = entries(store.db, objects, user, since_utc, after_id=after, limit=limit)
    record(store.db, actor, "view_audit", "audit")
    return rows
