"""One layer for every user-facing text, in Dutch and English.

Texts live in locale/<lang>/*.toml (one file per area, the same keys in both languages);
`t("key", name=...)` formats the text in the current language, falling back to English.
"""

import os
import tomllib
from functools import cache
from pathlib import Path

LANGUAGES = ("nl", "en")
_current = {"lang": "en"}


def _flatten(prefix: str, table: dict, out: dict) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(full, value, out)
        else:
            out[full] = value


@cache
def texts(lang: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted((Path(__file__).parent / "locale" / lang).glob("*.toml")):
        with open(path, "rb") as f:
            _flatten("", tomllib.load(f), out)
    return out


def locale_language() -> str | None:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value[:2].lower() in LANGUAGES:
            return value[:2].lower()
    return None


def set_language(lang: str | None) -> str:
    if lang and lang[:2].lower() in LANGUAGES:
        _current["lang"] = lang[:2].lower()
    return _current["lang"]


def language() -> str:
    return _current["lang"]


def t(msgid: str, /, lang: str | None = None, **values) -> str:
    lang = lang or _current["lang"]
    text = texts(lang).get(msgid) or texts("en").get(msgid) or msgid
    return text.format(**values) if values else text


def pick(labels: dict[str, str] | str | None, lang: str | None = None) -> str:
    """The text for the current language from a {"en": ..., "nl": ...} table."""
    if labels is None:
        return ""
    if isinstance(labels, str):
        return labels
    lang = lang or _current["lang"]
    return labels.get(lang) or labels.get("en") or next(iter(labels.values()), "")
