"""What a mass action reaches: how many clients and messages, by channel, and when the first go
out. Every command that will message or schedule more than one client shows this and asks
first (the CLI on stderr, with --yes for scripts; the TUI in a confirmation), from the same
plan function in the core: outbox.plan_queue, outbox.plan_retry, checkins.plan_schedule,
checkins.plan_now, checkins.plan_resume, campaigns.plan_add, campaigns.plan_resume."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from .i18n import language, t


def number(n: int) -> str:
    """12,345 in English, 12.345 in Dutch."""
    text = f"{n:,}"
    return text.replace(",", ".") if language() == "nl" else text


@dataclass
class Reach:
    clients: set = field(default_factory=set)  # internal client ids
    by_channel: Counter = field(default_factory=Counter)  # messages per channel
    first_at: datetime | None = None
    by_language: Counter = field(default_factory=Counter)  # messages per language, when known
    by_fit: Counter = field(default_factory=Counter)  # own / second / fallback (caseload.languages)
    fallback: str | None = None  # the organisation's language, named by describe_languages

    @property
    def messages(self) -> int:
        return sum(self.by_channel.values())

    def add(self, client_id: int, channel: str, at: datetime, language: str | None = None,
            fit: str | None = None) -> None:
        self.clients.add(client_id)
        self.by_channel[channel] += 1
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if language:
            self.by_language[language] += 1
        if fit:
            self.by_fit[fit] += 1

    def __or__(self, other: "Reach") -> "Reach":
        firsts = [x for x in (self.first_at, other.first_at) if x is not None]
        return Reach(self.clients | other.clients, self.by_channel + other.by_channel, min(firsts, default=None),
                     self.by_language + other.by_language, self.by_fit + other.by_fit, self.fallback or other.fallback)

    def describe_languages(self, fallback: str | None = None, number=number) -> str | None:
        """"Languages: ar 3, nl 9; 10 in their own language, 1 in their second, 1 in the fallback
        (nl)." None when the messages' languages are not known."""
        if not self.by_language:
            return None
        langs = ", ".join(f"{code} {number(n)}" for code, n in sorted(self.by_language.items(),
                                                                     key=lambda kv: (-kv[1], kv[0])))
        return t("reach.languages", languages=langs, own=number(self.by_fit["own"]),
                 second=number(self.by_fit["second"]), fallback=number(self.by_fit["fallback"]),
                 default=fallback or "-")

    def asks(self) -> bool:
        """More than one client or message: ask before going ahead."""
        return len(self.clients) > 1 or self.messages > 1

    def describe(self, tz, number=number) -> str:
        """One line: "3 clients, 3 messages (email 1, sms 2); the first go out 2025-06-17 10:00"."""
        channels = ", ".join(f"{ch} {number(n)}" for ch, n in sorted(self.by_channel.items())) or "-"
        at = self.first_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if self.first_at else "-"
        line = t("reach.plan", clients=number(len(self.clients)), messages=number(self.messages), channels=channels,
                 at=at)
        langs = self.describe_languages(self.fallback, number)
        return f"{line}\n{langs}" if langs else line
