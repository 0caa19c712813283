"""Twilio (https://www.twilio.com/docs/messaging).

Sending: POST {base}/2010-04-01/Accounts/{sid}/Messages.json, basic auth SID:TOKEN, form To=+31...,
From, Body[, StatusCallback]; the answer 201 {"sid", "status", ...}, errors {"code", "message",
"more_info", "status"}. From is a Twilio number in E.164 or an alphanumeric sender ID: at most 11
ASCII letters, digits and spaces, not digits only
(https://www.twilio.com/docs/glossary/what-alphanumeric-sender-id).

Webhooks are verified by X-Twilio-Signature: base64 HMAC-SHA1, keyed with the account's auth
token (CASELOAD_SMS_TOKEN), over the URL Twilio called followed by each POST field name and value
in name order (every value of a repeated name, sorted), as twilio-python's
twilio/request_validator.py computes it; the URL is tried with and without its default port, as
that validator does. A JSON body is covered by the bodySHA256 query parameter instead. The
AccountSid must be `[sms] account`. A `?token=` added to the URL must be right too.

Inbound: From, To, Body, MessageSid (SmsSid), AccountSid, NumMedia... (the messaging webhook); a
From that is not a number ("whatsapp:+31...") is not an SMS. The answer is an empty TwiML
<Response/>. Status callbacks: MessageSid, MessageStatus, ErrorCode; the statuses are those of
twilio-python's MessageInstance.Status (twilio/rest/api/v2010/account/message/__init__.py).
"""

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qs, urlsplit

from .. import PERMANENT, SENT, Outcome
from ._base import Inbound, Provider, Status, Unusable, code, e164, ident, int_or_none, shown, text_of, token_ok

STATUS = {"delivered": "delivered", "read": "delivered", "undelivered": "failed", "failed": "failed",
          "canceled": "failed", "partially_delivered": None, "queued": None, "sending": None, "sent": None,
          "accepted": None, "scheduled": None, "receiving": None, "received": None}
ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")


def signature(auth_token: str, url: str, params: dict[str, list[str]]) -> str:
    """X-Twilio-Signature of a request to `url` with POST fields `params`."""
    data = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _with_and_without_port(url: str) -> list[str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    bare = parts._replace(netloc=host).geturl()
    ported = parts._replace(netloc=f"{host}:{port}").geturl()
    return [url, bare, ported]


class Twilio(Provider):
    name = "twilio"
    default_base = "https://api.twilio.com"
    alphanumeric = ALPHANUMERIC
    needs_api_token = True

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
        error = int_or_none(data.get("code")) if isinstance(data, dict) else None
        if 400 <= status < 500:
            return Outcome(PERMANENT, f"twilio {error if error is not None else status}")
        return None

    # -- webhooks --

    def reachable(self):
        return self.config.sms.provider == self.name

    def verify(self, hook, secret, api_token):
        if "token" in hook.query and not (secret and token_ok(hook.query["token"], secret)):
            return 403, "forbidden"
        if not api_token:
            return 503, "sms token not configured"
        given = hook.headers.get("X-Twilio-Signature") or ""
        if not given:
            return 403, "bad signature"
        params: dict[str, list[str]] = {}
        if hook.method == "POST":
            if hook.content_type == "application/x-www-form-urlencoded":
                try:
                    params = hook.form()
                except Unusable:
                    return 403, "bad signature"
            else:  # JSON: the body's hash is in the signed URL
                sha = parse_qs(urlsplit(hook.url).query).get("bodySHA256", [""])[0]
                if not hmac.compare_digest(hashlib.sha256(hook.body).hexdigest(), sha):
                    return 403, "bad signature"
        given_bytes = given.encode("utf-8", "replace")
        if not any(hmac.compare_digest(signature(api_token, url, params).encode(), given_bytes)
                   for url in _with_and_without_port(hook.url)):
            return 403, "bad signature"
        try:
            account = hook.fields().get("AccountSid")
        except Unusable:
            account = None
        account = account if isinstance(account, str) else ""
        if not hmac.compare_digest(account.encode("utf-8", "replace"), self.config.sms.account.encode()):
            return 403, "other account"
        return None

    def inbound(self, hook):
        data = hook.fields()
        sid = ident(data.get("MessageSid") or data.get("SmsSid") or data.get("SmsMessageSid"))
        if sid is None:
            raise Unusable("no MessageSid")
        number = e164(data.get("From"))
        return Inbound(self.name, sid, number, text_of(data.get("Body")))

    def statuses(self, hook):
        data = hook.fields()
        raw = data.get("MessageStatus") or data.get("SmsStatus")
        key = str(raw).strip().lower() if isinstance(raw, str) else None
        if key not in STATUS:
            raise Unusable(f"status {shown(key)}")
        sid = ident(data.get("MessageSid") or data.get("SmsSid"))
        if sid is None:
            raise Unusable("no MessageSid")
        status = STATUS[key]
        reason = f"twilio {code(data.get('ErrorCode')) or key}" if status == "failed" else None
        return [Status(self.name, status, None, sid, reason)]

    def answer(self, kind):
        if kind == "inbound":
            return "text/xml", b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
        return super().answer(kind)


PROVIDER = Twilio
