"""Time, in one place: the current moment and how moments are written down.

Timestamps are stored as UTC ISO text `YYYY-MM-DDTHH:MM:SSZ`, which sorts as time does. Core
functions take an optional `now` (an aware datetime) so tests can fix the clock; `now(fixed)`
is how they fall back to the real one.
"""

from datetime import datetime, timezone
from functools import lru_cache

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now(fixed: datetime | None = None) -> datetime:
    """`fixed` when given, else the current moment (UTC)."""
    return fixed or datetime.now(timezone.utc)


@lru_cache(maxsize=64)  # the send path formats the same moment several times per message
def iso(moment: datetime) -> str:
    """A moment as stored: UTC ISO text."""
    return moment.astimezone(timezone.utc).strftime(FORMAT)


def parse_iso(text: str) -> datetime:
    """A stored timestamp back as an aware datetime (UTC)."""
    return datetime.strptime(text, FORMAT).replace(tzinfo=timezone.utc)


def utcnow() -> str:
    """The current moment as stored."""
    return datetime.now(timezone.utc).strftime(FORMAT)
