"""Control groups: outflow in two segments (or the two halves of a random split) of the same
cohort, the difference, a significance test and the power the sizes allow."""

from datetime import date

from ..i18n import t

from .common import FROM_SQL, outcome_codes, rate_row, report_counts, segment_where, y_expr
from .outflow import cohort
from .stats import compare_proportions
from .suppress import hide, suppress_subgroup


def compare_report(store, actor, a: str, b: str, cohort_date=None, months: int = 12, outcome: str = "outflow",
                   target_pp: float = 5.0, now: date | None = None, record: bool = True) -> dict:
    k_min = store.config.reports.min_cell_size
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
    }
    if 0 < both < k_min:
        report["overlap"] = None
    if report["suppressed"]:
        hide(ga), hide(gb)
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
    report["conclusion"] = t(f"reports.compare_verdict.{report['verdict']}", diff=report["difference_pp"],
                             p=report["p_value"], mde=report["mde_pp"], target=target_pp)
    if noise:
        report["privacy"] = noise
    return report
