"""Email over the organisation's SMTP relay, one persistent connection per send run.

yagmail opens the connection (relay settings: STARTTLS or SSL with a verifying TLS context,
login only when config.email.username is set; the password comes from CASELOAD_SMTP_PASSWORD or
the keyring). The message itself is built here and sent with MAIL/RCPT/DATA on yagmail's smtplib
connection, because:
- yagmail.prepare_send puts `<br>` into the text/plain part even for yagmail.raw() text and copies
  the unescaped text into an HTML part, and a body that equals a file path becomes an attachment;
- building with the email package cost 0.26 ms (MIMEText) to 1.3 ms (EmailMessage) per message
  here, more than a whole SMTP round trip to a local relay (bench/bench_send.py);
- sending the three commands ourselves tells us whether a lost connection happened before the
  relay could have accepted the message (safe to retry) or after (a retry may duplicate it).

Every message carries:
- Message-ID `<TOKEN.ID@domain>`: unique per message and the same on a retry, so a resend after a
  crash is recognisably the same message (mail clients fold identical Message-IDs);
- Reply-To `reply+TOKEN@domain`: the daemon matches a reply to its message by the token;
- the envelope sender (Return-Path) `bounce+TOKEN@domain` (VERP, config.email.verp): a bounce
  comes back to an address that names its message (channels.email_inbound reads it);
- List-Id `<caseload.DOMAIN>`, and List-Unsubscribe: `mailto:unsubscribe+TOKEN@domain`, plus
  `https://.../unsubscribe/TOKEN` with List-Unsubscribe-Post (RFC 8058) when
  config.daemon.public_url is https;
- Date in UTC as `+0000`.

TLS verifies the relay's certificate and name, against the system's CAs and config.email.ca_file.

Addresses: an ASCII address goes as it is. A non-ASCII domain alone goes as its IDNA (xn--) form.
Non-ASCII letters before the @ need the relay's SMTPUTF8 (RFC 6531): then MAIL FROM says SMTPUTF8
and the To header holds the address in UTF-8 (RFC 6532); a relay without it fails that message
with NO_SMTPUTF8, a reason that says another channel may reach the client (channels.UNREACHABLE).
"""

import binascii
import logging
import re
import smtplib
import socket
import ssl
import time
from datetime import datetime, timezone
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from ..secrets import get_secret
from . import BAD_ADDRESS, NO_SMTPUTF8, PERMANENT, SENT, TEMPORARY, UNAVAILABLE, Outcome, Outgoing, tls_context

log = logging.getLogger("caseload.email")

_DOTS = re.compile(rb"(?m)^\.")
# printable ASCII without space, <, > or comma: safe inside RCPT TO:<...> and the To header
_ADDRESS = re.compile(r"[!-+\--;=?-~]+@[!-+\--;=?-~]+")
_TOKEN_ADDRESS = re.compile(r"^(reply|unsubscribe|bounce)\+([0-9a-f]{8,64})@", re.I)
# any letters, but no space, control character, <, >, comma, quote or backslash; one @
_UTF8_ADDRESS = re.compile(r"[^\s<>,\"\\@\x00-\x1f\x7f]+@[^\s<>,\"\\@\x00-\x1f\x7f]+")


def sender_parts(config) -> tuple[str, str, str]:
    """(display name, address, domain) of config.email.sender."""
    name, address = parseaddr(config.email.sender)
    return name, address, address.rpartition("@")[2] or "localhost"


def reply_domain(config) -> str:
    return config.email.reply_domain or sender_parts(config)[2]


def reply_address(config, token: str) -> str:
    return f"reply+{token}@{reply_domain(config)}"


def unsubscribe_url(config, token: str) -> str | None:
    """The one-click unsubscribe link (served by the daemon), only when it is reachable over https."""
    base = config.daemon.public_url.rstrip("/")
    return f"{base}/unsubscribe/{token}" if base.startswith("https://") else None


def recipient(address: str) -> tuple[str, bool] | None:
    """(the address as it goes on the wire, whether it needs SMTPUTF8), None when it cannot go."""
    if _ADDRESS.fullmatch(address):
        return address, False
    if not _UTF8_ADDRESS.fullmatch(address):
        return None
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    address = f"{local}@{domain}"
    if _ADDRESS.fullmatch(address):
        return address, False
    return address, True


def token_from_address(address: str) -> tuple[str, str] | None:
    """("reply" | "unsubscribe" | "bounce", token) from an address we handed out, else None."""
    m = _TOKEN_ADDRESS.match(parseaddr(address)[1] or address)
    return (m[1].lower(), m[2].lower()) if m else None


def _qp(text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, quotetabs=False, istext=True, header=False).replace(b"\n", b"\r\n")


def _header(name: str, value: str) -> str:
    value = " ".join(value.split())  # one line: a CR or LF from data can never start a new header
    if value.isascii() and len(name) + len(value) < 76:
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def build_message(*, from_header: str, to: str, subject: str, body: str, html: str | None,
                  message_id: str, reply_to: str, unsubscribe: list[str], date: str,
                  boundary: str, list_id: str = "") -> bytes:
    """The message as SMTP DATA: CRLF lines, dot-stuffed, ending in CRLF.CRLF."""
    head = [
        f"From: {from_header}",
        f"To: {to}",
        f"Subject: {_header('Subject', subject)}",
        f"Date: {date}",
        f"Message-ID: {message_id}",
        f"Reply-To: {reply_to}",
    ]
    if list_id:
        head.append(f"List-Id: {list_id}")
    head += [
        "List-Unsubscribe: " + ", ".join(f"<{u}>" for u in unsubscribe),
    ]
    if any(u.startswith("https://") for u in unsubscribe):
        head.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    head.append("MIME-Version: 1.0")
    text_headers = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    if html is None:
        data = "\r\n".join(head).encode() + b"\r\n" + text_headers.encode() + _qp(body)
    else:  # "=_" never occurs in quoted-printable text, so the boundary cannot either
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        data = (("\r\n".join(head) + f"\r\n\r\n--{boundary}\r\n" + text_headers).encode() + _qp(body)
                + (f"\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + _qp(html)
                + f"\r\n--{boundary}--".encode())
    data = _DOTS.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class EmailChannel:
    name = "email"

    def __init__(self, config):
        self.config = config
        name, self.sender, self.domain = sender_parts(config)
        self.from_header = formataddr((name, self.sender), charset="utf-8") if name else self.sender
        self.reply_domain = reply_domain(config)
        self.verp = config.email.verp
        self.list_id = f"<caseload.{self.domain}>"
        self.smtputf8 = False  # whether the relay offers SMTPUTF8 (known once connected)
        url = unsubscribe_url(config, "x")
        self.unsubscribe_base = url.rsplit("/unsubscribe/", 1)[0] if url else None
        self._date = (0, "")
        self.yag = None
        self._built: dict[int, bytes] = {}

    @property
    def smtp(self):
        return self.yag.smtp if self.yag is not None else None

    def _connect(self) -> Outcome | None:
        """Open the connection; an Outcome when that failed (the channel is unavailable)."""
        import yagmail

        e = self.config.email
        try:
            context = tls_context(e.ca_file) if e.security != "none" else None
        except OSError as err:  # the ca_file went missing or is not PEM
            return Outcome(UNAVAILABLE, f"tls ca_file {type(err).__name__}")
        options = dict(user={self.sender: self.sender}, host=e.host, port=e.port, smtp_skip_login=True,
                       soft_email_validation=False, timeout=e.timeout)
        if e.security == "ssl":
            options.update(smtp_ssl=True, context=context)
        elif e.security == "starttls":
            options.update(smtp_ssl=False, smtp_starttls={"context": context})
        else:
            options.update(smtp_ssl=False, smtp_starttls=False)
        password = None
        if e.username:
            password = get_secret("smtp_password")
            if password is None:
                return Outcome(UNAVAILABLE, "smtp_password_missing")
        yag = None
        try:
            yag = yagmail.SMTP(**options)
            yag.set_logging(None)  # yagmail would log recipients
            yag.login()
            # commands are small writes each followed by a read: do not let Nagle hold one back
            yag.smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            yag.smtp.ehlo_or_helo_if_needed()
            if e.username:
                yag.smtp.login(e.username, password)
            self.smtputf8 = yag.smtp.has_extn("smtputf8")
            yag.smtp.command_encoding = "utf-8"  # only an SMTPUTF8 message has non-ASCII in a command
        except (OSError, smtplib.SMTPException) as err:
            if yag is not None:  # never leave it to yagmail's __del__, which sends QUIT and waits
                yag.is_closed = True
                if yag.smtp is not None:
                    yag.smtp.close()
            return _connect_failure(err)
        self.yag = yag
        return None

    def connect(self) -> Outcome | None:
        """Connect now (if not connected); an Outcome when the channel is unavailable."""
        return self._connect() if self.yag is None else None

    def _drop(self) -> None:
        if self.yag is not None:
            try:
                self.yag.smtp.close()
            except Exception:  # the connection is being thrown away anyway
                pass
            self.yag.is_closed = True
            self.yag = None

    def _reset(self) -> None:
        try:
            self.smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def build(self, out: Outgoing) -> bytes:
        unsubscribe = [f"mailto:unsubscribe+{out.token}@{self.reply_domain}"]
        if self.unsubscribe_base:
            unsubscribe.append(f"{self.unsubscribe_base}/unsubscribe/{out.token}")
        now = int(time.time())
        if now != self._date[0]:  # the Date header changes once a second
            self._date = (now, format_datetime(datetime.fromtimestamp(now, timezone.utc)))
        to = recipient(out.address)
        return build_message(
            from_header=self.from_header, to=to[0] if to else out.address, subject=out.subject or "", body=out.body,
            html=out.html, message_id=f"<{out.token}.{out.id}@{self.domain}>",
            reply_to=f"reply+{out.token}@{self.reply_domain}", unsubscribe=unsubscribe, date=self._date[1],
            boundary=f"=_caseload_{out.token}", list_id=self.list_id)

    def send(self, out: Outgoing, ready=None, upcoming: Outgoing | None = None) -> Outcome | None:
        """Send one message. `ready()` is called once MAIL FROM is out (the outbox then commits
        the previous message while the relay works) and returns a function that says whether to
        go on. It is asked when the relay is ready for the message text (after MAIL, RCPT and
        DATA: three round trips to commit in); when it says no, we hang up (a relay discards a
        message that never ended) and return None. The `upcoming` message is built while the
        relay digests this one."""
        to = recipient(out.address)
        if to is None:
            return Outcome(PERMANENT, BAD_ADDRESS)
        address, utf8 = to
        mail_from = f"FROM:<{self.envelope_sender(out.token)}>"
        if utf8:
            mail_from += " SMTPUTF8 BODY=8BITMIME"
        data = self._built.pop(out.id, None) or self.build(out)
        for attempt in (1, 2):
            if self.yag is None:
                down = self._connect()
                if down is not None:
                    return down
            if utf8 and not self.smtputf8:
                return Outcome(PERMANENT, NO_SMTPUTF8)
            try:
                return self._transaction(address, mail_from, data, ready or (lambda: lambda: True), upcoming)
            except _Reconnect:
                self._drop()
                if attempt == 2:
                    return Outcome(UNAVAILABLE, "connection lost")
        raise AssertionError("unreachable")

    def envelope_sender(self, token: str) -> str:
        """bounce+TOKEN@reply_domain (VERP: a bounce names its message), or the sender's address."""
        return f"bounce+{token}@{self.reply_domain}" if self.verp else self.sender

    def _transaction(self, address: str, mail_from: str, data: bytes, ready, upcoming) -> Outcome | None:
        smtp = self.smtp
        try:
            smtp.putcmd("mail", mail_from)  # the addresses were checked: no parsing here
            decision = ready()  # the outbox commits the previous message meanwhile
            code, _ = smtp.getreply()
            if code != 250:
                decision()
                self._reset()
                # the relay refuses our sender: the channel is misconfigured, not this message
                return Outcome(UNAVAILABLE, f"smtp {code} mail")
            smtp.putcmd("rcpt", f"TO:<{address}>")
            code, _ = smtp.getreply()
            if code not in (250, 251):
                decision()
                return self._refused(code, "rcpt")
            smtp.putcmd("data")
            code, _ = smtp.getreply()
            if code != 354:
                decision()
                return self._refused(code, "data")
        except (smtplib.SMTPServerDisconnected, OSError):
            # nothing can have been accepted yet: reconnect and try once more
            raise _Reconnect() from None
        if not decision():  # no longer ours (opt-out, outflow, taken over): hang up, the relay discards it
            self._drop()
            return None
        try:
            smtp.send(data)
            if upcoming is not None and upcoming.channel == "email" and upcoming.id not in self._built:
                self._built = {upcoming.id: self.build(upcoming)}
            code, _ = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            self._drop()
            return Outcome(TEMPORARY, f"lost after data ({_os_reason(err)})", ambiguous=True)
        if code == 250:
            return Outcome(SENT)
        return self._refused(code, "end of data")

    def _refused(self, code: int, stage: str) -> Outcome:
        if code == 421:
            self._drop()
        else:
            self._reset()
        return Outcome(TEMPORARY if 400 <= code < 500 else PERMANENT, f"smtp {code} {stage}")

    def close(self) -> None:
        if self.yag is not None:
            try:
                self.yag.smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.yag.is_closed = True
            self.yag = None


def _connect_failure(err: BaseException) -> Outcome:
    if isinstance(err, smtplib.SMTPAuthenticationError):
        return Outcome(UNAVAILABLE, f"smtp login {err.smtp_code}")
    if isinstance(err, smtplib.SMTPResponseException):
        return Outcome(UNAVAILABLE, f"smtp connect {err.smtp_code}")
    if isinstance(err, ssl.SSLError):
        return Outcome(UNAVAILABLE, f"tls {type(err).__name__}")
    return Outcome(UNAVAILABLE, f"connect {_os_reason(err)}")


class _Reconnect(Exception):
    pass


def _os_reason(err: BaseException) -> str:
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, smtplib.SMTPServerDisconnected):
        return "disconnected"
    return type(err).__name__
