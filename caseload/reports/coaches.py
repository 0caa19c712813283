"""Caseload per coach: active clients and attention load, as suppressed aggregates."""

from datetime import datetime

import numpy as np

from .. import privacy
from . import attention
from .common import report_counts, scope
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
