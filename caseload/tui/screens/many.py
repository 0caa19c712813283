"""Working on many clients from the caseload: the marked rows (space), else every client the
filter selects, get one message (compose opens with them as "Aan wie"), one observation (a tag),
or another coach (team leads and admins). Each asks first, with the count, and is all or nothing
in the core (caseload.bulk); saving the filter as a segment asks for a name."""

from textual import work

from ... import bulk, completion, segments
from ...i18n import t
from .. import format as fmt
from .ask import AskScreen
from .confirm import ConfirmScreen


def chosen_expression(screen) -> str | None:
    """The marked clients as an expression, else the filter's text (None: nothing chosen)."""
    marked = sorted(screen.table.marked)
    if marked:
        return "client_number in (" + ", ".join(completion.quote(n) for n in marked) + ")"
    bar = screen.filter_bar
    if bar.valid is not None and bar.valid.text == bar.value and bar.value.strip():
        return bar.value.strip()
    return None


class Many:
    """Mixin for CaseloadScreen (needs .table, .filter_bar)."""

    def action_mark(self) -> None:
        self.table.toggle_mark()

    def action_compose_these(self) -> None:
        self.app.carry = chosen_expression(self)
        self.app.action_go("compose")

    def action_save_segment(self) -> None:
        bar = self.filter_bar
        if not bar.value.strip() or bar.valid is None or bar.valid.text != bar.value:
            self.notify(t("tui.many.no_filter"), severity="warning")
            return
        expression = bar.value.strip()

        def answered(answer) -> None:
            if answer and answer["text"]:
                self._save_segment(answer["text"], expression)

        self.app.push_screen(AskScreen(t("tui.many.save_question", expression=expression), t("tui.form.save"),
                                       placeholder=t("tui.builder.name")), answered)

    @work(thread=True, group="many")
    def _save_segment(self, name: str, expression: str) -> None:
        app = self.app
        with app.reported():
            saved = segments.save(app.store_here(), app.actor, name, expression, "")
            app.call_from_thread(self.notify, t("tui.builder.saved_as", name=saved["name"]), markup=False)

    def _these(self, then) -> None:
        """Call then(numbers) with the chosen clients (a worker reads a filter's)."""
        marked = sorted(self.table.marked)
        if marked:
            then(marked)
            return
        expression = chosen_expression(self)
        if expression is None:
            self.notify(t("tui.many.none_chosen"), severity="warning")
            return
        self._numbers(expression, then)

    @work(thread=True, group="many")
    def _numbers(self, expression: str, then) -> None:
        app = self.app
        with app.reported():
            numbers = bulk.numbers_in(app.store_here(), app.actor, expression)
            app.call_from_thread(then, numbers)

    def action_tag(self) -> None:
        catalog = self.app.store.catalog
        options = [(f"{c.title()} ({c.key})", c.key) for c in catalog if c.type != "text"]

        def with_numbers(numbers: list[str]) -> None:
            def answered(answer) -> None:
                if not answer or not answer["choice"] or not answer["text"]:
                    return
                key, value = answer["choice"], answer["text"]
                question = t("tui.many.tag_confirm", n=fmt.number(len(numbers)), name=catalog[key].title(), value=value)
                self.app.push_screen(ConfirmScreen(question, yes=t("tui.many.tag_yes")),
                                     lambda yes: yes and self._tag(numbers, key, value))

            self.app.push_screen(AskScreen(t("tui.many.tag_question", n=fmt.number(len(numbers))),
                                           t("tui.many.next"), options, prompt=t("tui.form.characteristic"),
                                           placeholder=t("tui.form.value")), answered)

        self._these(with_numbers)

    @work(thread=True, group="many")
    def _tag(self, numbers: list[str], key: str, value: str) -> None:
        app = self.app
        with app.reported():
            n = bulk.set_many(app.store_here(), app.actor, numbers, {key: value})
            app.call_from_thread(self._done, t("tui.many.tagged", n=fmt.number(n), name=app.store.catalog[key].title(),
                                                value=value))

    def action_reassign(self) -> None:
        def with_numbers(numbers: list[str]) -> None:
            self._coaches(numbers)

        self._these(with_numbers)

    @work(thread=True, group="many")
    def _coaches(self, numbers: list[str]) -> None:
        app = self.app
        with app.reported():
            names = bulk.coaches_for(app.store_here(), app.actor)
            app.call_from_thread(self._ask_coach, numbers, names)

    def _ask_coach(self, numbers: list[str], names: list[str]) -> None:
        def answered(answer) -> None:
            if not answer or not answer["choice"]:
                return
            to = answer["choice"]
            self.app.push_screen(ConfirmScreen(t("tui.many.reassign_confirm", n=fmt.number(len(numbers)), coach=to),
                                               yes=t("tui.many.reassign_yes")),
                                 lambda yes: yes and self._reassign(numbers, to))

        self.app.push_screen(AskScreen(t("tui.many.reassign_question", n=fmt.number(len(numbers))), t("tui.many.next"),
                                       [(n, n) for n in names], prompt=t("tui.col.coach"), text=False), answered)

    @work(thread=True, group="many")
    def _reassign(self, numbers: list[str], to: str) -> None:
        app = self.app
        with app.reported():
            n = bulk.reassign(app.store_here(), app.actor, to, numbers)
            app.call_from_thread(self._done, t("tui.many.reassigned", n=fmt.number(n), coach=to))

    def _done(self, text: str) -> None:
        self.notify(text, markup=False)
        self.table.marked.clear()
        table = self.table
        table.set_query(table.where, table.params, total=None)
        self.filter_bar.evaluate(self.filter_bar.value)
