"""Commands for messages: template, queue, send, outbox, and client optout."""

import signal
import threading

import click

from .. import clock, display, files, outbox as core, templates
from ..errors import BadInput
from ..i18n import t
from . import Env, main, pass_env
from .output import ask, confirm, emit, emit_record, format_option, note, yes_option


def _read(path: str | None, option: str) -> str | None:
    """A template text from a file, or from standard input for `-` (under sudo the only form)."""
    if path is None:
        return None
    example = f"sudo -u caseload caseload template add NAME --channel email {option} - < text.txt"
    return files.read_text(path, option, example)


@main.group()
def template():
    pass


@template.command("add")
@click.argument("name")
@click.option("--channel", type=click.Choice(templates.CHANNELS), required=True)
@click.option("--lang", "language", metavar="CODE")
@click.option("--subject")
@click.option("--body")
@click.option("--body-file", metavar="FILE")
@click.option("--html-file", metavar="FILE")
@click.option("--replace", is_flag=True)
@pass_env
def template_add(env, name, channel, language, subject, body, body_file, html_file, replace):
    if (body is None) == (body_file is None):
        raise BadInput(t("template.body_or_file"))
    if body_file is not None and html_file is not None and files.is_stdio(body_file) and files.is_stdio(html_file):
        raise BadInput(t("files.one_stdin", options="--body-file, --html-file"))
    text = body if body is not None else _read(body_file, "--body-file")
    html = _read(html_file, "--html-file")
    v = templates.add_template(env.store(), env.actor(), name, channel, text, language=language, subject=subject,
                               html=html, replace=replace)
    note(t("template.added", name=v.name, channel=v.channel, language=v.language))


@template.command("list")
@format_option
@pass_env
def template_list(env, fmt):
    env.actor()  # registered users only
    rows = templates.list_templates(env.store())
    emit(rows, list(templates.LIST_COLUMNS), fmt)


@template.command("show")
@click.argument("name")
@format_option
@pass_env
def template_show(env, name, fmt):
    env.actor()  # registered users only
    found = templates.variants(env.store(), name)
    cols = ["channel", "language", "subject", "body", "html", "owner", "author", "updated_at"]
    if fmt == "table":
        for v in found:
            emit_record({c: getattr(v, c) for c in cols}, fmt)
    else:
        emit([{c: getattr(v, c) for c in cols} for v in found], cols, fmt)


@template.command("delete")
@click.argument("name")
@click.option("--channel", type=click.Choice(templates.CHANNELS))
@click.option("--lang", "language", metavar="CODE")
@pass_env
def template_delete(env, name, channel, language):
    n = templates.delete_template(env.store(), env.actor(), name, channel=channel, language=language)
    note(t("owners.template_deleted", name=name, n=n))


@template.command("preview")
@click.argument("name")
@click.option("--client", "number", required=True)
@click.option("--channel", type=click.Choice(templates.CHANNELS))
@click.option("--lang", "language", metavar="CODE")
@format_option
@pass_env
def template_preview(env, name, number, channel, language, fmt):
    emit_record(templates.preview(env.store(), env.actor(), name, number, channel, language), fmt)


@main.command("queue")
@click.option("--segment")
@click.option("--client", "number")
@click.option("--template", "template_name", required=True)
@click.option("--at")
@click.option("--channel", type=click.Choice(["auto", "sms", "email"]), default="auto", show_default=True)
@click.option("--campaign")
@click.option("--yes", is_flag=True)
@pass_env
def queue(env, segment, number, template_name, at, channel, campaign, yes):
    store, actor = env.store(), env.actor()
    plan = core.plan_queue(store, actor, segment, template_name, channel=channel, at=at, campaign=campaign,
                           client=number)
    channels = ", ".join(f"{ch} {n}" for ch, n in sorted(plan.by_channel().items())) or "-"
    note(t("queue.plan", n=plan.count, in_segment=plan.in_segment, campaign=plan.campaign, channels=channels,
           at=plan.due_at.astimezone(store.tz).strftime("%Y-%m-%d %H:%M")))
    languages = plan.reach().describe_languages(plan.fallback)
    if languages and plan.count:
        note(languages)
    if plan.skipped:
        note(t("queue.skipped", reasons=", ".join(f"{t('queue.reason.' + k)} {n}" for k, n in sorted(plan.skipped.items()))))
    if not plan.count:
        note(t("queue.nothing"))
        return
    sample = [{"client_number": p.client_number, "name": p.name, "channel": p.channel, "language": p.language,
               "text": (p.subject + ": " if p.subject else "") + " ".join(p.body.split())[:70]} for p in plan.sample()]
    emit(sample, ["client_number", "name", "channel", "language", "text"], "table", title=t("queue.sample"))
    if not yes:
        confirm(t("queue.confirm", n=plan.count))
    result = core.commit_queue(store, actor, plan)
    note(t("queue.done", n=result["queued"], campaign=result["campaign"], already=result["already"]))


@main.command("send")
@click.option("--limit", type=click.IntRange(1))
@click.option("--dry-run", is_flag=True)
@click.option("-v", "--verbose", is_flag=True)
@format_option
@pass_env
def send(env, limit, dry_run, verbose, fmt):
    from ..access import require

    store = env.store()
    require(env.actor(), "admin")  # cron and the daemon act as the service's admin
    if dry_run:
        emit_record(core.due_summary(store), fmt)
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    from .. import fallback

    report = core.send_due(store, limit=limit, stop=stop, settle=fallback.settle)
    if verbose or not report.ok:
        note(t("send.report", sent=report.sent, retried=report.retried, failed=report.failed,
               cancelled=report.cancelled, expired=report.expired, deferred=report.deferred,
               released=report.released))
        if report.possible_duplicates:
            note(t("send.duplicates", n=report.possible_duplicates))
        if report.quiet_until:
            note(t("send.quiet", until=clock.parse_iso(report.quiet_until).astimezone(store.tz).strftime("%H:%M")))
        for ch in report.rate_limited:
            note(t("send.rate_limited", channel=ch))
    for ch, reason in sorted(report.unavailable.items()):
        note(t("send.unavailable", channel=ch, reason=display.reason(reason)))
    for reason, n in sorted(report.reasons.items()):
        note(t("send.reason", reason=display.reason(reason), n=n))
    for cid in report.paused_campaigns:
        note(t("send.paused", campaign=cid))
    if not report.ok:
        raise click.exceptions.Exit(1)


@main.group("outbox", invoke_without_command=True)
@click.option("--status", type=click.Choice(core.STATES))
@click.option("--campaign")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@format_option
@click.pass_context
def outbox(ctx, status, campaign, limit, fmt):
    if ctx.invoked_subcommand is not None:
        return
    env = ctx.find_object(Env)
    rows = core.list_messages(env.store(), env.actor(), status=status, campaign=campaign, limit=limit)
    emit(rows, list(core.LIST_COLUMNS), fmt)


@outbox.command("summary")
@format_option
@pass_env
def outbox_summary(env, fmt):
    rows = core.summary(env.store(), env.actor())
    emit(rows, ["campaign", "campaign_status", *core.STATES, "possible_duplicate"], fmt)


@outbox.command("show")
@click.argument("message_id", type=int)
@format_option
@pass_env
def outbox_show(env, message_id, fmt):
    emit(core.events(env.store(), env.actor(), message_id), ["at", "status", "reason", "attempts"], fmt)


@outbox.command("cancel")
@click.argument("ids", nargs=-1, type=int)
@click.option("--campaign")
@pass_env
def outbox_cancel(env, ids, campaign):
    n = core.cancel(env.store(), env.actor(), list(ids), campaign)
    note(t("outbox.cancelled", n=n))


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--campaign")
@yes_option
@pass_env
def outbox_retry(env, ids, campaign, yes):
    store, actor = env.store(), env.actor()
    reach = core.plan_retry(store, actor, list(ids), campaign)
    ask(reach, store.tz, t("reach.confirm.retry", n=reach.messages), yes)
    n = core.retry(store, actor, list(ids), campaign)
    note(t("outbox.retried", n=n))
