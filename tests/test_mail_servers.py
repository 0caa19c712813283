"""Email against real servers (tests/mailservers.py): Postfix 3.7 with STARTTLS and SMTP AUTH
through Dovecot SASL, Dovecot 2.3 over IMAPS, both with a certificate from a test CA that caseload
trusts through `ca_file` only (no SSL_CERT_FILE).

- a campaign goes through Postfix into a Maildir and every message parses without defects, with
  its bounce address, Date in +0000, List-Id and tracked links; a non-ASCII address goes by
  SMTPUTF8; an address Postfix bounces comes back as a DSN to the bounce address, is read through
  Dovecot and fails its message and marks the address bad;
- replies to a check-in, in every form (plain, quoted, Outlook, forwarded, ISO-8859-1, HTML-only,
  with a signature) reach the profile through Dovecot; a bad mail is set aside (flagged) without
  holding up the rest; an auto-reply is no activity;
- a certificate caseload does not trust stops both SMTP and IMAP.

Skipped where the servers cannot run (not root, not installed), except under CI. The servers
start once for the module, on one xdist worker."""

import logging
import ssl

import pytest

from caseload import access, checkins, clients, outbox, replies, templates
from caseload.channels import BOUNCED, NO_SMTPUTF8, UNREACHABLE
from mailforms import FORMS, auto_reply, undecodable
from mailservers import (CLIENTS, GONE, IMAP_PASSWORD, IMAP_USER, REPLY, SMTP_PASSWORD, SMTP_USER, MailServers,
                         parse, require)
from servers import SmtpSink, add_clients, make_store

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mail_servers")]
ADMIN = access.Actor("admin", "admin")


@pytest.fixture(scope="module")
def servers():
    require()
    s = MailServers().start()
    yield s
    s.stop()


@pytest.fixture
def store(tmp_path, servers, monkeypatch):
    monkeypatch.setenv("CASELOAD_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("CASELOAD_IMAP_PASSWORD", IMAP_PASSWORD)
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "hook-secret")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    s = make_store(tmp_path, servers.smtp_port,
                   email={"security": "starttls", "username": SMTP_USER, "ca_file": str(servers.ca_file),
                          "sender": "Werkplein Testdorp <noreply@testdorp.example>", "reply_domain": REPLY},
                   imap={"host": "127.0.0.1", "port": servers.imaps_port, "security": "ssl", "username": IMAP_USER,
                         "ca_file": str(servers.ca_file)},
                   daemon={"public_url": "https://caseload.testdorp.example"})
    yield s
    s.close()


def no_defects(msg, allowed=()) -> list:
    """Every defect of a message and its parts (and of its headers), except the allowed kinds."""
    found = []
    for part in msg.walk():
        found += part.defects
        for value in part.values():
            found += getattr(value, "defects", ())
    return [d for d in found if not isinstance(d, allowed)]


def test_a_campaign_through_postfix_lands_in_a_maildir_without_defects_and_a_bounce_comes_back(store, servers):
    from email.errors import NonASCIILocalPartDefect

    start, before = len(servers.maildir("clients")), len(servers.maildir(IMAP_USER))
    ids = add_clients(store, 3)
    store.db.execute(f"UPDATE clients SET email = 'klant' || id || '@{CLIENTS}'")
    store.db.execute(f"UPDATE clients SET email = 'jöran.dijkstra@{CLIENTS}' WHERE id = ?", [ids[1]])
    store.db.execute(f"UPDATE clients SET email = 'weg@{GONE}' WHERE id = ?", [ids[2]])
    store.db.conn.commit()
    templates.add_template(store, ADMIN, "vacatures", "email",
                           "Dag {{ first_name }},\n\nNieuwe vacatures: https://werk.testdorp.example/vacatures\n",
                           subject="Vacatures voor jou", html="<p>Dag {{ first_name }}, zie "
                           '<a href="https://werk.testdorp.example/vacatures">de vacatures</a>.</p>')
    plan = outbox.plan_queue(store, ADMIN, "status = active", "vacatures", channel="email")
    outbox.commit_queue(store, ADMIN, plan)
    report = outbox.send_due(store)
    assert report.sent == 3 and report.ok, report.as_dict()
    arrived = servers.wait_maildir("clients", start + 2)[start:]
    assert len(arrived) == 2
    tokens = dict(store.db.execute("SELECT client_id, token FROM messages"))
    by_to = {}
    for raw in arrived:
        utf8 = b"j\xc3\xb6ran" in raw
        # RFC 6532 puts the UTF-8 address in the To header; Python's RFC 5322 parser flags exactly that
        msg = parse(raw.decode("utf-8")) if utf8 else parse(raw)
        assert no_defects(msg, (NonASCIILocalPartDefect,) if utf8 else ()) == []
        to = msg["To"].addresses[0].addr_spec
        by_to[to] = msg
        cid = ids[0] if to == f"klant{ids[0]}@{CLIENTS}" else ids[1]
        assert msg["Return-Path"] == f"<bounce+{tokens[cid]}@{REPLY}>"
        assert msg["Date"].endswith("+0000") and msg["List-Id"] == "<caseload.testdorp.example>"
        text, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
        assert "werk.testdorp.example" not in text + html  # the link is tracked in both parts
        assert text.count("https://caseload.testdorp.example/l/") == 1 and "caseload.testdorp.example/l/" in html
    assert set(by_to) == {f"klant{ids[0]}@{CLIENTS}", f"jöran.dijkstra@{CLIENTS}"}
    log = (servers.postfix_dir / "maillog").read_text(errors="replace")
    assert "starttls=1 auth=1" in log and f"sasl_username={SMTP_USER}" in log

    # Postfix bounces weg@gone.example to its bounce address: read through Dovecot
    servers.wait_maildir(IMAP_USER, before + 1)
    counts = replies.fetch_imap(store)
    assert counts.get("bounce") == 1, counts
    assert store.db.execute("SELECT status, reason FROM messages WHERE client_id = ?", [ids[2]]).fetchone() == \
        ("failed", BOUNCED)
    assert store.db.execute("SELECT client_id, status FROM bad_addresses").fetchall() == [(ids[2], "5.1.1")]
    assert store.db.execute("SELECT last_reply FROM clients WHERE id = ?", [ids[2]]).fetchone() == (None,)


def test_a_non_ascii_address_fails_clearly_where_the_relay_lacks_smtputf8(tmp_path):
    """A relay without SMTPUTF8 (Postfix has it: above): a clear failure for that address only, with a
    reason that says another channel may reach the client; the client can still get an SMS."""
    with SmtpSink(smtputf8=False) as sink:
        _no_smtputf8(tmp_path, sink)


def _no_smtputf8(tmp_path, smtp_sink):
    s = make_store(tmp_path, smtp_sink.port)
    (cid,) = add_clients(s, 1, email="jöran@testdorp.example")
    add_clients(s, 1, start=2, email="jan@tëstdorp.example")  # a non-ASCII domain alone goes as IDNA
    for c in (cid, cid + 1):
        outbox.enqueue(s, c, "email", "Hoi", subject="Hoi", kind="campaign", occurrence="x")
    sms = outbox.enqueue(s, cid, "sms", "Hoi", kind="campaign", occurrence="y")
    report = outbox.send_due(s, channels={"sms": _Sent()})
    assert store_reason(s, cid, "email") == ("failed", NO_SMTPUTF8)
    assert store_reason(s, cid + 1, "email") == ("sent", None)
    assert [r.rcpt_tos for r in smtp_sink.messages()] == [["jan@" + "tëstdorp.example".encode("idna").decode()]]
    assert s.db.execute("SELECT status FROM messages WHERE id = ?", [sms.id]).fetchone() == ("sent",)
    assert report.reasons == {NO_SMTPUTF8: 1} and NO_SMTPUTF8 in UNREACHABLE
    s.close()


class _Sent:
    def connect(self):
        return None

    def send(self, out, ready=None, upcoming=None):
        from caseload.channels import SENT, Outcome

        return Outcome(SENT) if ready is None or ready()() else None

    def close(self):
        pass


def store_reason(s, cid, channel):
    return s.db.execute("SELECT status, reason FROM messages WHERE client_id = ? AND channel = ?",
                        [cid, channel]).fetchone()


ANSWERS = {  # form -> (what the client typed, the wellbeing it gives)
    "plain": ("4", 4), "quoted": ("2", 2), "outlook": ("heel goed", 5), "forwarded": ("3", 3),
    "iso-8859-1": ("Slecht. Ik heb geen geld voor de bus en mijn knie doet pijn, één keer per week.", 2),
    "html-only gmail": ("5", 5), "html-only outlook": ("1", 1), "signature": ("goed", 4), "dash signature": ("3", 3),
}


def test_replies_in_every_form_reach_the_profile_through_dovecot(store, servers, caplog):
    from imap_tools import AND, MailBox

    assert set(ANSWERS) == set(FORMS)
    start = len(servers.maildir("clients"))
    ids = add_clients(store, len(FORMS) + 1, start=101)
    store.db.execute(f"UPDATE clients SET email = 'klant' || id || '@{CLIENTS}'")
    store.db.conn.commit()
    checkins.round_now(store, ADMIN, "status = active", channel="email")
    assert outbox.send_due(store).sent == len(ids)
    received = {}
    for raw in servers.wait_maildir("clients", start + len(ids))[start:]:
        msg = parse(raw)
        received[msg["To"].addresses[0].addr_spec] = msg
    tokens = {cid: tok for cid, tok in store.db.execute("SELECT client_id, token FROM messages")}
    caplog.set_level(logging.INFO)
    servers.deliver(undecodable(f"reply+{tokens[ids[-1]]}@{REPLY}"))  # first: it must not hold up the rest
    servers.deliver(auto_reply(f"reply+{tokens[ids[-1]]}@{REPLY}"))
    for cid, form in zip(ids, FORMS):
        original = received[f"klant{cid}@{CLIENTS}"]
        text = original.get_body(("plain",)).get_content()
        html = original.get_body(("html",))
        servers.deliver(FORMS[form](f"reply+{tokens[cid]}@{REPLY}", text, html and html.get_content(),
                                    ANSWERS[form][0]))
    counts = replies.fetch_imap(store)
    assert counts == {"observation": len(FORMS), "set_aside": 1, "auto_reply": 1}, counts
    for cid, form in zip(ids, FORMS):
        profile = {p.key: p.value for p in clients.profile(store, cid)}
        assert profile.get("wellbeing") == ANSWERS[form][1], form
    notes = store.db.execute("SELECT client_id, text FROM notes").fetchall()
    assert notes == [(ids[list(FORMS).index("iso-8859-1")], ANSWERS["iso-8859-1"][0])]
    last = store.db.execute("SELECT last_reply FROM clients WHERE id = ?", [ids[-1]]).fetchone()
    assert last == (None,)  # the auto-reply and the bad mail are no activity
    # the bad mail is flagged for a person to look at, everything is seen, and the log says which without its content
    with MailBox("127.0.0.1", servers.imaps_port, ssl_context=servers.ssl_context()).login(
            IMAP_USER, IMAP_PASSWORD) as box:
        assert box.uids(AND(seen=False)) == []
        flagged = list(box.fetch(AND(flagged=True), mark_seen=False))
        assert [m.subject for m in flagged] == ["Re: vraag"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "set aside mail uid" in logged and "LookupError" in logged
    for secret in ("klant", "Slecht", "knie", tokens[ids[-1]], "4 "):
        assert secret not in logged
    assert replies.fetch_imap(store) == {}  # nothing left, nothing read twice


def test_a_certificate_caseload_does_not_trust_stops_smtp_and_imap(tmp_path, servers, monkeypatch):
    monkeypatch.setenv("CASELOAD_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("CASELOAD_IMAP_PASSWORD", IMAP_PASSWORD)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    s = make_store(tmp_path, servers.smtp_port, email={"security": "starttls", "username": SMTP_USER},
                   imap={"host": "127.0.0.1", "port": servers.imaps_port, "security": "ssl", "username": IMAP_USER})
    add_clients(s, 1, email=f"klant@{CLIENTS}")
    outbox.enqueue(s, 1, "email", "Hoi", subject="Hoi", kind="campaign", occurrence="x")
    report = outbox.send_due(s)
    assert report.sent == 0 and report.unavailable == {"email": "tls SSLCertVerificationError"}
    with pytest.raises(ssl.SSLCertVerificationError):
        replies.fetch_imap(s)
    s.close()
    # STARTTLS on the IMAP port verifies too, and works with the CA
    s = make_store(tmp_path, imap={"host": "127.0.0.1", "port": servers.imap_port, "security": "starttls",
                                   "username": IMAP_USER, "ca_file": str(servers.ca_file)})
    assert isinstance(replies.fetch_imap(s), dict)
    s.close()
