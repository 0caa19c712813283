"""Engagement: reply rate by channel, template and campaign, check-in response over time, click
rate by channel, campaign and offer, and the outflow of clients who engage beside comparable
clients who do not (an association, not an effect).

It reads the outbox (`messages`) and check-in tables of the messaging area when they exist;
without them it says so instead of guessing."""

import json
import math
from datetime import date, timedelta

import numpy as np

from .. import privacy
from ..errors import CaseloadError
from ..i18n import t
from .common import record_report, report_counts, scope
from .stats import wilson
from .suppress import suppress_partition

REPLIED = ("replied_at", "reply_at", "answered_at")
MONTHS = 24  # an analyst's breakdown by month covers the last two years; earlier months are one group


def _columns(store, table: str) -> set[str]:
    return {r[1] for r in store.conn.execute(f'PRAGMA table_info("{table}")')}


def _replied_sql(store, cols: set[str]) -> str | None:
    """How to tell a message got a reply: a column on messages, or a replies table pointing at it."""
    col = next((c for c in REPLIED if c in cols), None)
    if col:
        return f"messages.{col} IS NOT NULL"
    for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                      " AND (name LIKE '%repl%' OR name LIKE 'inbound%')"):
        if "message_id" in _columns(store, name):
            return f'EXISTS (SELECT 1 FROM "{name}" r WHERE r.message_id = messages.id)'
    return None


def engagement_report(store, actor, record: bool = True) -> dict:
    k_min = store.config.reports.min_cell_size
    cols = _columns(store, "messages")
    replied = _replied_sql(store, cols) if cols else None
    if not cols or "client_id" not in cols or replied is None:
        raise CaseloadError(t("reports.no_engagement_data"))
    where, params = scope(actor)
    report = {"report": "engagement", "min_cell_size": k_min, "by": {}}
    time_col = next((c for c in ("sent_at", "created_at", "queued_at") if c in cols), None)
    checkins = _columns(store, "checkins")
    queries = {}
    for dim in ("channel", "template", "campaign", "month", "checkin_month"):
        only = ""
        if dim == "checkin_month" and {"status", "created_at", "client_id"} <= checkins:
            queries[dim] = ("SELECT substr(checkins.created_at, 1, 7), checkins.status = 'answered', clients.id"
                            f" FROM checkins JOIN clients ON clients.id = checkins.client_id WHERE ({where})"
                            " AND checkins.status IN ('answered', 'unanswered')")
            if privacy.applies(actor):
                continue
            report["by"][dim] = _checkins_by_month(store, where, params, k_min)
            continue
        if dim in ("month", "checkin_month"):
            if time_col is None or (dim == "checkin_month" and "kind" not in cols):
                continue
            expr = f"substr(messages.{time_col}, 1, 7)"
            only = " AND messages.kind = 'checkin'" if dim == "checkin_month" else ""
        elif dim == "campaign" and "campaign_id" in cols:
            expr = "(SELECT name FROM campaigns WHERE campaigns.id = messages.campaign_id)"
        else:
            col = next((c for c in (dim, f"{dim}_id", f"{dim}_name") if c in cols), None)
            if col is None:
                continue
            expr = f"messages.{col}"
        rows = []
        base = (f" FROM messages JOIN clients ON clients.id = messages.client_id WHERE ({where}){only}"
                + (" AND messages.status IN ('sent', 'delivered')" if "status" in cols else ""))
        queries[dim] = f"SELECT COALESCE({expr}, ''), {replied}, clients.id{base}"
        if privacy.applies(actor):
            continue
        sql = f"SELECT COALESCE({expr}, ''), count(*), SUM({replied}){base} GROUP BY 1 ORDER BY 1"
        for value, n, k in store.conn.execute(sql, params):
            lo, hi = wilson(k, n)
            rows.append({"value": value, "n": n, "outflow": None, "replied": k, "rate_pct": round(100 * k / n, 1),
                         "ci_low_pct": round(100 * lo, 1), "ci_high_pct": round(100 * hi, 1)})
        suppress_partition(rows, k_min)
        for r in rows:
            r.pop("outflow", None)
            if r["suppressed"]:
                r["replied"] = None
        report["by"][dim] = rows
    _click_dims(store, cols, where, params, k_min, report, queries, privacy.applies(actor))
    if privacy.applies(actor):
        return _released(store, actor, report, queries, params, record)
    if record:
        record_report(store, actor, "engagement")
    return report


WEIGHT = 100  # an analyst's counts are in hundredths of a client


def _click_dims(store, cols: set, where: str, params: list, k_min: int, report: dict, queries: dict,
                analyst: bool) -> None:
    """Click rates: the share of sent messages with a click on a tracked link, by channel and
    campaign, and the share of offered items clicked, by item."""
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "clicks" not in tables:
        return
    sent = " AND messages.status IN ('sent', 'delivered')" if "status" in cols else ""
    clicked = ("EXISTS (SELECT 1 FROM clicks WHERE clicks.message_id = messages.id AND clicks.kind = 'link')")
    base = f" FROM messages JOIN clients ON clients.id = messages.client_id WHERE ({where}){sent}"
    exprs = {"clicks_channel": "messages.channel",
             "clicks_campaign": "(SELECT name FROM campaigns WHERE campaigns.id = messages.campaign_id)"}
    sqls = {dim: (f"SELECT COALESCE({expr}, ''), {clicked}, clients.id{base}") for dim, expr in exprs.items()}
    if "offers" in tables and "items" in tables:
        sqls["clicks_offer"] = ("SELECT items.key, offers.clicked_at IS NOT NULL, clients.id FROM offers"
                                " JOIN items ON items.id = offers.item_id JOIN clients ON clients.id = offers.client_id"
                                f" WHERE ({where})")
    for dim, sql in sqls.items():
        queries[dim] = sql
        if analyst:
            continue
        rows = []
        for value, n, k in store.conn.execute(
                f"WITH x(value, hit) AS ({sql.replace(', clients.id', '', 1)}) SELECT value, count(*), SUM(hit)"
                " FROM x GROUP BY 1 ORDER BY 1", params):
            lo, hi = wilson(k, n)
            rows.append({"value": value, "n": n, "outflow": None, "clicked": k, "rate_pct": round(100 * k / n, 1),
                         "ci_low_pct": round(100 * lo, 1), "ci_high_pct": round(100 * hi, 1)})
        suppress_partition(rows, k_min)
        for r in rows:
            r.pop("outflow", None)
            if r["suppressed"]:
                r["clicked"] = None
        report["by"][dim] = rows


def _domain(store, dim: str) -> list[str]:
    """The groups an analyst's breakdown has, fixed before any client is counted ("" is the rest)."""
    dim = dim.removeprefix("clicks_")
    if dim == "offer":
        return ["", *(r[0] for r in store.conn.execute("SELECT key FROM items ORDER BY key"))]
    if dim == "channel":
        return ["", "sms", "email"]
    if dim in ("template", "campaign"):
        return ["", *(r[0] for r in store.conn.execute(f"SELECT DISTINCT name FROM {dim}s ORDER BY name"))]
    month = date.today().replace(day=1)
    out = []
    for _ in range(MONTHS):
        out.append(month.strftime("%Y-%m"))
        month = (month - timedelta(days=1)).replace(day=1)
    return ["", *reversed(out)]


def _released(store, actor, report: dict, queries: dict, params: list, record: bool) -> dict:
    """For an analyst: every client weighs one in each breakdown, spread over the groups of their
    messages (4 SMS and 1 email: 0.8 and 0.2), so one client changes a breakdown's counts by at
    most 2 in all; the counts are released with noise (caseload.privacy) over fixed groups."""
    k_min = report["min_cell_size"]
    domains = {dim: _domain(store, dim) for dim in queries}

    def exact() -> dict:
        out = {}
        for dim, sql in queries.items():
            index = {v: i for i, v in enumerate(domains[dim])}
            per_client: dict[int, list] = {}
            for value, replied, cid in store.conn.execute(sql, params):
                per_client.setdefault(cid, []).append((index.get(value, 0), bool(replied)))
            n = np.zeros(len(index), dtype=np.int64)
            k = np.zeros(len(index), dtype=np.int64)
            for items in per_client.values():
                groups = np.array([g for g, _ in items])
                sent = np.bincount(groups, minlength=len(index))
                answered = np.bincount(groups, weights=[r for _, r in items], minlength=len(index))
                n += WEIGHT * sent // len(items)
                k += (WEIGHT * answered // len(items)).astype(np.int64)
            out[f"n:{dim}"], out[f"k:{dim}"] = n, k
        return out

    counts, var, noise = report_counts(store, actor, "engagement", [queries, params, domains],
                                       2 * WEIGHT * len(queries), exact, record)
    var /= WEIGHT * WEIGHT
    for dim in queries:
        rows = []
        for value, n, k in zip(domains[dim], counts[f"n:{dim}"], counts[f"k:{dim}"]):
            n, k = round(n / WEIGHT), round(min(k, n) / WEIGHT)
            if n <= 0:
                continue
            lo, hi = wilson(k, n, noise_var=var)
            hit = "clicked" if dim.startswith("clicks_") else "replied"
            rows.append({"value": value, "n": n, hit: k, "rate_pct": round(100 * k / n, 1),
                         "ci_low_pct": round(100 * lo, 1), "ci_high_pct": round(100 * hi, 1)})
        for r in suppress_partition(rows, k_min):
            if r["suppressed"]:
                r["replied" if "replied" in r else "clicked"] = None
        report["by"][dim] = rows
    report["privacy"] = {**noise, "margin": math.ceil(noise["margin"] / WEIGHT), "weighted": True}
    return report


def _checkins_by_month(store, where: str, params: list, k_min: int) -> list[dict]:
    """Check-ins closed per month of sending, and the share answered."""
    rows = []
    for month, n, k in store.conn.execute(
            "SELECT substr(checkins.created_at, 1, 7), count(*), SUM(checkins.status = 'answered') FROM checkins"
            f" JOIN clients ON clients.id = checkins.client_id WHERE ({where})"
            " AND checkins.status IN ('answered', 'unanswered') GROUP BY 1 ORDER BY 1", params):
        lo, hi = wilson(k, n)
        rows.append({"value": month, "n": n, "replied": k, "rate_pct": round(100 * k / n, 1),
                     "ci_low_pct": round(100 * lo, 1), "ci_high_pct": round(100 * hi, 1)})
    for r in suppress_partition(rows, k_min):
        if r["suppressed"]:
            r["replied"] = None
    return rows


WINDOW_DAYS = 90  # engagement is looked for in the first 90 days; outflow is counted after them


def engagement_outflow(store, actor, cohort_date=None, months: int = 12, outcome: str = "outflow",
                       match: list[str] | None = None, window_days: int = WINDOW_DAYS, now: date | None = None,
                       record: bool = True) -> dict:
    """Outflow of clients who engage against comparable clients who do not: an association.

    The clients: in the caseload on the start date, sent at least one message in the
    `window_days` after it, and still in the caseload when that window ends. Engaged: a reply or
    a click on a tracked link in the window. Outflow is counted after the window, for `months`
    months, so that leaving early cannot make a client look unengaged. Engaged and not engaged
    clients are compared inside strata of months in caseload and the characteristics in `match`
    as they were on the start date (coarsened exact matching, as the effect report). Engaging is
    not an intervention: clients who reply may differ in ways no characteristic records, so the
    difference is labelled an association, never an effect."""
    from .common import active_on, add_months, outcome_codes, parse_day, today
    from .coding import coder
    from .effect import MONTH_BANDS, _estimate, _noisy_estimate, strata_on
    from .history import to_days

    k_min = store.config.reports.min_cell_size
    codes_ok = set(outcome_codes(outcome))
    analyst = privacy.applies(actor)
    now = now or today()
    window_end_default = now - timedelta(days=1)
    start = parse_day(cohort_date, "--date") or (add_months(window_end_default, -months) - timedelta(days=window_days))
    window_end = start + timedelta(days=window_days)
    end = add_months(window_end, months)
    if match is None:
        match = [] if analyst else [c.key for c in store.catalog if c.key_characteristic and c.type != "text"]
    keys = [store.catalog.require(k).key for k in match]
    cols = _columns(store, "messages")
    replied = _replied_sql(store, cols) if cols else None
    if not cols or "client_id" not in cols or replied is None:
        raise CaseloadError(t("reports.no_engagement_data"))
    where, params = scope(actor)
    time_col = next((c for c in ("sent_at", "created_at", "queued_at") if c in cols), "created_at")
    s0, s1 = f"{start.isoformat()}T00:00:00Z", f"{window_end.isoformat()}T00:00:00Z"
    clicked = ("EXISTS (SELECT 1 FROM clicks WHERE clicks.message_id = messages.id AND clicks.kind = 'link'"
               f" AND clicks.at < '{s1}')") if "clicks" in {r[0] for r in store.conn.execute(
                   "SELECT name FROM sqlite_master WHERE type = 'table'")} else "0"
    sent = " AND messages.status IN ('sent', 'delivered')" if "status" in cols else ""
    cards = [coder(store.catalog[k], "value", start, coarse=True).card for k in keys]
    radix = [len(MONTH_BANDS) + 1, *cards]
    domain = int(np.prod(radix))
    day = int(np.datetime64(start.isoformat(), "D").astype(np.int64))
    outflow_index = {o: i + 1 for i, o in enumerate(("fulltime", "parttime", "self_employed", "education",
                                                      "moved", "other"))}

    def rows_exact():
        rows = store.conn.execute(
            "SELECT clients.id, COALESCE(clients.intake_date, substr(clients.created_at, 1, 10)),"
            f" clients.outflow_date, clients.outflow_type, MAX(({replied}) OR {clicked})"
            f" FROM messages JOIN clients ON clients.id = messages.client_id"
            f" WHERE ({where}) AND {active_on(start)} AND {active_on(window_end)}{sent}"
            f" AND messages.{time_col} >= ? AND messages.{time_col} < ? GROUP BY clients.id",
            [*params, s0, s1]).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        engaged = np.array([bool(r[4]) for r in rows], dtype=bool)
        y = np.array([r[2] is not None and window_end.isoformat() < r[2] <= end.isoformat()
                      and outflow_index.get(r[3] or "other", 6) in codes_ok for r in rows], dtype=np.int64)
        return engaged, y, strata_on(store, keys, cards, ids, day, to_days([r[1] for r in rows]), start)

    report = {"report": "engagement_outflow", "outcome": outcome, "cohort_date": start.isoformat(),
              "window_end": window_end.isoformat(), "end_date": end.isoformat(), "follow_up_months": months,
              "follow_up_complete": end <= now, "matched_on": ["months_in_caseload", *keys], "min_cell_size": k_min,
              "label": t("impact.engagement_association"), "engaged": None, "not_engaged": None,
              "suppressed": False}
    if analyst:
        def exact() -> dict:
            engaged, y, stratum = rows_exact()
            cells = np.zeros((domain, 4), dtype=np.int64)
            for c, (sel, ys) in enumerate(((engaged, False), (~engaged, False), (engaged, True), (~engaged, True))):
                cells[:, c] = np.bincount(stratum, weights=sel * (y if ys else 1), minlength=domain)
            return {"strata": cells, "quarters": cells.sum(axis=0, keepdims=True)}

        # one client: n and y of one group in its stratum and in the total (2 + 2)
        r = privacy.release(store, actor, "report", json.dumps(
            ["engagement_outflow", where, params, start, window_end, end, sorted(codes_ok), keys], default=str), 4,
            exact, "report:engagement_outflow" if record else None)
        strata = np.asarray(r["strata"], dtype=float).reshape(-1, 4)
        strata = strata[(strata[:, 0] >= k_min) & (strata[:, 1] >= k_min)]  # a stratum counts when both groups reach the minimum
        qs = np.asarray(r["quarters"], dtype=float).reshape(-1, 4)
        est = _noisy_estimate(strata, qs, r.variance, k_min)
        report["privacy"] = r.summary()
        n_eng, n_not = float(qs[0, 0]), float(qs[0, 1])
    else:
        engaged, y, stratum = rows_exact()
        n_eng, n_not = int(engaged.sum()), int((~engaged).sum())
        order = np.concatenate([np.flatnonzero(engaged), np.flatnonzero(~engaged)])
        est = _estimate(stratum[order], engaged[order], y[order], np.zeros(len(order), dtype=np.int64), n_eng,
                        k_min) if len(order) else {}
        if record:
            record_report(store, actor, "engagement_outflow")
    if min(n_eng, n_not) < k_min:
        report["suppressed"] = True
        return report
    report.update(engaged=round(n_eng), not_engaged=round(n_not),
                  engaged_rate_pct=est.get("participant_rate_pct"), comparable_rate_pct=est.get("control_rate_pct"),
                  difference_pp=est.get("effect_pp"), ci_low_pp=est.get("ci_low_pp"), ci_high_pp=est.get("ci_high_pp"),
                  naive_difference_pp=est.get("naive_effect_pp"),
                  matched_share_pct=round(min(100.0, 100 * est.get("matched_participants", 0) / n_eng), 1))
    return report
