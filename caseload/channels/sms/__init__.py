"""SMS over an HTTP gateway (httpx). Each provider is one module in this package holding one
class (`PROVIDER`) that owns sending, its webhooks (inbound messages and status reports) and
their verification: cm.py, spryng.py, messagebird.py, twilio.py. A new module here is a new
provider; `names()` finds them, so config, the channel and the webhook endpoint never list them.

Our message id is the provider reference (Twilio has none: its sid is kept as provider_id).
Numbers are E.164. The sender is a reply number in E.164 (clients can answer it) or, where the
provider allows it, a name of at most 11 characters (clients cannot answer a name). The token
comes from CASELOAD_SMS_TOKEN or the keyring. Provider error texts may quote the number, so only
status codes and error codes are kept as the reason.
"""

import importlib
import logging
import pkgutil
import time
from dataclasses import dataclass
from functools import cache

from ...secrets import get_secret
from .. import PERMANENT, TEMPORARY, UNAVAILABLE, Outcome, Outgoing
from ._base import E164, Inbound, Provider, Status, Unusable, Webhook

__all__ = ["E164", "Inbound", "MAX_PARTS", "Provider", "SmsChannel", "SmsInfo", "Status", "Unusable", "Webhook",
           "names", "provider_class", "sms_info"]

log = logging.getLogger("caseload.sms")

MAX_PARTS = 8

# GSM 03.38: the basic set (one septet each) and the extension table (escape + one septet)
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsInfo:
    characters: int
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int


def sms_info(text: str) -> SmsInfo:
    """Characters, encoding and the number of parts the text is sent as. A long message is cut
    into parts of 153 septets (GSM-7) or 67 UTF-16 units (UCS-2), never inside an escape
    sequence or a surrogate pair."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        sizes = [2 if c in GSM_EXTENDED else 1 for c in text]
        encoding, single, multi = "GSM-7", 160, 153
    else:
        sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
        encoding, single, multi = "UCS-2", 70, 67
    units = sum(sizes)
    if units <= single:
        parts = 1
    else:
        parts, fill = 1, 0
        for size in sizes:
            if fill + size > multi:
                parts, fill = parts + 1, 0
            fill += size
    return SmsInfo(len(text), encoding, units, parts)


# --- the providers --------------------------------------------------------------------------

@cache
def names() -> tuple[str, ...]:
    """Every provider: the public modules of this package."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


@cache
def provider_class(name: str) -> type[Provider] | None:
    """The class of provider `name`, or None when there is no such provider."""
    if name not in names():
        return None
    return importlib.import_module(f"{__name__}.{name}").PROVIDER


def _retry_after(value: str | None) -> float:
    import email.utils

    if not value:
        return 60.0
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(1.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return 60.0


class SmsChannel:
    name = "sms"

    def __init__(self, config, transport=None):
        self.config = config
        self.provider = provider_class(config.sms.provider)(config)
        self.transport = transport
        self.client = None
        self.token = None

    def _open(self) -> Outcome | None:
        import httpx

        missing = self.provider.missing()
        if missing:
            return Outcome(UNAVAILABLE, missing)
        self.token = get_secret("sms_token")
        if self.token is None:
            return Outcome(UNAVAILABLE, "sms_token_missing")
        self.client = httpx.Client(timeout=self.config.sms.timeout, transport=self.transport,
                                   headers={"Accept": "application/json", "User-Agent": "caseload"})
        return None

    def connect(self) -> Outcome | None:
        """Check the settings and the token (an HTTP API has no connection to test before use)."""
        return self._open() if self.client is None else None

    def send(self, out: Outgoing, ready=None, upcoming: Outgoing | None = None) -> Outcome | None:
        """Send one message; the outbox's `ready()()` is asked first (None when it says no)."""
        import httpx

        if not E164.fullmatch(out.address or ""):
            return Outcome(PERMANENT, "bad_number")
        if self.client is None:
            down = self._open()
            if down is not None:
                return down
        if ready is not None and not ready()():
            return None
        try:
            resp = self.client.post(**self.provider.request(out, self.token))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            return Outcome(UNAVAILABLE, f"{self.provider.name} connect {type(e).__name__}")
        except httpx.TimeoutException as e:  # the request went out: the provider may have taken it
            return Outcome(TEMPORARY, f"{self.provider.name} {type(e).__name__}", ambiguous=True)
        except httpx.TransportError as e:
            return Outcome(TEMPORARY, f"{self.provider.name} {type(e).__name__}", ambiguous=True)
        name, status = self.provider.name, resp.status_code
        if status == 429:
            return Outcome(UNAVAILABLE, f"{name} 429", retry_after=_retry_after(resp.headers.get("Retry-After")))
        if status in (401, 403):
            return Outcome(UNAVAILABLE, f"{name} {status} authentication")
        try:
            data = resp.json()
        except ValueError:
            data = None
        outcome = self.provider.accepted(status, data)
        if outcome is not None:
            return outcome
        if status >= 500:
            return Outcome(TEMPORARY, f"{name} {status}")
        return Outcome(PERMANENT, f"{name} {status}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
