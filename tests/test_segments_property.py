"""Property tests for segments: the SQL a tree compiles to selects exactly the clients a
plain-Python reference evaluator of the same tree selects (random catalogs, clients, history,
interventions, saved segments, splits, timezones and todays); arbitrary text raises only
SegmentError; the canonical form round-trips."""

import calendar
import os
import string
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseload import segments, values
from caseload.catalog import Catalog, Characteristic
from caseload.catalog_sync import sync_catalog
from caseload.clients import observe
from caseload.config import Config, Organisation
from caseload.db import open_db, write_transaction
from caseload.fields import CHANNELS, LANGUAGES, OUTFLOW_TYPES, STATUSES
from caseload.i18n import set_language
from caseload.segments import (Ago, And, Condition, Not, Or, SegmentError, Subject, Symbol, canonical,
                               compile_where, parse)
from caseload.store import Store

set_language("en")
EXAMPLES = int(os.environ.get("SEGMENTS_EXAMPLES", "30"))  # raise it for a long hunt
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
TIMEZONES = ("Europe/Amsterdam", "UTC", "Pacific/Chatham", "America/St_Johns")
TYPES = ("bool", "enum", "scale", "number", "date", "text")
WORDS = ("care", "retail", "it", "zorg", "tech_2")
TEXTS = ("Koken", "koken en fietsen", "50% zorg", "a_b", "Zoë", "ZOË", "O'Brien", 'say "hi"', "back\\slash", "x",
         "ÉÉN", "multi\nline")
NEEDLES = ("ok", "KOK", "%", "_", "ë", "Ë", "'", '"', "\\", "zo", "é", "e\nl", "b")
NUMBERS = (-3, 0, 1, 2.5, 10, 39.75)
INTERVENTIONS = ("work-first", "cv_workshop", "Taal", "budget")
SEGMENT_NAMES = ("Zorg eerst", "jong", 'q"uote')
ITEM_KEYS = ("zorg1", "bouw-2", "Tip 3")
ITEM_TAGS = ("zorg", "bouw", "parttime")
CLICK_KINDS = ("link", "link", "answer")  # a tap on a one-tap answer is not a click on a link
TODAYS = (date(2025, 3, 30), date(2024, 2, 29), date(2025, 10, 26), date(2025, 12, 31), date(2025, 1, 31))


# --- data ---------------------------------------------------------------------------------------


@st.composite
def catalogs(draw):
    types = draw(st.lists(st.sampled_from(TYPES), min_size=2, max_size=6))
    chars = []
    for i, typ in enumerate(types):
        extra = {}
        if typ == "scale":
            extra = {"min": 1, "max": 5}
        elif typ == "number":
            extra = {"min": -5, "max": 40} if draw(st.booleans()) else {}
        elif typ == "enum":
            extra = {"values": tuple(draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=4, unique=True)))}
        chars.append(Characteristic(key=f"k{i}_{typ}", type=typ, label={"en": f"K{i}", "nl": f"K{i}"}, category="work",
                                    special=False, purpose="test", max_age_days=365, **extra))
    return Catalog(chars)


def value_for(c, draw):
    if c.type == "bool":
        return draw(st.booleans())
    if c.type == "scale":
        return draw(st.integers(1, 5))
    if c.type == "number":
        return draw(st.sampled_from([n for n in NUMBERS if c.min is None or c.min <= n <= c.max]))
    if c.type == "enum":
        return draw(st.sampled_from(c.values))
    if c.type == "date":
        return draw(st.dates(date(2023, 1, 1), date(2026, 12, 31))).isoformat()
    return draw(st.sampled_from(TEXTS))


def moments(today):
    """UTC stored text around today, with extra weight near local midnights."""
    base = datetime.combine(today, datetime.min.time(), tzinfo=timezone.utc)
    near = st.integers(-3, 3).flatmap(lambda d: st.integers(-15 * 60, 15 * 60).map(
        lambda s: base + timedelta(days=d, hours=-13 + (d % 2) * 26, seconds=s)))
    wide = st.integers(-500 * 86400, 3 * 86400).map(lambda s: base + timedelta(seconds=s))
    return st.one_of(near, wide).map(lambda dt: dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


@st.composite
def worlds(draw):
    catalog = draw(catalogs())
    today = draw(st.sampled_from(TODAYS) | st.dates(date(2024, 1, 1), date(2026, 12, 31)))
    tz = draw(st.sampled_from(TIMEZONES))
    people = []
    for i in range(draw(st.integers(0, 14))):
        opt = lambda s: draw(st.none() | s)  # noqa: E731
        p = {
            "id": i + 1, "client_number": f"c{i}",
            "first_name": opt(st.sampled_from(("Jan", "Zoë", "Anna Maria", " "))),
            "last_name": opt(st.sampled_from(("Jansen", "de Vries", "ÖZTÜRK"))),
            "coach": opt(st.sampled_from(("coach1", "Coach1", "coach2"))),
            "language": opt(st.sampled_from(LANGUAGES)), "preferred_channel": opt(st.sampled_from(CHANNELS)),
            "status": draw(st.sampled_from(STATUSES)), "outflow_type": opt(st.sampled_from(OUTFLOW_TYPES)),
            "outflow_date": opt(st.dates(date(2020, 1, 1), date(2027, 1, 1)).map(date.isoformat)),
            "intake_date": opt(st.dates(today - timedelta(days=800), today + timedelta(days=40)).map(date.isoformat)),
            "birth_date": opt((st.dates(date(1940, 1, 1), today) | st.just(date(2000, 2, 29))).map(date.isoformat)),
            "last_activity": opt(moments(today)), "last_reply": opt(moments(today)),
            "obs": {}, "interventions": [],
        }
        for c in catalog:
            stamps = draw(st.lists(moments(today), max_size=3, unique=True))
            p["obs"][c.key] = [(value_for(c, draw), at) for at in stamps]
        for _ in range(draw(st.integers(0, 2))):
            p["interventions"].append((draw(st.sampled_from(INTERVENTIONS)), draw(st.booleans())))
        p["clicks"] = draw(st.lists(st.tuples(st.sampled_from(CLICK_KINDS), st.none() | st.sampled_from(ITEM_KEYS),
                                              moments(today)), max_size=3))
        people.append(p)
    item_tags = {k: draw(st.sets(st.sampled_from(ITEM_TAGS))) for k in ITEM_KEYS}
    return catalog, today, tz, people, draw(st.booleans()), item_tags


def build_store(tmp, catalog, tz, people, characteristic_index=False, item_tags=None) -> Store:
    db = open_db(tmp / f"{uuid.uuid4().hex}.db", create=True)
    if characteristic_index:  # history conditions then compile to a range scan instead of EXISTS
        db.execute("CREATE INDEX test_observations_characteristic ON observations (characteristic_id, observed_at)")
    ids = sync_catalog(db, catalog)
    store = Store(db=db, config=Config(organisation=Organisation(timezone=tz)), catalog=catalog, ids=ids)
    cols = ("id", "client_number", "first_name", "last_name", "coach", "language", "preferred_channel", "status",
            "outflow_type", "outflow_date", "intake_date", "birth_date", "last_activity", "last_reply")
    with write_transaction(db) as conn:
        for p in people:
            conn.execute(f"INSERT INTO clients ({', '.join(cols)}, created_at, updated_at)"
                         f" VALUES ({', '.join('?' * len(cols))}, 'x', 'x')", [p[c] for c in cols])
            conn.execute("INSERT INTO profile (client_id) VALUES (?)", [p["id"]])
            for key, obs in p["obs"].items():
                for value, at in obs:
                    observe(conn, store, p["id"], key, value, at, "import", None)
            for name, active in p["interventions"]:
                conn.execute("INSERT INTO interventions (client_id, name, start_date, end_date, created_at)"
                             " VALUES (?, ?, '2024-01-01', ?, 'x')", [p["id"], name, None if active else "2024-06-01"])
        for key, tags in (item_tags or {}).items():
            item = conn.execute("INSERT INTO items (key, kind, title, url, tags, language, created_at, updated_at)"
                                " VALUES (?, 'tip', 't', 'https://x.example/', ?, 'nl', 'x', 'x')",
                                [key, ",".join(sorted(tags))]).lastrowid
            conn.executemany("INSERT INTO item_tags (tag, item_id) VALUES (?, ?)", [(g, item) for g in tags])
        for p in people:
            for kind, key, at in p.get("clicks", ()):
                item = conn.execute("SELECT id FROM items WHERE key = ?", [key]).fetchone() if key else None
                conn.execute("INSERT INTO clicks (message_id, client_id, kind, at, item_id) VALUES (0, ?, ?, ?, ?)",
                             [p["id"], kind, at, item[0] if item else None])
    return store


# --- expressions ----------------------------------------------------------------------------------

ORDER = ("<", "<=", ">", ">=")
NAMES_OF_KIND = {
    "text": ("client_number", "name", "coach"), "enum": ("language", "preferred_channel", "status", "outflow_type"),
    "date": ("intake_date", "outflow_date"), "moment": ("last_activity", "last_reply"),
    "years": ("age",), "months": ("months_in_caseload",),
}
FIELD_ENUMS = {"language": LANGUAGES, "preferred_channel": CHANNELS, "status": STATUSES, "outflow_type": OUTFLOW_TYPES}


def agos():
    return st.builds(Ago, st.integers(0, 800), st.sampled_from(("days", "weeks", "months", "years")))


def literal(kind, spec, op, draw):
    """A value of the kind, as parse() would produce it for this op."""
    if kind == "bool":
        return draw(st.booleans())
    if kind == "enum":
        allowed = FIELD_ENUMS[spec] if isinstance(spec, str) else spec.values
        return Symbol(draw(st.sampled_from(allowed)))
    if kind == "scale":
        return draw(st.integers(1, 5)) if op in ("=", "!=", "in") else draw(st.sampled_from((0, 1, 2.5, 3, 5, 6)))
    if kind == "number":
        if op in ("=", "!=", "in") and spec.min is not None:
            return draw(st.sampled_from([n for n in NUMBERS if spec.min <= n <= spec.max]))
        return draw(st.sampled_from(NUMBERS + (2, -0.5, 100)))
    if kind in ("date", "moment"):
        return draw(st.one_of(agos(), st.dates(date(2022, 1, 1), date(2027, 1, 1))))
    if kind in ("years", "months"):
        return draw(st.integers(0, 90 if kind == "years" else 40))
    if kind == "text" and op == "~":
        return draw(st.sampled_from(NEEDLES))
    if kind == "text":
        return draw(st.sampled_from(TEXTS + ("c0", "c1", "Jan Jansen", "Zoë de Vries", "coach1", "Anna Maria")))
    if kind == "intervention":
        return draw(st.sampled_from(INTERVENTIONS + ("WORK", "-", "tAA"))) if op == "~" else draw(
            st.sampled_from(INTERVENTIONS + ("none",)))
    raise AssertionError(kind)


@st.composite
def conditions(draw, catalog, saved_names):
    choice = draw(st.sampled_from(("char", "char", "char", "updated", "history", "field", "field", "intervention",
                                   "click", "segment") if saved_names else ("char", "char", "char", "updated",
                                                                            "history", "field", "field",
                                                                            "intervention", "click")))
    within = None
    if choice == "click":
        what = draw(st.sampled_from(("", "item", "tag")))
        within = draw(st.none() | agos())
        if not what:
            return Condition(Subject("click"), "set", (), within)
        op = draw(st.sampled_from(segments.OPS_BY_KIND["click"]))
        if op == "set":
            return Condition(Subject("click", what), "set", (), within)
        pool = ITEM_KEYS + ("nothing",) if what == "item" else ITEM_TAGS + ("zorg_en_welzijn",)
        n = draw(st.integers(1, 3)) if op == "in" else 1
        vals = [draw(st.sampled_from(pool)) for _ in range(n)]
        return Condition(Subject("click", what), op, tuple(Symbol(v) if what == "tag" else v for v in vals), within)
    if choice in ("char", "history"):
        c = draw(st.sampled_from(list(catalog)))
        subject, kind, spec = Subject("characteristic", c.key), c.type, c
        if choice == "history":
            within = draw(agos())
    elif choice == "updated":
        c = draw(st.sampled_from(list(catalog)))
        subject, kind, spec = Subject("updated", c.key), "moment", None
    elif choice == "field":
        kind = draw(st.sampled_from(sorted(NAMES_OF_KIND)))
        name = draw(st.sampled_from(NAMES_OF_KIND[kind]))
        subject, spec = Subject("field", name), name
    elif choice == "intervention":
        subject, kind, spec = Subject(draw(st.sampled_from(("intervention", "active_intervention")))), "intervention", None
    else:
        op = draw(st.sampled_from(("=", "!=", "in")))
        return Condition(Subject("segment"), op, tuple(draw(st.lists(
            st.sampled_from(saved_names), min_size=1, max_size=2 if op == "in" else 1))))
    ops = [o for o in segments.OPS_BY_KIND[kind] if not (within and o == "set")]
    op = draw(st.sampled_from(ops))
    if op == "set":
        return Condition(subject, "set")
    n = draw(st.integers(1, 3)) if op == "in" else 1
    return Condition(subject, op, tuple(literal(kind, spec, op, draw) for _ in range(n)), within)


def trees(catalog, saved_names=()):
    def extend(children):
        return st.one_of(
            children.map(Not),
            st.lists(children, min_size=2, max_size=3).map(lambda xs: segments._join(And, xs)),
            st.lists(children, min_size=2, max_size=3).map(lambda xs: segments._join(Or, xs)),
        )
    return st.recursive(conditions(catalog, list(saved_names)), extend, max_leaves=6)


# --- the reference evaluator ----------------------------------------------------------------------


def ascii_lower(s: str) -> str:
    return s.translate(str.maketrans(string.ascii_uppercase, string.ascii_lowercase))


def months_back(d: date, n: int) -> date:
    for _ in range(n):
        prev = d.replace(day=1) - timedelta(days=1)
        d = prev.replace(day=min(d.day, prev.day))
    return d


def ref_date(v, today: date) -> date:
    if isinstance(v, date):
        return v
    if v.unit == "days":
        return today - timedelta(days=v.n)
    if v.unit == "weeks":
        return today - timedelta(days=7 * v.n)
    d = today
    for _ in range(v.n if v.unit == "years" else 0):
        y = d.year - 1
        d = date(y, d.month, min(d.day, calendar.monthrange(y, d.month)[1]))
    return months_back(d, v.n) if v.unit == "months" else d


def local_date(stamp: str, tz) -> date:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).astimezone(tz).date()


def whole_years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def whole_months(start: date, today: date) -> int:
    return (today.year - start.year) * 12 + today.month - start.month - (today.day < start.day)


def compare(a, op, b) -> bool:
    return {"=": a == b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


class Reference:
    def __init__(self, catalog, today, tz, saved, splits, item_tags=None):
        self.catalog, self.today, self.tz = catalog, today, ZoneInfo(tz)
        self.item_tags = item_tags or {}
        self.saved, self.splits = saved, splits  # name -> tree, name -> set of ids

    def select(self, tree, people) -> set:
        return {p["id"] for p in people if self.ev(tree, p)}

    def ev(self, node, p) -> bool:
        if isinstance(node, And):
            return all(self.ev(x, p) for x in node.items)
        if isinstance(node, Or):
            return any(self.ev(x, p) for x in node.items)
        if isinstance(node, Not):
            return not self.ev(node.item, p)
        c = node
        if c.op == "!=":
            return not self.ev(Condition(c.subject, "=", c.values, c.within), p)
        kind = c.subject.kind
        if kind == "segment":
            return any(p["id"] in self.splits[n] if n in self.splits else self.ev(self.saved[n], p) for n in c.values)
        if kind == "click":
            since = ref_date(c.within, self.today) if c.within is not None else date.min
            clicks = [key for k, key, at in p["clicks"] if k == "link" and local_date(at, self.tz) >= since]
            if c.subject.name == "":
                return bool(clicks)
            clicks = [key for key in clicks if key is not None]
            if c.op == "set":
                return bool(clicks)
            if c.subject.name == "item":
                return any(key in c.values for key in clicks)
            return any(self.item_tags[key] & set(c.values) for key in clicks)
        if kind in ("intervention", "active_intervention"):
            names = [n for n, active in p["interventions"] if active or kind == "intervention"]
            if c.op == "set":
                return bool(names)
            if c.op == "~":
                return any(ascii_lower(c.values[0]) in ascii_lower(n) for n in names)
            return any(n in c.values for n in names)
        if c.within is not None:
            ch = self.catalog[c.subject.name]
            since = ref_date(c.within, self.today)
            return any(local_date(at, self.tz) >= since and self.match(ch.type, v, c)
                       for v, at in p["obs"][ch.key])
        if kind == "updated":
            obs = p["obs"][c.subject.name]
            latest = max(at for _, at in obs) if obs else None
            return self.match("moment", latest, c)
        if kind == "characteristic":
            ch = self.catalog[c.subject.name]
            obs = p["obs"][ch.key]
            value = max(obs, key=lambda o: o[1])[0] if obs else None
            return self.match(ch.type, value, c)
        name = c.subject.name
        if name == "name":
            value = f"{p['first_name'] or ''} {p['last_name'] or ''}".strip(" ") or None
        elif name == "age":
            value = whole_years(date.fromisoformat(p["birth_date"]), self.today) if p["birth_date"] else None
        elif name == "months_in_caseload":
            value = whole_months(date.fromisoformat(p["intake_date"]), self.today) if p["intake_date"] else None
        else:
            value = p[name]
        kinds = {"last_activity": "moment", "last_reply": "moment", "intake_date": "date", "outflow_date": "date",
                 "age": "int", "months_in_caseload": "int"}
        return self.match(kinds.get(name, "text"), value, c)

    def match(self, typ, value, c) -> bool:
        if value is None:
            return False
        if c.op == "set":
            return True
        if typ == "moment":
            value = local_date(value, self.tz)
            wanted = [ref_date(v, self.today) for v in c.values]
        elif typ == "date":
            value = date.fromisoformat(value)
            wanted = [ref_date(v, self.today) for v in c.values]
        else:
            wanted = list(c.values)
        if c.op == "in":
            return any(value == w for w in wanted)
        if c.op == "~":
            return ascii_lower(wanted[0]) in ascii_lower(value)
        return compare(value, c.op, wanted[0])


# --- properties -----------------------------------------------------------------------------------


@SETTINGS
@given(world=worlds(), data=st.data())
def test_sql_selects_what_the_reference_evaluator_selects(tmp_path_factory, world, data):
    catalog, today, tz, people, characteristic_index, item_tags = world
    store = build_store(tmp_path_factory.mktemp("prop"), catalog, tz, people, characteristic_index, item_tags)
    try:
        saved, splits = {}, {}
        for i, name in enumerate(SEGMENT_NAMES[: data.draw(st.integers(0, 3))]):
            if i == 2 and people:
                members = data.draw(st.sets(st.sampled_from([p["id"] for p in people])))
                seg = store.db.execute("INSERT INTO segments (name, expression, created_at, updated_at)"
                                       " VALUES (?, NULL, 'x', 'x')", [name]).lastrowid
                store.db.conn.executemany("INSERT INTO segment_members VALUES (?, ?)", [(seg, m) for m in members])
                splits[name] = members
                continue
            tree = data.draw(trees(catalog, list(saved)))
            store.db.execute("INSERT INTO segments (name, expression, created_at, updated_at) VALUES (?, ?, 'x', 'x')",
                             [name, canonical(tree)])
            saved[name] = tree
        reference = Reference(catalog, today, tz, saved, splits, item_tags)
        for _ in range(8):
            tree = data.draw(trees(catalog, [*saved, *splits]))
            text = canonical(tree)
            assert parse(text, catalog, today=today) == tree, text
            where, params = compile_where(store, tree, today=today)
            got = {r[0] for r in store.db.execute(
                f"SELECT clients.id {segments.JOINED} WHERE {where}", params)}
            assert got == reference.select(tree, people), text
    finally:
        store.close()


def fragments(catalog):
    keys = catalog.keys()
    return st.lists(st.one_of(
        st.sampled_from(["and", "or", "not", "en", "of", "niet", "(", ")", ",", "in", "is", "not set", "set", "was",
                         "within", "days", "ago", "weeks", "geleden", "today", "=", "!=", "<", "<=", ">", ">=", "~",
                         ".updated", ".active", "intervention", "segment", "clicked", "geklikt", ".item",
                         ".tag", ".aanbod", "age", "name", "last_reply", "true", "ja",
                         "2025-02-30", "31-12-2024", "0", "-1", "2.5", "1e400", "99999999999999999999", '"x"', "'",
                         '"', "\\", "x\x00", "\n", "é", "٣", "💥", "((((", "100000 years ago", "9999-12-31"]),
        st.sampled_from(keys), st.text(max_size=4)), max_size=14).map(" ".join)


@settings(max_examples=EXAMPLES * 13, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_text_raises_only_segment_error(tmp_path_factory, data):
    catalog = data.draw(catalogs())
    text = data.draw(st.one_of(st.text(max_size=60), fragments(catalog)))
    today = data.draw(st.sampled_from(TODAYS) | st.dates(date(1, 1, 1), date(9999, 12, 31)))
    try:
        tree = parse(text, catalog, today=today)
    except SegmentError as e:
        assert e.message and 0 <= e.position <= len(text)
        return
    assert parse(canonical(tree), catalog, today=today) == tree
    compile_where(_EmptyStore(catalog), tree, today=today)


class _EmptyStore:
    """Enough of a Store to compile trees without saved segments; dates at the edge of the calendar."""

    def __init__(self, catalog):
        self.catalog = catalog
        self.ids = {k: i for i, k in enumerate(catalog.keys(), 1)}
        self.tz = ZoneInfo("Pacific/Kiritimati")

        class _Rows(list):
            def fetchone(self):
                return None

        class _Db:
            def execute(self, *a):
                return _Rows()

        self.db = _Db()


@settings(max_examples=EXAMPLES * 5, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_canonical_round_trip(data):
    catalog = data.draw(catalogs())
    tree = data.draw(trees(catalog, ["Zorg eerst", 'q"uote', "and"]))
    text = canonical(tree)
    assert parse(text, catalog) == tree
    assert canonical(parse(text, catalog)) == text


def test_reference_helpers_agree_with_the_calendar():
    assert ref_date(Ago(1, "months"), date(2025, 3, 31)) == date(2025, 2, 28)
    assert ref_date(Ago(1, "years"), date(2024, 2, 29)) == date(2023, 2, 28)
    assert whole_years(date(2000, 2, 29), date(2025, 2, 28)) == 24
    assert whole_months(date(2025, 1, 31), date(2025, 2, 28)) == 0


LABELS = ("Welbevinden", "Kinderopvang geregeld", "ZRM: financiën", "Zoë's werk", "2e taal", "in", "Schulden",
          "Vaste lasten op tijd betaald", "VCA-diploma", "Maximale reistijd (minuten)", "Taal", "Status", "niet",
          "Straße", "ÉÉN keer")


@st.composite
def labelled_catalogs(draw):
    """Catalogs whose characteristics have Dutch labels that fold to different names."""
    catalog = draw(catalogs())
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=len(catalog), max_size=len(catalog),
                           unique_by=lambda label: values.fold(label)))
    return Catalog([replace(c, label={"en": c.key.upper(), "nl": label}) for c, label in zip(catalog, labels)])


def spellings(catalog, key, draw):
    """Ways a person names a characteristic: the key, its Dutch name, its label quoted, shouted."""
    label = catalog[key].label["nl"]
    quoted = '"' + label.replace("\\", "\\\\").replace('"', '\\"') + '"'
    options = [key, segments.name_in(catalog, key, "nl"), key.upper()]
    if segments.builtin_field(label) is None:
        options.append(quoted)
        word = segments.name_in(catalog, key, "nl")
        if not word.startswith('"') and word != key:
            options.append(word.upper())
    return draw(st.sampled_from(options))


@settings(max_examples=EXAMPLES * 5, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_names_by_label_parse_to_the_same_tree(data):
    """A characteristic named by its Dutch label (as one word, quoted, in any case) is the same
    condition as by its key; the canonical form keeps the key."""
    catalog = data.draw(labelled_catalogs())
    tree = data.draw(trees(catalog, ["Zorg eerst"]))
    names = {key: spellings(catalog, key, data.draw) for key in catalog.keys()}
    text = canonical(tree, names)
    assert parse(text, catalog) == tree, text
    assert canonical(parse(text, catalog)) == canonical(tree)


def test_a_label_that_names_a_field_or_a_keyword_is_written_so_it_still_parses():
    catalog = Catalog([Characteristic(key="k_taal", type="bool", label={"nl": "Taal"}, category="work", special=False,
                                      purpose="test", max_age_days=1),
                       Characteristic(key="k_in", type="bool", label={"nl": "in"}, category="work", special=False,
                                      purpose="test", max_age_days=1),
                       Characteristic(key="k_2e", type="bool", label={"nl": "2e taal"}, category="work", special=False,
                                      purpose="test", max_age_days=1)])
    assert segments.name_in(catalog, "k_taal", "nl") == "k_taal"  # `taal` is the client's language
    assert segments.name_in(catalog, "k_in", "nl") == '"in"'
    assert segments.name_in(catalog, "k_2e", "nl") == '"2e taal"'
    assert canonical(parse('"in" and "2e taal" and "2E TAAL"', catalog)) == "k_in = true and k_2e = true and k_2e = true"
