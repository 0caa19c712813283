"""The segment builder: pick a characteristic (or a built-in field), an operator and a value
from the catalog and add the condition, or type the expression; the count is live. Save it
under a name; saved segments are listed and can be opened again."""

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, DataTable, Header, Input, Label, Select

from ... import completion, segments
from ...i18n import language, t
from ..keys import Localized
from ..widgets.choice import Choice
from ..widgets.filter_bar import FilterBar
from ..widgets.footer import KeyFooter


class SegmentBuilderScreen(Localized, Screen):
    AUTO_FOCUS = "#expression Input"  # typing a segment is what this screen is for
    HOME = "#saved"
    BINDINGS = [
        Binding("slash", "expression", "tui.key.expression", key_display="/"),
        Binding("ctrl+s", "save", "tui.key.save"),
        Binding("f5", "add('and')", "tui.key.add_and"),
        Binding("f6", "add('or')", "tui.key.add_or"),
    ]

    class SavedList(Message):
        def __init__(self, rows: list) -> None:
            super().__init__()
            self.rows = rows

    class Values(Message):
        def __init__(self, subject: str, candidates: list) -> None:
            super().__init__()
            self.subject, self.candidates = subject, candidates

    class Saved(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    _saved: dict = {}

    def compose(self) -> ComposeResult:
        names = completion.names(self.app.store, language())
        yield Header()
        with Vertical(id="builder"):
            yield Label(t("tui.builder.condition"), classes="form-title")
            with Horizontal(classes="row"):
                yield Choice([(Text(f"{c.label} ({c.text})"), c.text) for c in names],
                             prompt=t("tui.builder.subject"), id="subject")
                yield Choice([], prompt=t("tui.builder.operator"), id="operator")
                yield Input(placeholder=t("tui.form.value"), id="value")
                yield Button(t("tui.builder.and"), id="add-and", variant="primary")
                yield Button(t("tui.builder.or"), id="add-or")
            yield Label(t("tui.builder.values_hint"), id="values", classes="form-help")
            yield Label(t("tui.builder.expression"), classes="form-title")
            yield FilterBar(id="expression", placeholder=t("tui.builder.placeholder"))
            with Horizontal(classes="row"):
                yield Input(placeholder=t("tui.builder.name"), id="name")
                yield Input(placeholder=t("tui.builder.description"), id="description")
                yield Button(t("tui.form.save"), variant="success", id="save")
        yield Label(t("tui.builder.saved"), classes="form-title")
        yield DataTable(id="saved", cursor_type="row", zebra_stripes=True)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.segments")
        table = self.query_one("#saved", DataTable)
        table.add_column(t("tui.builder.name"), width=30)
        table.add_column(t("tui.builder.expression"), width=80)
        table.add_column(t("tui.builder.owner"), width=16)
        self.load_saved()

    @work(thread=True, exclusive=True, group="saved")
    def load_saved(self) -> None:
        with self.app.reported():
            self.post_message(self.SavedList(segments.saved(self.app.store_here())))

    def on_segment_builder_screen_saved_list(self, message: SavedList) -> None:
        table = self.query_one("#saved", DataTable)
        table.clear()
        self._saved = {row["name"]: row for row in message.rows}
        for row in message.rows:
            table.add_row(Text(row["name"]), Text(row["expression"] or t("tui.builder.split", of=row["split_of"] or "")),
                          Text(row["owner"] or ""), key=row["name"])
        if not message.rows:
            table.add_row(Text(t("tui.builder.none_saved"), style="dim"), "", "")

    @on(DataTable.RowSelected, "#saved")
    def _open_saved(self, event: DataTable.RowSelected) -> None:
        name = event.row_key.value
        if name not in self._saved:
            return
        self.query_one("#name", Input).value = name
        expression = self._saved[name]["expression"]
        self.query_one(FilterBar).value = expression or f"segment = {completion.quote(name)}"
        self.query_one("#description", Input).value = self._saved[name]["description"] or ""

    # -- building a condition -------------------------------------------------------------------
    @on(Select.Changed, "#subject")
    def _subject(self, event: Select.Changed) -> None:
        operator = self.query_one("#operator", Select)
        if event.value is Select.NULL:
            operator.set_options([])
            return
        kind, _ = completion.subject_kind(self.app.store, event.value)
        operator.set_options([(Text(f"{c.text.rstrip(' (')}  {c.label}"), c.text) for c in completion.operators(kind)])
        self.values_for(event.value)

    @work(thread=True, exclusive=True, group="values")
    def values_for(self, subject: str) -> None:
        store = self.app.store_here()
        kind, spec = completion.subject_kind(store, subject)
        with self.app.reported():
            self.post_message(self.Values(subject, completion.value_candidates(store, kind, spec, language())))

    def on_segment_builder_screen_values(self, message: Values) -> None:
        label = self.query_one("#values", Label)
        value = self.query_one("#value", Input)
        shown = [c.text + (f" ({c.label})" if c.label and c.label != c.text else "") for c in message.candidates]
        label.update(Text(t("tui.builder.values", values=", ".join(shown)) if shown else t("tui.builder.values_hint")))
        value.suggester = SuggestFromList([c.text for c in message.candidates], case_sensitive=False) \
            if message.candidates else None

    def condition(self) -> str | None:
        subject = self.query_one("#subject", Select).value
        op = self.query_one("#operator", Select).value
        value = self.query_one("#value", Input).value.strip()
        if subject is Select.NULL or op is Select.NULL:
            self.notify(t("tui.builder.incomplete"), severity="warning")
            return None
        if op == "is set":
            return f"{subject} is set"
        if op == "in (":
            return f"{subject} in ({value})"
        return f"{subject} {op} {value}"

    @on(Button.Pressed, "#add-and")
    def _add_and(self) -> None:
        self.action_add("and")

    @on(Button.Pressed, "#add-or")
    def _add_or(self) -> None:
        self.action_add("or")

    def action_add(self, joiner: str) -> None:
        cond = self.condition()
        if cond is None:
            return
        bar = self.query_one(FilterBar)
        current = bar.value.strip()
        bar.value = f"{current} {joiner} {cond}" if current else cond
        self.query_one("#value", Input).value = ""

    # -- saving ---------------------------------------------------------------------------------
    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        name = self.query_one("#name", Input).value
        description = self.query_one("#description", Input).value
        self.save(name, self.query_one(FilterBar).value, description)

    @work(thread=True, exclusive=True, group="save")
    def save(self, name: str, expression: str, description: str) -> None:
        with self.app.reported():
            saved = segments.save(self.app.store_here(), self.app.actor, name, expression, description)
            self.post_message(self.Saved(saved["name"]))

    def on_segment_builder_screen_saved(self, message: Saved) -> None:
        self.notify(t("tui.builder.saved_as", name=message.name), markup=False)
        self.load_saved()

    def action_expression(self) -> None:
        self.query_one(FilterBar).focus()

    @on(FilterBar.Left)
    def _left(self) -> None:
        self.query_one("#name", Input).focus()
