"""Outflow for a cohort (the clients in the caseload on a date, followed N months): overall,
by outflow type, and for every value of every characteristic beside the overall rate.

Characteristic values are by default the values recorded on or before the cohort date, from the
history: what the clients looked like when the cohort was drawn, so a value recorded later (after
an outflow, or today) never moves a group of an old cohort. With as_of=False they are the latest
recorded (the profile): faster (one scan), but open to reverse causation; the report says which."""

from datetime import date

import numpy as np

from .. import display
from ..i18n import t
from .coding import coder
from .common import (FROM_SQL, OUTFLOW_TYPES, Y_CARD, active_on, add_months, outcome_codes, parse_day,
                     rate_row, report_counts, scope, segment_where, today, y_expr)
from .history import codes_as_of
from .scan import scan_codes
from .suppress import hide, suppress_partition, suppress_subgroup


def cohort(store, actor, cohort_date=None, months: int = 12, now: date | None = None):
    """(start, end, where, params, complete) for the clients active on start, followed to end."""
    now = now or today()
    start = parse_day(cohort_date, "--date") or add_months(now, -months)
    end = add_months(start, months)
    where, params = scope(actor)
    return start, end, f"{active_on(start)} AND ({where})", list(params), end <= now


def outflow_report(store, actor, cohort_date=None, months: int = 12, keys: list[str] | None = None,
                   segments: list[str] | None = None, outcome: str = "outflow", now: date | None = None,
                   record: bool = True, as_of: bool = True) -> dict:
    k_min = store.config.reports.min_cell_size
    codes_ok = outcome_codes(outcome)
    start, end, where, params, complete = cohort(store, actor, cohort_date, months, now)
    chars = [store.catalog.require(k) for k in keys] if keys else list(store.catalog)
    coders = [coder(c, f'profile."{c.column}"', start) for c in chars]
    seg_sql = [segment_where(store, seg, actor) for seg in segments or []]

    def exact() -> dict:
        if as_of:
            rows = store.conn.execute(f"SELECT clients.id, {y_expr(start, end)} FROM {FROM_SQL} WHERE {where}",
                                      params).fetchall()
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            day = np.full(len(ids), np.datetime64(start.isoformat(), "D").astype(np.int64))
            codes = np.column_stack([np.array([r[1] for r in rows], dtype=np.int64),
                                     codes_as_of(store, [c.key for c in chars], ids, day, start, coarse=False)])
        else:
            exprs = [y_expr(start, end)] + [cd.expr for cd in coders]
            cards = [Y_CARD] + [cd.radix for cd in coders]
            codes = scan_codes(store, exprs, cards, where, params)
        y = codes[:, 0] if len(codes) else np.zeros(0, dtype=np.int64)
        hit = np.isin(y, codes_ok).astype(np.int64)
        out = {"overall": [int(len(y)), int(hit.sum())], "types": np.bincount(y, minlength=Y_CARD)}
        for i, (c, cd) in enumerate(zip(chars, coders), start=1):
            col = codes[:, i]
            if cd.radix > cd.card:
                col = np.where(col < cd.card, col, 0)
            out[f"n:{c.key}"] = np.bincount(col, minlength=cd.card)
            out[f"k:{c.key}"] = np.bincount(col, weights=hit, minlength=cd.card).astype(np.int64)
        ok = ", ".join(str(c) for c in codes_ok)
        for j, (s_where, s_params) in enumerate(seg_sql):
            row = store.conn.execute(
                f"SELECT count(*), COALESCE(SUM({y_expr(start, end)} IN ({ok})), 0) FROM {FROM_SQL}"
                f" WHERE {where} AND ({s_where})", [*params, *s_params]).fetchone()
            out[f"segment:{j}"] = [row[0], row[1]]
        return out

    # one client changes the overall n and outflow, one type, and per characteristic and segment n and outflow
    query = [where, params, start, end, codes_ok, [c.key for c in chars], as_of, seg_sql]
    counts, var, noise = report_counts(store, actor, "outflow", query, 3 + 2 * len(chars) + 2 * len(seg_sql),
                                       exact, record)
    n, k = (int(x) for x in counts["overall"])
    overall = rate_row(k, n, noise_var=var, group="overall")
    base = overall["rate_pct"]
    report = {
        "report": "outflow", "outcome": outcome, "cohort_date": start.isoformat(), "end_date": end.isoformat(),
        "follow_up_months": months, "follow_up_complete": complete, "min_cell_size": k_min,
        "values": "as_of_cohort_date" if as_of else "latest_recorded",
        "values_note": t(f"impact.values.{'as_of_cohort_date' if as_of else 'latest_recorded'}",
                         date=display.day(start.isoformat())),
        "overall": overall, "by_type": [],
        "by_characteristic": [], "segments": [],
    }
    if noise:
        report["privacy"] = noise
    types = counts["types"]
    by_type = [dict(type=o, n=int(types[i + 1]), share_pct=round(100 * int(types[i + 1]) / n, 1) if n else None)
               for i, o in enumerate(OUTFLOW_TYPES)]
    by_type.append(dict(type="none", n=int(types[0]), share_pct=round(100 * int(types[0]) / n, 1) if n else None))
    report["by_type"] = suppress_partition(by_type, k_min)
    for c, cd in zip(chars, coders):
        ns, outs = counts[f"n:{c.key}"], counts[f"k:{c.key}"]
        rows = [rate_row(int(outs[j]), int(ns[j]), base, var, key=c.key, value=cd.values[j], label=cd.labels[j])
                for j in range(cd.card)]
        report["by_characteristic"] += suppress_partition(rows, k_min)
    for j, seg in enumerate(segments or []):
        s_n, s_k = (int(x) for x in counts[f"segment:{j}"])
        report["segments"].append(suppress_subgroup(rate_row(s_k, s_n, base, var, segment=seg), k_min, n))
    if n < k_min:
        hide(overall)
        for r in report["by_type"] + report["by_characteristic"] + report["segments"]:
            hide(r)
    return report
