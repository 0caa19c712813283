"""Letters for clients who prefer post: a template's text, rendered for each such client, as one
printable HTML file (a letter per A4 page, the address where a window envelope shows it) or as
a CSV for a mail merge on the organisation's own letterhead.

No message goes to a client who prefers letters unless a coach picks a channel
(outbox.queue.channel_order); this export is how they are reached. It takes the clients who
prefer letters among those the actor may see (in a segment, when given), renders the template's
email text (its subject is the letter's subject; a template without one: its SMS text) in the
client's language, and leaves out clients without a postal address (counted). Nothing is
written but the audit trail: one `letter` entry per client in the export, which the client's
conversation (caseload.timeline) shows.
"""

import csv
import html
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from . import access, audit, clock, languages, segments, templates
from .db import write_transaction
from .errors import BadInput
from .exporter import spreadsheet_safe
from .i18n import t
from .policy import NO_MESSAGES

FORMATS = ("html", "csv")
CSV_COLUMNS = ("client_number", "name", "address", "postal_code", "city", "date", "subject", "body")
_FIELDS = ("id", "client_number", "first_name", "last_name", "email", "phone", "language", "preferred_channel",
           "coach", "intake_date", "birth_date", "status", "outflow_type", "outflow_date", "address", "postal_code",
           "city")


@dataclass
class Letter:
    client_id: int
    client_number: str
    name: str
    address: str
    postal_code: str
    city: str
    language: str
    subject: str
    body: str


@dataclass
class LetterPlan:
    template: str
    letters: list[Letter] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def plan_letters(store, actor, template: str, segment: str | None = None) -> LetterPlan:
    """The letters an export would hold; writes nothing. A text that cannot be rendered for a
    client stops the plan with BadInput naming the client."""
    access.require(actor, "coach", "teamlead", "admin")
    found = templates.variants(store, template)
    fallback = store.config.message_language
    scope, params = access.client_scope(actor, "clients")
    where, seg_params = segments.resolve_where(store, segment) if segment else ("1", [])
    names: set[str] = set()
    for v in found:
        names |= templates.names_used(store, v)
    cols = templates.profile_columns(store, names)
    select = ", ".join([*(f"clients.{f}" for f in _FIELDS),
                        *(f"profile.{templates.quote_column(c.column)}" for c in cols)])
    rows = store.db.execute(
        f"SELECT {select} FROM clients LEFT JOIN profile ON profile.client_id = clients.id"
        f" WHERE ({scope}) AND ({where}) AND clients.preferred_channel = 'letter' ORDER BY clients.postal_code,"
        " clients.client_number", [*params, *seg_params]).fetchall()
    plan, renderer = LetterPlan(template), templates.Renderer(store)
    for r in rows:
        client = dict(zip(_FIELDS, r))
        if client["status"] in NO_MESSAGES:
            plan.skipped["outflow"] += 1
            continue
        if not (client["address"] and client["postal_code"] and client["city"]):
            plan.skipped["no_postal_address"] += 1
            continue
        variant = (templates.pick(found, "email", client["language"], fallback)
                   or templates.pick(found, "sms", client["language"], fallback))
        if variant is None:
            plan.skipped["no_template"] += 1
            continue
        profile = dict(zip([c.column for c in cols], r[len(_FIELDS):]))
        try:
            rendered = renderer.render(variant, templates.context(store, client, profile, names, variant.language))
        except BadInput as e:
            raise BadInput(t("queue.render_failed", number=client["client_number"], error=e.message)) from None
        plan.letters.append(Letter(client["id"], client["client_number"],
                                   " ".join(x for x in (client["first_name"], client["last_name"]) if x),
                                   client["address"], client["postal_code"], client["city"], variant.language,
                                   rendered.subject or "", rendered.body))
    return plan


def write(store, actor, plan: LetterPlan, out, fmt: str = "html", now: datetime | None = None) -> int:
    """Write the letters to `out` (a text stream) and audit each; returns how many."""
    access.require(actor, "coach", "teamlead", "admin")
    if fmt not in FORMATS:
        raise BadInput(t("letters.bad_format", format=fmt, allowed=", ".join(FORMATS)))
    day = clock.now(now).astimezone(store.tz).date()
    with write_transaction(store.db) as conn:
        for letter in plan.letters:
            audit.record(conn, actor, "letter", f"client:{letter.client_id}", plan.template)
        if fmt == "csv":
            w = csv.writer(out, lineterminator="\n")
            w.writerow(CSV_COLUMNS)
            for x in plan.letters:  # a cell a spreadsheet would take for a formula is neutralised
                w.writerow([spreadsheet_safe(v) for v in (x.client_number, x.name, x.address, x.postal_code, x.city,
                                                          _date(day, x.language), x.subject, x.body)])
        else:
            out.write(_html(store, plan, day))
    return len(plan.letters)


MONTHS = {"nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
                 "november", "december"),
          "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December")}


def _date(day, lang: str) -> str:
    """The letter's date as a letter writes it: 4 december 2026 in Dutch; ISO in a language without months here."""
    months = MONTHS.get(lang)
    return f"{day.day} {months[day.month - 1]} {day.year}" if months else day.isoformat()


# A4, the address 50 mm from the top and 20 mm from the left (where a left-window envelope, C5 or
# EA5/6 folded in three, shows it), a page per letter.
_STYLE = """
@page { size: A4; margin: 0; }
* { box-sizing: border-box; }
body { margin: 0; font: 11pt/1.45 "DejaVu Sans", Arial, sans-serif; color: #000; }
.letter { position: relative; width: 210mm; height: 297mm; padding: 20mm 20mm 25mm 25mm;
          page-break-after: always; break-after: page; overflow: hidden; }
.letter:last-child { page-break-after: auto; break-after: auto; }
.from { position: absolute; top: 20mm; left: 25mm; font-weight: bold; }
.to { position: absolute; top: 50mm; left: 25mm; width: 85mm; height: 40mm; }
.date { position: absolute; top: 100mm; left: 25mm; }
.subject { position: absolute; top: 108mm; left: 25mm; right: 20mm; font-weight: bold; }
.text { position: absolute; top: 122mm; left: 25mm; right: 20mm; white-space: pre-wrap; }
@media screen { body { background: #ddd; } .letter { background: #fff; margin: 10mm auto; } }
"""


def _html(store, plan: LetterPlan, day) -> str:
    e = html.escape
    org = e(store.config.organisation.name)
    pages = []
    for x in plan.letters:
        rtl = ' dir="rtl"' if languages.rtl(x.language) else ""
        pages.append(
            f'<section class="letter" lang="{e(x.language)}">'
            f'<div class="from">{org}</div>'
            f'<div class="to">{e(x.name)}<br>{e(x.address)}<br>{e(x.postal_code)}&nbsp;&nbsp;{e(x.city)}</div>'
            f'<div class="date">{e(_date(day, x.language))}</div>'
            f'<div class="subject"{rtl}>{e(x.subject)}</div>'
            f'<div class="text"{rtl}>{e(x.body)}</div></section>')
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{e(t('letters.title', template=plan.template))}</title><style>{_STYLE}</style></head>"
            f"<body>\n{chr(10).join(pages)}\n</body></html>\n")
