"""Segments: a small selection language over client fields, characteristics, their history,
interventions and other segments, parsed into a tree, checked against the catalog and compiled
to parameterised SQL. Segments are evaluated live, on the data as it is now.

    wellbeing <= 2 and childcare_arranged != true and last_reply < 30 days ago
    welzijn... niet debts = ja of (age >= 27 en intake_date < 01-01-2024)

Grammar (keywords are case-insensitive; Dutch in brackets)::

    expr      := and ("or" [of] and)*                 -- "and" binds tighter than "or"
    and       := unary ("and" [en] unary)*
    unary     := "not" [niet] unary | "(" expr ")" | condition
    condition := subject op value
               | subject ["not"] "in" "(" value ("," value)* ")"
               | subject "is" ["not"] "set" [ingevuld, bekend]
               | key "was" (op value | "in" (...)) "within" [binnen] N unit
               | key                                   -- a bool characteristic: key = true
               | "clicked" [geklikt] ["is" ["not"] "set"] ["within" N unit]
               | "clicked.item" [.aanbod] / "clicked.tag" [.label]
                   (op value | ["not"] "in" (...) | "is" ["not"] "set") ["within" N unit]
    op        := = | != (or <>) | < | <= | > | >= | ~ (text contains, ignoring A-Z case)
    subject   := key | key".updated" [.bijgewerkt] | built-in field
               | "intervention" [interventie] | "intervention.active" [.actief]
               | "segment" [selectie]
    value     := number | "quoted" | bare_word | true/false/ja/nee | 2025-03-31 | 31-03-2025
               | N (days|weeks|months|years) "ago" [dagen/weken/maanden/jaar "geleden"]
               | today [vandaag] | yesterday [gisteren]

Built-in fields: client_number, name, coach, language, preferred_channel, status, age,
intake_date, months_in_caseload, last_activity, last_reply, outflow_type, outflow_date.
A built-in field wins over a characteristic with the same key.

Missing values (the rule everything else follows):
    A condition on something that is not set is false: `debts = true`, `debts = false`,
    `wellbeing < 3`, `debts in (true)`, `age > 30` are all false for a client whose value is
    unknown. `not` flips true and false, so `not debts = true` is true for an unknown value,
    and `a != b` means exactly `not a = b`: `debts != true` includes clients whose debts are
    unknown, `debts = false` does not. `x not in (...)` means `not x in (...)`;
    `x is not set` means `not x is set`. Clicks: `clicked` is a click on any tracked link,
    `clicked.item = KEY` on that item's link in a digest, `clicked.tag = TAG` on an item with
    that tag; `within N days` limits them to the window, else ever; `clicked.tag != zorg` means
    `not clicked.tag = zorg`. History: `key was OP v within N days` is true when
    at least one observation in that window matches; `key was != v within ...` means
    `not key was = v within ...`, so it includes clients with no observation at all.
    The SQL is two-valued by construction: every `not` compiles to `(...) IS NOT 1`, so a
    NULL never leaks into a negation.

Dates and time: relative dates (`30 days ago`, `today`) are computed on the organisation's
timezone (config organisation.timezone). A date compared with a moment (`last_reply`,
`last_activity`, `key.updated`, observation times, all stored in UTC) means that local day:
`last_reply < 30 days ago` is "before midnight starting that day", `last_reply = today` is
"today, local time". `within N days` means observed on or after the local start of the day
N days ago. `age` is in whole years and `months_in_caseload` in whole months since intake,
both counted to today.

Saved segments are stored in canonical form (`canonical`) and referred to by name
(`segment = "Zorg eerst"`), evaluated live each time; cycles are an error. A random split
(`split`) records fixed groups, selectable as `segment = "A"`.
"""

import calendar
import difflib
import json
import math
import random
import re
import secrets
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone

from . import access, audit, privacy, values
from .clock import iso, utcnow
from .db import write_transaction
from .errors import BadInput, NotFound, PermissionDenied
from .fields import CHANNELS, FIELDS, LANGUAGES, OUTFLOW_TYPES, STATUSES
from .i18n import language, t

MAX_LENGTH = 4000
MAX_DEPTH = 25
MAX_CONDITIONS = 100
MAX_IN = 100
MAX_EXPANDED = 400  # conditions after saved segments are expanded
MAX_AGO = 100_000
MAX_NESTING = 10  # saved segments inside saved segments
MAX_PARAMS = 30_000
MAX_NAME = 80
INT_LIMIT = 2**63


class SegmentError(BadInput):
    """The one error parsing and checking a segment raises; the message shows the expression
    with a caret under `position` (0-based index into the text)."""

    def __init__(self, reason: str, text: str = "", position: int = 0):
        self.reason = reason
        self.text = text
        self.position = max(0, min(position, len(text)))
        super().__init__(_with_caret(reason, text, self.position))


class NotForAnalysts(SegmentError, PermissionDenied):
    """An analyst's expression selects on something that identifies a person (IDENTIFYING, or
    the free text of a text characteristic): refused, with the position, as a denied permission."""

    exit_code = 1


def _with_caret(reason: str, text: str, position: int) -> str:
    if not text:
        return reason
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    line = text[start:] if end < 0 else text[start:end]
    line = "".join(" " if ch in "\t\r\f\v" else ch for ch in line)
    column = position - start
    line_no = text.count("\n", 0, position) + 1
    where = (t("segments.at_line_column", line=line_no, column=column + 1) if "\n" in text
             else t("segments.at_column", column=column + 1))
    return f"{where}: {reason}\n  {line}\n  {' ' * column}^"


# ---------------------------------------------------------------------------------------------
# The tree. Positions are kept for messages but are not part of a node's identity.


@dataclass(frozen=True)
class Ago:
    """A date relative to today: n units (days, weeks, months, years) back; Ago(0, "days") is today."""

    n: int
    unit: str = "days"


class Symbol(str):
    """An enum value (a catalog value key or a field's fixed value); printed bare when it can be."""

    __slots__ = ()


@dataclass(frozen=True)
class Subject:
    """What a condition is about. kind: characteristic | updated | field | intervention |
    active_intervention | segment; name: the characteristic key or field name."""

    kind: str
    name: str = ""


@dataclass(frozen=True)
class Condition:
    subject: Subject
    op: str  # = != < <= > >= in ~ set
    values: tuple = ()
    within: Ago | None = None  # set: a history condition (`key was ... within N days`)
    pos: int = field(default=0, compare=False, repr=False)
    value_pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    item: "Node"


@dataclass(frozen=True)
class And:
    items: tuple


@dataclass(frozen=True)
class Or:
    items: tuple


Node = And | Or | Not | Condition

ORDER_OPS = ("<", "<=", ">", ">=")
OPS_BY_KIND = {
    "bool": ("=", "!=", "in", "set"),
    "enum": ("=", "!=", "in", "set"),
    "text": ("=", "!=", "in", "~", "set"),
    "scale": ("=", "!=", *ORDER_OPS, "in", "set"),
    "number": ("=", "!=", *ORDER_OPS, "in", "set"),
    "date": ("=", "!=", *ORDER_OPS, "in", "set"),
    "moment": ("=", "!=", *ORDER_OPS, "in", "set"),
    "years": ("=", "!=", *ORDER_OPS, "in", "set"),
    "months": ("=", "!=", *ORDER_OPS, "in", "set"),
    "intervention": ("=", "!=", "in", "~", "set"),
    "segment": ("=", "!=", "in"),
    "clicked": ("set",),
    "click": ("=", "!=", "in", "set"),
}

# Built-in fields: kind and the SQL expression over `clients`.
NAME_SQL = "NULLIF(TRIM(COALESCE(clients.first_name, '') || ' ' || COALESCE(clients.last_name, '')), '')"
BUILTIN = {
    "client_number": ("text", "clients.client_number"),
    "name": ("text", NAME_SQL),
    "coach": ("text", "clients.coach"),
    "language": ("enum", "clients.language"),
    "second_language": ("enum", "clients.second_language"),
    "preferred_channel": ("enum", "clients.preferred_channel"),
    "status": ("enum", "clients.status"),
    "age": ("years", "clients.birth_date"),
    "intake_date": ("date", "clients.intake_date"),
    "months_in_caseload": ("months", "clients.intake_date"),
    "last_activity": ("moment", "clients.last_activity"),
    "last_reply": ("moment", "clients.last_reply"),
    "outflow_type": ("enum", "clients.outflow_type"),
    "outflow_date": ("date", "clients.outflow_date"),
}
ENUM_FIELDS = {"language": LANGUAGES, "second_language": LANGUAGES, "preferred_channel": CHANNELS,
               "status": STATUSES, "outflow_type": OUTFLOW_TYPES}
FIELD_ALIASES = {
    "klantnummer": "client_number", "naam": "name", "taal": "language", "tweede_taal": "second_language",
    "voorkeurskanaal": "preferred_channel", "leeftijd": "age", "instroomdatum": "intake_date",
    "maanden_in_bestand": "months_in_caseload", "laatste_activiteit": "last_activity",
    "laatste_reactie": "last_reply", "uitstroomtype": "outflow_type", "uitstroomdatum": "outflow_date",
}

def _builtin_index() -> dict[str, str]:
    """Folded name -> built-in field: its name, its Dutch alias, and the labels of the client field
    it reads (fields.FIELDS), matched as the importer matches headers (values.fold)."""
    index = {values.fold(name): name for name in BUILTIN}
    for alias, name in FIELD_ALIASES.items():
        index.setdefault(values.fold(alias), name)
    for name in BUILTIN:
        if name in FIELDS:
            for label in (FIELDS[name].label_nl, FIELDS[name].label_en):
                index.setdefault(values.fold(label), name)
    return index


BUILTIN_INDEX = _builtin_index()
LIMITS = {"years": 200, "months": 2400}
# Built-in fields that read an identifying client field (fields.IDENTIFYING): analysts may not
# select on them. `age` reads the birth date too, but only as whole years: a group, not a person.
IDENTIFYING = ("client_number", "name")

KEYWORDS = {
    "and": "and", "en": "and", "or": "or", "of": "or", "not": "not", "niet": "not", "in": "in",
    "is": "is", "set": "set", "ingevuld": "set", "bekend": "set", "was": "was",
    "within": "within", "binnen": "within", "ago": "ago", "geleden": "ago",
    "today": "today", "vandaag": "today", "yesterday": "yesterday", "gisteren": "yesterday",
}
UNITS = {
    "day": "days", "days": "days", "dag": "days", "dagen": "days",
    "week": "weeks", "weeks": "weeks", "weken": "weeks",
    "month": "months", "months": "months", "maand": "months", "maanden": "months",
    "year": "years", "years": "years", "jaar": "years", "jaren": "years",
}
SUBJECT_WORDS = {"intervention": "intervention", "interventie": "intervention",
                 "segment": "segment", "selectie": "segment", "clicked": "click", "geklikt": "click"}
ATTRIBUTES = {"updated": "updated", "bijgewerkt": "updated", "active": "active", "actief": "active",
              "item": "item", "aanbod": "item", "tag": "tag", "label": "tag"}
_RESERVED = set(KEYWORDS) | set(UNITS) | values.TRUE | values.FALSE
_BARE = re.compile(r"[a-z_][a-z0-9_\-]*")


# ---------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    |(?P<date>[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?![\w.\-])|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{4}(?![\w.\-]))
    |(?P<number>[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![\w.]))
    |(?P<op>!=|<>|<=|>=|==|=|<|>|~)
    |(?P<punct>[(),.])
    |(?P<word>[^\W\d][\w\-]*)
    """,
    re.X | re.S,
)
_UNESCAPE = re.compile(r"\\(.)", re.S)


@dataclass(frozen=True)
class _Token:
    kind: str  # string date number op punct word end
    text: str
    pos: int

    @property
    def keyword(self) -> str | None:
        return KEYWORDS.get(self.text.lower()) if self.kind == "word" else None

    @property
    def value(self) -> str:
        if self.kind == "string":
            return _UNESCAPE.sub(r"\1", self.text[1:-1])
        return self.text


def _tokens(text: str) -> list[_Token]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "\"'":
                raise SegmentError(t("segments.unterminated_string"), text, pos)
            raise SegmentError(t("segments.unexpected_char", char=ch), text, pos)
        kind = m.lastgroup
        if kind != "ws":
            out.append(_Token(kind, m.group(), pos))
        pos = m.end()
    out.append(_Token("end", "", len(text)))
    return out


# ---------------------------------------------------------------------------------------------
# Parsing and checking


def parse(text: str, catalog, *, tz=None, today=None) -> Node:
    """Parse and check an expression against the catalog; raises SegmentError only.

    tz and today only serve to check that relative dates stay within the calendar; the tree
    keeps them relative (a saved segment stays live)."""
    if not isinstance(text, str):
        raise SegmentError(t("segments.empty"))
    if len(text) > MAX_LENGTH:
        raise SegmentError(t("segments.too_long", max=MAX_LENGTH), text[:MAX_LENGTH], MAX_LENGTH)
    if "\x00" in text:  # SQLite would cut a value at a NUL byte
        raise SegmentError(t("segments.unexpected_char", char="\\0"), text, text.index("\x00"))
    if today is None:
        today = datetime.now(tz or timezone.utc).date()
    return _Parser(text, catalog, today).parse()


class _Parser:
    def __init__(self, text: str, catalog, today: date):
        self.text = text
        self.catalog = catalog
        self.today = today
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0
        self.conditions = 0

    # -- helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def peek(self, n: int = 1) -> _Token:
        return self.tokens[min(self.i + n, len(self.tokens) - 1)]

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def error(self, reason: str, pos: int | None = None):
        return SegmentError(reason, self.text, self.tok.pos if pos is None else pos)

    def unexpected(self, expected: str):
        tok = self.tok
        if tok.kind == "end":
            return self.error(t("segments.unexpected_end", expected=expected))
        return self.error(t("segments.unexpected", found=tok.text, expected=expected))

    def expect_punct(self, ch: str) -> _Token:
        if self.tok.kind == "punct" and self.tok.text == ch:
            return self.next()
        raise self.unexpected(f"'{ch}'")

    def expect_keyword(self, kw: str, shown: str) -> _Token:
        if self.tok.keyword == kw:
            return self.next()
        raise self.unexpected(shown)

    # -- grammar
    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.error(t("segments.empty"))
        node = self.or_()
        if self.tok.kind != "end":
            if self.tok.kind == "punct" and self.tok.text == ")":
                raise self.error(t("segments.unbalanced"))
            raise self.unexpected(t("segments.expected_and_or"))
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.tok.keyword == "or":
            self.next()
            items.append(self.and_())
        return _join(Or, items)

    def and_(self) -> Node:
        items = [self.unary()]
        while self.tok.keyword == "and":
            self.next()
            items.append(self.unary())
        return _join(And, items)

    def unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(t("segments.too_deep", max=MAX_DEPTH))
        try:
            if self.tok.keyword == "not":
                self.next()
                return Not(self.unary())
            if self.tok.kind == "punct" and self.tok.text == "(":
                self.next()
                node = self.or_()
                self.expect_punct(")")
                return node
            return self.condition()
        finally:
            self.depth -= 1

    def condition(self) -> Condition:
        start = self.tok
        if start.kind not in ("word", "string") or start.keyword in ("and", "or", "not"):
            raise self.unexpected(t("segments.expected_condition"))
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.error(t("segments.too_many", max=MAX_CONDITIONS))
        subject, kind, spec = self.subject()
        self.current = _subject_text(subject)
        if subject.kind == "click":
            return self.click(subject, kind, start.pos)
        tok = self.tok
        kw = tok.keyword
        if kw == "is":
            self.next()
            negate = False
            if self.tok.keyword == "not":
                self.next()
                negate = True
            self.expect_keyword("set", "'set'")
            self.allowed(kind, "set", subject, tok.pos)
            cond = Condition(subject, "set", (), None, start.pos, tok.pos)
            return Not(cond) if negate else cond
        if kw == "not" and self.peek().keyword == "in":
            self.next()
            return Not(self.in_list(subject, kind, spec, start.pos, None))
        if kw == "in":
            return self.in_list(subject, kind, spec, start.pos, None)
        if kw == "was":
            return self.history(subject, kind, spec, start.pos)
        if tok.kind == "op":
            op = self.op()
            self.allowed(kind, op, subject, tok.pos)
            vtok = self.tok
            value = self.value(kind, spec, op)
            return Condition(subject, op, (value,), None, start.pos, vtok.pos)
        if kind == "bool" and subject.kind == "characteristic":
            return Condition(subject, "=", (True,), None, start.pos, start.pos)
        raise self.unexpected(t("segments.expected_operator"))

    def op(self) -> str:
        text = self.next().text
        return {"<>": "!=", "==": "="}.get(text, text)

    def in_list(self, subject, kind, spec, start: int, within) -> Condition:
        in_tok = self.expect_keyword("in", "'in'")
        self.allowed(kind, "in", subject, in_tok.pos)
        self.expect_punct("(")
        vpos = self.tok.pos
        items = [self.value(kind, spec, "in")]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.next()
            items.append(self.value(kind, spec, "in"))
            if len(items) > MAX_IN:
                raise self.error(t("segments.too_many_values", max=MAX_IN))
        self.expect_punct(")")
        return Condition(subject, "in", tuple(items), within, start, vpos)

    def click(self, subject: Subject, kind: str, start: int) -> Node:
        """clicked [within N unit], clicked.item|tag OP value(s) [within N unit]."""
        tok = self.tok
        negate = False
        if kind == "clicked" and tok.keyword not in ("is",):
            cond = Condition(subject, "set", (), None, start, start)
        elif tok.keyword == "is":
            self.next()
            if self.tok.keyword == "not":
                self.next()
                negate = True
            self.expect_keyword("set", "'set'")
            cond = Condition(subject, "set", (), None, start, tok.pos)
        elif tok.keyword == "not" and self.peek().keyword == "in":
            self.next()
            negate = True
            cond = self.in_list(subject, kind, None, start, None)
        elif tok.keyword == "in":
            cond = self.in_list(subject, kind, None, start, None)
        elif tok.kind == "op":
            op = self.op()
            self.allowed(kind, op, subject, tok.pos)
            vtok = self.tok
            cond = Condition(subject, op, (self.value(kind, None, op),), None, start, vtok.pos)
        else:
            raise self.unexpected(t("segments.expected_operator"))
        if subject.name == "tag":
            cond = replace(cond, values=tuple(self.tag_value(v, cond.value_pos) for v in cond.values))
        if self.tok.keyword == "within":
            self.next()
            ntok = self.tok
            if ntok.kind != "number" or not re.fullmatch(r"[0-9]+", ntok.text):
                raise self.unexpected(t("segments.expected_count"))
            self.next()
            cond = replace(cond, within=self.ago(int(ntok.text), self.unit(), ntok.pos))
        return Not(cond) if negate else cond

    def tag_value(self, raw: str, pos: int) -> str:
        from .items import tag

        normal = tag(raw)
        if not normal:
            raise SegmentError(t("segments.empty_value"), self.text, pos)
        return Symbol(normal)

    def history(self, subject, kind, spec, start: int) -> Condition:
        was = self.next()
        if subject.kind != "characteristic":
            raise self.error(t("segments.was_needs_characteristic"), was.pos)
        if self.tok.keyword == "in":
            cond = self.in_list(subject, kind, spec, start, None)
        elif self.tok.kind == "op":
            optok = self.tok
            op = self.op()
            self.allowed(kind, op, subject, optok.pos)
            vtok = self.tok
            cond = Condition(subject, op, (self.value(kind, spec, op),), None, start, vtok.pos)
        else:
            raise self.unexpected(t("segments.expected_operator"))
        self.expect_keyword("within", "'within'")
        ntok = self.tok
        if ntok.kind != "number" or not re.fullmatch(r"[0-9]+", ntok.text):
            raise self.unexpected(t("segments.expected_count"))
        self.next()
        unit = self.unit()
        within = self.ago(int(ntok.text), unit, ntok.pos)
        return Condition(cond.subject, cond.op, cond.values, within, start, cond.value_pos)

    def unit(self) -> str:
        tok = self.tok
        unit = UNITS.get(tok.text.lower()) if tok.kind == "word" else None
        if unit is None:
            raise self.unexpected(t("segments.expected_unit"))
        self.next()
        return unit

    def ago(self, n: int, unit: str, pos: int) -> Ago:
        if n > MAX_AGO:
            raise self.error(t("segments.too_far", max=MAX_AGO), pos)
        a = Ago(n, unit)
        try:
            ago_date(a, self.today)
        except (OverflowError, ValueError):
            raise self.error(t("segments.too_far", max=MAX_AGO), pos) from None
        return a

    def subject(self) -> tuple[Subject, str, object]:
        tok = self.next()
        word = tok.value.lower()
        attr = None
        if self.tok.kind == "punct" and self.tok.text == ".":
            self.next()
            atok = self.tok
            if atok.kind != "word":
                raise self.unexpected(t("segments.expected_attribute"))
            self.next()
            attr = ATTRIBUTES.get(atok.text.lower())
            if attr is None:
                raise self.error(t("segments.unknown_attribute", attribute=atok.text), atok.pos)
        else:
            atok = None
        if word in SUBJECT_WORDS:
            what = SUBJECT_WORDS[word]
            if what == "intervention" and attr == "active":
                return Subject("active_intervention"), "intervention", None
            if what == "click" and attr in (None, "item", "tag"):
                return Subject("click", attr or ""), "click" if attr else "clicked", None
            if attr is not None:
                raise self.error(t("segments.attribute_not_here", attribute=atok.text, name=tok.text), atok.pos)
            return Subject(what), what, None
        field_name = builtin_field(word)
        if field_name is not None:
            if attr is not None:
                raise self.error(t("segments.attribute_not_here", attribute=atok.text, name=tok.text), atok.pos)
            return Subject("field", field_name), BUILTIN[field_name][0], field_name
        c = self.catalog.find(tok.value)  # by key, or by label in any language (welbevinden)
        if c is None:
            raise self.error(t("segments.unknown_name", name=tok.text) + _did_you_mean(word, self.catalog), tok.pos)
        if attr == "updated":
            return Subject("updated", c.key), "moment", None
        if attr is not None:
            raise self.error(t("segments.attribute_not_here", attribute=atok.text, name=tok.text), atok.pos)
        return Subject("characteristic", c.key), c.type, c

    def allowed(self, kind: str, op: str, subject: Subject, pos: int) -> None:
        ops = OPS_BY_KIND[kind]
        if op not in ops:
            shown = ", ".join("is set" if o == "set" else o for o in ops)
            raise self.error(t("segments.op_not_supported", name=_subject_text(subject), kind=_kind_text(kind),
                               op="is set" if op == "set" else op, ops=shown), pos)

    # -- values
    def value(self, kind: str, spec, op: str):
        tok = self.tok
        if tok.kind in ("end", "op", "punct"):
            raise self.unexpected(t("segments.expected_value"))
        if tok.kind == "number" and self.peek().kind == "word" and self.peek().text.lower() in UNITS:
            return self.relative_date(kind)
        self.next()
        raw = tok.value
        try:
            if kind == "bool":
                return values.parse_bool(raw)
            if kind == "enum":
                return Symbol(FIELDS[spec].parse(raw) if isinstance(spec, str) else spec.parse(raw))
            if kind in ("scale", "number"):
                number = self.number(tok)
                return spec.check(number) if op in ("=", "!=", "in") else number
            if kind in ("years", "months"):
                number = self.number(tok)
                if number != int(number) or not 0 <= number <= LIMITS[kind]:
                    raise ValueError(t("value.out_of_range", min=0, max=LIMITS[kind]))
                return int(number)
            if kind in ("date", "moment"):
                if tok.keyword == "today":
                    return Ago(0, "days")
                if tok.keyword == "yesterday":
                    return Ago(1, "days")
                if tok.kind not in ("date", "string"):
                    raise ValueError(t("value.not_a_date"))
                d = values.parse_date(raw)
                if not date(1, 1, 2) <= d <= date(9999, 12, 30):
                    raise ValueError(t("value.not_a_date"))
                return d
        except ValueError as e:
            raise SegmentError(t("segments.bad_value", value=_shorten(raw), name=self.current, reason=str(e)), self.text, tok.pos) from None
        # text, intervention and segment names: taken literally
        if not raw.strip():
            raise SegmentError(t("segments.empty_value"), self.text, tok.pos)
        return raw

    def number(self, tok: _Token) -> int | float:
        if tok.kind not in ("number", "string"):
            raise ValueError(t("value.not_a_number"))
        text = tok.value.strip()
        if not re.fullmatch(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", text) or len(text) > 40:
            raise ValueError(t("value.not_a_number"))
        number = int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else float(text)
        if isinstance(number, float) and not math.isfinite(number) or abs(number) >= INT_LIMIT:
            raise ValueError(t("segments.number_too_large"))
        return number

    def relative_date(self, kind: str) -> Ago:
        ntok = self.next()
        if kind not in ("date", "moment"):
            raise SegmentError(t("segments.date_not_here", name=self.current), self.text, ntok.pos)
        if not re.fullmatch(r"[0-9]+", ntok.text):
            raise SegmentError(t("segments.expected_count"), self.text, ntok.pos)
        unit = self.unit()
        self.expect_keyword("ago", "'ago'")
        return self.ago(int(ntok.text), unit, ntok.pos)


def _join(cls, items: list) -> Node:
    if len(items) == 1:
        return items[0]
    flat = []
    for item in items:
        flat.extend(item.items if isinstance(item, cls) else (item,))
    return cls(tuple(flat))


def _shorten(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def builtin_field(name: str) -> str | None:
    """The built-in field a person means: its name, its Dutch name or its label (folded)."""
    return name if name in BUILTIN else BUILTIN_INDEX.get(values.fold(name))


def name_in(catalog, key: str, lang: str | None = None) -> str:
    """How a characteristic is written in the segment language for people of `lang`: its key in
    English, else its label there as one word (`kinderopvang_geregeld`), quoted when it cannot be
    one (it would start with a digit, or be a keyword). Both parse to the same tree as the key;
    where a label would mean something else (a built-in field), the key."""
    lang = lang or language()
    label = (catalog[key].label or {}).get(lang) if lang != "en" else None
    if not label or builtin_field(label) is not None or catalog.find(label) is not catalog[key]:
        return key
    word = re.sub(r"[^\w\-]+", "_", label.strip().lower()).strip("_")
    if _WORD_NAME.fullmatch(word) and word.lower() not in _RESERVED and word.lower() not in SUBJECT_WORDS:
        return word
    return '"' + label.replace("\\", "\\\\").replace('"', '\\"') + '"'


_WORD_NAME = re.compile(r"[^\W\d][\w\-]*")


def _did_you_mean(word: str, catalog) -> str:
    names = [*BUILTIN, *SUBJECT_WORDS, *catalog.keys()]
    near = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
    folded = values.fold(word)
    for c in catalog:
        for label in (c.label or {}).values():
            f = values.fold(str(label))
            if folded and (f == folded or (len(folded) >= 4 and folded in f)) and c.key not in near:
                near.insert(0, c.key)
    near = [name_in(catalog, n) if n in catalog else n for n in near[:4]]
    return t("catalog.did_you_mean", names=", ".join(near)) if near else ""


def _kind_text(kind: str) -> str:
    return t(f"segments.kind_{kind}") if kind in ("moment", "years", "months") else kind


def _subject_text(s: Subject, names: dict[str, str] | None = None) -> str:
    if s.kind == "characteristic":
        return (names or {}).get(s.name, s.name)
    if s.kind == "field":
        return s.name
    if s.kind == "updated":
        return f"{(names or {}).get(s.name, s.name)}.updated"
    if s.kind == "active_intervention":
        return "intervention.active"
    if s.kind == "click":
        return f"clicked.{s.name}" if s.name else "clicked"
    return s.kind


# ---------------------------------------------------------------------------------------------
# The canonical form


def canonical(node: Node, names: dict[str, str] | None = None) -> str:
    """The one normal text of a tree: English keywords, single spaces, values normalised
    (dates ISO, booleans true/false, text quoted); `parse(canonical(tree)) == tree`.
    names: key -> how to write that characteristic instead (`name_in`), for people; it parses
    to the same tree."""
    if isinstance(node, Or):
        return " or ".join(f"({canonical(p, names)})" if isinstance(p, Or) else canonical(p, names) for p in node.items)
    if isinstance(node, And):
        return " and ".join(f"({canonical(p, names)})" if isinstance(p, (And, Or)) else canonical(p, names) for p in node.items)
    if isinstance(node, Not):
        inner = node.item
        if isinstance(inner, Condition) and inner.within is None and inner.subject.kind != "click":
            if inner.op == "set":
                return f"{_subject_text(inner.subject, names)} is not set"
            if inner.op == "in":
                return f"{_subject_text(inner.subject, names)} not in ({_values_text(inner)})"
        if isinstance(inner, (Condition, Not)):
            return f"not {canonical(inner, names)}"
        return f"not ({canonical(inner, names)})"
    if isinstance(node, Condition) and node.subject.kind == "click":
        subj = _subject_text(node.subject)
        if node.op == "set":
            body = subj if not node.subject.name else f"{subj} is set"
        elif node.op == "in":
            body = f"{subj} in ({_values_text(node)})"
        else:
            body = f"{subj} {node.op} {_value_text(node.values[0], node.subject)}"
        return body if node.within is None else f"{body} within {_ago_text(node.within, past=False)}"
    if isinstance(node, Condition):
        subj = _subject_text(node.subject, names)
        if node.op == "set":
            return f"{subj} is set"
        if node.op == "in":
            body = f"in ({_values_text(node)})"
        else:
            body = f"{node.op} {_value_text(node.values[0], node.subject)}"
        if node.within is not None:
            return f"{subj} was {body} within {_ago_text(node.within, past=False)}"
        return f"{subj} {body}"
    raise TypeError(type(node).__name__)


def _values_text(node: Condition) -> str:
    return ", ".join(_value_text(v, node.subject) for v in node.values)


def _value_text(v, subject: Subject) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Ago):
        return _ago_text(v, past=True)
    if isinstance(v, Symbol) and _BARE.fullmatch(v) and v not in _RESERVED:
        return str(v)
    return quote_value(v)


def quote_value(text: str) -> str:
    """A text as a value in an expression: `client_number = ` + quote_value("K 01")."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ago_text(a: Ago, past: bool) -> str:
    if past and a == Ago(0, "days"):
        return "today"
    unit = a.unit[:-1] if a.n == 1 else a.unit
    return f"{a.n} {unit} ago" if past else f"{a.n} {unit}"


# ---------------------------------------------------------------------------------------------
# Dates


def ago_date(a: Ago, today: date) -> date:
    if a.unit == "days":
        return today - timedelta(days=a.n)
    if a.unit == "weeks":
        return today - timedelta(weeks=a.n)
    months = a.n * (12 if a.unit == "years" else 1)
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    if year < 1:
        raise OverflowError("date out of range")
    return date(year, month + 1, min(today.day, calendar.monthrange(year, month + 1)[1]))


def _start_utc(d: date | None, tz) -> str:
    """The UTC moment the local day d starts, as stored text; None means after all time."""
    if d is None:
        return "~"
    try:
        return iso(datetime.combine(d, time(0), tzinfo=tz))
    except (OverflowError, ValueError):
        return "" if d.year < 5000 else "~"


def _next_day(d: date) -> date | None:
    return None if d == date.max else d + timedelta(days=1)


def _years_back(today: date, n: int) -> str:
    """Born on or before this ISO text <=> at least n whole years old today."""
    return f"{today.year - n:04d}-{today.month:02d}-{today.day:02d}"


def _months_back(today: date, n: int) -> str:
    """Intake on or before this ISO text <=> at least n whole months in the caseload today."""
    year, month = divmod(today.year * 12 + today.month - 1 - n, 12)
    return f"{year:04d}-{month + 1:02d}-{today.day:02d}"


# ---------------------------------------------------------------------------------------------
# Compiling to SQL


def compile_where(store, node: Node, *, today: date | None = None, text: str | None = None) -> tuple[str, list]:
    """The tree as a boolean SQL expression over `clients LEFT JOIN profile`, with parameters."""
    sql, params, _ = _compile(store, node, today, text)
    return sql, params


def _compile(store, node: Node, today: date | None, text: str | None,
             aggregates_only: bool = False) -> tuple[str, list, bool]:
    """(sql, params, joined): joined says the SQL reads the outer `profile` of the LEFT JOIN.
    aggregates_only (an analyst asking): identifying fields and free text are refused."""
    today = today or datetime.now(store.tz).date()
    c = _Compiler(store, today, aggregates_only)
    text = text if text is not None else canonical(node)
    sql, params, _ = c.node(node, text)
    if len(params) > MAX_PARAMS:
        raise SegmentError(t("segments.too_complex", max=MAX_EXPANDED), text, 0)
    return sql, params, c.joined


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _balanced(op: str, parts: list[str]) -> str:
    """a OP b OP c ..., grouped as a balanced tree so SQLite's expression depth stays small."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) <= 8:
        return "(" + f" {op} ".join(parts) + ")"
    mid = len(parts) // 2
    return f"({_balanced(op, parts[:mid])} {op} {_balanced(op, parts[mid:])})"


def _has_characteristic_index(store) -> bool:
    """Is there an index on observations that starts with (characteristic_id, observed_at)?"""
    for (name,) in store.db.execute("SELECT name FROM pragma_index_list('observations')"):
        cols = [r[0] for r in store.db.execute("SELECT name FROM pragma_index_info(?) ORDER BY seqno", [name])]
        if cols[:2] == ["characteristic_id", "observed_at"]:
            return True
    return False


def _costly(n: Node) -> bool:
    return any(c.within is not None for c in _conditions(n))


def _negate(sql: str, nullable: bool) -> str:
    return f"({sql}) IS NOT 1" if nullable else f"NOT ({sql})"


class _Compiler:
    def __init__(self, store, today: date, aggregates_only: bool = False):
        self.store = store
        self.aggregates_only = aggregates_only
        self.today = today
        self.tz = store.tz
        self.stack: list[str] = []
        self.expanded = 0
        self.joined = False  # the SQL reads the profile of the LEFT JOIN
        self.by_characteristic = None

    def node(self, n: Node, text: str) -> tuple[str, list, bool]:
        if isinstance(n, (And, Or)):
            parts, params, nullable = [], [], False
            for item in sorted(n.items, key=_costly):  # history (a seek per client) last
                sql, p, nul = self.node(item, text)
                parts.append(sql)
                params += p
                nullable = nullable or nul
            return _balanced("AND" if isinstance(n, And) else "OR", parts), params, nullable
        if isinstance(n, Not):
            sql, params, nullable = self.node(n.item, text)
            return _negate(sql, nullable), params, False
        return self.condition(n, text)

    def condition(self, c: Condition, text: str) -> tuple[str, list, bool]:
        self.expanded += 1
        if self.expanded > MAX_EXPANDED:
            raise SegmentError(t("segments.too_complex", max=MAX_EXPANDED), text, c.pos)
        s = c.subject
        if self.aggregates_only:
            self.refuse_identifying(c, text)
        if s.kind == "segment":
            return self.segment(c, text)
        if s.kind in ("intervention", "active_intervention"):
            return self.intervention(c)
        if s.kind == "click":
            return self.click(c)
        if c.within is not None:
            return self.history(c, text)
        column, kind = self.column(c, text)
        if c.op == "set":
            return f"{column} IS NOT NULL", [], False
        return self.compare(column, kind, c.op, c.values)

    def refuse_identifying(self, c: Condition, text: str) -> None:
        s = c.subject
        if s.kind == "field" and s.name in IDENTIFYING:
            raise NotForAnalysts(t("privacy.identifying", name=s.name), text, c.pos)
        ch = self.store.catalog.get(s.name) if s.kind == "characteristic" else None
        if ch is not None and ch.type == "text" and c.op != "set":
            raise NotForAnalysts(t("privacy.free_text", name=s.name), text, c.pos)

    def column(self, c: Condition, text: str) -> tuple[str, str]:
        s = c.subject
        if s.kind == "field":
            kind, sql = BUILTIN[s.name]
            return sql, kind
        ch = self.store.catalog.get(s.name)
        if ch is None:
            raise SegmentError(t("segments.unknown_name", name=s.name) + _did_you_mean(s.name, self.store.catalog),
                               text, c.pos)
        if s.kind == "updated":
            return (f'(SELECT profile_times."{ch.at_column}" FROM profile_times'
                    f' WHERE profile_times.client_id = clients.id)'), "moment"
        self.joined = True
        return f'profile."{ch.column}"', ch.type

    def compare(self, column: str, kind: str, op: str, vals: tuple) -> tuple[str, list, bool]:
        """column OP value(s) for any kind; nullable like SQL (NULL when the value is missing)."""
        if op == "!=":
            sql, params, nullable = self.compare(column, kind, "=", vals)
            return _negate(sql, nullable), params, False
        if kind in ("moment", "years", "months"):
            if op == "in":
                parts, params = [], []
                for v in vals:
                    sql, p, _ = self.compare(column, kind, "=", (v,))
                    parts.append(sql)
                    params += p
                return _balanced("OR", parts), params, True
            return self.ranged(column, kind, op, vals[0])
        params = [self.sql_value(kind, v) for v in vals]
        if op == "in":
            return f"{column} IN ({', '.join('?' * len(params))})", params, True
        if op == "~":
            return f"{column} LIKE ? ESCAPE '\\'", [_like(vals[0])], True
        return f"{column} {op} ?", params, True

    def sql_value(self, kind: str, v):
        if isinstance(v, bool):
            return 1 if v else 0
        if isinstance(v, Ago):
            return ago_date(v, self.today).isoformat()
        if isinstance(v, date):
            return v.isoformat()
        return v

    def ranged(self, column: str, kind: str, op: str, v) -> tuple[str, list, bool]:
        if kind == "moment":
            d = ago_date(v, self.today) if isinstance(v, Ago) else v
            start, end = _start_utc(d, self.tz), _start_utc(_next_day(d), self.tz)
            if op == "=":
                return f"({column} >= ? AND {column} < ?)", [start, end], True
            return {"<": (f"{column} < ?", [start]), "<=": (f"{column} < ?", [end]),
                    ">": (f"{column} >= ?", [end]), ">=": (f"{column} >= ?", [start])}[op] + (True,)
        back = _years_back if kind == "years" else _months_back
        at_least, more_than = back(self.today, v), back(self.today, v + 1)
        if op == "=":
            return f"({column} <= ? AND {column} > ?)", [at_least, more_than], True
        return {">=": (f"{column} <= ?", [at_least]), ">": (f"{column} <= ?", [more_than]),
                "<": (f"{column} > ?", [at_least]), "<=": (f"{column} > ?", [more_than])}[op] + (True,)

    def history(self, c: Condition, text: str) -> tuple[str, list, bool]:
        ch = self.store.catalog.get(c.subject.name)
        if ch is None:
            raise SegmentError(t("segments.unknown_name", name=c.subject.name), text, c.pos)
        since = _start_utc(ago_date(c.within, self.today), self.tz)
        op = "=" if c.op == "!=" else c.op
        value_sql, value_params, _ = self.compare("o.value", ch.type, op, c.values)
        if self.by_characteristic is None:
            self.by_characteristic = _has_characteristic_index(self.store)
        if self.by_characteristic:  # one range scan of the window instead of a seek per client
            sql = ("clients.id IN (SELECT o.client_id FROM observations o WHERE o.characteristic_id = ?"
                   f" AND o.observed_at >= ? AND {value_sql})")
        else:
            sql = ("EXISTS (SELECT 1 FROM observations o WHERE o.client_id = clients.id"
                   f" AND o.characteristic_id = ? AND o.observed_at >= ? AND {value_sql})")
        params = [self.store.ids[ch.key], since, *value_params]
        return (f"NOT {sql}" if c.op == "!=" else sql), params, False

    def click(self, c: Condition) -> tuple[str, list, bool]:
        """Clients with a click on a tracked link (any, an item's, an item with a tag), ever or
        since the local start of the day N units ago."""
        where, params, source = ["c.kind = 'link'"], [], "clicks c"
        if c.subject.name == "item":
            where.append("c.item_id IS NOT NULL")
            if c.op != "set":
                source = "clicks c JOIN items i ON i.id = c.item_id"
                where.append(f"i.key IN ({', '.join('?' * len(c.values))})")
                params += list(c.values)
        elif c.subject.name == "tag":
            where.append("c.item_id IS NOT NULL")
            if c.op != "set":
                source = "clicks c JOIN item_tags g ON g.item_id = c.item_id"
                where.append(f"g.tag IN ({', '.join('?' * len(c.values))})")
                params += list(c.values)
        if c.within is not None:
            where.append("c.at >= ?")
            params.append(_start_utc(ago_date(c.within, self.today), self.tz))
        sql = f"clients.id IN (SELECT c.client_id FROM {source} WHERE {' AND '.join(where)})"
        return (f"NOT ({sql})" if c.op == "!=" else sql), params, False

    def intervention(self, c: Condition) -> tuple[str, list, bool]:
        where, params = [], []
        if c.op in ("=", "!="):
            where.append("name = ?")
            params.append(c.values[0])
        elif c.op == "in":
            where.append(f"name IN ({', '.join('?' * len(c.values))})")
            params += list(c.values)
        elif c.op == "~":
            where.append("name LIKE ? ESCAPE '\\'")
            params.append(_like(c.values[0]))
        if c.subject.kind == "active_intervention":
            where.append("end_date IS NULL")
        sql = "clients.id IN (SELECT client_id FROM interventions"
        sql += (" WHERE " + " AND ".join(where) + ")") if where else ")"
        return (f"NOT ({sql})" if c.op == "!=" else sql), params, False

    def segment(self, c: Condition, text: str) -> tuple[str, list, bool]:
        if c.op == "!=":
            sql, params, nullable = self.segment(Condition(c.subject, "=", c.values, None, c.pos, c.value_pos), text)
            return _negate(sql, nullable), params, False
        parts, params, nullable = [], [], False
        for name in c.values:
            sql, p, nul = self.one_segment(name, c, text)
            parts.append(sql)
            params += p
            nullable = nullable or nul
        return _balanced("OR", parts), params, nullable

    def one_segment(self, name: str, c: Condition, text: str) -> tuple[str, list, bool]:
        if any(name.casefold() == s.casefold() for s in self.stack):
            chain = " -> ".join(f'"{s}"' for s in [*self.stack, name])
            raise SegmentError(t("segments.cycle", chain=chain), text, c.value_pos)
        if len(self.stack) >= MAX_NESTING:
            raise SegmentError(t("segments.nested_too_deep", max=MAX_NESTING), text, c.value_pos)
        row = _saved_row(self.store, name)
        if row is None:
            names = [r[0] for r in self.store.db.execute("SELECT name FROM segments")]
            near = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
            hint = t("catalog.did_you_mean", names=", ".join(f'"{n}"' for n in near)) if near else ""
            raise SegmentError(t("segments.unknown_segment", name=name) + hint, text, c.value_pos)
        seg_id, real_name, expression = row["id"], row["name"], row["expression"]
        if expression is None:
            return "clients.id IN (SELECT client_id FROM segment_members WHERE segment_id = ?)", [seg_id], False
        self.stack.append(real_name)
        try:
            try:
                tree = parse(expression, self.store.catalog, tz=self.tz, today=self.today)
            except SegmentError as e:
                raise SegmentError(t("segments.in_saved", name=real_name, reason=e.reason), expression,
                                   e.position) from None
            try:
                sql, params, nullable = self.node(tree, expression)
            except NotForAnalysts as e:
                raise NotForAnalysts(t("segments.in_saved", name=real_name, reason=e.reason), expression,
                                     e.position) from None
        finally:
            self.stack.pop()
        return f"({sql})", params, nullable


# ---------------------------------------------------------------------------------------------
# Saved segments and the functions the rest of caseload calls

SEGMENT_COLUMNS = ("id", "name", "expression", "description", "owner", "author", "created_at", "updated_at",
                   "split_of", "split_seed", "split_ratio", "split_partner",
                   "split_date", "split_follow_up_months", "split_expected_pct", "split_mde_pp", "split_outcome")


def _saved_row(store, name: str) -> dict | None:
    row = store.db.execute(f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM segments WHERE name = ?",
                           [name.strip()]).fetchone()
    return dict(zip(SEGMENT_COLUMNS, row)) if row else None


def _parse(store, text: str, today: date | None = None) -> Node:
    return parse(text, store.catalog, tz=store.tz, today=today or datetime.now(store.tz).date())


def resolve_where(store, text_or_saved_name: str, *, today: date | None = None) -> tuple[str, list]:
    """A boolean SQL expression with parameters for `... FROM clients LEFT JOIN profile ON
    profile.client_id = clients.id WHERE <here>`. A saved segment's name is tried first, else
    the text is parsed as an expression. Raises SegmentError.

    Counting? When the SQL does not read `profile.`, `FROM clients` alone is enough, and much
    faster: SQLite keeps an unused LEFT JOIN inside an aggregate (a seek per client)."""
    sql, params, _ = _resolve(store, text_or_saved_name, today)
    return sql, params


def _resolve(store, text_or_saved_name: str, today: date | None = None,
             actor=None) -> tuple[str, list, bool]:
    sql, params, joined, _ = _resolve_tree(store, text_or_saved_name, today, actor)
    return sql, params, joined


def _resolve_tree(store, text_or_saved_name: str, today: date | None = None, actor=None):
    """(sql, params, joined, tree). With an analyst as actor, identifying fields are refused."""
    text = text_or_saved_name if isinstance(text_or_saved_name, str) else ""
    today = today or datetime.now(store.tz).date()
    if text.strip() and len(text) <= MAX_NAME * 2 and _saved_row(store, text) is not None:
        text = f"segment = {_value_text(text.strip(), Subject('segment'))}"
    tree = _parse(store, text, today)
    analyst = actor is not None and actor.role == "analyst"
    return (*_compile(store, tree, today, text, aggregates_only=analyst), tree)


def resolve_for(store, actor, text_or_saved_name: str, *, today: date | None = None) -> tuple[str, list]:
    """resolve_where for an aggregate the actor will see: an analyst's expression may not select
    on identifying fields or free text (NotForAnalysts, naming the field and its position)."""
    sql, params, _ = _resolve(store, text_or_saved_name, today, actor)
    return sql, params


def audit_shape(store, text_or_saved_name: str, *, today: date | None = None) -> str:
    """The expression as the audit trail may hold it: canonical, saved segments by id and
    intervention names masked. Once NotForAnalysts has refused names, client numbers and free
    text, what is left are catalog values, numbers, dates and coach names: no client's personal
    data. At most 500 characters."""
    text = text_or_saved_name if isinstance(text_or_saved_name, str) else ""
    row = _saved_row(store, text) if text.strip() and len(text) <= MAX_NAME * 2 else None
    if row is not None:
        return f"segment:{row['id']}"
    try:
        tree = _parse(store, text, today)
    except SegmentError:
        return "?"

    def masked(n: Node) -> Node:
        if isinstance(n, (And, Or)):
            return type(n)(tuple(masked(i) for i in n.items))
        if isinstance(n, Not):
            return Not(masked(n.item))
        if n.subject.kind == "segment":
            ids = [_saved_row(store, v) for v in n.values]
            return Condition(n.subject, n.op, tuple(Symbol(f"#{r['id']}" if r else "?") for r in ids), n.within)
        if n.subject.kind in ("intervention", "active_intervention"):  # free text a coach typed
            return Condition(n.subject, n.op, tuple(Symbol("…") for _ in n.values), n.within)
        return n

    shape = canonical(masked(tree))
    return shape if len(shape) <= 500 else shape[:499] + "…"


def check(store, text: str, *, today: date | None = None) -> dict:
    """Is the expression (or saved name) valid? Its canonical form, and warnings about names
    that select nobody (an intervention no client ever had)."""
    row = _saved_row(store, text) if text.strip() and len(text) <= MAX_NAME * 2 else None
    expression = row["expression"] if row else text
    if row and expression is None:
        expression = f"segment = {_value_text(row['name'], Subject('segment'))}"
    tree = _parse(store, expression, today)
    compile_where(store, tree, today=today, text=expression)
    warnings = []
    known = {r[0] for r in store.db.execute("SELECT DISTINCT name FROM interventions")}
    for c in _conditions(tree):
        if c.subject.kind in ("intervention", "active_intervention") and c.op in ("=", "!=", "in"):
            for v in c.values:
                if v not in known:
                    near = difflib.get_close_matches(v, sorted(known), n=3, cutoff=0.5)
                    hint = t("catalog.did_you_mean", names=", ".join(near)) if near else ""
                    warnings.append(t("segments.unknown_intervention", name=v) + hint)
    return {"saved": row["name"] if row else None, "canonical": canonical(tree), "warnings": warnings}


def _conditions(node: Node):
    if isinstance(node, Condition):
        yield node
    elif isinstance(node, Not):
        yield from _conditions(node.item)
    else:
        for item in node.items:
            yield from _conditions(item)


JOINED = "FROM clients LEFT JOIN profile ON profile.client_id = clients.id"


def _from(joined: bool) -> str:
    """SQLite keeps an unused LEFT JOIN in an aggregate, so join the profile only when it is read."""
    return JOINED if joined else "FROM clients"


SELECT_COLUMNS = ("id", "client_number", "first_name", "last_name", "coach", "status", "preferred_channel",
                  "intake_date", "last_activity")


def count(store, actor, text: str, *, today: date | None = None) -> int | None:
    """How many clients the actor may count are in the segment.

    Coaches count their own clients, team leads their team's, admins and analysts everyone.
    For an analyst the number is a release (caseload.privacy: noisy, the same all period, paid
    from their budget, audited) and below config.reports.min_cell_size it is suppressed: None.
    An analyst's expression may not select on identifying fields (NotForAnalysts)."""
    return count_release(store, actor, text, today=today)[0]


def count_release(store, actor, text: str, *, today: date | None = None):
    """(count or None, the privacy.Release for an analyst, else None)."""
    where, params, joined = _resolve(store, text, today, actor)
    scope, scope_params = access.aggregate_scope(actor, "clients")

    def exact() -> int:
        if joined and scope == "1" and "clients." not in where:
            # only profile values: one scan of the profile (every client has a profile row)
            return store.db.execute(f"SELECT count(*) FROM profile WHERE {where}", params).fetchone()[0]
        return store.db.execute(f"SELECT count(*) {_from(joined)} WHERE ({scope}) AND ({where})",
                                [*scope_params, *params]).fetchone()[0]

    if not privacy.applies(actor):
        return exact(), None
    query = json.dumps([scope, where, params], default=str)
    r = privacy.release(store, actor, "count", query, 1, lambda: {"n": exact()},
                        f"segment:count {audit_shape(store, text, today=today)}", today=today)
    n = int(r["n"])
    return (None if n < store.config.reports.min_cell_size else n), r


def select(store, actor, text: str, limit: int | None = None, *, today: date | None = None) -> list[dict]:
    """The clients in the segment that the actor may see one by one, by name; audited as one
    list view. Analysts get PermissionDenied (aggregates only)."""
    scope, scope_params = access.client_scope(actor, "clients")
    where, params, joined = _resolve(store, text, today)
    cols = ", ".join(f"clients.{c}" for c in SELECT_COLUMNS)
    sql = (f"SELECT {cols} {_from(joined)} WHERE ({scope}) AND ({where})"
           " ORDER BY COALESCE(clients.last_name, ''), COALESCE(clients.first_name, ''), clients.id")
    args = [*scope_params, *params]
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    rows = [dict(zip(SELECT_COLUMNS, r)) for r in store.db.execute(sql, args)]
    row = _saved_row(store, text) if text.strip() and len(text) <= MAX_NAME * 2 else None
    audit.record(store.db, actor, "segment_list", f"segment:{row['id']}" if row else "clients")
    return rows


def client_ids(store, text: str, *, today: date | None = None) -> list[int]:
    """Internal ids of every client in the segment, ascending; no role scope (for the core's own use)."""
    where, params, joined = _resolve(store, text, today)
    return [r[0] for r in store.db.execute(f"SELECT clients.id {_from(joined)} WHERE {where} ORDER BY clients.id",
                                           params)]


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME or any(
            unicodedata.category(ch).startswith("C") for ch in name):
        raise BadInput(t("segments.bad_name", max=MAX_NAME))
    return name.strip()


def _public(row: dict) -> dict:
    out = {k: row[k] for k in SEGMENT_COLUMNS if k != "id"}
    out["kind"] = "split" if row["expression"] is None else "expression"
    return out


def get(store, name: str) -> dict:
    """A saved segment: name, expression (canonical), description, owner, author (who made or last
    changed it), dates, kind, split details."""
    row = _saved_row(store, name) if isinstance(name, str) else None
    if row is None:
        names = [r[0] for r in store.db.execute("SELECT name FROM segments")]
        near = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = t("catalog.did_you_mean", names=", ".join(f'"{n}"' for n in near)) if near else ""
        raise NotFound(t("segments.unknown_segment", name=name) + hint)
    return _public(row)


def saved(store) -> list[dict]:
    rows = store.db.execute(f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM segments ORDER BY name COLLATE NOCASE")
    return [_public(dict(zip(SEGMENT_COLUMNS, r))) for r in rows]


def save(store, actor, name: str, expression: str, description: str = "") -> dict:
    """Save (or replace) a named segment in canonical form; checks it, including cycles. Saved
    segments are shared for reading; replacing one is for its owner, their team lead or an admin,
    and a change that a scheduled campaign or check-in schedule reaches is audited on each."""
    from . import owners

    name = _check_name(name)
    description = (description or "").strip()
    tree = _parse(store, expression)
    text = canonical(tree)
    compiler = _Compiler(store, datetime.now(store.tz).date())
    compiler.stack.append(name)
    compiler.node(tree, expression)
    now = utcnow()
    with write_transaction(store.db) as conn:
        row = _saved_row(store, name)
        if row is not None and row["expression"] is None:
            raise BadInput(t("segments.split_is_fixed", name=row["name"]))
        if row is None:
            seg_id = conn.execute(
                "INSERT INTO segments (name, expression, description, owner, author, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", [name, text, description, actor.name, actor.name, now, now]).lastrowid
        else:
            owners.require(store.db, actor, row["owner"], t("owners.segment", name=row["name"]))
            seg_id = row["id"]
            users = owners.users_of_segment(store, row["name"])
            owners.require_users(store.db, actor, users, t("owners.segment", name=row["name"]))
            conn.execute("UPDATE segments SET expression = ?, description = ?, author = ?, updated_at = ?"
                         " WHERE id = ?", [text, description, actor.name, now, seg_id])
            owners.record_change(conn, actor, users, f"segment:{seg_id}")
        audit.record(store.db, actor, "segment_save", f"segment:{seg_id}")
    return get(store, name)


def _references(store, name: str) -> list[str]:
    users = []
    for other, expression in store.db.execute("SELECT name, expression FROM segments WHERE expression IS NOT NULL"):
        try:
            tree = parse(expression, store.catalog, tz=store.tz)
        except SegmentError:
            continue
        if any(c.subject.kind == "segment" and any(v.casefold() == name.casefold() for v in c.values)
               for c in _conditions(tree)):
            users.append(other)
    return users


def depends_on(store, text: str) -> set[str]:
    """The saved segments (casefolded names) that a saved name or an expression selects through,
    directly or through other saved segments. An expression that no longer parses gives what
    was found so far."""
    found: set[str] = set()
    todo = [text]
    while todo:
        item = todo.pop()
        if not isinstance(item, str) or not item.strip():
            continue
        row = _saved_row(store, item) if len(item) <= MAX_NAME * 2 else None
        if row is not None:
            if row["name"].casefold() in found:
                continue
            found.add(row["name"].casefold())
            todo.append(row["expression"] or "")
            continue
        try:
            tree = parse(item, store.catalog, tz=store.tz)
        except SegmentError:
            continue
        for c in _conditions(tree):
            if c.subject.kind == "segment":
                todo += [v for v in c.values if v.casefold() not in found]
    return found


def delete(store, actor, name: str) -> None:
    """Delete a saved segment (its owner, their team lead or an admin); refused while another
    saved segment, an active campaign or an active check-in schedule uses it."""
    from . import owners

    row = _saved_row(store, name) if isinstance(name, str) else None
    if row is None:
        get(store, name)  # raises NotFound with the nearest names
    owners.require(store.db, actor, row["owner"], t("owners.segment", name=row["name"]))
    users = [u for u in _references(store, row["name"]) if u.casefold() != row["name"].casefold()]
    users += [u.title for u in owners.users_of_segment(store, row["name"])]
    if users:
        raise BadInput(t("segments.in_use", name=row["name"], users=", ".join(users)))
    with write_transaction(store.db) as conn:
        conn.execute("DELETE FROM segment_members WHERE segment_id = ?", [row["id"]])
        conn.execute("DELETE FROM segments WHERE id = ?", [row["id"]])
        audit.record(store.db, actor, "segment_delete", f"segment:{row['id']}")


def split(store, actor, name: str, into: tuple[str, str] = ("A", "B"), ratio: int = 50,
          seed: int | None = None, *, today: date | None = None, follow_up_months: int = 12,
          outcome: str = "outflow", expected_pct: float | None = None) -> dict:
    """Assign the clients of a segment (saved name or expression) at random to two new saved
    segments, `ratio` percent to the first; the seed is recorded and the same seed on the same
    clients gives the same groups. The groups are fixed: `segment = "A"` selects exactly the
    clients assigned at the split. Coaches split their own clients, team leads their team's.

    Before anything is sent the split states what it can detect: the outflow expected in the
    follow-up (expected_pct, or the organisation's own: the clients in the actor's caseload
    follow_up_months ago, followed to today) and the smallest difference that gives (80% power,
    two-sided 5%). `report compare` on the two groups then measures from the split's date."""
    from .reports.compare import plan_split
    if len(into) != 2:
        raise BadInput(t("segments.split_two"))
    first, second = (_check_name(n) for n in into)
    if first.casefold() == second.casefold():
        raise BadInput(t("segments.split_two"))
    if isinstance(ratio, bool) or not isinstance(ratio, int) or not 1 <= ratio <= 99:
        raise BadInput(t("segments.bad_ratio"))
    if seed is None:
        seed = secrets.randbelow(2**31)
    if isinstance(seed, bool) or not isinstance(seed, int) or abs(seed) >= INT_LIMIT:
        raise BadInput(t("segments.bad_seed"))
    source = _saved_row(store, name) if name.strip() and len(name) <= MAX_NAME * 2 else None
    where, params, joined = _resolve(store, name, today, actor)
    source_text = source["name"] if source else canonical(_parse(store, name, today))
    scope, scope_params = access.aggregate_scope(actor, "clients")
    if privacy.applies(actor):
        privacy.require_budget(store, actor, queries=2)  # the sizes, and the outflow the plan expects
    now = utcnow()
    day = today or datetime.now(store.tz).date()
    with write_transaction(store.db) as conn:
        for group in (first, second):
            if _saved_row(store, group) is not None:
                raise BadInput(t("segments.exists", name=group))
        ids = [r[0] for r in conn.execute(f"SELECT clients.id {_from(joined)} WHERE ({scope}) AND ({where})"
                                          " ORDER BY clients.id", [*scope_params, *params])]
        if not ids:
            raise BadInput(t("segments.split_empty"))
        random.Random(seed).shuffle(ids)
        cut = round(len(ids) * ratio / 100)
        # an analyst's plan follows from the released sizes, below
        plan = plan_split(store, actor, cut, len(ids) - cut, follow_up_months, outcome, expected_pct, day) \
            if not privacy.applies(actor) else {"expected_pct": None, "mde_pp": None}
        groups = ((first, ratio, second, ids[:cut]), (second, 100 - ratio, first, ids[cut:]))
        sizes, made = {}, []
        for group, share, partner, members in groups:
            seg_id = conn.execute(
                "INSERT INTO segments (name, expression, description, owner, author, created_at, updated_at,"
                " split_of, split_seed, split_ratio, split_partner, split_date, split_follow_up_months,"
                " split_expected_pct, split_mde_pp, split_outcome) VALUES (?, NULL, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?)", [group, actor.name, actor.name, now, now, source_text, seed, share, partner, day.isoformat(),
                           follow_up_months, plan["expected_pct"], plan["mde_pp"], outcome]).lastrowid
            conn.executemany("INSERT INTO segment_members (segment_id, client_id) VALUES (?, ?)",
                             [(seg_id, cid) for cid in members])
            audit.record(store.db, actor, "segment_split", f"segment:{seg_id}")
            sizes[group] = len(members)
            made.append(seg_id)
    if privacy.applies(actor):  # the sizes are aggregates: released like a count
        r = privacy.release(store, actor, "split", ",".join(map(str, made)), 1,
                            lambda: {"sizes": list(sizes.values())})
        k_min = store.config.reports.min_cell_size
        noisy = [max(int(n), 1) for n in r["sizes"]]
        sizes = {g: (None if int(n) < k_min else int(n)) for g, n in zip(sizes, r["sizes"])}
        plan = plan_split(store, actor, *noisy, follow_up_months, outcome, expected_pct, day)
        with write_transaction(store.db) as conn:
            conn.execute(f"UPDATE segments SET split_expected_pct = ?, split_mde_pp = ? WHERE id IN ({made[0]}, {made[1]})",
                         [plan["expected_pct"], plan["mde_pp"]])
    return {"groups": sizes, "seed": seed, "ratio": ratio, "split_of": source_text, **plan}
