"""The coach's day: `caseload attention ...`, `caseload inbox`, `caseload followup ...`."""

import click

from .. import attention as core, conversations, followups
from ..i18n import t
from . import main, pass_env
from .output import emit, format_option, note


HEADERS = {"client_number": "client", "received_at": "received", "snippet": "text", "due_date": "due",
           "done_at": "done"}


def _emit(rows: list[dict], columns: list[str], fmt: str) -> None:
    emit(rows, columns, fmt, headers=[t(f"attention.col.{HEADERS.get(c, c)}") for c in columns])


@main.group("attention")
def attention_group():
    pass


@attention_group.command("list")
@click.option("--coach")
@format_option
@pass_env
def attention_list(env, coach, fmt):
    rows = core.attention_list(env.store(), env.actor(), coach)
    _emit(rows, ["client_number", "name", "coach", "why"], fmt)


@attention_group.command("maintenance")
@click.option("--coach")
@format_option
@pass_env
def attention_maintenance(env, coach, fmt):
    rows = core.maintenance_list(env.store(), env.actor(), coach)
    _emit(rows, ["client_number", "name", "coach", "oldest", "stale"], fmt)


@attention_group.command("deliveries")
@format_option
@pass_env
def attention_deliveries(env, fmt):
    rows = core.delivery_problems(env.store(), env.actor())
    _emit(rows, ["client_number", "name", "coach", "channel", "reason", "failed", "last"], fmt)


@attention_group.command("handled")
@click.argument("number")
@pass_env
def attention_handled(env, number):
    core.mark(env.store(), env.actor(), number, "handled")
    note(t("attention.handled", number=number))


@attention_group.command("snooze")
@click.argument("number")
@click.option("--until", "until", required=True)
@pass_env
def attention_snooze(env, number, until):
    core.mark(env.store(), env.actor(), number, "snoozed", until=until)
    note(t("attention.snoozed", number=number, until=until))


@main.command("inbox")
@click.option("--coach")
@click.option("--limit", type=click.IntRange(1, 10000), default=200, show_default=True)
@format_option
@pass_env
def inbox(env, coach, limit, fmt):
    rows = conversations.inbox(env.store(), env.actor(), coach, limit)
    for r in rows:
        r["urgent"] = ", ".join(r["urgent"])
    _emit(rows, ["received_at", "client_number", "name", "channel", "urgent", "text" if fmt != "table" else "snippet"],
          fmt)


@main.group("followup")
def followup():
    pass


@followup.command("list")
@click.option("--client", "number")
@click.option("--for", "assignee")
@click.option("--due", is_flag=True)
@click.option("--all", "include_done", is_flag=True)
@format_option
@pass_env
def followup_list(env, number, assignee, due, include_done, fmt):
    rows = followups.list_followups(env.store(), env.actor(), number=number, assignee=assignee, due_only=due,
                                    include_done=include_done)
    _emit(rows, followups.COLUMNS, fmt)


@followup.command("add")
@click.argument("number")
@click.argument("what")
@click.option("--due", required=True)
@click.option("--for", "assignee")
@pass_env
def followup_add(env, number, what, due, assignee):
    store = env.store()
    fid = followups.add(store, env.actor(), number, what, due, assignee)
    (when,) = store.db.execute("SELECT due_date FROM follow_ups WHERE id = ?", [fid]).fetchone()
    click.echo(fid)
    note(t("followup.added", id=fid, due=when))


@followup.command("done")
@click.argument("followup_id", type=int)
@pass_env
def followup_done(env, followup_id):
    followups.done(env.store(), env.actor(), followup_id)
    note(t("followup.marked_done", id=followup_id))
