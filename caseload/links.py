"""Signed links in messages: one-tap answers to a check-in question, and tracked links.

    {public_url}/a/<signed>/<value>   the answer <value> to one check-in question: a GET shows it
                                      with a button, the button's POST records it (once)
    {public_url}/l/<signed>           records a click on a link in a message, then redirects;
                                      an item's link in a digest shows the item with a button,
                                      and the button's POST records the click, then redirects

<signed> is base64url(JSON payload) "." base64url(HMAC-SHA256(key, payload))[:22]. An answer
link signs "q<check-in>.<position>.<expiry>" instead of JSON (thousands are made per round); the
value stays outside the signature, since a client may give any answer by reply too: the signature proves that the link
came from us, for that question, and is still valid. Check-in ids are never reused
(AUTOINCREMENT), so a link of an erased client names no other client's check-in. Links made
before that (migration 0010) sign "a<check-in>..." and count only for a check-in below the id
floor the migration kept (`legacy`). A tracked link signs the message token and
the target URL, so the endpoint never redirects anywhere we did not write into a message.

The key is derived from the webhook secret (CASELOAD_WEBHOOK_TOKEN or keyring), so an
administrator manages one secret; rotating it invalidates the links in messages already sent.
"""

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from .errors import CaseloadError
from .i18n import t
from .secrets import get_secret

SIG_CHARS = 22  # 132 bits of the HMAC
MAX_SIGNED = 2048
_URL = re.compile(r"https?://[^\s<>\"']+")


def link_key(secret: str | None = None) -> bytes:
    """The HMAC key for links; CaseloadError when no webhook secret is configured."""
    secret = secret if secret is not None else get_secret("webhook_token")
    if not secret:
        raise CaseloadError(t("links.no_secret"))
    return hmac.new(secret.encode(), b"caseload links v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, raw, hashlib.sha256).digest()
    return f"{_b64(raw)}.{_b64(mac)[:SIG_CHARS]}"


def verify(key: bytes, signed: str) -> dict | None:
    """The payload when the signature holds, else None (never raises on bad input)."""
    if not isinstance(signed, str) or len(signed) > MAX_SIGNED or signed.count(".") != 1:
        return None
    body, mac = signed.split(".")
    try:
        raw = _unb64(body)
    except (ValueError, TypeError):
        return None
    good = _b64(hmac.new(key, raw, hashlib.sha256).digest())[:SIG_CHARS]
    if not hmac.compare_digest(good.encode(), mac.encode("ascii", "replace")):
        return None
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


@dataclass(frozen=True)
class Answer:
    checkin_id: int
    position: int
    expires: int  # epoch seconds
    legacy: bool = False  # made before check-in ids were kept from reuse: valid only below the floor


_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def _mac(key: bytes, raw: bytes) -> str:
    return _b64(hmac.new(key, raw, hashlib.sha256).digest())[:SIG_CHARS]


def answer_token(key: bytes, checkin_id: int, position: int, expires: datetime) -> str:
    """A compact signed token for one question: base64url("q<checkin>.<position>.<expiry>") "." MAC."""
    raw = f"q{int(checkin_id)}.{int(position)}.{int(expires.timestamp())}".encode()
    return f"{_b64(raw)}.{_mac(key, raw)}"


def answer_url(base: str, token: str, value: str) -> str:
    value = str(value)
    return f"{base.rstrip('/')}/a/{token}/{value if _SAFE.fullmatch(value) else quote(value, safe='')}"


def read_answer(key: bytes, token: str, now: datetime | None = None) -> tuple[Answer | None, str]:
    """(answer, "") when valid; (None, "invalid") for a forged or broken link; (answer, "expired")."""
    if not isinstance(token, str) or len(token) > MAX_SIGNED or token.count(".") != 1:
        return None, "invalid"
    body, mac = token.split(".")
    try:
        raw = _unb64(body)
    except (ValueError, TypeError):
        return None, "invalid"
    if not hmac.compare_digest(_mac(key, raw).encode(), mac.encode("ascii", "replace")):
        return None, "invalid"
    m = re.fullmatch(rb"([aq])(\d{1,12})\.(\d{1,3})\.(\d{1,12})", raw)
    if m is None:
        return None, "invalid"
    answer = Answer(int(m[2]), int(m[3]), int(m[4]), legacy=m[1] == b"a")
    now = now or datetime.now(timezone.utc)
    if now.timestamp() > answer.expires:
        return answer, "expired"
    return answer, ""


def expiry(config, now: datetime) -> datetime:
    return now + timedelta(days=config.daemon.link_days)


def tracked_url(key: bytes, base: str, message_token: str, url: str) -> str:
    return f"{base.rstrip('/')}/l/{sign(key, {'m': message_token, 'u': url})}"


def item_url(key: bytes, base: str, message_token: str, url: str, item_id: int) -> str:
    """An item's link in a digest: signs the message token, the URL and the item."""
    return f"{base.rstrip('/')}/l/{sign(key, {'m': message_token, 'u': url, 'i': int(item_id)})}"


def read_tracked(key: bytes, signed: str) -> tuple[str, str] | None:
    """(message token, target URL) of a valid tracked link, else None."""
    found = read_link(key, signed)
    return None if found is None else found[:2]


def read_link(key: bytes, signed: str) -> tuple[str, str, int | None] | None:
    """(message token, target URL, item id or None) of a valid tracked link, else None."""
    p = verify(key, signed)
    if p is None or not isinstance(p.get("m"), str) or not isinstance(p.get("u"), str):
        return None
    if not _URL.fullmatch(p["u"]):
        return None
    item = p.get("i")
    if item is not None and (isinstance(item, bool) or not isinstance(item, int)):
        return None
    return p["m"], p["u"], item


def track_links(key: bytes, base: str, message_token: str, text: str) -> str:
    """Every http(s) URL in a message text replaced by its tracked link; our own links (under
    `base`, such as one-tap answers) stay as they are."""
    return _foreign_urls(base).sub(lambda m: tracked_url(key, base, message_token, m.group(0)), text)


@lru_cache(maxsize=8)
def _foreign_urls(base: str) -> re.Pattern:
    """_URL, except for URLs under `base` (a check-in email holds a dozen answer links: no
    callback for each)."""
    return re.compile(r"https?://(?!" + re.escape(base.rstrip("/").split("://", 1)[-1] + "/") + r")[^\s<>\"']+")
