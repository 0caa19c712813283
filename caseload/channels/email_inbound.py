"""Email coming back: the reply mailbox read over IMAP, and what each mail is.

`read(raw)` tells what a mail is, as plain data (`Mail`), without a database:
- a **bounce**: a delivery status notification (RFC 3464: multipart/report;
  report-type=delivery-status). `failed` when a recipient's Action is failed, with its Status
  code ("5.1.1"); a delay report is not a failure. The message it is about is found by the
  envelope sender we gave it (bounce+TOKEN@..., VERP; see channels.email) or by our Message-ID in
  the returned headers;
- an **auto-reply** (RFC 3834 `Auto-Submitted` other than "no", `X-Autoreply`,
  `X-Autorespond`, `Precedence: auto_reply`, bulk, junk or list): an out-of-office is not the
  client speaking;
- a **reply**: its new text only. The plain part (or, for HTML-only mail such as Gmail's, the
  HTML as text) without quoted lines, what follows a quote or forward header (Gmail, Outlook,
  Apple Mail, Thunderbird; Dutch and English), signatures and sign-offs, and links.
The message it answers is named by the token in the address it was sent to (reply+TOKEN@...,
unsubscribe+TOKEN@...), or else by our Message-ID <TOKEN.ID@...> in In-Reply-To or References.

A mail that cannot be read (a charset Python does not know, a broken structure) raises BadMail.
`fetch` sets such a mail aside: flagged and marked seen in the mailbox, logged by its IMAP uid and
the kind of problem only, so it never blocks the mails after it.

`fetch(config, password, handle)` reads the unseen mail of the configured folder over TLS that
verifies the server's certificate (config.imap.ca_file for an internal CA), hands each to
`handle`, and marks it seen after `handle` returned: a crash in between reads it again, and the
caller makes that second time a no-op (by the Message-ID).
"""

import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser

from . import tls_context
from .email import token_from_address

log = logging.getLogger("caseload.email")

REPLY, AUTO_REPLY, BOUNCE = "reply", "auto_reply", "bounce"


class BadMail(ValueError):
    """A mail that cannot be read; the message is a kind of problem, never the mail's content."""


@dataclass(frozen=True)
class Mail:
    kind: str  # reply | auto_reply | bounce
    mail_id: str  # the Message-ID, or a hash of the bytes: the same mail read twice has the same id
    address: tuple[str, str] | None  # ("reply" | "unsubscribe" | "bounce", token) of the message it is about
    text: str = ""  # a reply's new text
    failed: bool = False  # a bounce: delivery failed for good
    status: str | None = None  # a bounce's status code, e.g. "5.1.1"


# --- what a mail is -----------------------------------------------------------------------------

_OUR_MESSAGE_ID = re.compile(r"<([0-9a-f]{8,64})\.\d+@[^>\s]+>", re.I)
_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def read(raw: bytes) -> Mail:
    """What a raw mail is (see the module text). Raises BadMail when it cannot be read."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        mail_id = str(msg.get("Message-ID", "") or "").strip()[:128] or hashlib.sha256(raw).hexdigest()
    except Exception as e:  # the parser is lenient; anything it still raises is a broken mail
        raise BadMail(f"unparseable ({type(e).__name__})") from None
    try:
        return _read(msg, mail_id)
    except BadMail:
        raise
    except (LookupError, UnicodeError) as e:
        raise BadMail(f"undecodable ({type(e).__name__})") from None
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as e:  # a malformed structure
        raise BadMail(f"malformed ({type(e).__name__})") from None


def _read(msg: EmailMessage, mail_id: str) -> Mail:
    addressed = _addressed(msg)
    report = _delivery_status(msg)
    if report is not None:
        failed, status = report
        about = addressed if addressed and addressed[0] == "bounce" else _returned_token(msg)
        return Mail(BOUNCE, mail_id, about, failed=failed, status=status)
    if _automatic(msg):
        return Mail(AUTO_REPLY, mail_id, addressed or _answered(msg))
    if addressed and addressed[0] == "bounce":
        sender = str(msg.get("Return-Path", "") or "").strip()
        author = " ".join(str(v) for v in msg.get_all("From", [])).lower()
        if sender == "<>" or "mailer-daemon" in author or "postmaster" in author:
            return Mail(BOUNCE, mail_id, addressed)  # a bounce without a readable report: nothing marked
        addressed = ("reply", addressed[1])  # a person who answered the envelope sender
    return Mail(REPLY, mail_id, addressed or _answered(msg), text=reply_text(msg))


def _addressed(msg) -> tuple[str, str] | None:
    """The token of the address the mail was sent to (first the envelope's, as the MTA wrote it)."""
    values = []
    for header in ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc"):
        values += [str(v) for v in msg.get_all(header, [])]
    for _, address in getaddresses(values):
        found = token_from_address(address)
        if found:
            return found
    return None


def _answered(msg) -> tuple[str, str] | None:
    """("reply", token) from our Message-ID in In-Reply-To or References."""
    for header in ("In-Reply-To", "References"):
        for value in msg.get_all(header, []):
            m = _OUR_MESSAGE_ID.search(str(value))
            if m:
                return ("reply", m[1].lower())
    return None


def _automatic(msg) -> bool:
    auto = str(msg.get("Auto-Submitted", "") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if any(msg.get(h) is not None for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    precedence = str(msg.get("Precedence", "") or "").strip().lower()
    return precedence in ("auto_reply", "bulk", "junk", "list")


def _delivery_status(msg) -> tuple[bool, str | None] | None:
    """(failed, status) of a DSN, None when the mail is not one. Failed when any recipient's
    Action is "failed"; its Status code is kept (a code only, never the diagnostic text)."""
    if msg.get_content_type() != "multipart/report" or \
            str(msg.get_param("report-type", "")).lower() != "delivery-status":
        return None
    failed, status = False, None
    for part in msg.walk():
        if part.get_content_type() not in ("message/delivery-status", "message/global-delivery-status"):
            continue
        for block in _status_blocks(part):
            action = block.get("action", "").strip().lower()
            code = block.get("status", "").strip().split(" ")[0]
            if action == "failed":
                failed = True
                status = code if _STATUS.match(code) else status
    return failed, status


def _status_blocks(part) -> list[dict]:
    """The per-message and per-recipient field groups of a delivery-status part, keys lower case."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the parser made each group a header block
        return [{k.lower(): str(v) for k, v in block.items()} for block in payload]
    text = payload if isinstance(payload, str) else ""
    blocks = []
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        fields = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _returned_token(msg) -> tuple[str, str] | None:
    """("bounce", token) from our Message-ID in the returned message or its headers."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            value = str(inner.get("Message-ID", "")) if hasattr(inner, "get") else ""
        elif kind in ("text/rfc822-headers", "message/global-headers"):
            value = part.get_payload(decode=True) or b""
            value = value.decode("ascii", "replace")
        else:
            continue
        m = _OUR_MESSAGE_ID.search(value)
        if m:
            return ("bounce", m[1].lower())
    return None


# --- a reply's new text -------------------------------------------------------------------------

_QUOTE_HEADER = re.compile(
    r"^\s*(?:(?:on|op|am|le)\b.*\b(?:wrote|schreef|geschreven|schrieb|a écrit)\b.*:\s*$"
    r"|-{2,}\s*(?:original message|oorspronkelijk bericht|origineel bericht|forwarded message|doorgestuurd bericht"
    r"|doorgestuurde bericht|weitergeleitete nachricht)\b"
    r"|(?:begin forwarded message|begin doorgestuurd bericht|doorgestuurd bericht)\s*:"
    r"|_{10,}\s*$"
    r"|\*?(?:from|van|von)\s*:\*?\s+\S)", re.I)
_QUOTE_HEADER_START = re.compile(r"^\s*(?:on|op|am|le)\b", re.I)
_SIGNATURE = re.compile(
    r"^\s*(?:--|-- |—)\s*$"
    r"|^\s*(?:sent from|verzonden (?:vanaf|met|via|from)|verstuurd (?:vanaf|met|via)|get outlook for|outlook voor"
    r"|download outlook|outlook for (?:ios|android))\b", re.I)
_SIGN_OFF = re.compile(
    r"^\s*(?:met )?(?:vriendelijke |hartelijke |veel )?groet(?:en|jes)?|mvg|m\.v\.g\.?|gr\.?|groetjes|liefs"
    r"|(?:kind |best |warm )?regards|cheers|best wishes|with kind regards|thanks|thank you|bedankt|dank je( wel)?"
    r"|dankjewel|alvast bedankt",
    re.I)
_URL = re.compile(r"<?(?:https?://|mailto:|www\.)[^\s<>]*>?", re.I)


def reply_text(msg: EmailMessage) -> str:
    """The new text of a reply: the plain part, or the HTML as text when there is no plain text,
    without quotes, forward and quote headers, signatures and links. Raises LookupError or
    UnicodeError for a charset that cannot be decoded."""
    plain = msg.get_body(("plain",))
    text = new_text(plain.get_content()) if plain is not None else ""
    if not text:
        html = msg.get_body(("html",))
        if html is not None:
            text = new_text(html_text(html.get_content()))
    return text


def new_text(text: str) -> str:
    """A reply's own lines, from a plain text (see reply_text)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        joined = line + " " + lines[i + 1] if i + 1 < len(lines) else line
        if _QUOTE_HEADER.match(line) or (_QUOTE_HEADER_START.match(line) and _QUOTE_HEADER.match(joined)):
            break
        if _SIGNATURE.match(line):
            break
        if _SIGN_OFF.fullmatch(line.strip().rstrip(",.!")) and kept:
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(_URL.sub("", line).rstrip())
    out = "\n".join(kept).strip()
    return re.sub(r"\n{3,}", "\n\n", out)


# HTML ----------------------------------------------------------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_BLOCK = {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "pre", "section",
          "article", "header", "footer"}
_SKIP_TAGS = {"head", "style", "script", "title", "blockquote", "a", "template"}
_SKIP_CLASSES = {"gmail_quote", "gmail_signature", "gmail_extra", "moz-cite-prefix", "moz-signature", "yahoo_quoted",
                 "protonmail_quote", "protonmail_signature_block", "ms-outlook-mobile-signature", "signature"}
_STOP_IDS = {"divrplyfwdmsg", "x_divrplyfwdmsg", "appendonsend", "stopspelling", "mail-editor-reference-message-container"}
_SKIP_IDS = {"signature", "x_signature", "ms-outlook-mobile-signature"}


class _Text(HTMLParser):
    """The visible text of an HTML reply, without quotes, signatures, links and what follows an
    Outlook reply header."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip: list[str] = []  # the open tags whose content is left out
        self.stopped = False

    def handle_starttag(self, tag, attrs):
        if self.stopped:
            return
        attrs = {k: (v or "") for k, v in attrs}
        classes = set(attrs.get("class", "").lower().split())
        ident = attrs.get("id", "").lower()
        if ident in _STOP_IDS or (tag == "hr" and not self.skip and ident == "stopspelling"):
            self.stopped = True
            return
        if tag in _BLOCK:
            self.out.append("\n")
        if tag in _VOID:
            return
        if self.skip or tag in _SKIP_TAGS or classes & _SKIP_CLASSES or ident in _SKIP_IDS:
            self.skip.append(tag)

    def handle_endtag(self, tag):
        if self.skip and tag in self.skip:
            while self.skip and self.skip.pop() != tag:
                pass
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.stopped and not self.skip:
            self.out.append(data.replace("\n", " ").replace("\xa0", " "))


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = ["".join(x).strip() for x in "".join(parser.out).split("\n")]
    return "\n".join(" ".join(ln.split()) for ln in lines if ln.strip())


# --- the mailbox --------------------------------------------------------------------------------

def mailbox(config):
    """The imap-tools mailbox for config.imap, not yet logged in; TLS verifies the server."""
    from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted

    i = config.imap
    if i.security == "none":
        return MailBoxUnencrypted(i.host, i.port, timeout=30)
    context = tls_context(i.ca_file)
    if i.security == "starttls":
        return MailBoxStartTls(i.host, i.port, timeout=30, ssl_context=context)
    return MailBox(i.host, i.port, timeout=30, ssl_context=context)


def fetch(config, password: str, handle, limit: int = 500, retry: tuple = ()) -> dict[str, int]:
    """Read up to `limit` unseen mails of config.imap.folder: `handle(Mail)` returns an outcome
    to count, then the mail is marked seen. A mail that cannot be read, or whose handling raised
    anything but one of `retry` (say, a locked database), is set aside: flagged, marked seen and
    logged without its content. One of `retry` ends the run; the mail stays unseen for next time.
    Returns how many mails had each outcome ("set_aside" for those)."""
    from imap_tools import AND, MailMessageFlags

    i = config.imap
    counts: dict[str, int] = {}
    with mailbox(config).login(i.username, password, initial_folder=i.folder) as box:
        for found in box.fetch(AND(seen=False), mark_seen=False, bulk=False, limit=limit):
            uid = found.uid
            try:
                outcome = handle(read(found.obj.as_bytes()))
            except retry:
                raise
            except Exception as e:  # one mail must never block the ones after it
                problem = str(e) if isinstance(e, BadMail) else type(e).__name__
                log.warning("set aside mail uid %s in %s: %s", uid, i.folder, problem)
                box.flag(uid, (MailMessageFlags.FLAGGED, MailMessageFlags.SEEN), True)
                outcome = "set_aside"
            else:
                box.flag(uid, MailMessageFlags.SEEN, True)
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts
