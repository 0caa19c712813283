"""Small-cell suppression: a group smaller than config.reports.min_cell_size is never shown,
and neither is a second group when the first could be recomputed from a total. An empty group
(nobody has that value) shows as 0: it says nothing about anyone."""

HIDDEN = ("n", "outflow", "rate_pct", "ci_low_pct", "ci_high_pct", "difference_pp", "share_pct")


def hide(row: dict) -> dict:
    row["suppressed"] = True
    for key in HIDDEN:
        if key in row:
            row[key] = None
    return row


def suppress_partition(rows: list[dict], k: int, total_shown: bool = True) -> list[dict]:
    """Rows that together make up a shown total (the values of one characteristic, the outflow
    types, the coaches): hide each row with 0 < n < k, then, if exactly one row is hidden, also the
    smallest other row so the hidden one cannot be recomputed by subtraction."""
    for r in rows:
        r.setdefault("suppressed", False)
    small = [r for r in rows if not r["suppressed"] and 0 < r["n"] < k]
    for r in small:
        r["_n"] = r["n"]
        hide(r)
    hidden = [r for r in rows if r["suppressed"]]
    if total_shown and len(hidden) == 1:
        # an empty row only when nothing else is left (an analyst's noisy zeros: the total is noisy too)
        shown = ([r for r in rows if not r["suppressed"] and r["n"] > 0]
                 or [r for r in rows if not r["suppressed"]])
        if shown:
            extra = min(shown, key=lambda r: r["n"])
            extra["_n"] = extra["n"]
            hide(extra)
    for r in rows:
        r.pop("_n", None)
    return rows


def suppress_subgroup(row: dict, k: int, total: int | None) -> dict:
    """A group shown beside its total but not as part of a partition (a segment, the participants
    of an intervention): hidden when it or its complement is smaller than k."""
    n = row.get("n")
    if n is None:
        return row
    if 0 < n < k or (total is not None and 0 < total - n < k):
        hide(row)
    else:
        row.setdefault("suppressed", False)
    return row
