"""SMS over an HTTP gateway (httpx), one adapter per provider, each speaking that provider's
documented send API:

- cm:          POST {base}/v1.0/message, JSON {"messages": {"authentication": {"producttoken"},
               "msg": [{"from", "to": [{"number": "0031..."}], "body": {"type": "auto", "content"},
               "reference", "minimumNumberOfMessageParts", "maximumNumberOfMessageParts"}]}}
               answer {"details", "errorCode", "messages": [{"to", "status", "reference", "parts",
               "messageDetails", "messageErrorCode"}]}      base https://gw.messaging.cm.com
- spryng:      POST {base}/v1/messages, Authorization: Bearer TOKEN, JSON {"encoding": "auto",
               "body", "route": "business", "originator", "recipients": ["31..."], "reference"}
               answer 200 {"id", ...}                        base https://rest.spryngsms.com
- messagebird: POST {base}/messages, Authorization: AccessKey TOKEN, JSON {"originator", "body",
               "recipients": [31...], "reference", "datacoding": "auto"}
               answer 201 {"id", ...}; errors {"errors": [{"code", "description", "parameter"}]}
                                                             base https://rest.messagebird.com
- twilio:      POST {base}/2010-04-01/Accounts/{sid}/Messages.json, basic auth SID:TOKEN, form
               To=+31..., From, Body[, StatusCallback]; answer 201 {"sid", "status", ...};
               errors {"code", "message", "more_info", "status"}  base https://api.twilio.com

Our message id is the provider reference (Twilio has none: its sid is kept as provider_id).
Numbers are E.164; the sender is at most 11 characters (checked in config). The token comes from
CASELOAD_SMS_TOKEN or the keyring. Provider error texts may quote the number, so only status
codes and error codes are kept as the reason.
"""

import email.utils
import logging
import re
import time
from dataclasses import dataclass

from ..secrets import get_secret
from . import PERMANENT, SENT, TEMPORARY, UNAVAILABLE, Outcome, Outgoing

log = logging.getLogger("caseload.sms")

E164 = re.compile(r"\+[1-9]\d{6,14}")
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


class Provider:
    name = ""
    default_base = ""

    def __init__(self, config):
        self.config = config
        self.base = (config.sms.base_url or self.default_base).rstrip("/")
        self.sender = config.sms.sender

    def missing(self) -> str | None:
        """A reason when the provider's own settings are incomplete."""
        return None

    def request(self, out: Outgoing, token: str) -> dict:
        raise NotImplementedError

    def accepted(self, status: int, data) -> Outcome | None:
        """The outcome of an answer that was not a plain HTTP failure (429, 401, 5xx...)."""
        raise NotImplementedError


class Cm(Provider):
    name = "cm"
    default_base = "https://gw.messaging.cm.com"
    AUTH = {101, 103}
    BALANCE = {102}
    TEMPORARY = {500, 999}

    def request(self, out, token):
        parts = sms_info(out.body).parts
        return {"url": f"{self.base}/v1.0/message", "json": {"messages": {
            "authentication": {"producttoken": token},
            "msg": [{"from": self.sender, "to": [{"number": "00" + out.address[1:]}],
                     "body": {"type": "auto", "content": out.body}, "reference": str(out.id),
                     "minimumNumberOfMessageParts": 1, "maximumNumberOfMessageParts": max(parts, 1)}]}}}

    def accepted(self, status, data):
        code = _int(data.get("errorCode")) if isinstance(data, dict) else None
        messages = data.get("messages") if isinstance(data, dict) else None
        detail = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
        msg_code = _int(detail.get("messageErrorCode"))
        if 200 <= status < 300 and code == 0 and not msg_code:
            return Outcome(SENT)
        if code is None:
            return None
        if code in self.AUTH:
            return Outcome(UNAVAILABLE, f"cm {code} authentication")
        if code in self.BALANCE:
            return Outcome(UNAVAILABLE, f"cm {code} balance")
        effective = msg_code or code
        if effective in self.TEMPORARY:
            return Outcome(TEMPORARY, f"cm {effective}")
        return Outcome(PERMANENT, f"cm {effective}")


class Spryng(Provider):
    name = "spryng"
    default_base = "https://rest.spryngsms.com"

    def request(self, out, token):
        return {"url": f"{self.base}/v1/messages", "headers": {"Authorization": f"Bearer {token}"},
                "json": {"encoding": "auto", "body": out.body, "route": "business", "originator": self.sender,
                         "recipients": [out.address[1:]], "reference": str(out.id)}}

    def accepted(self, status, data):
        if 200 <= status < 300 and isinstance(data, dict) and data.get("id"):
            return Outcome(SENT, provider_id=str(data["id"]))
        if 400 <= status < 500:
            return Outcome(PERMANENT, f"spryng {status}")
        return None


class MessageBird(Provider):
    name = "messagebird"
    default_base = "https://rest.messagebird.com"
    AUTH = {2}
    BALANCE = {25}
    TEMPORARY = {99}

    def request(self, out, token):
        return {"url": f"{self.base}/messages", "headers": {"Authorization": f"AccessKey {token}"},
                "json": {"originator": self.sender, "body": out.body, "recipients": [int(out.address[1:])],
                         "reference": str(out.id), "datacoding": "auto"}}

    def accepted(self, status, data):
        if 200 <= status < 300 and isinstance(data, dict) and data.get("id"):
            return Outcome(SENT, provider_id=str(data["id"]))
        errors = data.get("errors") if isinstance(data, dict) else None
        code = _int(errors[0].get("code")) if isinstance(errors, list) and errors and isinstance(errors[0], dict) else None
        if code in self.AUTH:
            return Outcome(UNAVAILABLE, f"messagebird {code} authentication")
        if code in self.BALANCE:
            return Outcome(UNAVAILABLE, f"messagebird {code} balance")
        if code in self.TEMPORARY:
            return Outcome(TEMPORARY, f"messagebird {code}")
        if 400 <= status < 500:
            return Outcome(PERMANENT, f"messagebird {code if code is not None else status}")
        return None


class Twilio(Provider):
    name = "twilio"
    default_base = "https://api.twilio.com"

    def missing(self):
        return None if self.config.sms.account else "twilio_account_missing"

    def request(self, out, token):
        account = self.config.sms.account
        form = {"To": out.address, "From": self.sender, "Body": out.body}
        public = self.config.daemon.public_url.rstrip("/")
        if public.startswith("https://"):
            form["StatusCallback"] = f"{public}/sms/twilio/status"
        return {"url": f"{self.base}/2010-04-01/Accounts/{account}/Messages.json", "auth": (account, token),
                "data": form}

    def accepted(self, status, data):
        if 200 <= status < 300 and isinstance(data, dict) and data.get("sid"):
            return Outcome(SENT, provider_id=str(data["sid"]))
        code = _int(data.get("code")) if isinstance(data, dict) else None
        if 400 <= status < 500:
            return Outcome(PERMANENT, f"twilio {code if code is not None else status}")
        return None


PROVIDERS = {p.name: p for p in (Cm, Spryng, MessageBird, Twilio)}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _retry_after(value: str | None) -> float:
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
        self.provider = PROVIDERS[config.sms.provider](config)
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
