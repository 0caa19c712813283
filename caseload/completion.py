"""Completion for the segment language: what may come next at the end of a half-typed
expression. After `and`, `or`, `not` or `(` a name (a built-in field or a characteristic, also
found by its Dutch or English label); after a name its operators; after an operator or inside
`in (...)` the values the catalog knows (enum values, ja/nee, a scale's range, intervention and
saved segment names). Each candidate carries a label for people in the current language."""

import re
from dataclasses import dataclass

from . import segments, values
from .i18n import language, pick, t

_WORD = re.compile(r'"(?:[^"\\]|\\.)*"?|\'(?:[^\'\\]|\\.)*\'?|!=|<>|<=|>=|==|[=<>~(),]|[^\s=<>!~(),]+')
MAX = 12
_AFTER_VALUE = ("(", ",", "=", "!=", "<>", "<", "<=", ">", ">=", "==", "~")  # a quoted word there is a value


@dataclass(frozen=True)
class Completion:
    text: str    # what to insert
    label: str   # what it means, for people
    kind: str    # name | operator | value | keyword


def subject_kind(store, word: str) -> tuple[str, object] | None:
    """(kind, spec) of a subject word (a key, a label, a Dutch name, quoted or not), or None."""
    w = word.lower()
    if w[:1] in "\"'":
        w = w[1:-1] if len(w) > 1 and w[-1] == w[0] else w[1:]
    head, _, attr = w.partition(".")
    if segments.SUBJECT_WORDS.get(head) == "click":
        attr = segments.ATTRIBUTES.get(attr) if attr else None
        return ("click", attr) if attr in ("item", "tag") else ("clicked", None)
    if w in segments.SUBJECT_WORDS:
        return segments.SUBJECT_WORDS[w], None
    name = segments.builtin_field(w)
    if name is not None:
        return segments.BUILTIN[name][0], name
    base, dot, attr = w.rpartition(".") if w.endswith((".updated", ".bijgewerkt")) else (w, "", "")
    c = store.catalog.find(base)
    if c is None:
        return None
    return ("moment", None) if dot else (c.type, c)


DUTCH_FIELDS = {name: alias for alias, name in segments.FIELD_ALIASES.items()}
DUTCH_WORDS = {"intervention": "interventie", "segment": "selectie", "is set": "is ingevuld", "today": "vandaag",
               "clicked": "geklikt", "clicked.item": "geklikt.aanbod", "clicked.tag": "geklikt.label",
               "30 days ago": "30 dagen geleden", "3 months ago": "3 maanden geleden", "1 year ago": "1 jaar geleden"}


def _word(text: str, lang: str | None) -> str:
    """A field name, subject word or keyword as people of `lang` write it (either parses)."""
    if (lang or language()) != "nl":
        return text
    return DUTCH_FIELDS.get(text) or DUTCH_WORDS.get(text, text)


def names(store, lang: str | None = None) -> list[Completion]:
    """Every name a condition can start with, written in `lang` (Dutch: `welbevinden`,
    `klantnummer`; English: the keys), each with its label."""
    out = [Completion(_word(f, lang), t(f"tui.field.{f}", lang=lang), "name") for f in segments.BUILTIN]
    out += [Completion(_word("intervention", lang), t("tui.field.intervention", lang=lang), "name"),
            Completion(_word("segment", lang), t("tui.field.segment", lang=lang), "name")]
    out += [Completion(_word(w, lang), t(f"offers.field.{w.replace('.', '_')}", lang=lang), "name")
            for w in ("clicked", "clicked.item", "clicked.tag")]
    out += [Completion(segments.name_in(store.catalog, c.key, lang), c.title(lang), "name") for c in store.catalog]
    return out


def operators(kind: str, lang: str | None = None) -> list[Completion]:
    ops = segments.OPS_BY_KIND.get(kind, ())
    return [Completion(_word("is set", lang) if o == "set" else ("in (" if o == "in" else o),
                       t(f"tui.op.{'set' if o == 'set' else o}", lang=lang), "operator") for o in ops]


def value_candidates(store, kind: str, spec, lang: str | None = None) -> list[Completion]:
    if kind == "bool":
        nl = (lang or "") == "nl"
        return [Completion("ja" if nl else "yes", t("value.yes", lang=lang), "value"),
                Completion("nee" if nl else "no", t("value.no", lang=lang), "value")]
    if kind == "enum":
        if spec in ("language", "second_language"):
            from . import languages

            return [Completion(v, languages.name(v, lang), "value") for v in segments.ENUM_FIELDS[spec]]
        if isinstance(spec, str):
            return [Completion(v, t(f"tui.value.{spec}.{v}", lang=lang), "value") for v in segments.ENUM_FIELDS[spec]]
        return [Completion(v, pick(spec.value_labels.get(v), lang) or v, "value") for v in spec.values]
    if kind == "scale" and spec is not None:
        return [Completion(str(v), pick(spec.scale_labels.get(str(v)), lang), "value")
                for v in range(int(spec.min), int(spec.max) + 1)]
    if kind in ("date", "moment"):
        return [Completion(_word(w, lang), t(f"tui.value.{w.replace(' ', '_')}", lang=lang), "value")
                for w in ("today", "30 days ago", "3 months ago", "1 year ago")]
    if kind == "intervention":
        return [Completion(quote(n), "", "value") for (n,) in store.conn.execute(
            "SELECT DISTINCT name FROM interventions ORDER BY name LIMIT 50")]
    if kind == "segment":
        return [Completion(quote(s["name"]), s.get("description") or "", "value") for s in segments.saved(store)]
    if kind == "click" and spec == "item":
        return [Completion(quote(k), title, "value") for k, title in store.conn.execute(
            "SELECT key, title FROM items WHERE expired_at IS NULL ORDER BY key LIMIT 50")]
    if kind == "click" and spec == "tag":
        return [Completion(g, "", "value") for (g,) in store.conn.execute(
            "SELECT DISTINCT tag FROM item_tags ORDER BY tag LIMIT 50")]
    return []


def quote(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_\-]*", name) else '"' + name.replace('"', '\\"') + '"'


def _matches(c: Completion, prefix: str) -> bool:
    if not prefix:
        return True
    p = values.fold(prefix)
    return values.fold(c.text).startswith(p) or (c.kind == "name" and len(p) >= 3 and p in values.fold(c.label))


def complete(store, text: str, lang: str | None = None) -> tuple[int, list[Completion]]:
    """(where the word being typed starts, the candidates for it), for the end of `text`."""
    words = [(m.group(), m.start()) for m in _WORD.finditer(text)]
    partial, start = "", len(text)
    if words and words[-1][1] + len(words[-1][0]) == len(text) and not text[-1:].isspace() \
            and words[-1][0] not in ("(", ")", ","):
        partial, start = words.pop()
    before = [w for w, _ in words]
    prev = before[-1].lower() if before else ""
    kw = segments.KEYWORDS.get(prev)
    if not before or kw in ("and", "or", "not") or prev == "(" and (len(before) < 2 or before[-2].lower() not in ("in",)):
        found = [c for c in names(store, lang) if _matches(c, partial)]
        p = values.fold(partial)
        found.sort(key=lambda c: (not values.fold(c.text).startswith(p), not values.fold(c.label).startswith(p), c.text))
        return start, found[:MAX]
    # the subject of the condition being typed: the last word before its operator
    subject = None
    i = len(before) - 1
    while i >= 0 and (before[i] in ("(", ",", "=", "!=", "<>", "<", "<=", ">", ">=", "==", "~")
                      or segments.KEYWORDS.get(before[i].lower()) in ("in", "not", "was", "is")
                      or before[i].startswith(("'", '"')) and i > 0 and before[i - 1] in _AFTER_VALUE
                      or _is_number(before[i])):
        i -= 1
    if i >= 0:
        subject = subject_kind(store, before[i])
    if subject is None:
        return start, []
    kind, spec = subject
    if i == len(before) - 1:
        return start, [c for c in operators(kind, lang) if c.text.startswith(partial)][:MAX]
    if prev in ("=", "!=", "<>", "<", "<=", ">", ">=", "==", "~", ",") or prev == "(":
        found = [c for c in value_candidates(store, kind, spec, lang) if _matches(c, partial)]
        return start, [c for c in found if c.text != partial or len(found) > 1][:MAX]
    return start, []


def _is_number(word: str) -> bool:
    return bool(re.fullmatch(r"[+-]?\d+(?:\.\d+)?", word))
