"""Offers: what clients click in their digests (caseload.offers), and what the ranking adds.

Every item shown is an `offers` row with its rank, score, whether it filled an exploration slot
and whether its digest was ranked at random (config offers.random_share). Only items whose
message went out count. The report gives, over the last `days` days:
- the click rate by kind, by tag (an item counts under each of its tags) and by position;
- ranked against random digests: the click rate of each, the lift of the ranking in
  percentage points with its 95% interval and test (reports.stats.compare_proportions), and
  the ratio of the rates. Random digests are drawn at random from the same clients and rounds,
  so the difference is what the ranking adds, not who got it;
- outflow (any type, on or after the first digest in the window) of clients who clicked at
  least once against those who never did. This one is not an effect: clients who click may
  differ in other ways; it says whether clicking goes with leaving, no more.

Groups of fewer than config.reports.min_cell_size clients are suppressed (and a second one where
the first could be recomputed from the total). Staff see exact counts, per item shown. An
analyst sees a privacy release (caseload.privacy): every client weighs one in each breakdown,
spread over the groups of the items they were shown, so one client changes each breakdown's
counts by at most 2 in all; the rates are then the mean share clicked per client."""

import math
from datetime import datetime, timedelta

import numpy as np

from .. import clock, privacy
from ..clock import iso
from ..errors import BadInput
from ..i18n import t
from .common import record_report, report_counts, scope
from .stats import compare_proportions, wilson
from .suppress import HIDDEN

KINDS = ("vacancy", "tip", "activity", "news")
POSITIONS = 10  # offers.digests.MAX_ITEMS
WEIGHT = 100
DIMS = ("kind", "tag", "position", "arm")
ARMS = ("ranked", "random")
CLICKED = ("clicked", "not_clicked")


def _queries(where: str) -> dict[str, str]:
    base = (" FROM offers o JOIN messages m ON m.id = o.message_id JOIN clients ON clients.id = o.client_id"
            " JOIN items i ON i.id = o.item_id{join} WHERE ({where}) AND o.shown_at >= ? AND m.sent_at IS NOT NULL")
    cols = "o.clicked_at IS NOT NULL, o.client_id"
    plain = base.format(join="", where=where)
    return {
        "kind": f"SELECT i.kind, {cols}{plain}",
        "tag": f"SELECT g.tag, {cols}" + base.format(join=" JOIN item_tags g ON g.item_id = o.item_id", where=where),
        "position": f"SELECT CAST(o.rank AS TEXT), {cols}{plain}",
        "arm": f"SELECT CASE WHEN o.random THEN 'random' ELSE 'ranked' END, {cols}{plain}",
        "outflow": ("SELECT o.client_id, MAX(o.clicked_at IS NOT NULL), MIN(o.shown_at), clients.outflow_date"
                    f"{plain} GROUP BY o.client_id"),
    }


def _domain(store, dim: str) -> list[str]:
    """The groups of a breakdown, fixed before any client is counted (an analyst's release)."""
    if dim == "kind":
        return list(KINDS)
    if dim == "tag":
        return [r[0] for r in store.conn.execute("SELECT DISTINCT tag FROM item_tags ORDER BY tag")]
    if dim == "position":
        return [str(p) for p in range(1, POSITIONS + 1)]
    return list(ARMS if dim == "arm" else CLICKED)


def _row(value, n, k, clients=None, noise_var: float = 0.0) -> dict:
    n, k = int(n), int(min(k, n))
    row = {"value": value, "n": n, "clicked": k}
    if clients is not None:
        row["clients"] = clients
    if n > 0:
        lo, hi = wilson(k, n, noise_var=noise_var)
        row.update(rate_pct=round(100 * k / n, 1), ci_low_pct=round(100 * lo, 1), ci_high_pct=round(100 * hi, 1))
    else:
        row.update(rate_pct=None, ci_low_pct=None, ci_high_pct=None)
    row["suppressed"] = False
    return row


def _hide(row: dict) -> None:
    row["suppressed"] = True
    for key in (*HIDDEN, "clicked", "clients"):
        if key in row:
            row[key] = None


def _suppress(rows: list[dict], k_min: int, partition: bool) -> list[dict]:
    """Hide groups of fewer than k_min clients; in a partition (each shown item in one group),
    a lone hidden group takes the smallest other with it so it cannot be recomputed."""
    size = {id(r): (r["clients"] if r.get("clients") is not None else r["n"]) for r in rows}
    small = [r for r in rows if 0 < size[id(r)] < k_min]
    for r in small:
        _hide(r)
    if partition and len(small) == 1:
        shown = [r for r in rows if not r["suppressed"] and r["n"]]
        if shown:
            _hide(min(shown, key=lambda r: size[id(r)]))
    return rows


def _lift(ranked: dict, random_: dict, noise_var: float = 0.0) -> dict:
    out = {"lift_pp": None, "ci_low_pp": None, "ci_high_pp": None, "p_value": None, "test": None, "ratio": None}
    if ranked["suppressed"] or random_["suppressed"] or not ranked["n"] or not random_["n"]:
        return out
    c = compare_proportions(ranked["clicked"], ranked["n"], random_["clicked"], random_["n"], noise_var=noise_var)
    out.update(lift_pp=round(100 * c.difference, 1), ci_low_pp=round(100 * c.ci_low, 1),
               ci_high_pp=round(100 * c.ci_high, 1), p_value=round(c.p_value, 4), test=c.test)
    if random_["clicked"]:
        out["ratio"] = round((ranked["clicked"] / ranked["n"]) / (random_["clicked"] / random_["n"]), 2)
    return out


def offers_report(store, actor, days: int = 90, now: datetime | None = None, record: bool = True) -> dict:
    """Click rates by kind, tag and position, ranked against random digests, and outflow by
    whether a client clicked, over the last `days` days."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise BadInput(t("offers.report.bad_days"))
    k_min = store.config.reports.min_cell_size
    now = clock.now(now)
    since = iso(now - timedelta(days=days))
    where, params = scope(actor)
    params = [*params, since]
    queries = _queries(where)
    report = {"report": "offers", "days": days, "since": since, "min_cell_size": k_min, "by": {}}
    if privacy.applies(actor):
        return _released(store, actor, report, queries, params, record)
    for dim in DIMS:
        groups: dict[str, list] = {}
        for value, clicked, cid in store.conn.execute(queries[dim], params):
            g = groups.setdefault(str(value), [0, 0, set()])
            g[0] += 1
            g[1] += int(clicked)
            g[2].add(cid)
        order = _domain(store, dim)
        values = order + sorted(v for v in groups if v not in order)
        rows = [_row(v, *groups[v][:2], len(groups[v][2])) for v in values if v in groups]
        report["by"][dim] = _suppress(rows, k_min, partition=dim != "tag")
    by_arm = {r["value"]: r for r in report["by"]["arm"]}
    empty = _row("", 0, 0, 0)
    report["lift"] = _lift(by_arm.get("ranked", empty), by_arm.get("random", empty))
    outflow = {"clicked": [0, 0], "not_clicked": [0, 0]}
    for _, clicked, first, left in store.conn.execute(queries["outflow"], params):
        g = outflow["clicked" if clicked else "not_clicked"]
        g[0] += 1
        g[1] += int(bool(left) and left >= first[:10])
    rows = [_outflow_row(v, *outflow[v]) for v in CLICKED]
    report["outflow"] = _suppress(rows, k_min, partition=True)
    if record:
        record_report(store, actor, "offers")
    return report


def _outflow_row(value: str, n: int, k: int, noise_var: float = 0.0) -> dict:
    row = _row(value, n, k, noise_var=noise_var)
    row["outflow"] = row.pop("clicked")
    return row


def _released(store, actor, report: dict, queries: dict, params: list, record: bool) -> dict:
    k_min = report["min_cell_size"]
    domains = {dim: _domain(store, dim) for dim in (*DIMS, "outflow")}

    def exact() -> dict:
        out = {}
        for dim in DIMS:
            index = {v: i for i, v in enumerate(domains[dim])}
            size = max(1, len(index))
            per_client: dict[int, list] = {}
            for value, clicked, cid in store.conn.execute(queries[dim], params):
                g = index.get(str(value))
                if g is not None:
                    per_client.setdefault(cid, []).append((g, bool(clicked)))
            n = np.zeros(size, dtype=np.int64)
            k = np.zeros(size, dtype=np.int64)
            for shown in per_client.values():
                groups = np.array([g for g, _ in shown])
                n += WEIGHT * np.bincount(groups, minlength=size) // len(shown)
                k += (WEIGHT * np.bincount(groups, weights=[c for _, c in shown], minlength=size)
                      // len(shown)).astype(np.int64)
            out[f"n:{dim}"], out[f"k:{dim}"] = n[:len(index)], k[:len(index)]
        n, k = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
        for _, clicked, first, left in store.conn.execute(queries["outflow"], params):
            g = 0 if clicked else 1
            n[g] += WEIGHT
            k[g] += WEIGHT * int(bool(left) and left >= first[:10])
        out["n:outflow"], out["k:outflow"] = n, k
        return out

    counts, var, noise = report_counts(store, actor, "offers", [queries, params, domains],
                                       2 * WEIGHT * (len(DIMS) + 1), exact, record)
    var /= WEIGHT * WEIGHT

    def rows_of(dim: str) -> list[dict]:
        out = []
        for value, n, k in zip(domains[dim], counts[f"n:{dim}"], counts[f"k:{dim}"]):
            n, k = round(n / WEIGHT), round(min(k, n) / WEIGHT)
            if n > 0:
                out.append(_row(value, n, k, noise_var=var))
        return out

    for dim in DIMS:
        report["by"][dim] = _suppress(rows_of(dim), k_min, partition=dim != "tag")
    by_arm = {r["value"]: r for r in report["by"]["arm"]}
    empty = _row("", 0, 0)
    report["lift"] = _lift(by_arm.get("ranked", empty), by_arm.get("random", empty), noise_var=var)
    rows = [_outflow_row(r["value"], r["n"], r["clicked"], var) for r in rows_of("outflow")]
    report["outflow"] = _suppress(rows, k_min, partition=True)
    report["privacy"] = {**noise, "margin": math.ceil(noise["margin"] / WEIGHT), "weighted": True}
    return report
