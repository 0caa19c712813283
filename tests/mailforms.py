"""Email replies in the forms real mail programs write them, as raw bytes: plain, quoted
(Gmail's plain text, its "Op ... schreef" line wrapped), Outlook-style (the underscore line and a
Van:/Verzonden: block), forwarded (Gmail's "Forwarded message"), ISO-8859-1, HTML-only (Gmail's
gmail_quote, Outlook on the web's divRplyFwdMsg), with a signature; and the mails that are no
replies: an undecodable one, auto-replies, a Postfix bounce (DSN). Each quotes the original
message it answers (a check-in with its one-tap links) the way that program does.

    FORMS: name -> (answer the client typed, builder(to, original_text, original_html, answer) -> bytes)
"""

from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone
from html import escape

WHEN = datetime(2025, 6, 16, 12, 0, tzinfo=timezone.utc)
SENDER = "Werkplein Testdorp <noreply@testdorp.example>"


def _base(to: str, subject: str = "Re: Hoe gaat het met je?", mid: str = "<reply-{n}@mail.example>",
          n: int = 1, in_reply_to: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Klant <klant@clients.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(WHEN)
    msg["Message-ID"] = mid.format(n=n)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    return msg


def _quoted(text: str) -> str:
    return "\n".join("> " + ln if ln else ">" for ln in text.splitlines())


def plain(to, original, html, answer, n=1):
    msg = _base(to, n=n)
    msg.set_content(answer + "\n")
    return msg.as_bytes()


def quoted(to, original, html, answer, n=2):
    # Gmail wraps the attribution line at 78 characters, before the address
    msg = _base(to, n=n)
    msg.set_content(f"{answer}\n\nOp ma 16 jun 2025 om 12:00 schreef Werkplein Testdorp <\nnoreply@testdorp.example>:\n\n"
                    f"{_quoted(original)}\n")
    return msg.as_bytes()


def outlook(to, original, html, answer, n=3):
    msg = _base(to, subject="RE: Hoe gaat het met je?", n=n)
    msg.set_content(f"{answer}\n\n________________________________\nVan: {SENDER}\nVerzonden: maandag 16 juni 2025 14:00\n"
                    f"Aan: Klant <klant@clients.example>\nOnderwerp: Hoe gaat het met je?\n\n{original}\n")
    return msg.as_bytes()


def forwarded(to, original, html, answer, n=4):
    msg = _base(to, subject="Fwd: Hoe gaat het met je?", n=n)
    msg.set_content(f"{answer}\n\n---------- Forwarded message ---------\nFrom: {SENDER}\n"
                    f"Date: Mon, 16 Jun 2025 at 14:00\nSubject: Hoe gaat het met je?\nTo: <klant@clients.example>\n\n"
                    f"{original}\n")
    return msg.as_bytes()


def latin1(to, original, html, answer, n=5):
    msg = _base(to, n=n)
    body = f"{answer}\n\nOp 16-06-2025 om 14:00 schreef Werkplein Testdorp:\n{_quoted(original)}\n"
    msg.set_content(body.encode("iso-8859-1", "replace"), maintype="text", subtype="plain",
                    cte="quoted-printable")
    msg.replace_header("Content-Type", 'text/plain; charset="iso-8859-1"')
    return msg.as_bytes()


def gmail_html(to, original, html, answer, n=6):
    msg = _base(to, n=n)
    quote = html if html else "<br>".join(escape(ln) for ln in original.splitlines())
    links = "".join(f'<a href="https://caseload.testdorp.example/a/x{i}/{i}">{i}</a> ' for i in range(1, 6))
    msg.set_content(
        f'<div dir="ltr">{escape(answer)}<br></div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f'Op ma 16 jun 2025 om 14:00 schreef Werkplein Testdorp &lt;<a href="mailto:noreply@testdorp.example">'
        f'noreply@testdorp.example</a>&gt;:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        f'border-left:1px solid rgb(204,204,204);padding-left:1ex">{quote}<br>{links}</blockquote></div>\n',
        subtype="html")
    return msg.as_bytes()


def outlook_html(to, original, html, answer, n=7):
    msg = _base(to, subject="RE: Hoe gaat het met je?", n=n)
    quote = "<br>".join(escape(ln) for ln in original.splitlines())
    msg.set_content(
        f'<html><head><style>p {{margin:0}}</style></head><body><div style="font-family:Calibri">{escape(answer)}</div>'
        '<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
        f'<div id="divRplyFwdMsg" dir="ltr"><b>Van:</b> {escape(SENDER)}<br><b>Verzonden:</b> maandag 16 juni 2025'
        f' 14:00<br><b>Onderwerp:</b> Hoe gaat het met je?</div><div>{quote}'
        '<a href="https://caseload.testdorp.example/a/x/5">5</a></div></body></html>\n', subtype="html")
    return msg.as_bytes()


def signature(to, original, html, answer, n=8):
    msg = _base(to, n=n)
    msg.set_content(f"{answer}\n\nMet vriendelijke groet,\nJan de Vries\nKerkstraat 1, Testdorp\n06-12345678\n\n"
                    "Verzonden vanaf mijn iPhone\n")
    return msg.as_bytes()


def dash_signature(to, original, html, answer, n=9):
    msg = _base(to, n=n)
    msg.set_content(f"{answer}\n-- \nJan de Vries | 06-12345678 | https://jandevries.example\n")
    return msg.as_bytes()


FORMS = {
    "plain": plain, "quoted": quoted, "outlook": outlook, "forwarded": forwarded, "iso-8859-1": latin1,
    "html-only gmail": gmail_html, "html-only outlook": outlook_html, "signature": signature,
    "dash signature": dash_signature,
}


# --- mails that are no replies ----------------------------------------------------------------

def undecodable(to, n=20):
    """A mail in a charset nobody knows (Python raises LookupError when it decodes it)."""
    return (f"From: Klant <klant@clients.example>\r\nTo: {to}\r\nSubject: Re: vraag\r\n"
            f"Message-ID: <bad-{n}@mail.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=\"x-unknown-charset-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "<p>4 \xe9\xe9n</p>\r\n").encode("latin-1")


AUTO_HEADERS = [("Auto-Submitted", "auto-replied"), ("X-Autoreply", "yes"), ("X-Autorespond", "Afwezig"),
                ("Precedence", "auto_reply")]


def auto_reply(to, header=AUTO_HEADERS[0], n=30):
    msg = _base(to, subject="Automatisch antwoord: Hoe gaat het met je?", n=n)
    msg[header[0]] = header[1]
    msg.set_content("Ik ben afwezig tot en met 30 juni en lees mijn mail niet. Goed weekend!\n")
    return msg.as_bytes()


def dsn(to, original_message_id: str, action="failed", status="5.1.1", rcpt="weg@gone.example", n=40,
        headers_part="text/rfc822-headers"):
    """A delivery status notification as Postfix writes it."""
    boundary = f"B{n}.1718539200/mail.test.example"
    return (
        f"Return-Path: <>\r\nDelivered-To: {to}\r\nDate: Mon, 16 Jun 2025 14:00:01 +0000 (UTC)\r\n"
        "From: MAILER-DAEMON@test.example (Mail Delivery System)\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nTo: {to}\r\nAuto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n"
        f"\tboundary=\"{boundary}\"\r\nMessage-Id: <dsn-{n}@mail.test.example>\r\n\r\n"
        f"This is a MIME-encapsulated message.\r\n\r\n--{boundary}\r\nContent-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nThis is the mail system at host mail.test.example.\r\n\r\n"
        f"<{rcpt}>: host gone.example said: 550 5.1.1 User unknown\r\n\r\n"
        f"--{boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.test.example\r\nArrival-Date: Mon, 16 Jun 2025 14:00:00 +0000 (UTC)\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\nOriginal-Recipient: rfc822;{rcpt}\r\nAction: {action}\r\n"
        f"Status: {status}\r\nDiagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: User unknown\r\n\r\n"
        f"--{boundary}\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: {headers_part}\r\n\r\n"
        f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: Hoe gaat het met je?\r\nMessage-ID: {original_message_id}\r\n\r\n"
        f"--{boundary}--\r\n").encode()
