"""Items: the vacancies, tips, activities and news that digests offer to clients (caseload.offers).

An item has a key (the organisation's own), a kind, a title, a text, a URL, tags, an optional
condition (`requires`, a segment expression the client must meet, stored in canonical form and
evaluated live), optional validity dates (local days, both inclusive) and a language.

`import_items` reads a CSV or XLSX (caseload.tables, within the [imports] limits; `-` for
standard input, the only form under sudo) with the columns key, kind, title, text, url, tags,
requires, valid_from, valid_until, language, or their Dutch names. Every row is checked before
anything is written; one bad cell refuses the whole file, naming every bad row. A key that
exists already is updated (by its owner, their team lead or an admin).
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from . import access, audit, clock, owners, values
from .clock import iso, utcnow
from .db import write_transaction
from .errors import BadInput, NotFound
from .i18n import t
from .importer import CellError, ImportRefused, ImportReport
from .tables import open_table

KINDS = ("vacancy", "tip", "activity", "news")
KIND_ALIASES = {"vacature": "vacancy", "activiteit": "activity", "nieuws": "news", "baan": "vacancy",
                "job": "vacancy", "tips": "tip"}
COLUMNS = ("key", "kind", "title", "text", "url", "tags", "requires", "valid_from", "valid_until", "language")
HEADER_ALIASES = {
    "sleutel": "key", "code": "key", "soort": "kind", "type": "kind", "titel": "title", "tekst": "text",
    "omschrijving": "text", "link": "url", "adres": "url", "labels": "tags", "trefwoorden": "tags",
    "voorwaarde": "requires", "vereist": "requires", "condition": "requires", "geldigvanaf": "valid_from",
    "geldigvan": "valid_from", "vanaf": "valid_from", "validfrom": "valid_from", "geldigtot": "valid_until",
    "geldigtotenmet": "valid_until", "tot": "valid_until", "validuntil": "valid_until", "taal": "language",
}
MAX_KEY = 80
MAX_TITLE = 200
MAX_TEXT = 2000
MAX_URL = 1000
MAX_TAGS = 20
MAX_TAG = 40
EXAMPLE = "sudo -u caseload caseload item import - < FILE"
ITEM_COLUMNS = ("id", "key", "kind", "title", "text", "url", "tags", "requires", "valid_from", "valid_until",
                "language", "expired_at", "owner", "author", "created_at", "updated_at")
_CANON = {values.fold(c): c for c in COLUMNS}
_URL = re.compile(r"https?://[^\s<>\"'\x00-\x1f\x7f]+")


def tag(text: str) -> str:
    """One tag in normal form: lower case, accents gone, other characters runs of "_"
    ("Zorg en welzijn" -> "zorg_en_welzijn")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def parse_tags(raw: str) -> list[str]:
    """Tags separated by commas or semicolons, in normal form, each once, in their order."""
    out = []
    for part in re.split(r"[,;]", raw or ""):
        if not part.strip():
            continue
        one = tag(part)
        if not one or len(one) > MAX_TAG:
            raise ValueError(t("items.bad_tag", tag=part.strip()[:50], max=MAX_TAG))
        if one not in out:
            out.append(one)
    if len(out) > MAX_TAGS:
        raise ValueError(t("items.too_many_tags", max=MAX_TAGS))
    return out


def _clean(text: str, limit: int, what: str, required: bool = False) -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValueError(t("value.empty"))
    if len(text) > limit:
        raise ValueError(t("items.too_long", what=what, max=limit))
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise ValueError(t("items.control_char"))
    return text


def parse_kind(raw: str) -> str:
    low = (raw or "").strip().lower()
    kind = KIND_ALIASES.get(low, low)
    if kind not in KINDS:
        raise ValueError(t("value.not_in_enum", allowed=", ".join(KINDS)))
    return kind


def parse_url(raw: str) -> str:
    url = (raw or "").strip()
    if not url:
        raise ValueError(t("value.empty"))
    if len(url) > MAX_URL or not _URL.fullmatch(url):
        raise ValueError(t("items.bad_url"))
    return url


def parse_language(store, raw: str) -> str:
    from .fields import FIELDS

    raw = (raw or "").strip()
    if not raw:
        return store.config.message_language
    if re.fullmatch(r"[a-z]{2}", raw):  # any ISO 639-1 code: an item may be in a client's own language
        return raw
    return FIELDS["language"].parse(raw)


def parse_requires(store, raw: str) -> str | None:
    """A condition in canonical form (None when empty); ValueError with the reason and position."""
    from . import segments

    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        tree = segments.parse(raw, store.catalog, tz=store.tz)
        segments.compile_where(store, tree, text=raw)
    except segments.SegmentError as e:
        raise ValueError(t("items.bad_requires", column=e.position + 1, reason=e.reason)) from None
    return segments.canonical(tree)


def parse_day(raw: str) -> str | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    return values.parse_date(raw).isoformat()


@dataclass
class Item:
    key: str
    kind: str
    title: str
    text: str
    url: str
    tags: list[str]
    requires: str | None
    valid_from: str | None
    valid_until: str | None
    language: str


PARSERS = ("key", "kind", "title", "text", "url", "tags", "requires", "valid_from", "valid_until", "language")


def parse_item(store, cells: dict[str, str]) -> tuple[Item | None, list[tuple[str, str]]]:
    """An item from its cells by column name; (None, [(column, reason), ...]) when any is bad."""
    errors, out = [], {}
    rules = {
        "key": lambda v: _clean(v, MAX_KEY, "key", required=True),
        "kind": parse_kind,
        "title": lambda v: _clean(v, MAX_TITLE, "title", required=True),
        "text": lambda v: _clean(v, MAX_TEXT, "text"),
        "url": parse_url,
        "tags": parse_tags,
        "requires": lambda v: parse_requires(store, v),
        "valid_from": parse_day,
        "valid_until": parse_day,
        "language": lambda v: parse_language(store, v),
    }
    for name, rule in rules.items():
        try:
            out[name] = rule(cells.get(name, ""))
        except ValueError as e:
            errors.append((name, str(e)))
    if out.get("key") and "\n" in out["key"]:
        errors.append(("key", t("items.control_char")))
    if out.get("valid_from") and out.get("valid_until") and out["valid_until"] < out["valid_from"]:
        errors.append(("valid_until", t("items.until_before_from")))
    if errors:
        return None, errors
    return Item(**out), []


def header_map(headers: list[str]) -> dict[str, int]:
    """Column name -> position; BadInput naming an unknown or repeated column, or a missing one."""
    cols = {}
    for i, header in enumerate(headers):
        folded = values.fold(header)
        name = _CANON.get(folded) or HEADER_ALIASES.get(folded)
        if name is None:
            raise BadInput(t("items.unknown_column", column=header or "?", position=i + 1,
                             allowed=", ".join(COLUMNS)))
        if name in cols:
            raise BadInput(t("items.repeated_column", column=header, position=i + 1))
        cols[name] = i
    for needed in ("key", "kind", "title", "url"):
        if needed not in cols:
            raise BadInput(t("import.missing_column", column=needed))
    return cols


def check_rows(store, headers: list[str], rows) -> tuple[list[tuple[int, Item]], list[CellError]]:
    """Every row parsed; the items by row number and every bad cell (duplicate keys included)."""
    cols = header_map(headers)
    items, errors, seen = [], [], {}
    for n, cells in rows:
        named = {name: (cells[i] if i < len(cells) else "") for name, i in cols.items()}
        item, bad = parse_item(store, named)
        for name, reason in bad:
            errors.append(CellError(n, headers[cols[name]] if name in cols else name, named.get(name, ""), reason))
        key = item.key if item is not None else named.get("key", "").strip()
        if key and key in seen:  # a bad row's key counts too: every bad row is named at once
            if not any(name == "key" for name, _ in bad):
                errors.append(CellError(n, headers[cols["key"]], key, t("items.duplicate_row", other=seen[key])))
            continue
        if key:
            seen[key] = n
        if item is not None:
            items.append((n, item))
    return items, errors


def import_items(store, actor, source, dry_run: bool = False) -> dict:
    """Import items from a CSV or XLSX path, or `-` (standard input); all or nothing. Returns
    counts: rows, added, updated."""
    access.require(actor, "coach", "teamlead", "admin")
    with open_table(source, store.config.imports, "FILE", EXAMPLE) as table:
        items, errors = check_rows(store, table.headers, table.rows)
    existing = {k: o for k, o in store.db.execute("SELECT key, owner FROM items")}
    for n, item in items:
        if item.key in existing and not owners.may_change(store.db, actor, existing[item.key]):
            errors.append(CellError(n, "key", item.key, t("owners.not_yours", what=t("items.what", key=item.key),
                                                              owner=existing[item.key] or "-")))
    if errors:
        errors.sort(key=lambda e: e.row)
        raise ImportRefused(ImportReport(rows=len(items), errors=errors))
    counts = {"rows": len(items), "added": sum(i.key not in existing for _, i in items),
              "updated": sum(i.key in existing for _, i in items)}
    if dry_run:
        return counts
    with write_transaction(store.db) as conn:
        for _, item in items:
            _save(conn, actor, item)
        audit.record(conn, actor, "item_import", f"items:{len(items)}")
    return counts


def _save(conn, actor, item: Item) -> int:
    now = utcnow()
    row = conn.execute("SELECT id FROM items WHERE key = ?", [item.key]).fetchone()
    fields = [item.kind, item.title, item.text, item.url, ",".join(item.tags), item.requires, item.valid_from,
              item.valid_until, item.language]
    if row is None:
        item_id = conn.execute(
            "INSERT INTO items (key, kind, title, text, url, tags, requires, valid_from, valid_until, language,"
            " owner, author, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [item.key, *fields, actor.name, actor.name, now, now]).lastrowid
    else:
        item_id = row[0]
        conn.execute("UPDATE items SET kind = ?, title = ?, text = ?, url = ?, tags = ?, requires = ?, valid_from = ?,"
                     " valid_until = ?, language = ?, expired_at = NULL, author = ?, updated_at = ? WHERE id = ?",
                     [*fields, actor.name, now, item_id])
        conn.execute("DELETE FROM item_tags WHERE item_id = ?", [item_id])
    conn.executemany("INSERT INTO item_tags (tag, item_id) VALUES (?, ?)", [(g, item_id) for g in item.tags])
    return item_id


def add(store, actor, fields: dict[str, str]) -> dict:
    """Add (or, by its owner, change) one item from name=value pairs; BadInput names every bad one."""
    access.require(actor, "coach", "teamlead", "admin")
    unknown = [k for k in fields if k not in COLUMNS]
    if unknown:
        raise BadInput(t("items.unknown_field", name=unknown[0], allowed=", ".join(COLUMNS)))
    item, bad = parse_item(store, fields)
    if item is None:
        raise BadInput(t("items.bad_item"), [f"{name}: {reason}" for name, reason in bad])
    with write_transaction(store.db) as conn:
        row = conn.execute("SELECT owner FROM items WHERE key = ?", [item.key]).fetchone()
        if row is not None:
            owners.require(conn, actor, row[0], t("items.what", key=item.key))
        item_id = _save(conn, actor, item)
        audit.record(conn, actor, "item_save", f"item:{item_id}")
    return get(store, item.key)


def _row(r) -> dict:
    d = dict(zip(ITEM_COLUMNS, r))
    d["tags"] = [g for g in d["tags"].split(",") if g]
    return d


def get(store, key: str) -> dict:
    r = store.db.execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE key = ?", [key]).fetchone()
    if r is None:
        raise NotFound(t("items.unknown", key=key))
    return _row(r)


def state(item: dict, today: date) -> str:
    """active | expired | future (valid_from after today) | ended (valid_until before today)."""
    if item["expired_at"]:
        return "expired"
    if item["valid_from"] and item["valid_from"] > today.isoformat():
        return "future"
    if item["valid_until"] and item["valid_until"] < today.isoformat():
        return "ended"
    return "active"


def today(store, now: datetime | None = None) -> date:
    return (now or datetime.now(store.tz)).astimezone(store.tz).date()


STAFF = ("coach", "teamlead", "admin")


def list_items(store, actor, *, kind: str | None = None, tag_: str | None = None, active_only: bool = False,
               now: datetime | None = None) -> list[dict]:
    """Items by key, each with its state today and how often it was shown and clicked (counts of
    clients: staff only; analysts read `caseload report offers`)."""
    access.require(actor, *STAFF)
    where, params = ["1"], []
    if kind:
        where.append("kind = ?")
        params.append(parse_kind(kind))
    if tag_:
        where.append("id IN (SELECT item_id FROM item_tags WHERE tag = ?)")
        params.append(tag(tag_))
    rows = [_row(r) for r in store.db.execute(
        f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE {' AND '.join(where)} ORDER BY key", params)]
    counts = {i: (s, c) for i, s, c in store.db.execute(
        "SELECT item_id, COUNT(*), COUNT(clicked_at) FROM offers GROUP BY item_id")}
    day = today(store, now)
    out = []
    for r in rows:
        r["state"] = state(r, day)
        r["shown"], r["clicked"] = counts.get(r["id"], (0, 0))
        if active_only and r["state"] != "active":
            continue
        out.append(r)
    return out


def show(store, actor, key: str, now: datetime | None = None) -> dict:
    access.require(actor, *STAFF)
    item = get(store, key)
    item["state"] = state(item, today(store, now))
    item["shown"], item["clicked"] = store.db.execute(
        "SELECT COUNT(*), COUNT(clicked_at) FROM offers WHERE item_id = ?", [item["id"]]).fetchone()
    return item


def expire(store, actor, key: str, now: datetime | None = None) -> bool:
    """Stop offering an item from now on (its owner, their team lead or an admin); False when it
    was expired already. A digest queued before keeps it."""
    access.require(actor, "coach", "teamlead", "admin")
    item = get(store, key)
    if item["expired_at"]:
        return False
    with write_transaction(store.db) as conn:
        owners.require(conn, actor, item["owner"], t("items.what", key=key))
        stamp = iso(clock.now(now))
        conn.execute("UPDATE items SET expired_at = ?, updated_at = ? WHERE id = ?", [stamp, stamp, item["id"]])
        audit.record(conn, actor, "item_expire", f"item:{item['id']}")
    return True
