"""Erasure: `caseload client forget N` removes a client's personal data and history from every
table, and keeps only the audit fact that it happened.

Which tables hold a client is found at run time, so tables added later are covered without
changes here: every table with a `client_id` column or a foreign key to `clients`, and every
table whose foreign key points at a row being deleted (a reply that belongs to a message of
the client, say). A final check looks for leftovers (rows still pointing at the client, and
the client's number, email, phone or full name anywhere in the text of a table that holds no
client's rows) and rolls everything back if it finds one, naming the table and column.

Texts that name clients on purpose are scrubbed first (`SCRUBBED`): a saved segment
`name != "Jan Jansen"` or `client_number = 100042`, its description, and the segment of a
campaign or a check-in schedule. The client's value becomes "(gewist)" ("(erased)"), a value no
client has, so an expression keeps its meaning for everyone else and still parses.

Deleted bytes: the database runs with `PRAGMA secure_delete = ON`, so freed space is zeroed,
and after the change the WAL is checkpointed and truncated, so the old pages leave the files.
"""

import re
import logging
from collections import defaultdict
from dataclasses import dataclass

from . import access, audit
from .db import write_transaction
from .errors import CaseloadError, NotFound
from .i18n import t

log = logging.getLogger("caseload.erasure")
NEVER_TOUCHED = {"audit", "audit_head", "_sqlite_migrations"}
NO_VALUE_CHECK = {"characteristics", "users"}
TEXT_TYPES = ("", "TEXT", "ANY", "BLOB")
# (table, column, kind): segment expressions, and free text about the segment
SCRUBBED = (("segments", "expression", "segment"), ("segments", "description", "text"),
            ("campaigns", "segment", "segment"), ("checkin_schedules", "segment", "segment"))
MIN_SUBSTRING = 4  # shorter values (a client number "7") are only found as a whole value


@dataclass
class Step:
    table: str
    predicates: list[str]
    depth: int

    @property
    def where(self) -> str:
        return " OR ".join(f"({p})" for p in self.predicates)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(conn) -> list[str]:
    rows = conn.execute("PRAGMA main.table_list").fetchall()
    return sorted(r[1] for r in rows
                  if r[0] == "main" and r[2] in ("table", "virtual") and not r[1].startswith("sqlite_")
                  and r[1] not in NEVER_TOUCHED)


def _columns(conn, table: str) -> list[tuple[str, str]]:
    return [(r[1], (r[2] or "").upper()) for r in conn.execute(f"PRAGMA main.table_xinfo({quote(table)})")]


def _pk(conn, table: str) -> str:
    pks = [r[1] for r in conn.execute(f"PRAGMA main.table_info({quote(table)})") if r[5]]
    return pks[0] if len(pks) == 1 else "rowid"


def plan(conn) -> list[Step]:
    """Every table that can hold rows of a client, children before parents."""
    tables = _tables(conn)
    fks = {tb: conn.execute(f"PRAGMA main.foreign_key_list({quote(tb)})").fetchall() for tb in tables}
    steps: dict[str, Step] = {"clients": Step("clients", ["id IN (SELECT id FROM temp.forget_ids)"], 0)}
    for tb in tables:
        if tb == "clients":
            continue
        cols = {c for c, _ in _columns(conn, tb)}
        direct = {"client_id"} & cols
        direct |= {fk[3] for fk in fks[tb] if fk[2] == "clients"}
        if direct:
            steps[tb] = Step(tb, [f"{quote(c)} IN (SELECT id FROM temp.forget_ids)" for c in sorted(direct)], 1)
    for _ in range(len(tables)):  # follow foreign keys down until nothing new turns up
        changed = False
        for tb in tables:
            for fk in fks[tb]:
                parent, col, pcol = fk[2], fk[3], fk[4]
                if parent not in steps or parent == tb or tb == "clients":
                    continue
                pcol = pcol or _pk(conn, parent)
                pred = f"{quote(col)} IN (SELECT {quote(pcol)} FROM {quote(parent)} WHERE {steps[parent].where})"
                step = steps.setdefault(tb, Step(tb, [], 0))
                if pred not in step.predicates:
                    step.predicates.append(pred)
                    changed = True
                if step.depth <= steps[parent].depth:
                    step.depth = steps[parent].depth + 1
                    changed = True
        if not changed:
            break
    return sorted(steps.values(), key=lambda s: (-s.depth, s.table))


def _values(conn) -> list[str]:
    """The client's identifying values, as they may have been copied elsewhere."""
    out = set()
    for number, email, phone, first, last in conn.execute(
            "SELECT client_number, email, phone, first_name, last_name FROM clients"
            " WHERE id IN (SELECT id FROM temp.forget_ids)"):
        out.update(v for v in (number, email, phone) if v)
        if email:
            out.add(email.lower())
        if phone and phone.startswith("+31"):
            out.add("0" + phone[3:])
        if first and last:
            out.add(f"{first} {last}")
    return sorted(out)


class Matcher:
    """Finds a client's values in text: a whole value in any case, and a value of MIN_SUBSTRING
    characters or more as a word of its own anywhere in a text (not inside a longer number or
    word: "100042" is not in "1000421")."""

    def __init__(self, values: list[str]):
        self.values = {v.casefold() for v in values}
        long = sorted((v for v in values if len(v) >= MIN_SUBSTRING), key=len, reverse=True)
        self.pattern = re.compile(r"(?<![0-9A-Za-z\u00c0-\u024f])(?:" + "|".join(re.escape(v) for v in long)
                                  + r")(?![0-9A-Za-z\u00c0-\u024f])", re.IGNORECASE) if long else None

    def whole(self, text) -> bool:
        return text is not None and str(text).casefold() in self.values

    def found(self, text) -> bool:
        if not isinstance(text, str):
            return self.whole(text)
        return self.whole(text) or (self.pattern is not None and self.pattern.search(text) is not None)

    def replace(self, text: str, marker: str) -> str:
        if self.whole(text):
            return marker
        return self.pattern.sub(marker, text) if self.pattern is not None else text

    def replace_in_segment(self, text: str, marker: str) -> str:
        """A segment expression with the client's values replaced by the marker as a quoted string:
        inside a string literal the value is replaced; a bare number or word when it is the value
        of an identifying field (`client_number = 100042`). It still parses."""
        from .segments import FIELD_ALIASES, IDENTIFYING, SegmentError, _tokens

        try:
            tokens = _tokens(text)
        except SegmentError:
            return self.replace(text, marker)
        identifying = {*IDENTIFYING, *(a for a, f in FIELD_ALIASES.items() if f in IDENTIFYING)}
        out, last, subject = [], 0, None
        for tok in tokens:
            new = None
            if tok.kind == "string":
                if self.found(tok.value):
                    new = _quoted(self.replace(tok.value, marker))
            elif tok.kind in ("number", "word") and tok.keyword is None:
                if subject in identifying and self.whole(tok.text):
                    new = _quoted(marker)
                elif tok.kind == "word":
                    subject = tok.text.casefold()  # what the next condition is about
            if new is not None:
                out += [text[last:tok.pos], new]
                last = tok.pos + len(tok.text)
        out.append(text[last:])
        return "".join(out)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scrub(conn, matcher: Matcher) -> int:
    """Replace the client's values in the texts of SCRUBBED; returns how many texts changed."""
    marker = t("erasure.marker")
    tables = {r[1] for r in conn.execute("PRAGMA main.table_list")}
    changed = 0
    for table, column, kind in SCRUBBED:
        if table not in tables:
            continue
        for rowid, text in conn.execute(f"SELECT rowid, {quote(column)} FROM {quote(table)}"
                                        f" WHERE {quote(column)} IS NOT NULL").fetchall():
            if not isinstance(text, str):
                continue
            new = matcher.replace_in_segment(text, marker) if kind == "segment" else matcher.replace(text, marker)
            if new != text:
                conn.execute(f"UPDATE {quote(table)} SET {quote(column)} = ? WHERE rowid = ?", [new, rowid])
                changed += 1
    return changed


def _leftovers(conn, steps: list[Step], matcher: Matcher) -> tuple[list[str], list[str]]:
    """Tables with rows still pointing at the client, and columns holding the client's values in
    their text, in tables that hold no client's rows (a list of addresses, a cache, a template). In
    tables of client rows the same value may be another client's own (a shared email in a
    household): that is theirs, not a copy."""
    rows = [step.table for step in steps
            if conn.execute(f"SELECT 1 FROM {quote(step.table)} WHERE {step.where} LIMIT 1").fetchone()]
    texts = []
    planned = {step.table for step in steps}
    for tb in _tables(conn):
        if tb in NO_VALUE_CHECK or tb in planned:
            continue
        cols = [c for c, ty in _columns(conn, tb) if ty in TEXT_TYPES or "CHAR" in ty or "CLOB" in ty]
        if not cols:
            continue
        # SQLite narrows the rows down (a whole value, or a value inside in ASCII case); the
        # matcher decides (a value as a word of its own, in any case)
        cond = " OR ".join(f"{quote(c)} IN (SELECT v FROM temp.forget_values) OR EXISTS (SELECT 1 FROM"
                           f" temp.forget_values WHERE length(v) >= {MIN_SUBSTRING} AND"
                           f" instr(lower(CAST({quote(c)} AS TEXT)), lower(v)) > 0)" for c in cols)
        for row in conn.execute(f"SELECT {', '.join(quote(c) for c in cols)} FROM {quote(tb)} WHERE {cond}"):
            hit = next((c for c, v in zip(cols, row) if matcher.found(v)), None)
            if hit is not None:
                texts.append(f"{tb}.{hit}")
                break
    return rows, texts


def erase(conn, actor, ids: list[int], action: str = "forget") -> dict[str, int]:
    """Delete the clients with these internal ids and everything of theirs, inside the caller's
    write transaction; audits one entry per client. Returns rows deleted per table."""
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS forget_ids (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS forget_values (v TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.forget_ids")
    conn.execute("DELETE FROM temp.forget_values")
    conn.executemany("INSERT OR IGNORE INTO temp.forget_ids (id) VALUES (?)", [(i,) for i in ids])
    conn.executemany("INSERT OR IGNORE INTO temp.forget_values (v) VALUES (?)", [(v,) for v in _values(conn)])
    steps = plan(conn)
    deleted: dict[str, int] = defaultdict(int)
    for step in steps:
        deleted[step.table] += conn.execute(f"DELETE FROM {quote(step.table)} WHERE {step.where}").rowcount
    for step in steps:  # a full-text index keeps the tokens of deleted rows until it is merged
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [step.table]).fetchone()[0] or ""
        if deleted[step.table] and re.search(r"USING\s+fts[345]", sql, re.IGNORECASE):
            conn.execute(f"INSERT INTO {quote(step.table)} ({quote(step.table)}) VALUES ('optimize')")
    matcher = Matcher([v for (v,) in conn.execute("SELECT v FROM temp.forget_values")])
    scrub(conn, matcher)
    touched = [tb for tb, n in deleted.items() if n]
    for stat in ("sqlite_stat4", "sqlite_stat3"):  # ANALYZE's samples are copies of index keys
        if touched and conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [stat]).fetchone():
            conn.execute(f"DELETE FROM {stat} WHERE tbl IN ({', '.join('?' * len(touched))})", touched)
    rows, texts = _leftovers(conn, steps, matcher)
    if rows:
        raise CaseloadError(t("erasure.leftover", places=", ".join(f"{tb}.client_id" for tb in rows)))
    if texts:
        raise CaseloadError(t("erasure.leftover_text", places=", ".join(texts)))
    for cid in ids:
        audit.record(conn, actor, action, f"client:{cid}")
    log.info("%s by %s: %d clients, %d rows in %d tables", action, actor.name, len(ids), sum(deleted.values()),
             len([v for v in deleted.values() if v]))
    conn.execute("DELETE FROM temp.forget_ids")
    conn.execute("DELETE FROM temp.forget_values")
    return {k: v for k, v in deleted.items() if v}


def checkpoint(conn) -> bool:
    """Move the WAL into the database file and truncate it, so deleted pages leave the disk
    files. False when another connection still reads an older snapshot (it then happens at the
    next checkpoint)."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return busy == 0


def forget(store, actor, number: str) -> dict:
    """Erase one client. Admins only. Returns {"tables": {table: rows}, "checkpointed": bool}."""
    access.require_admin(actor)
    with write_transaction(store.db) as conn:
        row = conn.execute("SELECT id FROM clients WHERE client_number = ?", [number]).fetchone()
        if row is None:
            raise NotFound(t("client.not_found", number=number))
        tables = erase(conn, actor, [row[0]])
    return {"tables": tables, "checkpointed": checkpoint(store.conn)}
