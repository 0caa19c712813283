"""`caseload tui`: the coach's terminal."""

import logging
import logging.handlers
from contextlib import contextmanager

import click

from .. import audit
from . import main, pass_env


@main.command()
@click.option("--screen", type=click.Choice(["caseload", "attention", "inbox", "segments", "compose", "outbox", "reports"]))
@pass_env
def tui(env, screen):
    store = env.store()
    actor = env.actor("tui")
    audit.record(store.db, actor, "login", "tui")
    from ..tui.app import build_app

    with _logs_after_the_screen():
        build_app(store, actor, start=screen).run()


@contextmanager
def _logs_after_the_screen():
    """Log lines written to the terminal while the TUI draws on it would garble the screen:
    hold them while it runs and write them to stderr when it has closed."""
    root = logging.getLogger()
    streams = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    held = logging.handlers.MemoryHandler(capacity=10_000, flushLevel=logging.CRITICAL + 1)
    for h in streams:
        root.removeHandler(h)
    root.addHandler(held)
    try:
        yield
    finally:
        root.removeHandler(held)
        for h in streams:
            root.addHandler(h)
        for record in held.buffer:
            root.handle(record)
