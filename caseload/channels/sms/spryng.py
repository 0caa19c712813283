"""Spryng (https://docs.spryngsms.com).

Sending: POST {base}/v1/messages, Authorization: Bearer TOKEN, JSON {"encoding": "auto", "body",
"route": "business", "originator", "recipients": ["31..."], "reference"}; the answer 200 {"id",
...} (Spryng/rest-api-php, src/Spryng/SpryngRestApi/Objects/Message.php). The originator is a
name of at most 11 characters or a number; a reply number goes as its digits.

Status reports: GET (or POST) to the account's report URL, field names in any case: ID,
REFERENCE, STATUS and REASONCODE; STATUS is 10 delivered or 20 not delivered, or in the older
gateway's words Delivered, Not Delivered, Buffered (http://www.spryng.co.uk/products/smsgateway/
reference: "REFERENCE=1&STATUS=Delivered").

Inbound: ORIGINATOR (also from, msisdn, sender), BODY (also message, text), ID, RECIPIENT, in
any case, GET or POST. Spryng's current inbound field names could not be checked against their
documentation here; a request without a sender number or a text is answered 200 and logged.
"""

from .. import PERMANENT, SENT, Outcome
from ._base import (Inbound, Provider, Status, delivery_report, digest, e164, first, ident, lower_keys,
                    our_message, text_of)

STATUS = {"10": "delivered", "20": "failed", "delivered": "delivered", "not delivered": "failed", "buffered": None}


class Spryng(Provider):
    name = "spryng"
    default_base = "https://rest.spryngsms.com"

    def request(self, out, token):
        sender = self.sender[1:] if self.sender_number else self.sender
        return {"url": f"{self.base}/v1/messages", "headers": {"Authorization": f"Bearer {token}"},
                "json": {"encoding": "auto", "body": out.body, "route": "business", "originator": sender,
                         "recipients": [out.address[1:]], "reference": str(out.id)}}

    def accepted(self, status, data):
        if 200 <= status < 300 and isinstance(data, dict) and data.get("id"):
            return Outcome(SENT, provider_id=str(data["id"]))
        if 400 <= status < 500:
            return Outcome(PERMANENT, f"spryng {status}")
        return None

    # -- webhooks --

    def inbound(self, hook):
        data = lower_keys(hook.fields())
        number = e164(first(data, "originator", "from", "msisdn", "sender"))
        text = text_of(first(data, "body", "message", "text"))
        own = ident(first(data, "id", "messageid")) or digest(self.name, number, text, first(data, "datetime", "date"))
        return Inbound(self.name, own, number, text, None if our_message(data.get("reference")) is None
                       else str(our_message(data.get("reference"))))

    def statuses(self, hook):
        data = lower_keys(hook.fields())
        raw = data.get("status")
        key = " ".join(str(raw).lower().split()) if isinstance(raw, (str, int)) else None
        return delivery_report(self.name, STATUS, key, data.get("reference"), data.get("id"), data.get("reasoncode"))


PROVIDER = Spryng
