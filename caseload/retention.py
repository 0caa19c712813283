"""Retention: nothing is kept longer than the organisation's rules allow.

Rules come from config.toml ([retention]) and the catalog (a characteristic's own
`retention_days`). The daemon calls `apply` nightly; `caseload retention apply` runs it by hand.
"""

import logging
from datetime import datetime, timedelta, timezone

from . import access, audit
from .clock import FORMAT as ISO
from .db import write_transaction
from .erasure import checkpoint, erase, quote

log = logging.getLogger("caseload.retention")


def _years_before(day, years: int):
    """The same day (or datetime) `years` earlier; 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def cutoffs(store, now: datetime) -> dict[int, str]:
    """characteristic id -> UTC time before which its observations go; only those with a rule.
    Characteristics that left the catalog follow the general rule."""
    general = store.config.retention.observation_days
    out = {}
    for key, cid in store.ids.items():
        c = store.catalog.get(key)
        days = (c.retention_days if c is not None and c.retention_days else 0) or general
        if days > 0:
            out[cid] = (now - timedelta(days=days)).strftime(ISO)
    return out


def apply(store, actor, now: datetime | None = None) -> dict:
    """Apply every retention rule in one transaction; admins (and the daemon) only.

    Returns how much went: clients erased, observations deleted, profile values cleared,
    audit entries pruned, and whether the WAL could be checkpointed."""
    access.require_admin(actor)
    now = now or datetime.now(timezone.utc)
    rules = store.config.retention
    done = {"clients": 0, "observations": 0, "profile_values": 0, "audit_entries": 0}
    with write_transaction(store.db) as conn:
        if rules.years_after_outflow > 0:
            today = now.astimezone(store.tz).date()
            before = _years_before(today, rules.years_after_outflow).isoformat()
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM clients WHERE outflow_date IS NOT NULL AND outflow_date < ?", [before])]
            if ids:
                erase(conn, actor, ids, action="retention_erase")
            done["clients"] = len(ids)
        limits = cutoffs(store, now)
        if limits:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS retention_cutoffs"
                         " (characteristic_id INTEGER PRIMARY KEY, before TEXT NOT NULL)")
            conn.execute("DELETE FROM temp.retention_cutoffs")
            conn.executemany("INSERT INTO temp.retention_cutoffs VALUES (?, ?)", list(limits.items()))
            done["observations"] = conn.execute(
                "DELETE FROM observations WHERE observed_at < (SELECT before FROM temp.retention_cutoffs r"
                " WHERE r.characteristic_id = observations.characteristic_id)").rowcount
            done["profile_values"] = _clear_profile(conn, store, limits)
        if rules.audit_years > 0:
            before = _years_before(now.astimezone(timezone.utc), rules.audit_years)
            done["audit_entries"] = audit.prune(conn, before.strftime(ISO))
        audit.record(conn, actor, "retention", "retention",
                     " ".join(f"{k}:{v}" for k, v in done.items()))
    done["checkpointed"] = checkpoint(store.conn)
    log.info("retention applied: %s", " ".join(f"{k}={v}" for k, v in done.items()))
    return done


def _clear_profile(conn, store, limits: dict[int, str]) -> int:
    """Profile values whose observation is gone, in one pass over the profile. Returns how many."""
    by_id = {cid: key for key, cid in store.ids.items()}
    cols = {r[1] for r in conn.execute("PRAGMA table_info(profile_times)")}
    n = 0
    for cid, before in limits.items():
        v, at = quote(f"v_{by_id[cid]}"), quote(f"t_{by_id[cid]}")
        if f"t_{by_id[cid]}" not in cols:
            continue
        gone = f"client_id IN (SELECT client_id FROM profile_times WHERE {at} < ?)"
        n += conn.execute(f"UPDATE profile SET {v} = NULL WHERE {gone}", [before]).rowcount
        conn.execute(f"UPDATE profile_times SET {at} = NULL WHERE {at} < ?", [before])
    return n
