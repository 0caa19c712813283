"""What the reports share: cohorts, outcomes, dates, rate rows, the audit entry, the counts."""

import json
from datetime import date

from .. import access, audit, privacy
from ..errors import BadInput
from ..i18n import t
from .stats import wilson

OUTFLOW_TYPES = ("fulltime", "parttime", "self_employed", "education", "moved", "other")
OUTCOMES = {
    "outflow": OUTFLOW_TYPES,
    "outflow_work": ("fulltime", "parttime", "self_employed"),
}
# y-codes: 0 no outflow in the window, 1.. the outflow type (OUTFLOW_TYPES order)
Y_CARD = len(OUTFLOW_TYPES) + 1


def today() -> date:
    return date.today()


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise ValueError(d)


def parse_day(raw, name: str) -> date | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, date):
        return raw
    from ..values import parse_date

    try:
        return parse_date(str(raw))
    except ValueError as e:
        raise BadInput(t("reports.bad_date", option=name, reason=str(e))) from None


def outcome_types(outcome: str) -> tuple:
    if outcome not in OUTCOMES:
        raise BadInput(t("reports.bad_outcome", outcome=outcome, allowed=", ".join(OUTCOMES)))
    return OUTCOMES[outcome]


def active_on(d: date, alias: str = "clients") -> str:
    """SQL: the client was in the caseload on day d (ISO dates compare as text)."""
    day = d.isoformat()
    return (f"COALESCE({alias}.intake_date, substr({alias}.created_at, 1, 10)) <= '{day}'"
            f" AND ({alias}.outflow_date > '{day}' OR ({alias}.outflow_date IS NULL AND {alias}.status = 'active'))")


def y_expr(start: date, end: date, alias: str = "clients") -> str:
    """SQL: 0, or 1.. the outflow type when the client left in (start, end]."""
    cases = " ".join(f"WHEN '{o}' THEN {i + 1}" for i, o in enumerate(OUTFLOW_TYPES))
    return (f"(CASE WHEN {alias}.outflow_date > '{start.isoformat()}' AND {alias}.outflow_date <= '{end.isoformat()}'"
            f" THEN (CASE {alias}.outflow_type {cases} ELSE {len(OUTFLOW_TYPES)} END) ELSE 0 END)")


def outcome_codes(outcome: str) -> list[int]:
    return [OUTFLOW_TYPES.index(o) + 1 for o in outcome_types(outcome)]


def rate_row(k: int, n: int, base_pct: float | None = None, noise_var: float = 0.0, **extra) -> dict:
    """n, outflow, rate and its 95% interval; noise_var > 0 for an analyst's noisy counts."""
    row = dict(extra)
    k, n = int(k), int(n)
    if noise_var:
        k = min(k, n)
    row["n"] = n
    row["outflow"] = k
    if n > 0:
        lo, hi = wilson(k, n, noise_var=noise_var)
        row["rate_pct"] = round(100 * k / n, 1)
        row["ci_low_pct"] = round(100 * lo, 1)
        row["ci_high_pct"] = round(100 * hi, 1)
        if base_pct is not None:
            row["difference_pp"] = round(100 * k / n - base_pct, 1)
    else:
        row.update(rate_pct=None, ci_low_pct=None, ci_high_pct=None)
        if base_pct is not None:
            row["difference_pp"] = None
    row["suppressed"] = False
    return row


def scope(actor) -> tuple[str, list]:
    """What the actor may count: analysts the organisation, coaches and team leads their own."""
    return access.aggregate_scope(actor, "clients")


def record_report(store, actor, name: str) -> None:
    audit.record(store.db, actor, "report", f"report:{name}")


def report_counts(store, actor, name: str, query: list, sensitivity: int, exact, record: bool):
    """The counts a report is built from: exact for staff (audited here when record), for an
    analyst a privacy release (noisy, the same all period, paid from the budget, audited).
    Returns (counts, noise variance per count, privacy summary for the report or None)."""
    if not privacy.applies(actor):
        counts = exact()
        if record:
            record_report(store, actor, name)
        return counts, 0.0, None
    r = privacy.release(store, actor, "report", json.dumps([name, *query], default=str), sensitivity, exact,
                        f"report:{name}" if record else None)
    return r.counts, r.variance, r.summary()


def segment_where(store, segment: str, actor) -> tuple[str, list]:
    """The segment as SQL; an analyst's may not select on identifying fields (NotForAnalysts)."""
    try:
        from ..segments import resolve_for
    except ImportError:
        raise BadInput(t("reports.no_segments")) from None
    return resolve_for(store, actor, segment)


FROM_SQL = "clients JOIN profile ON profile.client_id = clients.id"
