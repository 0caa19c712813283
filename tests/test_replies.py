"""Replies: digits, words and emoji parsed into typed values (property tests over random text),
STOP/START per channel with a confirmation, anything not understood kept as a note on the
attention list, unknown senders leave nothing behind, email replies matched by the Reply-To token
(real email bytes; the forms of email replies, and IMAP against Dovecot, are in test_email_inbound.py
and test_mail_servers.py)."""

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
from hypothesis import given, settings, strategies as st

from caseload import access, checkins, clients, outbox, replies
from caseload.catalog import load_catalog
from caseload.config import load_config
from caseload.clock import iso
from caseload.reports import attention
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
CATALOG = load_catalog(load_config(None))
NOW = datetime(2025, 6, 16, 10, 0, tzinfo=timezone.utc)
PHONE = "+31612345678"


@pytest.mark.parametrize("text, value", [
    ("4", 4), (" 4! ", 4), ("een 4", 4), ("ik geef het een 3", 3), ("4/5", 4), ("2 van 5", 2), ("vier", 4),
    ("goed", 4), ("Goed!", 4), ("heel goed", 5), ("slecht", 2), ("heel slecht", 1), ("gaat wel", 3),
    ("prima", 4), ("super", 5), ("😀", 5), ("🙂", 4), ("😐", 3), ("😞", 2), ("😭", 1), ("👍🏽", 4),
    ("😀😀", 5), ("6", None), ("0", None), ("3 of 4", None), ("4,5", None), ("ja", None), ("😀😭", None),
    ("", None), ("   ", None), ("wat bedoel je?", None), ("goed en slecht", None),
])
def test_wellbeing_from_digits_words_and_emoji(text, value):
    assert replies.parse_answer(CATALOG["wellbeing"], text) == value


@pytest.mark.parametrize("text, value", [
    ("ja", True), ("Ja!", True), ("yes", True), ("j", True), ("👍", True), ("ja hoor", True), ("klopt", True),
    ("nee", False), ("Nee.", False), ("no", False), ("👎", False), ("nee hoor", False), ("niet", False),
    ("misschien", None), ("ja en nee", None), ("4", None),
])
def test_yes_no(text, value):
    assert replies.parse_answer(CATALOG["childcare_arranged"], text) == value


def test_other_types():
    hours = CATALOG["available_hours"] if "available_hours" in CATALOG else next(
        c for c in CATALOG if c.type == "number" and c.question)
    assert replies.parse_answer(hours, "ongeveer 24 uur") == 24
    assert replies.parse_answer(hours, "24 of 32") is None
    enum = next(c for c in CATALOG if c.type == "enum" and c.question)
    label = next(iter(enum.value_labels[enum.values[0]].values()))
    assert replies.parse_answer(enum, label.upper()) == enum.values[0]
    text = next(c for c in CATALOG if c.type == "text" and c.question)
    assert replies.parse_answer(text, "  Koken   en fietsen ") is None  # free text stays a note
    date_c = next(c for c in CATALOG if c.type == "date")
    assert replies.parse_answer(date_c, "01-03-2022") == "2022-03-01"


@pytest.mark.parametrize("text, cmd", [
    ("STOP", "stop"), ("stop", "stop"), ("Stoppen.", "stop"), ("AFMELDEN", "stop"), (" stop! ", "stop"),
    ("START", "start"), ("Aanmelden", "start"), ("ik wil niet stoppen", None), ("stop met sturen", None), ("4", None),
])
def test_commands_are_the_whole_reply(text, cmd):
    assert replies.command(text) == cmd


ASKABLE = [c for c in CATALOG if c.question]


@settings(max_examples=400, deadline=None)
@given(c=st.sampled_from(ASKABLE), text=st.text(max_size=60))
def test_property_parse_never_raises_and_returns_valid_values(c, text):
    value = replies.parse_answer(c, text)
    if value is not None:
        assert c.check(value) == value


@settings(max_examples=200, deadline=None)
@given(c=st.sampled_from([c for c in ASKABLE if c.type == "scale"]), data=st.data())
def test_property_a_digit_in_range_is_that_value_whatever_surrounds_it(c, data):
    v = data.draw(st.integers(int(c.min), int(c.max)))
    before = data.draw(st.sampled_from(["", " ", "een ", "ik denk ", "cijfer: "]))
    after = data.draw(st.sampled_from(["", "!", ".", " denk ik", " 🙂"]))
    assert replies.parse_answer(c, f"{before}{v}{after}") == v


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_property_each_providers_inbound_reading_raises_only_unusable(text):
    import json

    from caseload.channels import sms
    from caseload.config import Config

    for provider in sms.names():
        p = sms.provider_class(provider)(Config())
        for fields in ({"from": text, "body": text}, {"From": text, "Body": text, "MessageSid": text},
                       {"originator": text, "body": text, "id": text}, {"from": {"number": text}, "message": {"text": text}},
                       {"sender": {"contact": {"identifierValue": text}}, "body": {"type": "text", "text": {"text": text}}}):
            hook = sms.Webhook("POST", "https://x.example/", {}, {"Content-Type": "application/json"},
                               json.dumps(fields).encode())
            try:
                msg = p.inbound(hook)
            except sms.Unusable:
                continue
            assert msg.number.startswith("+") and msg.number[1:].isdigit() and msg.provider_id


# --- recording ------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "hook")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    s = make_store(tmp_path)
    add_clients(s, 1, phone=PHONE, preferred_channel="sms", language="en")
    add_clients(s, 1, start=2, preferred_channel="email")
    yield s
    s.close()


def send_all(store, now=NOW):
    store.db.execute("UPDATE messages SET status = 'sent', sent_at = ? WHERE status = 'queued'", [iso(now)])
    store.db.conn.commit()


def sms(text, pid="p1", number=PHONE, reference=None):
    from caseload.channels.sms import Inbound

    return Inbound("cm", pid, number, text, reference)


def test_stop_opts_out_that_channel_at_once_cancels_and_confirms(store):
    checkins.round_now(store, ADMIN, "status = active", now=NOW)
    q = outbox.enqueue(store, 1, "sms", "later", kind="campaign", occurrence="later", due_at=NOW + timedelta(days=1))
    e = outbox.enqueue(store, 1, "email", "mail", subject="s", kind="campaign", occurrence="mail")
    r = replies.handle_sms(store, sms("STOP"), NOW)
    assert r.outcome == "stop"
    assert store.db.execute("SELECT channel, source FROM opt_outs").fetchall() == [("sms", "reply")]
    assert store.db.execute("SELECT status FROM messages WHERE id = ?", [q.id]).fetchone() == ("cancelled",)
    assert store.db.execute("SELECT status FROM messages WHERE id = ?", [e.id]).fetchone() == ("queued",)  # email goes on
    confirm = store.db.execute("SELECT kind, channel, body, status FROM messages ORDER BY id DESC LIMIT 1").fetchone()
    assert confirm[:2] == ("system", "sms") and "START" in confirm[2] and confirm[3] == "queued"
    assert "no more text messages" in confirm[2]  # in the client's language (en)
    assert replies.handle_sms(store, sms("STOP"), NOW).outcome == "duplicate"  # the provider retried
    assert replies.handle_sms(store, sms("start", "p2"), NOW).outcome == "start"
    assert store.db.execute("SELECT COUNT(*) FROM opt_outs").fetchone() == (0,)


def test_not_understood_is_kept_as_a_note_and_on_the_attention_list(store):
    checkins.round_now(store, ADMIN, "client_number = K00001", now=NOW)
    send_all(store)
    r = replies.handle_sms(store, sms("ik heb morgen een gesprek, kunnen we bellen?"), NOW)
    assert r.outcome == "note"
    note = store.db.execute("SELECT text, source FROM notes").fetchall()
    assert note == [("ik heb morgen een gesprek, kunnen we bellen?", "reply")]
    assert store.db.execute("SELECT status FROM checkin_questions").fetchone() == ("queued",)  # still open
    rows = attention.attention_list(store, ADMIN, now=NOW + timedelta(hours=1))
    urgent = [x for r_ in rows for x in r_["reasons"] if x["signal"] == "urgent_message"]
    assert len(urgent) == 1 and urgent[0]["detail"].startswith("bellen: ")  # the urgency word, then the text


def test_a_reply_answers_the_question_and_the_next_follows(store):
    clients.set_characteristics(store, ADMIN, "K00001", {"childcare_arranged": "nee"}, observed_at="2024-01-01T00:00:00Z")
    checkins.round_now(store, ADMIN, "client_number = K00001", now=NOW)
    send_all(store)
    assert replies.handle_sms(store, sms("heel goed"), NOW).outcome == "observation"
    nxt = store.db.execute("SELECT body, status FROM messages ORDER BY id DESC LIMIT 1").fetchone()
    assert "childcare" in nxt[0] and nxt[1] == "queued"
    send_all(store, NOW + timedelta(minutes=5))
    assert replies.handle_sms(store, sms("ja", "p2"), NOW + timedelta(minutes=6)).outcome == "observation"
    profile = {p.key: p.value for p in clients.profile(store, 1)}
    assert profile["wellbeing"] == 5 and profile["childcare_arranged"] is True
    assert store.db.execute("SELECT status FROM checkins").fetchone() == ("answered",)


def test_unknown_sender_leaves_neither_number_nor_text(store):
    r = replies.handle_sms(store, sms("STOP", number="+31687654321"), NOW)
    assert r.outcome == "unknown_sender"
    assert store.db.execute("SELECT client_id, text, outcome FROM replies").fetchall() == [(None, None, "unknown_sender")]
    assert store.db.execute("SELECT COUNT(*) FROM opt_outs").fetchone() == (0,)


def reply_email(to: str, text: str, quoted: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Klant <klant2@testdorp.example>"
    msg["To"] = to
    msg["Subject"] = "Re: Hoe gaat het met je?"
    msg["Message-ID"] = "<reply-1@mail.example>"
    msg.set_content(text + ("\n\nOp ma 16 jun 2025 om 12:00 schreef Werkplein <noreply@testdorp.example>:\n" + quoted
                            if quoted else ""))
    return msg.as_bytes()


def test_email_reply_is_matched_by_its_reply_to_token(store):
    checkins.round_now(store, ADMIN, "client_number = K00002", now=NOW)
    send_all(store)
    token = store.db.execute("SELECT token FROM messages WHERE client_id = 2").fetchone()[0]
    raw = reply_email(f"reply+{token}@testdorp.example", "3", quoted="> 1. Hoe gaat het met je?\n> 4")
    assert replies.handle_email(store, raw, NOW).outcome == "observation"
    assert {p.key: p.value for p in clients.profile(store, 2)}["wellbeing"] == 3
    assert store.db.execute("SELECT COUNT(*) FROM notes").fetchone() == (0,)  # the quoted mail is not a note
    assert replies.handle_email(store, raw, NOW).outcome == "duplicate"
    other = reply_email("someone@testdorp.example", "4")
    assert replies.handle_email(store, other, NOW).outcome == "unknown_sender"


def test_email_to_the_unsubscribe_address_opts_out_of_email(store):
    q = outbox.enqueue(store, 2, "email", "Nieuws", subject="Nieuws", kind="campaign", occurrence="n")
    raw = reply_email(f"unsubscribe+{q.token}@testdorp.example", "")
    assert replies.handle_email(store, raw, NOW).outcome == "stop"
    assert store.db.execute("SELECT channel FROM opt_outs WHERE client_id = 2").fetchall() == [("email",)]


def test_reply_text_drops_quotes():
    raw = reply_email("x@y", "Goed!\n\n> oud", quoted="> vorige")
    import email
    import email.policy

    from caseload.channels import email_inbound

    assert email_inbound.reply_text(email.message_from_bytes(raw, policy=email.policy.default)) == "Goed!"
