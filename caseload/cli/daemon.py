"""Commands for the daemon, check-ins and scheduled campaigns."""

import json

import click

from .. import access, campaigns as camp, checkins as core, i18n
from ..i18n import t
from . import Env, main, pass_env
from .output import ask, emit, emit_record, format_option, note, yes_option


NOT_RUNNING = 3  # `daemon status` when no daemon holds the database (LSB: "program is not running")


@main.group("daemon", invoke_without_command=True)
@click.option("--tick", type=click.FloatRange(min=0.01))
@click.option("--listen")
@click.option("--no-webhooks", is_flag=True)
@click.pass_context
def daemon(ctx, tick, listen, no_webhooks):
    if ctx.invoked_subcommand is not None:
        return
    import os
    import sys

    env = ctx.find_object(Env)
    access.require_admin(env.actor("daemon"))
    args = [sys.executable, "-m", "caseload.daemon", "--db", str(env.db_path), "--config", str(env.config_path),
            "--lang", i18n.language()]
    if tick is not None:
        args += ["--tick", str(tick)]
    if listen:
        args += ["--listen", listen]
    if no_webhooks:
        args.append("--no-webhooks")
    env.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # the same process goes on as the lean daemon (see caseload/daemon/__main__.py)
    os.execv(sys.executable, args)


@daemon.command("status")
@format_option
@pass_env
def daemon_status(env, fmt):
    from ..daemon.loop import status

    access.require_admin(env.actor())
    s = status(env.store(), env.db_path)
    if fmt == "json":
        click.echo(json.dumps(s, ensure_ascii=False, indent=1))
        if not s["running"]:
            raise click.exceptions.Exit(NOT_RUNNING)
        return
    beat = s["heartbeat"] or {}
    head = {"running": s["running"], "pid": beat.get("pid"), "host": beat.get("host"),
            "started_at": beat.get("started_at"), "heartbeat_at": beat.get("beat_at"),
            "heartbeat_age_seconds": s["heartbeat_age_seconds"], "stopped_at": beat.get("stopped_at"),
            "listen": beat.get("listen"), **s["due"]}
    emit_record(head, fmt)
    if fmt == "table":
        emit(s["jobs"], ["job", "last_started_at", "last_ok_at", "last_error", "runs", "failures", "last_result"],
             fmt, title=t("daemon.jobs"))
    if not s["running"]:
        note(t("daemon.not_running"))
        raise click.exceptions.Exit(NOT_RUNNING)


@main.group("checkin")
def checkin():
    pass


@checkin.command("languages")
@format_option
@pass_env
def checkin_languages(env, fmt):
    from .. import client_texts

    env.actor()  # registered users only
    emit(client_texts.coverage(env.store().catalog), list(client_texts.COVERAGE_COLUMNS), fmt)


@checkin.command("schedule")
@click.option("--segment", required=True)
@click.option("--every", required=True)
@click.option("--ask", "ask_keys", default="")
@click.option("--questions", type=click.IntRange(1, 3), default=3, show_default=True)
@click.option("--at", "at_time", default="10:00", show_default=True)
@click.option("--channel", type=click.Choice(core.CHANNELS), default="auto", show_default=True)
@yes_option
@pass_env
def checkin_schedule(env, segment, every, ask_keys, questions, at_time, channel, yes):
    store, actor = env.store(), env.actor()
    args = dict(ask=ask_keys, questions=questions, at=at_time, channel=channel)
    reach = core.plan_schedule(store, actor, segment, every, **args)
    ask(reach, store.tz, t("reach.confirm.checkin_schedule"), yes,
        t("reach.recurring", days=core.parse_every(every)))
    sid = core.add_schedule(store, actor, segment, every, **args)
    note(t("checkin.scheduled", id=sid))


@checkin.command("now")
@click.option("--segment", required=True)
@click.option("--ask", "ask_keys", default="")
@click.option("--questions", type=click.IntRange(1, 3), default=3, show_default=True)
@click.option("--channel", type=click.Choice(core.CHANNELS), default="auto", show_default=True)
@yes_option
@pass_env
def checkin_now(env, segment, ask_keys, questions, channel, yes):
    from datetime import datetime, timezone

    store, actor = env.store(), env.actor()
    now = datetime.now(timezone.utc)
    plan = core.plan_now(store, actor, segment, now, ask=ask_keys, questions=questions, channel=channel)
    ask(plan.reach(now), store.tz, t("reach.confirm.checkin_now", n=len(plan.planned)), yes)
    r = core.queue_round(store, actor, plan, now)
    note(t("checkin.queued", n=r["queued"], in_segment=r["in_segment"]))
    if r["skipped"]:
        note(t("checkin.skipped", reasons=", ".join(f"{t('checkin.reason.' + k)} {n}" for k, n in sorted(r["skipped"].items()))))


@checkin.command("list")
@click.option("--status", type=click.Choice(["open", "answered", "unanswered", "cancelled"]))
@click.option("--recent", is_flag=True)
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@format_option
@pass_env
def checkin_list(env, status, recent, limit, fmt):
    if recent or status:
        rows = core.list_checkins(env.store(), env.actor(), status=status, limit=limit)
        emit(rows, ["id", "client_number", "schedule", "channel", "status", "created_at", "replied_at", "questions",
                    "answered"], fmt)
        return
    rows = core.list_schedules(env.store(), env.actor())
    emit(rows, ["id", "segment", "every_days", "questions", "ask", "at_time", "channel", "status", "owner", "open",
                "answered", "unanswered"], fmt)


@checkin.command("pause")
@click.argument("schedule_id", type=int)
@pass_env
def checkin_pause(env, schedule_id):
    core.set_schedule_status(env.store(), env.actor(), schedule_id, "paused")
    note(t("checkin.paused", id=schedule_id))


@checkin.command("resume")
@click.argument("schedule_id", type=int)
@yes_option
@pass_env
def checkin_resume(env, schedule_id, yes):
    store, actor = env.store(), env.actor()
    ask(core.plan_resume(store, actor, schedule_id), store.tz, t("reach.confirm.checkin_resume", id=schedule_id), yes)
    core.set_schedule_status(store, actor, schedule_id, "active")
    note(t("checkin.resumed", id=schedule_id))


@main.group("campaign")
def campaign():
    pass


@campaign.command("add")
@click.argument("name")
@click.option("--template", "template_name", required=True)
@click.option("--segment", required=True)
@click.option("--channel", type=click.Choice(["auto", "sms", "email"]), default="auto", show_default=True)
@click.option("--once")
@click.option("--weekly")
@click.option("--every", "every_weeks", type=click.IntRange(1, 52), default=1, show_default=True)
@click.option("--monthly")
@click.option("--after")
@click.option("--days", type=int)
@click.option("--at", "at_time", default="10:00", show_default=True)
@click.option("--start")
@click.option("--end")
@yes_option
@pass_env
def campaign_add(env, name, template_name, segment, channel, once, weekly, every_weeks, monthly, after, days,
                 at_time, start, end, yes):
    from datetime import datetime, timezone

    store, actor = env.store(), env.actor()
    now = datetime.now(timezone.utc)
    args = dict(once=once, weekly=weekly, every_weeks=every_weeks, monthly=monthly, after=after, days=days,
                at=at_time, start=start, end=end, now=now)
    reach = camp.plan_add(store, actor, name, template_name, segment, channel, **args)
    ask(reach, store.tz, t("reach.confirm.campaign_add", name=name.strip()), yes)
    r = camp.add(store, actor, name, template_name, segment, channel, **args)
    note(t("campaign.added", name=r["name"], next=r["next_at"] or "-"))


@campaign.command("list")
@format_option
@pass_env
def campaign_list(env, fmt):
    rows = camp.list_campaigns(env.store(), env.actor())
    emit(rows, ["id", "name", "template", "segment", "channel", "status", "owner", "when", "next_at",
                "last_occurrence", "messages"], fmt)


@campaign.command("pause")
@click.argument("name")
@pass_env
def campaign_pause(env, name):
    camp.set_status(env.store(), env.actor(), name, "paused")
    note(t("campaign.paused", name=name))


@campaign.command("resume")
@click.argument("name")
@yes_option
@pass_env
def campaign_resume(env, name, yes):
    store, actor = env.store(), env.actor()
    reach, waiting = camp.plan_resume(store, actor, name)
    ask(reach, store.tz, t("reach.confirm.campaign_resume", name=name), yes,
        *([t("reach.waiting", n=waiting)] if waiting else []))
    camp.set_status(store, actor, name, "active")
    note(t("campaign.resumed", name=name))
