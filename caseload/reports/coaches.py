"""Caseload per coach: active clients and attention load, as suppressed aggregates."""

from datetime import datetime

from . import attention
from .common import record_report, scope
from .suppress import hide, suppress_partition


def caseload_report(store, actor, now: datetime | None = None, record: bool = True) -> dict:
    k_min = store.config.reports.min_cell_size
    where, params = scope(actor)
    rows = [{"coach": coach, "n": n} for coach, n in store.conn.execute(
        f"SELECT COALESCE(clients.coach, ''), count(*) FROM clients WHERE clients.status = 'active' AND ({where})"
        " GROUP BY 1 ORDER BY 1", params)]
    found = attention.find(store, where, params, now)
    load: dict[str, int] = {}
    by_signal: dict[str, int] = {}
    if found:
        ids = list(found)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for (coach,) in store.conn.execute(
                    f"SELECT COALESCE(coach, '') FROM clients WHERE id IN ({', '.join('?' * len(chunk))})", chunk):
                load[coach] = load.get(coach, 0) + 1
        for reasons in found.values():
            for s, _ in reasons:
                by_signal[s.name] = by_signal.get(s.name, 0) + 1
    total = sum(r["n"] for r in rows)
    for r in rows:
        r["attention"] = load.get(r["coach"], 0)
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
    if record:
        record_report(store, actor, "caseload")
    return report
