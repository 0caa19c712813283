"""Engagement: reply rate by channel, template and campaign, and check-in response over time.

It reads the outbox (`messages`) and check-in tables of the messaging area when they exist;
without them it says so instead of guessing."""

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
    if privacy.applies(actor):
        return _released(store, actor, report, queries, params, record)
    if record:
        record_report(store, actor, "engagement")
    return report


WEIGHT = 100  # an analyst's counts are in hundredths of a client


def _domain(store, dim: str) -> list[str]:
    """The groups an analyst's breakdown has, fixed before any client is counted ("" is the rest)."""
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
            rows.append({"value": value, "n": n, "replied": k, "rate_pct": round(100 * k / n, 1),
                         "ci_low_pct": round(100 * lo, 1), "ci_high_pct": round(100 * hi, 1)})
        for r in suppress_partition(rows, k_min):
            if r["suppressed"]:
                r["replied"] = None
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
