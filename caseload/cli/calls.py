"""Commands for clients who prefer phone or post: the call list and letters."""

import click

from .. import calls as core
from ..i18n import t
from . import main, pass_env
from .output import emit, format_option, note


@main.group("call", invoke_without_command=True)
@format_option
@click.pass_context
def call(ctx, fmt):
    if ctx.invoked_subcommand is not None:
        return
    from . import Env

    env = ctx.find_object(Env)
    rows = [c.row() for c in core.call_list(env.store(), env.actor())]
    if not rows and fmt == "table":
        note(t("calls.empty"))
        return
    emit(rows, list(core.COLUMNS), fmt)


@call.command("record")
@click.argument("number")
@click.argument("answer")
@pass_env
def call_record(env, number, answer):
    out = core.record(env.store(), env.actor(), number, answer)
    note(t("calls.recorded", characteristic=out["characteristic"], value=out["value"], number=out["client_number"]))
    if out["next"]:
        note(t("calls.next", question=out["next"]))
