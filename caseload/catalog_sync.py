"""Keeping the database in step with the catalog: ids for keys, profile columns per key."""

from .clock import utcnow
from .db import write_transaction
from .errors import BadInput
from .i18n import t


def sync_catalog(db, catalog) -> dict[str, int]:
    """Register new characteristics and add their profile columns; returns key -> id.

    A key keeps its type for life: history would not mean the same otherwise.
    """
    known = {row[1]: (row[0], row[2]) for row in db.execute("SELECT id, key, type FROM characteristics")}
    for c in catalog:
        if c.key in known and known[c.key][1] != c.type:
            raise BadInput(t("catalog.type_changed", key=c.key, old=known[c.key][1], new=c.type))
    missing = [c for c in catalog if c.key not in known]
    if missing:
        columns = {col.name for col in db["profile"].columns} | {col.name for col in db["profile_times"].columns}
        with write_transaction(db) as conn:
            now = utcnow()
            for c in missing:
                cur = conn.execute("INSERT INTO characteristics (key, type, added_at) VALUES (?, ?, ?)",
                                   (c.key, c.type, now))
                known[c.key] = (cur.lastrowid, c.type)
                if c.column not in columns:
                    conn.execute(f'ALTER TABLE profile ADD COLUMN "{c.column}"')
                if c.at_column not in columns:
                    conn.execute(f'ALTER TABLE profile_times ADD COLUMN "{c.at_column}" TEXT')
    return {key: v[0] for key, v in known.items()}


def characteristic_ids(db) -> dict[str, int]:
    return {row[0]: row[1] for row in db.execute("SELECT key, id FROM characteristics")}
