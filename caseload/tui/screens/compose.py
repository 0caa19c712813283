"""Compose: pick or write a template, preview it for the real clients in a segment (SMS
length, parts and encoding), see the channel mix and who is skipped and why (opted out, no
phone or email, outflow; quiet hours hold messages back), schedule, and queue after a
confirmation that shows the count. Nothing is written before that confirmation.

Opened from a client (`ComposeScreen(client=number)`, key m on the client screen) it writes to
that one client: a personal message, which goes out before broadcasts."""

from collections import Counter

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Label, Select, Static, TextArea

from ... import outbox, policy, templates
from ...clock import iso
from ...channels.sms import sms_info
from ...fields import LANGUAGES
from ...i18n import language, t
from .. import format as fmt
from ..keys import Localized
from ..widgets.choice import Choice
from ..widgets.filter_bar import FilterBar
from ..widgets.footer import KeyFooter
from .confirm import ConfirmScreen

SAMPLE = 5


class ComposeScreen(Localized, Screen):
    AUTO_FOCUS = "#segment Input"  # "Aan wie": typing starts there
    BINDINGS = [
        Binding("slash", "segment", "tui.key.segment", key_display="/"),
        Binding("f5", "preview", "tui.key.preview"),
        Binding("f8", "queue", "tui.key.queue"),
        Binding("escape", "back", "tui.key.back"),
    ]

    class Templates(Message):
        def __init__(self, rows: list, select: str | None = None) -> None:
            super().__init__()
            self.rows, self.select = rows, select

    class Planned(Message):
        def __init__(self, key: tuple, plan, quiet_until, held: list) -> None:
            super().__init__()
            self.key, self.plan, self.quiet_until, self.held = key, plan, quiet_until, held

    class Queued(Message):
        def __init__(self, result: dict) -> None:
            super().__init__()
            self.result = result

    def __init__(self, client: str | None = None):
        super().__init__()
        self.client = client  # a client number: a personal message to this client, not a segment
        if client is not None:
            self.AUTO_FOCUS = ""  # nothing to type for one client until a template is chosen: Escape goes back
        self.plan = None
        self._key: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="compose"):
            with VerticalScroll(id="compose-left"):
                if self.client is not None:
                    yield Label(t("tui.compose.to_client"), classes="form-title")
                    yield Static(Text(self.client), id="client")
                else:
                    yield Label(t("tui.compose.segment"), classes="form-title")
                    yield FilterBar(id="segment", placeholder=t("tui.compose.segment_placeholder"))
                yield Label(t("tui.compose.template"), classes="form-title")
                with Horizontal(classes="row"):
                    yield Choice([], prompt=t("tui.compose.pick_template"), id="template")
                    yield Choice([(t("tui.compose.channel_auto"), "auto"), ("SMS", "sms"), (t("tui.compose.email"), "email")],
                                 value="auto", allow_blank=False, id="channel")
                with Horizontal(classes="row"):
                    yield Input(placeholder=t("tui.compose.at"), id="at")
                    yield Input(placeholder=t("tui.compose.campaign"), id="campaign")
                yield Button(t("tui.compose.queue"), variant="success", id="queue")
                yield Label(t("tui.compose.new_template"), classes="form-title")
                with Horizontal(classes="row"):
                    yield Input(placeholder=t("tui.compose.template_name"), id="new-name")
                    yield Choice([("SMS", "sms"), (t("tui.compose.email"), "email")], value="sms",
                                 allow_blank=False, id="new-channel")
                    yield Choice([(lang, lang) for lang in LANGUAGES], value=self.app.store.config.message_language
                                 if self.app.store.config.message_language in LANGUAGES else "nl",
                                 allow_blank=False, id="new-language")
                yield Input(placeholder=t("tui.compose.subject"), id="new-subject")
                yield Static(Text(t("tui.compose.body_help")), classes="form-help")
                yield TextArea(id="new-body")
                yield Static(id="new-info", classes="form-help")
                yield Button(t("tui.compose.save_template"), id="save-template")
            with VerticalScroll(id="compose-right"):
                yield Label(t("tui.compose.preview"), classes="form-title")
                yield Static(Text(t("tui.compose.nothing_yet"), style="dim"), id="preview")
        yield KeyFooter(compact=True)

    def on_screen_resume(self) -> None:
        """The caseload's marked clients or filter, carried here by m, become "Aan wie"."""
        carried, self.app.carry = getattr(self.app, "carry", None), None
        if carried and self.client is None:
            def carry() -> None:
                self.query_one(FilterBar).value = carried
                self.query_one(FilterBar).focus()

            self.call_after_refresh(carry)

    def on_mount(self) -> None:
        self.title = t("tui.title.compose") if self.client is None else t("tui.title.compose_client", number=self.client)
        self.load_templates()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "back":  # only when opened from a client
            return self.client is not None
        if action == "segment":
            return self.client is None
        return True

    def action_back(self) -> None:
        """Escape leaves an input first, then the client's message."""
        if isinstance(self.focused, (Input, Select, TextArea)):
            self.app.action_leave_input()
        elif self.client is not None:
            self.dismiss()

    # -- templates ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="templates")
    def load_templates(self, select: str | None = None) -> None:
        with self.app.reported():
            self.post_message(self.Templates(templates.list_templates(self.app.store_here()), select))

    def on_compose_screen_templates(self, message: Templates) -> None:
        names = sorted({r["name"] for r in message.rows})
        variants = {n: ", ".join(f"{r['channel']}/{r['language']}" for r in message.rows if r["name"] == n) for n in names}
        select = self.query_one("#template", Select)
        select.set_options([(Text(f"{n}  ({variants[n]})"), n) for n in names])
        select.prompt = t("tui.compose.pick_template") if names else t("tui.compose.no_templates")
        if message.select in names:
            select.value = message.select

    @on(TextArea.Changed, "#new-body")
    def _body_changed(self, event: TextArea.Changed) -> None:
        info = sms_info(event.text_area.text)
        self.query_one("#new-info", Static).update(Text(t("tui.compose.sms_info_one" if info.parts == 1 else "tui.compose.sms_info",
                                                           characters=info.characters, encoding=info.encoding,
                                                           parts=info.parts)))

    @on(Button.Pressed, "#save-template")
    def _save_template(self) -> None:
        name = self.query_one("#new-name", Input).value
        channel = self.query_one("#new-channel", Select).value
        lang = self.query_one("#new-language", Select).value
        subject = self.query_one("#new-subject", Input).value if channel == "email" else None
        body = self.query_one("#new-body", TextArea).text
        self.save_template(name, channel, lang, subject, body)

    @work(thread=True, group="templates")
    def save_template(self, name, channel, lang, subject, body) -> None:
        app = self.app
        with app.reported():
            v = templates.add_template(app.store_here(), app.actor, name, channel, body, language=lang,
                                       subject=subject, replace=True)
            app.call_from_thread(self.notify, t("template.added", name=v.name, channel=v.channel,
                                                  language=v.language), markup=False)
            self.load_templates(v.name)

    # -- preview --------------------------------------------------------------------------------
    def _inputs(self) -> tuple:
        segment = self.query_one(FilterBar).value.strip() if self.client is None else ""
        template = self.query_one("#template", Select).value
        return (segment, None if template is Select.NULL else template,
                self.query_one("#channel", Select).value, self.query_one("#at", Input).value.strip(),
                self.query_one("#campaign", Input).value.strip())

    @on(FilterBar.Applied)
    @on(Select.Changed, "#template, #channel")
    @on(Input.Submitted, "#at, #campaign")
    def action_preview(self) -> None:
        key = self._inputs()
        segment, template = key[0], key[1]
        if (not segment and self.client is None) or template is None:
            self.plan = None
            self.query_one("#preview", Static).update(Text(t("tui.compose.nothing_yet"), style="dim"))
            return
        self._key = key
        self.query_one("#preview", Static).update(Text(t("tui.loading"), style="dim"))
        self.make_plan(key)

    @work(thread=True, exclusive=True, group="plan")
    def make_plan(self, key: tuple) -> None:
        segment, template, channel, at, campaign = key
        app = self.app
        with app.reported():
            store = app.store_here()
            plan = outbox.plan_queue(store, app.actor, segment or None, template, channel=channel, at=at or None,
                                     campaign=campaign or None, client=self.client)
            self.post_message(self.Planned(key, plan, policy.quiet_until(store.config, plan.due_at),
                                           held_by_cap(store, plan)))

    def on_compose_screen_planned(self, message: Planned) -> None:
        if message.key != self._key:
            return
        self.plan = message.plan
        self.query_one("#preview", Static).update(self._preview(message.plan, message.quiet_until, message.held))

    def _preview(self, plan, quiet_until, held: list | None = None) -> Text:
        tz = self.app.store.tz
        out = Text()
        channels = ", ".join(f"{ch} {fmt.number(n)}" for ch, n in sorted(plan.by_channel().items())) or "-"
        out.append(t("queue.plan", n=fmt.number(plan.count), in_segment=fmt.number(plan.in_segment),
                     campaign=plan.campaign, channels=channels, at=fmt.moment(_iso(plan.due_at), tz)) + "\n", "bold")
        if plan.skipped:
            reasons = ", ".join(f"{t('queue.reason.' + k)} {fmt.number(n)}" for k, n in sorted(plan.skipped.items()))
            out.append(t("queue.skipped", reasons=reasons) + "\n", "yellow")
        else:
            out.append(t("tui.compose.none_skipped") + "\n", "dim")
        if quiet_until is not None:
            out.append(t("send.quiet", until=fmt.moment(_iso(quiet_until), tz)) + "\n", "yellow")
        if held:
            key = "tui.compose.held_one" if plan.count == 1 else "tui.compose.held"
            out.append(t(key, n=fmt.number(len(held)), cap=self.app.store.config.policy.max_per_week,
                         first=fmt.moment(_iso(min(held)), tz), last=fmt.moment(_iso(max(held)), tz)) + "\n", "yellow")
        sms = [sms_info(p.body) for p in plan.messages if p.channel == "sms"]
        if sms:
            parts = Counter(i.parts for i in sms)
            encodings = Counter(i.encoding for i in sms)
            out.append(t("tui.compose.sms_summary", longest=max(i.characters for i in sms),
                         parts=", ".join(f"{p}: {fmt.number(n)}" for p, n in sorted(parts.items())),
                         encodings=", ".join(f"{e} {fmt.number(n)}" for e, n in sorted(encodings.items()))) + "\n")
        if not plan.count:
            out.append("\n" + t("queue.nothing") + "\n", "bold")
            return out
        out.append("\n" + t("tui.compose.sample", n=min(SAMPLE, plan.count)) + "\n", "bold underline")
        for p in plan.sample(SAMPLE):
            out.append(f"\n{p.client_number}  ", "dim")
            out.append(p.name, "bold")
            out.append(f"  · {p.channel} · {p.language}", "dim")
            if p.subject:
                out.append("\n" + t("tui.compose.subject") + ": ", "dim")
                out.append(p.subject)
            out.append("\n")
            out.append(p.body)
            if p.channel == "sms":
                i = sms_info(p.body)
                key = "tui.compose.sms_info_one" if i.parts == 1 else "tui.compose.sms_info"
                out.append("\n" + t(key, characters=i.characters, encoding=i.encoding, parts=i.parts), "dim")
            out.append("\n")
        return out

    # -- queueing -------------------------------------------------------------------------------
    @on(Button.Pressed, "#queue")
    def action_queue(self) -> None:
        plan = self.plan
        if plan is None or self._inputs() != self._key:
            self.action_preview()
            self.notify(t("tui.compose.preview_first"), severity="warning")
            return
        if not plan.count:
            self.notify(t("queue.nothing"), severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.commit(plan)

        self.app.push_screen(ConfirmScreen(t("queue.confirm", n=fmt.number(plan.count)) + "\n" +
                                           plan.reach().describe(self.app.store.tz, fmt.number) + "\n" +
                                           t("tui.compose.confirm_detail", campaign=plan.campaign,
                                             at=fmt.moment(_iso(plan.due_at), self.app.store.tz)),
                                           yes=t("tui.compose.queue")), answered)

    @work(thread=True, exclusive=True, group="queue")
    def commit(self, plan) -> None:
        app = self.app
        with app.reported():
            self.post_message(self.Queued(outbox.commit_queue(app.store_here(), app.actor, plan)))

    def on_compose_screen_queued(self, message: Queued) -> None:
        r = message.result
        self.notify(t("queue.done", n=fmt.number(r["queued"]), campaign=r["campaign"], already=r["already"]),
                    markup=False)
        self.plan = None
        self.action_preview()

    def action_segment(self) -> None:
        if self.client is None:
            self.query_one(FilterBar).focus()

    @on(FilterBar.Left)
    def _left(self) -> None:
        self.query_one("#template").focus()


def held_by_cap(store, plan) -> list:
    """When each message the frequency cap will hold goes out after all (quiet hours included),
    so the preview tells the true send time, not the planned one."""
    config = store.config
    recent = policy.recent_counts(store.conn, config, [p.client_id for p in plan.messages], plan.due_at)
    out = []
    for p in plan.messages:
        until = policy.frequency_deferral(config, recent.get(p.client_id), plan.due_at)
        if until is not None:
            out.append(policy.quiet_until(config, until) or until)
    return out


def _iso(moment) -> str:
    return iso(moment)
