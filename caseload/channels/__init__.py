"""Channels carry one message at a time to one address: email (SMTP through yagmail) and SMS
(an HTTP gateway). A channel never raises for a delivery problem: `send` returns an Outcome
that says what the outbox should do, with a short reason that holds no personal data.

`send(out, ready, upcoming)`: `ready()` starts the outbox's commit of the previous message and
returns a function that tells (waiting if need be) whether this message may still go out; a
channel calls `ready()` as soon as it has something to wait for and asks the answer before the
point where the other side could accept the message, returning None when the answer is no.
"""

from dataclasses import dataclass

SENT = "sent"
TEMPORARY = "temporary"  # retry this message later, with backoff
PERMANENT = "permanent"  # this message cannot be sent: fail it with the reason
UNAVAILABLE = "unavailable"  # the channel is down (connect, login, throttled): not the message's fault


@dataclass(frozen=True)
class Outgoing:
    """What a channel needs of a claimed message."""

    id: int
    channel: str
    address: str
    body: str
    token: str
    subject: str | None = None
    html: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Outcome:
    kind: str
    reason: str = ""
    provider_id: str | None = None
    ambiguous: bool = False  # the other side may have accepted it: a retry may be a duplicate
    retry_after: float | None = None  # seconds, when the provider asked us to slow down

    @property
    def sent(self) -> bool:
        return self.kind == SENT


def open_channel(config, name: str):
    """The channel object for "email" or "sms"; it connects on its first message."""
    if name == "email":
        from .email import EmailChannel

        return EmailChannel(config)
    from .sms import SmsChannel

    return SmsChannel(config)
