"""Printing for people (rich tables) and for scripts (csv, json) on stdout; diagnostics on stderr."""

import csv
import json
import sys
from datetime import date

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import display
from ..exporter import spreadsheet_safe

FORMATS = ("table", "csv", "json")

format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)


def stdout() -> Console:
    """Rich on stdout; piped output is not squeezed into 80 columns."""
    width = None if sys.stdout.isatty() else 200
    return Console(file=sys.stdout, highlight=False, soft_wrap=False, width=width)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False)


def _csv(value):
    """A CSV cell: text a spreadsheet would run as a formula is neutralised, numbers are not."""
    if value is None:
        return ""
    value = _plain(value)
    return spreadsheet_safe(value) if isinstance(value, str) else value


def _plain(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _tz():
    """The organisation's time zone, for moments in tables (UTC outside a command)."""
    from datetime import timezone

    from . import Env

    ctx = click.get_current_context(silent=True)
    env = ctx.find_object(Env) if ctx is not None else None
    return env.config.tz if env is not None else timezone.utc


def header(column: str) -> str:
    """A column's header for people in the UI language (locale [column]); its key when unknown."""
    from ..i18n import language, texts

    return texts(language()).get("column." + column) or column


def _json_default(value):
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "__dict__"):
        return vars(value)
    return str(value)


def emit(rows: list[dict], columns: list[str], fmt: str, headers: list[str] | None = None,
         title: str | None = None) -> None:
    if fmt == "json":
        click.echo(json.dumps([{c: r.get(c) for c in columns} for r in rows], ensure_ascii=False, indent=1,
                              default=_json_default))
        return
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_csv(r.get(c)) for c in columns])
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for h in headers or [header(c) for c in columns]:
        table.add_column(h)
    tz = _tz()
    for r in rows:
        table.add_row(*[Text(display.cell(r.get(c), tz, c)) for c in columns])
    stdout().print(table)


def emit_record(record: dict, fmt: str, labels: dict | None = None) -> None:
    """One object: key/value table for people, one JSON object or a two-column CSV for scripts."""
    if fmt == "json":
        click.echo(json.dumps(record, ensure_ascii=False, indent=1, default=_json_default))
        return
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["field", "value"])
        for k, v in record.items():
            w.writerow([k, _csv(v)])
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    tz = _tz()
    for k, v in record.items():
        table.add_row(Text((labels or {}).get(k) or header(k)), Text(display.cell(v, tz, k)))
    stdout().print(table)


def note(message: str) -> None:
    """A diagnostic for people, on stderr, never wrapped (scripts and logs read it too)."""
    click.echo(message, err=True)


yes_option = click.option("--yes", is_flag=True)


def ask(reach, tz, question: str, yes: bool, *details: str) -> None:
    """Show whom a mass action reaches (counts by channel, when the first go out) on stderr, and
    ask when it is more than one client or message, unless --yes. No answer (no terminal) is no."""
    note(reach.describe(tz))
    for line in details:
        note(line)
    if reach.asks() and not yes:
        confirm(question)


def confirm(question: str) -> None:
    """Ask on stderr in the user's language (j/ja in Dutch); anything else, or no terminal to
    answer from, aborts (exit 1)."""
    from ..i18n import t

    try:
        answer = click.prompt(f"{question} {t('answer.choices')}", default="", show_default=False, err=True,
                              prompt_suffix=" ")
    except click.exceptions.Abort:  # no terminal, or ctrl+d / ctrl+c
        answer = ""
        click.echo(err=True)
    if answer.strip().lower() not in [w.strip() for w in t("answer.yes").split(",")]:
        note(t("answer.nothing_done"))
        raise click.exceptions.Exit(1)


def privacy_note(store, actor, noise: dict) -> None:
    """For an analyst: how exact the numbers are and what is left of the budget (stderr).
    noise: epsilon, margin and repeated, as privacy.Release.summary() gives them."""
    from .. import privacy
    from ..i18n import t

    s = privacy.status(store, actor)
    key = "privacy.note_repeat" if noise["repeated"] else "privacy.note"
    note(t(key, margin=noise["margin"], epsilon=f"{noise['epsilon']:g}", left=f"{s['left']:g}",
           budget=f"{s['budget']:g}", until=s["period_end"]))
