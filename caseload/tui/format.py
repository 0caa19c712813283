"""How numbers, dates and moments look in the app's language (Dutch: 1.234 and 31-12-2025)."""


from ..clock import parse_iso
from ..i18n import language


def number(n: int | None) -> str:
    if n is None:
        return "-"
    text = f"{n:,}"
    return text.replace(",", ".") if language() == "nl" else text


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
