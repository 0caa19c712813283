"""Numbers, dates and moments as people read them in the UI language: Dutch 1.234, 31,0 and
31-12-2025 14:05; English 1,234, 31.0 and 2025-12-31 14:05. The CLI's tables and the TUI use
these same functions, so both show a value alike; csv and json keep the machine forms."""

import re

from .clock import parse_iso
from .i18n import language, t

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


def cell(value, tz) -> str:
    """Any value in a table for people: numbers, dates, moments and yes/no in the UI language;
    other text as it is."""
    if value is None:
        return ""
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
