"""Reports: outflow by characteristic and the effect of an intervention, as charts and tables.
Small groups are suppressed by the core (config.reports.min_cell_size) and shown as such.
The only screen an analyst gets: aggregates, never a client."""

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, LoadingIndicator, Select, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from ... import interventions
from ...i18n import t
from .. import format as fmt
from ..keys import Localized
from ..widgets.choice import Choice
from ..widgets.filter_bar import FilterBar
from ..widgets.footer import KeyFooter


def _pct(value) -> str:
    return fmt.decimal(value)


def _noise(summary: Text, report: dict) -> None:
    """An analyst's numbers carry noise (caseload.privacy): say how much."""
    noise = report.get("privacy")
    if noise:
        summary.append("\n" + t("privacy.tui_note", margin=noise["margin"], epsilon=f"{noise['epsilon']:g}"), "dim")


class ReportsScreen(Localized, Screen):
    AUTO_FOCUS = "#report-segment Input"  # typing a segment is the one thing to type here
    HOME = "#report-tabs Tabs"
    BINDINGS = [Binding("f5", "reload", "tui.key.reload"),
                Binding("u", "tab('outflow')", "tui.key.outflow_report"),
                Binding("e", "tab('effect')", "tui.key.effect_report"),
                Binding("l", "toggle_values", "tui.key.values")]
    as_of = True  # the outflow tab describes the cohort as it was on its start date; l switches to the latest

    class Outflow(Message):
        def __init__(self, key: str, report: dict) -> None:
            super().__init__()
            self.key, self.report = key, report

    class Effect(Message):
        def __init__(self, name: str, report: dict) -> None:
            super().__init__()
            self.name, self.report = name, report

    class Programmes(Message):
        def __init__(self, names: list) -> None:
            super().__init__()
            self.names = names

    def compose(self) -> ComposeResult:
        catalog = self.app.store.catalog
        yield Header()
        with TabbedContent(initial="outflow", id="report-tabs"):
            with TabPane(t("tui.reports.outflow"), id="outflow"):
                with Horizontal(classes="row"):
                    yield Choice([(Text(f"{c.title()} ({c.key})"), c.key) for c in catalog if c.type != "text"],
                                 value="wellbeing" if "wellbeing" in catalog else Select.NULL,
                                 prompt=t("tui.form.characteristic"), id="outflow-key")
                yield FilterBar(id="report-segment", placeholder=t("tui.reports.segment_placeholder"),
                                count=False)
                yield Static(id="outflow-summary")
                yield LoadingIndicator(id="outflow-loading")
                with Horizontal(classes="report"):
                    yield PlotextPlot(id="outflow-plot")
                    with VerticalScroll():
                        yield Static(id="outflow-table")
            with TabPane(t("tui.reports.effect"), id="effect"):
                with Horizontal(classes="row"):
                    yield Choice([], prompt=t("tui.reports.pick_intervention"), id="effect-name")
                yield Static(Text(t("tui.reports.effect_hint"), style="dim"), id="effect-summary")
                yield LoadingIndicator(id="effect-loading")
                with Horizontal(classes="report"):
                    yield PlotextPlot(id="effect-plot")
                    with VerticalScroll():
                        yield Static(id="effect-table")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = t("tui.title.reports")
        self.query_one("#effect-loading").display = False
        self.load_programmes()
        key = self.query_one("#outflow-key", Select).value
        if key is not Select.NULL:
            self.outflow(key)
        else:
            self.query_one("#outflow-loading").display = False

    @work(thread=True, exclusive=True, group="programmes")
    def load_programmes(self) -> None:
        with self.app.reported():
            self.post_message(self.Programmes(interventions.active_names(self.app.store_here())))

    def on_reports_screen_programmes(self, message: Programmes) -> None:
        self.query_one("#effect-name", Select).set_options([(Text(n), n) for n in message.names])

    # -- outflow by characteristic --------------------------------------------------------------
    @on(Select.Changed, "#outflow-key")
    def _outflow_key(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.outflow(event.value)

    def outflow(self, key: str) -> None:
        self.query_one("#outflow-loading").display = True
        bar = self.query_one("#report-segment", FilterBar)
        segment = bar.valid.text.strip() if bar.valid is not None and bar.valid.text == bar.value else ""
        self.run_outflow(key, segment)

    @on(FilterBar.Left)
    def _segment_entered(self) -> None:
        """Enter: the outflow of this segment too (not on every key: an analyst's run is a release)."""
        key = self.query_one("#outflow-key", Select).value
        if key is not Select.NULL:
            self.outflow(key)

    @work(thread=True, exclusive=True, group="outflow")
    def run_outflow(self, key: str, segment: str = "") -> None:
        from ...reports import outflow_report

        app = self.app
        with app.reported():
            self.post_message(self.Outflow(key, outflow_report(app.store_here(), app.actor, keys=[key],
                                                               as_of=self.as_of,
                                                               segments=[segment] if segment else None)))

    def on_reports_screen_outflow(self, message: Outflow) -> None:
        self.query_one("#outflow-loading").display = False
        r = message.report
        o = r["overall"]
        summary = Text(t("reports.outflow_title", outcome=t("tui.reports.outcome_outflow"), start=fmt.day(r["cohort_date"]),
                         end=fmt.day(r["end_date"])), style="bold")
        summary.append("\n" + t("tui.reports.overall", n=fmt.number(o["n"]), outflow=fmt.number(o["outflow"]),
                                rate=_pct(o["rate_pct"])))
        if not r["follow_up_complete"]:
            summary.append("  " + t("tui.reports.incomplete"), "yellow")
        summary.append("\n" + r["values_note"], "dim")
        for x in r.get("segments", []):
            summary.append("\n")
            summary.append(t("tui.reports.segment_row", segment=x["segment"], n=fmt.number(x["n"]),
                             outflow=fmt.number(x["outflow"]), rate=_pct(x["rate_pct"]))
                           if not x["suppressed"] else t("tui.reports.segment_suppressed", segment=x["segment"]))
        _noise(summary, r)
        self.query_one("#outflow-summary", Static).update(summary)
        rows = [x for x in r["by_characteristic"] if x["key"] == message.key]
        table = Table(box=None, header_style="bold", expand=True)
        for col in ("value", "n", "outflow", "rate", "ci", "difference"):
            table.add_column(t(f"reports.col.{col}"), justify="left" if col == "value" else "right")
        for x in rows:
            if x["suppressed"]:
                table.add_row(Text(str(x["label"])), Text(t("reports.suppressed"), style="dim"), "", "", "", "")
                continue
            ci = f"{_pct(x['ci_low_pct'])}-{_pct(x['ci_high_pct'])}" if x["rate_pct"] is not None else "-"
            diff = x.get("difference_pp")
            table.add_row(Text(str(x["label"])), fmt.number(x["n"]), fmt.number(x["outflow"]), _pct(x["rate_pct"]),
                          ci, "-" if diff is None else ("+" if diff > 0 else "") + _pct(diff))
        self.query_one("#outflow-table", Static).update(table)
        shown = [x for x in rows if not x["suppressed"] and x["rate_pct"] is not None]
        plot = self.query_one("#outflow-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        ch = self.app.store.catalog[message.key]
        plt.title(t("tui.reports.rate_by", name=ch.title()))
        if shown:
            plt.bar([str(x["label"])[:14] for x in shown], [x["rate_pct"] for x in shown])
            if o["rate_pct"] is not None:
                plt.hline(o["rate_pct"])
        plot.refresh()

    # -- intervention effect --------------------------------------------------------------------
    @on(Select.Changed, "#effect-name")
    def _effect_name(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.query_one("#effect-loading").display = True
            self.run_effect(event.value)

    @work(thread=True, exclusive=True, group="effect")
    def run_effect(self, name: str) -> None:
        from ...reports import effect_report

        app = self.app
        with app.reported():
            self.post_message(self.Effect(name, effect_report(app.store_here(), app.actor, name)))
        app.call_from_thread(setattr, self.query_one("#effect-loading"), "display", False)

    def on_reports_screen_effect(self, message: Effect) -> None:
        self.query_one("#effect-loading").display = False
        r = message.report
        summary = Text(t("tui.reports.effect_of", name=message.name), style="bold")
        summary.append("\n")
        summary.append(r["conclusion"])
        for warning in r.get("warning_text", []):
            summary.append("\n" + warning, "yellow")
        _noise(summary, r)
        self.query_one("#effect-summary", Static).update(summary)
        table = Table(box=None, show_header=False, expand=True)
        table.add_column(style="bold")
        table.add_column(justify="right")
        for field in ("participants_total", "participants", "matched_participants", "controls",
                      "participant_rate_pct", "control_rate_pct", "effect_pp", "naive_control_rate_pct",
                      "naive_effect_pp"):
            value = r.get(field)
            shown = fmt.number(value) if isinstance(value, int) else _pct(value) if isinstance(value, float) else \
                (t("reports.suppressed") if value is None and r["suppressed"] else "-")
            table.add_row(Text(t(f"tui.effect.{field}")), Text(shown))
        if r.get("ci_low_pp") is not None:
            table.add_row(Text(t("tui.effect.ci")), Text(f"{_pct(r['ci_low_pp'])} .. {_pct(r['ci_high_pp'])}"))
        self.query_one("#effect-table", Static).update(table)
        plot = self.query_one("#effect-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(t("tui.reports.rates"))
        bars = [(t("tui.effect.bar_participants"), r.get("participant_rate_pct")),
                (t("tui.effect.bar_matched"), r.get("control_rate_pct")),
                (t("tui.effect.bar_naive"), r.get("naive_control_rate_pct"))]
        bars = [(label, v) for label, v in bars if v is not None]
        if bars:
            plt.bar([b[0] for b in bars], [b[1] for b in bars])
        plot.refresh()

    def action_toggle_values(self) -> None:
        """Characteristics as on the cohort's start date, or as recorded most recently."""
        self.as_of = not self.as_of
        key = self.query_one("#outflow-key", Select).value
        if key is not Select.NULL:
            self.outflow(key)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_reload(self) -> None:
        key = self.query_one("#outflow-key", Select).value
        if key is not Select.NULL:
            self.outflow(key)
        name = self.query_one("#effect-name", Select).value
        if name is not Select.NULL:
            self._effect_name(Select.Changed(self.query_one("#effect-name", Select), name))
