"""Commands for the organisation's data: init, demo, import, export, client, intervention."""

import os
import sys
from pathlib import Path

import click

from .. import access, clients as core, exporter, files, importer, interventions, users
from ..config import example_toml
from ..errors import BadInput, CaseloadError
from ..i18n import t
from . import main, pass_env
from .output import confirm, emit, emit_record, format_option, note, yes_option


def _key_values(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for i, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(t("cli.bad_pair", position=i, text=pair))
        out[key.strip()] = value
    return out


@main.command()
@click.option("--print-config", is_flag=True)
@pass_env
def init(env, print_config):
    if print_config:
        click.echo(example_toml(), nl=False)
        return
    if not env.config_path.exists():
        if access.under_sudo():
            note(t("files.init_no_config", file=env.config_path))
        else:
            env.config_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(env.config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:  # no secrets in it, but nobody else's business
                f.write(example_toml())
            note(t("cli.config_written", file=env.config_path))
    store = env.store(create=True)
    user = access.os_user()
    if users.register_first_admin(store, user):
        note(t("cli.first_admin", user=user))
    elif not store.db.execute("SELECT 1 FROM users LIMIT 1").fetchone():
        raise CaseloadError(t("files.init_no_users", file=env.db_path))
    note(t("cli.db_created" if store.created else "cli.db_exists", file=env.db_path))


@main.command()
@click.option("--clients", "n", type=click.IntRange(1, 2_000_000), default=2000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--force", is_flag=True)
@pass_env
def demo(env, n, seed, force):
    from .. import demo as demo_core

    path = env.db_path
    if path.exists():
        if not force:
            raise BadInput(t("demo.exists", file=path))
        access.require_admin(env.actor())  # only an admin may throw a database away
        env.close()
        env._store = env._actor = None
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    store = env.store(create=True)
    summary = demo_core.build(store, n, seed=seed, admin=access.os_user(), progress=_progress_callback(n))
    emit_record(summary, "table")


def _progress_callback(total_hint: int):
    if not sys.stderr.isatty() or total_hint < 5000:
        return None
    from rich.progress import Progress

    progress = Progress(transient=True, console=None)
    task = {"id": None}

    def update(done, total):
        if task["id"] is None:
            progress.start()
            task["id"] = progress.add_task(t("cli.working"), total=total)
        progress.update(task["id"], completed=done, total=total)
        if total is not None and done >= total:
            progress.stop()

    return update


@main.command("import")
@click.argument("file", metavar="FILE")
@click.option("--dry-run", is_flag=True)
@click.option("--column", "column_pairs", multiple=True, metavar='"HEADER=KEY"')
@click.option("--map", "map_path", metavar="MAP.toml")
@pass_env
def import_(env, file, dry_run, column_pairs, map_path):
    from ..files import is_stdio

    if map_path is not None and is_stdio(file) and is_stdio(map_path):
        raise BadInput(t("import.one_stdin"))
    mapping = {**importer.read_map(map_path), **importer.parse_columns(column_pairs)}
    store = env.store()
    report = importer.import_file(store, env.actor(), file, mapping, dry_run=dry_run,
                                  progress=_progress_callback(100_000))
    key = "cli.import_dry_run" if dry_run else "cli.import_done"
    if report.history:
        key = "impact.history_dry_run" if dry_run else "impact.history_done"
    note(t(key, rows=report.rows, created=report.created, updated=report.updated,
           unchanged=report.unchanged, observations=report.observations))


@main.command()
@click.option("--segment")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", metavar="FILE")
@click.option("--force", is_flag=True)
@click.option("--include-special", is_flag=True)
@pass_env
def export(env, segment, fmt, output, force, include_special):
    example = f"sudo -u caseload caseload export --format {fmt} > mine.{fmt}"
    own = env.own_files()
    files.check_output(output, "--output", example, own, force)
    if fmt == "xlsx" and (output is None or files.is_stdio(output)) and sys.stdout.isatty():
        raise BadInput(t("files.to_terminal", example="caseload export --format xlsx > mine.xlsx"))
    store, actor = env.store(), env.actor()
    where, params = "1", []
    if segment:
        from ..segments import resolve_where

        where, params = resolve_where(store, segment)
    rows = exporter.export_values(store, actor, include_special, where, params)
    with files.open_output(output, "--output", example, own, force, binary=fmt == "xlsx") as out:
        n = exporter.write_xlsx(rows, out) if fmt == "xlsx" else exporter.write_csv(rows, out)
    if output is not None and not files.is_stdio(output):
        note(t("cli.exported", n=n, file=output))


@main.group()
def client():
    pass


@client.command("list")
@click.option("--limit", type=click.IntRange(1), default=None)
@format_option
@pass_env
def client_list(env, limit, fmt):
    rows = core.list_clients(env.store(), env.actor(), limit=limit)
    emit(rows, list(core.LIST_COLUMNS), fmt)


@client.command("show")
@click.argument("number")
@click.option("--include-special/--no-special", default=True)
@format_option
@pass_env
def client_show(env, number, include_special, fmt):
    store = env.store()
    c = core.show_client(store, env.actor(), number)
    record = {k: v for k, v in c.items() if k not in ("id", "profile", "notes", "interventions")}
    for p in c["profile"]:
        ch = store.catalog[p.key]
        if ch.special and not include_special:
            continue
        if fmt == "table":
            shown = ch.value_title(p.value) + (f"  ({t('cli.stale')})" if p.stale else "")
            record[ch.title()] = shown
        else:
            record[p.key] = p.value
    if fmt == "table":
        for i, n in enumerate(c["notes"], 1):
            record[f"{t('cli.note')} {i}"] = f"{n['created_at'][:10]} {n['author'] or ''}: {n['text']}"
        for i, iv in enumerate(c["interventions"], 1):
            record[f"{t('cli.intervention')} {i}"] = (
                f"{iv['name']} {iv['start_date']}..{iv['end_date'] or ''} {iv['result'] or ''}".strip())
    else:
        record["notes"] = c["notes"]
        record["interventions"] = c["interventions"]
    emit_record(record, fmt)


@client.command("add")
@click.argument("pairs", nargs=-1, required=True, metavar="FIELD=VALUE...")
@pass_env
def client_add(env, pairs):
    fields = _key_values(pairs)
    core.add_client(env.store(), env.actor(), fields)
    note(t("cli.client_added", number=fields.get("client_number")))


@client.command("update")
@click.argument("number")
@click.argument("pairs", nargs=-1, required=True, metavar="FIELD=VALUE...")
@pass_env
def client_update(env, number, pairs):
    core.update_client(env.store(), env.actor(), number, _key_values(pairs))


@client.command("set")
@click.argument("number")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--source", type=click.Choice(core.SOURCES), default="coach", show_default=True)
@click.option("--at", "at", metavar="DATE")
@pass_env
def client_set(env, number, pairs, source, at):
    from .. import history

    if at is not None:
        try:
            at = history.observed_at(at)
        except ValueError as e:
            raise BadInput(t("impact.bad_at", reason=str(e))) from None
    n = core.set_characteristics(env.store(), env.actor(), number, _key_values(pairs), source=source,
                                 observed_at=at)
    note(t("cli.observed", n=n))


@client.command("note")
@click.argument("number")
@click.argument("text")
@pass_env
def client_note(env, number, text):
    core.add_note(env.store(), env.actor(), number, text)


@client.command("conversation")
@click.argument("number")
@click.option("--limit", type=click.IntRange(1, 5000), default=50, show_default=True)
@format_option
@pass_env
def client_conversation(env, number, limit, fmt):
    from .. import timeline

    events = timeline.timeline(env.store(), env.actor(), number, limit=limit)
    rows = [{"at": e.at, "kind": e.kind, "new": "*" if e.unread else "", "detail": e.detail, "author": e.author,
             "status": e.status, "text": e.text} for e in events]
    columns = ["at", "kind", "new", "detail", "author", "status", "text"]
    emit(rows, columns, fmt, headers=[t(f"attention.col.{c}") for c in columns])


@client.command("message")
@click.argument("number")
@click.argument("text")
@click.option("--channel", type=click.Choice(["auto", "sms", "email"]), default="auto", show_default=True)
@click.option("--subject")
@click.option("--at")
@pass_env
def client_message(env, number, text, channel, subject, at):
    from .. import conversations

    store, actor = env.store(), env.actor()
    plan = conversations.plan_message(store, actor, number, text, channel=channel, subject=subject, at=at)
    mid = conversations.send_message(store, actor, plan)
    click.echo(mid)
    when = plan.send_at.astimezone(store.tz).strftime("%Y-%m-%d %H:%M")
    note(t("conversation.queued", id=mid, channel=plan.channel, at=when))
    for why, until in plan.held:
        note("  " + t(f"conversation.held_{why}", until=until.astimezone(store.tz).strftime("%Y-%m-%d %H:%M")))


@client.command("read")
@click.argument("number")
@click.option("--unread", is_flag=True)
@pass_env
def client_read(env, number, unread):
    from .. import conversations

    n = conversations.mark_read(env.store(), env.actor(), number, unread=unread)
    note(t("conversation.unread") if unread else t("conversation.read", n=n))


@client.command("outflow")
@click.argument("number")
@click.option("--type", "outflow_type", required=True,
              type=click.Choice(["fulltime", "parttime", "self_employed", "education", "moved", "other"]))
@click.option("--date", "when")
@click.option("--correct", is_flag=True)
@pass_env
def client_outflow(env, number, outflow_type, when, correct):
    done = core.record_outflow(env.store(), env.actor(), number, outflow_type, when, correct=correct)
    note(t("client.outflow_corrected" if done["corrected"] else "client.outflow_recorded", number=number,
           type=t(f"reports.type.{done['outflow_type']}"), date=core.show_day(done["outflow_date"])))


@client.command("reassign")
@click.argument("numbers", nargs=-1)
@click.option("--to", "to_coach", required=True)
@click.option("--from", "from_coach")
@click.option("--segment")
@yes_option
@pass_env
def client_reassign(env, numbers, to_coach, from_coach, segment, yes):
    from .. import bulk, completion

    store, actor = env.store(), env.actor()
    access.require(actor, "teamlead", "admin")  # before any client is looked up or counted
    if sum(map(bool, (numbers, from_coach, segment))) != 1:
        raise BadInput(t("bulk.which_clients"))
    if from_coach:
        segment = f"coach = {completion.quote(from_coach)}"
    chosen = list(numbers) if numbers else bulk.numbers_in(store, actor, segment)
    if not chosen:
        raise BadInput(t("bulk.none"))
    if len(chosen) > 1 and not yes:
        confirm(t("bulk.reassign_confirm", n=len(chosen), coach=to_coach))
    n = bulk.reassign(store, actor, to_coach, chosen)
    note(t("bulk.reassigned", n=n, coach=to_coach))


@client.command("history")
@click.argument("number")
@click.argument("key")
@format_option
@pass_env
def client_history(env, number, key, fmt):
    rows = core.history(env.store(), env.actor(), number, key)
    emit(rows, ["observed_at", "value", "source", "author"], fmt)


@client.command("forget")
@click.argument("number")
@click.option("--yes", is_flag=True)
@pass_env
def client_forget(env, number, yes):
    from .. import erasure

    store, actor = env.store(), env.actor()
    access.require_admin(actor)
    if not yes:
        confirm(t("erasure.confirm", number=number))
    done = erasure.forget(store, actor, number)
    note(t("erasure.done", rows=sum(done["tables"].values()), tables=len(done["tables"])))
    if not done["checkpointed"]:
        note(t("erasure.checkpoint_later"))


@client.command("optout")
@click.argument("number")
@click.option("--channel", type=click.Choice(["sms", "email", "all"]), required=True)
@click.option("--undo", is_flag=True)
@pass_env
def client_optout(env, number, channel, undo):
    from .. import policy

    store, actor = env.store(), env.actor()
    access.can_change_clients(actor)
    cid = core.client_id(store, actor, number)
    changed = policy.set_opt_out(store, cid, channel, opted_out=not undo, source="coach", actor=actor)
    note(t("policy.opted_in" if undo else "policy.opted_out", channel=channel) if changed else t("policy.unchanged"))


def when_or_today(when: str | None) -> str:
    from datetime import date

    from ..values import parse_date

    return parse_date(when).isoformat() if when else date.today().isoformat()


@main.group()
def intervention():
    pass


@intervention.command("start")
@click.argument("number")
@click.argument("name")
@click.option("--date", "when")
@pass_env
def intervention_start(env, number, name, when):
    interventions.start(env.store(), env.actor(), number, name, when)
    note(t("intervention.started", number=number, name=name.strip(), date=core.show_day(when_or_today(when))))


@intervention.command("end")
@click.argument("number")
@click.argument("name")
@click.option("--date", "when")
@click.option("--result", type=click.Choice(interventions.RESULTS))
@pass_env
def intervention_end(env, number, name, when, result):
    interventions.end(env.store(), env.actor(), number, name, when, result)
    note(t("intervention.ended", number=number, name=name.strip(), date=core.show_day(when_or_today(when)),
           result=t(f"tui.result.{result}") if result else "-"))


@intervention.command("import")
@click.argument("file", metavar="FILE")
@click.option("--dry-run", is_flag=True)
@pass_env
def intervention_import(env, file, dry_run):
    n = importer.import_interventions(env.store(), env.actor(), file, dry_run=dry_run)
    note(t("cli.interventions_imported" if not dry_run else "cli.interventions_checked", n=n))
