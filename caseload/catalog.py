"""The catalog: the characteristics an organisation keeps, read from TOML and checked strictly."""

import difflib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from . import values
from .config import read_toml
from .errors import BadInput
from .i18n import pick, t

TYPES = ("bool", "enum", "scale", "number", "date", "text")
CATEGORIES = ("health", "work", "income", "living", "social", "skills", "practical", "motivation")
KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
FIELDS = {
    "key", "type", "min", "max", "values", "value_labels", "scale_labels", "label", "category",
    "special", "purpose", "max_age_days", "question", "allow_in_messages", "key_characteristic",
    "retention_days",
}


@dataclass(frozen=True)
class Characteristic:
    key: str
    type: str
    label: dict
    category: str
    special: bool
    purpose: str
    max_age_days: int
    question: dict = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    values: tuple = ()
    value_labels: dict = field(default_factory=dict)
    scale_labels: dict = field(default_factory=dict)
    allow_in_messages: bool = False
    key_characteristic: bool = False
    retention_days: int = 0

    @property
    def column(self) -> str:
        """The profile column that holds the current value."""
        return f"v_{self.key}"

    @property
    def at_column(self) -> str:
        """The profile_times column that holds when the current value was observed."""
        return f"t_{self.key}"

    def title(self, lang: str | None = None) -> str:
        return pick(self.label, lang)

    def value_title(self, value, lang: str | None = None) -> str:
        if value is None:
            return ""
        if self.type == "enum":
            return pick(self.value_labels.get(value), lang) or str(value)
        if self.type == "bool":
            if lang and lang not in ("nl", "en"):  # a client's language: the words of client_texts
                from . import client_texts

                if client_texts.has(lang):
                    return client_texts.text("answers.yes_label" if value else "answers.no_label", lang)
            return t("value.yes" if value else "value.no", lang=lang)
        if self.type == "scale" and str(value) in self.scale_labels:
            return f"{value} ({pick(self.scale_labels[str(value)], lang)})"
        return str(value)

    def parse(self, raw: str):
        """Parse text as people type it (Dutch or English); ValueError names the reason."""
        raw = raw.strip()
        if self.type == "bool":
            return values.parse_bool(raw)
        if self.type == "enum":
            return self._enum(raw)
        if self.type == "scale":
            return self.check(values.parse_int(raw))
        if self.type == "number":
            return self.check(values.parse_number(raw))
        if self.type == "date":
            return values.parse_date(raw).isoformat()
        if not raw:
            raise ValueError(t("value.empty"))
        return raw

    def _enum(self, raw: str):
        if raw in self.values:
            return raw
        wanted = values.fold(raw)
        for v in self.values:
            if values.fold(v) == wanted or any(values.fold(lbl) == wanted for lbl in self.value_labels.get(v, {}).values()):
                return v
        raise ValueError(t("value.not_in_enum", allowed=", ".join(self.values)))

    def check(self, value):
        """Check an already typed value; returns it or raises ValueError."""
        if self.type in ("scale", "number"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(t("value.not_a_number"))
            if self.type == "scale" and value != int(value):
                raise ValueError(t("value.not_whole"))
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise ValueError(t("value.out_of_range", min=_num(self.min), max=_num(self.max)))
            return int(value) if self.type == "scale" else value
        if self.type == "bool":
            if not isinstance(value, bool) and value not in (0, 1):
                raise ValueError(t("value.not_bool"))
            return bool(value)
        if self.type == "enum":
            if value not in self.values:
                raise ValueError(t("value.not_in_enum", allowed=", ".join(self.values)))
            return value
        if self.type == "date":
            if isinstance(value, date):
                return value.isoformat()
            return values.parse_date(str(value)).isoformat()
        if not isinstance(value, str) or not value.strip():
            raise ValueError(t("value.empty"))
        return value

    def to_sql(self, value):
        """The value as stored in SQLite (bools as 0/1)."""
        if self.type == "bool" and value is not None:
            return 1 if value else 0
        return value

    def from_sql(self, value):
        if self.type == "bool" and value is not None:
            return bool(value)
        return value


def _num(x):
    if x is None:
        return "-"
    return int(x) if float(x).is_integer() else x


class Catalog:
    """An ordered set of characteristics, looked up by key."""

    def __init__(self, characteristics: list[Characteristic]):
        self._by_key = {c.key: c for c in characteristics}
        self._by_name: dict[str, str] | None = None

    def __iter__(self):
        return iter(self._by_key.values())

    def __len__(self):
        return len(self._by_key)

    def __contains__(self, key):
        return key in self._by_key

    def __getitem__(self, key) -> Characteristic:
        return self._by_key[key]

    def get(self, key) -> Characteristic | None:
        return self._by_key.get(key)

    def keys(self) -> list[str]:
        return list(self._by_key)

    def name_index(self) -> dict[str, str]:
        """Folded key or label (any language) -> key: the one matcher for how people name a
        characteristic (import headers, segments, `client set`, `client history`, the TUI).
        Folding ignores case, accents, spaces and punctuation; a key wins over a label."""
        if self._by_name is None:
            index = {values.fold(c.key): c.key for c in self}
            for c in self:
                for label in (c.label or {}).values():
                    if label and values.fold(str(label)):
                        index.setdefault(values.fold(str(label)), c.key)
            self._by_name = index
        return self._by_name

    def find(self, name: str) -> Characteristic | None:
        """The characteristic a person means by its key or by its label in any language."""
        c = self._by_key.get(name)
        if c is None:
            key = self.name_index().get(values.fold(name or ""))
            c = self._by_key.get(key) if key else None
        return c

    def nearest(self, key: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(key, self.keys(), n=n, cutoff=0.5)

    def require(self, key: str) -> Characteristic:
        c = self.find(key)
        if c is None:
            near = self.nearest(key)
            hint = t("catalog.did_you_mean", names=", ".join(near)) if near else ""
            raise BadInput(t("catalog.unknown", key=key) + hint)
        return c


def characteristic_from_table(raw: dict, where: str) -> Characteristic:
    def bad(msg):
        return BadInput(t("catalog.bad_entry", where=where, error=msg))

    unknown = set(raw) - FIELDS
    if unknown:
        raise bad(t("catalog.unknown_field", field=sorted(unknown)[0]))
    for name in ("key", "type", "label", "category", "purpose"):
        if name not in raw:
            raise bad(t("catalog.missing_field", field=name))
    key, typ = raw["key"], raw["type"]
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise bad(t("catalog.bad_key", key=key))
    if typ not in TYPES:
        raise bad(t("catalog.bad_type", type=typ, allowed=", ".join(TYPES)))
    if raw["category"] not in CATEGORIES:
        raise bad(t("catalog.bad_category", category=raw["category"], allowed=", ".join(CATEGORIES)))
    for name in ("label", "question"):
        if name in raw and (not isinstance(raw[name], dict) or "en" not in raw[name] or "nl" not in raw[name]):
            raise bad(t("catalog.needs_both_languages", field=name))
    _check_languages(raw, bad)
    lo, hi = raw.get("min"), raw.get("max")
    if typ == "scale":
        if not isinstance(lo, int) or not isinstance(hi, int) or lo >= hi:
            raise bad(t("catalog.bad_scale"))
    elif typ != "number" and (lo is not None or hi is not None):
        raise bad(t("catalog.min_max_only_numeric"))
    vals = raw.get("values", [])
    if typ == "enum":
        if not vals or not all(isinstance(v, str) and v for v in vals) or len(set(vals)) != len(vals):
            raise bad(t("catalog.bad_values"))
    elif vals:
        raise bad(t("catalog.values_only_enum"))
    max_age = raw.get("max_age_days", 365)
    if not isinstance(max_age, int) or max_age < 1:
        raise bad(t("catalog.bad_max_age"))
    return Characteristic(
        key=key, type=typ, label=raw["label"], category=raw["category"],
        special=bool(raw.get("special", False)), purpose=raw["purpose"], max_age_days=max_age,
        question=raw.get("question", {}), min=lo, max=hi, values=tuple(vals),
        value_labels=raw.get("value_labels", {}), scale_labels=raw.get("scale_labels", {}),
        allow_in_messages=bool(raw.get("allow_in_messages", False)),
        key_characteristic=bool(raw.get("key_characteristic", False)),
        retention_days=int(raw.get("retention_days", 0)),
    )


def _check_languages(raw: dict, bad) -> None:
    """Texts may be given in any language (question.ar, label.tr, scale_labels."1".fa): each key an
    ISO 639-1 code and each text a non-empty string."""
    from . import languages

    tables = [(name, raw[name]) for name in ("label", "question") if isinstance(raw.get(name), dict)]
    for name in ("value_labels", "scale_labels"):
        labels = raw.get(name, {})
        if not isinstance(labels, dict) or not all(isinstance(v, dict) for v in labels.values()):
            raise bad(t("catalog.bad_labels", field=name))
        tables += [(f"{name}.{point}", texts) for point, texts in labels.items()]
    for name, texts in tables:
        for lang, text in texts.items():
            if not languages.is_code(lang):
                raise bad(t("catalog.bad_language", field=f"{name}.{lang}"))
            if not isinstance(text, str) or not text.strip():
                raise bad(t("catalog.empty_text", field=f"{name}.{lang}"))


def read_catalog_file(path: Path) -> list[dict]:
    entries = read_toml(path).get("characteristic", [])
    if not isinstance(entries, list):
        raise BadInput(t("catalog.bad_entry", where=str(path), error="[[characteristic]]"))
    return entries


def load_catalog(cfg) -> Catalog:
    """The catalog named by the config (file, inline entries, exclusions)."""
    from .paths import package_data

    source = cfg.catalog.file
    if source == "default":
        path = package_data("catalog.toml")
    else:
        path = Path(source)
        if not path.is_absolute() and cfg.path is not None:
            path = Path(cfg.path).parent / path
    entries = [(e, f"{path} #{i + 1}") for i, e in enumerate(read_catalog_file(path))]
    entries += [(e, f"{cfg.path} [[characteristic]] #{i + 1}") for i, e in enumerate(cfg.characteristic)]
    out: dict[str, Characteristic] = {}
    for raw, where in entries:
        c = characteristic_from_table(raw, where)
        if c.key in out:
            raise BadInput(t("catalog.duplicate", key=c.key, where=where))
        out[c.key] = c
    for key in cfg.catalog.exclude:
        if key not in out:
            raise BadInput(t("config.bad_value", key="catalog.exclude", file=cfg.path, value=key))
        del out[key]
    return Catalog(list(out.values()))
