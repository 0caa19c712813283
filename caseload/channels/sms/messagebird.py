"""MessageBird, now Bird (https://developers.messagebird.com/api/sms-messaging/).

Sending: POST {base}/messages, Authorization: AccessKey TOKEN, JSON {"originator", "body",
"recipients": [31...], "reference", "datacoding": "auto"}; the answer 201 {"id", ...} (the
Message object of messagebird/python-rest-api, messagebird/message.py), errors {"errors":
[{"code", "description", "parameter"}]}. The originator is "a telephone number (including
country code) or an alphanumeric string" of at most 11 characters; a reply number goes as its
digits.

Status reports (https://developers.messagebird.com/api/sms-messaging/#handle-a-status-report,
https://docs.bird.com/connectivity-platform/getting-started/receiving-delivery-reports-dlrs): a
GET to the account's status report URL with id, reference, recipient, status (scheduled, sent,
buffered, delivered, expired, delivery_failed), statusReason, statusErrorCode, statusDatetime,
mccmnc, ported, price[amount], price[currency]. A POST with the same fields (form or JSON) reads
the same.

Inbound: the number's "forward to URL" request with id, recipient, originator, body,
createdDatetime (GET or POST; the older keyword format's message and mid are read too), or a Bird
Channels API message (https://docs.bird.com/api/channels-api/supported-channels/programmable-sms/
receiving-messages): {"id", "sender": {"contact": {"identifierValue"}}, "body": {"type": "text",
"text": {"text"}}, "direction": "incoming", ...}, bare or inside a webhook's "payload".
"""

from .. import PERMANENT, SENT, TEMPORARY, UNAVAILABLE, Outcome
from ._base import (Inbound, Provider, Status, Unusable, code, delivery_report, digest, e164, first, ident,
                    int_or_none, text_of)

STATUS = {"delivered": "delivered", "delivery_failed": "failed", "expired": "failed", "sent": None,
          "buffered": None, "scheduled": None}


class MessageBird(Provider):
    name = "messagebird"
    default_base = "https://rest.messagebird.com"
    AUTH = {2}
    BALANCE = {25}
    TEMPORARY = {99}

    def request(self, out, token):
        sender = self.sender[1:] if self.sender_number else self.sender
        return {"url": f"{self.base}/messages", "headers": {"Authorization": f"AccessKey {token}"},
                "json": {"originator": sender, "body": out.body, "recipients": [int(out.address[1:])],
                         "reference": str(out.id), "datacoding": "auto"}}

    def accepted(self, status, data):
        if 200 <= status < 300 and isinstance(data, dict) and data.get("id"):
            return Outcome(SENT, provider_id=str(data["id"]))
        errors = data.get("errors") if isinstance(data, dict) else None
        error = int_or_none(errors[0].get("code")) if isinstance(errors, list) and errors and isinstance(errors[0], dict) \
            else None
        if error in self.AUTH:
            return Outcome(UNAVAILABLE, f"messagebird {error} authentication")
        if error in self.BALANCE:
            return Outcome(UNAVAILABLE, f"messagebird {error} balance")
        if error in self.TEMPORARY:
            return Outcome(TEMPORARY, f"messagebird {error}")
        if 400 <= status < 500:
            return Outcome(PERMANENT, f"messagebird {error if error is not None else status}")
        return None

    # -- webhooks --

    def inbound(self, hook):
        data = hook.fields()
        message = data.get("payload") if isinstance(data.get("payload"), dict) else data
        if isinstance(message.get("sender"), dict):  # a Bird Channels API message
            contact = message["sender"].get("contact")
            number = contact.get("identifierValue") if isinstance(contact, dict) else None
            body = message.get("body")
            if not isinstance(body, dict) or body.get("type") != "text":
                raise Unusable("not a text message")
            text = body.get("text", {}).get("text") if isinstance(body.get("text"), dict) else None
            number, text = e164(number), text_of(text)
            return Inbound(self.name, ident(message.get("id")) or digest(self.name, number, text), number, text)
        number, text = e164(data.get("originator")), text_of(first(data, "body", "message", "payload"))
        own = ident(first(data, "id", "mid")) or digest(self.name, number, text, data.get("createdDatetime"))
        return Inbound(self.name, own, number, text)

    def statuses(self, hook):
        data = hook.fields()
        raw = data.get("status")
        key = raw.strip().lower() if isinstance(raw, str) else None
        return delivery_report(self.name, STATUS, key, data.get("reference"), data.get("id"),
                               data.get("statusErrorCode"))


PROVIDER = MessageBird
