"""`caseload report ...`: outflow, effect, compare, attention, engagement, caseload, offers."""

import json

import click

from .. import display, files, privacy
from ..i18n import t
from ..reports import (attention_list, caseload_report, coach_outflow_report, compare_report, effect_report,
                       engagement_outflow, engagement_report, outflow_report)
from ..reports.common import OUTCOMES
from ..reports.html import label as _field, render_html
from . import main, pass_env
from .output import emit, emit_record, format_option, note, privacy_note

HTML_EXAMPLE = "sudo -u caseload caseload report outflow --html - > outflow.html"


def html_option(f):
    f = click.option("--force", is_flag=True)(f)
    return click.option("--html", "html_path", metavar="FILE")(f)


cohort_options = [
    click.option("--date", "cohort_date"),
    click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True),
    click.option("--outcome", type=click.Choice(list(OUTCOMES)), default="outflow", show_default=True),
]


def _cohort(f):
    for opt in reversed(cohort_options):
        f = opt(f)
    return f


def _check_html(env, path, force) -> None:
    """Refuse a bad --html before the report is computed."""
    files.check_output(path, "--html", HTML_EXAMPLE, env.own_files(), force)


def _write_html(env, path, force, report: dict, catalog=None) -> bool:
    """Write the page; True when it went to standard output (and so nothing else may)."""
    if path is None:
        return False
    page = render_html(report, catalog)
    with files.open_output(path, "--html", HTML_EXAMPLE, env.own_files(), force) as f:
        f.write(page)
    if files.is_stdio(path):
        return True
    note(t("reports.cli.html_written", file=path))
    return False


def _privacy(store, actor, report) -> None:
    """An analyst's report: say how exact its counts are and what is left of the budget."""
    if report.get("privacy"):
        privacy_note(store, actor, report["privacy"])


def _json(report) -> None:
    click.echo(json.dumps(report, ensure_ascii=False, indent=1, default=str))


def _pct(row, key="rate_pct"):
    return None if row.get(key) is None else display.decimal(row[key])


def _ci(row, lo="ci_low_pct", hi="ci_high_pct"):
    return None if row.get(lo) is None else f"{display.decimal(row[lo])}-{display.decimal(row[hi])}"


def _suppressed(row, value):
    return t("reports.suppressed") if row.get("suppressed") else value


@main.group()
def report():
    pass


@report.command("outflow")
@_cohort
@click.option("--key", "keys", multiple=True)
@click.option("--segment", "segments", multiple=True)
@click.option("--as-of/--latest", "as_of", default=True, show_default=True)
@format_option
@html_option
@pass_env
def outflow(env, cohort_date, months, outcome, keys, segments, as_of, fmt, html_path, force):
    _check_html(env, html_path, force)
    store = env.store()
    r = outflow_report(store, env.actor(), cohort_date, months, list(keys) or None, list(segments), outcome,
                       as_of=as_of)
    _privacy(store, env.actor(), r)
    if _write_html(env, html_path, force, r, store.catalog):
        return
    if fmt == "json":
        return _json(r)
    rows = [{**r["overall"], "section": "overall", "group": t("reports.overall"), "value": ""}]
    rows += [dict(section="type", group=t("reports.by_type"), value=x["type"], value_label=t(f"reports.type.{x['type']}"),
                  **{k: v for k, v in x.items() if k != "type"}) for x in r["by_type"]]
    rows += [dict(section="segment", group=x["segment"], value="", **{k: v for k, v in x.items() if k != "segment"})
             for x in r["segments"]]
    for x in r["by_characteristic"]:
        rows.append(dict(section="characteristic", group=x["key"], value=x["value"], value_label=x["label"],
                         **{k: v for k, v in x.items() if k not in ("key", "value", "label")}))
    note(r["values_note"])
    if not r["follow_up_complete"]:
        note(t("reports.cli.follow_up_incomplete", end=r["end_date"]))
    if fmt == "csv":
        return emit(rows, ["section", "group", "value", "n", "outflow", "rate_pct", "ci_low_pct", "ci_high_pct",
                           "difference_pp", "share_pct", "suppressed"], "csv")
    for row in rows:
        if row["section"] == "characteristic":
            row["group"] = store.catalog[row["group"]].title()
        row["value"] = row.get("value_label", row["value"])
        row["rate"] = _suppressed(row, _pct(row) or _pct(row, "share_pct"))
        row["ci"] = _ci(row)
        row["n"] = _suppressed(row, row["n"])
    emit(rows, ["group", "value", "n", "outflow", "rate", "ci", "difference_pp"], "table",
         headers=[t("reports.col.group"), t("reports.col.value"), t("reports.col.n"), t("reports.col.outflow"),
                  t("reports.col.rate"), t("reports.col.ci"), t("reports.col.difference")],
         title=t("reports.outflow_title", start=display.day(r["cohort_date"]), end=display.day(r["end_date"]),
                 outcome=t(f"display.outcome.{outcome}")))


@report.command("effect")
@click.option("--intervention", required=True)
@click.option("--outcome", type=click.Choice(list(OUTCOMES)), default="outflow_work", show_default=True)
@click.option("--within", type=click.IntRange(1, 3650), default=365, show_default=True)
@click.option("--match", "match")
@click.option("--segment")
@click.option("--by", "by", metavar="KEY")
@format_option
@html_option
@pass_env
def effect(env, intervention, outcome, within, match, segment, by, fmt, html_path, force):
    _check_html(env, html_path, force)
    keys = [k.strip() for k in match.split(",") if k.strip()] if match is not None else None
    r = effect_report(env.store(), env.actor(), intervention, outcome, within, keys, segment=segment, by=by)
    _privacy(env.store(), env.actor(), r)
    if _write_html(env, html_path, force, r, env.store().catalog):
        return
    if fmt == "json":
        return _json(r)
    for text in r.get("warning_text", []):
        note(text)
    record = {k: (", ".join(v) if isinstance(v, list) else v) for k, v in r.items()
              if k not in ("privacy", "groups", "warnings", "warning_text") and (k not in ("segment", "by") or v)}
    emit_record(record, fmt, labels={k: _field(k) for k in record})
    if r.get("groups") is not None:
        columns = ["value", "participants", "matched_participants", "matched_share_pct", "effect_pp", "ci",
                   "mde_pp", "naive_effect_pp", "verdict", "warnings"]
        rows = []
        for g in r["groups"]:
            row = dict(g, value=g["label"] if fmt == "table" else g["value"], warnings=", ".join(g["warnings"]))
            row["ci"] = None if g.get("ci_low_pp") is None else f"{g['ci_low_pp']:.1f} .. {g['ci_high_pp']:.1f}"
            if g["suppressed"]:
                row["participants"] = t("reports.suppressed")
            rows.append(row)
        emit(rows, columns, fmt, headers=[_field(c) for c in columns],
             title=t("impact.effect_groups_title", key=store_title(env, r["by"])))


def store_title(env, key: str) -> str:
    return env.store().catalog[key].title()


@report.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--date", "cohort_date")
@click.option("--months", type=click.IntRange(1, 120), default=None)
@click.option("--outcome", type=click.Choice(list(OUTCOMES)), default=None)
@click.option("--target", "target_pp", type=click.FloatRange(0.1, 100), default=5.0, show_default=True)
@format_option
@html_option
@pass_env
def compare(env, a, b, cohort_date, months, outcome, target_pp, fmt, html_path, force):
    _check_html(env, html_path, force)
    r = compare_report(env.store(), env.actor(), a, b, cohort_date, months, outcome, target_pp)
    _privacy(env.store(), env.actor(), r)
    if _write_html(env, html_path, force, r):
        return
    if fmt == "json":
        return _json(r)
    record = {}
    for side in ("a", "b"):
        g = r[side]
        record[f"{side}_segment"] = g["group"]
        record[f"{side}_n"] = _suppressed(g, g["n"])
        record[f"{side}_outflow"] = g["outflow"]
        record[f"{side}_rate_pct"] = g["rate_pct"]
        record[f"{side}_ci_pct"] = _ci(g)
    record.update({k: v for k, v in r.items() if k not in ("a", "b", "report", "privacy")})
    emit_record(record, fmt, labels={k: _field(k) for k in record})


@report.command("attention")
@click.option("--coach")
@format_option
@html_option
@pass_env
def attention(env, coach, fmt, html_path, force):
    _check_html(env, html_path, force)
    rows = attention_list(env.store(), env.actor(), coach)
    if _write_html(env, html_path, force, {"report": "attention", "rows": rows}):
        return
    if fmt == "json":
        return _json(rows)
    emit(rows, ["coach", "client_number", "name", "score", "why"], fmt,
         headers=[t("reports.col.coach"), t("reports.col.client"), t("reports.col.name"), t("reports.col.score"),
                  t("reports.col.why")])


@report.command("engagement")
@click.option("--date", "cohort_date")
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True)
@click.option("--outcome", type=click.Choice(list(OUTCOMES)), default="outflow", show_default=True)
@click.option("--match", "match")
@click.option("--outflow/--no-outflow", "with_outflow", default=True, show_default=True)
@format_option
@html_option
@pass_env
def engagement(env, cohort_date, months, outcome, match, with_outflow, fmt, html_path, force):
    _check_html(env, html_path, force)
    store = env.store()
    if with_outflow and privacy.applies(env.actor()):
        privacy.require_budget(store, env.actor(), queries=2)
    r = engagement_report(store, env.actor())
    _privacy(store, env.actor(), r)
    if with_outflow:
        keys = [k.strip() for k in match.split(",") if k.strip()] if match is not None else None
        r["outflow"] = engagement_outflow(store, env.actor(), cohort_date, months, outcome, keys)
    if _write_html(env, html_path, force, r):
        return
    if fmt == "json":
        return _json(r)
    rows = [dict(dimension=dim, **x) for dim, xs in r["by"].items() for x in xs]
    if fmt == "csv":
        emit(rows, ["dimension", "value", "n", "replied", "clicked", "rate_pct", "ci_low_pct", "ci_high_pct",
                    "suppressed"], fmt)
    else:
        for row in rows:
            row["rate"] = _suppressed(row, _pct(row))
            row["ci"] = _ci(row)
        emit(rows, ["dimension", "value", "n", "replied", "clicked", "rate", "ci"], fmt,
             headers=[t("reports.col.dimension"), t("reports.col.value"), t("reports.col.n"),
                      t("reports.col.replied"), _field("clicked"), t("reports.col.rate"), t("reports.col.ci")])
    o = r.get("outflow")
    if o is not None:
        note(t("impact.engagement_outflow_title", start=o["cohort_date"], window_end=o["window_end"],
               end=o["end_date"]))
        note(o["label"])
        if fmt != "csv":
            record = {k: (", ".join(v) if isinstance(v, list) else v) for k, v in o.items()
                      if k not in ("report", "label", "privacy")}
            emit_record(record, fmt, labels={k: _field(k) for k in record})


@report.command("caseload")
@format_option
@html_option
@pass_env
def caseload(env, fmt, html_path, force):
    _check_html(env, html_path, force)
    r = caseload_report(env.store(), env.actor())
    _privacy(env.store(), env.actor(), r)
    if _write_html(env, html_path, force, r):
        return
    if fmt == "json":
        return _json(r)
    rows = [dict(r) for r in r["coaches"]]
    if fmt == "csv":
        return emit(rows, ["coach", "n", "attention", "attention_pct", "suppressed", "attention_suppressed"], fmt)
    for row in rows:
        row["n"] = _suppressed(row, row["n"])
        if row.get("attention_suppressed") and not row["suppressed"]:
            row["attention"] = t("reports.suppressed")
    emit(rows, ["coach", "n", "attention", "attention_pct"], fmt,
         headers=[t("reports.col.coach"), t("reports.col.active"), t("reports.col.attention"),
                  t("reports.col.attention_pct")])


@report.command("coaches")
@_cohort
@click.option("--match", "match")
@format_option
@html_option
@pass_env
def coaches(env, cohort_date, months, outcome, match, fmt, html_path, force):
    _check_html(env, html_path, force)
    keys = [k.strip() for k in match.split(",") if k.strip()] if match is not None else None
    r = coach_outflow_report(env.store(), env.actor(), cohort_date, months, outcome, keys)
    _privacy(env.store(), env.actor(), r)
    if _write_html(env, html_path, force, r):
        return
    if fmt == "json":
        return _json(r)
    note(r["label"])
    for w in r["warnings"]:
        note(w)
    columns = ["coach", "n", "outflow", "rate_pct", "expected_pct", "adjusted_pp", "ci", "clients_matched_pct"]
    size_columns = ["caseload_size", "coaches", *columns[1:]]
    for row in r["coaches"] + r["by_size"]:
        row["ci"] = None if row.get("ci_low_pp") is None else f"{row['ci_low_pp']:.1f} .. {row['ci_high_pp']:.1f}"
        if fmt == "table" and row["suppressed"]:
            row["n"] = t("reports.suppressed")
    if fmt == "csv":
        emit([dict(x, section="coach") for x in r["coaches"]] + [dict(x, section="caseload_size")
                                                                 for x in r["by_size"]],
             ["section", "coach", "caseload_size", "coaches", *columns[1:], "suppressed"], "csv")
        return
    emit(r["coaches"], columns, fmt, headers=[_field(c) for c in columns],
         title=t("impact.coaches_title", start=r["cohort_date"], end=r["end_date"]))
    emit(r["by_size"], size_columns, fmt, headers=[_field(c) for c in size_columns],
         title=t("impact.coaches_by_size", start=r["cohort_date"]))


@report.command("offers")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
@format_option
@pass_env
def offers(env, days, fmt):
    from ..reports.offers import offers_report

    store, actor = env.store(), env.actor()
    r = offers_report(store, actor, days)
    _privacy(store, actor, r)
    if fmt == "json":
        return _json(r)
    rows = [dict(section=dim, **x) for dim, xs in r["by"].items() for x in xs]
    rows += [dict(section="outflow", clicked=x["outflow"], **{k: v for k, v in x.items() if k != "outflow"})
             for x in r["outflow"]]
    lift = r["lift"]
    if fmt == "csv":
        rows.append(dict(section="lift", value="ranked-random", rate_pct=lift["lift_pp"], ci_low_pct=lift["ci_low_pp"],
                         ci_high_pct=lift["ci_high_pp"]))
        return emit(rows, ["section", "value", "n", "clicked", "rate_pct", "ci_low_pct", "ci_high_pct", "suppressed"],
                    fmt)
    for row in rows:
        row["dimension"] = t(f"offers.report.by.{row['section']}")
        if row["section"] in ("kind", "arm", "outflow"):
            row["value"] = t(f"offers.report.value.{row['value']}")
        row["rate"] = _suppressed(row, _pct(row))
        row["ci"] = _ci(row)
        row["n"] = _suppressed(row, row["n"])
    emit(rows, ["dimension", "value", "n", "clicked", "rate", "ci"], fmt,
         headers=[t("reports.col.dimension"), t("reports.col.value"), t("offers.report.col.n"),
                  t("offers.report.col.clicked"), t("reports.col.rate"), t("reports.col.ci")],
         title=t("offers.report.title", days=days))
    if lift["lift_pp"] is None:
        note(t("offers.report.no_lift"))
    else:
        note(t("offers.report.lift", lift=f"{lift['lift_pp']:+.1f}", low=f"{lift['ci_low_pp']:+.1f}",
               high=f"{lift['ci_high_pp']:+.1f}", p=f"{lift['p_value']:.3g}",
               ratio="-" if lift["ratio"] is None else f"{lift['ratio']:.2f}"))
