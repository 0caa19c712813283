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
    for dim in ("channel", "template", "campaign", "month", "checkin_month"):
        only = ""
        if dim == "checkin_month" and {"status", "created_at", "client_id"} <= checkins:
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
        sql = (f"SELECT COALESCE({expr}, ''), count(*), SUM({replied}) FROM messages"
               f" JOIN clients ON clients.id = messages.client_id WHERE ({where}){only}"
               + (" AND messages.status IN ('sent', 'delivered')" if "status" in cols else "")
               + " GROUP BY 1 ORDER BY 1")
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
