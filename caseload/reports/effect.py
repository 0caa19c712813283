"""The effect of an intervention: participants against comparable non-participants.

Design (risk-set, coarsened exact matching, Iacus, King & Porro 2012):
- participants: each client's first start of the intervention, when the client was in the
  caseload on that day and the follow-up window has passed;
- controls: clients who never took part, in the caseload on the 15th of each month in which
  participants started, followed the same number of days from that day (a fixed-seed random
  sample when there are more than MAX_CONTROL_ROWS such client-months);
- both described as they were on their reference day: characteristics from the observation
  history (coarsened: scales in thirds, numbers in halves, "not recorded" a group of its own),
  months in caseload (0-6, 6-12, 12-24, 24-60, 60+) and the calendar quarter;
- strata are exact on those codes; participants in a stratum without controls are not matched.
The estimate is the average effect on the matched participants (ATT): the stratum differences
weighted by participants, with a normal 95% interval (stratum variances from (k+1)/(n+2), so a
stratum with 0% or 100% still counts as uncertain). A control may stand in for several months;
the interval treats those as independent, and clients who start later are not controls, which
leans the comparison group slightly towards those who left early. Both are small when
participation per month is small against the caseload. The naive estimate compares participants
with all non-participants in the caseload at the same time, without matching."""

import math
from datetime import date
from statistics import NormalDist

import numpy as np

from ..errors import BadInput
from ..i18n import t
from .common import outcome_types, record_report, scope, today
from .history import codes_as_of, to_days
from .stats import Z80, Z95

MONTH_BANDS = (6, 12, 24, 60)
MAX_CONTROL_ROWS = 2_000_000


def default_match_keys(store) -> list[str]:
    """The catalog's key characteristics: what coaches judged to matter most."""
    return [c.key for c in store.catalog if c.key_characteristic and c.type != "text"]


def _dense(columns: list[np.ndarray]) -> np.ndarray:
    """One stratum number per row for the combination of the code columns."""
    code = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        combined = code * (int(col.max()) + 1 if len(col) else 1) + col
        _, code = np.unique(combined, return_inverse=True)
        code = code.astype(np.int64).ravel()
    return code


def _months_band(ref_day: np.ndarray, intake_day: np.ndarray) -> np.ndarray:
    months = (ref_day - intake_day) / 30.4375
    return np.searchsorted(np.array(MONTH_BANDS, dtype=float), months, side="right").astype(np.int64)


def _quarter(days: np.ndarray) -> np.ndarray:
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months // 3


def _smoothed(k, n):
    p = (k + 1) / (n + 2)
    return p * (1 - p)


def effect_report(store, actor, intervention: str, outcome: str = "outflow_work", within: int = 365,
                  match: list[str] | None = None, now: date | None = None, record: bool = True,
                  max_control_rows: int = MAX_CONTROL_ROWS, seed: int = 0) -> dict:
    k_min = store.config.reports.min_cell_size
    wanted = outcome_types(outcome)
    if within < 1:
        raise BadInput(t("reports.bad_within"))
    keys = list(match) if match is not None else default_match_keys(store)
    for key in keys:
        if store.catalog.require(key).type == "text":
            raise BadInput(t("reports.cannot_match_text", key=key))
    now = now or today()
    now_day = int(np.datetime64(now.isoformat(), "D").astype(np.int64))
    where, params = scope(actor)
    if not store.conn.execute("SELECT 1 FROM interventions WHERE name = ? LIMIT 1", [intervention]).fetchone():
        names = [r[0] for r in store.conn.execute("SELECT DISTINCT name FROM interventions ORDER BY name")]
        raise BadInput(t("reports.unknown_intervention", name=intervention, known=", ".join(names) or "-"))

    cols = ("clients.id, COALESCE(clients.intake_date, substr(clients.created_at, 1, 10)), clients.outflow_date,"
            " clients.outflow_type, clients.status")
    prow = store.conn.execute(
        f"SELECT {cols}, MIN(interventions.start_date) FROM interventions JOIN clients"
        f" ON clients.id = interventions.client_id WHERE interventions.name = ? AND ({where})"
        " GROUP BY clients.id", [intervention, *params]).fetchall()
    ever = {r[0] for r in store.conn.execute("SELECT DISTINCT client_id FROM interventions WHERE name = ?",
                                              [intervention])}
    crow = [r for r in store.conn.execute(f"SELECT {cols} FROM clients WHERE ({where})", params) if r[0] not in ever]

    def arrays(rows):
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        intake = to_days([r[1] for r in rows])
        out_day = to_days([r[2] for r in rows])
        wanted_out = np.array([(r[3] or "other") in wanted and r[2] is not None for r in rows], dtype=bool)
        gone_undated = np.array([r[2] is None and r[4] != "active" for r in rows], dtype=bool)
        return ids, intake, out_day, wanted_out, gone_undated

    p_ids, p_intake, p_out, p_wanted, p_gone = arrays(prow)
    p_start = to_days([r[5] for r in prow]) if prow else np.zeros(0, dtype=np.int64)
    eligible = ((p_start + within <= now_day) & (p_intake <= p_start) & (p_out > p_start) & ~p_gone)
    report = {
        "report": "effect", "intervention": intervention, "outcome": outcome, "within_days": within,
        "participants_total": len(prow), "participants": int(eligible.sum()), "matched_participants": 0,
        "controls": 0, "participant_rate_pct": None, "control_rate_pct": None,
        "effect_pp": None, "ci_low_pp": None, "ci_high_pp": None, "p_value": None, "mde_pp": None,
        "naive_control_rate_pct": None, "naive_effect_pp": None, "naive_ci_low_pp": None, "naive_ci_high_pp": None,
        "method": "coarsened_exact_matching", "matched_on": ["months_in_caseload", "calendar_quarter", *keys],
        "min_cell_size": k_min, "verdict": "too_small", "suppressed": False,
    }
    p_ids, p_intake, p_out, p_wanted, p_start = (a[eligible] for a in (p_ids, p_intake, p_out, p_wanted, p_start))
    p_y = (p_out <= p_start + within) & p_wanted

    # controls: one row per (client, month in which participants started)
    months = np.unique(p_start.astype("datetime64[D]").astype("datetime64[M]"))
    ref_days = (months + np.timedelta64(14, "D")).astype("datetime64[D]").astype(np.int64)
    ref_days = ref_days[ref_days + within <= now_day]
    c_ids, c_intake, c_out, c_wanted, c_gone = arrays(crow) if crow else (np.zeros(0, dtype=np.int64),) * 5
    rng = np.random.default_rng(seed)
    active = [(c_intake <= d) & (c_out > d) & ~c_gone.astype(bool) for d in ref_days]
    total = sum(int(a.sum()) for a in active)
    keep = min(1.0, max_control_rows / total) if total else 1.0
    idx_parts, day_parts = [], []
    for d, a in zip(ref_days, active):
        idx = np.flatnonzero(a)
        if keep < 1.0:
            idx = idx[rng.random(len(idx)) < keep]
        idx_parts.append(idx)
        day_parts.append(np.full(len(idx), d, dtype=np.int64))
    c_idx = np.concatenate(idx_parts) if idx_parts else np.zeros(0, dtype=np.int64)
    c_day = np.concatenate(day_parts) if day_parts else np.zeros(0, dtype=np.int64)
    c_y = (c_out[c_idx] <= c_day + within) & c_wanted.astype(bool)[c_idx] if len(c_idx) else np.zeros(0, bool)
    report["controls"] = int(len(np.unique(c_ids[c_idx]))) if len(c_idx) else 0

    n_p = len(p_ids)
    if n_p < k_min:
        report.update(participants=None, participants_total=None if len(prow) < k_min else len(prow),
                      suppressed=True)
        return _finish(store, actor, report, record)

    all_ids = np.concatenate([p_ids, c_ids[c_idx]])
    all_day = np.concatenate([p_start, c_day])
    all_intake = np.concatenate([p_intake, c_intake[c_idx]])
    treated = np.concatenate([np.ones(n_p, bool), np.zeros(len(c_idx), bool)])
    y = np.concatenate([p_y, c_y]).astype(np.int64)
    quarter = _quarter(all_day)
    quarter = quarter - quarter.min()
    band = _months_band(all_day, all_intake)
    covariates = codes_as_of(store, keys, all_ids, all_day, now)
    stratum = _dense([quarter, band, *[covariates[:, j] for j in range(len(keys))]])

    size = int(stratum.max()) + 1
    nT = np.bincount(stratum, weights=treated, minlength=size)
    yT = np.bincount(stratum, weights=treated * y, minlength=size)
    nC = np.bincount(stratum, weights=~treated, minlength=size)
    yC = np.bincount(stratum, weights=(~treated) * y, minlength=size)
    matched = (nT > 0) & (nC > 0)
    NT = nT[matched].sum()
    report["matched_participants"] = int(NT)
    report["participant_rate_pct"] = round(100 * float(p_y.mean()), 1)

    # naive: everyone else in the caseload at the same time (weighted by participants per quarter)
    qT = np.bincount(quarter, weights=treated)
    qC = np.bincount(quarter, weights=~treated, minlength=len(qT))
    qyC = np.bincount(quarter, weights=(~treated) * y, minlength=len(qT))
    has = (qT > 0) & (qC > 0)
    if has.any():
        w = qT[has] / qT[has].sum()
        pc = qyC[has] / qC[has]
        pt = float(p_y[np.isin(quarter[:n_p], np.flatnonzero(has))].mean())
        naive = pt - float((w * pc).sum())
        se = math.sqrt(_smoothed(pt * qT[has].sum(), qT[has].sum()) / qT[has].sum()
                       + float((w ** 2 * _smoothed(qyC[has], qC[has]) / qC[has]).sum()))
        report.update(naive_control_rate_pct=round(100 * float((w * pc).sum()), 1),
                      naive_effect_pp=round(100 * naive, 1), naive_ci_low_pp=round(100 * (naive - Z95 * se), 1),
                      naive_ci_high_pp=round(100 * (naive + Z95 * se), 1))

    if NT >= k_min:
        w = nT[matched] / NT
        pT, pC = yT[matched] / nT[matched], yC[matched] / nC[matched]
        est = float((w * (pT - pC)).sum())
        var = float((w ** 2 * (_smoothed(yT[matched], nT[matched]) / nT[matched]
                                + _smoothed(yC[matched], nC[matched]) / nC[matched])).sum())
        se = math.sqrt(var)
        lo, hi = est - Z95 * se, est + Z95 * se
        report.update(
            control_rate_pct=round(100 * float((w * pC).sum()), 1),
            participant_rate_pct=round(100 * float((w * pT).sum()), 1),
            effect_pp=round(100 * est, 1), ci_low_pp=round(100 * lo, 1), ci_high_pp=round(100 * hi, 1),
            p_value=round(2 * (1 - NormalDist().cdf(abs(est) / se)), 4) if se > 0 else None,
            mde_pp=round(100 * (Z95 + Z80) * se, 1))
        if hi - lo >= 0.40 or int(nC[matched].sum()) < k_min:
            report["verdict"] = "too_small"
        elif lo > 0:
            report["verdict"] = "positive"
        elif hi < 0:
            report["verdict"] = "negative"
        else:
            report["verdict"] = "no_clear_difference"
    return _finish(store, actor, report, record)


def _finish(store, actor, report: dict, record: bool) -> dict:
    r = report
    k = r["min_cell_size"]
    # a count that differs from a shown count by a small group would give that group away
    if r["participants"] is not None:
        if r["participants_total"] is not None and 0 < r["participants_total"] - r["participants"] < k:
            r["participants_total"] = None
        if 0 < r["participants"] - r["matched_participants"] < k:
            r["matched_participants"] = None
    r["conclusion"] = t(f"reports.effect_verdict.{r['verdict']}", effect=r["effect_pp"],
                        size=None if r["effect_pp"] is None else abs(r["effect_pp"]), low=r["ci_low_pp"],
                        high=r["ci_high_pp"], naive=r["naive_effect_pp"], mde=r["mde_pp"])
    if record:
        record_report(store, actor, "effect")
    return r
