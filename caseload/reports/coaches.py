"""Caseload per coach: active clients and attention load, and outflow per coach against caseload
size matched on client composition, as suppressed aggregates."""

import math
from datetime import datetime

import numpy as np

from .. import privacy
from . import attention
from .common import report_counts, scope
from .stats import Z95
from .suppress import hide, suppress_partition


def caseload_report(store, actor, now: datetime | None = None, record: bool = True) -> dict:
    k_min = store.config.reports.min_cell_size
    where, params = scope(actor)
    names = [s.name for s in attention.signals(store)]
    if privacy.applies(actor):
        # for an analyst the groups may not depend on the clients: every coach user, and "" for the rest
        coaches = ["", *(r[0] for r in store.conn.execute(
            "SELECT name FROM users WHERE role IN ('coach', 'teamlead') ORDER BY name"))]
    else:
        coaches = [r[0] for r in store.conn.execute(
            f"SELECT DISTINCT COALESCE(clients.coach, '') FROM clients WHERE clients.status = 'active'"
            f" AND ({where}) ORDER BY 1", params)]
    index = {c: i for i, c in enumerate(coaches)}

    def exact() -> dict:
        n, load = np.zeros(len(coaches), dtype=np.int64), np.zeros(len(coaches), dtype=np.int64)
        for coach, count in store.conn.execute(
                f"SELECT COALESCE(clients.coach, ''), count(*) FROM clients WHERE clients.status = 'active'"
                f" AND ({where}) GROUP BY 1", params):
            n[index.get(coach, 0)] += count
        found = attention.find(store, where, params, now)
        by_signal = dict.fromkeys(names, 0)
        ids = list(found)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for (coach,) in store.conn.execute(
                    f"SELECT COALESCE(coach, '') FROM clients WHERE id IN ({', '.join('?' * len(chunk))})", chunk):
                load[index.get(coach, 0)] += 1
        for reasons in found.values():
            for s, _ in reasons:
                by_signal[s.name] = by_signal.get(s.name, 0) + 1
        return {"n": n, "attention": load, "signals": [by_signal[k] for k in names]}

    # one client is one coach's active client, at most one coach's attention, and in each signal once
    counts, _, noise = report_counts(store, actor, "caseload", [where, params, now, coaches, names],
                                     2 + len(names), exact, record)
    rows = [{"coach": c, "n": int(n)} for c, n in zip(coaches, counts["n"]) if n or not noise]
    load = {c: int(x) for c, x in zip(coaches, counts["attention"])}
    by_signal = {k: int(x) for k, x in zip(names, counts["signals"]) if x}
    total = sum(r["n"] for r in rows)
    for r in rows:
        r["attention"] = min(load.get(r["coach"], 0), r["n"])  # noisy counts: never more than the coach has
        r["attention_pct"] = round(100 * r["attention"] / r["n"], 1) if r["n"] else None
    suppress_partition(rows, k_min)
    needing = sum(load.values())
    for r in rows:
        # the attention count is a group too, and so is the rest of the coach's clients
        if not r["suppressed"] and (r["attention"] < k_min and r["attention"] > 0
                                    or 0 < r["n"] - r["attention"] < k_min):
            r["attention"] = r["attention_pct"] = None
            r["attention_suppressed"] = True
        else:
            r.setdefault("attention_suppressed", r["suppressed"])
        if r["suppressed"]:
            r["attention"] = r["attention_pct"] = None
    needing_shown = needing == 0 or (needing >= k_min and total - needing >= k_min)
    hidden = [r for r in rows if r["attention"] is None]
    if needing_shown and len(hidden) == 1:  # the one hidden attention count would follow from the total
        shown = [r for r in rows if r["attention"] is not None and r["attention"] > 0]
        if shown:
            extra = min(shown, key=lambda r: r["attention"])
            extra["attention"] = extra["attention_pct"] = None
            extra["attention_suppressed"] = True
        else:
            needing_shown = False
    signals = [{"signal": name, "n": n} for name, n in sorted(by_signal.items())]
    for s in signals:
        if s["n"] < k_min or 0 < total - s["n"] < k_min:
            hide(s)
        else:
            s["suppressed"] = False
    report = {"report": "caseload", "min_cell_size": k_min, "active": total if total >= k_min or total == 0 else None,
              "needing_attention": needing if needing_shown else None,
              "coaches": rows, "signals": signals}
    if noise:
        report["privacy"] = noise
    return report


SIZE_BANDS = (100, 150, 200, 250)  # caseload sizes on the start date: <100, 100-149, ..., 250+


def coach_outflow_report(store, actor, cohort_date=None, months: int = 12, outcome: str = "outflow",
                         match: list[str] | None = None, bands: tuple = SIZE_BANDS, now=None,
                         record: bool = True) -> dict:
    """Outflow per coach against caseload size, matched on client composition.

    The cohort is the clients in the caseload on the start date, followed `months` months (as the
    outflow report). Each client is described as it was on that day: months in caseload and the
    characteristics in `match` (coarse codes, from the history). A coach's clients are compared
    with the clients of the other coaches in the same stratum (indirect standardisation): the
    expected outflow is what those comparable clients did, and the adjusted difference is the
    observed minus the expected, in percentage points, with a 95% interval. A client in a stratum
    no other coach has is not matched (the share matched is shown, with a warning below 80%).
    Coaches are then grouped by caseload size (their clients in the cohort) to show whether
    smaller or larger caseloads go with more outflow than their clients would predict. This is an
    association: coaches differ in more than caseload size. Each client counts for the coach they
    had at the end of the start date (caseload.coaches), so a coach who left keeps their clients'
    outflow and their successor does not get it; a client with no coach period then (history from
    before migration 0028 is not known) counts for their current coach.

    Staff see their scope with groups under the minimum cell size suppressed; an analyst gets a
    noisy release of the (coach x stratum) counts, every coach user a fixed row, and sees no
    coach's name whose (noisy) cohort is under the minimum."""
    from ..coaches import on_day_sql as coach_on_day
    from .common import outcome_codes, y_expr
    from .coding import coder
    from .effect import MONTH_BANDS, strata_on
    from .history import to_days
    from .outflow import cohort
    from ..i18n import t

    k_min = store.config.reports.min_cell_size
    codes_ok = outcome_codes(outcome)
    analyst = privacy.applies(actor)
    if match is None:
        match = [] if analyst else [c.key for c in store.catalog if c.key_characteristic and c.type != "text"]
    keys = [store.catalog.require(k).key for k in match]
    start, end, where, params, complete = cohort(store, actor, cohort_date, months, now)
    cards = [coder(store.catalog[k], "value", start, coarse=True).card for k in keys]
    radix = [len(MONTH_BANDS) + 1, *cards]
    n_strata = int(np.prod(radix)) if radix else 1
    cohort_sql = (f"SELECT clients.id, {coach_on_day(start)}, COALESCE(clients.intake_date,"
                  f" substr(clients.created_at, 1, 10)), {y_expr(start, end)} FROM clients WHERE {where}")
    fetched = []
    if analyst:
        coaches = ["", *(r[0] for r in store.conn.execute(
            "SELECT name FROM users WHERE role IN ('coach', 'teamlead') ORDER BY name"))]
    else:  # the coaches of the cohort on the start date, read once with the cohort
        fetched = store.conn.execute(cohort_sql, params).fetchall()
        coaches = sorted({r[1] for r in fetched})
    index = {c: i for i, c in enumerate(coaches)}
    day = int(np.datetime64(start.isoformat(), "D").astype(np.int64))

    def exact() -> dict:
        rows = fetched or store.conn.execute(cohort_sql, params).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        coach = np.array([index.get(r[1], 0) for r in rows], dtype=np.int64)
        y = np.isin(np.array([r[3] for r in rows], dtype=np.int64), codes_ok).astype(np.int64)
        stratum = strata_on(store, keys, cards, ids, day, to_days([r[2] for r in rows]), start)
        cell = coach * n_strata + stratum
        size = len(coaches) * n_strata
        if analyst:
            return {"n": np.bincount(cell, minlength=size), "k": np.bincount(cell, weights=y, minlength=size)
                    .astype(np.int64)}
        used, inverse = np.unique(cell, return_inverse=True)
        return {"cells": used, "n": np.bincount(inverse, minlength=len(used)),
                "k": np.bincount(inverse, weights=y, minlength=len(used)).astype(np.int64)}

    # one client is one cell: its n and, if it left, its k
    query = ["coach_outflow", where, params, start, end, codes_ok, keys, coaches]
    counts, var, noise = report_counts(store, actor, "coach_outflow", query, 2, exact, record)
    # one entry per (coach, stratum) cell, coach by coach: staff get only the cells with clients,
    # an analyst every cell of the release (a noisy count may be anywhere)
    if analyst:
        n = np.asarray(counts["n"], dtype=float)
        k = np.minimum(np.asarray(counts["k"], dtype=float), n)
        cells = np.arange(len(coaches) * n_strata)
    else:
        cells = np.asarray(counts["cells"], dtype=np.int64)
        n = np.asarray(counts["n"], dtype=float)
        k = np.asarray(counts["k"], dtype=float)
    owner, stratum = cells // n_strata, cells % n_strata
    N = np.bincount(stratum, weights=n, minlength=n_strata)
    K = np.bincount(stratum, weights=k, minlength=n_strata)
    others_n, others_k = N[stratum] - n, K[stratum] - k
    matched = (n > 0) & (others_n >= 1)
    r_other = np.where(matched, (others_k + 0.5) / (np.maximum(others_n, 0) + 1), 0.0)
    bounds = np.searchsorted(owner, np.arange(len(coaches) + 1))

    def figures(part) -> dict:
        """Observed, expected and adjusted figures for the cells in part (a slice or a mask), together."""
        nn, kk, mm = n[part], k[part], matched[part]
        size = float(nn.sum())
        n_m = float((nn * mm).sum())
        out = {"n": round(size), "outflow": round(float(kk.sum())),
               "rate_pct": round(100 * float(kk.sum()) / size, 1) if size > 0 else None,
               "clients_matched_pct": round(100 * n_m / size, 1) if size > 0 else None,
               "expected_pct": None, "adjusted_pp": None, "ci_low_pp": None, "ci_high_pp": None}
        if n_m >= k_min:
            o = float((kk * mm).sum())
            e = float((nn * mm * r_other[part]).sum())
            r = np.clip(r_other[part], 0.01, 0.99)
            var_o = float((nn * mm * r * (1 - r) * (1 + nn / np.maximum(N[stratum[part]] - nn, 1))).sum())
            var_o += var * float(mm.sum()) * 2  # an analyst's noise on each n and k
            se = math.sqrt(var_o) / n_m
            diff = (o - e) / n_m
            out.update(expected_pct=round(100 * e / n_m, 1), adjusted_pp=round(100 * diff, 1),
                       ci_low_pp=round(100 * (diff - Z95 * se), 1), ci_high_pp=round(100 * (diff + Z95 * se), 1))
        return out

    sizes = np.bincount(owner, weights=n, minlength=len(coaches))
    rows = []
    for i, c in enumerate(coaches):
        if sizes[i] <= 0 and analyst:
            continue
        row = {"coach": c, **figures(slice(bounds[i], bounds[i + 1])), "suppressed": False}
        if row["n"] == 0:
            continue
        rows.append(row)
    suppress_partition(rows, k_min, total_shown=False)  # no total is shown: the bands leave hidden coaches out
    hidden = np.zeros(len(coaches), dtype=bool)
    for r in rows:
        if r["suppressed"]:
            hidden[index[r["coach"]]] = True
    for r in rows:
        if r["suppressed"]:
            for key in ("outflow", "expected_pct", "adjusted_pp", "ci_low_pp", "ci_high_pp", "clients_matched_pct"):
                r[key] = None
            if analyst:
                r["coach"] = None  # an analyst never sees who has a caseload under the minimum
    band_of = np.searchsorted(np.array(bands), sizes, side="right")
    labels = [f"<{bands[0]}", *(f"{a}-{b - 1}" for a, b in zip(bands, bands[1:])), f"{bands[-1]}+"]
    by_size = []
    for b, label in enumerate(labels):
        sel = (band_of == b) & (sizes > 0) & ~hidden
        if not sel.any():
            continue
        coaches_in = int(sel.sum())
        row = {"caseload_size": label, "coaches": coaches_in, **figures(sel[owner]), "suppressed": False}
        if row["n"] < k_min or (analyst and coaches_in < 1):
            hide(row)
            for key in ("outflow", "expected_pct", "adjusted_pp", "ci_low_pp", "ci_high_pp", "clients_matched_pct"):
                row[key] = None
        by_size.append(row)
    overall = figures(slice(None))
    warnings = []
    if overall["clients_matched_pct"] is not None and overall["clients_matched_pct"] < 80:
        warnings.append(t("impact.coaches_low_coverage", share=overall["clients_matched_pct"]))
    report = {"report": "coach_outflow", "outcome": outcome, "cohort_date": start.isoformat(),
              "end_date": end.isoformat(), "follow_up_months": months, "follow_up_complete": complete,
              "min_cell_size": k_min, "matched_on": ["months_in_caseload", *keys],
              "clients_matched_pct": overall["clients_matched_pct"], "coaches": rows, "by_size": by_size,
              "label": t("impact.coaches_association"), "warnings": warnings}
    if noise:
        report["privacy"] = noise
    return report
