"""Matching: which items each client may be offered, and in which order, with the reasons.

Eligible (every rule must hold):
- the item's condition (`requires`, a segment expression) holds for the client, evaluated live
  in the same pass over the clients as the segment itself;
- it is valid today (local days; not expired);
- it is in a language the client reads: their language or second language, or the
  organisation's language for a client with none;
- it was not shown to the client in the last offers.repeat_after_days, unless they clicked it.

Ranked by a score, the sum of three parts, each in log-odds of a click:
- fit: one point per item tag among the client's profile tags (config offers.profile: interests,
  drivers, desired sector, transport, ...; offers.tags adds tags defined by an expression);
- self: what this client clicked and ignored before, per tag of the items they were shown
  (a smoothed click rate per tag against everyone's);
- others: what comparable clients clicked: the item's click rate among clients sharing each
  profile tag, against its rate overall, and the item's rate against all items.
Ties are broken at random. A share of slots (offers.explore_share) is filled with another
eligible item at random (exploration), and a share of digests (offers.random_share) is ranked
entirely at random, so that `caseload report offers` can show what the ranking adds.

Everything runs on numpy matrices a block of clients at a time (BLOCK), so that planning for
100,000 clients against 1,000 items stays within seconds and a few tens of MB.
"""

import io
import json
from array import array
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from .. import access, items as item_rules, segments
from ..clock import iso
from ..errors import BadInput
from ..i18n import t

BLOCK = 256  # clients ranked at once: 256 x 1,000 items is 1 MB per float32 matrix
SMOOTHING = 20.0  # pseudo-shows behind every smoothed click rate
FLOOR_RATE = 0.01  # the overall click rate assumed before anything was clicked
CONDITIONS_PER_SCAN = 300  # SQLite allows 2,000 result columns


def give_back() -> None:
    """Return freed heap memory to the system (glibc's malloc_trim), so that a long-running
    daemon's resident size goes down again after a round's transient arrays and rows; a no-op
    where there is no glibc."""
    global _trim
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


_trim = None
PLAN_CACHE_KIB = 2048


@contextmanager
def small_cache(store):
    """SQLite's page cache at PLAN_CACHE_KIB while a round is planned: its passes over clients,
    profiles and offers read each page once, and the pages a larger cache would keep are memory
    the ranking needs (the daemon runs with 8 MB, the CLI with 64 MB)."""
    before = store.db.execute("PRAGMA cache_size").fetchone()[0]
    store.db.execute(f"PRAGMA cache_size = -{PLAN_CACHE_KIB}")
    try:
        yield
    finally:
        store.db.execute(f"PRAGMA cache_size = {int(before)}")


# --- the items that can be offered today ------------------------------------------------------

@dataclass
class Catalogue:
    ids: np.ndarray  # item ids, one per column
    rows: list[dict]  # key, kind, title, text, url, language, tags
    tags: list[str]  # the tag vocabulary (rows of the matrices)
    tag_index: dict[str, int]
    items_by_tag: np.ndarray  # (tags, items) 0/1
    per_tag: np.ndarray  # (tags, items): 1 / the item's number of tags
    conditions: list[str]  # canonical expressions; an item's condition is conditions[cond[i]]
    cond: np.ndarray  # (items,) index into conditions, -1 for none
    languages: list[str]
    lang: np.ndarray  # (items,) index into languages
    column: dict[int, int]  # item id -> column

    @property
    def size(self) -> int:
        return len(self.rows)


def catalogue(store, today: date) -> Catalogue:
    """The items valid today and not expired, with their tags, conditions and languages."""
    day = today.isoformat()
    rows = [dict(zip(("id", "key", "kind", "title", "text", "url", "tags", "requires", "language"), r))
            for r in store.db.execute(
                "SELECT id, key, kind, title, text, url, tags, requires, language FROM items"
                " WHERE expired_at IS NULL AND (valid_from IS NULL OR valid_from <= ?)"
                " AND (valid_until IS NULL OR valid_until >= ?) ORDER BY id", [day, day])]
    tags: list[str] = []
    index: dict[str, int] = {}
    conditions: list[str] = []
    cond_index: dict[str, int] = {}
    languages: list[str] = []
    cells, cond, lang = [], [], []
    for col, r in enumerate(rows):
        r["tags"] = [g for g in r["tags"].split(",") if g]
        for g in r["tags"]:
            if g not in index:
                index[g] = len(tags)
                tags.append(g)
            cells.append((index[g], col))
        if r["requires"]:
            if r["requires"] not in cond_index:
                cond_index[r["requires"]] = len(conditions)
                conditions.append(r["requires"])
            cond.append(cond_index[r["requires"]])
        else:
            cond.append(-1)
        if r["language"] not in languages:
            languages.append(r["language"])
        lang.append(languages.index(r["language"]))
    by_tag = np.zeros((len(tags), len(rows)), dtype=np.float32)
    for g, col in cells:
        by_tag[g, col] = 1.0
    counts = by_tag.sum(axis=0)
    per_tag = by_tag / np.maximum(counts, 1.0)
    return Catalogue(np.array([r["id"] for r in rows], dtype=np.int64), rows, tags, index, by_tag, per_tag,
                     conditions, np.array(cond, dtype=np.int32), languages, np.array(lang, dtype=np.int32),
                     {r["id"]: i for i, r in enumerate(rows)})


# --- profile tags -----------------------------------------------------------------------------

class Profiler:
    """A client's profile tags, from the characteristics in config offers.profile and the
    expressions in offers.tags; only tags that some item carries matter."""

    def __init__(self, store, cat: Catalogue):
        self.store = store
        self.cat = cat
        self.chars = [store.catalog[k] for k in store.config.offers.profile if k in store.catalog]
        self.chars = [c for c in self.chars if c.type in ("text", "enum", "bool")]
        self.expressions = []
        for tag_name, expression in store.config.offers.tags.items():
            normal = item_rules.tag(tag_name)
            try:
                tree = segments.parse(expression, store.catalog, tz=store.tz)
            except segments.SegmentError as e:
                raise BadInput(t("offers.bad_tag_expression", tag=tag_name, reason=e.message)) from None
            self.expressions.append((normal, tree))
        self._memo: dict = {}

    def columns(self, today: date) -> tuple[list[str], list]:
        """SQL expressions (and their parameters) to select after the client's own columns."""
        cols, params = [f'profile."{c.column}"' for c in self.chars], []
        for _, tree in self.expressions:
            sql, p = segments.compile_where(self.store, tree, today=today)
            cols.append(f"(({sql}) IS 1)")
            params += p
        return cols, params

    def _value_tags(self, c, value) -> list[int]:
        key = (c.key, value)
        found = self._memo.get(key)
        if found is not None:
            return found
        words: list[str] = []
        if c.type == "text" and isinstance(value, str):
            words = [item_rules.tag(p) for p in _split(value)]
        elif c.type == "enum":
            words = [item_rules.tag(str(value))]
            for label in (c.value_labels.get(value) or {}).values():
                words += [item_rules.tag(label), item_rules.tag(label.split()[0]) if label.split() else ""]
        elif c.type == "bool" and value:
            words = [item_rules.tag(c.key)] + [item_rules.tag(lbl) for lbl in (c.label or {}).values()]
        index = self.cat.tag_index
        found = sorted({index[w] for w in words if w in index})
        self._memo[key] = found
        return found

    def tags(self, values: tuple) -> list[int]:
        """Tag indices of one client, from the values of `columns` in their order."""
        out: set[int] = set()
        for c, v in zip(self.chars, values):
            if v is not None:
                out.update(self._value_tags(c, v))
        index = self.cat.tag_index
        for (name, _), hit in zip(self.expressions, values[len(self.chars):]):
            if hit and name in index:
                out.add(index[name])
        return sorted(out)

    def sources(self, values: tuple, lang: str) -> dict[int, str]:
        """tag index -> the label it came from (for the explanation), in the UI language."""
        out: dict[int, str] = {}
        for c, v in zip(self.chars, values):
            if v is not None:
                for g in self._value_tags(c, v):
                    out.setdefault(g, c.title(lang).lower())
        for (name, _), hit in zip(self.expressions, values[len(self.chars):]):
            if hit and name in self.cat.tag_index:
                out.setdefault(self.cat.tag_index[name], t("offers.why.profile_word", lang=lang))
        return out


def _split(text: str) -> list[str]:
    import re

    return [p for p in re.split(r"[,;/]|\s+(?:en|and)\s+", text) if p.strip()]


# --- what was learned -------------------------------------------------------------------------

@dataclass
class Model:
    """Click counts among clients who saw an item, overall and per profile tag, kept between
    rounds (table offer_model) so a preview needs no pass over every client."""
    item_ids: np.ndarray  # (items,)
    tags: list[str]
    shown: np.ndarray  # (tags, items)
    clicked: np.ndarray  # (tags, items)
    item_shown: np.ndarray  # (items,)
    item_clicked: np.ndarray  # (items,)
    total_shown: float = 0.0
    total_clicked: float = 0.0

    @property
    def rate(self) -> float:
        return max(FLOOR_RATE, (self.total_clicked + 1.0) / (self.total_shown + 1.0 / FLOOR_RATE))

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, item_ids=self.item_ids, shown=self.shown, clicked=self.clicked,
                            item_shown=self.item_shown, item_clicked=self.item_clicked,
                            meta=np.frombuffer(json.dumps({"tags": self.tags, "total": [
                                self.total_shown, self.total_clicked]}).encode(), dtype=np.uint8))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Model":
        with np.load(io.BytesIO(data)) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            return cls(z["item_ids"], meta["tags"], z["shown"], z["clicked"], z["item_shown"], z["item_clicked"],
                       *meta["total"])

    @classmethod
    def empty(cls) -> "Model":
        return cls(np.zeros(0, dtype=np.int64), [], np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32),
                   np.zeros(0, np.float32), np.zeros(0, np.float32))

    def for_catalogue(self, cat: Catalogue) -> tuple[np.ndarray, np.ndarray]:
        """(lift (tags, items), popularity (items,)) in the catalogue's rows and columns."""
        r0 = self.rate
        lift = np.zeros((len(cat.tags), cat.size), dtype=np.float32)
        pop = np.zeros(cat.size, dtype=np.float32)
        if not len(self.item_ids) or not cat.size:
            return lift, pop
        col = {int(i): k for k, i in enumerate(self.item_ids)}
        take = np.array([col.get(int(i), -1) for i in cat.ids])
        have = take >= 0
        src = take[have]
        shown_i = self.item_shown[src]
        rate_i = (self.item_clicked[src] + SMOOTHING * r0) / (shown_i + SMOOTHING)
        pop[have] = np.log(rate_i / r0)
        rows = {g: k for k, g in enumerate(self.tags)}
        for g, name in enumerate(cat.tags):
            k = rows.get(name)
            if k is None:
                continue
            s, c = self.shown[k, src], self.clicked[k, src]
            lift[g, have] = np.log(((c + SMOOTHING * rate_i) / (s + SMOOTHING)) / rate_i)
        return lift, pop


def load_model(store) -> Model:
    row = store.db.execute("SELECT data FROM offer_model WHERE id = 1").fetchone()
    return Model.from_bytes(row[0]) if row else Model.empty()


def save_model(conn, model: Model, now: datetime) -> None:
    conn.execute("INSERT INTO offer_model (id, computed_at, data) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE"
                 " SET computed_at = excluded.computed_at, data = excluded.data", [iso(now), model.to_bytes()])


# --- the pass over the clients ----------------------------------------------------------------

CLIENT_FIELDS = ("id", "first_name", "language", "preferred_channel", "email", "phone", "status")


@dataclass
class Scan:
    """What one pass over the clients found, in client order (ascending id)."""
    ids: np.ndarray
    first_names: list
    languages: list  # (language, second language) per client
    channels: list  # (preferred_channel, has email, has phone, status) per client
    tag_ptr: np.ndarray  # CSR over tag_idx: client k's tags are tag_idx[tag_ptr[k]:tag_ptr[k+1]]
    tag_idx: np.ndarray
    conds: np.ndarray  # (clients, bytes) packed bits: condition j holds
    profile_values: list | None = None  # kept for one client's explanation


def _second_language(store) -> bool:
    return any(r[1] == "second_language" for r in store.db.execute("PRAGMA table_info(clients)"))


def scan(store, where: str, params: list, cat: Catalogue, prof: Profiler, today: date,
         keep_values: bool = False) -> Scan:
    """One pass over the clients that `where` selects: their fields, profile tags and, for each
    distinct item condition, whether it holds (in groups of CONDITIONS_PER_SCAN)."""
    pcols, pparams = prof.columns(today)
    cond_sql, cond_params = [], []
    for expression in cat.conditions:
        tree = segments.parse(expression, store.catalog, tz=store.tz, today=today)
        sql, p = segments.compile_where(store, tree, today=today)
        cond_sql.append(f"(({sql}) IS 1)")
        cond_params.append(p)
    second = "clients.second_language" if _second_language(store) else "NULL"
    base = [f"clients.{f}" for f in CLIENT_FIELDS] + [second]
    ids, names, langs, chans, values_kept = array("q"), [], [], [], None
    ptr, idx = array("q", [0]), array("i")  # machine integers: no object per client
    width = len(cat.conditions)
    packed_parts = []
    first = cond_sql[:CONDITIONS_PER_SCAN]
    first_params = [x for p in cond_params[:CONDITIONS_PER_SCAN] for x in p]
    select = ", ".join(base + pcols + first)
    cur = store.db.execute(f"SELECT {select} {segments.JOINED} WHERE {where} ORDER BY clients.id",
                           [*pparams, *first_params, *params])
    nb, npc, nf = len(base), len(pcols), len(first)
    shared: dict = {}  # a few distinct (language, second) and channel tuples, each kept once
    while True:
        batch = cur.fetchmany(5000)
        if not batch:
            break
        for r in batch:
            ids.append(r[0])
            names.append(r[1])
            lang = (r[2], r[7])
            langs.append(shared.setdefault(lang, lang))
            chan = (r[3], bool(r[4]), bool(r[5]), r[6])
            chans.append(shared.setdefault(chan, chan))
            pv = r[nb:nb + npc]
            idx.extend(prof.tags(pv))
            ptr.append(len(idx))
            if keep_values:
                values_kept = pv
        if nf:
            bits = np.array([r[nb + npc:] for r in batch], dtype=bool).reshape(len(batch), nf)
            packed_parts.append(bits)
    ids_arr = np.frombuffer(ids, dtype=np.int64).copy() if len(ids) else np.zeros(0, dtype=np.int64)
    if nf:
        conds = np.concatenate(packed_parts) if packed_parts else np.zeros((0, nf), dtype=bool)
    else:
        conds = np.zeros((len(ids), 0), dtype=bool)
    for start in range(CONDITIONS_PER_SCAN, width, CONDITIONS_PER_SCAN):  # more conditions: more passes
        part = cond_sql[start:start + CONDITIONS_PER_SCAN]
        part_params = [x for p in cond_params[start:start + CONDITIONS_PER_SCAN] for x in p]
        rows = store.db.execute(f"SELECT {', '.join(part)} {segments.JOINED} WHERE {where} ORDER BY clients.id",
                                [*part_params, *params]).fetchall()
        conds = np.concatenate([conds, np.array(rows, dtype=bool).reshape(len(ids), len(part))], axis=1)
    packed = np.packbits(conds, axis=1) if width else np.zeros((len(ids), 0), dtype=np.uint8)
    del conds, packed_parts
    give_back()
    return Scan(ids_arr, names, langs, chans, np.frombuffer(ptr, dtype=np.int64).copy(),
                np.frombuffer(idx, dtype=np.int32).copy() if len(idx) else np.zeros(0, dtype=np.int32),
                packed, values_kept)


def readers(store, scan_: Scan, cat: Catalogue) -> np.ndarray:
    """(clients, languages of the catalogue): the client reads items in that language."""
    out = np.zeros((len(scan_.ids), len(cat.languages)), dtype=bool)
    fallback = store.config.message_language
    where = {lang: j for j, lang in enumerate(cat.languages)}
    for k, (first, second) in enumerate(scan_.languages):
        for lang in ((first, second) if first else (fallback, second)):
            j = where.get(lang)
            if j is not None:
                out[k, j] = True
    return out


# --- history ----------------------------------------------------------------------------------

@dataclass
class History:
    """Offers to the scanned clients in the learning window, as arrays (one entry per offer)."""
    client: np.ndarray  # row in the scan (ascending)
    item: np.ndarray  # item id
    clicked: np.ndarray  # bool
    sent: np.ndarray  # bool: its message went out
    recent: np.ndarray  # bool: within repeat_after_days
    item_tags: dict[int, list[int]]  # item id -> catalogue tag indices (items no longer offered too)


def history(store, scan_: Scan, cat: Catalogue, now: datetime, one_client: int | None = None) -> History:
    cfg = store.config.offers
    since = iso(now - timedelta(days=max(cfg.learn_days, cfg.repeat_after_days)))
    recent_since = iso(now - timedelta(days=cfg.repeat_after_days))
    sql = ("SELECT o.client_id, o.item_id, (o.clicked_at IS NOT NULL) + 2 * (m.sent_at IS NOT NULL)"
           " + 4 * (o.shown_at >= ?) FROM offers o JOIN messages m ON m.id = o.message_id WHERE o.shown_at >= ?"
           " AND m.status != 'cancelled' AND m.status != 'failed' AND m.status != 'expired'")
    args = [recent_since, since]
    if one_client is not None:
        sql += " AND o.client_id = ?"
        args.append(one_client)
    cur = store.db.execute(sql, args)
    pos_parts, item_parts, flag_parts = [], [], []
    while True:  # in chunks, each kept compact: a round for 100,000 clients is 300,000 rows
        rows = cur.fetchmany(5000)
        if not rows:
            break
        chunk = np.array(rows, dtype=np.int64).reshape(len(rows), 3)
        del rows
        if len(scan_.ids):
            pos = np.minimum(np.searchsorted(scan_.ids, chunk[:, 0]), len(scan_.ids) - 1)
            keep = scan_.ids[pos] == chunk[:, 0]
        else:
            pos, keep = np.zeros(len(chunk), dtype=np.int64), np.zeros(len(chunk), dtype=bool)
        pos_parts.append(pos[keep].astype(np.int32))
        item_parts.append(chunk[keep, 1].astype(np.int32))
        flag_parts.append(chunk[keep, 2].astype(np.uint8))
    pos = np.concatenate(pos_parts) if pos_parts else np.zeros(0, dtype=np.int32)
    items = np.concatenate(item_parts) if item_parts else np.zeros(0, dtype=np.int32)
    flags = np.concatenate(flag_parts) if flag_parts else np.zeros(0, dtype=np.uint8)
    del pos_parts, item_parts, flag_parts
    order = np.argsort(pos, kind="stable")  # by client: ranking takes a block of clients as one slice
    pos, items, flags = pos[order], items[order], flags[order]
    del order
    item_tags: dict[int, list[int]] = {}
    for item_id, g in store.db.execute("SELECT item_id, tag FROM item_tags"):
        k = cat.tag_index.get(g)
        if k is not None:
            item_tags.setdefault(item_id, []).append(k)
    out = History(pos, items, (flags & 1).astype(bool), (flags & 2).astype(bool), (flags & 4).astype(bool),
                  item_tags)
    del flags
    give_back()
    return out


def columns(cat: Catalogue, item_ids: np.ndarray) -> np.ndarray:
    """Each item id's column in the catalogue, -1 for an item not offered today."""
    if not len(item_ids):
        return np.zeros(0, dtype=np.int32)
    top = int(max(item_ids.max(), cat.ids.max() if cat.size else 0)) + 1
    lookup = np.full(top, -1, dtype=np.int32)
    lookup[cat.ids] = np.arange(cat.size, dtype=np.int32)
    return lookup[item_ids]


def tag_rows(cat: Catalogue, hist: History) -> np.ndarray:
    """(largest item id + 1, tags) 0/1: the catalogue tags of every item in the history."""
    top = int(hist.item.max()) + 1 if len(hist.item) else 1
    out = np.zeros((top, len(cat.tags)), dtype=np.float32)
    for item_id, tags in hist.item_tags.items():
        if item_id < top and tags:
            out[item_id, tags] = 1.0
    return out


def learn(scan_: Scan, cat: Catalogue, hist: History) -> Model:
    """The model from the offers that went out to the scanned clients."""
    T, I = len(cat.tags), cat.size
    sent = hist.sent
    cols = columns(cat, hist.item)
    ok = sent & (cols >= 0)
    c_rows, c_cols, c_click = hist.client[ok], cols[ok], hist.clicked[ok]
    item_shown = np.bincount(c_cols, minlength=I).astype(np.float32)
    item_clicked = np.bincount(c_cols[c_click], minlength=I).astype(np.float32)
    counts = (scan_.tag_ptr[c_rows + 1] - scan_.tag_ptr[c_rows]) if len(c_rows) else np.zeros(0, dtype=np.int64)
    reps = np.repeat(np.arange(len(c_rows)), counts)
    offsets = np.arange(len(reps)) - np.repeat(np.cumsum(counts) - counts, counts)
    tags_of = scan_.tag_idx[np.repeat(scan_.tag_ptr[c_rows], counts) + offsets] if len(reps) else \
        np.zeros(0, dtype=np.int64)
    flat = tags_of.astype(np.int64) * I + c_cols[reps]
    shown = np.bincount(flat, minlength=T * I).reshape(T, I).astype(np.float32) if T and I else \
        np.zeros((T, I), np.float32)
    clicked = np.bincount(flat[c_click[reps]], minlength=T * I).reshape(T, I).astype(np.float32) if T and I else \
        np.zeros((T, I), np.float32)
    return Model(cat.ids.copy(), list(cat.tags), shown, clicked, item_shown, item_clicked,
                 float(sent.sum()), float((hist.clicked & sent).sum()))


# --- ranking ----------------------------------------------------------------------------------

@dataclass
class Picks:
    """Each scanned client's items: -1 where there are fewer eligible items than slots."""
    items: np.ndarray  # (clients, n) column in the catalogue
    scores: np.ndarray  # (clients, n)
    explore: np.ndarray  # (clients, n) bool
    random: np.ndarray  # (clients,) bool: ranked at random
    eligible: np.ndarray  # (clients,) how many items were eligible
    parts: dict = field(default_factory=dict)  # one client's score parts (preview)


def rank(store, scan_: Scan, cat: Catalogue, hist: History, model: Model, n: int, rng: np.random.Generator,
         *, explore_share: float, random_share: float, active: np.ndarray | None = None,
         keep_parts: bool = False) -> Picks:
    """The n best eligible items per client (`active`: only for these rows; others get none)."""
    N, I, T = len(scan_.ids), cat.size, len(cat.tags)
    out_items = np.full((N, n), -1, dtype=np.int32)
    out_scores = np.zeros((N, n), dtype=np.float32)
    out_explore = np.zeros((N, n), dtype=bool)
    out_random = rng.random(N) < random_share
    out_eligible = np.zeros(N, dtype=np.int32)
    parts = {}
    if not N or not I:
        return Picks(out_items, out_scores, out_explore, out_random, out_eligible)
    lift, pop = model.for_catalogue(cat)
    r0 = model.rate
    read = readers(store, scan_, cat)
    cols = columns(cat, hist.item)
    tagged = tag_rows(cat, hist)
    bounds = np.searchsorted(hist.client, [*range(0, N, BLOCK), N])
    for b, start in enumerate(range(0, N, BLOCK)):
        stop = min(N, start + BLOCK)
        m = stop - start
        sel = np.arange(bounds[b], bounds[b + 1])
        # profile tags
        prof = np.zeros((m, T), dtype=np.float32)
        lo, hi = scan_.tag_ptr[start], scan_.tag_ptr[stop]
        rows = np.repeat(np.arange(m), np.diff(scan_.tag_ptr[start:stop + 1]))
        prof[rows, scan_.tag_idx[lo:hi]] = 1.0
        fit = prof @ cat.items_by_tag
        ntags = np.maximum(prof.sum(axis=1, keepdims=True), 1.0)
        others = (prof / ntags) @ lift + pop
        # this client's own clicks and ignores, per tag of the items shown
        shown_t = np.zeros((m, T), dtype=np.float32)
        click_t = np.zeros((m, T), dtype=np.float32)
        went = sel[hist.sent[sel]]
        if len(went):  # (clients x offers) 0/1 @ (offers x tags): the tags of what each was shown
            onehot = np.zeros((m, len(went)), dtype=np.float32)
            onehot[hist.client[went] - start, np.arange(len(went))] = 1.0
            per_offer = tagged[hist.item[went]]
            shown_t = onehot @ per_offer
            click_t = (onehot * hist.clicked[went]) @ per_offer
        aff = np.where(shown_t > 0, np.log(((click_t + SMOOTHING * r0 / 4) / (shown_t + SMOOTHING / 4)) / r0), 0.0)
        own = (aff.astype(np.float32)) @ cat.per_tag
        if keep_parts:
            first = {"fit": fit[0].copy(), "others": others[0].copy(), "own": own[0].copy()}
        score = fit  # in place: a block's matrices are the ranking's memory
        score += others
        score += own
        del others, own
        # eligibility
        elig = read[start:stop][:, cat.lang]
        if cat.conditions:
            bits = np.unpackbits(scan_.conds[start:stop], axis=1, count=len(cat.conditions)).astype(bool)
            has = cat.cond >= 0
            cond_ok = np.ones((m, I), dtype=bool)
            cond_ok[:, has] = bits[:, cat.cond[has]]
            elig &= cond_ok
        # shown recently and not clicked: not again (unless it was clicked in the window)
        base = elig.copy()
        banned = sel[hist.recent[sel] & ~hist.clicked[sel]]
        bc = cols[banned]
        elig[hist.client[banned][bc >= 0] - start, bc[bc >= 0]] = False
        liked = sel[hist.clicked[sel]]
        lc = cols[liked]
        lr = hist.client[liked][lc >= 0] - start
        elig[lr, lc[lc >= 0]] = base[lr, lc[lc >= 0]]
        if active is not None:
            elig[~active[start:stop]] = False
        out_eligible[start:stop] = elig.sum(axis=1)
        if keep_parts:
            parts = {**first, "pop": pop, "lift": lift,
                     "aff": aff[0], "shown_t": shown_t[0], "click_t": click_t[0], "prof": prof[0],
                     "eligible": elig[0], "score": score[0]}
        noise = rng.random((m, I), dtype=np.float32)
        ranked = np.where(elig, score + noise * 1e-3, -np.inf)
        randomly = out_random[start:stop]
        ranked[randomly] = np.where(elig[randomly], noise[randomly], -np.inf)
        k = min(n, I)
        top = np.argpartition(-ranked, k - 1, axis=1)[:, :k] if k < I else np.tile(np.arange(I), (m, 1))
        top_scores = np.take_along_axis(ranked, top, axis=1)
        order_in = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order_in, axis=1)
        top_scores = np.take_along_axis(top_scores, order_in, axis=1)
        valid = np.isfinite(top_scores)
        # exploration: a share of the slots (not in random digests) goes to another eligible item
        explore = (rng.random((m, k)) < explore_share) & ~randomly[:, None] & valid
        if explore.any():
            rows_x = np.nonzero(explore.any(axis=1))[0]
            keys = np.where(elig[rows_x], noise[rows_x] + 1.0, -np.inf)
            np.put_along_axis(keys, top[rows_x], -np.inf, axis=1)  # not one of its own best
            kx = int(explore.sum(axis=1).max())
            cand = np.argpartition(-keys, kx - 1, axis=1)[:, :kx] if kx < I else np.tile(np.arange(I), (len(rows_x), 1))
            cand_keys = np.take_along_axis(keys, cand, axis=1)
            cand = np.take_along_axis(cand, np.argsort(-cand_keys, axis=1), axis=1)
            cand_keys = np.sort(cand_keys, axis=1)[:, ::-1]
            for r_i, r in enumerate(rows_x):
                slots = np.nonzero(explore[r])[0]
                usable = int(np.isfinite(cand_keys[r_i, :len(slots)]).sum())
                top[r, slots[:usable]] = cand[r_i, :usable]
                explore[r, slots[usable:]] = False
        chosen_scores = np.take_along_axis(score, top, axis=1)
        out_items[start:stop, :k] = np.where(valid, top, -1)
        out_scores[start:stop, :k] = np.where(valid, chosen_scores, 0.0)
        out_explore[start:stop, :k] = explore & valid
    return Picks(out_items, out_scores, out_explore, out_random, out_eligible, parts)


# --- one client: the preview and its reasons -------------------------------------------------

def explain(store, cat: Catalogue, col: int, parts: dict, sources: dict[int, str], explore: bool,
            randomly: bool, lang: str | None = None) -> list[str]:
    """Why this item was picked, in words a coach understands, in the UI language."""
    why = []
    if randomly:
        return [t("offers.why.random", lang=lang)]
    if explore:
        why.append(t("offers.why.explore", lang=lang))
    item_tags = [g for g in range(len(cat.tags)) if cat.items_by_tag[g, col]]
    by_source: dict[str, list[str]] = {}
    for g in item_tags:
        if parts["prof"][g]:
            by_source.setdefault(sources.get(g, t("offers.why.profile_word", lang=lang)), []).append(cat.tags[g])
    for source, names in by_source.items():
        why.append(t("offers.why.profile", lang=lang, what=source, tags=", ".join(names)))
    liked = [cat.tags[g] for g in item_tags if parts["click_t"][g] > 0 and parts["aff"][g] > 0]
    if liked:
        why.append(t("offers.why.clicked", lang=lang, tags=", ".join(liked)))
    ignored = [cat.tags[g] for g in item_tags if parts["shown_t"][g] > 0 and parts["aff"][g] < 0]
    if ignored:
        why.append(t("offers.why.ignored", lang=lang, tags=", ".join(ignored)))
    lift = float(parts["others"][col] - parts["pop"][col])
    if lift > 0.1:
        why.append(t("offers.why.comparable", lang=lang))
    elif lift < -0.1:
        why.append(t("offers.why.comparable_less", lang=lang))
    if parts["pop"][col] > 0.1:
        why.append(t("offers.why.popular", lang=lang))
    if not why:
        why.append(t("offers.why.nothing_known", lang=lang))
    return why


def preview(store, actor, number: str, n: int | None = None, now: datetime | None = None) -> dict:
    """One client's best items today, as a digest would rank them (without exploration or the
    random share), each with its score and the reasons. Audited as a view of the client."""
    from .. import audit, clients as client_rules
    from ..i18n import language

    now = now or datetime.now(store.tz)
    n = n or store.config.offers.items
    if n < 1 or n > 50:
        raise BadInput(t("offers.bad_items", max=50))
    cid = client_rules.client_id(store, actor, number)
    today = now.astimezone(store.tz).date()
    cat = catalogue(store, today)
    prof = Profiler(store, cat)
    s = scan(store, "clients.id = ?", [cid], cat, prof, today, keep_values=True)
    hist = history(store, s, cat, now, one_client=cid)
    model = load_model(store)
    picks = rank(store, s, cat, hist, model, n, np.random.default_rng(cid), explore_share=0.0, random_share=0.0,
                 keep_parts=True)
    lang = language()
    sources = prof.sources(s.profile_values or (), lang)
    out = []
    for slot in range(n):
        col = int(picks.items[0, slot]) if len(s.ids) else -1
        if col < 0:
            continue
        r = cat.rows[col]
        out.append({"rank": slot + 1, "key": r["key"], "kind": r["kind"], "title": r["title"], "language": r["language"],
                    "tags": r["tags"], "score": round(float(picks.scores[0, slot]), 3),
                    "why": explain(store, cat, col, picks.parts, sources, False, False, lang)})
    audit.record(store.db, actor, "digest_preview", f"client:{cid}")
    return {"client_number": number, "eligible": int(picks.eligible[0]) if len(s.ids) else 0, "items": out}
