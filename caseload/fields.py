"""The built-in client fields: their names in both languages and how their values are parsed."""

import re
from dataclasses import dataclass
from typing import Callable

from . import languages, values
from .i18n import t

CHANNELS = ("sms", "email", "phone", "letter")
STATUSES = ("active", "outflow")
OUTFLOW_TYPES = ("fulltime", "parttime", "self_employed", "education", "moved", "other")
# the languages offered first (completion, the TUI); any ISO 639-1 code is a client's language
LANGUAGES = ("nl", "en", "ar", "tr", "ti", "pl", "uk", "so", "fa")


def _choice(allowed: tuple, aliases: dict[str, str]) -> Callable[[str], str]:
    table = {values.fold(a): a for a in allowed}
    table.update({values.fold(k): v for k, v in aliases.items()})

    def parse(raw: str) -> str:
        found = table.get(values.fold(raw))
        if found is None:
            raise ValueError(t("value.not_in_enum", allowed=", ".join(allowed)))
        return found

    return parse


def _text(raw: str) -> str:
    raw = raw.strip()
    if not raw:
        raise ValueError(t("value.empty"))
    if len(raw) > 200:
        raise ValueError(t("value.too_long"))
    return raw


def _postal_code(raw: str) -> str:
    """1234ab, 1234 AB -> 1234 AB (a Dutch postcode); another country's code as given."""
    m = re.fullmatch(r"\s*(\d{4})\s*([A-Za-z]{2})\s*", raw)
    return f"{m[1]} {m[2].upper()}" if m else _text(raw)


def _date(raw: str) -> str:
    return values.parse_date(raw).isoformat()


@dataclass(frozen=True)
class Field:
    name: str
    label_en: str
    label_nl: str
    parse: Callable[[str], object]
    personal: bool = True


FIELDS = {f.name: f for f in (
    Field("client_number", "Client number", "Klantnummer", _text, personal=True),
    Field("first_name", "First name", "Voornaam", _text),
    Field("last_name", "Last name", "Achternaam", _text),
    Field("email", "Email", "E-mail", values.parse_email),
    Field("phone", "Phone", "Telefoon", values.parse_phone),
    Field("language", "Language", "Taal", languages.parse, personal=False),
    Field("second_language", "Second language", "Tweede taal", languages.parse, personal=False),
    Field("preferred_channel", "Preferred channel", "Voorkeurskanaal", _choice(CHANNELS, {
        "e-mail": "email", "mail": "email", "telefoon": "phone", "bellen": "phone", "brief": "letter",
        "post": "letter", "tekstbericht": "sms"}), personal=False),
    Field("coach", "Coach", "Coach", _text, personal=False),
    Field("intake_date", "Intake date", "Datum instroom", _date),
    Field("birth_date", "Birth date", "Geboortedatum", _date),
    Field("status", "Status", "Status", _choice(STATUSES, {
        "actief": "active", "uitgestroomd": "outflow", "uitstroom": "outflow"}), personal=False),
    Field("outflow_type", "Outflow type", "Uitstroomtype", _choice(OUTFLOW_TYPES, {
        "voltijd": "fulltime", "voltijds": "fulltime", "fulltimewerk": "fulltime", "deeltijd": "parttime",
        "parttimewerk": "parttime", "zzp": "self_employed", "zelfstandige": "self_employed",
        "zelfstandig": "self_employed", "opleiding": "education", "onderwijs": "education", "studie": "education",
        "verhuisd": "moved", "verhuizing": "moved", "anders": "other", "overig": "other"}), personal=False),
    Field("outflow_date", "Outflow date", "Uitstroomdatum", _date, personal=False),
    Field("address", "Address", "Adres", _text),  # street and number, for letters (caseload.letters)
    Field("postal_code", "Postal code", "Postcode", _postal_code),
    Field("city", "City", "Woonplaats", _text),
)}



def _name_index() -> dict[str, str]:
    index = {values.fold(f.name): f.name for f in FIELDS.values()}
    for f in FIELDS.values():
        for label in (f.label_en, f.label_nl):
            index.setdefault(values.fold(label), f.name)
    return index


NAME_INDEX = _name_index()  # folded name or label -> field name, as catalog.Catalog.name_index


def find(name: str) -> "Field | None":
    """The built-in field a person means by its name or its Dutch or English label."""
    return FIELDS.get(name) or FIELDS.get(NAME_INDEX.get(values.fold(name or ""), ""))


NAME_FIELDS = ("first_name", "last_name")
# Fields that name or reach one person: never a selection an analyst may make (segments.IDENTIFYING).
IDENTIFYING = ("client_number", "first_name", "last_name", "email", "phone", "birth_date")
