"""Parsing values the way Dutch municipalities write them. Every parser raises ValueError
with a reason in the user's language; none of them puts the value itself in the message."""

import re
import unicodedata
from datetime import date
from functools import lru_cache

from .i18n import t

TRUE = {"ja", "j", "yes", "y", "1", "true", "waar", "x"}
FALSE = {"nee", "n", "no", "0", "false", "onwaar"}
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DUTCH = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_INT = re.compile(r"[+-]?\d+")
_NL_NUMBER = re.compile(r"[+-]?\d{1,3}(\.\d{3})*(,\d+)?|[+-]?\d+(,\d+)?")
_MOBILE = re.compile(r"(?:\+31|0031|0)6([1-68]\d{7})")  # the ranges phonenumbers accepts
_PHONE_JUNK = re.compile(r"[\s\-().]")


def fold(text: str) -> str:
    """Lower case, accents and punctuation removed: "E-mail " -> "email", "Financiën" -> "financien"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "", text.casefold())


def parse_bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise ValueError(t("value.not_bool"))


def parse_int(raw: str) -> int:
    raw = raw.strip()
    if _INT.fullmatch(raw):
        return int(raw)
    number = parse_number(raw)
    if number != int(number):
        raise ValueError(t("value.not_whole"))
    return int(number)


def parse_number(raw: str) -> int | float:
    """1234, 12.5, 12,5 and 1.234,5 (Dutch decimal comma and thousands dot)."""
    raw = raw.strip().replace("\u00a0", "").replace(" ", "")
    if _INT.fullmatch(raw):
        return int(raw)
    if "," in raw:
        if not _NL_NUMBER.fullmatch(raw):
            raise ValueError(t("value.not_a_number"))
        raw = raw.replace(".", "").replace(",", ".")
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(t("value.not_a_number")) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(t("value.not_a_number"))
    return int(number) if number.is_integer() and "." not in raw else number


@lru_cache(maxsize=4096)
def parse_date(raw: str) -> date:
    """2024-12-31, 31-12-2024, 31/12/2024 or 31.12.2024 (day first, as in the Netherlands)."""
    raw = raw.strip()
    m = _ISO.fullmatch(raw)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    else:
        m = _DUTCH.fullmatch(raw)
        if not m:
            raise ValueError(t("value.not_a_date"))
        d, mo, y = int(m[1]), int(m[2]), int(m[3])
    try:
        return date(y, mo, d)
    except ValueError:
        raise ValueError(t("value.not_a_date")) from None


def parse_phone(raw: str) -> str:
    """A phone number in E.164 (+31612345678); Dutch numbers may be written nationally."""
    compact = _PHONE_JUNK.sub("", raw)
    m = _MOBILE.fullmatch(compact)
    if m:
        return "+316" + m[1]
    import phonenumbers

    try:
        number = phonenumbers.parse(raw, "NL")
    except phonenumbers.NumberParseException:
        raise ValueError(t("value.not_a_phone")) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(t("value.not_a_phone"))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_EMAIL = re.compile(rf"([A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)@((?:{_LABEL}\.)+([A-Za-z]{{2,63}}))")
_SPECIAL_USE = {"arpa", "invalid", "local", "localhost", "onion", "test"}


def parse_email(raw: str) -> str:
    """Validated and normalised as email-validator does; plain ASCII addresses take a fast path
    whose result equals email-validator's (tests/test_values.py checks that)."""
    raw = raw.strip()
    m = _PLAIN_EMAIL.fullmatch(raw)
    if m and len(m[1]) <= 64 and len(raw) <= 254 and m[3].lower() not in _SPECIAL_USE:
        return f"{m[1]}@{m[2].lower()}"
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError(t("value.not_an_email")) from None
