"""`caseload tui`: the coach's terminal."""

import click

from .. import audit
from . import main, pass_env


@main.command()
@click.option("--screen", type=click.Choice(["caseload", "attention", "segments", "compose", "outbox", "reports"]),
              help="The screen to start on (default: caseload; analysts: reports).")
@pass_env
def tui(env, screen):
    """Open the coach's terminal: caseload, clients, segments, messages, outbox, attention, reports.

    Keyboard first (F1 for help, ctrl+p for the command palette); the mouse works too.
    """
    store = env.store()
    actor = env.actor("tui")
    audit.record(store.db, actor, "login", "tui")
    from ..tui.app import build_app

    build_app(store, actor, start=screen).run()
