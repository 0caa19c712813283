"""What clients read, per language: the check-in greeting and hints, the labels of yes and no,
the STOP/START confirmations and the pages behind links; and the words a reply may use for yes,
no, STOP and START.

One file per language, locale/clients/<ISO 639-1 code>.toml, each with the keys of nl.toml (the
reference). `[meta] reviewed = false` marks a translation no native speaker has checked yet:
`caseload checkin languages` lists them, so an organisation can have them checked. A message is
written in a language only when its file exists (see `has`); otherwise the client's second
language or the organisation's language is used (caseload.languages.choose).

Coaches' texts are not here: they go through caseload.i18n (Dutch and English only).
"""

import re
import tomllib
from functools import cache
from pathlib import Path

DIR = Path(__file__).parent / "locale" / "clients"
REFERENCE = "nl"
WORD_LISTS = ("yes", "no", "stop", "start")


def _flatten(prefix: str, table: dict, out: dict) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(full, value, out)
        else:
            out[full] = value


@cache
def _file(lang: str) -> dict | None:
    path = DIR / f"{lang}.toml"
    if not re.fullmatch(r"[a-z]{2}", lang or "") or not path.is_file():
        return None
    with open(path, "rb") as f:
        out: dict = {}
        _flatten("", tomllib.load(f), out)
    return out


@cache
def languages() -> tuple[str, ...]:
    """Every language with a file, Dutch and English first."""
    found = sorted(p.stem for p in DIR.glob("*.toml"))
    return tuple(sorted(found, key=lambda c: ({"nl": 0, "en": 1}.get(c, 2), c)))


def has(lang: str | None) -> bool:
    return bool(lang) and _file(lang) is not None


def text(key: str, lang: str | None, /, **values) -> str:
    """The text in `lang`, else in Dutch (a language without a file is never chosen for a client:
    see `has`). With a `name` value that is empty, the space or comma before it goes too."""
    found = (_file(lang or "") or {}).get(key)
    if found is None:
        found = _file(REFERENCE).get(key, key)
    out = found.format(**values) if values else found
    if "name" in values and not values["name"]:
        out = re.sub(r"[ ,،]+(?=[!?.,،፣])", "", out)
    return out


def reviewed(lang: str) -> bool:
    return bool((_file(lang) or {}).get("meta.reviewed", False))


def words(kind: str) -> list[str]:
    """The words of every language for `kind` (yes, no, stop, start): a client may answer in any."""
    out: list[str] = []
    for lang in languages():
        out += list((_file(lang) or {}).get(f"answers.{kind}", []))
    return out


def missing(lang: str) -> list[str]:
    """Keys of the reference file that `lang`'s file lacks (meta aside)."""
    mine = _file(lang) or {}
    return [k for k in _file(REFERENCE) if not k.startswith("meta.") and k not in mine]


COVERAGE_COLUMNS = ("language", "name", "texts", "questions", "reviewed")


def coverage(catalog) -> list[dict]:
    """Per language that clients can be written in (a client-texts file, or catalog questions):
    whether caseload has the client texts, how many of the catalog's check-in questions exist in
    it, and whether a native speaker reviewed the client texts (`reviewed` in its file; the
    default catalog's translations share it)."""
    from . import languages as langs

    asked = [c for c in catalog if c.question]
    codes = list(languages()) + sorted({code for c in asked for code in c.question} - set(languages()))
    out = []
    for code in codes:
        name, native = langs.name(code), langs.native_name(code)
        out.append({"language": code, "name": name if native.casefold() == name.casefold() else f"{name} ({native})",
                    "texts": not missing(code) if has(code) else False,
                    "questions": f"{sum(code in c.question for c in asked)}/{len(asked)}",
                    "reviewed": reviewed(code) if has(code) else None})
    return out
