"""Engagement: reply rate by channel, template and campaign, and check-in response over time.

It reads the outbox (`messages`) and check-in tables of the messaging area when they exist;
without them it says so instead of guessing."""

from ..errors import CaseloadError
from ..i18n import t
from .common import record_report, scope
from .stats import wilson
from .suppress import suppress_partition

REPLIED = ("replied_at", "reply_at", "answered_at")


def _columns(store, table: str) -> set[str]:
    return {r[1] for r in store.conn.execute(f'PRAGMA table_info("{table}")')}


def engagement_report(store, actor, record: bool = True) -> dict:
    k_min = store.config.reports.min_cell_size
    cols = _columns(store, "messages")
    replied = next((c for c in REPLIED if c in cols), None)
    if not cols or "client_id" not in cols or replied is None:
        raise CaseloadError(t("reports.no_engagement_data"))
    where, params = scope(actor)
    report = {"report": "engagement", "min_cell_size": k_min, "by": {}}
    for dim in ("channel", "template", "campaign", "month"):
        if dim == "month":
            time_col = next((c for c in ("sent_at", "created_at", "queued_at") if c in cols), None)
            if time_col is None:
                continue
            expr = f"substr(messages.{time_col}, 1, 7)"
        else:
            col = next((c for c in (dim, f"{dim}_id", f"{dim}_name") if c in cols), None)
            if col is None:
                continue
            expr = f"messages.{col}"
        rows = []
        sql = (f"SELECT COALESCE({expr}, ''), count(*), SUM(messages.{replied} IS NOT NULL) FROM messages"
               f" JOIN clients ON clients.id = messages.client_id WHERE ({where})"
               + (" AND messages.status = 'sent'" if "status" in cols else "") + " GROUP BY 1 ORDER BY 1")
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
    if record:
        record_report(store, actor, "engagement")
    return report
