"""Control groups: outflow in two segments (or the two halves of a random split) of the same
cohort, the difference, a significance test and the power the sizes allow."""

from datetime import date

from ..i18n import t

from .common import (FROM_SQL, active_on, add_months, outcome_codes, rate_row, report_counts, scope, segment_where,
                     today, y_expr)
from .outflow import cohort
from .stats import compare_proportions, mde
from .suppress import hide, suppress_subgroup

DEFAULT_EXPECTED_PCT = 20.0  # when the caseload has no history to go by


def plan_split(store, actor, na: int, nb: int, months: int = 12, outcome: str = "outflow",
               expected_pct: float | None = None, day: date | None = None) -> dict:
    """What a split of na and nb clients can detect after `months` of follow-up: the outflow
    expected without any difference (given, or the actor's caseload's own: the clients in it
    `months` ago, followed to `day`) and the smallest difference (pp) a two-sided 5% test finds
    with 80% power, as `report compare` will test it."""
    day = day or today()
    ok = ", ".join(map(str, outcome_codes(outcome)))
    source = "given"
    if expected_pct is None:
        start = add_months(day, -months)
        where, params = scope(actor)

        def exact() -> dict:
            return {"counts": list(store.conn.execute(
                f"SELECT count(*), COALESCE(SUM({y_expr(start, day)} IN ({ok})), 0) FROM clients"
                f" WHERE {active_on(start)} AND ({where})", params).fetchone())}

        counts, _, _ = report_counts(store, actor, "split_plan", [where, params, ok, start, day], 2, exact, False)
        n, k = (int(x) for x in counts["counts"])
        if n >= store.config.reports.min_cell_size and 0 < k < n:
            expected_pct, source = round(100 * k / n, 1), "history"
        else:
            expected_pct, source = DEFAULT_EXPECTED_PCT, "default"
    p = min(max(expected_pct / 100, 0.0), 1.0)
    return {"expected_pct": expected_pct, "expected_from": source, "follow_up_months": months,
            "mde_pp": round(100 * mde(p, max(na, 1), max(nb, 1)), 1), "outcome": outcome,
            "verdict_from": add_months(day, months).isoformat()}


def split_of(store, a: str, b: str) -> dict | None:
    """The split that made the saved groups a and b (partners of one split), or None."""
    rows = [store.conn.execute(
        "SELECT name, split_partner, split_date, split_follow_up_months, split_expected_pct, split_mde_pp,"
        " split_outcome FROM segments WHERE name = ? AND expression IS NULL AND split_date IS NOT NULL",
        [name]).fetchone() for name in (a.strip(), b.strip())]
    if None in rows or rows[0][1] != rows[1][0] or rows[1][1] != rows[0][0]:
        return None
    name, _, day, months, expected, mde_pp, outcome = rows[0]
    return {"date": day, "follow_up_months": months, "expected_pct": expected, "mde_pp": mde_pp, "outcome": outcome}


def compare_report(store, actor, a: str, b: str, cohort_date=None, months: int | None = None,
                   outcome: str | None = None, target_pp: float = 5.0, now: date | None = None,
                   record: bool = True) -> dict:
    """The two groups of a split are measured from the split's date over its follow-up unless a
    date is given; a comparison whose follow-up has not passed gives no verdict, only the date
    from which it can."""
    k_min = store.config.reports.min_cell_size
    plan = split_of(store, a, b)
    if plan is not None:
        cohort_date = cohort_date if cohort_date is not None else plan["date"]
        months = months if months is not None else plan["follow_up_months"]
        outcome = outcome if outcome is not None else plan["outcome"]
    months = months if months is not None else 12
    outcome = outcome or "outflow"
    ok = ", ".join(map(str, outcome_codes(outcome)))
    start, end, where, params, complete = cohort(store, actor, cohort_date, months, now)
    wa, pa = segment_where(store, a, actor)
    wb, pb = segment_where(store, b, actor)
    y = f"({y_expr(start, end)} IN ({ok}))"

    def exact() -> dict:
        return {"counts": list(store.conn.execute(
            f"SELECT count(*), COALESCE(SUM(({wa}) AND {y}), 0), COALESCE(SUM({wa}), 0),"
            f" COALESCE(SUM(({wb}) AND {y}), 0), COALESCE(SUM({wb}), 0), COALESCE(SUM(({wa}) AND ({wb})), 0)"
            f" FROM {FROM_SQL} WHERE {where}", [*pa, *pa, *pb, *pb, *pa, *pb, *params]).fetchone())}

    # one client changes each of the six counts by at most one
    counts, var, noise = report_counts(store, actor, "compare", [where, params, wa, pa, wb, pb, ok, start, end], 6,
                                       exact, record)
    total, ka, na, kb, nb, both = (int(x) for x in counts["counts"])
    ga = suppress_subgroup(rate_row(ka, na, noise_var=var, group=a), k_min, total)
    gb = suppress_subgroup(rate_row(kb, nb, noise_var=var, group=b), k_min, total)
    ka, kb = ga["outflow"], gb["outflow"]
    report = {
        "report": "compare", "outcome": outcome, "cohort_date": start.isoformat(), "end_date": end.isoformat(),
        "follow_up_months": months, "follow_up_complete": complete, "min_cell_size": k_min,
        "a": ga, "b": gb, "overlap": both, "difference_pp": None, "ci_low_pp": None, "ci_high_pp": None,
        "p_value": None, "test": None, "mde_pp": None, "target_pp": target_pp, "power_at_target": None,
        "verdict": "too_small", "suppressed": ga["suppressed"] or gb["suppressed"],
        "split_date": plan["date"] if plan else None, "split_mde_pp": plan["mde_pp"] if plan else None,
        "verdict_from": end.isoformat(),
    }
    if 0 < both < k_min:
        report["overlap"] = None
    if report["suppressed"]:
        hide(ga), hide(gb)
    elif not complete:  # 0 vs 0 the day after a split says nothing: no verdict before the follow-up has passed
        report["verdict"] = "waiting"
    elif both > (noise["margin"] if noise else 0):  # noisy: an overlap beyond what noise explains
        report["verdict"] = "overlap"
    elif na and nb:  # an empty group leaves the verdict at "too small to tell"
        c = compare_proportions(ka, na, kb, nb, target=target_pp / 100, noise_var=var)
        report.update(difference_pp=round(100 * c.difference, 1), ci_low_pp=round(100 * c.ci_low, 1),
                      ci_high_pp=round(100 * c.ci_high, 1), p_value=round(c.p_value, 4), test=c.test,
                      mde_pp=round(100 * c.mde, 1), power_at_target=round(c.power, 2))
        if c.p_value < 0.05:
            report["verdict"] = "different"
        elif c.power >= 0.8:
            report["verdict"] = "no_difference_found"
    key = "impact.compare_waiting" if report["verdict"] == "waiting" else f"reports.compare_verdict.{report['verdict']}"
    report["conclusion"] = t(key, diff=report["difference_pp"], p=report["p_value"], mde=report["mde_pp"],
                             target=target_pp, date=end.isoformat(), start=start.isoformat())
    if noise:
        report["privacy"] = noise
    return report
