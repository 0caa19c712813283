"""`caseload segment ...`: check, count, list, save, show, delete, saved, split."""

import click

from .. import segments as core
from ..i18n import t
from . import main, pass_env
from .output import emit, emit_record, format_option, note, privacy_note

LIST_COLUMNS = [c for c in core.SELECT_COLUMNS if c != "id"]
SAVED_COLUMNS = ["name", "kind", "expression", "description", "owner", "author", "updated_at"]


def _expression(words: tuple[str, ...]) -> str:
    return " ".join(words)


def _warn(store, text: str) -> None:
    for warning in core.check(store, text)["warnings"]:
        note(warning)


@main.group()
def segment():
    pass


@segment.command("check")
@click.argument("expression", nargs=-1, required=True)
@format_option
@pass_env
def segment_check(env, expression, fmt):
    store = env.store()
    env.actor()
    result = core.check(store, _expression(expression))
    for warning in result["warnings"]:
        note(warning)
    if fmt == "table":
        click.echo(result["canonical"])
    else:
        emit_record({"valid": True, "saved": result["saved"], "canonical": result["canonical"],
                     "warnings": "; ".join(result["warnings"])}, fmt)


@segment.command("count")
@click.argument("expression", nargs=-1, required=True)
@format_option
@pass_env
def segment_count(env, expression, fmt):
    store, actor = env.store(), env.actor()
    text = _expression(expression)
    n, release = core.count_release(store, actor, text)
    _warn(store, text)
    minimum = store.config.reports.min_cell_size
    if release is not None:
        privacy_note(store, actor, release.summary())
    if n is None:
        note(t("segments.suppressed", min=minimum))
    if fmt == "json":
        emit_record({"count": n, "suppressed": n is None}, fmt)
    elif fmt == "csv":
        click.echo(f"count\n{'' if n is None else n}")
    else:
        click.echo(f"<{minimum}" if n is None else str(n))


@segment.command("list")
@click.argument("expression", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(1), default=None)
@format_option
@pass_env
def segment_list(env, expression, limit, fmt):
    store, actor = env.store(), env.actor()
    text = _expression(expression)
    rows = core.select(store, actor, text, limit=limit)
    _warn(store, text)
    emit(rows, LIST_COLUMNS, fmt)


@segment.command("save")
@click.argument("name")
@click.argument("expression", nargs=-1, required=True)
@click.option("--description", default="")
@pass_env
def segment_save(env, name, expression, description):
    saved = core.save(env.store(), env.actor(), name, _expression(expression), description)
    note(t("segments.saved", name=saved["name"]))
    click.echo(saved["expression"])


@segment.command("show")
@click.argument("name")
@format_option
@pass_env
def segment_show(env, name, fmt):
    env.actor()
    emit_record(core.get(env.store(), name), fmt)


@segment.command("delete")
@click.argument("name")
@pass_env
def segment_delete(env, name):
    store = env.store()
    real = core.get(store, name)["name"]
    core.delete(store, env.actor(), name)
    note(t("segments.deleted", name=real))


@segment.command("saved")
@format_option
@pass_env
def segment_saved(env, fmt):
    env.actor()
    emit(core.saved(env.store()), SAVED_COLUMNS, fmt)


@segment.command("split")
@click.argument("name")
@click.option("--into", nargs=2, required=True, metavar="A B")
@click.option("--ratio", type=click.IntRange(1, 99), default=50, show_default=True)
@click.option("--seed", type=int, default=None)
@click.option("--follow-up", "follow_up", type=click.IntRange(1, 120), default=12, show_default=True)
@click.option("--outcome", type=click.Choice(["outflow", "outflow_work"]), default="outflow", show_default=True)
@click.option("--expected", "expected_pct", type=click.FloatRange(0.1, 99.9), default=None)
@format_option
@pass_env
def segment_split(env, name, into, ratio, seed, follow_up, outcome, expected_pct, fmt):
    result = core.split(env.store(), env.actor(), name, tuple(into), ratio=ratio, seed=seed,
                        follow_up_months=follow_up, outcome=outcome, expected_pct=expected_pct)
    first, second = into
    sizes = result["groups"]
    minimum = env.store().config.reports.min_cell_size

    def shown(n):
        return f"<{minimum}" if n is None else n

    if fmt == "table":
        note(t("segments.split_done", first=first, second=second, first_size=shown(sizes[first.strip()]),
               second_size=shown(sizes[second.strip()]), seed=result["seed"]))
        note(t(f"impact.split_plan.{result['expected_from']}", mde=result["mde_pp"], expected=result["expected_pct"],
               months=follow_up, date=result["verdict_from"], first=first.strip(), second=second.strip()))
    else:
        emit([{"group": g, "size": n, "seed": result["seed"], "ratio": ratio if i == 0 else 100 - ratio,
               "follow_up_months": follow_up, "expected_pct": result["expected_pct"], "mde_pp": result["mde_pp"],
               "verdict_from": result["verdict_from"]}
              for i, (g, n) in enumerate(sizes.items())],
             ["group", "size", "seed", "ratio", "follow_up_months", "expected_pct", "mde_pp", "verdict_from"], fmt)
