"""CM.com (https://developers.cm.com/messaging/docs).

Sending: POST {base}/v1.0/message, JSON {"messages": {"authentication": {"producttoken"},
"msg": [{"from", "to": [{"number": "0031..."}], "body": {"type": "auto", "content"}, "reference",
"minimumNumberOfMessageParts", "maximumNumberOfMessageParts"}]}}; the answer {"details",
"errorCode", "messages": [{"to", "status", "reference", "parts", "messageDetails",
"messageErrorCode"}]}. `from` is at most 11 alphanumeric characters or 16 digits (CM's .NET SDK,
Message.From); a reply number is sent as 00 + its digits, like `to`.

Inbound (https://developers.cm.com/messaging/docs/incoming-messages): JSON {"from": {"number",
"name"}, "to": {"number"}, "message": {"text", "media", "custom"}, "reference", "groupings",
"timeUtc", "channel", "messageContext"}, retried every 5 minutes for a month until answered 200.
`reference` is the reference of the outgoing message this answers (ours: our message id), and
`messageContext` "indicates which MT or MO the consumer has replied to" (a string, or an object
on some channels): both name the message replied to, never this one, so two replies to one
message are two replies. The payload has no id of its own: a digest of it is the id, so a retry
is recognised. The older gateway format (flat "from", "to", "body", "reference") is read too.
Another channel (WhatsApp, RCS...) is not an SMS: answered 200 and logged.

Status reports (https://developers.cm.com/messaging/docs/incoming-status-report): JSON
{"messages": {"msg": {"received", "to", "reference", "status": {"code", "errorCode",
"errorDescription"}, "operator"}}} or XML <MESSAGES><MSG RECEIVED=""><TO/><REFERENCE/><STATUS>
<CODE/><ERRORCODE/><ERRORDESCRIPTION/></STATUS></MSG></MESSAGES>; code 0 accepted, 1 rejected,
2 delivered, 3 failed.
"""

from .. import PERMANENT, SENT, TEMPORARY, UNAVAILABLE, Outcome
from . import sms_info
from ._base import (Inbound, Provider, Status, Unusable, code, digest, e164, first, int_or_none, our_message, shown,
                    text_of)

STATUS = {"0": None, "1": "failed", "2": "delivered", "3": "failed"}


class Cm(Provider):
    name = "cm"
    default_base = "https://gw.messaging.cm.com"
    AUTH = {101, 103}
    BALANCE = {102}
    TEMPORARY = {500, 999}

    @classmethod
    def sender_problem(cls, sender):
        problem = super().sender_problem(sender)
        if problem is None and sender.strip().startswith("+") and len(sender.strip()) - 1 > 16:
            return "sender_bad_number"
        return problem

    def request(self, out, token):
        parts = sms_info(out.body).parts
        sender = "00" + self.sender[1:] if self.sender_number else self.sender
        return {"url": f"{self.base}/v1.0/message", "json": {"messages": {
            "authentication": {"producttoken": token},
            "msg": [{"from": sender, "to": [{"number": "00" + out.address[1:]}],
                     "body": {"type": "auto", "content": out.body}, "reference": str(out.id),
                     "minimumNumberOfMessageParts": 1, "maximumNumberOfMessageParts": max(parts, 1)}]}}}

    def accepted(self, status, data):
        error = int_or_none(data.get("errorCode")) if isinstance(data, dict) else None
        messages = data.get("messages") if isinstance(data, dict) else None
        detail = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
        msg_error = int_or_none(detail.get("messageErrorCode"))
        if 200 <= status < 300 and error == 0 and not msg_error:
            return Outcome(SENT)
        if error is None:
            return None
        if error in self.AUTH:
            return Outcome(UNAVAILABLE, f"cm {error} authentication")
        if error in self.BALANCE:
            return Outcome(UNAVAILABLE, f"cm {error} balance")
        effective = msg_error or error
        if effective in self.TEMPORARY:
            return Outcome(TEMPORARY, f"cm {effective}")
        return Outcome(PERMANENT, f"cm {effective}")

    # -- webhooks --

    def inbound(self, hook):
        data = hook.fields()
        channel = data.get("channel")
        if channel is not None and str(channel).strip().upper() != "SMS":
            raise Unusable("not an SMS (another channel)")
        sender = data.get("from")
        if isinstance(sender, dict):  # Business Messaging
            number = sender.get("number")
            message = data.get("message")
            text = message.get("text") if isinstance(message, dict) else None
        else:  # the gateway's flat format
            number, text = sender, first(data, "body", "message")
        number, text = e164(number), text_of(text)
        context = data.get("messageContext")
        replied_to = our_message(data.get("reference"))
        if replied_to is None:
            replied_to = our_message(_context_id(context))
        own = digest("cm", number, text, data.get("timeUtc") or data.get("time"), data.get("reference"), context)
        return Inbound(self.name, own, number, text, None if replied_to is None else str(replied_to))

    def statuses(self, hook):
        if hook.method == "POST" and ("xml" in hook.content_type or hook.body.lstrip()[:1] == b"<"):
            root = hook.xml()
            msgs = [_xml_msg(m) for m in root.iter() if m.tag.upper() == "MSG"]
        else:
            data = hook.fields()
            messages = data.get("messages")
            msgs = messages.get("msg") if isinstance(messages, dict) else None
            msgs = msgs if isinstance(msgs, list) else [msgs]
        out = []
        for msg in msgs:
            if not isinstance(msg, dict) or not isinstance(msg.get("status"), dict):
                raise Unusable("no status")
            status = code(msg["status"].get("code"))
            if status not in STATUS:
                raise Unusable(f"status code {shown(status)}")
            reference = our_message(msg.get("reference"))
            if reference is None:
                raise Unusable("no reference of ours")
            reason = f"cm {code(msg['status'].get('errorCode')) or status}" if STATUS[status] == "failed" else None
            out.append(Status(self.name, STATUS[status], reference, None, reason))
        if not out:
            raise Unusable("no status")
        return out


def _context_id(context):
    """The message id a messageContext names: the string itself, or an id inside an object."""
    if isinstance(context, str):
        return context
    if isinstance(context, dict):
        for key in ("reference", "messageId", "message_id", "id"):
            if isinstance(context.get(key), (str, int)):
                return context[key]
    return None


def _xml_msg(msg) -> dict:
    """An XML <MSG> as the JSON format's dict."""
    def child(node, name):
        for c in node:
            if c.tag.upper() == name:
                return c
        return None

    def text(node):
        return (node.text or "").strip() if node is not None else None

    status = child(msg, "STATUS")
    return {"reference": text(child(msg, "REFERENCE")), "to": text(child(msg, "TO")),
            "status": None if status is None else {"code": text(child(status, "CODE")),
                                                   "errorCode": text(child(status, "ERRORCODE"))}}


PROVIDER = Cm
