"""One self-contained HTML page per report, for a team meeting: tables and inline SVG charts,
no scripts, no fonts, no links: it opens without a network."""

from datetime import datetime

from jinja2 import Environment
from markupsafe import Markup, escape

from ..i18n import language, t

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .6em;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.sup{color:#888;font-style:italic}
.note{color:#555;font-size:.9em}.verdict{font-size:1.1em;padding:.5em;background:#f4f4f4}
"""

PAGE = Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ title }}</title><style>{{ css }}</style></head>
<body><h1>{{ title }}</h1><p class="note">{{ made }}</p>
{% for s in sections %}<h2>{{ s.title }}</h2>{% if s.text %}<p class="verdict">{{ s.text }}</p>{% endif %}
{% if s.chart %}{{ s.chart }}{% endif %}
{% if s.rows %}<table><tr>{% for h in s.headers %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in s.rows %}<tr>{% for c in r %}{% if c is none %}<td class="sup">{{ suppressed }}</td>{% else %}<td class="num">{{ c }}</td>{% endif %}{% endfor %}</tr>
{% endfor %}</table>{% endif %}{% endfor %}
<p class="note">{{ footer }}</p></body></html>
""")


def bar_chart(items: list[tuple[str, float | None, float | None, float | None]], base: float | None = None,
              width: int = 640) -> Markup:
    """Horizontal bars (label, rate %, ci low, ci high); a suppressed item (None) shows no bar."""
    row_h, left, right = 20, 260, 60
    plot = width - left - right
    height = row_h * len(items) + 24
    top = max([v for _, rate, _, hi in items for v in (rate, hi) if v is not None] + [base or 0, 1])
    scale = plot / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"'
             f' font-size="11" font-family="sans-serif">']
    for i, (label, rate, lo, hi) in enumerate(items):
        y = 4 + i * row_h
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(label[:40])}</text>')
        if rate is None:
            parts.append(f'<text x="{left + 4}" y="{y + 13}" fill="#888">{escape(t("reports.suppressed"))}</text>')
            continue
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{rate * scale:.1f}" height="{row_h - 7}" fill="#4a7ab5"/>')
        if lo is not None and hi is not None:
            cy = y + row_h / 2
            parts.append(f'<line x1="{left + lo * scale:.1f}" x2="{left + hi * scale:.1f}" y1="{cy}" y2="{cy}"'
                         ' stroke="#222" stroke-width="1.2"/>')
        parts.append(f'<text x="{left + max(rate, hi or 0) * scale + 4:.1f}" y="{y + 13}">{rate:.1f}%</text>')
    if base is not None:
        x = left + base * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height - 18}" stroke="#c33" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" fill="#c33" text-anchor="middle">'
                     f'{escape(t("reports.overall"))} {base:.1f}%</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _outflow_sections(r: dict, catalog) -> list[dict]:
    o = r["overall"]
    sections = [{"title": t("reports.overall"), "text": t("reports.html.outflow_overall", start=r["cohort_date"],
                 end=r["end_date"], n=o["n"] if o["n"] is not None else t("reports.suppressed"),
                 rate=o["rate_pct"] if o["rate_pct"] is not None else "-") + " " + r.get("values_note", ""),
                 "headers": [t("reports.col.value"), t("reports.col.n"), t("reports.col.share")],
                 "rows": [(t(f"reports.type.{x['type']}"), x["n"], x["share_pct"]) for x in r["by_type"]]}]
    base = o["rate_pct"]
    if r["segments"]:
        segs = r["segments"]
        sections.append({"title": t("reports.html.segments"),
                         "chart": bar_chart([(x["segment"], x["rate_pct"], x["ci_low_pct"], x["ci_high_pct"])
                                             for x in segs], base)})
    keys = list(dict.fromkeys(x["key"] for x in r["by_characteristic"]))
    for key in keys:
        rows = [x for x in r["by_characteristic"] if x["key"] == key]
        c = catalog.get(key)
        sections.append({
            "title": c.title() if c else key,
            "chart": bar_chart([(x["label"], x["rate_pct"], x["ci_low_pct"], x["ci_high_pct"]) for x in rows], base),
            "headers": [t("reports.col.value"), t("reports.col.n"), t("reports.col.outflow"), t("reports.col.rate"),
                        t("reports.col.ci"), t("reports.col.difference")],
            "rows": [(x["label"], x["n"], x["outflow"], x["rate_pct"],
                      None if x["ci_low_pct"] is None else f"{x['ci_low_pct']}-{x['ci_high_pct']}", x["difference_pp"])
                     for x in rows]})
    return sections


SKIPPED = ("groups", "warnings", "warning_text")


def label(key: str) -> str:
    """A report field's label: the reports' own, or the impact area's."""
    text = t(f"reports.field.{key}")
    return t(f"impact.field.{key}") if text == f"reports.field.{key}" else text


def _record_section(title: str, record: dict, text: str | None = None) -> dict:
    if record.get("warning_text"):
        text = " ".join([*record["warning_text"], text or ""])
    return {"title": title, "text": text, "headers": [t("reports.col.field"), t("reports.col.value")],
            "rows": [(label(k), ", ".join(map(str, v)) if isinstance(v, list)
                      else (v if v is not None or record.get("suppressed") else "-"))
                     for k, v in record.items() if not isinstance(v, dict) and k not in SKIPPED]}


def _groups_section(report: dict, catalog) -> dict:
    c = catalog.get(report["by"]) if catalog is not None else None
    groups = report["groups"]
    return {"title": t("impact.effect_groups_title", key=c.title() if c else report["by"]),
            "headers": [label(k) for k in ("value", "participants", "matched_share_pct", "effect_pp", "ci", "mde_pp",
                                            "verdict", "warnings")],
            "rows": [(g["label"], g.get("participants"), g.get("matched_share_pct"), g.get("effect_pp"),
                      None if g.get("ci_low_pp") is None else f"{g['ci_low_pp']} .. {g['ci_high_pp']}",
                      g.get("mde_pp"), g.get("verdict"), " ".join(g.get("warning_text", []))) for g in groups]}


def render_html(report: dict, catalog=None) -> str:
    kind = report.get("report")
    sections = []
    if kind == "outflow":
        from ..catalog import Catalog

        sections = _outflow_sections(report, catalog or Catalog([]))
    elif kind == "effect":
        chart = None
        if report["participant_rate_pct"] is not None and report["control_rate_pct"] is not None:
            chart = bar_chart([(t("reports.html.participants"), report["participant_rate_pct"], None, None),
                               (t("reports.html.matched_controls"), report["control_rate_pct"], None, None),
                               (t("reports.html.everyone_else"), report["naive_control_rate_pct"], None, None)])
        sections = [_record_section(report["intervention"], report, report.get("conclusion"))]
        sections[0]["chart"] = chart
        if report.get("groups") is not None:
            sections.append(_groups_section(report, catalog))
    elif kind == "compare":
        a, b = report["a"], report["b"]
        chart = bar_chart([(a["group"], a["rate_pct"], a["ci_low_pct"], a["ci_high_pct"]),
                           (b["group"], b["rate_pct"], b["ci_low_pct"], b["ci_high_pct"])])
        flat = {k: v for k, v in report.items() if k not in ("a", "b")}
        sections = [_record_section(f"{a['group']} / {b['group']}", flat, report.get("conclusion"))]
        sections[0]["chart"] = chart
    elif kind == "caseload":
        rows = report["coaches"]
        sections = [{"title": t("reports.html.caseload"),
                     "chart": bar_chart([(r["coach"] or "-", r["attention_pct"], None, None) for r in rows]),
                     "headers": [t("reports.col.coach"), t("reports.col.active"), t("reports.col.attention"),
                                 t("reports.col.attention_pct")],
                     "rows": [(r["coach"] or "-", r["n"], r["attention"], r["attention_pct"]) for r in rows]}]
    elif kind == "coach_outflow":
        cols = ["n", "outflow", "rate_pct", "expected_pct", "adjusted_pp", "clients_matched_pct"]

        def cells(r):
            ci = None if r.get("ci_low_pp") is None else f"{r['ci_low_pp']} .. {r['ci_high_pp']}"
            return [r.get(c) for c in cols[:5]] + [ci, r.get("clients_matched_pct")]

        sections = [{"title": t("impact.coaches_title", start=report["cohort_date"], end=report["end_date"]),
                     "text": " ".join([report["label"], *report["warnings"]]),
                     "headers": [label("coach"), *(label(c) for c in cols[:5]), label("ci"), label(cols[5])],
                     "rows": [(r["coach"] or "-", *cells(r)) for r in report["coaches"]]},
                    {"title": t("impact.coaches_by_size", start=report["cohort_date"]),
                     "chart": bar_chart([(r["caseload_size"], r["rate_pct"], None, None) for r in report["by_size"]]),
                     "headers": [label("caseload_size"), label("coaches"), *(label(c) for c in cols[:5]), label("ci"),
                                 label(cols[5])],
                     "rows": [(r["caseload_size"], r["coaches"], *cells(r)) for r in report["by_size"]]}]
    elif kind == "engagement":
        for dim, rows in report["by"].items():
            clicks = dim.startswith("clicks_")
            sections.append({"title": t(f"impact.html_clicks_by.{dim}") if clicks else t(f"reports.html.by_{dim}"),
                             "chart": bar_chart([(str(r["value"]), r["rate_pct"], r["ci_low_pct"], r["ci_high_pct"])
                                                 for r in rows]),
                             "headers": [t("reports.col.value"), t("reports.col.n"),
                                         label("clicked") if clicks else t("reports.col.replied"),
                                         t("reports.col.rate")],
                             "rows": [(r["value"], r["n"], r.get("clicked" if clicks else "replied"), r["rate_pct"])
                                      for r in rows]})
        if report.get("outflow"):
            o = report["outflow"]
            flat = {k: v for k, v in o.items() if k not in ("report", "label", "privacy")}
            sections.append(_record_section(t("impact.engagement_outflow_title", start=o["cohort_date"],
                                              window_end=o["window_end"], end=o["end_date"]), flat, o["label"]))
    elif kind == "attention":
        sections = [{"title": t("reports.html.attention"),
                     "headers": [t("reports.col.coach"), t("reports.col.client"), t("reports.col.name"),
                                 t("reports.col.score"), t("reports.col.why")],
                     "rows": [(r["coach"], r["client_number"], r["name"], r["score"], r["why"])
                              for r in report["rows"]]}]
    title = t(f"reports.html.title.{kind}") if kind != "coach_outflow" else t("impact.html_title_coaches")
    return PAGE.render(lang=language(), title=title, css=Markup(CSS), sections=sections,
                       made=t("reports.html.made", at=datetime.now().strftime("%Y-%m-%d %H:%M")),
                       suppressed=t("reports.suppressed"),
                       footer=t("reports.html.footer", k=report.get("min_cell_size", "-"))
                       + (" " + t("privacy.tui_note", margin=report["privacy"]["margin"],
                                  epsilon=f"{report['privacy']['epsilon']:g}") if report.get("privacy") else ""))
