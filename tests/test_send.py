"""Sending for real: email through aiosmtpd on 127.0.0.1 (headers, parts, one connection, login,
STARTTLS and SSL, refused connections, 4xx/5xx, a hang-up after DATA) and SMS through a local
server per provider speaking its send API (shape, reference, 429, 500, timeouts, bad token).
Nothing is lost: every message ends sent, failed with a reason, or waits in the queue."""

import logging
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from caseload import access, outbox, templates
from caseload.channels.email import build_message, token_from_address
from caseload.cli import main
from caseload.clock import iso
from servers import PROVIDERS, TOKEN, SmtpSink, add_clients, make_store, sms_stub, smtp_sink  # noqa: F401

ADMIN = access.Actor("admin", "admin")
NOON = datetime(2025, 6, 16, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("CASELOAD_SMS_TOKEN", TOKEN)
    monkeypatch.delenv("CASELOAD_SMTP_PASSWORD", raising=False)


def email_store(tmp_path, port, n=3, html=None, now=NOON, **kw):
    store = make_store(tmp_path, port, **kw)
    add_clients(store, n)
    templates.add_template(store, ADMIN, "tip", "email", "Dag {{ first_name }},\n\n.punt aan het begin\nGroet",
                           subject="Hoi {{ first_name }}, één vraag", html=html)
    plan = outbox.plan_queue(store, ADMIN, "status = active", "tip", channel="email", now=now)
    outbox.commit_queue(store, ADMIN, plan, now=now)
    return store


def sms_store(tmp_path, stub, n=2, **kw):
    store = make_store(tmp_path, None, stub, **kw)
    add_clients(store, n, preferred_channel="sms")
    templates.add_template(store, ADMIN, "tip", "sms", "Hoi {{ first_name }}, hoe gaat het? Antwoord 1-5 ✓")
    plan = outbox.plan_queue(store, ADMIN, "status = active", "tip", channel="sms", now=NOON)
    outbox.commit_queue(store, ADMIN, plan, now=NOON)
    return store


def rows(store, cols="id, status, attempts, possible_duplicate, reason"):
    return store.db.execute(f"SELECT {cols} FROM messages ORDER BY id").fetchall()


# --- email ----------------------------------------------------------------------------------

def test_email_arrives_with_its_headers_over_one_connection(tmp_path, smtp_sink):
    store = email_store(tmp_path, smtp_sink.port, n=3)
    report = outbox.send_due(store, now=NOON)
    assert report.sent == 3 and report.ok
    got = smtp_sink.messages()
    assert len(got) == 3 and smtp_sink.connections() == 1
    tokens = dict(store.db.execute("SELECT id, token FROM messages").fetchall())
    for r in got:
        m = r.message
        mid = r.caseload_id
        assert r.rcpt_tos == [f"klant{mid}@testdorp.example"]
        assert r.mail_from == f"bounce+{tokens[mid]}@testdorp.example"  # VERP: a bounce names its message
        assert token_from_address(r.mail_from) == ("bounce", tokens[mid])
        assert m["Date"].endswith(" +0000") and m["Date"].datetime.utcoffset().total_seconds() == 0
        assert m["List-Id"] == "<caseload.testdorp.example>"
        assert m["From"] == "Werkplein Testdorp <noreply@testdorp.example>"
        assert m["Subject"] == f"Hoi Voornaam{mid}, één vraag"
        assert m["Message-ID"] == f"<{tokens[mid]}.{mid}@testdorp.example>"
        assert m["Reply-To"] == f"reply+{tokens[mid]}@testdorp.example"
        assert token_from_address(m["Reply-To"]) == ("reply", tokens[mid])
        assert m["List-Unsubscribe"] == f"<mailto:unsubscribe+{tokens[mid]}@testdorp.example>"
        assert m.get_content_type() == "text/plain"
        text = r.text().replace("\r\n", "\n")
        assert text == f"Dag Voornaam{mid},\n\n.punt aan het begin\nGroet\n"  # a leading dot survives
        assert "<br>" not in r.content.decode()


def test_email_with_html_part_and_https_unsubscribe(tmp_path, smtp_sink):
    store = email_store(tmp_path, smtp_sink.port, n=1, html="<p>Dag {{ first_name }} &amp; welkom</p>",
                        daemon={"public_url": "https://caseload.testdorp.example"})
    outbox.send_due(store, now=NOON)
    (r,) = smtp_sink.messages()
    m = r.message
    assert m.get_content_type() == "multipart/alternative"
    assert m.get_body(("html",)).get_content().strip() == "<p>Dag Voornaam1 &amp; welkom</p>"
    assert r.text().startswith("Dag Voornaam1")
    token = store.db.execute("SELECT token FROM messages").fetchone()[0]
    assert f"<https://caseload.testdorp.example/unsubscribe/{token}>" in m["List-Unsubscribe"]
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_header_injection_from_data_is_impossible():
    data = build_message(from_header="a@b.c", to="x@y.z", subject="Hoi\r\nBcc: evil@example.org", body="b",
                         html=None, message_id="<1@b.c>", reply_to="r@b.c", unsubscribe=["mailto:u@b.c"],
                         date="Mon, 16 Jun 2025 10:00:00 -0000", boundary="=_x")
    import email
    import email.policy

    m = email.message_from_bytes(data[:-3], policy=email.policy.default)
    assert m["Bcc"] is None and m["Subject"] == "Hoi Bcc: evil@example.org"


def test_smtp_refusing_connections_loses_nothing(tmp_path):
    store = email_store(tmp_path, None, n=3)  # nothing listens on the configured port
    report = outbox.send_due(store, now=NOON)
    assert report.sent == 0 and not report.ok and report.unavailable == {"email": "connect refused"}
    assert rows(store, "status, attempts") == [("queued", 0)] * 3  # not even claimed
    with SmtpSink() as sink:
        cfg = (tmp_path / "config.toml").read_text()
        import re

        (tmp_path / "config.toml").write_text(re.sub(r"port = \d+", f"port = {sink.port}", cfg, count=1))
        from caseload.config import load_config

        store.config = load_config(tmp_path / "config.toml")
        assert outbox.send_due(store, now=NOON).sent == 3
        assert len(sink.messages()) == 3


def test_smtp_4xx_is_retried_and_5xx_fails_with_the_reason(tmp_path, smtp_sink):
    store = email_store(tmp_path, smtp_sink.port, n=4)
    smtp_sink.refuse_rcpt("450 4.2.1 Mailbox busy", "550 5.1.1 No such user")
    smtp_sink.refuse_data("554 5.7.1 Rejected as spam")
    report = outbox.send_due(store, now=NOON)
    assert (report.sent, report.retried, report.failed) == (1, 1, 2)
    assert rows(store, "status, attempts, reason") == [
        ("queued", 1, "retry: smtp 450 rcpt"), ("failed", 1, "smtp 550 rcpt"),
        ("failed", 1, "smtp 554 end of data"), ("sent", 1, None)]
    later = outbox.send_due(store, now=NOON + timedelta(minutes=5))
    assert later.sent == 1 and smtp_sink.connections() == 2  # one connection per run
    assert len(smtp_sink.messages()) == 2


def test_a_hang_up_after_data_is_retried_and_marked(tmp_path, smtp_sink):
    store = email_store(tmp_path, smtp_sink.port, n=2)
    smtp_sink.refuse_data("drop")  # the relay kept it but we never heard back
    report = outbox.send_due(store, now=NOON)
    assert report.retried == 1 and report.sent == 1
    assert rows(store, "status, possible_duplicate") == [("queued", 1), ("sent", 0)]
    outbox.send_due(store, now=NOON + timedelta(minutes=5))
    assert smtp_sink.count_by_id() == {1: 2, 2: 1}  # the one duplicate is the marked one
    assert rows(store, "status, possible_duplicate") == [("sent", 1), ("sent", 0)]


def test_smtp_login_with_password_from_the_environment(tmp_path, monkeypatch, caplog):
    with SmtpSink(users={"caseload": "s3cret-relay-pw"}) as sink:
        store = email_store(tmp_path, sink.port, n=1, email={"username": "caseload"})
        report = outbox.send_due(store, now=NOON)
        assert report.unavailable == {"email": "smtp_password_missing"}
        monkeypatch.setenv("CASELOAD_SMTP_PASSWORD", "wrong")
        assert outbox.send_due(store, now=NOON).unavailable == {"email": "smtp login 535"}
        monkeypatch.setenv("CASELOAD_SMTP_PASSWORD", "s3cret-relay-pw")
        with caplog.at_level(logging.DEBUG):
            assert outbox.send_due(store, now=NOON).sent == 1
        assert sink.logins == ["caseload"] and len(sink.messages()) == 1
        assert "s3cret-relay-pw" not in caplog.text


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_is_verified(tmp_path, monkeypatch, security):
    with SmtpSink(tls=security) as sink:
        store = email_store(tmp_path, sink.port, n=1, email={"security": security})
        report = outbox.send_due(store, now=NOON)
        assert report.sent == 0 and report.unavailable["email"].startswith("tls")  # unknown CA: refused
        monkeypatch.setenv("SSL_CERT_FILE", str(sink.ca_file(tmp_path / "ca.pem")))
        assert outbox.send_due(store, now=NOON).sent == 1
        assert len(sink.messages()) == 1


def test_cli_send_is_silent_when_all_went_well_and_exits_1_otherwise(tmp_path, smtp_sink):
    email_store(tmp_path, smtp_sink.port, n=2, now=None).close()  # the CLI runs on the real clock
    base = ["--db", str(tmp_path / "caseload.db"), "--config", str(tmp_path / "config.toml"), "--lang", "en"]
    runner = CliRunner()
    r = runner.invoke(main, [*base, "send"], env={"SUDO_USER": "coach1"})
    assert r.exit_code == 1 and "does not allow" in r.output and smtp_sink.messages() == []  # admins only
    r = runner.invoke(main, [*base, "send"], env={"SUDO_USER": "admin"})
    assert r.exit_code == 0 and r.output == "" and len(smtp_sink.messages()) == 2
    smtp_sink.stop()
    store = make_store(tmp_path, smtp_sink.port)  # the same config: the sink is gone now
    outbox.enqueue(store, 1, "email", "Nog een", subject="Hoi", kind="campaign")
    store.close()
    r = runner.invoke(main, [*base, "send"], env={"SUDO_USER": "admin"})
    assert r.exit_code == 1 and "email channel is unavailable (connect refused)" in r.output


# --- SMS ------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_sms_speaks_each_providers_api(tmp_path, sms_stub, provider):
    stub = sms_stub(provider)
    store = sms_store(tmp_path, stub, n=2)
    report = outbox.send_due(store, now=NOON)
    assert report.sent == 2 and report.ok and stub.problems == []
    got = sorted(stub.received, key=lambda m: m.number)
    assert [m.number for m in got] == ["+31600000001", "+31600000002"]
    assert got[0].body == "Hoi Voornaam1, hoe gaat het? Antwoord 1-5 ✓" and got[0].sender == "Testdorp"
    ids = dict(store.db.execute("SELECT client_id, id FROM messages").fetchall())
    if provider != "twilio":  # our message id is the provider reference
        assert [m.reference for m in got] == [str(ids[1]), str(ids[2])]
    stored = [r[0] for r in store.db.execute("SELECT provider_id FROM messages ORDER BY client_id")]
    if provider == "cm":
        assert stored == [None, None]  # CM reports back by our reference
    else:
        assert stored == [m.provider_id for m in got]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sms_429_waits_for_the_provider_without_spending_an_attempt(tmp_path, sms_stub, provider):
    stub = sms_stub(provider)
    store = sms_store(tmp_path, stub, n=2)
    stub.script(429)
    report = outbox.send_due(store, now=NOON)
    assert report.unavailable == {"sms": f"{provider} 429"} and report.sent == 0
    status, attempts, due = store.db.execute("SELECT status, attempts, due_at FROM messages WHERE id = 1").fetchone()
    assert (status, attempts, due) == ("queued", 0, iso(NOON + timedelta(seconds=2)))  # Retry-After: 2
    assert outbox.send_due(store, now=NOON + timedelta(seconds=3)).sent == 2
    assert len(stub.received) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sms_500_is_retried_and_a_permanent_error_fails_without_the_number(tmp_path, sms_stub, provider):
    stub = sms_stub(provider)
    store = sms_store(tmp_path, stub, n=3)
    stub.script("ok", 500, "permanent")
    report = outbox.send_due(store, now=NOON)
    assert (report.sent, report.retried, report.failed) == (1, 1, 1)
    (s1, s2, s3) = rows(store, "status, attempts, reason")
    assert s1 == ("sent", 1, None) and s2[:2] == ("queued", 1) and s2[2].startswith("retry:")
    assert s3[0] == "failed" and provider in s3[2] and "316" not in s3[2]  # a code, never the number
    assert outbox.send_due(store, now=NOON + timedelta(minutes=5)).sent == 1
    assert len(stub.received) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sms_timeout_is_retried_and_the_possible_duplicate_marked(tmp_path, sms_stub, provider):
    stub = sms_stub(provider, slow=1.0)
    store = sms_store(tmp_path, stub, n=1)  # client timeout 0.5 s
    stub.script("timeout")
    report = outbox.send_due(store, now=NOON)
    assert report.retried == 1 and rows(store, "status, possible_duplicate") == [("queued", 1)]
    assert outbox.send_due(store, now=NOON + timedelta(minutes=5)).sent == 1
    assert len(stub.received) == 2 and rows(store, "status, possible_duplicate") == [("sent", 1)]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sms_bad_token_keeps_everything_queued(tmp_path, sms_stub, provider, monkeypatch):
    stub = sms_stub(provider)
    store = sms_store(tmp_path, stub, n=2)
    monkeypatch.setenv("CASELOAD_SMS_TOKEN", "wrong-token")
    report = outbox.send_due(store, now=NOON)
    assert report.unavailable["sms"].endswith("authentication") and report.sent == 0
    assert rows(store, "status, attempts") == [("queued", 0)] * 2
    monkeypatch.delenv("CASELOAD_SMS_TOKEN")
    assert outbox.send_due(store, now=NOON).unavailable == {"sms": "sms_token_missing"}
    monkeypatch.setenv("CASELOAD_SMS_TOKEN", TOKEN)
    assert outbox.send_due(store, now=NOON).sent == 2


def test_sms_provider_down_loses_nothing(tmp_path):
    store = make_store(tmp_path)  # base_url points at a port where nothing listens
    add_clients(store, 2, preferred_channel="sms")
    outbox.enqueue(store, 1, "sms", "Hoi", kind="campaign", now=NOON)
    report = outbox.send_due(store, now=NOON)
    assert report.unavailable["sms"].startswith("cm connect") and rows(store, "status, attempts") == [("queued", 0)]


def test_a_bad_number_fails_without_a_request(tmp_path, sms_stub):
    stub = sms_stub("cm")
    store = sms_store(tmp_path, stub, n=1)
    from caseload.db import write_transaction

    with write_transaction(store.db) as conn:
        conn.execute("UPDATE clients SET phone = '0612345678' WHERE id = 1")
    report = outbox.send_due(store, now=NOON)
    assert report.failed == 1 and rows(store, "status, reason") == [("failed", "bad_number")] and stub.requests == 0


def test_no_personal_data_or_secrets_in_logs(tmp_path, smtp_sink, sms_stub, caplog, monkeypatch):
    stub = sms_stub("twilio")
    store = make_store(tmp_path, smtp_sink.port, stub, email={"username": "relay"})
    monkeypatch.setenv("CASELOAD_SMTP_PASSWORD", "relay-password-123")
    smtp_sink.stop()  # an unreachable relay, to make the failure paths log too
    add_clients(store, 2, preferred_channel="sms")
    add_clients(store, 2, start=3, preferred_channel="email")
    templates.add_template(store, ADMIN, "tip", "email", "Dag {{ first_name }} {{ last_name }}", subject="Hoi")
    templates.add_template(store, ADMIN, "tip", "sms", "Hoi {{ first_name }} {{ last_name }}")
    outbox.commit_queue(store, ADMIN, outbox.plan_queue(store, ADMIN, "status = active", "tip", now=NOON), now=NOON)
    stub.script("ok", 500, "permanent", "timeout")
    with caplog.at_level(logging.DEBUG):
        outbox.send_due(store, now=NOON)
        outbox.send_due(store, now=NOON + timedelta(hours=1))
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("mail.log", "asyncio")))
    for i in range(1, 5):
        for value in (f"Voornaam{i}", f"Achternaam{i}", f"klant{i}@testdorp.example", f"+316{i:08d}",
                      f"316{i:08d}", f"K{i:05d}"):
            assert value not in ours
    for secret in (TOKEN, "relay-password-123"):
        assert secret not in ours
    for token, in store.db.execute("SELECT token FROM messages"):
        assert token not in ours
