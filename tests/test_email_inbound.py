"""Email coming back, without servers: every form a reply comes in gives the client's new text
only (no quotes, signatures or links, also from HTML-only mail); auto-replies and bounces are
told apart from replies; a bounce fails its message and marks the address bad until it changes;
text beyond an answer becomes a note; a second answer corrects the first. Against real Dovecot and
Postfix: test_mail_servers.py."""

from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, checkins, clients, outbox, replies
from caseload.channels import BOUNCED, UNREACHABLE, email_inbound
from caseload.clock import iso
from caseload.config import load_config
from mailforms import AUTO_HEADERS, FORMS, auto_reply, dsn, undecodable
from servers import add_clients, make_store, refused_port

ADMIN = access.Actor("admin", "admin")
NOW = datetime(2025, 6, 16, 14, 0, tzinfo=timezone.utc)
TOKEN = "0123456789abcdef01234567"
ORIGINAL = (
    "Hoi Voornaam2,\n\n1. Hoe gaat het met je? Antwoord 1 (heel slecht) tot 5 (heel goed)\n"
    + "".join(f"   {i} - {w}: https://caseload.testdorp.example/a/c2Vjcm{i}/{i}\n"
              for i, w in enumerate(["heel slecht", "slecht", "gaat wel", "goed", "heel goed"], 1))
    + "\nTik op een antwoord, of beantwoord deze e-mail met één antwoord per regel.\nGeen e-mails meer? Antwoord STOP.\n")
SAID = "Slecht. Ik heb geen geld voor de bus en mijn knie doet pijn (één keer per week fysio)."


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_of_reply_gives_only_the_new_text(form):
    raw = FORMS[form](f"reply+{TOKEN}@testdorp.example", ORIGINAL, None, SAID)
    mail = email_inbound.read(raw)
    assert mail.kind == "reply" and mail.address == ("reply", TOKEN)
    assert mail.text == SAID
    assert mail.mail_id.startswith("<reply-")


@pytest.mark.parametrize("text, kept", [
    ("4\n\n-- \nJan", "4"),
    ("Goed\nGroeten,\nJan", "Goed"),
    ("ja\nnee\n\nSent from my iPhone", "ja\nnee"),
    ("> 1. Hoe gaat het?\n4\n> 2. Kinderopvang geregeld?\nja", "4\nja"),  # answered between the quoted lines
    ("Zie https://example.org/x en <https://example.org/y>", "Zie  en"),
    ("On Mon, Jun 16, 2025 at 2:00 PM Werkplein <noreply@testdorp.example> wrote:\n> 4", ""),
    ("3\n-----Original Message-----\nFrom: Werkplein\n5", "3"),
    ("2\n\nBegin forwarded message:\n\n5", "2"),
])
def test_new_text_of_plain_replies(text, kept):
    assert email_inbound.new_text(text) == kept


def test_html_without_quotes_signatures_and_links():
    html = ('<html><head><title>x</title><style>.a{}</style></head><body><div>Gaat wel&nbsp;hoor,<br>'
            'mijn\nknie</div><div class="gmail_signature">Jan</div><p>zie <a href="https://x.example">deze link</a>'
            '</p><blockquote type="cite">4</blockquote></body></html>')
    assert email_inbound.html_text(html) == "Gaat wel hoor,\nmijn knie\nzie"


def test_an_undecodable_mail_is_bad_mail_without_its_content_in_the_reason():
    with pytest.raises(email_inbound.BadMail) as e:
        email_inbound.read(undecodable(f"reply+{TOKEN}@testdorp.example"))
    assert "4" not in str(e.value) and "LookupError" in str(e.value)


@pytest.mark.parametrize("header", AUTO_HEADERS + [("Precedence", "bulk"), ("Auto-Submitted", "auto-generated")])
def test_auto_replies_are_recognised(header):
    mail = email_inbound.read(auto_reply(f"reply+{TOKEN}@testdorp.example", header))
    assert mail.kind == "auto_reply" and mail.address == ("reply", TOKEN) and mail.text == ""


def test_auto_submitted_no_is_a_reply():
    mail = email_inbound.read(auto_reply(f"reply+{TOKEN}@testdorp.example", ("Auto-Submitted", "no")))
    assert mail.kind == "reply"


def test_a_dsn_names_its_message_by_the_bounce_address_or_the_returned_message_id():
    mail = email_inbound.read(dsn(f"bounce+{TOKEN}@testdorp.example", "<other.1@x>"))
    assert (mail.kind, mail.address, mail.failed, mail.status) == ("bounce", ("bounce", TOKEN), True, "5.1.1")
    # a relay that rewrote the envelope sender: our Message-ID in the returned headers
    mail = email_inbound.read(dsn("noreply@testdorp.example", f"<{TOKEN}.7@testdorp.example>"))
    assert mail.address == ("bounce", TOKEN) and mail.failed
    mail = email_inbound.read(dsn("noreply@testdorp.example", f"<{TOKEN}.7@testdorp.example>",
                                  headers_part="message/rfc822"))
    assert mail.address == ("bounce", TOKEN)
    delayed = email_inbound.read(dsn(f"bounce+{TOKEN}@testdorp.example", "<x@y>", action="delayed", status="4.4.1"))
    assert delayed.kind == "bounce" and not delayed.failed


def test_a_reply_to_the_sender_address_is_matched_by_in_reply_to():
    from mailforms import _base

    msg = _base("noreply@testdorp.example", in_reply_to=f"<{TOKEN}.12@testdorp.example>")
    msg.set_content("4\n")
    assert email_inbound.read(msg.as_bytes()).address == ("reply", TOKEN)


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_the_mailbox_classes_exist_in_the_pinned_imap_tools(tmp_path, security):
    """imap-tools 1.11 renamed MailBoxTls, and every tick failed with ImportError; now it gets
    as far as connecting (nothing listens there)."""
    (tmp_path / "config.toml").write_text(f'[imap]\nhost = "127.0.0.1"\nsecurity = "{security}"\n'
                                          f"port = {refused_port()}\n")
    (tmp_path / "config.toml").chmod(0o600)
    with pytest.raises(ConnectionRefusedError):
        email_inbound.mailbox(load_config(tmp_path / "config.toml"))


# --- recording ------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "hook")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    s = make_store(tmp_path)
    add_clients(s, 2, preferred_channel="email")
    yield s
    s.close()


def checkin_token(store, number="K00001") -> str:
    checkins.round_now(store, ADMIN, f"client_number = {number}", now=NOW - timedelta(hours=2))
    store.db.execute("UPDATE messages SET status = 'sent', sent_at = ? WHERE status = 'queued'",
                     [iso(NOW - timedelta(hours=1))])
    store.db.conn.commit()
    return store.db.execute("SELECT m.token FROM messages m JOIN clients c ON c.id = m.client_id"
                            " WHERE c.client_number = ? ORDER BY m.id DESC", [number]).fetchone()[0]


def wellbeing(store, cid=1):
    return {p.key: p.value for p in clients.profile(store, cid)}.get("wellbeing")


def notes(store):
    return [r[0] for r in store.db.execute("SELECT text FROM notes ORDER BY id")]


def test_text_beyond_the_answer_reaches_the_coach_as_a_note(store):
    token = checkin_token(store)
    raw = FORMS["quoted"](f"reply+{token}@testdorp.example", ORIGINAL, None, SAID)
    assert replies.handle_email(store, raw, NOW).outcome == "observation"
    assert wellbeing(store) == 2
    assert notes(store) == [SAID]


def test_a_bare_answer_leaves_no_note(store):
    token = checkin_token(store)
    raw = FORMS["signature"](f"reply+{token}@testdorp.example", ORIGINAL, None, "Het gaat wel goed met me")
    assert replies.handle_email(store, raw, NOW).outcome == "observation"
    assert wellbeing(store) == 4 and notes(store) == []


def test_html_only_reply_is_an_answer_not_a_note_with_links(store):
    token = checkin_token(store)
    raw = FORMS["html-only gmail"](f"reply+{token}@testdorp.example", ORIGINAL, None, "4")
    assert replies.handle_email(store, raw, NOW).outcome == "observation"
    assert wellbeing(store) == 4 and notes(store) == []


def test_a_second_answer_corrects_the_first(store):
    token = checkin_token(store)
    to = f"reply+{token}@testdorp.example"
    assert replies.handle_email(store, FORMS["plain"](to, ORIGINAL, None, "4", n=1), NOW).outcome == "observation"
    later = NOW + timedelta(minutes=10)
    assert replies.handle_email(store, FORMS["plain"](to, ORIGINAL, None, "2", n=2), later).outcome == "observation"
    assert wellbeing(store) == 2 and notes(store) == []


def test_an_auto_reply_is_no_activity_and_leaves_the_question_open(store):
    token = checkin_token(store)
    before = store.db.execute("SELECT last_reply, last_activity FROM clients WHERE id = 1").fetchone()
    r = replies.handle_email(store, auto_reply(f"reply+{token}@testdorp.example"), NOW)
    assert r.outcome == "auto_reply"
    assert store.db.execute("SELECT last_reply, last_activity FROM clients WHERE id = 1").fetchone() == before
    assert notes(store) == [] and wellbeing(store) is None
    assert store.db.execute("SELECT outcome, text FROM replies").fetchall() == [("auto_reply", None)]
    assert store.db.execute("SELECT status FROM checkin_questions").fetchone()[0] in ("queued", "asked")


def test_an_automatic_mail_to_the_unsubscribe_address_still_opts_out(store):
    token = checkin_token(store)
    r = replies.handle_email(store, auto_reply(f"unsubscribe+{token}@testdorp.example", ("Auto-Submitted", "auto-generated")),
                             NOW)
    assert r.outcome == "stop"
    assert store.db.execute("SELECT client_id, channel FROM opt_outs").fetchall() == [(1, "email")]


def test_a_bounce_fails_its_message_and_marks_the_address_bad_until_it_changes(store):
    token = checkin_token(store)
    mid = store.db.execute("SELECT id FROM messages WHERE token = ?", [token]).fetchone()[0]
    r = replies.handle_email(store, dsn(f"bounce+{token}@testdorp.example", "<x@y>"), NOW)
    assert r.outcome == "bounce"
    assert store.db.execute("SELECT status, reason FROM messages WHERE id = ?", [mid]).fetchone() == ("failed", BOUNCED)
    assert BOUNCED in UNREACHABLE
    assert store.db.execute("SELECT client_id, channel, status FROM bad_addresses").fetchall() == [(1, "email", "5.1.1")]
    assert store.db.execute("SELECT last_reply FROM clients WHERE id = 1").fetchone() == (None,)
    # the next email to that address fails at once with the same reason; an SMS and other clients go on
    mail = outbox.enqueue(store, 1, "email", "Nieuws", subject="Nieuws", kind="campaign", occurrence="n1", now=NOW)
    sms = outbox.enqueue(store, 1, "sms", "Nieuws", kind="campaign", occurrence="n2", now=NOW)
    other = outbox.enqueue(store, 2, "email", "Nieuws", subject="Nieuws", kind="campaign", occurrence="n3", now=NOW)
    sent = []

    class Channel:
        def __init__(self, name):
            self.name = name

        def connect(self):
            return None

        def send(self, out, ready=None, upcoming=None):
            if ready is not None and not ready()():
                return None
            sent.append(out.id)
            from caseload.channels import SENT, Outcome
            return Outcome(SENT)

        def close(self):
            pass

    report = outbox.send_due(store, now=NOW, channels={"email": Channel("email"), "sms": Channel("sms")})
    assert sorted(sent) == sorted([sms.id, other.id]) and report.reasons == {BOUNCED: 1}
    assert store.db.execute("SELECT status, reason FROM messages WHERE id = ?", [mail.id]).fetchone() == \
        ("failed", BOUNCED)
    # a new address forgets the mark
    store.db.execute("UPDATE clients SET email = 'nieuw@testdorp.example' WHERE id = 1")
    store.db.conn.commit()
    assert store.db.execute("SELECT COUNT(*) FROM bad_addresses").fetchone() == (0,)


def test_a_delay_report_changes_nothing(store):
    token = checkin_token(store)
    raw = dsn(f"bounce+{token}@testdorp.example", "<x@y>", action="delayed", status="4.4.1")
    assert replies.handle_email(store, raw, NOW).outcome == "delivery_notice"
    assert store.db.execute("SELECT status FROM messages WHERE token = ?", [token]).fetchone() == ("sent",)
    assert store.db.execute("SELECT COUNT(*) FROM bad_addresses").fetchone() == (0,)


def test_sms_text_beyond_the_answer_is_a_note_too(store):
    store.db.execute("UPDATE clients SET phone = '+31612345678', preferred_channel = 'sms' WHERE id = 1")
    store.db.conn.commit()
    checkins.round_now(store, ADMIN, "client_number = K00001", now=NOW - timedelta(hours=2))
    store.db.execute("UPDATE messages SET status = 'sent', sent_at = ? WHERE status = 'queued'", [iso(NOW)])
    store.db.conn.commit()
    r = replies.handle_sms(store, replies.Inbound("cm", "p1", "+31612345678", "Slecht. Mijn knie doet pijn en ik heb geen geld"), NOW)
    assert r.outcome == "observation" and wellbeing(store) == 2
    assert notes(store) == ["Slecht. Mijn knie doet pijn en ik heb geen geld"]
