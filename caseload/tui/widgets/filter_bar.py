"""The filter bar: a segment expression with completion of names and values, its error
coloured at the position the parser names, and the live count of clients it selects.

Every keystroke starts one exclusive thread worker that parses, compiles and counts; the
worker posts `FilterBar.Evaluated`, and only the answer for the text still in the bar counts."""

import asyncio
import re

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, Static

from ... import completion, overview, segments, values
from ...errors import CaseloadError
from ...i18n import language, t
from .. import format as fmt
from ..keys import Localized

_WORD_END = re.compile(r"[\w.\-]*|\"[^\"]*\"?|'[^']*'?|\S?")


class ErrorHighlighter(Highlighter):
    """Colours the part of the expression the parser stumbled on."""

    def __init__(self):
        self.position: int | None = None

    def highlight(self, text: Text) -> None:
        if self.position is None or self.position >= len(text.plain):
            return
        end = self.position + max(1, _WORD_END.match(text.plain, self.position).end() - self.position)
        text.stylize("bold red underline", self.position, end)


class SegmentSuggester(Suggester):
    """Completes the word being typed to the first name or value that starts with it."""

    def __init__(self, app):
        super().__init__(use_cache=False, case_sensitive=True)
        self.app = app

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value[-1].isspace():
            return None
        start, found = await asyncio.to_thread(completion.complete, self.app.store_here(), value, language())
        partial = value[start:]
        for c in found[:1]:
            if len(c.text) > len(partial) and values.fold(c.text).startswith(values.fold(partial)):
                return value[:start] + c.text
        return None


class FilterBar(Localized, Widget):
    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar Horizontal { height: auto; }
    FilterBar Input { width: 1fr; }
    FilterBar #count { width: auto; min-width: 16; padding: 1 1 0 1; text-style: bold; }
    FilterBar #hint { height: 1; padding: 0 1; color: $text-muted; }
    FilterBar #hint.error { color: $text-error; }
    """
    BINDINGS = [Binding("tab", "complete", "tui.key.complete", show=False)]

    class Evaluated(Message):
        def __init__(self, text, where, params, count, error, start, candidates) -> None:
            super().__init__()
            self.text, self.where, self.params, self.count = text, where, params, count
            self.error, self.start, self.candidates = error, start, candidates

    class Applied(Message):
        """A valid expression and how many clients it selects."""

        def __init__(self, bar: "FilterBar", text: str, where: str, params: list, count: int) -> None:
            super().__init__()
            self.bar, self.text, self.where, self.params, self.count = bar, text, where, params, count

        @property
        def control(self):
            return self.bar

    class Left(Message):
        """Enter: the user is done with the bar (Escape is the app's: it leaves any input)."""

    def __init__(self, value: str = "", placeholder: str | None = None, count: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.counts = count  # False: check the expression only (an analyst sees no client counts)
        self.highlighter = ErrorHighlighter()
        self._initial = value
        self._placeholder = placeholder or t("tui.filter.placeholder")
        self.last: FilterBar.Evaluated | None = None
        self.valid: FilterBar.Applied | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(self._initial, placeholder=self._placeholder, highlighter=self.highlighter,
                        suggester=SegmentSuggester(self.app), select_on_focus=False, id="expr")
            yield Static(id="count", markup=False)
        yield Static(t("tui.filter.hint"), id="hint", markup=False)

    def on_mount(self) -> None:
        self.evaluate(self._initial)

    @property
    def input(self) -> Input:
        return self.query_one("#expr", Input)

    @property
    def value(self) -> str:
        return self.input.value

    @value.setter
    def value(self, text: str) -> None:
        self.input.value = text
        self.input.cursor_position = len(text)

    def focus(self, scroll_visible: bool = True):
        self.input.focus(scroll_visible)
        return self

    @on(Input.Changed, "#expr")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.evaluate(event.value)

    @on(Input.Submitted, "#expr")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Left())

    @work(thread=True, exclusive=True, group="filter")
    def evaluate(self, text: str) -> None:
        store, actor = self.app.store_here(), self.app.actor
        start, candidates = completion.complete(store, text, language())
        try:
            where, params = ("1", []) if not text.strip() else segments.resolve_where(store, text)
            count = overview.count(store, actor, where, params) if self.counts else None
        except segments.SegmentError as e:
            self.post_message(self.Evaluated(text, None, None, None, e, start, candidates))
            return
        except CaseloadError as e:
            self.post_message(self.Evaluated(text, None, None, None, e, start, candidates))
            return
        self.post_message(self.Evaluated(text, where, params, count, None, start, candidates))

    def on_filter_bar_evaluated(self, message: Evaluated) -> None:
        message.stop()
        if message.text != self.value:
            return
        self.last = message
        hint = self.query_one("#hint", Static)
        count = self.query_one("#count", Static)
        error = message.error
        if error is not None:
            at_end = isinstance(error, segments.SegmentError) and error.position >= len(message.text.rstrip())
            self.highlighter.position = None if at_end else getattr(error, "position", None)
            reason = getattr(error, "reason", None) or error.message
            hint.update(Text(reason))
            hint.set_class(not at_end, "error")
            count.update(Text("…"))
        else:
            self.highlighter.position = None
            hint.remove_class("error")
            hint.update(self._candidates_text(message) if message.text.strip() else Text(t("tui.filter.hint")))
            count.update(Text("") if message.count is None else
                         Text(t("tui.count_one" if message.count == 1 else "tui.count", n=fmt.number(message.count))))
            self.valid = self.Applied(self, message.text, message.where, message.params, message.count)
            self.post_message(self.Applied(self, message.text, message.where, message.params, message.count))
        if error is not None and message.candidates:
            hint.update(self._candidates_text(message, prefix=Text(reason + "  ·  ")))
        self.input.refresh()

    def _candidates_text(self, message: Evaluated, prefix: Text | None = None) -> Text:
        out = prefix or Text()
        if not message.candidates:
            return out
        out.append(t("tui.filter.tab") + " ", "bold")
        for i, c in enumerate(message.candidates[:8]):
            if i:
                out.append("  ")
            out.append(c.text, "bold")
            if c.label and c.label != c.text:
                out.append(f" {c.label}")
        return out

    def action_complete(self) -> None:
        """Tab: put the first candidate in place of the word being typed (else: next field)."""
        value = self.value
        m = self.last
        if m is not None and m.text == value:
            start, candidates = m.start, m.candidates
        else:  # typed faster than the worker answered: the names are in memory, values one small query
            start, candidates = completion.complete(self.app.store, value, language())
        if not candidates or (not value[start:] and candidates[0].kind == "name"):
            self.screen.focus_next()
            return
        word = candidates[0].text
        self.value = value[:start] + word + ("" if word.endswith("(") else " ")
