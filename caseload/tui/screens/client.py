"""One client: the profile by category with stale values marked, a wellbeing chart, the
conversation (messages, replies read and unread, notes, clicks, observations, follow-ups,
interventions, outflow) with a one-off reply, and forms to record an observation, a note, a
follow-up, an intervention or outflow. The core validates every value against the catalog;
its message is shown as it is. The client's coach reads the replies by opening the
conversation."""

from datetime import date, timedelta

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Header, Input, Label, Select, Static, TabbedContent, TabPane, Tabs
from textual_plotext import PlotextPlot

from ...display import coded
from ... import clients, conversations, followups, interventions, timeline
from ... import clock
from ...catalog import CATEGORIES
from ...errors import CaseloadError
from ...fields import OUTFLOW_TYPES
from ...i18n import language, pick, t
from .. import format as fmt
from ..keys import Localized
from ..widgets.choice import Choice
from ..widgets.footer import KeyFooter
from .confirm import ConfirmScreen
from .outbox import reason_text

WELLBEING = "wellbeing"


def chart_points(history: list[dict]) -> tuple[list[int], list, list[int], list[str]]:
    """x is days since the first observation, so the chart is spaced by time, not by count;
    five dates along the axis."""
    first = date.fromisoformat(history[0]["observed_at"][:10])
    xs = [(date.fromisoformat(h["observed_at"][:10]) - first).days for h in history]
    ticks = [round(max(xs[-1], 1) * k / 4) for k in range(5)] if len(xs) > 1 else [0]
    return xs, [h["value"] for h in history], ticks, [fmt.day((first + timedelta(days=d)).isoformat()) for d in ticks]


class ClientScreen(Localized, Screen):
    BINDINGS = [
        Binding("escape", "back", "tui.key.back"),
        Binding("p", "tab('profile')", "tui.key.profile"),
        Binding("g", "tab('chart')", "tui.key.chart"),
        Binding("t", "tab('timeline')", "tui.key.conversation"),
        Binding("v", "record('observation')", "tui.key.observe"),
        Binding("n", "record('note')", "tui.key.note"),
        Binding("i", "record('intervention')", "tui.key.intervention"),
        Binding("u", "record('outflow')", "tui.key.outflow"),
        Binding("m", "message", "tui.key.message"),
        Binding("e", "reply", "tui.key.reply"),
        Binding("f", "record('followup')", "tui.key.followup"),
        Binding("w", "observations", "tui.key.observations", show=False),
    ]
    observations = True  # the conversation shows observations; w hides them for the words alone
    DEFAULT_CSS = """
    #conversation { height: 1fr; }
    #timeline-scroll { height: 1fr; }
    #reply-row { height: auto; }
    #reply-channel { width: 14; }
    #reply-text { width: 1fr; }
    #reply-preview { height: auto; color: $text-muted; }
    """

    class Loaded(Message):
        def __init__(self, client: dict, history: list, events: list, programmes: list, open_followups: list) -> None:
            super().__init__()
            self.client, self.history, self.events, self.programmes = client, history, events, programmes
            self.open_followups = open_followups

    class ReplyPlanned(Message):
        def __init__(self, text: str, plan) -> None:
            super().__init__()
            self.text, self.plan = text, plan

    class Saved(Message):
        def __init__(self, text: str, form: str) -> None:
            super().__init__()
            self.text, self.form = text, form

    def __init__(self, number: str, tab: str | None = None):
        super().__init__()
        self.number = number
        self.first_tab = tab or "profile"
        self.client: dict | None = None
        self.reply_plan = None

    def compose(self) -> ComposeResult:
        catalog = self.app.store.catalog
        yield Header()
        yield Static(Text(t("tui.loading")), id="card")
        with TabbedContent(initial=self.first_tab, id="tabs"):
            with TabPane(t("tui.tab.profile"), id="profile"):
                with VerticalScroll():
                    yield Static(id="profile-table")
            with TabPane(t("tui.tab.chart"), id="chart"):
                yield PlotextPlot(id="wellbeing-plot")
            with TabPane(t("tui.tab.conversation"), id="timeline"):
                with Vertical(id="conversation"):
                    with VerticalScroll(id="timeline-scroll"):
                        yield Static(id="timeline-table")
                    with Horizontal(id="reply-row"):
                        yield Choice([("auto", "auto"), ("SMS", "sms"), ("e-mail", "email")], value="auto",
                                     allow_blank=False, id="reply-channel")
                        yield Input(placeholder=t("tui.day.reply_placeholder"), id="reply-text")
                    yield Static(id="reply-preview")
            with TabPane(t("tui.tab.record"), id="record"):
                with VerticalScroll(id="forms"):
                    with Vertical(classes="form", id="form-observation"):
                        yield Label(t("tui.form.observation"), classes="form-title")
                        with Horizontal(classes="row"):
                            yield Choice([(Text(f"{c.title()} ({c.key})"), c.key) for c in catalog],
                                         prompt=t("tui.form.characteristic"), id="obs-key")
                            yield Input(placeholder=t("tui.form.value"), id="obs-value")
                            yield Button(t("tui.form.save"), variant="primary", id="obs-save")
                        yield Static(id="obs-help", classes="form-help")
                    with Vertical(classes="form", id="form-note"):
                        yield Label(t("tui.form.note"), classes="form-title")
                        with Horizontal(classes="row"):
                            yield Input(placeholder=t("tui.form.note_text"), id="note-text")
                            yield Button(t("tui.form.save"), variant="primary", id="note-save")
                    with Vertical(classes="form", id="form-followup"):
                        yield Label(t("tui.day.followup_title"), classes="form-title")
                        with Horizontal(classes="row"):
                            yield Input(placeholder=t("tui.day.followup_what"), id="fu-what")
                            yield Input(placeholder=t("tui.day.followup_due"), id="fu-due", classes="date")
                            yield Button(t("tui.day.followup_add"), variant="primary", id="fu-add")
                        with Horizontal(classes="row"):
                            yield Choice([], prompt=t("tui.day.followup_open"), id="fu-open")
                            yield Button(t("tui.day.followup_done"), id="fu-done")
                    with Vertical(classes="form", id="form-intervention"):
                        yield Label(t("tui.form.intervention"), classes="form-title")
                        with Horizontal(classes="row"):
                            yield Input(placeholder=t("tui.form.intervention_name"), id="iv-name")
                            yield Input(placeholder=t("tui.form.date"), id="iv-date", classes="date")
                            yield Choice([(t(f"tui.result.{r}"), r) for r in interventions.RESULTS],
                                         prompt=t("tui.form.result"), id="iv-result")
                            yield Button(t("tui.form.start"), id="iv-start")
                            yield Button(t("tui.form.end"), id="iv-end")
                    with Vertical(classes="form", id="form-outflow"):
                        yield Label(t("tui.form.outflow"), classes="form-title")
                        with Horizontal(classes="row"):
                            yield Choice([(t(f"reports.type.{o}"), o) for o in OUTFLOW_TYPES],
                                         prompt=t("tui.form.outflow_type"), id="out-type")
                            yield Input(placeholder=t("tui.form.date"), id="out-date", classes="date")
                            yield Button(t("tui.form.record_outflow"), variant="warning", id="out-save")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.client", number=self.number)
        self.load()

    # -- loading --------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="client")
    def load(self) -> None:
        app = self.app
        with app.reported():
            store = app.store_here()
            client = clients.show_client(store, app.actor, self.number)
            history = clients.history(store, app.actor, self.number, WELLBEING) if WELLBEING in store.catalog else []
            events = timeline.timeline(store, app.actor, self.number, mark_read=False)
            open_followups = followups.list_followups(store, app.actor, number=self.number)
            self.post_message(self.Loaded(client, history, events, interventions.active_names(store), open_followups))

    def on_client_screen_loaded(self, message: Loaded) -> None:
        self.client = c = message.client
        self.query_one("#card", Static).update(self._card(c))
        self.query_one("#profile-table", Static).update(self._profile(c))
        self._events = message.events
        self.query_one("#timeline-table", Static).update(self._timeline(message.events))
        self._chart(message.history)
        self.query_one("#iv-name", Input).suggester = SuggestFromList(message.programmes, case_sensitive=False)
        self.query_one("#fu-open", Select).set_options(
            [(Text(f"{fmt.day(f['due_date'])}  {f['what']}"), f["id"]) for f in message.open_followups])
        if message.open_followups:
            first = message.open_followups[0]
            card = self.query_one("#card", Static)
            text = self._card(c)
            text.append(f"\n{t('tui.day.followups_card')}: ", "dim")
            text.append(f"{fmt.day(first['due_date'])} {first['what']}" +
                        (f" (+{len(message.open_followups) - 1})" if len(message.open_followups) > 1 else ""))
            card.update(text)
        if self.query_one(TabbedContent).active == "timeline":
            self.read()

    def _card(self, c: dict) -> Text:
        name = " ".join(p for p in (c.get("first_name"), c.get("last_name")) if p)
        out = Text()
        out.append(name or c["client_number"], "bold")
        out.append(f"  {c['client_number']}", "dim")
        status = t(f"tui.status.{c['status']}")
        if c.get("outflow_type"):
            status += f": {t('reports.type.' + c['outflow_type'])} {fmt.day(c.get('outflow_date'))}"
        channel = c.get("preferred_channel")
        parts = [(t("tui.col.coach"), c.get("coach") or "-"), (t("tui.card.status"), status),
                 (t("tui.card.channel"), coded("preferred_channel", channel) or channel or "-"),
                 (t("tui.card.language"), c.get("language") or "-"),
                 (t("tui.card.intake"), fmt.day(c.get("intake_date")) or "-"),
                 (t("tui.col.last_activity"), fmt.moment(c.get("last_activity"), self.app.store.tz) or "-")]
        out.append("\n")
        for i, (label, value) in enumerate(parts):
            out.append(("   " if i else "") + f"{label}: ", "dim")
            out.append(str(value))
        return out

    def _profile(self, c: dict) -> Table | Text:
        catalog = self.app.store.catalog
        if not c["profile"]:
            return Text(t("tui.profile.empty"), style="dim")
        by_cat: dict[str, list] = {}
        for p in c["profile"]:
            by_cat.setdefault(catalog[p.key].category, []).append(p)
        table = Table(box=None, show_header=True, header_style="bold", expand=True, padding=(0, 1))
        table.add_column(t("tui.col.characteristic"), ratio=3)
        table.add_column(t("tui.col.value"), ratio=3)
        table.add_column(t("tui.col.observed"), ratio=2)
        for category in CATEGORIES:
            if category not in by_cat:
                continue
            table.add_row(Text(t(f"tui.category.{category}"), style="bold underline"), "", "")
            for p in by_cat[category]:
                ch = catalog[p.key]
                when = Text(fmt.moment(p.observed_at, self.app.store.tz))
                if p.stale:
                    when.append(f"  {t('cli.stale')}", "bold yellow")
                value = fmt.day(p.value) if ch.type == "date" else ch.value_title(p.value)
                table.add_row(Text(ch.title()), Text(value), when)
        return table

    def action_observations(self) -> None:
        self.observations = not self.observations
        self.query_one(TabbedContent).active = "timeline"
        self.query_one("#timeline-table", Static).update(self._timeline(getattr(self, "_events", [])))
        self.notify(t("tui.day.observations_shown" if self.observations else "tui.day.observations_hidden"))

    def _timeline(self, events: list) -> Table | Text:
        hidden = 0
        if not self.observations:
            shown = [e for e in events if e.kind != "observation"]
            hidden, events = len(events) - len(shown), shown
        if not events:
            return Text(t("tui.timeline.empty"), style="dim")
        table = Table(box=None, show_header=True, header_style="bold", expand=True, padding=(0, 1))
        narrow = self.app.size.width < 120
        table.add_column(t("tui.col.when"), width=16, no_wrap=True)
        table.add_column(t("tui.col.what"), width=15 if narrow else 16, no_wrap=True)
        table.add_column(t("tui.col.text"), ratio=3 if narrow else 4)
        table.add_column(t("tui.col.detail"), ratio=1, no_wrap=narrow, overflow="ellipsis")
        for e in events:
            detail = e.detail
            if e.kind == "intervention_end" and detail:
                detail = t(f"tui.result.{detail}")
            elif e.kind == "reply":
                detail = e.detail or ""
            elif e.kind == "note":
                detail = e.author or ""
            elif e.kind == "click":
                detail = ""
            elif e.kind == "observation":
                detail = e.author if e.author and e.author != "client" else t(f"tui.day.source_{e.detail}")
            elif e.kind in ("followup", "followup_done"):
                detail = fmt.day(e.detail) + (f" · {e.status}" if e.status else "")
            elif e.kind == "outflow":
                detail = ""
            elif e.kind == "letter":
                detail = e.author or ""
            elif e.kind == "message":
                detail = f"{e.detail} · {t('tui.state.' + e.status)}" + (f" · {reason_text(e.reason)}" if e.reason else "")
            text = t(f"reports.type.{e.text}") if e.kind == "outflow" else \
                t(f"tui.day.click_{e.text}") if e.kind == "click" else e.text
            style = {"reply": "bold cyan", "outflow": "bold green"}.get(e.kind, "")
            what = Text(t(f"tui.event.{e.kind}"), style=style)
            if e.unread:
                what = Text(f"{t(f'tui.event.{e.kind}')} ● {t('tui.day.new')}", style="bold yellow")
            if e.kind == "message" and e.author:
                detail += f" · {e.author}"
            table.add_row(Text(fmt.moment(e.at, self.app.store.tz)), what, Text(text), Text(detail, style="dim"))
        if hidden:
            table.caption = t("tui.day.observations_hidden_n", n=hidden)
        return table

    def _chart(self, history: list) -> None:
        plot = self.query_one("#wellbeing-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        ch = self.app.store.catalog.get(WELLBEING)
        plt.title(ch.title() if ch else "")
        if history:
            xs, ys, ticks, labels = chart_points(history)
            plt.plot(xs, ys, marker="braille")
            plt.scatter(xs, ys, marker="dot")
            plt.xticks(ticks, labels)
            if ch is not None and ch.min is not None:
                plt.ylim(ch.min, ch.max)
                plt.yticks(list(range(int(ch.min), int(ch.max) + 1)))
        plot.refresh()

    # -- recording ------------------------------------------------------------------------------
    @on(Select.Changed, "#obs-key")
    def _key_chosen(self, event: Select.Changed) -> None:
        help_ = self.query_one("#obs-help", Static)
        if event.value is Select.NULL:
            help_.update("")
            return
        ch = self.app.store.catalog[event.value]
        value = self.query_one("#obs-value", Input)
        if ch.type == "enum":
            allowed = ", ".join(f"{v} ({ch.value_title(v)})" for v in ch.values)
            value.suggester = SuggestFromList(list(ch.values), case_sensitive=False)
        elif ch.type == "bool":
            allowed = t("tui.form.bool_values")
            value.suggester = SuggestFromList(["ja", "nee"] if language() == "nl" else ["yes", "no"],
                                              case_sensitive=False)
        elif ch.type == "scale":
            allowed = ", ".join(ch.value_title(v) for v in range(int(ch.min), int(ch.max) + 1))
        elif ch.type == "number":
            allowed = t("tui.form.number_between", min=ch.min if ch.min is not None else "-",
                        max=ch.max if ch.max is not None else "-")
        elif ch.type == "date":
            allowed = t("tui.form.date_format")
        else:
            allowed = t("tui.form.free_text")
        question = pick(ch.question) if ch.question else ""
        help_.update(Text(f"{allowed}" + (f"  ·  {question}" if question else "")))

    @on(Button.Pressed, "#obs-save")
    @on(Input.Submitted, "#obs-value")
    def _observe(self) -> None:
        key = self.query_one("#obs-key", Select).value
        value = self.query_one("#obs-value", Input).value
        if key is Select.NULL:
            self.notify(t("tui.form.choose_characteristic"), severity="warning")
            return
        self.save("observation", lambda s, a: clients.set_characteristics(s, a, self.number, {key: value}),
                  t("tui.saved.observation", name=self.app.store.catalog[key].title()))

    @on(Button.Pressed, "#note-save")
    @on(Input.Submitted, "#note-text")
    def _note(self) -> None:
        text = self.query_one("#note-text", Input).value
        self.save("note", lambda s, a: clients.add_note(s, a, self.number, text), t("tui.saved.note"))

    @on(Button.Pressed, "#iv-start")
    def _iv_start(self) -> None:
        name, day = self.query_one("#iv-name", Input).value, self.query_one("#iv-date", Input).value
        self.save("intervention", lambda s, a: interventions.start(s, a, self.number, name, day or None),
                  t("tui.saved.intervention_start", name=name))

    @on(Button.Pressed, "#iv-end")
    def _iv_end(self) -> None:
        name, day = self.query_one("#iv-name", Input).value, self.query_one("#iv-date", Input).value
        result = self.query_one("#iv-result", Select).value
        result = None if result is Select.NULL else result
        self.save("intervention", lambda s, a: interventions.end(s, a, self.number, name, day or None, result),
                  t("tui.saved.intervention_end", name=name))

    @on(Button.Pressed, "#out-save")
    def _outflow(self) -> None:
        kind = self.query_one("#out-type", Select).value
        day = self.query_one("#out-date", Input).value
        if kind is Select.NULL:
            self.notify(t("tui.form.choose_outflow"), severity="warning")
            return

        correct = bool(self.client and self.client.get("outflow_date"))  # a second outflow corrects the first

        def answered(yes: bool | None) -> None:
            if yes:
                self.save("outflow", lambda s, a: clients.record_outflow(s, a, self.number, kind, day or None,
                                                                         correct=correct),
                          t("tui.saved.outflow"))

        question = t("tui.confirm.outflow", type=t(f"reports.type.{kind}"), number=self.number)
        if correct:
            question = t("tui.confirm.outflow_correct", number=self.number, date=fmt.day(self.client["outflow_date"]),
                         old=t(f"reports.type.{self.client.get('outflow_type') or 'other'}"), type=t(f"reports.type.{kind}"))
        self.app.push_screen(ConfirmScreen(question), answered)

    @work(thread=True, group="record")
    def save(self, form: str, change, done: str) -> None:
        app = self.app
        with app.reported():
            result = change(app.store_here(), app.actor)
            if form == "followup":
                done = done.format(due=fmt.day(result))
            self.post_message(self.Saved(done, form))

    def on_client_screen_saved(self, message: Saved) -> None:
        self.notify(message.text, markup=False)
        clear = {"observation": ["#obs-value"], "note": ["#note-text"], "intervention": [], "outflow": [],
                 "reply": ["#reply-text"], "followup": ["#fu-what", "#fu-due"], "followup_done": []}
        for selector in clear[message.form]:
            self.query_one(selector, Input).value = ""
        self.load()

    # -- the conversation -----------------------------------------------------------------------
    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "timeline" and self.client is not None:
            self.read()

    @work(thread=True, group="read")
    def read(self) -> None:
        """The client's own coach reads the replies by looking at the conversation."""
        app = self.app
        if self.client is None or self.client.get("coach") != app.actor.name:
            return
        with app.reported():
            conversations.mark_read(app.store_here(), app.actor, self.number)

    @on(Input.Changed, "#reply-text")
    @on(Select.Changed, "#reply-channel")
    def _reply_changed(self) -> None:
        self.plan_reply(self.query_one("#reply-text", Input).value, self.query_one("#reply-channel", Select).value)

    @work(thread=True, exclusive=True, group="reply-plan")
    def plan_reply(self, text: str, channel: str) -> None:
        app = self.app
        if not text.strip():
            self.post_message(self.ReplyPlanned("", None))
            return
        try:
            plan = conversations.plan_message(app.store_here(), app.actor, self.number, text, channel=channel)
        except CaseloadError as e:
            self.post_message(self.ReplyPlanned(e.message, None))
            return
        self.post_message(self.ReplyPlanned(text, plan))

    def on_client_screen_reply_planned(self, message: ReplyPlanned) -> None:
        preview = self.query_one("#reply-preview", Static)
        self.reply_plan = message.plan
        if message.plan is None:
            preview.update(Text(message.text, style="bold red" if message.text else ""))
            return
        p, tz = message.plan, self.app.store.tz
        if p.sms is not None:
            parts = t("tui.day.sms_parts_one" if p.sms.parts == 1 else "tui.day.sms_parts", parts=p.sms.parts,
                      encoding=p.sms.encoding)
        else:
            parts = t("tui.day.email", subject=p.subject)
        text = Text(t("tui.day.reply_preview", channel=p.channel.upper() if p.channel == "sms" else "e-mail",
                      parts=parts, at=fmt.moment(clock.iso(p.send_at), tz)))
        if p.held:
            why = ", ".join(t(f"conversation.held_{w}", until=fmt.moment(clock.iso(u), tz)) for w, u in p.held)
            text.append("  " + t("tui.day.reply_held", why=why), "bold yellow")
        preview.update(text)

    @on(Input.Submitted, "#reply-text")
    def _reply(self) -> None:
        p = self.reply_plan
        if p is None or p.body != self.query_one("#reply-text", Input).value.strip():
            return  # nothing planned yet, or the plan is for older text: the preview follows

        def answered(yes: bool | None) -> None:
            if yes:
                self.send_reply(p)

        self.app.push_screen(ConfirmScreen(t("tui.day.reply_confirm", channel=p.channel.upper() if p.channel == "sms"
                                             else "e-mail", name=p.name, number=p.client_number,
                                             at=fmt.moment(clock.iso(p.send_at), self.app.store.tz)),
                                           yes=t("tui.key.send")), answered)

    @work(thread=True, group="record")
    def send_reply(self, plan) -> None:
        app = self.app
        with app.reported():
            mid = conversations.send_message(app.store_here(), app.actor, plan)
            self.post_message(self.Saved(t("tui.day.reply_sent", id=mid), "reply"))

    # -- follow-ups -------------------------------------------------------------------------------
    @on(Button.Pressed, "#fu-add")
    @on(Input.Submitted, "#fu-due")
    def _followup_add(self) -> None:
        what, due = self.query_one("#fu-what", Input).value, self.query_one("#fu-due", Input).value

        def add(s, a):
            fid = followups.add(s, a, self.number, what, due)
            (when,) = s.db.execute("SELECT due_date FROM follow_ups WHERE id = ?", [fid]).fetchone()
            return when

        self.save("followup", add, t("tui.day.followup_added", due="{due}"))

    @on(Button.Pressed, "#fu-done")
    def _followup_done(self) -> None:
        fid = self.query_one("#fu-open", Select).value
        if fid is Select.NULL:
            return
        self.save("followup_done", lambda s, a: followups.done(s, a, fid), t("tui.day.followup_marked"))

    def action_reply(self) -> None:
        self.query_one(TabbedContent).active = "timeline"
        self.call_after_refresh(self.query_one("#reply-text", Input).focus)

    # -- keys -----------------------------------------------------------------------------------
    def action_back(self) -> None:
        """Escape leaves a form field first, then the client."""
        if isinstance(self.focused, (Input, Select)):
            self.query_one(Tabs).focus()
            return
        self.dismiss()

    def action_message(self) -> None:
        """A message to this client alone: personal, it goes out before broadcasts."""
        from .compose import ComposeScreen

        self.app.push_screen(ComposeScreen(client=self.number))

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_record(self, form: str) -> None:
        self.query_one(TabbedContent).active = "record"
        first = {"observation": "#obs-key", "note": "#note-text", "intervention": "#iv-name",
                 "outflow": "#out-type", "followup": "#fu-what"}[form]
        widget = self.query_one(first)
        self.call_after_refresh(widget.focus)
        self.call_after_refresh(self.query_one(f"#form-{form}").scroll_visible)
