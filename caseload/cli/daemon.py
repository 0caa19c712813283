"""Commands for the daemon, check-ins and scheduled campaigns."""

import json

import click

from .. import access, campaigns as camp, checkins as core, i18n
from ..i18n import t
from . import Env, main, pass_env
from .output import ask, emit, emit_record, format_option, note, yes_option


NOT_RUNNING = 3  # `daemon status` when no daemon holds the database (LSB: "program is not running")


@main.group("daemon", invoke_without_command=True)
@click.option("--tick", type=click.FloatRange(min=0.01), help="Seconds between rounds (default: config daemon.tick_seconds, 60).")
@click.option("--listen", help='Address of the webhook endpoint (default: config daemon.listen, "127.0.0.1:8425").')
@click.option("--no-webhooks", is_flag=True, help="Do not start the webhook endpoint.")
@click.pass_context
def daemon(ctx, tick, listen, no_webhooks):
    """Run the daemon: every tick it sends what is due, starts check-ins and campaigns, reads
    replies and tracks inactivity; nightly it applies retention and writes a backup.

    One daemon per database (a second one refuses to start). SIGTERM finishes the message in
    flight and exits. Runs as the service's admin user. See `caseload daemon status`.
    """
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
    """The heartbeat, the last run of each job and what is due.

    Exit code (for monitoring): 0 a daemon is running on this database, 3 none is (as LSB's and
    systemctl's `status`), 1 the status could not be read."""
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
    """Check-ins: "hoe gaat het met je?" plus one or two stale or missing characteristics.

    caseload checkin schedule --segment S --every 2w   a rhythm, started by the daemon
    caseload checkin now --segment S                   a round at once (sent by the next send)
    caseload checkin list                              schedules and recent check-ins
    caseload checkin languages                         the languages clients can be asked in
    """


@checkin.command("languages")
@format_option
@pass_env
def checkin_languages(env, fmt):
    """The languages a check-in can ask in: whether caseload has the texts clients read in it
    (greeting, yes/no, STOP/START confirmations, the pages behind links), how many of the
    catalog's questions exist in it, and whether a native speaker reviewed the translation.
    Have the unreviewed ones checked (caseload/locale/clients/<code>.toml, `reviewed`)."""
    from .. import client_texts

    env.actor()  # registered users only
    emit(client_texts.coverage(env.store().catalog), list(client_texts.COVERAGE_COLUMNS), fmt)


@checkin.command("schedule")
@click.option("--segment", required=True, help="A saved segment or an expression.")
@click.option("--every", required=True, help="The rhythm per client: 2w, 14d, 3 weeks.")
@click.option("--ask", "ask_keys", default="", help="Characteristics to ask (comma-separated) even when missing.")
@click.option("--questions", type=click.IntRange(1, 3), default=3, show_default=True,
              help="Questions per check-in, the wellbeing question included.")
@click.option("--at", "at_time", default="10:00", show_default=True,
              help="Local time of day to start; the first round waits for it.")
@click.option("--channel", type=click.Choice(core.CHANNELS), default="auto", show_default=True)
@yes_option
@pass_env
def checkin_schedule(env, segment, every, ask_keys, questions, at_time, channel, yes):
    """Give every client in a segment a check-in on their own rhythm (the daemon starts them).

    Shows how many clients the first round reaches, by channel, and when it starts (the next
    --at time), and asks first.
    """
    store, actor = env.store(), env.actor()
    args = dict(ask=ask_keys, questions=questions, at=at_time, channel=channel)
    reach = core.plan_schedule(store, actor, segment, every, **args)
    ask(reach, store.tz, t("reach.confirm.checkin_schedule"), yes,
        t("reach.recurring", days=core.parse_every(every)))
    sid = core.add_schedule(store, actor, segment, every, **args)
    note(t("checkin.scheduled", id=sid))


@checkin.command("now")
@click.option("--segment", required=True, help="A saved segment or an expression.")
@click.option("--ask", "ask_keys", default="", help="Characteristics to ask (comma-separated) even when missing.")
@click.option("--questions", type=click.IntRange(1, 3), default=3, show_default=True)
@click.option("--channel", type=click.Choice(core.CHANNELS), default="auto", show_default=True)
@yes_option
@pass_env
def checkin_now(env, segment, ask_keys, questions, channel, yes):
    """A check-in round at once for a segment; the next `caseload send` or daemon tick sends it.

    Shows how many clients it reaches, by channel, and asks first.
    """
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
@click.option("--status", type=click.Choice(["open", "answered", "unanswered", "cancelled"]),
              help="Only check-ins in this state (lists check-ins instead of schedules).")
@click.option("--recent", is_flag=True, help="List recent check-ins instead of schedules.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@format_option
@pass_env
def checkin_list(env, status, recent, limit, fmt):
    """Check-in schedules with their counts; with --recent or --status, the check-ins themselves."""
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
    """Stop starting check-ins for a schedule (open ones go on)."""
    core.set_schedule_status(env.store(), env.actor(), schedule_id, "paused")
    note(t("checkin.paused", id=schedule_id))


@checkin.command("resume")
@click.argument("schedule_id", type=int)
@yes_option
@pass_env
def checkin_resume(env, schedule_id, yes):
    """Start check-ins for a paused schedule again, at its next time of day.

    Shows how many clients its first round reaches, by channel, and asks first.
    """
    store, actor = env.store(), env.actor()
    ask(core.plan_resume(store, actor, schedule_id), store.tz, t("reach.confirm.checkin_resume", id=schedule_id), yes)
    core.set_schedule_status(store, actor, schedule_id, "active")
    note(t("checkin.resumed", id=schedule_id))


@main.group("campaign")
def campaign():
    """Campaigns on a schedule: once, weekly, monthly, or relative to a date.

    \b
    caseload campaign add tips --template tip --segment S --weekly mon --at 10:00
    caseload campaign add welcome --template hi --segment S --after intake_date --days 14
    The segment is evaluated at each occurrence, when the messages are due.
    """


@campaign.command("add")
@click.argument("name")
@click.option("--template", "template_name", required=True, help="Template name.")
@click.option("--segment", required=True, help="A saved segment or an expression.")
@click.option("--channel", type=click.Choice(["auto", "sms", "email"]), default="auto", show_default=True)
@click.option("--once", help='One moment: "2025-03-01 10:00".')
@click.option("--weekly", help="A weekday: mon ... sun (ma ... zo).")
@click.option("--every", "every_weeks", type=click.IntRange(1, 52), default=1, show_default=True,
              help="With --weekly: every N weeks.")
@click.option("--monthly", help='The Nth weekday of each month: "first mon", "last fri", "2 wo".')
@click.option("--after", help="A date to count from: intake_date or a date characteristic.")
@click.option("--days", type=int, help="With --after: days after that date (negative: before).")
@click.option("--at", "at_time", default="10:00", show_default=True, help="Local time of day.")
@click.option("--start", help="First day (weekly, monthly); default today.")
@click.option("--end", help="Last day (weekly, monthly).")
@yes_option
@pass_env
def campaign_add(env, name, template_name, segment, channel, once, weekly, every_weeks, monthly, after, days,
                 at_time, start, end, yes):
    """Schedule a campaign; the daemon queues each occurrence for the segment as it is then.

    Shows how many clients and messages the first occurrence reaches (the segment as it is now),
    by channel, and when they go out, and asks first.
    """
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
    """Scheduled campaigns, when they run next and how many messages they queued."""
    rows = camp.list_campaigns(env.store(), env.actor())
    emit(rows, ["id", "name", "template", "segment", "channel", "status", "owner", "when", "next_at",
                "last_occurrence", "messages"], fmt)


@campaign.command("pause")
@click.argument("name")
@pass_env
def campaign_pause(env, name):
    """Pause a campaign: nothing more is queued or sent for it until it resumes."""
    camp.set_status(env.store(), env.actor(), name, "paused")
    note(t("campaign.paused", name=name))


@campaign.command("resume")
@click.argument("name")
@yes_option
@pass_env
def campaign_resume(env, name, yes):
    """Resume a paused campaign: its waiting messages go out, and its next occurrence is queued.

    Shows how many clients and messages that is, by channel, and when the first go out, and asks first.
    """
    store, actor = env.store(), env.actor()
    reach, waiting = camp.plan_resume(store, actor, name)
    ask(reach, store.tz, t("reach.confirm.campaign_resume", name=name), yes,
        *([t("reach.waiting", n=waiting)] if waiting else []))
    camp.set_status(store, actor, name, "active")
    note(t("campaign.resumed", name=name))
