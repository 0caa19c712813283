"""Numbers, dates and moments as people read them in the UI language: Dutch 1.234, 31,0 and
31-12-2025 14:05; English 1,234, 31.0 and 2025-12-31 14:05. The CLI's tables and the TUI use
these same functions, so both show a value alike; csv and json keep the machine forms."""

import re

from .clock import parse_iso
from .i18n import language, t, texts

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})")


def number(n: int | None) -> str:
    """A count with thousands separators (1.234 in Dutch)."""
    if n is None:
        return "-"
    text = f"{n:,}"
    return text.replace(",", ".") if language() == "nl" else text


def decimal(x: float | None, digits: int = 1) -> str:
    """A decimal number with a decimal comma in Dutch (31,0); no thousands separators."""
    if x is None:
        return "-"
    text = f"{x:.{digits}f}"
    return text.replace(".", ",") if language() == "nl" else text


def percent(x: float | None, digits: int = 1) -> str:
    """31,0% in Dutch, 31.0% in English."""
    return "-" if x is None else decimal(x, digits) + "%"


def day(iso: str | None) -> str:
    """An ISO date (or the date part of a moment) as people write it."""
    if not iso:
        return ""
    y, m, d = iso[:10].split("-")
    return f"{d}-{m}-{y}" if language() == "nl" else f"{y}-{m}-{d}"


def moment(iso: str | None, tz) -> str:
    """A stored UTC moment in the organisation's time; a date alone stays a date."""
    if not iso:
        return ""
    if len(iso) <= 10:
        return day(iso)
    at = parse_iso(iso).astimezone(tz)
    return f"{day(at.date().isoformat())} {at:%H:%M}"


def yes_no(value: bool) -> str:
    return t("display.yes") if value else t("display.no")


def coded(column: str, v) -> str | None:
    """A coded value in words (status active -> actief, role analyst -> analist); None when it
    has no words of its own."""
    if not isinstance(v, str) or not v:
        return None
    known = texts(language())
    for key in (f"tui.value.{column}.{v}", f"tui.role.{v}" if column == "role" else ""):
        if key and (key in known or key in texts("en")):
            return t(key)
    return None


def cell(value, tz, column: str = "") -> str:
    """Any value in a table for people: numbers, dates, moments, yes/no and coded values in the UI
    language; other text as it is."""
    if value is None:
        return ""
    words = coded(column, value) if column else None
    if words is not None:
        return words
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, float):  # as precise as the core rounded it
        return str(value).replace(".", ",") if language() == "nl" else str(value)
    if isinstance(value, str):
        if _MOMENT.fullmatch(value):
            return moment(value, tz)
        if _DATE.fullmatch(value):
            return day(value)
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return day(value.isoformat())
    return str(value)


# Why a message did not go, or a channel could not be used: the outbox and the channels keep short
# codes ("no_address", "sms_token_missing", "cm 401 authentication"); people read them here.
_REASONS = [(re.compile(rx), key) for rx, key in (
    (r"smtp login (?P<code>\S+)", "smtp_login"),
    (r"smtp (?P<code>\S+) mail", "smtp_sender"),
    (r"tls ca_file (?P<code>\S+)", "tls_ca_file"),
    (r"tls (?P<code>\S+)", "tls"),
    (r"(?P<channel>\S+) (?P<code>\S+) authentication", "authentication"),
    (r"(?P<channel>\S+) (?P<code>\S+) balance", "balance"),
    (r"(?P<channel>\S+) connect (?P<code>\S+)", "connect"),
    (r"(?P<channel>\S+) 429", "too_many"),
)]


def reason(code: str | None) -> str:
    """A reason code in the UI language; a missing secret names its variable and keyring entry."""
    from .secrets import ENVIRONMENT, SERVICE

    if not code:
        return ""
    secret = code.removesuffix("_missing")
    if code.endswith("_missing") and secret in ENVIRONMENT:
        return t("display.reason.secret_missing", what=t(f"display.secret.{secret}"), variable=ENVIRONMENT[secret],
                 keyring=f"keyring set {SERVICE} {secret}")
    known = texts(language())
    for key in (f"display.reason.{code}", f"tui.reason.{code}"):
        if key in known or key in texts("en"):
            return t(key)
    for rx, key in _REASONS:
        m = rx.fullmatch(code)
        if m:
            return t(f"display.reason.{key}", **{"channel": "", **m.groupdict()})
    return code
