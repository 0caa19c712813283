"""Client languages: ISO 639-1 codes, their names, their writing direction, and which language a
message to a client is written in.

A client's language (and optional second language) is an ISO 639-1 code. People may write it as
the code, a locale tag (ar-MA, nl_NL), an ISO 639-2/3 code (ara, per) or its name in English,
Dutch or the language itself (Arabic, Arabisch, العربية; "Perzisch/Farsi" when every part names
the same language). The table is data/languages.toml, generated from CLDR and ISO 639-3 by
tools/make_languages.py (no dependency at run time); it is read on first use only.

A message uses the client's language when its text exists in it, else their second language,
else the organisation's (config organisation.language): `choose` says which, and whether that is
the client's own language ("own"), their second ("second") or the fallback ("fallback").
"""

import re
import tomllib
import unicodedata
from functools import cache
from html import escape

from .i18n import t

OWN, SECOND, FALLBACK = "own", "second", "fallback"
FITS = (OWN, SECOND, FALLBACK)
# common spellings the table does not have (keys folded by `_key`)
ALIASES = {"farsi": "fa", "dari": "fa", "tigrinia": "ti", "tigrinja": "ti", "vlaams": "nl", "flemish": "nl",
           "mandarijn": "zh", "mandarin": "zh", "standaardarabisch": "ar", "modernstandardarabic": "ar"}
_TAG = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")
_SPLIT = re.compile(r"[/,;()+&]|\bof\b|\bor\b")


@cache
def table() -> dict[str, dict]:
    """ISO 639-1 code -> {"en", "nl", "native"?, "alpha3", "rtl"?}."""
    from .paths import package_data

    with open(package_data("languages.toml"), "rb") as f:
        return tomllib.load(f)


def _key(text: str) -> str:
    """Case, accents, spaces and punctuation folded away, in any script ("Oekraïens" -> "oekraiens")."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text.casefold() if unicodedata.category(ch)[0] in "LN")


@cache
def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for code, row in table().items():
        index[code] = code
        for a3 in row["alpha3"]:
            index.setdefault(a3, code)
    for name_field in ("en", "nl", "native"):
        for code, row in table().items():
            if row.get(name_field):
                index.setdefault(_key(row[name_field]), code)
    for alias, code in ALIASES.items():
        index.setdefault(alias, code)
    return index


def is_code(code) -> bool:
    return isinstance(code, str) and code in table()


def lookup(raw: str) -> str | None:
    """The ISO 639-1 code for a code, tag, three-letter code or name; None when unknown."""
    raw = (raw or "").strip()
    if not raw:
        return None
    index = _index()
    m = _TAG.fullmatch(raw)
    if m and m[1].lower() in index:
        return index[m[1].lower()]
    found = index.get(_key(raw))
    if found:
        return found
    parts = [_key(p) for p in _SPLIT.split(raw) if _key(p)]
    codes = {index.get(p) for p in parts}
    if len(parts) > 1 and len(codes) == 1 and None not in codes:
        return codes.pop()
    return None


def parse(raw: str) -> str:
    """A language as people write it -> its ISO 639-1 code; ValueError (no value quoted) otherwise."""
    code = lookup(raw)
    if code is None:
        raise ValueError(t("language.unknown"))
    return code


def check_code(code: str, what: str) -> str:
    """An ISO 639-1 code given where only a code is accepted (templates, catalog keys)."""
    from .errors import BadInput

    found = lookup(code) if isinstance(code, str) else None
    if found is None:
        raise BadInput(t("language.bad_code", what=what, value=str(code)[:40]))
    return found


def name(code: str | None, lang: str | None = None) -> str:
    """The language's name in the UI language (Dutch or English); the code when unknown."""
    from .i18n import language

    row = table().get(code or "")
    if row is None:
        return code or ""
    return row.get((lang or language()) if (lang or language()) in ("nl", "en") else "en") or code


def native_name(code: str) -> str:
    row = table().get(code, {})
    return row.get("native") or row.get("en") or code


def rtl(code: str | None) -> bool:
    """True for a language written right to left (Arabic, Persian, Hebrew, Urdu, ...)."""
    return bool(table().get(code or "", {}).get("rtl"))


def direction(code: str | None) -> str:
    return "rtl" if rtl(code) else "ltr"


def chain(language: str | None, second: str | None, fallback: str) -> list[str]:
    """The languages to try for a client, in order, without repeats."""
    return list(dict.fromkeys(x for x in (language, second, fallback) if x))


def fit(chosen: str, language: str | None, second: str | None) -> str:
    """Whether `chosen` is the client's own language, their second, or the fallback."""
    if chosen == language:
        return OWN
    if chosen == second:
        return SECOND
    return FALLBACK


def choose(available, language: str | None, second: str | None, fallback: str) -> tuple[str | None, str]:
    """(language, fit) of the first of the client's language, second language and the fallback
    that is in `available` (a set, or a function of a code); (None, fallback) when none is."""
    has = available if callable(available) else available.__contains__
    for code in chain(language, second, fallback):
        if has(code):
            return code, fit(code, language, second)
    return None, FALLBACK


_HTML_TAG = re.compile(r"<html\b([^>]*)>", re.I)
_BODY_TAG = re.compile(r"<body\b([^>]*)>", re.I)


def mark_html(html: str | None, code: str | None) -> str | None:
    """An HTML part that says its language: `lang=` on its <html> element when the author left it
    out; for a right-to-left language also `dir="rtl"`, on <html> or <body>, else the text is
    wrapped in a <div> that carries both. What the author set is kept."""
    if not html or not is_code(code):
        return html
    wanted = {"lang": code, **({"dir": "rtl"} if rtl(code) else {})}
    for tag, name_ in ((_HTML_TAG, "html"), (_BODY_TAG, "body")):
        m = tag.search(html)
        if m:
            add = "".join(f' {k}="{escape(v)}"' for k, v in wanted.items()
                          if not re.search(rf"\b{k}\s*=", m[1], re.I))
            return html[:m.start()] + f"<{name_}{m[1]}{add}>" + html[m.end():]
    if not rtl(code):
        return html
    return f'<div lang="{escape(code)}" dir="rtl">{html}</div>'


_URL = re.compile(r"https?://[^\s<>\"']+")


def text_html(text: str, code: str) -> str:
    """An HTML part for a plain-text email in a right-to-left language: mail programs show plain
    text left to right, with the full stop and the question mark at the wrong end. The text as
    written, its line breaks kept, its links clickable."""
    out, at = [], 0
    for m in _URL.finditer(text):
        url = escape(m.group(0), quote=True)
        out += [escape(text[at:m.start()]), f'<a href="{url}">{url}</a>']
        at = m.end()
    out.append(escape(text[at:]))
    return (f'<!doctype html><html lang="{escape(code)}" dir="rtl"><head><meta charset="utf-8"></head>'
            f'<body><div style="white-space:pre-wrap">{"".join(out)}</div></body></html>')
