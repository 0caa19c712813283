"""What every SMS provider class has, and the plain data its webhooks become.

A provider class (one module per provider in this package) owns everything about that provider:
the send request and how its answer reads, the sender it allows, how its webhooks are verified,
and how its inbound messages (MO) and status reports (DLR) read. The daemon's endpoint only
finds the class and hands it the request (`Webhook`); replies.py records what comes back
(`Inbound`, `Status`).

A verified webhook that cannot be used (another channel than SMS, a status code we do not know,
a sender that is not a number, a body in no shape we know) raises `Unusable`: the endpoint
answers 200, so the provider stops retrying (CM retries every 5 minutes for a month), and logs
the short reason, never the payload. Only verification answers 401/403 (or 503 while a secret is
not configured, so the provider keeps the message and retries later).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

MAX_TEXT = 2000  # characters of a reply kept; a provider concatenates at most a few SMS parts
E164 = re.compile(r"\+[1-9]\d{6,14}")
_ID = re.compile(r"[A-Za-z0-9._:@<>+=/-]{1,128}")
_CODE = re.compile(r"[A-Za-z0-9_.-]{1,24}")


@dataclass(frozen=True)
class Inbound:
    provider: str
    provider_id: str  # the provider's id of this message, or a digest of it: a retry is recognised
    number: str  # E.164
    text: str
    reference: str | None = None  # our message id that this replies to, when the provider says


@dataclass(frozen=True)
class Status:
    provider: str
    status: str | None  # delivered | failed | None (an intermediate state: nothing to record)
    message_id: int | None
    provider_id: str | None
    reason: str | None  # a code only (`cm 5`), never the provider's text


class Unusable(ValueError):
    """A verified webhook that cannot be used; the text is a short reason without personal data."""


@dataclass
class Webhook:
    """One request to /sms/{provider}/{inbound|status}, read whole."""

    method: str
    url: str  # as the provider called it: public_url + path + query
    query: dict[str, list[str]]
    headers: Mapping
    body: bytes = b""
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def text(self) -> str:
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Unusable("body is not UTF-8") from None

    def json(self):
        import json

        if "json" not in self._cache:
            text = self.text()
            try:
                self._cache["json"] = json.loads(text)
            except ValueError:
                raise Unusable("body is not JSON") from None
        return self._cache["json"]

    def form(self) -> dict[str, list[str]]:
        """The fields of a form POST (every value of a repeated name), or of a GET's query."""
        if self.method == "GET":
            return {k: v for k, v in self.query.items() if k != "token"}
        text = self.text()
        try:
            return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=200)
        except ValueError:
            raise Unusable("body is not a form") from None

    def xml(self):
        import xml.etree.ElementTree as ElementTree

        text = self.text()
        if re.search(r"<!(?:DOCTYPE|ENTITY)", text, re.I):  # no entities: nothing to expand
            raise Unusable("XML with a DOCTYPE")
        try:
            return ElementTree.fromstring(text)
        except ElementTree.ParseError:
            raise Unusable("body is not XML") from None

    def fields(self) -> dict:
        """The request's fields whatever their encoding: a JSON object, a form, or the query of a
        GET (single values; `token` left out)."""
        if self.method == "GET":
            return _single(self.form())
        if self.content_type in ("application/json", "text/json") or self.content_type.endswith("+json"):
            data = self.json()
            if not isinstance(data, dict):
                raise Unusable("JSON that is not an object")
            return data
        if self.content_type in ("application/x-www-form-urlencoded", ""):
            return _single(self.form())
        raise Unusable("content type")


def _single(form: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in form.items()}


def lower_keys(fields: dict) -> dict:
    """Field names without case ("ORIGINATOR", "originator"), for providers that vary them."""
    return {str(k).lower(): v for k, v in fields.items()}


def first(fields: dict, *names):
    """The first of `names` that has a value (not None, not "")."""
    for n in names:
        v = fields.get(n)
        if v is not None and v != "":
            return v
    return None


def text_of(value, what: str = "no text") -> str:
    """A message text: a string (or a number), NUL characters removed, cut at MAX_TEXT."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise Unusable(what)
    return value.replace("\x00", "")[:MAX_TEXT]


def e164(raw) -> str:
    """A sender number as the providers write it ("0031612345678", "31612345678", "+316...");
    anything else (a name, a short code, "whatsapp:+31...") is Unusable."""
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        raise Unusable("no sender number")
    s = str(raw).strip().replace(" ", "")
    if s.startswith("00"):
        s = "+" + s[2:]
    elif s[:1].isdigit():
        s = "+" + s
    if not E164.fullmatch(s):
        raise Unusable("sender is not a phone number")
    return s


def ident(value) -> str | None:
    """A provider's id as we keep it: itself when it is a plain id, else a digest of it."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    s = str(value).strip()
    if not s:
        return None
    return s if _ID.fullmatch(s) else digest(s)


def digest(*parts) -> str:
    """An id for a message the provider gives none: the same payload (a retry) gives the same id."""
    import hashlib
    import json

    data = "\x1f".join(json.dumps(p, sort_keys=True, ensure_ascii=False) for p in parts)
    return "h:" + hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def code(value) -> str | None:
    """A status or error code, for a reason; anything that is not a short code is left out."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    s = str(value).strip()
    return s if _CODE.fullmatch(s) else None


def shown(value) -> str:
    """A status code fit for the log: a short code, never a number long enough to be a phone's."""
    c = code(value)
    return c if c is not None and not re.search(r"\d{7}", c) else "?"


def our_message(reference) -> int | None:
    """Our message id from a reference we gave the provider (digits only)."""
    if isinstance(reference, bool):
        return None
    s = str(reference).strip() if isinstance(reference, (str, int)) else ""
    return int(s) if s.isdigit() and len(s) <= 12 else None


def delivery_report(provider: str, table: dict, key, reference, provider_id, error_code) -> list[Status]:
    """One delivery report from a normalised status word (`key`, through the provider's `table`),
    our reference and/or the provider's id; a failure's reason is the provider's error code, or
    the word."""
    if key not in table:
        raise Unusable(f"status {shown(key)}")
    reference, pid = our_message(reference), ident(provider_id)
    if reference is None and pid is None:
        raise Unusable("no reference")
    status = table[key]
    reason = f"{provider} {code(error_code) or key.replace(' ', '_')}" if status == "failed" else None
    return [Status(provider, status, reference, pid, reason)]


def token_ok(given: list[str], secret: str) -> bool:
    import hmac

    return len(given) == 1 and hmac.compare_digest(given[0].encode("utf-8", "replace"), secret.encode())


ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 .&_+-]{1,11}")


class Provider:
    """One SMS provider. Subclasses say how to send (`request`, `accepted`) and how to read
    their webhooks (`inbound`, `statuses`); the defaults here verify a webhook by its
    `?token=` and answer 200 "ok"."""

    name = ""
    default_base = ""
    alphanumeric = ALPHANUMERIC  # a sender name the provider allows; None: numbers only
    needs_api_token = False  # True when the webhooks are verified with the API token

    def __init__(self, config):
        self.config = config
        self.base = (config.sms.base_url or self.default_base).rstrip("/")
        self.sender = normalise_sender(config.sms.sender)

    # -- the sender --

    @classmethod
    def sender_problem(cls, sender: str) -> str | None:
        """None when the provider can send from `sender`, else the key of the reason."""
        if sender.strip().startswith("+"):
            return None if normalise_sender(sender).startswith("+") else "sender_bad_number"
        if cls.alphanumeric is None:
            return "sender_needs_number"
        return None if cls.alphanumeric.fullmatch(sender) else "sender_bad_name"

    @property
    def sender_number(self) -> str | None:
        """The sender as E.164 when it is a reply number, else None (a name)."""
        return self.sender if self.sender.startswith("+") else None

    # -- sending --

    def missing(self) -> str | None:
        """A reason when the provider's own settings are incomplete."""
        return None

    def request(self, out, token: str) -> dict:
        raise NotImplementedError

    def accepted(self, status: int, data):
        """The Outcome of an answer that was not a plain HTTP failure (429, 401, 5xx...)."""
        raise NotImplementedError

    # -- webhooks --

    def reachable(self) -> bool:
        """Whether this provider's webhooks are served (a provider that needs its own settings
        to verify them is served only when it is the configured one)."""
        return True

    def verify(self, hook: Webhook, secret: str | None, api_token: str | None) -> tuple[int, str] | None:
        """None when the request is ours to take, else (HTTP status, short text)."""
        if not secret:
            return 503, "webhook secret not configured"
        if not token_ok(hook.query.get("token", []), secret):
            return 403, "forbidden"
        return None

    def inbound(self, hook: Webhook) -> Inbound:
        raise Unusable("no inbound messages")

    def statuses(self, hook: Webhook) -> list[Status]:
        raise Unusable("no status reports")

    def answer(self, kind: str) -> tuple[str, bytes]:
        """(content type, body) of the 200 answer."""
        return "text/plain; charset=utf-8", b"ok"


def normalise_sender(sender: str) -> str:
    """A number sender as E.164 (validated with phonenumbers), a name as it is; a number that
    phonenumbers does not accept comes back unchanged (without a leading +: not a number)."""
    s = sender.strip()
    if not s.startswith("+"):
        return s
    import phonenumbers

    try:
        number = phonenumbers.parse(s, None)
    except phonenumbers.NumberParseException:
        return s.lstrip("+")
    if not phonenumbers.is_valid_number(number):
        return s.lstrip("+")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
