"""Local test servers on 127.0.0.1 (never any other address), reusable by every test module:

- SmtpSink: a real aiosmtpd server that keeps what arrives; it can answer slowly, refuse RCPT or
  DATA with scripted 4xx/5xx replies, and `refused_port()` gives a port where nothing listens.
- SmsStub: a local HTTP server per SMS provider (cm, spryng, messagebird, twilio) speaking that
  provider's documented send API: it checks the request shape and the credentials, keeps what
  arrived, and answers as the provider does. It can be scripted to answer 429, 500, a permanent
  error, 401, or to answer too late (a client timeout after the message was accepted).
- caseload_config / make_store / add_clients: a caseload with a config that points at them.

    from servers import SmtpSink, SmsStub, make_store, add_clients
    from servers import smtp_sink, sms_stub  # noqa: F401  (pytest fixtures)

Run one alone for manual tries: python tests/servers.py smtp 2525 | python tests/servers.py cm 8080
"""

import base64
import email
import shutil
import email.policy
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

HOST = "127.0.0.1"
TOKEN = "test-token-5f1c"
TWILIO_ACCOUNT = "AC0123456789abcdef0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting is refused."""
    return free_port()


# --- SMTP -----------------------------------------------------------------------------------

@dataclass
class Received:
    mail_from: str
    rcpt_tos: list
    content: bytes
    at: float
    peer: tuple = ()  # the client's (host, port): one per connection

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)

    @property
    def message_id(self) -> str:
        return self.message["Message-ID"]

    @property
    def caseload_id(self) -> int:
        """Our message id, from Message-ID <TOKEN.ID@domain>."""
        return int(self.message_id.strip("<>").split("@")[0].split(".")[1])

    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()


class _SinkHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink._next(self.sink.rcpt_replies)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        reply = self.sink._next(self.sink.data_replies)
        if reply == "drop":  # keep the message, then hang up before answering
            self._keep(session, envelope)
            server.transport.close()
            return "421 closing"
        if reply:
            return reply
        # kept first, answered after the delay: a client that dies meanwhile did deliver it
        self._keep(session, envelope)
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        return "250 Message accepted for delivery"

    def _keep(self, session, envelope):
        with self.sink.lock:
            self.sink.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                               time.monotonic(), tuple(session.peer or ())))


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts.

    users: {"name": "password"} turns on AUTH (LOGIN/PLAIN). smtputf8=False: a relay without SMTPUTF8. tls: "starttls" (required before
    MAIL) or "ssl" (implicit TLS), with a certificate for 127.0.0.1 from a throwaway CA; point the
    client at `ca_file()` (e.g. SSL_CERT_FILE) to trust it."""

    def __init__(self, delay: float = 0.0, users: dict | None = None, tls: str | None = None,
                 smtputf8: bool = True):
        self.delay = delay
        self.smtputf8 = smtputf8
        self.users = users
        self.tls = tls
        self.ca = None
        self.logins: list[str] = []
        self.received: list[Received] = []
        self.rcpt_replies: deque = deque()
        self.data_replies: deque = deque()
        self.lock = threading.Lock()
        self.controller = None
        self.port = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == password:
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)  # handled=True would leave smtplib waiting

    def ca_file(self, path: Path) -> Path:
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def _next(self, replies: deque):
        with self.lock:
            return replies.popleft() if replies else None

    def refuse_rcpt(self, *replies: str):
        """The next RCPT commands get these replies, e.g. "450 4.2.1 Mailbox busy"."""
        self.rcpt_replies.extend(replies)

    def refuse_data(self, *replies: str):
        """The next messages get these replies at the end of DATA, e.g. "554 5.7.1 Rejected";
        "drop" keeps the message and hangs up without answering (the client cannot know)."""
        self.data_replies.extend(replies)

    def connections(self) -> int:
        return len({r.peer for r in self.messages()})

    def start(self) -> "SmtpSink":
        from aiosmtpd.controller import Controller

        kwargs = {"enable_SMTPUTF8": self.smtputf8}
        if self.users is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self.tls:
            import ssl

            import trustme

            self.ca = trustme.CA()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert(HOST).configure_cert(context)
            if self.tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        for _ in range(5):
            port = free_port()
            controller = Controller(_SinkHandler(self), hostname=HOST, port=port, ready_timeout=5, **kwargs)
            try:
                controller.start()
            except Exception:  # the port was taken meanwhile: pick another
                continue
            self.controller, self.port = controller, port
            return self
        raise RuntimeError("could not start the SMTP sink")

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def count_by_id(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for r in self.messages():
            out[r.caseload_id] = out.get(r.caseload_id, 0) + 1
        return out

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        end = time.monotonic() + timeout
        while time.monotonic() < end and len(self.received) < n:
            time.sleep(0.01)
        return self.messages()


# --- SMS providers --------------------------------------------------------------------------

@dataclass
class SmsReceived:
    provider: str
    number: str  # E.164, as the provider was asked to send to
    body: str
    sender: str
    reference: str | None
    provider_id: str
    parts: int = 1  # the most parts the provider was allowed to cut it into (CM)


@dataclass
class SmsStub:
    """A local stand-in for one provider's send API. `script(...)` queues answers for the next
    requests: "ok", 429, 500, "permanent", "unauthorized", "timeout" (accepts the message but
    answers after `slow` seconds)."""

    provider: str
    token: str = TOKEN
    account: str = TWILIO_ACCOUNT
    slow: float = 1.5
    received: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    requests: int = 0
    answers: deque = field(default_factory=deque)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}"

    def script(self, *answers) -> None:
        self.answers.extend(answers)

    def start(self) -> "SmsStub":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args):  # keep test output (and numbers) out of stderr
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body, headers = stub._handle(self.path, self.headers, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- the providers' request shapes --

    def _handle(self, path, headers, raw):
        self.requests += 1
        answer = self.answers.popleft() if self.answers else "ok"
        try:
            parsed = getattr(self, f"_parse_{self.provider}")(path, headers, raw)
        except _Unauthorized:
            return self._error("unauthorized", None)
        except (ValueError, KeyError, TypeError, AssertionError) as e:
            self.problems.append(f"{self.provider}: {e}")
            return self._error("permanent", None)
        if answer == "unauthorized":
            return self._error("unauthorized", parsed)
        if answer in (429, 500, "permanent"):
            return self._error(answer, parsed)
        if answer == "timeout":
            self.received.append(parsed)  # accepted, but the answer comes too late
            time.sleep(self.slow)
            return self._ok(parsed)
        self.received.append(parsed)
        return self._ok(parsed)

    def _parse_cm(self, path, headers, raw):
        assert path == "/v1.0/message", f"path {path}"
        data = json.loads(raw)
        messages = data["messages"]
        if messages["authentication"]["producttoken"] != self.token:
            raise _Unauthorized()
        (msg,) = messages["msg"]
        (to,) = msg["to"]
        number = to["number"]
        assert number.startswith("00") and number[2:].isdigit(), "number must be 00 + international digits"
        assert msg["body"]["type"] in ("auto", "AUTO"), "body.type"
        sender = msg["from"]  # 11 alphanumeric characters or 16 digits (CM's .NET SDK, Message.From)
        assert 1 <= len(sender) <= 11 or (sender.startswith("00") and sender[2:].isdigit() and len(sender) <= 18), "from"
        assert 1 <= len(msg["reference"]) <= 32 and msg["reference"].isalnum(), "reference"
        assert msg["minimumNumberOfMessageParts"] <= msg["maximumNumberOfMessageParts"] <= 8, "parts"
        # CM cuts a text into at most maximumNumberOfMessageParts: fewer than it needs loses the end
        needed = _parts(msg["body"]["content"])
        assert msg["maximumNumberOfMessageParts"] >= needed, f"parts: {needed} needed"
        return SmsReceived("cm", "+" + number[2:], msg["body"]["content"], _number(sender, "00"), msg["reference"], "",
                           msg["maximumNumberOfMessageParts"])

    def _parse_spryng(self, path, headers, raw):
        assert path == "/v1/messages", f"path {path}"
        if headers.get("Authorization") != f"Bearer {self.token}":
            raise _Unauthorized()
        data = json.loads(raw)
        (number,) = data["recipients"]
        assert number.isdigit(), "recipients are international numbers without +"
        assert data["encoding"] in ("auto", "plain", "unicode"), "encoding"
        assert data["route"], "route"
        originator = data["originator"]
        assert 1 <= len(originator) <= 11 or (originator.isdigit() and len(originator) <= 14), "originator"
        return SmsReceived("spryng", "+" + number, data["body"], _number(originator), data.get("reference"),
                           str(uuid.uuid4()))

    def _parse_messagebird(self, path, headers, raw):
        assert path == "/messages", f"path {path}"
        if headers.get("Authorization") != f"AccessKey {self.token}":
            raise _Unauthorized()
        data = json.loads(raw)
        (number,) = data["recipients"]
        assert isinstance(number, int) or str(number).isdigit(), "recipients are msisdns"
        originator = data["originator"]
        assert 1 <= len(originator) <= 11 or (originator.isdigit() and len(originator) <= 17), "originator"
        assert data["body"], "body"
        return SmsReceived("messagebird", f"+{number}", data["body"], _number(originator), data.get("reference"),
                           uuid.uuid4().hex)

    def _parse_twilio(self, path, headers, raw):
        assert path == f"/2010-04-01/Accounts/{self.account}/Messages.json", f"path {path}"
        auth = headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.account}:{self.token}".encode()).decode()
        if auth != expected:
            raise _Unauthorized()
        assert headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"), "form encoded"
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        assert form["To"].startswith("+") and form["To"][1:].isdigit(), "To is E.164"
        assert form["From"] and form["Body"], "From and Body"
        sender = form["From"]  # a number in E.164, or an alphanumeric sender ID (11 letters, digits, spaces)
        assert (sender.startswith("+") and sender[1:].isdigit()) or re.fullmatch(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}",
                                                                                   sender), "From"
        return SmsReceived("twilio", form["To"], form["Body"], form["From"], None, "SM" + uuid.uuid4().hex)

    # -- the providers' answers --

    def _ok(self, m: SmsReceived):
        now = datetime.now(timezone.utc)
        if self.provider == "cm":
            return 200, {"details": "Created 1 message(s)", "errorCode": 0, "messages": [
                {"to": "00" + m.number[1:], "status": "Accepted", "reference": m.reference, "parts": 1,
                 "messageDetails": None, "messageErrorCode": 0}]}, {}
        if self.provider == "spryng":
            return 200, {"id": m.provider_id, "encoding": "plain", "originator": m.sender, "body": m.body,
                         "reference": m.reference, "credits": 1.0, "scheduled_at": None, "canceled_at": None,
                         "created_at": now.isoformat(), "updated_at": now.isoformat(), "links": {}}, {}
        if self.provider == "messagebird":
            return 201, {"id": m.provider_id, "href": f"https://rest.messagebird.com/messages/{m.provider_id}",
                         "direction": "mt", "type": "sms", "originator": m.sender, "body": m.body,
                         "reference": m.reference, "validity": None, "gateway": 10, "typeDetails": {},
                         "datacoding": "plain", "mclass": 1, "scheduledDatetime": None,
                         "createdDatetime": now.isoformat(), "recipients": {
                             "totalCount": 1, "totalSentCount": 1, "totalDeliveredCount": 0,
                             "totalDeliveryFailedCount": 0, "items": [
                                 {"recipient": int(m.number[1:]), "status": "sent",
                                  "statusDatetime": now.isoformat()}]}}, {}
        return 201, {"sid": m.provider_id, "status": "queued", "to": m.number, "from": m.sender, "body": m.body,
                     "account_sid": self.account, "api_version": "2010-04-01", "num_segments": "1",
                     "direction": "outbound-api", "date_created": email.utils.format_datetime(now),
                     "error_code": None, "error_message": None,
                     "uri": f"/2010-04-01/Accounts/{self.account}/Messages/{m.provider_id}.json"}, {}

    def _error(self, kind, m):
        p = self.provider
        if kind == 429:
            body = {"cm": {"details": "Too many requests", "errorCode": 999, "messages": []},
                    "spryng": {"message": "Too Many Attempts."},
                    "messagebird": {"errors": [{"code": 429, "description": "Too many requests", "parameter": None}]},
                    "twilio": {"code": 20429, "message": "Too Many Requests", "more_info": "", "status": 429}}[p]
            return 429, body, {"Retry-After": "2"}
        if kind == 500:
            body = {"cm": {"details": "Internal error", "errorCode": 500, "messages": []},
                    "spryng": {"message": "Server Error"},
                    "messagebird": {"errors": [{"code": 99, "description": "Internal error", "parameter": None}]},
                    "twilio": {"code": 20500, "message": "Internal Server Error", "more_info": "", "status": 500}}[p]
            return 500, body, {}
        if kind == "unauthorized":
            body = {"cm": {"details": "No account found for the given authentication", "errorCode": 101, "messages": []},
                    "spryng": {"message": "Unauthenticated."},
                    "messagebird": {"errors": [{"code": 2, "description": "Request not allowed (incorrect access_key)",
                                                "parameter": "access_key"}]},
                    "twilio": {"code": 20003, "message": "Authenticate", "more_info": "", "status": 401}}[p]
            return (400 if p == "cm" else 401), body, {}
        number = m.number if m else ""
        body = {"cm": {"details": "Not all messages were created", "errorCode": 201, "messages": [
                    {"to": number, "status": "Rejected", "reference": m.reference if m else None, "parts": 0,
                     "messageDetails": f"Gsm '{number}' is not a number.", "messageErrorCode": 303}]},
                "spryng": {"message": "The given data was invalid.", "errors": {"recipients.0": ["invalid"]}},
                "messagebird": {"errors": [{"code": 10, "description": f"recipient {number} is invalid",
                                            "parameter": "recipients"}]},
                "twilio": {"code": 21211, "message": f"The 'To' number {number} is not a valid phone number.",
                           "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}}[p]
        return (400 if p in ("cm", "twilio") else 422), body, {}


class _Unauthorized(Exception):
    pass


_GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f")


def _parts(text: str) -> int:
    """The fewest SMS parts a text needs (GSM 03.38 / 3GPP TS 23.038): 160 septets in one, 153 per
    part when longer; any other character makes the whole text UCS-2: 70 UTF-16 units, then 67."""
    if set(text) <= _GSM7:
        units, single, multi = len(text) + sum(c in "^{}\\[~]|€\f" for c in text), 160, 153
    else:
        units, single, multi = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // multi)


def _number(sender: str, prefix: str = "") -> str:
    """A numeric sender as E.164 (how the test compares it), a name as it is."""
    digits = sender[len(prefix):] if prefix and sender.startswith(prefix) else sender
    return "+" + digits if digits.isdigit() and len(digits) > 6 else sender


PROVIDERS = ("cm", "spryng", "messagebird", "twilio")


# --- a caseload to send to ------------------------------------------------------------------

def caseload_config(path: Path, smtp_port: int | None = None, sms: SmsStub | None = None,
                    email: dict | None = None, daemon: dict | None = None, sms_keys: dict | None = None,
                    imap: dict | None = None, **policy) -> Path:
    """config.toml for tests: no quiet hours (tests must not depend on the hour), no rate limit
    unless asked, the SMTP sink and the SMS stub on 127.0.0.1. `email`/`daemon`/`sms_keys`/`imap`
    override keys."""
    sections = {
        "organisation": {"name": "Gemeente Testdorp", "language": "nl"},
        "email": {"host": HOST, "port": smtp_port or refused_port(), "security": "none",
                  "sender": "Werkplein Testdorp <noreply@testdorp.example>", "timeout": 5, **(email or {})},
        "sms": {"provider": sms.provider if sms else "cm", "sender": "Testdorp",
                "base_url": sms.url if sms else f"http://{HOST}:{refused_port()}", "account": TWILIO_ACCOUNT,
                "timeout": 0.5, **(sms_keys or {})},
        "policy": {"quiet_hours": "", "max_per_week": 100, "rate_per_minute_email": 0, "rate_per_minute_sms": 0,
                   **policy},
    }
    if daemon:
        sections["daemon"] = daemon
    if imap:
        sections["imap"] = imap
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)
    return path


def make_store(tmp_path: Path, smtp_port: int | None = None, sms: SmsStub | None = None, name="caseload.db",
               email: dict | None = None, daemon: dict | None = None, sms_keys: dict | None = None,
               imap: dict | None = None, **policy):
    """A store on a fresh database with users admin (admin) and coach1/coach2 (coaches)."""
    from caseload import access
    from caseload.config import load_config
    from caseload.store import open_store

    config = load_config(caseload_config(tmp_path / "config.toml", smtp_port, sms, email, daemon, sms_keys, imap,
                                         **policy))
    db = tmp_path / name
    if not db.exists():  # a copy of one migrated database: migrating and adding 160 profile columns costs more
        shutil.copyfile(_migrated_db(), db)
        db.chmod(0o600)
    store = open_store(config, db)
    for user, role in (("admin", "admin"), ("coach1", "coach"), ("coach2", "coach")):
        if not store.db.execute("SELECT 1 FROM users WHERE name = ?", [user]).fetchone():
            access.add_user(store.db, user, role, "t1")
    return store


_MIGRATED: dict[int, Path] = {}


def _migrated_db() -> Path:
    """A fresh database with every migration and the default catalog, made once per process."""
    import os
    import tempfile

    from caseload.config import Config
    from caseload.store import open_store

    if os.getpid() not in _MIGRATED:
        path = Path(tempfile.mkdtemp(prefix="caseload-migrated-")) / "migrated.db"
        open_store(Config(), path, create=True).close()
        _MIGRATED[os.getpid()] = path
    return _MIGRATED[os.getpid()]


def add_clients(store, n: int, start: int = 1, **fields) -> list[int]:
    """n clients (fast, straight into the tables), numbered K00001...; fields override the defaults."""
    from caseload.clock import utcnow
    from caseload.db import write_transaction

    now = utcnow()
    ids = []
    with write_transaction(store.db) as conn:
        for i in range(start, start + n):
            row = {"client_number": f"K{i:05d}", "first_name": f"Voornaam{i}", "last_name": f"Achternaam{i}",
                   "email": f"klant{i}@testdorp.example", "phone": f"+316{i:08d}", "language": "nl",
                   "preferred_channel": "email", "coach": "coach1", "status": "active", **fields}
            cols = [*row, "created_at", "updated_at"]
            cur = conn.execute(f"INSERT INTO clients ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                               [*row.values(), now, now])
            conn.execute("INSERT INTO profile (client_id) VALUES (?)", [cur.lastrowid])
            ids.append(cur.lastrowid)
    return ids


@pytest.fixture
def smtp_sink():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def sms_stub():
    """A factory: sms_stub("cm") starts that provider's stub (stopped after the test)."""
    started = []

    def start(provider: str, **kw) -> SmsStub:
        stub = SmsStub(provider, **kw).start()
        started.append(stub)
        return stub

    yield start
    for stub in started:
        stub.stop()


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    kind, port = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if kind == "smtp":
        from aiosmtpd.controller import Controller

        sink = SmtpSink()
        Controller(_SinkHandler(sink), hostname=HOST, port=port or 2525).start()
        print(f"SMTP sink on {HOST}:{port or 2525}")
    else:
        stub = SmsStub(kind).start()
        print(f"{kind} stub on {stub.url}, token {TOKEN}")
    while True:
        time.sleep(3600)
