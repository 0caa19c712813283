"""Aanbod (offers): the items digests offer, with their state today and how often they were
shown and clicked; the chosen item in full; a form to add an item or change one (its owner,
their team lead or an admin); expire an item after a confirmation. Everything goes through
caseload.items, as `caseload item ...` does."""

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Header, Input, Label, Select, Static

from ... import items
from ...errors import BadInput
from ...i18n import t
from .. import format as fmt
from ..app import Problem
from ..keys import Localized
from ..widgets.footer import KeyFooter
from .confirm import ConfirmScreen

FORM = ("key", "title", "url", "tags", "requires", "valid_from", "valid_until", "language", "text")


class OffersScreen(Localized, Screen):
    BINDINGS = [
        Binding("f5", "reload", "tui.key.reload"),
        Binding("n", "new", "tui.offers.key.new"),
        Binding("e", "edit", "tui.offers.key.edit"),
        Binding("x", "expire", "tui.offers.key.expire"),
    ]
    DEFAULT_CSS = """
    OffersScreen #top { height: 1fr; }
    OffersScreen #items { width: 1fr; }
    OffersScreen #detail { width: 46; border-left: solid $accent; padding: 0 1; }
    OffersScreen .row { height: auto; }
    OffersScreen .row Input { width: 1fr; }
    OffersScreen .row Select { width: 22; }
    OffersScreen #save { margin-left: 1; }
    """

    class Loaded(Message):
        def __init__(self, rows: list) -> None:
            super().__init__()
            self.rows = rows

    class Shown(Message):
        def __init__(self, item: dict) -> None:
            super().__init__()
            self.item = item

    class Saved(Message):
        def __init__(self, text: str, key: str | None = None) -> None:
            super().__init__()
            self.text, self.key = text, key

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield DataTable(id="items", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="detail"):
                yield Static(Text(t("tui.offers.choose"), style="dim"), id="item")
        yield Label(t("tui.offers.form"), classes="form-title")
        with Horizontal(classes="row"):
            yield Input(placeholder=t("tui.offers.field.key"), id="f-key")
            yield Select([(t(f"items.kind.{k}"), k) for k in items.KINDS], prompt=t("tui.offers.field.kind"),
                         id="f-kind")
            yield Input(placeholder=t("tui.offers.field.title"), id="f-title")
            yield Input(placeholder=t("tui.offers.field.url"), id="f-url")
        with Horizontal(classes="row"):
            yield Input(placeholder=t("tui.offers.field.tags"), id="f-tags")
            yield Input(placeholder=t("tui.offers.field.requires"), id="f-requires")
            yield Input(placeholder=t("tui.offers.field.valid_from"), id="f-valid_from")
            yield Input(placeholder=t("tui.offers.field.valid_until"), id="f-valid_until")
            yield Input(placeholder=t("tui.offers.field.language"), id="f-language")
        with Horizontal(classes="row"):
            yield Input(placeholder=t("tui.offers.field.text"), id="f-text")
            yield Button(t("tui.offers.save"), variant="primary", id="save")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.offers")
        table = self.query_one("#items", DataTable)
        for name, width in (("key", 12), ("kind", 10), ("title", 26), ("tags", 16), ("state", 18), ("shown", 7),
                            ("clicked", 7)):
            table.add_column(t(f"tui.offers.col.{name}"), width=width, key=name)
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    # -- the list and the chosen item ---------------------------------------------------------
    @work(thread=True, exclusive=True, group="offers")
    def load(self) -> None:
        app = self.app
        with app.reported():
            self.post_message(self.Loaded(items.list_items(app.store_here(), app.actor)))

    def on_offers_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one("#items", DataTable)
        chosen = self.chosen()
        table.clear()
        for r in message.rows:
            style = "" if r["state"] == "active" else "dim"
            table.add_row(Text(r["key"], style=style), Text(t(f"items.kind.{r['kind']}"), style=style),
                          Text(r["title"], style=style), Text(", ".join(r["tags"]), style=style),
                          Text(t(f"items.state.{r['state']}"), style=style),
                          Text(fmt.number(r["shown"]), justify="right"),
                          Text(fmt.number(r["clicked"]), justify="right"), key=r["key"])
        if not message.rows:
            table.add_row(Text(t("tui.offers.empty"), style="dim"), *[""] * 6)
        keys = [r["key"] for r in message.rows]
        if chosen in keys:
            table.move_cursor(row=keys.index(chosen))

    def chosen(self) -> str | None:
        table = self.query_one("#items", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return key or None

    @on(DataTable.RowHighlighted, "#items")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self.show(event.row_key.value)

    @work(thread=True, exclusive=True, group="show")
    def show(self, key: str) -> None:
        app = self.app
        with app.reported():
            self.post_message(self.Shown(items.show(app.store_here(), app.actor, key)))

    def on_offers_screen_shown(self, message: Shown) -> None:
        self.item = message.item
        it = message.item
        out = Text()
        out.append(it["title"] + "\n", style="bold")
        out.append(f"{t('items.kind.' + it['kind'])} · {t('items.state.' + it['state'])} · {it['language']}\n\n")
        if it["text"]:
            out.append(it["text"] + "\n\n")
        for name in ("url", "tags", "requires", "valid_from", "valid_until", "owner"):
            value = ", ".join(it[name]) if name == "tags" else it[name]
            if value:
                out.append(f"{t('tui.offers.label.' + name)}: ", style="bold")
                out.append(f"{value}\n")
        out.append("\n" + t("tui.offers.counts", shown=fmt.number(it["shown"]), clicked=fmt.number(it["clicked"])))
        self.query_one("#item", Static).update(out)

    # -- add, change, expire --------------------------------------------------------------------
    def action_new(self) -> None:
        for name in FORM:
            self.query_one(f"#f-{name}", Input).value = ""
        self.query_one("#f-kind", Select).clear()
        self.query_one("#f-key", Input).focus()

    def action_edit(self) -> None:
        it = getattr(self, "item", None)
        if it is None or it["key"] != self.chosen():
            self.notify(t("tui.offers.choose"), severity="warning")
            return
        for name in FORM:
            value = it.get(name)
            self.query_one(f"#f-{name}", Input).value = ", ".join(value) if name == "tags" else (value or "")
        self.query_one("#f-kind", Select).value = it["kind"]
        self.query_one("#f-title", Input).focus()

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def submit(self) -> None:
        fields = {name: self.query_one(f"#f-{name}", Input).value for name in FORM}
        kind = self.query_one("#f-kind", Select).value
        fields["kind"] = "" if kind is Select.BLANK else str(kind)
        self.save(fields)

    @work(thread=True, exclusive=True, group="change")
    def save(self, fields: dict) -> None:
        app = self.app
        with app.reported():
            try:
                saved = items.add(app.store_here(), app.actor, fields)
            except BadInput as e:  # every bad field at once, as the CLI shows them
                self.post_message(Problem("\n".join([e.message, *e.details])))
                return
            self.post_message(self.Saved(t("items.added", key=saved["key"]), saved["key"]))

    def on_offers_screen_saved(self, message: Saved) -> None:
        self.notify(message.text, markup=False)
        if message.key:
            for name in FORM:
                self.query_one(f"#f-{name}", Input).value = ""
            self.query_one("#f-kind", Select).clear()
            self.query_one("#items", DataTable).focus()
        self.load()

    def action_expire(self) -> None:
        key = self.chosen()
        if key is None:
            self.notify(t("tui.offers.choose"), severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.expire(key)

        self.app.push_screen(ConfirmScreen(t("tui.offers.confirm_expire", key=key)), answered)

    @work(thread=True, exclusive=True, group="change")
    def expire(self, key: str) -> None:
        app = self.app
        with app.reported():
            changed = items.expire(app.store_here(), app.actor, key)
            self.post_message(self.Saved(t("items.expired" if changed else "items.already_expired", key=key)))

    def action_reload(self) -> None:
        self.load()
