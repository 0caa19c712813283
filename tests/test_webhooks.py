"""The webhook endpoint: each provider's inbound and delivery-report payloads are recorded;
forged requests (no or wrong token, bad Twilio signature) get 403 and write nothing; malformed
payloads are answered 200 (a 4xx makes the provider retry) and write nothing (a property test over
random payloads too); oversized requests are refused unread; one-tap answer links, tracked links
and the one-click unsubscribe. The providers' own documented examples: tests/test_sms_providers.py."""

import dataclasses
import json
import logging
import socket
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from caseload import access, checkins, clients, links, outbox
from caseload.daemon import webhooks
from caseload.clock import iso
from conftest import snapshot_tables
from daemon_support import HOOK, request
from servers import HOST, TOKEN, TWILIO_ACCOUNT, add_clients, free_port, make_store

ADMIN = access.Actor("admin", "admin")
PHONE = "+31612345678"


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("CASELOAD_SMS_TOKEN", TOKEN)
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", HOOK)


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path)
    add_clients(s, 1, phone=PHONE, preferred_channel="sms")
    add_clients(s, 1, start=2, preferred_channel="email")
    yield s
    s.close()


def endpoint(store, provider="cm", secret=HOOK):
    config = store.config
    if provider == "twilio":
        config = dataclasses.replace(config, sms=dataclasses.replace(config.sms, provider="twilio"))
    return webhooks.Endpoint(config, lambda: store, secret=secret, sms_token=TOKEN)


def sent_checkin(store, now=None):
    """A check-in whose wellbeing SMS went out; returns its message id."""
    now = now or datetime.now(timezone.utc)
    checkins.round_now(store, ADMIN, "client_number = K00001", now=now)
    mid = store.db.execute("SELECT id FROM messages WHERE client_id = 1").fetchone()[0]
    store.db.execute("UPDATE messages SET status = 'sent', sent_at = ?, provider_id = 'SMabc' WHERE id = ?",
                     [iso(now), mid])
    store.db.conn.commit()
    return mid


def form(fields):
    return urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


def js(fields):
    return json.dumps(fields).encode(), {"Content-Type": "application/json"}


def twilio_headers(path, fields, token=TOKEN):
    from twilio.request_validator import RequestValidator

    sig = RequestValidator(token).compute_signature(f"http://127.0.0.1:8425{path}", fields)
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}


INBOUND = {  # provider -> (method, fields, encode); the shapes the providers document
    "cm": ("POST", {"from": {"number": "0031612345678", "name": ""}, "to": {"number": "Gemeente"},
                    "message": {"text": "4", "media": {"mediaName": "", "mediaUri": "", "mimeType": ""}, "custom": {}},
                    "reference": None, "groupings": ["", "", ""], "timeUtc": "2025-06-16T10:00:00",
                    "channel": "SMS", "messageContext": "mo-cm-1"}, js),
    "cm-gateway": ("POST", {"reference": "", "from": "0031612345678", "to": "Gemeente", "body": "4",
                            "groupings": ["", "", ""]}, js),
    "spryng": ("POST", {"ORIGINATOR": "31612345678", "RECIPIENT": "3197010203040", "BODY": "4",
                        "ID": "sp-1"}, form),
    "messagebird": ("GET", {"id": "e8077d803532c0b5937c639b60216938", "recipient": "3197010203040",
                            "originator": "31612345678", "body": "4", "createdDatetime": "2025-06-16T10:00:00+00:00"},
                    None),
    "twilio": ("POST", {"ToCountry": "NL", "SmsMessageSid": "SM123", "NumMedia": "0", "SmsSid": "SM123",
                        "SmsStatus": "received", "Body": "4", "To": "+3197010203040", "NumSegments": "1",
                        "MessageSid": "SM123", "AccountSid": TWILIO_ACCOUNT, "From": "+31612345678",
                        "ApiVersion": "2010-04-01"}, form),
}


def call(ep, provider, kind, method, fields, encode, token=HOOK):
    name = "cm" if provider.startswith("cm") else provider
    path = f"/sms/{name}/{kind}?token={token}"
    if method == "GET":
        return ep.handle("GET", f"{path}&{urlencode(fields)}", {}, b"")
    body, headers = encode(fields)
    if name == "twilio":
        headers = twilio_headers(path, fields)
    return ep.handle("POST", path, headers, body)


@pytest.mark.parametrize("provider", list(INBOUND))
def test_each_providers_inbound_sms_answers_the_open_question(store, provider):
    sent_checkin(store)
    method, fields, encode = INBOUND[provider]
    r = call(endpoint(store, "twilio" if provider == "twilio" else "cm"), provider, "inbound", method, fields, encode)
    assert r.status == 200, r.body
    assert {p.key: p.value for p in clients.profile(store, 1)}["wellbeing"] == 4
    assert store.db.execute("SELECT outcome, channel FROM replies").fetchall() == [("observation", "sms")]
    assert store.db.execute("SELECT last_reply IS NOT NULL FROM clients WHERE id = 1").fetchone() == (1,)
    if provider == "twilio":
        assert r.content_type == "text/xml" and b"<Response>" in r.body


STATUS = {
    "cm": lambda mid: ("POST", {"messages": {"msg": {"received": "2025-06-16T10:00:05", "to": "0031612345678",
                                                     "reference": str(mid), "status": {"code": "2", "errorCode": "",
                                                     "errorDescription": ""}, "operator": "20416"}}}, js),
    "spryng": lambda mid: ("GET", {"ID": "sp-9", "REFERENCE": str(mid), "STATUS": "10", "REASONCODE": "0",
                                   "DELIVEREDAT": "2025-06-16 10:00:05"}, None),
    "messagebird": lambda mid: ("GET", {"id": "mb-1", "reference": str(mid), "recipient": "31612345678",
                                        "status": "delivered", "statusDatetime": "2025-06-16T10:00:05+00:00"}, None),
    "twilio": lambda mid: ("POST", {"MessageSid": "SMabc", "MessageStatus": "delivered", "AccountSid": TWILIO_ACCOUNT,
                                    "From": "Gemeente", "To": "+31612345678", "ApiVersion": "2010-04-01"}, form),
}


@pytest.mark.parametrize("provider", list(STATUS))
def test_each_providers_delivery_report_marks_the_message_delivered(store, provider):
    mid = sent_checkin(store)
    method, fields, encode = STATUS[provider](mid)
    r = call(endpoint(store, provider), provider, "status", method, fields, encode)
    assert r.status == 200, r.body
    assert store.db.execute("SELECT status FROM messages WHERE id = ?", [mid]).fetchone() == ("delivered",)


def test_a_failed_report_keeps_a_code_not_the_providers_text(store):
    mid = sent_checkin(store)
    fields = {"messages": {"msg": {"reference": str(mid), "to": "0031612345678", "status": {
        "code": "3", "errorCode": "5", "errorDescription": "Number 0031612345678 unknown"}}}}
    assert call(endpoint(store), "cm", "status", "POST", fields, js).status == 200
    assert store.db.execute("SELECT status, reason FROM messages WHERE id = ?", [mid]).fetchone() == ("failed", "cm 5")


FORGED = [
    ("no token", lambda ep, p: ep.handle("POST", "/sms/cm/inbound", *reversed(js(INBOUND["cm"][1])))),
    ("wrong token", lambda ep, p: ep.handle("POST", "/sms/cm/inbound?token=guess", *reversed(js(INBOUND["cm"][1])))),
    ("two tokens", lambda ep, p: ep.handle("POST", f"/sms/cm/inbound?token={HOOK}&token=x",
                                           *reversed(js(INBOUND["cm"][1])))),
]


def _twilio(fields, path=f"/sms/twilio/inbound?token={HOOK}", sign_with=TOKEN, headers=None):
    body, _ = form(fields)
    h = headers if headers is not None else twilio_headers(path, fields, sign_with)
    return lambda ep: ep.handle("POST", path, h, body)


@pytest.mark.parametrize("case", ["no token", "wrong token", "two tokens"])
def test_forged_requests_are_refused_and_write_nothing(store, case):
    sent_checkin(store)
    before = snapshot_tables(store.path)
    r = dict(FORGED)[case](endpoint(store), "cm")
    assert r.status == 403
    assert snapshot_tables(store.path) == before


@pytest.mark.parametrize("why", ["unsigned", "wrong key", "changed body", "other account"])
def test_twilio_without_a_good_signature_is_refused(store, why):
    sent_checkin(store)
    fields = dict(INBOUND["twilio"][1])
    path = f"/sms/twilio/inbound?token={HOOK}"
    if why == "unsigned":
        send = _twilio(fields, headers={"Content-Type": "application/x-www-form-urlencoded"})
    elif why == "wrong key":
        send = _twilio(fields, sign_with="not-the-token")
    elif why == "changed body":
        h = twilio_headers(path, fields)
        send = _twilio({**fields, "Body": "1"}, headers=h)
    else:
        send = _twilio({**fields, "AccountSid": "AC" + "9" * 32})
    before = snapshot_tables(store.path)
    assert send(endpoint(store, "twilio")).status == 403
    assert snapshot_tables(store.path) == before


def test_twilio_is_verified_by_its_signature_without_a_token(store):
    mid = sent_checkin(store)
    fields = {"MessageSid": "SMabc", "MessageStatus": "delivered", "AccountSid": TWILIO_ACCOUNT}
    path = "/sms/twilio/status"  # the StatusCallback our SMS channel sets has no token
    body, _ = form(fields)
    ep = endpoint(store, "twilio")
    assert ep.handle("POST", path, {"Content-Type": "application/x-www-form-urlencoded"}, body).status == 403
    assert ep.handle("POST", path, twilio_headers(path, fields), body).status == 200
    assert store.db.execute("SELECT status FROM messages WHERE id = ?", [mid]).fetchone() == ("delivered",)
    assert ep.handle("POST", path + "?token=wrong", twilio_headers(path + "?token=wrong", fields), body).status == 403


def test_without_a_secret_the_endpoint_answers_503_so_the_provider_retries(store):
    before = snapshot_tables(store.path)
    ep = webhooks.Endpoint(store.config, lambda: store, secret="", sms_token=TOKEN)
    body, headers = js(INBOUND["cm"][1])
    assert ep.handle("POST", "/sms/cm/inbound?token=", headers, body).status == 503
    assert snapshot_tables(store.path) == before


MALFORMED = {
    "not json": (b"{from: 1", "application/json"),
    "a list": (b"[1, 2]", "application/json"),
    "no number": (json.dumps({"message": {"text": "4"}}).encode(), "application/json"),
    "bad number": (json.dumps({"from": {"number": "abc"}, "message": {"text": "4"}}).encode(), "application/json"),
    "not utf-8": (b"\xff\xfe{}", "application/json"),
    "xml": (b"<MESSAGES/>", "application/xml"),
    "whatsapp": (json.dumps({"from": {"number": PHONE}, "message": {"text": "4"}, "channel": "WhatsApp"}).encode(),
                 "application/json"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_payloads_are_answered_200_and_write_nothing(store, case, caplog):
    sent_checkin(store)
    body, ctype = MALFORMED[case]
    before = snapshot_tables(store.path)
    with caplog.at_level(logging.WARNING, logger="caseload.webhooks"):
        r = endpoint(store).handle("POST", f"/sms/cm/inbound?token={HOOK}", {"Content-Type": ctype}, body)
    assert r.status == 200 and "ignored a cm inbound webhook" in caplog.text
    assert PHONE not in caplog.text and PHONE[1:] not in caplog.text
    assert snapshot_tables(store.path) == before


def test_a_long_text_is_kept_cut_and_a_nul_removed(store):
    ep = endpoint(store)
    for text in ("x" * 5000, "4\x00"):
        body, headers = js({"from": {"number": PHONE}, "message": {"text": text}, "timeUtc": text[:5]})
        assert ep.handle("POST", f"/sms/cm/inbound?token={HOOK}", headers, body).status == 200
    texts = [r[0] for r in store.db.execute("SELECT text FROM replies ORDER BY id")]
    assert texts == ["x" * 2000, "4"]


@pytest.mark.parametrize("fields", [
    {"messages": {"msg": {"reference": "1", "status": {"code": "9"}}}},
    {"messages": {"msg": {"status": {"code": "2"}}}},
    {"messages": {"msg": ["x", 1]}},
    {"messages": "x"},
])
def test_malformed_delivery_reports_are_answered_200_and_write_nothing(store, fields):
    sent_checkin(store)
    before = snapshot_tables(store.path)
    assert call(endpoint(store), "cm", "status", "POST", fields, js).status == 200
    assert snapshot_tables(store.path) == before


def test_unknown_provider_and_methods(store):
    ep = endpoint(store)
    assert ep.handle("POST", f"/sms/nexmo/inbound?token={HOOK}", {}, b"").status == 404
    assert ep.handle("PUT", f"/sms/cm/inbound?token={HOOK}", {}, b"").status == 405
    assert ep.handle("GET", f"/sms/cm/inbound?token={HOOK}", {}, b"").status == 200  # nothing to read: ignored
    assert ep.handle("POST", f"/sms/twilio/inbound?token={HOOK}", {}, b"").status == 404  # not the configured provider
    assert ep.handle("GET", "/", {}, b"").status == 404
    assert ep.handle("GET", "/health", {}, b"").status == 200


@st.composite
def payloads(draw):
    provider = draw(st.sampled_from(["cm", "spryng", "messagebird", "twilio"]))
    kind = draw(st.sampled_from(["inbound", "status"]))
    ctype = draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""]))
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                     st.sampled_from([PHONE, "0031612345678", "4", "STOP", "2", "delivered", "10"]))
    keys = st.one_of(st.sampled_from(["from", "to", "message", "body", "Body", "From", "MessageSid", "reference",
                                      "status", "STATUS", "messages", "msg", "originator", "id", "number", "text"]),
                     st.text(max_size=8))
    tree = st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(keys, c, max_size=5)),
                        max_leaves=12)
    body = draw(st.one_of(st.binary(max_size=300), st.builds(lambda d: json.dumps(d).encode(), tree),
                          st.builds(lambda d: urlencode({str(k): str(v) for k, v in d.items()}).encode(),
                                    st.dictionaries(keys, leaf, max_size=6))))
    return provider, kind, ctype, body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=payloads(), token=st.one_of(st.just(HOOK), st.text(max_size=20)))
def test_property_a_request_is_recorded_only_when_valid_else_4xx_and_nothing_written(store, p, token):

    provider, kind, ctype, body = p
    ep = endpoint(store, "twilio" if provider == "twilio" else "cm")
    before = store.conn.total_changes
    headers = {"Content-Type": ctype} if ctype else {}
    r = ep.handle("POST", f"/sms/{provider}/{kind}?{urlencode({'token': token})}", headers, body)
    written = store.conn.total_changes - before
    if token != HOOK:
        assert r.status == 403 and written == 0
        return
    assert r.status in (200, 403), r.status
    if r.status == 403:
        assert written == 0 and provider == "twilio"  # never without a signature
        return
    if written:  # recorded: then it really had the provider's shape
        from caseload.channels.sms import Webhook

        hook = Webhook("POST", "http://x/", {}, headers, body)
        p = ep.provider(provider)
        p.inbound(hook) if kind == "inbound" else p.statuses(hook)


# --- over real HTTP ---------------------------------------------------------------------------

@pytest.fixture
def server(store):
    from caseload.store import open_store

    port = free_port()
    srv = webhooks.serve(store.config, lambda: open_store(store.config, store.path), f"{HOST}:{port}")
    yield port
    srv.stop()


def raw_http(port, data: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    return b"".join(chunks)


def test_http_oversized_unsized_and_chunked_bodies_are_refused_unread(store, server):
    sent_checkin(store)
    before = snapshot_tables(store.path)
    big = b"{" + b" " * webhooks.MAX_BODY + b"}"
    assert request(server, "POST", f"/sms/cm/inbound?token={HOOK}", big, {"Content-Type": "application/json"})[0] == 413
    head = f"POST /sms/cm/inbound?token={HOOK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode()
    assert raw_http(server, head + b"Content-Length: 99999999\r\n\r\n").startswith(b"HTTP/1.1 413")
    assert raw_http(server, head + b"\r\n").startswith(b"HTTP/1.1 411")
    assert raw_http(server, head + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n").startswith(b"HTTP/1.1 411")
    assert request(server, "PUT", "/sms/cm/inbound", b"{}")[0] == 405
    assert snapshot_tables(store.path) == before


def test_http_a_real_reply_is_recorded(store, server):
    sent_checkin(store)
    status = request(server, "POST", f"/sms/cm/inbound?token={HOOK}", *js(INBOUND["cm"][1]))[0]
    assert status == 200
    assert store.db.execute("SELECT outcome FROM replies").fetchall() == [("observation",)]


# --- links ----------------------------------------------------------------------------------

def email_checkin(store, now=None):
    now = now or datetime.now(timezone.utc)
    checkins.round_now(store, ADMIN, "client_number = K00002", now=now)
    body = store.db.execute("SELECT body FROM messages WHERE client_id = 2").fetchone()[0]
    return [ln.split(": ", 1)[1] for ln in body.splitlines() if "/a/" in ln]


def test_one_tap_answer_records_and_thanks_in_the_clients_language(store):
    urls = email_checkin(store)
    assert len(urls) == 5 and urls[3].endswith("/4")
    ep = endpoint(store)
    r = ep.handle("GET", urls[3].split("8425", 1)[1], {}, b"")  # shows the answer with a button
    assert r.status == 200 and "Verstuur" in r.body.decode()
    r = ep.handle("POST", urls[3].split("8425", 1)[1], {}, b"")
    assert r.status == 200 and "Dank je wel" in r.body.decode()
    assert {p.key: p.value for p in clients.profile(store, 2)}["wellbeing"] == 4
    assert store.db.execute("SELECT kind FROM clicks").fetchall() == [("answer",)]
    # the answer is recorded once: a second tap changes nothing (tests/test_answer_links.py)
    assert ep.handle("POST", urls[1].split("8425", 1)[1], {}, b"").status == 200
    assert {p.key: p.value for p in clients.profile(store, 2)}["wellbeing"] == 4


def test_forged_expired_and_nonsense_answer_links_write_nothing(store):
    urls = email_checkin(store)
    path = urls[0].split("8425", 1)[1]
    signed = path.split("/")[2]
    ep = endpoint(store)
    before = snapshot_tables(store.path)
    kid, pos, expires = links._unb64(signed.split(".")[0]).decode()[1:].split(".")
    other = links._b64(f"q{int(kid) + 1}.{pos}.{expires}".encode())
    assert ep.handle("GET", f"/a/{other}.{signed.split('.')[1]}/1", {}, b"").status == 404
    assert ep.handle("GET", path[:-1] + "9", {}, b"").status == 404  # out of the scale
    assert ep.handle("HEAD", path, {}, b"").status == 200  # a link scanner's HEAD records nothing
    assert ep.handle("GET", path, {}, b"").status == 200  # nor does its GET
    assert ep.handle("POST", path[:-1] + "9", {}, b"").status == 404
    expired = links.answer_token(ep.key, int(kid), 0, datetime.now(timezone.utc) - timedelta(days=1))
    assert ep.handle("GET", f"/a/{expired}/3", {}, b"").status == 410
    assert snapshot_tables(store.path) == before


def test_tracked_link_redirects_only_where_we_sent_and_counts_as_activity(store):
    q = outbox.enqueue(store, 1, "sms", "Kijk op https://werk.example/vacature?id=1", kind="campaign", occurrence="x")
    ep = endpoint(store)
    url = links.tracked_url(ep.key, store.config.daemon.public_url, q.token, "https://werk.example/vacature?id=1")
    r = ep.handle("GET", url.split("8425", 1)[1], {}, b"")
    assert r.status == 302 and r.headers["Location"] == "https://werk.example/vacature?id=1"
    assert store.db.execute("SELECT kind FROM clicks").fetchall() == [("link",)]
    assert store.db.execute("SELECT last_activity IS NOT NULL, last_reply FROM clients WHERE id = 1").fetchone() == (1, None)
    forged = url.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    assert ep.handle("GET", forged.split("8425", 1)[1], {}, b"").status == 404
    body = links.track_links(ep.key, "https://x.example", q.token, "a https://a.example/b c")
    assert body.startswith("a https://x.example/l/") and body.endswith(" c")


def test_one_click_unsubscribe_needs_a_post(store):
    q = outbox.enqueue(store, 2, "email", "Nieuws", subject="Nieuws", kind="campaign", occurrence="n")
    ep = endpoint(store)
    page = ep.handle("GET", f"/unsubscribe/{q.token}", {}, b"")
    assert page.status == 200 and b'method="post"' in page.body
    assert store.db.execute("SELECT COUNT(*) FROM opt_outs").fetchone() == (0,)
    assert ep.handle("POST", f"/unsubscribe/{q.token}", {"Content-Type": "application/x-www-form-urlencoded"},
                     b"List-Unsubscribe=One-Click").status == 200
    assert store.db.execute("SELECT channel, source FROM opt_outs").fetchall() == [("email", "link")]
    assert store.db.execute("SELECT status, reason FROM messages WHERE id = ?", [q.id]).fetchone() == ("cancelled", "opt_out")
    assert ep.handle("POST", "/unsubscribe/" + "0" * 24, {}, b"").status == 404
