"""Offers: item (vacancies, tips, activities, news) and digest (each client's best items)."""

import click

from .. import items as core
from ..errors import BadInput
from ..i18n import t
from . import main, pass_env
from .output import ask, emit, emit_record, format_option, note, yes_option

ITEM_LIST = ("key", "kind", "title", "tags", "requires", "valid_from", "valid_until", "language", "state", "shown",
             "clicked")


@main.group()
def item():
    pass


@item.command("import")
@click.argument("file", metavar="FILE")
@click.option("--dry-run", is_flag=True)
@pass_env
def item_import(env, file, dry_run):
    counts = core.import_items(env.store(), env.actor(), file, dry_run=dry_run)
    note(t("items.checked" if dry_run else "items.imported", **counts))


@item.command("add")
@click.argument("pairs", nargs=-1, required=True, metavar="FIELD=VALUE...")
@pass_env
def item_add(env, pairs):
    fields = {}
    for i, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(t("cli.bad_pair", position=i, text=pair))
        fields[key.strip()] = value
    saved = core.add(env.store(), env.actor(), fields)
    note(t("items.added", key=saved["key"]))


@item.command("list")
@click.option("--kind")
@click.option("--tag", "tag_")
@click.option("--active", is_flag=True)
@format_option
@pass_env
def item_list(env, kind, tag_, active, fmt):
    rows = core.list_items(env.store(), env.actor(), kind=kind, tag_=tag_, active_only=active)
    for r in rows:
        if fmt == "table":
            r["tags"] = ", ".join(r["tags"])
            r["state"] = t(f"items.state.{r['state']}")
            r["kind"] = t(f"items.kind.{r['kind']}")
    emit(rows, list(ITEM_LIST), fmt)


@item.command("show")
@click.argument("key")
@format_option
@pass_env
def item_show(env, key, fmt):
    record = core.show(env.store(), env.actor(), key)
    record.pop("id")
    if fmt == "table":
        record["tags"] = ", ".join(record["tags"])
        record["state"] = t(f"items.state.{record['state']}")
        record["kind"] = t(f"items.kind.{record['kind']}")
    emit_record(record, fmt)


@item.command("expire")
@click.argument("key")
@pass_env
def item_expire(env, key):
    changed = core.expire(env.store(), env.actor(), key)
    note(t("items.expired" if changed else "items.already_expired", key=key))


@main.group()
def digest():
    pass


def _skipped(plan) -> str:
    return ", ".join(f"{t(f'offers.skip.{k}')} {v}" for k, v in sorted(plan.skipped.items()) if v)


@digest.command("preview")
@click.argument("number")
@click.option("--items", "n", type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_env
def digest_preview(env, number, n, fmt):
    import json

    from .. import offers

    result = offers.preview(env.store(), env.actor(), number, n)
    if fmt == "json":
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
        return
    if not result["items"]:
        note(t("offers.preview_none", eligible=result["eligible"]))
        return
    rows = [{**r, "tags": ", ".join(r["tags"]), "kind": t(f"items.kind.{r['kind']}"), "why": "; ".join(r["why"])}
            for r in result["items"]]
    emit(rows, ["rank", "key", "kind", "title", "score", "why"], "table")
    note(t("offers.eligible", n=result["eligible"]))


@digest.command("now")
@click.option("--segment", required=True)
@click.option("--items", "n", type=int)
@click.option("--channel", type=click.Choice(["auto", "sms", "email"]), default="auto", show_default=True)
@yes_option
@pass_env
def digest_now(env, segment, n, channel, yes):
    from .. import offers

    store, actor = env.store(), env.actor()
    plan = offers.plan(store, actor, segment, n, channel)
    if plan.skipped:
        note(t("offers.skipped", reasons=_skipped(plan)))
    if not plan.count:
        note(t("offers.nothing"))
        return
    ask(plan.reach(), store.tz, t("offers.confirm_now"), yes)
    note(t("offers.queued", **offers.commit(store, actor, plan)))


@digest.command("schedule")
@click.option("--segment", required=True)
@click.option("--every", type=click.Choice(["1d", "1w"]), required=True)
@click.option("--at", "at", default="09:00", show_default=True)
@click.option("--items", "n", type=int)
@click.option("--channel", type=click.Choice(["auto", "sms", "email"]), default="auto", show_default=True)
@yes_option
@pass_env
def digest_schedule(env, segment, every, at, n, channel, yes):
    from .. import offers

    store, actor = env.store(), env.actor()
    plan, first = offers.plan_schedule(store, actor, segment, every, at, n, channel)
    if plan.skipped:
        note(t("offers.skipped", reasons=_skipped(plan)))
    ask(plan.reach(), store.tz, t("offers.confirm_schedule"), yes)
    s = offers.add_schedule(store, actor, segment, every, at, n, channel)
    note(t("offers.scheduled", id=s["id"], every=every, at=s["at_time"],
           first=first.astimezone(store.tz).strftime("%Y-%m-%d %H:%M")))


@digest.command("list")
@format_option
@pass_env
def digest_list(env, fmt):
    from .. import offers

    rows = offers.list_schedules(env.store(), env.actor())
    emit(rows, ["id", "segment", "every_days", "at_time", "items", "channel", "status", "next_at", "owner"], fmt)


@digest.command("pause")
@click.argument("schedule_id")
@pass_env
def digest_pause(env, schedule_id):
    from .. import offers

    offers.set_status(env.store(), env.actor(), schedule_id, "paused")
    note(t("offers.paused", id=schedule_id))


@digest.command("resume")
@click.argument("schedule_id")
@pass_env
def digest_resume(env, schedule_id):
    from .. import offers

    offers.set_status(env.store(), env.actor(), schedule_id, "active")
    note(t("offers.resumed", id=schedule_id))
