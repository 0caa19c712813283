"""Each SMS provider as it documents itself: its example inbound messages (MO) and status reports
(DLR) posted over real HTTP to the daemon's webhook endpoint on 127.0.0.1, each example naming the
page or SDK file it was copied from (placeholders such as [REFERENCE] filled with our values);
Twilio's official SDK signing requests; CM's replies that name one message all kept; anything
valid but unknown answered 200 and logged without personal data; sending from a reply number."""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

import pytest

from caseload import access, checkins, outbox
from caseload.channels import sms
from caseload.clock import iso
from caseload.daemon import loop, webhooks
from caseload.errors import BadInput
from conftest import snapshot_tables
from daemon_support import HOOK, request
from servers import HOST, PROVIDERS, TOKEN, TWILIO_ACCOUNT, add_clients, free_port, make_store, sms_stub  # noqa: F401

ADMIN = access.Actor("admin", "admin")
PHONE = "+31612345678"
NUMBER = "+3197010203040"  # a Dutch 097 reply number


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("CASELOAD_SMS_TOKEN", TOKEN)
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", HOOK)


@dataclass
class Served:
    store: object
    port: int

    def post(self, path, body: bytes, content_type: str, headers: dict | None = None):
        return request(self.port, "POST", path, body, {"Content-Type": content_type, **(headers or {})})

    def get(self, path):
        return request(self.port, "GET", path)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@pytest.fixture
def served(tmp_path):
    """A caseload whose configured provider is `provider`, with the daemon's webhook endpoint
    listening on 127.0.0.1 (public_url is that address, as Twilio signs it)."""
    started = []

    def start(provider: str) -> Served:
        from caseload.store import open_store

        port = free_port()
        store = make_store(tmp_path, daemon={"listen": f"{HOST}:{port}", "public_url": f"http://{HOST}:{port}"},
                           sms_keys={"provider": provider, "sender": NUMBER})
        add_clients(store, 1, phone=PHONE, preferred_channel="sms")
        server = webhooks.serve(store.config, lambda: open_store(store.config, store.path))
        started.append((server, store))
        return Served(store, port)

    yield start
    for server, store in started:
        server.stop()
        store.close()


def asked(store) -> int:
    """A check-in whose wellbeing SMS went out; returns its message id (our reference)."""
    now = datetime.now(timezone.utc)
    checkins.round_now(store, ADMIN, "client_number = K00001", now=now)
    mid = store.db.execute("SELECT id FROM messages WHERE client_id = 1").fetchone()[0]
    store.db.execute("UPDATE messages SET status = 'sent', sent_at = ?, provider_id = 'SM1f2e3d4c5b6a' WHERE id = ?",
                     [iso(now), mid])
    store.db.conn.commit()
    return mid


def wellbeing(store):
    row = store.db.execute("SELECT v_wellbeing FROM profile WHERE client_id = 1").fetchone()
    return row[0] if row else None


def replies(store):
    return store.db.execute("SELECT provider, outcome, message_id FROM replies ORDER BY id").fetchall()


def message_status(store, mid):
    return store.db.execute("SELECT status, reason FROM messages WHERE id = ?", [mid]).fetchone()


def twilio_signed(url: str, params: dict, token: str = TOKEN) -> dict:
    from twilio.request_validator import RequestValidator  # Twilio's own SDK

    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


# --- the providers' documented examples ------------------------------------------------------

@dataclass(frozen=True)
class Example:
    provider: str
    kind: str  # inbound | status
    source: str  # where the example was copied from
    payload: object  # a dict (JSON, form or query) or text (XML), with {mid} for our message id
    encoding: str = "json"  # json | form | get | xml
    expect: str = "recorded"  # recorded | ignored | delivered | failed:<reason> | unchanged


def fill(payload, mid):
    text = json.dumps(payload) if not isinstance(payload, str) else payload
    text = text.replace("{mid}", str(mid))
    return json.loads(text) if not isinstance(payload, str) else text


EXAMPLES = [
    # CM.com
    Example("cm", "inbound", "https://developers.cm.com/messaging/docs/incoming-messages (contents format, SMS)",
            {"reference": "{mid}", "messageContext": "7f9c1b1e-3a55-4c3e-9d0a-2f0e3c1b9a77",
             "from": {"number": "+31612345678", "name": "+31612345678"}, "to": {"number": "+3197010203040"},
             "message": {"text": "4", "media": {"mediaName": "", "mediaUri": "", "mimeType": ""}, "custom": {}},
             "groupings": ["", "", ""], "time": "2025-06-16 12:00:00", "timeUtc": "2025-06-16T10:00:00",
             "channel": "SMS"}),
    Example("cm", "inbound", "https://docs.cmtelecom.com/en/api/mo-webhooks/1.0/index/ (the gateway's JSON reply)",
            {"reference": "{mid}", "from": "0031612345678", "to": "003197010203040", "body": "4",
             "groupings": ["", "", ""]}),
    Example("cm", "inbound", "https://developers.cm.com/messaging/docs/incoming-messages (messageContext, an object"
            " as on channels with a context: the message replied to)",
            {"messageContext": {"messageId": "{mid}"}, "from": {"number": "+31612345678", "name": ""},
             "to": {"number": "+3197010203040"}, "message": {"text": "4"}, "groupings": ["", "", ""],
             "timeUtc": "2025-06-16T10:00:00", "channel": "SMS"}),
    Example("cm", "inbound", "https://developers.cm.com/messaging/docs/whatsapp-inbound (example location message)",
            {"reference": "2f2d42ac-3809-40fb-bce5-dc720e400000", "from": {"number": "+31612345678", "name": "Demo"},
             "to": {"number": "+3197010203040"},
             "message": {"text": "", "location": {"latitude": 52.37, "longitude": 4.89, "label": "Home"}, "custom": {}},
             "groupings": ["", "", ""], "timeUtc": "2025-06-16T10:00:00", "channel": "WhatsApp"},
            expect="ignored"),
    Example("cm", "status", "https://developers.cm.com/messaging/docs/incoming-status-report (JSON format)",
            {"messages": {"msg": {"received": "2025-06-16T10:00:05", "to": "0031612345678", "reference": "{mid}",
                                  "status": {"code": "2", "errorCode": "", "errorDescription": ""},
                                  "operator": "20416"}}}, expect="delivered"),
    Example("cm", "status", "https://developers.cm.com/messaging/docs/incoming-status-report (XML format)",
            '<MESSAGES><MSG RECEIVED="2025-06-16T10:00:05"><TO>0031612345678</TO><REFERENCE>{mid}</REFERENCE>'
            "<STATUS><CODE>3</CODE><ERRORCODE>5</ERRORCODE><ERRORDESCRIPTION>Unknown subscriber</ERRORDESCRIPTION>"
            "</STATUS></MSG></MESSAGES>", "xml", expect="failed:cm 5"),
    Example("cm", "status", "https://developers.cm.com/messaging/docs/incoming-status-report (code 0, accepted)",
            {"messages": {"msg": {"received": "2025-06-16T10:00:01", "to": "0031612345678", "reference": "{mid}",
                                  "status": {"code": "0", "errorCode": "", "errorDescription": ""},
                                  "operator": ""}}}, expect="unchanged"),
    # Twilio
    Example("twilio", "inbound", "https://www.twilio.com/docs/messaging/guides/webhook-request (an incoming SMS)",
            {"ToCountry": "NL", "ToState": "", "SmsMessageSid": "SM3c7a0c0a8e1d4f2b9a6e5d4c3b2a1f0e", "NumMedia": "0",
             "ToCity": "", "FromZip": "", "SmsSid": "SM3c7a0c0a8e1d4f2b9a6e5d4c3b2a1f0e", "FromState": "",
             "SmsStatus": "received", "FromCity": "", "Body": "4", "FromCountry": "NL", "To": "+3197010203040",
             "MessagingServiceSid": "MG0123456789abcdef0123456789abcdef", "ToZip": "", "NumSegments": "1",
             "MessageSid": "SM3c7a0c0a8e1d4f2b9a6e5d4c3b2a1f0e", "AccountSid": TWILIO_ACCOUNT, "From": "+31612345678",
             "ApiVersion": "2010-04-01"}, "form"),
    Example("twilio", "inbound", "https://www.twilio.com/docs/whatsapp/api (an incoming WhatsApp message)",
            {"SmsMessageSid": "SM5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c", "NumMedia": "0", "ProfileName": "Demo",
             "SmsSid": "SM5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c", "WaId": "31612345678", "SmsStatus": "received",
             "Body": "4", "To": "whatsapp:+3197010203040", "NumSegments": "1",
             "MessageSid": "SM5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c", "AccountSid": TWILIO_ACCOUNT,
             "From": "whatsapp:+31612345678", "ApiVersion": "2010-04-01"}, "form", expect="ignored"),
    Example("twilio", "status", "https://www.twilio.com/docs/messaging/guides/track-outbound-message-status"
            " (a status callback request)",
            {"AccountSid": TWILIO_ACCOUNT, "From": "+3197010203040", "ApiVersion": "2010-04-01",
             "MessageStatus": "delivered", "SmsSid": "SM1f2e3d4c5b6a", "SmsStatus": "delivered",
             "To": "+31612345678", "MessageSid": "SM1f2e3d4c5b6a", "RawDlrDoneDate": "2506161000"}, "form",
            expect="delivered"),
    Example("twilio", "status", "twilio-python twilio/rest/api/v2010/account/message/__init__.py"
            " (MessageInstance.Status.UNDELIVERED; ErrorCode 30003)",
            {"AccountSid": TWILIO_ACCOUNT, "ApiVersion": "2010-04-01", "ErrorCode": "30003",
             "MessageStatus": "undelivered", "MessageSid": "SM1f2e3d4c5b6a", "SmsSid": "SM1f2e3d4c5b6a",
             "SmsStatus": "undelivered", "From": "+3197010203040", "To": "+31612345678"}, "form",
            expect="failed:twilio 30003"),
    Example("twilio", "status", "twilio-python twilio/rest/api/v2010/account/message/__init__.py"
            " (MessageInstance.Status.CANCELED)",
            {"AccountSid": TWILIO_ACCOUNT, "ApiVersion": "2010-04-01", "MessageStatus": "canceled",
             "MessageSid": "SM1f2e3d4c5b6a", "From": "+3197010203040", "To": "+31612345678"}, "form",
            expect="failed:twilio canceled"),
    Example("twilio", "status", "twilio-python twilio/rest/api/v2010/account/message/__init__.py"
            " (MessageInstance.Status.PARTIALLY_DELIVERED)",
            {"AccountSid": TWILIO_ACCOUNT, "ApiVersion": "2010-04-01", "MessageStatus": "partially_delivered",
             "MessageSid": "SM1f2e3d4c5b6a", "From": "+3197010203040", "To": "+31612345678"}, "form",
            expect="unchanged"),
    # MessageBird (Bird)
    Example("messagebird", "inbound", "https://developers.messagebird.com/api/sms-messaging/ (a received message"
            " forwarded to a URL: id, recipient, originator, body, createdDatetime)",
            {"id": "e8077d803532c0b5937c639b60216938", "recipient": "3197010203040", "originator": "31612345678",
             "body": "4", "createdDatetime": "2025-06-16T10:00:00+00:00"}, "get"),
    Example("messagebird", "inbound", "https://docs.bird.com/api/channels-api/supported-channels/programmable-sms/"
            "receiving-messages (text message)",
            {"id": "96a0b5fa-a986-453d-be5c-3117f989f025", "channelId": "614208aa-b153-4d5d-9989-2fddfc0ce4c3",
             "sender": {"contact": {"id": "32cf5eee-f940-422c-ab8c-5f753aad5efd", "identifierKey": "phonenumber",
                                    "identifierValue": "+31612345678"}},
             "receiver": {"connector": {"id": "86cc4dc0-3dc0-41b7-ac43-8ec829ead56f"}},
             "body": {"type": "text", "text": {"text": "4"}},
             "parts": [{"platformReference": "e8077d803532c0b5937c639b60216938"}], "status": "delivered",
             "direction": "incoming", "lastStatusAt": "2022-12-22T08:32:50.736Z",
             "createdAt": "2022-12-22T08:32:50.736Z", "updatedAt": "2022-12-22T08:32:50.736Z"}),
    Example("messagebird", "status", "https://developers.messagebird.com/api/sms-messaging/#handle-a-status-report",
            {"id": "efa6405d518d4c0c88cce11f7db775fb", "reference": "{mid}", "recipient": "31612345678",
             "status": "delivered", "statusReason": "successfully delivered", "statusErrorCode": "",
             "statusDatetime": "2025-06-16T10:00:05+00:00", "mccmnc": "20416", "ported": "0",
             "price[amount]": "0.070", "price[currency]": "EUR"}, "get", expect="delivered"),
    Example("messagebird", "status", "https://developers.messagebird.com/api/sms-messaging/#handle-a-status-report"
            " (delivery_failed)",
            {"id": "efa6405d518d4c0c88cce11f7db775fb", "reference": "{mid}", "recipient": "31612345678",
             "status": "delivery_failed", "statusReason": "unknown subscriber", "statusErrorCode": "1",
             "statusDatetime": "2025-06-16T10:00:05+00:00", "mccmnc": "20416", "ported": "0"}, "get",
            expect="failed:messagebird 1"),
    # Spryng
    Example("spryng", "status", "http://www.spryng.co.uk/products/smsgateway/reference (delivery reports:"
            " REFERENCE=1&STATUS=Delivered)", {"REFERENCE": "{mid}", "STATUS": "Delivered"}, "get",
            expect="delivered"),
    Example("spryng", "status", "https://docs.spryngsms.com (delivery report: ID, REFERENCE, STATUS 20, REASONCODE)",
            {"ID": "1a2b3c4d-0000-4000-8000-00000000abcd", "REFERENCE": "{mid}", "STATUS": "20", "REASONCODE": "52",
             "DELIVEREDAT": "2025-06-16 10:00:05"}, "get", expect="failed:spryng 52"),
    Example("spryng", "inbound", "https://docs.spryngsms.com (inbound message: ORIGINATOR, RECIPIENT, BODY, ID)",
            {"ORIGINATOR": "31612345678", "RECIPIENT": "3197010203040", "BODY": "4",
             "ID": "7e8f9a0b-0000-4000-8000-00000000cdef"}, "form"),
]


def post_example(s: Served, ex: Example, mid: int):
    payload = fill(ex.payload, mid)
    path = f"/sms/{ex.provider}/{ex.kind}"
    if ex.provider != "twilio":
        path += f"?token={HOOK}"
    if ex.encoding == "get":
        return s.get(f"{path}&{urlencode(payload)}")
    if ex.encoding == "xml":
        return s.post(path, payload.encode(), "application/xml")
    if ex.encoding == "form":
        headers = twilio_signed(s.url + path, payload) if ex.provider == "twilio" else {}
        return s.post(path, urlencode(payload).encode(), "application/x-www-form-urlencoded", headers)
    return s.post(path, json.dumps(payload).encode(), "application/json")


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda ex: f"{ex.provider}-{ex.kind}-{ex.source.split(' (')[-1][:40]}")
def test_each_providers_documented_example_over_http(served, ex, caplog):
    """Source: `ex.source` (the provider's documentation page or SDK file)."""
    s = served(ex.provider)
    mid = asked(s.store)
    before = snapshot_tables(s.store.path)
    with caplog.at_level(logging.INFO):
        status, body, headers = post_example(s, ex, mid)
    assert status == 200, body
    if ex.expect == "recorded":
        assert wellbeing(s.store) == 4
        assert [r[:2] for r in replies(s.store)] == [(ex.provider, "observation")]
        assert replies(s.store)[0][2] == mid  # the question that message asked
        if ex.provider == "twilio":
            assert headers["Content-Type"] == "text/xml" and b"<Response>" in body
    elif ex.expect in ("ignored", "unchanged"):
        assert snapshot_tables(s.store.path) == before
        if ex.expect == "ignored":
            assert f"ignored a {ex.provider} {ex.kind} webhook" in caplog.text
    elif ex.expect == "delivered":
        assert message_status(s.store, mid) == ("delivered", None)
    else:
        assert message_status(s.store, mid) == ("failed", ex.expect.split(":", 1)[1])
    for personal in (PHONE, PHONE[1:], "Voornaam1", "Achternaam1"):
        assert personal not in caplog.text


def test_every_provider_has_documented_examples():
    assert {ex.provider for ex in EXAMPLES} == set(sms.names())
    assert {(ex.provider, ex.kind) for ex in EXAMPLES} == {(p, k) for p in sms.names() for k in ("inbound", "status")}


# --- CM: replies that name one message ------------------------------------------------------

def test_cm_two_replies_to_the_same_message_are_both_kept_and_a_retry_once(served):
    """messageContext names the message replied to (https://developers.cm.com/messaging/docs/
    incoming-messages: "Field to indicate which MT or MO the consumer has replied to"), so it is
    not the reply's own id: a second reply to the same question is a second reply (it corrects
    the first), and CM's retry of one (every 5 minutes until answered 200) is recognised."""
    s = served("cm")
    mid = asked(s.store)
    first = {"reference": str(mid), "messageContext": str(mid), "from": {"number": "+31612345678", "name": ""},
             "to": {"number": "+3197010203040"}, "message": {"text": "2"}, "groupings": ["", "", ""],
             "timeUtc": "2025-06-16T10:00:00", "channel": "SMS"}
    second = {**first, "message": {"text": "4"}, "timeUtc": "2025-06-16T10:03:00"}
    for payload in (first, second, second):  # the second arrives twice: CM retried it
        status = s.post(f"/sms/cm/inbound?token={HOOK}", json.dumps(payload).encode(), "application/json")[0]
        assert status == 200
    assert replies(s.store) == [("cm", "observation", mid), ("cm", "observation", mid)]
    assert wellbeing(s.store) == 4  # the second answer corrects the first


# --- Twilio: signed by Twilio's own SDK ------------------------------------------------------

def test_twilio_requests_signed_by_twilios_sdk_are_taken_and_a_tampered_one_refused(served):
    s = served("twilio")
    mid = asked(s.store)
    path = "/sms/twilio/status"
    fields = {"MessageSid": "SM1f2e3d4c5b6a", "MessageStatus": "delivered", "AccountSid": TWILIO_ACCOUNT,
              "From": "+3197010203040", "To": "+31612345678", "ApiVersion": "2010-04-01"}
    form = "application/x-www-form-urlencoded"
    signed = twilio_signed(s.url + path, fields)
    before = snapshot_tables(s.store.path)
    refused = [
        s.post(path, urlencode({**fields, "MessageStatus": "undelivered"}).encode(), form, signed),  # tampered
        s.post(path, urlencode(fields).encode(), form, twilio_signed(s.url + path, fields, "other-token")),
        s.post(path, urlencode(fields).encode(), form),  # unsigned
        s.post(path + "?x=1", urlencode(fields).encode(), form, signed),  # another URL
    ]
    assert [r[0] for r in refused] == [403] * 4
    assert snapshot_tables(s.store.path) == before
    assert s.post(path, urlencode(fields).encode(), form, signed)[0] == 200
    assert message_status(s.store, mid) == ("delivered", None)

    # a repeated field name is signed with every value (RequestValidator.get_values), and a GET
    # webhook is signed over its URL alone
    from twilio.request_validator import RequestValidator

    multi = [("MessageSid", "SM1f2e3d4c5b6a"), ("MessageStatus", "read"), ("AccountSid", TWILIO_ACCOUNT),
             ("MediaUrl", "b"), ("MediaUrl", "a")]

    class Multi(dict):
        def getall(self, name):
            return [v for k, v in multi if k == name]

    sig = RequestValidator(TOKEN).compute_signature(s.url + path, Multi(multi))
    assert s.post(path, urlencode(multi).encode(), form, {"X-Twilio-Signature": sig})[0] == 200
    get_path = f"/sms/twilio/inbound?{urlencode({**fields, 'Body': '3', 'From': '+31612345678'})}"
    sig = RequestValidator(TOKEN).compute_signature(s.url + get_path, {})
    assert request(s.port, "GET", get_path, headers={"X-Twilio-Signature": sig})[0] == 200
    assert replies(s.store) == [("twilio", "observation", mid)]


# --- valid but unknown: 200, logged, nothing written -------------------------------------------

UNKNOWN = [
    ("cm", "status", json.dumps({"messages": {"msg": {"reference": "{mid}", "status": {"code": "7"}}}}),
     "application/json", "status code 7"),
    ("cm", "status", "<MESSAGES><MSG><TO>0031612345678</TO></MSG></MESSAGES>", "application/xml", "no status"),
    ("cm", "status", '<!DOCTYPE x [<!ENTITY a "aaaa">]><MESSAGES>&a;</MESSAGES>', "text/xml", "DOCTYPE"),
    ("cm", "inbound", json.dumps({"from": {"number": "Gemeente"}, "message": {"text": "4"}}), "application/json",
     "sender is not a phone number"),
    ("cm", "inbound", json.dumps([{"from": {"number": PHONE}}]), "application/json", "not an object"),
    ("messagebird", "status", json.dumps({"id": "x1", "reference": "{mid}", "status": "mystery"}),
     "application/json", "status mystery"),
    ("spryng", "inbound", "\xff\xfe", "application/x-www-form-urlencoded", "not UTF-8"),
    ("spryng", "status", "STATUS=31612345678&REFERENCE={mid}", "application/x-www-form-urlencoded", "status ?"),
]


@pytest.mark.parametrize("provider, kind, body, ctype, reason", UNKNOWN, ids=[u[4] for u in UNKNOWN])
def test_valid_but_unknown_is_answered_200_and_logged_without_personal_data(served, caplog, provider, kind, body,
                                                                               ctype, reason):
    s = served(provider)
    mid = asked(s.store)
    before = snapshot_tables(s.store.path)
    with caplog.at_level(logging.INFO):
        status = s.post(f"/sms/{provider}/{kind}?token={HOOK}", body.replace("{mid}", str(mid)).encode("latin-1"),
                        ctype)[0]
    assert status == 200
    assert snapshot_tables(s.store.path) == before
    assert f"ignored a {provider} {kind} webhook" in caplog.text and reason in caplog.text
    assert PHONE not in caplog.text and PHONE[1:] not in caplog.text


def test_a_bad_token_stays_403_and_twilio_elsewhere_404(served):
    s = served("cm")
    body = json.dumps({"from": {"number": PHONE}, "message": {"text": "4"}}).encode()
    assert s.post("/sms/cm/inbound?token=wrong", body, "application/json")[0] == 403
    assert s.post("/sms/cm/inbound", body, "application/json")[0] == 403
    assert s.post("/sms/twilio/inbound", body, "application/json")[0] == 404  # not the configured provider
    assert s.post(f"/sms/nexmo/inbound?token={HOOK}", body, "application/json")[0] == 404
    assert replies(s.store) == []


# --- the sender: a reply number ---------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_provider_sends_from_a_reply_number(tmp_path, sms_stub, provider):
    stub = sms_stub(provider)
    store = make_store(tmp_path, sms=stub, sms_keys={"sender": NUMBER})
    add_clients(store, 1, preferred_channel="sms")
    outbox.enqueue(store, 1, "sms", "Hoe gaat het? Antwoord 1-5", kind="campaign")
    assert outbox.send_due(store).sent == 1 and stub.problems == []
    assert [m.sender for m in stub.received] == [NUMBER]
    store.close()


@pytest.mark.parametrize("provider, sender, ok", [
    ("twilio", "+14155550100", True),  # a Twilio number: 12 characters, refused before
    ("cm", NUMBER, True), ("spryng", NUMBER, True), ("messagebird", NUMBER, True),
    ("cm", "+31 970 1020 3040", True),  # spaces are fine; it is sent as E.164
    ("cm", "Gemeente", True), ("twilio", "Gemeente", True),
    ("cm", "Werkplein Testdorp", False),  # a name over 11 characters
    ("twilio", "Gem. Test", False),  # Twilio's sender IDs: letters, digits and spaces only
    ("cm", "12345", False),  # digits only is neither a name nor a number in E.164
    ("cm", "+3197010", False),  # not a valid number (phonenumbers)
])
def test_the_sender_is_a_reply_number_or_a_name_the_provider_allows(tmp_path, provider, sender, ok):
    if ok:
        store = make_store(tmp_path, sms_keys={"provider": provider, "sender": sender})
        store.close()
        return
    with pytest.raises(BadInput) as e:
        make_store(tmp_path, sms_keys={"provider": provider, "sender": sender})
    assert "sms.sender" in str(e.value) or "E.164" in str(e.value)


@pytest.mark.parametrize("sender, warned", [("Gemeente", True), (NUMBER, False)])
def test_the_daemon_warns_at_start_that_replies_need_a_number(tmp_path, caplog, sender, warned):
    store = make_store(tmp_path, sms_keys={"sender": sender})
    d = loop.Daemon(store.config, store.path, tick=1, serve_webhooks=False)
    with caplog.at_level(logging.WARNING, logger="caseload.daemon"):
        d.start()
    d.close()
    store.close()
    assert ("clients cannot answer an SMS" in caplog.text) == warned
