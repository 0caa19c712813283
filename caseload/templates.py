"""Templates: message text with placeholders, per language and per channel (SMS, or email with
a subject and an optional HTML part), rendered with Jinja2's sandbox.

Placeholders are client fields (`{{ first_name }}`), `{{ organisation }}` and characteristics
by key (`{{ interests }}`). A special-category characteristic (health...) is refused unless its
catalog entry sets `allow_in_messages = true`; this is checked when a template is added and
again every time it is rendered, and such values are never even in the rendering context.
A template is looked up in the client's language, else in config's message language.

A template (a name, with its variants) is shared for reading; its owner, their team lead or an
admin change or delete it (caseload.owners).
"""

import re
import unicodedata
from dataclasses import dataclass, field

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import TemplateError

from . import access, audit, languages, sandbox
from .channels.sms import MAX_PARTS, sms_info
from .clock import utcnow
from .db import write_transaction
from .errors import BadInput, NotFound
from .fields import FIELDS
from . import i18n
from .i18n import t

CHANNELS = ("sms", "email")
EXTRA = ("organisation",)
MAX_NAME = 80
MAX_TEXT = 20_000
COLUMNS = ("id", "name", "channel", "language", "subject", "body", "html", "author", "created_at", "updated_at",
           "owner")


@dataclass(frozen=True)
class Template:
    id: int
    name: str
    channel: str
    language: str
    subject: str | None
    body: str
    html: str | None
    author: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    owner: str | None = None

    def parts(self) -> list[tuple[str, str, bool]]:
        """(part, source, is_html) for each text the template has."""
        out = [("body", self.body, False)]
        if self.subject is not None:
            out.insert(0, ("subject", self.subject, False))
        if self.html is not None:
            out.append(("html", self.html, True))
        return out


@dataclass(frozen=True)
class Rendered:
    body: str
    subject: str | None = None
    html: str | None = None


def _finalize(value):
    if value is None:
        return ""
    sandbox.charge_output(value)
    return value


_ENVS: dict[bool, sandbox.BudgetEnvironment] = {}


def environment(html: bool = False) -> sandbox.BudgetEnvironment:
    """The sandbox with a render budget (sandbox.py): a template is untrusted work."""
    if html not in _ENVS:
        _ENVS[html] = sandbox.BudgetEnvironment(undefined=StrictUndefined, autoescape=html, finalize=_finalize,
                                                keep_trailing_newline=False)
    return _ENVS[html]


# --- checking -------------------------------------------------------------------------------

def placeholder_names(store) -> list[str]:
    """Every name a template may use."""
    names = [*FIELDS, *EXTRA]
    names += [c.key for c in store.catalog if c.key not in FIELDS and (not c.special or c.allow_in_messages)]
    return names


def _where(source: str, tree, name: str) -> tuple[int, int]:
    line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 1)
    lines = source.splitlines() or [""]
    m = re.search(rf"\b{re.escape(name)}\b", lines[min(line, len(lines)) - 1])
    return line, (m.start() + 1 if m else 1)


def _refusal(store, name: str) -> str | None:
    """Why a name may not be used in a message, or None when it may."""
    if name in FIELDS or name in EXTRA:
        return None
    c = store.catalog.get(name)
    if c is None:
        import difflib

        near = difflib.get_close_matches(name, placeholder_names(store), n=3, cutoff=0.6)
        return t("template.unknown_placeholder", name=name) + (
            t("catalog.did_you_mean", names=", ".join(near)) if near else "")
    if c.special and not c.allow_in_messages:
        return t("template.special_refused", name=name)
    return None


def check_source(store, source: str, part: str, html: bool = False) -> set[str]:
    """The placeholders a template text uses; BadInput names the part, line and column of the
    first problem (syntax, unknown name, refused special-category characteristic)."""
    if len(source) > MAX_TEXT:
        raise BadInput(t("template.too_long", part=part, max=MAX_TEXT))
    try:
        tree = environment(html).parse(source)
        environment(html).compile(tree)  # an unknown filter or test shows here, not at send time
    except TemplateSyntaxError as e:
        raise BadInput(t("template.syntax", part=part, line=e.lineno or 1, error=jinja_message(e.message))) from None
    names = meta.find_undeclared_variables(tree)
    for name in sorted(names):
        why = _refusal(store, name)
        if why:
            line, col = _where(source, tree, name)
            raise BadInput(t("template.at", part=part, line=line, column=col, error=why))
    return names


def names_used(store, template: Template) -> set[str]:
    out: set[str] = set()
    for part, source, html in template.parts():
        out |= check_source(store, source, part, html)
    return out


# --- storing --------------------------------------------------------------------------------

def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME or any(unicodedata.category(c).startswith("C") for c in name):
        raise BadInput(t("template.bad_name", max=MAX_NAME))
    return name


def _row(r) -> Template:
    return Template(*r)


def add_template(store, actor, name: str, channel: str, body: str, language: str | None = None,
                 subject: str | None = None, html: str | None = None, replace: bool = False) -> Template:
    """Add (or with replace=True, change) one variant: name + channel + language. Audited. A
    variant joins its template's owner; adding or changing one is for that owner, their team lead
    or an admin, and for who may change every scheduled campaign that sends the template."""
    from . import owners

    access.require(actor, "coach", "teamlead", "admin")
    name = _check_name(name)
    if channel not in CHANNELS:
        raise BadInput(t("template.bad_channel", channel=channel, allowed=", ".join(CHANNELS)))
    language = languages.check_code(language, "--lang") if language else store.config.message_language
    if not body or not body.strip():
        raise BadInput(t("template.empty_body"))
    if channel == "email" and not (subject or "").strip():
        raise BadInput(t("template.needs_subject"))
    if channel == "sms" and (subject is not None or html is not None):
        raise BadInput(t("template.sms_plain"))
    draft = Template(0, name, channel, language, subject, body, html)
    check_budget(store, draft)
    now = utcnow()
    with write_transaction(store.db) as conn:
        row = conn.execute("SELECT id FROM templates WHERE name = ? AND channel = ? AND language = ?",
                           [name, channel, language]).fetchone()
        if row and not replace:
            raise BadInput(t("template.exists", name=name, channel=channel, language=language))
        owned = [r[0] for r in conn.execute("SELECT DISTINCT owner FROM templates WHERE name = ? ORDER BY id", [name])]
        what = t("owners.template", name=name)
        for owner in owned:
            owners.require(conn, actor, owner, what)
        users = owners.users_of_template(conn, name) if owned else []
        owners.require_users(conn, actor, users, what)
        if row:
            conn.execute("UPDATE templates SET subject = ?, body = ?, html = ?, author = ?, updated_at = ? WHERE id = ?",
                         [subject, body, html, actor.name, now, row[0]])
            tid = row[0]
        else:
            tid = conn.execute(
                "INSERT INTO templates (name, channel, language, subject, body, html, owner, author, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [name, channel, language, subject, body, html, owned[0] if owned else actor.name, actor.name, now, now],
            ).lastrowid
        audit.record(store.db, actor, "template_change" if row else "template_add", f"template:{tid}")
        owners.record_change(conn, actor, users, f"template:{tid}")
    return get_variant(store, tid)


def get_variant(store, template_id: int) -> Template:
    r = store.db.execute(f"SELECT {', '.join(COLUMNS)} FROM templates WHERE id = ?", [template_id]).fetchone()
    if r is None:
        raise NotFound(t("template.not_found", name=template_id))
    return _row(r)


def variants(store, name: str, conn=None) -> list[Template]:
    """Every variant of a template; `conn`: read through this connection (another thread's)."""
    rows = (conn or store.db).execute(f"SELECT {', '.join(COLUMNS)} FROM templates WHERE name = ? ORDER BY channel, language",
                            [name]).fetchall()
    if not rows:
        raise NotFound(t("template.not_found", name=name))
    return [_row(r) for r in rows]


LIST_COLUMNS = ("name", "channel", "language", "subject", "owner", "author", "updated_at")


def list_templates(store) -> list[dict]:
    """Every variant, with its owner and who last changed it (author)."""
    return [dict(zip(LIST_COLUMNS, r)) for r in store.db.execute(
        f"SELECT {', '.join(LIST_COLUMNS)} FROM templates ORDER BY name, channel, language")]


def delete_template(store, actor, name: str, channel: str | None = None, language: str | None = None) -> int:
    """Delete a template's variants (all, or those of one channel and/or language): for its owner,
    their team lead or an admin; refused while an active scheduled campaign sends it. Audited."""
    from . import owners

    access.require(actor, "coach", "teamlead", "admin")
    language = languages.check_code(language, "--lang") if language else None
    found = [v for v in variants(store, name) if channel in (None, v.channel) and language in (None, v.language)]
    if not found:
        raise NotFound(t("template.no_variant", name=name, channel=channel or "-", language=language or "-"))
    with write_transaction(store.db) as conn:
        for owner in dict.fromkeys(v.owner for v in found):
            owners.require(conn, actor, owner, t("owners.template", name=name))
        users = owners.users_of_template(conn, name)
        if users:
            raise BadInput(t("owners.template_in_use", name=name, users=", ".join(u.title for u in users)))
        for v in found:
            conn.execute("DELETE FROM templates WHERE id = ?", [v.id])
            audit.record(conn, actor, "template_delete", f"template:{v.id}")
    return len(found)


def pick(found: list[Template], channel: str, language: str | None, fallback: str,
         second: str | None = None) -> Template | None:
    """The variant for a channel in the client's language, else their second language, else the
    fallback language (caseload.languages.choose)."""
    by_lang = {v.language: v for v in found if v.channel == channel}
    code, _ = languages.choose(by_lang, language, second, fallback)
    return by_lang.get(code) if code else None


# --- rendering ------------------------------------------------------------------------------

def _template_line(exc: BaseException) -> int | None:
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@dataclass
class Renderer:
    """Renders many clients with one template, compiling each text once. Checks the names again
    against the catalog as it is now (a characteristic may have become special)."""

    store: object
    _compiled: dict = field(default_factory=dict)
    _over: dict = field(default_factory=dict)  # variant -> why, once it went over its budget

    def _compile(self, template: Template):
        key = (template.id, template.name, template.channel, template.language)
        if key not in self._compiled:
            names_used(self.store, template)
            self._compiled[key] = [(part, environment(html).from_string(source))
                                   for part, source, html in template.parts()]
        return self._compiled[key]

    def render(self, template: Template, context: dict) -> Rendered:
        """The texts for one client; BadInput when they cannot be rendered. A variant that went
        over its render budget once fails at once for every later client, so a campaign of
        thousands costs one budget, not thousands."""
        key = (template.id, template.name, template.channel, template.language)
        if key in self._over:
            raise BadInput(self._over[key])
        out = {}
        for part, compiled in self._compile(template):
            try:
                out[part] = sandbox.render(compiled, context)
            except sandbox.OverBudget as e:
                self._over[key] = over_budget(template.name, part, e.what)
                raise BadInput(self._over[key]) from None
            except TemplateError as e:
                raise BadInput(t("template.render_error", name=template.name, part=part,
                                 line=_template_line(e) or "?", error=jinja_message(e.message, type(e).__name__))) from None
            except Exception as e:  # a filter choking on a value: name the kind, never the value
                raise BadInput(t("template.render_error", name=template.name, part=part,
                                 line=_template_line(e) or "?", error=type(e).__name__)) from None
        body = out["body"].strip()
        if not body:
            raise BadInput(t("template.rendered_empty", name=template.name))
        if template.channel == "sms":
            info = sms_info(body)
            if info.parts > MAX_PARTS:
                raise BadInput(t("template.sms_too_long", name=template.name, parts=info.parts, max=MAX_PARTS))
        subject = " ".join(out["subject"].split()) if "subject" in out else None
        return Rendered(body=body, subject=subject, html=out.get("html"))


def over_budget(name: str, part: str, what: str) -> str:
    limits = sandbox.LIMITS
    reason = t(f"template.budget.{what}", steps=f"{limits.steps:,}", seconds=f"{limits.seconds:g}",
               output=f"{limits.output:,}", value=f"{limits.value:,}")
    return t("template.over_budget", name=name, part=part, reason=reason)


SAMPLE = {"client_number": "100042", "first_name": "Jan", "last_name": "Jansen", "email": "jan.jansen@example.org",
          "phone": "+31612345678", "preferred_channel": "sms", "coach": "jdevries", "intake_date": "2025-01-06",
          "birth_date": "1990-05-17", "status": "active", "outflow_type": None, "outflow_date": None}


def sample_context(store, names: set[str], language: str) -> dict:
    """Values of a made-up client for the names a template uses (no real client is read)."""
    out = {}
    for name in names:
        if name in FIELDS:
            out[name] = language if name == "language" else SAMPLE.get(name)
        elif name == "organisation":
            out[name] = store.config.organisation.name
        elif name in store.catalog:
            c = store.catalog[name]
            value = {"scale": c.max, "bool": True, "enum": c.values[0] if c.values else None, "number": 40,
                     "date": "2025-01-06", "text": "Koken, fietsen en helpen in de buurt. " * 12}.get(c.type)
            out[name] = c.value_title(value, language) if c.type in ("enum", "bool") and value is not None else value
    return out


def check_budget(store, template: Template) -> set[str]:
    """Check a template as `names_used` does, then render it for a made-up client within the
    render budget; BadInput when it goes over (an error that depends on real values is left to
    the render for a real client). Returns the names used."""
    names = names_used(store, template)
    context = sample_context(store, names, template.language)
    for part, source, html in template.parts():
        try:
            sandbox.render(environment(html).from_string(source), context)
        except sandbox.OverBudget as e:
            raise BadInput(over_budget(template.name, part, e.what)) from None
        except Exception:  # a value of a real client may well render: not this check's concern
            pass
    return names


def profile_columns(store, names: set[str]) -> list:
    """The catalog characteristics among `names` (the ones read from the profile)."""
    return [store.catalog[n] for n in sorted(names) if n not in FIELDS and n not in EXTRA and n in store.catalog]


def context(store, client: dict, profile: dict, names: set[str], language: str) -> dict:
    """The values a template sees: only the names it uses, characteristic values as words in
    the client's language (enum labels, yes/no), numbers and dates as they are."""
    out = {}
    for name in names:
        if name in FIELDS:
            out[name] = client.get(name)
        elif name == "organisation":
            out[name] = store.config.organisation.name
        else:
            c = store.catalog[name]
            if c.special and not c.allow_in_messages:
                raise BadInput(t("template.special_refused", name=name))
            value = c.from_sql(profile.get(c.column))
            out[name] = c.value_title(value, language) if c.type in ("enum", "bool") and value is not None else value
    return out


def preview(store, actor, name: str, number: str, channel: str | None = None, language: str | None = None) -> dict:
    """A template rendered for one client (a view of that client, audited), with SMS facts."""
    from . import clients

    found = variants(store, name)
    client = clients.get_client(store, actor, number)
    fallback = store.config.message_language
    lang = languages.check_code(language, "--lang") if language else client.get("language") or fallback
    second = None if language else client.get("second_language")
    if channel is None:
        preferred = client.get("preferred_channel")
        channels = [preferred] if preferred in CHANNELS else []
        channels += [v.channel for v in found if v.channel not in channels]
        channel = next((c for c in channels if pick(found, c, lang, fallback, second)), found[0].channel)
    template = pick(found, channel, lang, fallback, second)
    if template is None:
        raise NotFound(t("template.no_variant", name=name, channel=channel, language=lang))
    names = names_used(store, template)
    cols = profile_columns(store, names)
    profile = {}
    if cols:
        row = store.db.execute(f"SELECT {', '.join(quote_column(c.column) for c in cols)} FROM profile WHERE client_id = ?",
                               [client["id"]]).fetchone()
        profile = dict(zip([c.column for c in cols], row or [None] * len(cols)))
    rendered = Renderer(store).render(template, context(store, client, profile, names, template.language))
    out = {"template": name, "channel": template.channel, "language": template.language,
           "language_fit": languages.fit(template.language, lang, second)}
    if rendered.subject is not None:
        out["subject"] = rendered.subject
    out["body"] = rendered.body
    if rendered.html is not None:
        out["html"] = languages.mark_html(rendered.html, template.language)
    if template.channel == "sms":
        info = sms_info(rendered.body)
        out.update(characters=info.characters, encoding=info.encoding, parts=info.parts)
    return out


def quote_column(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


# Jinja's own messages, in the UI language (template.jinja.*): the shapes it uses, the first match
# wins; anything else is named by its kind only.
_JINJA = [
    (r"Unexpected end of template\..*looking for the following tags: (?P<tags>.+?)\. The innermost block that "
     r"needs to be closed is '(?P<block>[^']+)'\.", "end_block"),
    (r"unexpected end of template.*", "end"),
    (r"Encountered unknown tag '(?P<tag>[^']+)'.*", "unknown_tag"),
    (r"expected token '(?P<expected>[^']+)', got '(?P<got>[^']+)'", "expected"),
    (r"Expected an expression, got '(?P<got>[^']+)'", "expression"),
    (r"unexpected char (?P<char>.+) at \d+", "char"),
    (r"unexpected '(?P<got>.+)'", "unexpected"),
    (r"No filter named '(?P<name>[^']+)'.*", "filter"),
    (r"No test named '(?P<name>[^']+)'.*", "test"),
    (r"'(?P<name>[^']+)' is undefined", "undefined"),
    (r"'[^']+' has no attribute '(?P<name>[^']+)'", "attribute"),
    (r"access to attribute '(?P<name>[^']+)' of .* is unsafe\.?", "unsafe"),
]
_JINJA = [(re.compile(rx, re.S | re.I), key) for rx, key in _JINJA]
_TOKENS = {"end of print statement": "}}", "end of statement block": "%}", "end of template": "",
           "begin of print statement": "{{", "begin of statement block": "{%"}


def jinja_message(message: str | None, kind: str = "") -> str:
    """What Jinja said, in the UI language."""
    for rx, key in _JINJA:
        m = rx.fullmatch((message or "").strip())
        if m:
            values = {k: _TOKENS.get(v, v) for k, v in m.groupdict().items()}
            if "tags" in values:
                values["tags"] = ", ".join(f"'{tag}'" for tag in re.findall(r"'([^']+)'", values["tags"]))
            return t(f"template.jinja.{key}", **values)
    if message and i18n.language() == "en":
        return message
    return t("template.jinja.other", kind=kind or "?")
