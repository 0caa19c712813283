"""Channels carry one message at a time to one address: email (SMTP through yagmail) and SMS
(an HTTP gateway). A channel never raises for a delivery problem: `send` returns an Outcome
that says what the outbox should do, with a short reason that holds no personal data.

`send(out, ready, upcoming)`: `ready()` starts the outbox's commit of the previous message and
returns a function that tells (waiting if need be) whether this message may still go out; a
channel calls `ready()` as soon as it has something to wait for and asks the answer before the
point where the other side could accept the message, returning None when the answer is no.
"""

import ssl
from dataclasses import dataclass

SENT = "sent"
TEMPORARY = "temporary"  # retry this message later, with backoff
PERMANENT = "permanent"  # this message cannot be sent: fail it with the reason
UNAVAILABLE = "unavailable"  # the channel is down (connect, login, throttled): not the message's fault

# Reasons of a permanent failure that say the client's address cannot be reached on this channel
# (not what the message says): another channel may still reach them.
BAD_ADDRESS = "bad_address"  # not an address this channel can carry
NO_SMTPUTF8 = "no_smtputf8"  # an address with non-ASCII letters before the @, and a relay without SMTPUTF8
BOUNCED = "bounced"  # a bounce (DSN) said this address does not exist; it stays bad until the address changes
UNREACHABLE = (BAD_ADDRESS, NO_SMTPUTF8, BOUNCED)


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


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """A context that verifies the server's certificate and host name: against the system's
    CAs, and also `ca_file` (a PEM file, e.g. an organisation's internal CA) when given."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def open_channel(config, name: str):
    """The channel object for "email" or "sms"; it connects on its first message."""
    if name == "email":
        from .email import EmailChannel

        return EmailChannel(config)
    from .sms import SmsChannel

    return SmsChannel(config)
