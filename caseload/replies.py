"""Replies: what clients send back, matched to the question it answers.

- SMS (the providers' inbound webhooks, daemon/webhooks.py): the sender's number finds the client;
  the message the provider says was answered (CM.com) or else the latest question sent to them
  finds the question.
- Email (IMAP, read by channels.email_inbound; `fetch_imap`): the Reply-To address
  `reply+TOKEN@...` (or the message a reply answers) finds the message and so the client and the
  check-in; `unsubscribe+TOKEN@...` opts out of email. Auto-replies are kept as such and are no
  activity; a bounce fails its message and marks the address bad.
- One tap (links.py): a signed link names the check-in question; the value is in the link. A GET
  only shows it with a button (link scanners fetch every link); the POST records it, once.

Parsing (`parse_answer`): digits, words and emoji ("4", "goed", "slecht", "ja", "nee", a smiley)
become a typed value for the question's characteristic, recorded as an observation with source
'reply'. STOP / STOPPEN / AFMELDEN opt the client out of that channel at once and queue a
confirmation; START opts back in. Anything not understood is kept as a note with source 'reply'
(it puts the client on the attention list) and never dropped; so is a reply with more to say than
its answer ("Slecht. Ik heb geen geld voor de bus."), next to the observation. Every reply
counts as activity (`clients.last_reply`, `clients.last_activity`).

Each SMS provider's class (caseload/channels/sms/) reads its own webhooks into plain `Inbound` and
`Status` data; this module records them (`handle_sms`, `record_status`).
"""

import logging
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache

from . import access, activity, audit, checkins, client_texts, languages, outbox, policy
from .channels import BOUNCED, email_inbound
from .channels.sms import Inbound, Status
from .clock import iso
from .db import write_transaction
from .values import parse_bool, parse_date, parse_number

log = logging.getLogger("caseload.replies")

MAX_TEXT = 2000  # characters of a reply kept; a provider concatenates at most a few SMS parts
INVERTED = {"loneliness", "stress_level"}  # scales where a higher value is worse: no mood words
WORDS = {  # mood words -> 0 (worst) .. 1 (best), for scales where higher is better
    "heel slecht": 0, "zeer slecht": 0, "erg slecht": 0, "heel erg slecht": 0, "verschrikkelijk": 0,
    "vreselijk": 0, "very bad": 0, "terrible": 0, "awful": 0, "slecht": .25, "niet goed": .25, "bad": .25,
    "not good": .25, "not so good": .25, "niet zo goed": .25, "matig": .5, "gaat wel": .5, "redelijk": .5,
    "ok": .5, "oke": .5, "okay": .5, "so so": .5, "soso": .5, "zozo": .5, "neutraal": .5, "wisselend": .5,
    "goed": .75, "prima": .75, "good": .75, "fine": .75, "wel goed": .75, "gaat goed": .75, "best goed": .75,
    "heel goed": 1, "zeer goed": 1, "erg goed": 1, "heel erg goed": 1, "super": 1, "top": 1, "geweldig": 1,
    "uitstekend": 1, "fantastisch": 1, "great": 1, "very good": 1, "excellent": 1, "perfect": 1,
}
EMOJI = {
    "😭": 0, "😡": 0, "😩": 0, "😫": 0, "😖": 0, "😰": 0,
    "😞": .25, "😟": .25, "🙁": .25, "☹": .25, "😢": .25, "😔": .25, "😕": .25, "👎": .25,
    "😐": .5, "😑": .5, "🤷": .5, "😶": .5,
    "🙂": .75, "😊": .75, "👍": .75, "☺": .75, "😌": .75,
    "😀": 1, "😃": 1, "😄": 1, "😁": 1, "😍": 1, "🥰": 1, "🤩": 1, "💪": 1, "😆": 1,
}
YES_EMOJI, NO_EMOJI = {"👍", "✅", "✔"}, {"👎", "❌", "✖"}
NUMBER_WORDS = {"een": 1, "één": 1, "one": 1, "twee": 2, "two": 2, "drie": 3, "three": 3, "vier": 4, "four": 4,
                "vijf": 5, "five": 5, "zes": 6, "six": 6, "zeven": 7, "seven": 7, "acht": 8, "eight": 8,
                "negen": 9, "nine": 9, "tien": 10, "ten": 10, "nul": 0, "zero": 0}
_SKIN = re.compile("[\U0001F3FB-\U0001F3FF\uFE0F\uFE0E\u200D]")
# Arabic-script marks a reply may carry or leave out: harakat, tatweel, the dot of a capital İ
# folded, and bidi controls; then one spelling for letters written two ways (hamza on alef, yeh, kaf)
_MARKS = re.compile("[\u064B-\u065F\u0670\u0640\u0307\u200E\u200F\u061C\u202A-\u202E\u2066-\u2069]")
_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه",
                          "٫": ",", "٬": ""})
_INTS = re.compile(r"(?<![\d,.])[+-]?\d+(?:[.,]\d+)?(?![\d])")
_OUT_OF = re.compile(r"^\D*?(\d{1,2})\s*(?:/|van de|van|uit|out of|of|من|از|z|з)\s*(\d{1,2})\D*$")  # ٣ من ٥


# --- text -> meaning ------------------------------------------------------------------------

def _digits(text: str) -> str:
    """Decimal digits of every script (Arabic-Indic ٣, Persian ۳, Devanagari ३...) as 0-9."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.digit(ch)) if not ch.isascii() and unicodedata.category(ch) == "Nd" else ch
                   for ch in text)


def normalize(text: str) -> str:
    """NFKC, lower case, digits as 0-9, single spaces, without surrounding punctuation (of any
    script), variation selectors or Arabic-script marks."""
    text = unicodedata.normalize("NFKC", str(text))
    text = _SKIN.sub("", text).casefold()
    if not text.isascii():
        text = _digits(_MARKS.sub("", text)).translate(_LETTERS)
    text = " ".join(text.split())
    start, end = 0, len(text)
    while start < end and _edge(text[start]):
        start += 1
    while end > start and _edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _edge(ch: str) -> bool:
    """Punctuation and spaces of any script around a reply ("« ja »", "نعم؟", "እወ።"), also * and ~."""
    return ch in "*~" or unicodedata.category(ch)[0] in "PZ"


@cache
def _words(kind: str) -> frozenset:
    """The yes, no, stop or start words of every client language (client_texts), normalized."""
    return frozenset(normalize(w) for w in client_texts.words(kind))


def command(text: str) -> str | None:
    """"stop" or "start" when the whole reply is that keyword (a sentence that merely contains
    it is not a command), else None."""
    n = normalize(text)
    if n in _words("stop"):
        return "stop"
    if n in _words("start"):
        return "start"
    return None


def _level_to_scale(c, level: float) -> int:
    return int(c.min + round(level * (c.max - c.min)))


def _mood(text: str) -> float | None:
    n = normalize(text)
    if n in WORDS:
        return WORDS[n]
    squeezed = n.replace(" ", "")
    if squeezed and all(ch in EMOJI for ch in squeezed):
        levels = {EMOJI[ch] for ch in squeezed}
        return levels.pop() if len(levels) == 1 else None
    words = [w for w in re.split(r"[\s,.!?]+", n) if w]
    found = {WORDS[w] for w in words if w in WORDS} | {EMOJI[ch] for ch in n if ch in EMOJI}
    return found.pop() if len(found) == 1 else None


def _scale(c, text: str):
    n = normalize(text)
    m = _OUT_OF.match(n)
    if m and int(m[2]) == int(c.max) and c.min <= int(m[1]) <= c.max:
        return int(m[1])
    numbers = _INTS.findall(n)
    if len(numbers) == 1:
        try:
            v = parse_number(numbers[0])
        except ValueError:
            return None
        if v == int(v) and c.min <= v <= c.max:
            return int(v)
        return None
    if numbers:
        return None
    if n in NUMBER_WORDS and c.min <= NUMBER_WORDS[n] <= c.max:
        return NUMBER_WORDS[n]
    if c.key in INVERTED:
        return None
    level = _mood(text)
    return None if level is None else _level_to_scale(c, level)


def _bool(text: str):
    n = normalize(text)
    squeezed = n.replace(" ", "")
    if squeezed and all(ch in YES_EMOJI for ch in squeezed):
        return True
    if squeezed and all(ch in NO_EMOJI for ch in squeezed):
        return False
    yes, no = _words("yes"), _words("no")
    if n in yes:
        return True
    if n in no:
        return False
    words = [w for w in re.split(r"[\s,.!?;،؛]+", n) if w] or [""]
    if words[0] in yes and not any(w in no for w in words):
        return True
    if words[0] in no and not any(w in yes for w in words):
        return False
    try:
        return parse_bool(n)
    except ValueError:
        return None


# words that say nothing beyond an answer ("het gaat wel goed met me", "ik geef het een 4")
_FILLER = set("""
het gaat ging ik voel me mij mijn je jij u een de is was nu vandaag momenteel op dit moment deze week cijfer score
geef geven zou zeggen dank bedankt hoor hoi hallo dag beste ok oke okee en wel best heel erg zeer echt zo redelijk
met van uit punten punt sterren maar toch eigenlijk wel nog altijd
it i am im i'm feel feeling doing going the a very quite pretty really thanks thank you hi hello its it's of out so
""".split())


def more_than_an_answer(text: str) -> bool:
    """Whether a reply that gave an answer says more than that: three or more words that are not
    answer words or filler ("4, maar mijn knie doet pijn"). Such a reply is also kept as a note."""
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", normalize(text))
    answers = _words("yes") | _words("no") | _words("stop") | _words("start")
    rest = [w for w in words if w not in _FILLER and w not in WORDS and w not in NUMBER_WORDS and w not in answers]
    return len(rest) >= 3


def parse_answer(c, text: str):
    """The reply as a value of characteristic `c`, or None when it is not understood or `c` is
    not of a type a reply can fill (checkins.ANSWERABLE). Never raises; a value returned always
    passes `c.check`."""
    if not isinstance(text, str) or c.type not in checkins.ANSWERABLE:
        return None
    text = text[:MAX_TEXT]
    if not normalize(text):
        return None
    try:
        if c.type == "scale":
            v = _scale(c, text)
        elif c.type == "bool":
            v = _bool(text)
        elif c.type == "enum":
            v = c.parse(normalize(text))
        elif c.type == "number":
            numbers = _INTS.findall(normalize(text))
            v = parse_number(numbers[0]) if len(numbers) == 1 else None
        elif c.type == "date":
            v = parse_date(normalize(text)).isoformat()
        else:
            return None
        return None if v is None else c.check(v)
    except (ValueError, TypeError, OverflowError):
        return None


# --- provider payloads ----------------------------------------------------------------------

def record_status(store, s: Status, now: datetime | None = None) -> bool:
    """Record a delivery report in the outbox; False when nothing matched or changed."""
    if s.status is None:
        return False
    return outbox.record_delivery(store, s.status, message_id=s.message_id,
                                  provider_id=None if s.message_id is not None else s.provider_id,
                                  reason=s.reason, now=now)


# --- recording ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    outcome: str  # observation | note | stop | start | duplicate | unknown_sender | expired | invalid | confirm
    client_id: int | None = None
    language: str | None = None
    label: str | None = None  # a one-tap answer in the client's words


def _already(conn, provider: str, provider_id: str | None) -> bool:
    return provider_id is not None and conn.execute(
        "SELECT 1 FROM replies WHERE provider = ? AND provider_id = ?", [provider, provider_id]).fetchone() is not None


def _save(conn, cid, channel, provider, provider_id, message_id, checkin_id, position, text, outcome, now,
          unread: bool = False) -> None:
    """One reply row. `unread`: a person has to read it (free text kept as a note); everything
    else (an understood answer, a command, an auto-reply) is read when it arrives."""
    conn.execute("INSERT INTO replies (client_id, channel, provider, provider_id, message_id, checkin_id, position,"
                 " text, outcome, received_at, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 [cid, channel, provider, provider_id, message_id, checkin_id, position,
                  None if text is None else text[:MAX_TEXT], outcome, iso(now), None if unread else iso(now)])


def _note(conn, cid: int, text: str, now: datetime) -> None:
    conn.execute("INSERT INTO notes (client_id, text, source, author, created_at) VALUES (?, ?, 'reply', 'client', ?)",
                 [cid, text[:MAX_TEXT], iso(now)])


def answer(conn, store, checkin_id: int, position: int, value, now: datetime, channel: str) -> None:
    """Record a parsed answer to one question (inside the caller's transaction): the
    observation, the question answered, the next SMS question queued or the check-in closed."""
    row = conn.execute("SELECT q.client_id, q.characteristic, k.status FROM checkin_questions q"
                       " JOIN checkins k ON k.id = q.checkin_id WHERE q.checkin_id = ? AND q.position = ?",
                       [checkin_id, position]).fetchone()
    cid, key, kstatus = row
    from .clients import observe

    observe(conn, store, cid, key, value, iso(now), "reply", "client")
    conn.execute("UPDATE checkin_questions SET status = 'answered', answered_at = ? WHERE checkin_id = ?"
                 " AND position = ?", [iso(now), checkin_id, position])
    conn.execute("UPDATE checkins SET replied_at = COALESCE(replied_at, ?) WHERE id = ?", [iso(now), checkin_id])
    if kstatus == "open":
        pending = conn.execute("SELECT 1 FROM checkin_questions WHERE checkin_id = ? AND status IN ('queued', 'asked')",
                               [checkin_id]).fetchone()
        if pending is None and not (channel == "sms" and checkins.queue_next(conn, store, checkin_id, now)):
            activity.close_checkin(conn, checkin_id, now)


def _open_question(conn, cid: int, message_id: int | None = None):
    """(checkin id, position, key, status) of the question an SMS answers: the one asked in
    `message_id` when the provider told us, else the latest question sent to the client by SMS
    (a late answer still counts while no newer question went out; a second reply corrects)."""
    sql = ("SELECT q.checkin_id, q.position, q.characteristic, q.status FROM checkin_questions q"
           " JOIN checkins k ON k.id = q.checkin_id JOIN messages m ON m.id = q.message_id"
           " WHERE q.client_id = ? AND k.channel = 'sms' AND m.status IN ('sent', 'delivered')"
           " AND q.status IN ('queued', 'asked', 'unanswered', 'answered')")
    args = [cid]
    if message_id is not None:
        sql += " AND q.message_id = ?"
        args.append(message_id)
    sql += " ORDER BY m.sent_at DESC, m.id DESC LIMIT 1"
    return conn.execute(sql, args).fetchone()


def _confirm(conn, store, cid: int, channel: str, what: str, lang: str | None, now: datetime) -> None:
    second = conn.execute("SELECT second_language FROM clients WHERE id = ?", [cid]).fetchone()
    lang, _ = languages.choose(client_texts.has, lang, second[0] if second else None, store.config.message_language)
    lang = lang or store.config.message_language
    body = client_texts.text(f"reply.{what}_confirm_{channel}", lang)
    subject = client_texts.text(f"reply.{what}_subject", lang) if channel == "email" else None
    outbox.enqueue(store, cid, channel, body, subject=subject, kind="system", language=lang, conn=conn, now=now)


def _client_by_phone(conn, number: str) -> tuple[int, str | None] | None:
    rows = conn.execute("SELECT id, language FROM clients WHERE phone = ? AND status != 'erased' ORDER BY id",
                        [number]).fetchall()
    return rows[0] if len(rows) == 1 else None


def _command(store, cid: int, lang, channel: str, what: str, provider: str, provider_id, message_id, text,
             now: datetime) -> Result:
    # the opt-out first, in its own transaction, so it holds even if what follows fails; a replay
    # of the same webhook finds it done and only confirms
    policy.set_opt_out(store, cid, channel, opted_out=(what == "stop"), source="reply", now=now)
    with write_transaction(store.db) as conn:
        if _already(conn, provider, provider_id):
            return Result("duplicate", cid)
        _save(conn, cid, channel, provider, provider_id, message_id, None, None, text, what, now)
        activity.touch(conn, cid, now, reply=True)
        if what == "stop":
            conn.execute("UPDATE checkin_questions SET status = 'skipped' WHERE client_id = ? AND status = 'waiting'"
                         " AND checkin_id IN (SELECT id FROM checkins WHERE channel = ? AND status = 'open')",
                         [cid, channel])
        _confirm(conn, store, cid, channel, what, lang, now)
    return Result(what, cid, lang)


def handle_sms(store, msg: Inbound, now: datetime | None = None) -> Result:
    """An inbound SMS: a command, an answer to the open question, or a note. Idempotent per
    provider message id (providers retry webhooks)."""
    now = now or datetime.now(timezone.utc)
    found = _client_by_phone(store.conn, msg.number)
    if found is None:
        with write_transaction(store.db) as conn:
            if not _already(conn, msg.provider, msg.provider_id):
                _save(conn, None, "sms", msg.provider, msg.provider_id, None, None, None, None, "unknown_sender", now)
        log.info("reply from an unknown number (%s)", msg.provider)
        return Result("unknown_sender")
    cid, lang = found
    what = command(msg.text)
    ref_id = int(msg.reference) if msg.reference and msg.reference.isdigit() and len(msg.reference) <= 12 else None
    if what:
        return _command(store, cid, lang, "sms", what, msg.provider, msg.provider_id, ref_id, msg.text, now)
    actor = access.system_actor("daemon")
    with write_transaction(store.db) as conn:
        if _already(conn, msg.provider, msg.provider_id):
            return Result("duplicate", cid)
        if ref_id is not None and conn.execute("SELECT 1 FROM messages WHERE id = ? AND client_id = ?",
                                               [ref_id, cid]).fetchone() is None:
            ref_id = None
        q = _open_question(conn, cid, ref_id)
        outcome = "note"
        if q is not None:
            value = parse_answer(store.catalog[q[2]], msg.text) if q[2] in store.catalog else None
            if value is not None:
                answer(conn, store, q[0], q[1], value, now, "sms")
                outcome = "observation"
        kept = outcome == "note" or more_than_an_answer(msg.text)
        if kept:
            _note(conn, cid, msg.text, now)
        mid = conn.execute("SELECT message_id FROM checkin_questions WHERE checkin_id = ? AND position = ?",
                           [q[0], q[1]]).fetchone()[0] if q else ref_id
        _save(conn, cid, "sms", msg.provider, msg.provider_id, mid, q[0] if q else None, q[1] if q else None,
              msg.text, outcome, now, unread=kept)
        activity.touch(conn, cid, now, reply=True)
        audit.record(conn, actor, "reply", f"client:{cid}", outcome)
    return Result(outcome, cid, lang)


def _below_floor(conn, checkin_id: int) -> bool:
    """A link made before check-in ids were kept from reuse counts only for a check-in that
    existed then (migration 0010 kept the floor)."""
    row = conn.execute("SELECT below FROM id_floors WHERE name = 'checkins'").fetchone()
    return row is not None and checkin_id < row[0]


def tap(store, checkin_id: int, position: int, value_text: str, now: datetime | None = None, *,
        record: bool = True, legacy: bool = False) -> Result:
    """A one-tap answer from a verified link, recorded like a reply, once per question: a replay,
    or another option of the same question tapped later, changes nothing ("duplicate"). With
    record=False nothing is written (a GET, which link scanners make for every link in an email):
    "confirm" when a POST would record it. `label` is the answer in the client's words."""
    now = now or datetime.now(timezone.utc)
    if legacy and not _below_floor(store.conn, checkin_id):
        return Result("invalid")
    row = store.conn.execute(
        "SELECT q.client_id, q.characteristic, q.message_id, k.language, c.status FROM checkin_questions q"
        " JOIN checkins k ON k.id = q.checkin_id JOIN clients c ON c.id = q.client_id"
        " WHERE q.checkin_id = ? AND q.position = ?", [checkin_id, position]).fetchone()
    if row is None or row[1] not in store.catalog or row[4] in policy.NO_MESSAGES:
        return Result("invalid")
    cid, key, mid, lang, _ = row
    c = store.catalog[key]
    value = parse_answer(c, value_text)
    if value is None:
        return Result("invalid", cid, lang)
    label = checkins.answer_label(c, value, lang or store.config.message_language)
    once = f"{checkin_id}.{position}"  # check-in ids are never reused, so this names one question for good
    if _already(store.conn, "link", once):
        return Result("duplicate", cid, lang, label)
    if not record:
        return Result("confirm", cid, lang, label)
    with write_transaction(store.db) as conn:
        if _already(conn, "link", once):
            return Result("duplicate", cid, lang, label)
        answer(conn, store, checkin_id, position, value, now, "link")
        _save(conn, cid, "link", "link", once, mid, checkin_id, position, None, "observation", now)
        conn.execute("INSERT INTO clicks (message_id, client_id, kind, at) VALUES (?, ?, 'answer', ?)",
                     [mid, cid, iso(now)])
        activity.touch(conn, cid, now, reply=True)
        audit.record(conn, access.system_actor("daemon"), "reply", f"client:{cid}", "observation")
    return Result("observation", cid, lang, label)


def click(store, message_token: str, now: datetime | None = None, item_id: int | None = None) -> bool:
    """A click on a tracked link in a message: activity for its client. A click on an item of a
    digest (`item_id`) is recorded against the item too, and marks the offer clicked (once)."""
    now = now or datetime.now(timezone.utc)
    m = outbox.find_by_token(store, message_token)
    if m is None:
        return False
    with write_transaction(store.db) as conn:
        if conn.execute("SELECT 1 FROM clients WHERE id = ?", [m["client_id"]]).fetchone() is None:
            return False
        if item_id is not None and conn.execute("SELECT 1 FROM items WHERE id = ?", [item_id]).fetchone() is None:
            item_id = None  # the item was removed since: still the client's activity
        conn.execute("INSERT INTO clicks (message_id, client_id, kind, at, item_id) VALUES (?, ?, 'link', ?, ?)",
                     [m["id"], m["client_id"], iso(now), item_id])
        if item_id is not None:
            conn.execute("UPDATE offers SET clicked_at = ? WHERE message_id = ? AND item_id = ? AND clicked_at IS NULL",
                         [iso(now), m["id"], item_id])
        activity.touch(conn, m["client_id"], now, reply=False)
    return True


def unsubscribe(store, message_token: str, now: datetime | None = None) -> Result:
    """The one-click unsubscribe of an email (List-Unsubscribe): opt out of email at once."""
    now = now or datetime.now(timezone.utc)
    m = outbox.find_by_token(store, message_token)
    if m is None:
        return Result("invalid")
    row = store.conn.execute("SELECT language FROM clients WHERE id = ?", [m["client_id"]]).fetchone()
    if row is None:
        return Result("invalid")
    changed = policy.set_opt_out(store, m["client_id"], "email", opted_out=True, source="link", now=now)
    if changed:
        with write_transaction(store.db) as conn:
            conn.execute("INSERT INTO clicks (message_id, client_id, kind, at) VALUES (?, ?, 'unsubscribe', ?)",
                         [m["id"], m["client_id"], iso(now)])
    return Result("stop", m["client_id"], row[0])


# --- email ----------------------------------------------------------------------------------

def handle_email(store, mail, now: datetime | None = None) -> Result:
    """One email from the reply mailbox: raw bytes, or what channels.email_inbound read of them.
    Matched by the token of the address it was sent to (or of the message it answers). A reply
    answers the questions of that message one per line (a later reply corrects an earlier
    answer); text beyond a bare answer is kept as a note. An auto-reply is recorded and is no
    activity; a bounce fails its message and marks the address bad (see `_bounce`). Idempotent per
    Message-ID. Raises email_inbound.BadMail for bytes that cannot be read."""
    now = now or datetime.now(timezone.utc)
    if isinstance(mail, (bytes, bytearray)):
        mail = email_inbound.read(bytes(mail))
    if mail.address is None:
        return Result("unknown_sender")
    kind, token = mail.address
    m = outbox.find_by_token(store, token)
    if m is None:
        return Result("unknown_sender")
    cid = m["client_id"]
    row = store.conn.execute("SELECT language FROM clients WHERE id = ?", [cid]).fetchone()
    if row is None:
        return Result("unknown_sender")
    lang = row[0]
    if mail.kind == email_inbound.BOUNCE:
        return _bounce(store, m, mail, now)
    if kind == "unsubscribe":  # also when a program sent it for the client (it may say Auto-Submitted)
        return _command(store, cid, lang, "email", "stop", "email", mail.mail_id, m["id"], None, now)
    if mail.kind == email_inbound.AUTO_REPLY:
        with write_transaction(store.db) as conn:
            if _already(conn, "email", mail.mail_id):
                return Result("duplicate", cid)
            # an out-of-office is not the client: no text kept, no activity, the question stays open
            _save(conn, cid, "email", "email", mail.mail_id, m["id"], None, None, None, "auto_reply", now)
            audit.record(conn, access.system_actor("daemon"), "reply", f"client:{cid}", "auto_reply")
        return Result("auto_reply", cid, lang)
    text = mail.text
    lines = [ln for ln in text.split("\n") if ln.strip()]
    what = command(lines[0]) if len(lines) == 1 else None
    if what:
        return _command(store, cid, lang, "email", what, "email", mail.mail_id, m["id"], text, now)
    actor = access.system_actor("daemon")
    with write_transaction(store.db) as conn:
        if _already(conn, "email", mail.mail_id):
            return Result("duplicate", cid)
        # an answered question is answered again by a later reply: the newer answer corrects it
        questions = conn.execute(
            "SELECT q.checkin_id, q.position, q.characteristic FROM checkin_questions q WHERE q.message_id = ?"
            " AND q.status IN ('queued', 'asked', 'unanswered', 'answered') ORDER BY q.position", [m["id"]]).fetchall()
        pairs = [(questions[0], lines[0])] if len(lines) == 1 and questions else list(zip(questions, lines))
        answered, keep = 0, len(lines) > len(pairs)  # lines beyond the questions: a note
        for (kid, pos, key), line in pairs:
            value = parse_answer(store.catalog[key], line) if key in store.catalog else None
            if value is None:
                keep = True
            else:
                answer(conn, store, kid, pos, value, now, "email")
                answered += 1
                keep = keep or more_than_an_answer(line)
        outcome = "observation" if answered else "note"
        kept = bool((keep or not answered) and text.strip())
        if kept:
            _note(conn, cid, text, now)
        _save(conn, cid, "email", "email", mail.mail_id, m["id"], questions[0][0] if questions else None, None, text,
              outcome, now, unread=kept)
        activity.touch(conn, cid, now, reply=True)
        audit.record(conn, actor, "reply", f"client:{cid}", outcome)
    return Result(outcome, cid, lang)


def _bounce(store, m: dict, mail, now: datetime) -> Result:
    """A delivery status notification about message `m`. When delivery failed, the message is
    failed ("bounced"); when the status is permanent (5.x.x), the client's email address is
    marked bad (bad_addresses, until the address changes): their next emails fail at once with
    the same reason, which tells that another channel may reach them (channels.UNREACHABLE).
    A delay report changes nothing. Never activity of the client."""
    cid = m["client_id"]
    outcome = "bounce" if mail.failed else "delivery_notice"
    if mail.failed:
        outbox.record_delivery(store, "failed", message_id=m["id"], reason=BOUNCED, now=now)
    with write_transaction(store.db) as conn:
        if _already(conn, "email", mail.mail_id):
            return Result("duplicate", cid)
        if mail.failed and (mail.status is None or mail.status.startswith("5")) and m["channel"] == "email":
            conn.execute("INSERT OR REPLACE INTO bad_addresses (client_id, channel, reason, status, message_id, at)"
                         " VALUES (?, 'email', ?, ?, ?, ?)", [cid, BOUNCED, mail.status, m["id"], iso(now)])
        _save(conn, cid, "email", "email", mail.mail_id, m["id"], None, None, None, outcome, now)
        audit.record(conn, access.system_actor("daemon"), "bounce", f"client:{cid}", mail.status or outcome)
    log.info("%s for message %d (%s)", outcome, m["id"], mail.status or "no status")
    return Result(outcome, cid)


def fetch_imap(store, now: datetime | None = None, limit: int = 500) -> dict:
    """Read the reply mailbox (channels.email_inbound.fetch) and record each mail (`handle_email`).
    A locked database ends the run with the mail unseen, for the next; any other problem with one
    mail sets it aside there."""
    from .secrets import SecretMissing, get_secret

    if not store.config.imap.host:
        return {"skipped": "imap off"}
    password = get_secret("imap_password")
    if password is None:
        raise SecretMissing("imap_password")
    return email_inbound.fetch(store.config, password, lambda mail: handle_email(store, mail, now).outcome,
                               limit=limit, retry=(sqlite3.OperationalError,))
