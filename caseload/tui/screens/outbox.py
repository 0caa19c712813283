"""The outbox: how many messages are in each state, per campaign; the failures with their
reasons; cancel what is still queued and retry what failed (after a confirmation that shows
whom the retry reaches, from outbox.plan_retry, as the CLI does)."""

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Label, Static

from ... import outbox
from ...i18n import t
from .. import format as fmt
from ..keys import Localized
from ..widgets.footer import KeyFooter
from .confirm import ConfirmScreen

SHOWN_STATES = ("queued", "sending", "sent", "delivered", "failed", "cancelled", "expired")
PROBLEMS = ("failed", "expired", "cancelled")


class OutboxScreen(Localized, Screen):
    BINDINGS = [
        Binding("f5", "reload", "tui.key.reload"),
        Binding("x", "cancel", "tui.key.cancel_queued"),
        Binding("t", "retry", "tui.key.retry"),
    ]

    class Loaded(Message):
        def __init__(self, summary: list, problems: list) -> None:
            super().__init__()
            self.summary, self.problems = summary, problems

    class Changed(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class RetryPlanned(Message):
        def __init__(self, question: str, reach, ids, campaign) -> None:
            super().__init__()
            self.question, self.reach, self.ids, self.campaign = question, reach, ids, campaign

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="totals")
        yield Label(t("tui.outbox.campaigns"), classes="form-title")
        yield DataTable(id="campaigns", cursor_type="row", zebra_stripes=True)
        yield Label(t("tui.outbox.problems"), classes="form-title")
        yield DataTable(id="problems", cursor_type="row", zebra_stripes=True)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.outbox")
        campaigns = self.query_one("#campaigns", DataTable)
        campaigns.add_column(t("tui.outbox.campaign"), width=32)
        campaigns.add_column(t("tui.outbox.campaign_status"), width=16)
        for s in SHOWN_STATES:
            campaigns.add_column(t(f"tui.state.{s}"), width=11)
        problems = self.query_one("#problems", DataTable)
        for label, width in (("#", 7), (t("tui.outbox.campaign"), 32), (t("tui.col.number"), 9),
                             (t("tui.outbox.channel"), 8), (t("tui.outbox.status"), 12), (t("tui.outbox.reason"), 30),
                             (t("tui.outbox.updated"), 17)):
            problems.add_column(label, width=width)
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="outbox")
    def load(self) -> None:
        app = self.app
        with app.reported():
            store = app.store_here()
            summary = outbox.summary(store, app.actor)
            problems = [m for s in PROBLEMS for m in outbox.list_messages(store, app.actor, status=s, limit=200)]
            problems.sort(key=lambda m: -m["id"])
            self.post_message(self.Loaded(summary, problems))

    def on_outbox_screen_loaded(self, message: Loaded) -> None:
        totals = {s: sum(r[s] for r in message.summary) for s in SHOWN_STATES}
        line = Text()
        for i, s in enumerate(SHOWN_STATES):
            line.append(("   " if i else "") + f"{t('tui.state.' + s)} ")
            style = "bold red" if s == "failed" and totals[s] else "bold"
            line.append(fmt.number(totals[s]), style)
        self.query_one("#totals", Static).update(line)
        campaigns = self.query_one("#campaigns", DataTable)
        campaigns.clear()
        for r in message.summary:
            campaigns.add_row(Text(r["campaign"]), Text(t(f"tui.campaign.{r['campaign_status']}")
                                                         if r["campaign_status"] else ""),
                              *[Text(fmt.number(r[s]), justify="right") for s in SHOWN_STATES], key=r["campaign"])
        if not message.summary:
            campaigns.add_row(Text(t("tui.outbox.empty"), style="dim"), *[""] * (len(SHOWN_STATES) + 1))
        problems = self.query_one("#problems", DataTable)
        problems.clear()
        for m in message.problems:
            problems.add_row(Text(str(m["id"])), Text(m["campaign"] or ""), Text(m["client_number"]),
                             Text(m["channel"]), Text(t(f"tui.state.{m['status']}")), Text(reason_text(m["reason"])),
                             Text(fmt.moment(m["updated_at"], self.app.store.tz)), key=str(m["id"]))
        if not message.problems:
            problems.add_row("", Text(t("tui.outbox.no_problems"), style="dim"), *[""] * 5)

    def _chosen(self) -> tuple[str, str | None]:
        """("message", id) when the failures table has the focus, else ("campaign", name)."""
        problems = self.query_one("#problems", DataTable)
        if problems.has_focus and problems.row_count:
            key = problems.coordinate_to_cell_key(problems.cursor_coordinate).row_key.value
            return "message", key
        campaigns = self.query_one("#campaigns", DataTable)
        if campaigns.row_count:
            key = campaigns.coordinate_to_cell_key(campaigns.cursor_coordinate).row_key.value
            return "campaign", key
        return "campaign", None

    def action_cancel(self) -> None:
        kind, key = self._chosen()
        if key is None or kind != "campaign":
            self.notify(t("tui.outbox.choose_campaign"), severity="warning")
            return
        self._confirm(t("tui.outbox.confirm_cancel", campaign=key), "cancel", None, key)

    def action_retry(self) -> None:
        kind, key = self._chosen()
        if key is None:
            self.notify(t("tui.outbox.choose_campaign"), severity="warning")
            return
        if kind == "message":
            self.plan_retry(t("tui.outbox.confirm_retry_message", id=key), [int(key)], None)
        else:
            self.plan_retry(t("tui.outbox.confirm_retry", campaign=key), None, key)

    @work(thread=True, exclusive=True, group="change")
    def plan_retry(self, question: str, ids, campaign) -> None:
        app = self.app
        with app.reported():
            reach = outbox.plan_retry(app.store_here(), app.actor, ids=ids, campaign=campaign)
            self.post_message(self.RetryPlanned(question, reach, ids, campaign))

    def on_outbox_screen_retry_planned(self, message: RetryPlanned) -> None:
        reach = message.reach.describe(self.app.store.tz, fmt.number)
        self._confirm(f"{message.question}\n{reach}", "retry", message.ids, message.campaign)

    def _confirm(self, question: str, what: str, ids, campaign) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.change(what, ids, campaign)

        self.app.push_screen(ConfirmScreen(question), answered)

    @work(thread=True, exclusive=True, group="change")
    def change(self, what: str, ids, campaign) -> None:
        app = self.app
        with app.reported():
            fn = outbox.cancel if what == "cancel" else outbox.retry
            n = fn(app.store_here(), app.actor, ids=ids, campaign=campaign)
            self.post_message(self.Changed(t("outbox.cancelled" if what == "cancel" else "outbox.retried", n=n)))

    def on_outbox_screen_changed(self, message: Changed) -> None:
        self.notify(message.text, markup=False)
        self.load()

    def action_reload(self) -> None:
        self.load()


def reason_text(reason: str | None) -> str:
    from ...display import reason as in_words

    return in_words(reason)
