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

import json
import math
from datetime import date
from statistics import NormalDist

import numpy as np

from .. import privacy
from ..errors import BadInput
from ..i18n import t
from .common import FROM_SQL, outcome_types, record_report, scope, segment_where, today
from .coding import coder
from .history import codes_as_of, to_days
from .stats import Z80, Z95

MONTH_BANDS = (6, 12, 24, 60)
COLUMNS = ("clients.id, COALESCE(clients.intake_date, substr(clients.created_at, 1, 10)), clients.outflow_date,"
           " clients.outflow_type, clients.status")
WINDOW_MONTHS = 36  # an analyst's report: participants who started in the 36 months before now - within
UNIT = 10_000       # an analyst's histograms count in ten-thousandths of a client
FALSE_STRATA = 0.05  # expected strata that only noise makes look matched
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


def strata_on(store, keys: list[str], cards: list[int], ids: np.ndarray, day: int, intake_day: np.ndarray,
              ref) -> np.ndarray:
    """Each client's stratum on one day (a day number): months in the caseload, then every key's
    code as of that day (a code beyond its card counts as 0), as one mixed-radix number."""
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    days = np.full(len(ids), day)
    stratum = _months_band(days, intake_day)
    codes = codes_as_of(store, keys, ids, days, ref)
    for j, card in enumerate(cards):
        stratum = stratum * card + np.where(codes[:, j] < card, codes[:, j], 0)
    return stratum


def _quarter(days: np.ndarray) -> np.ndarray:
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months // 3


def _smoothed(k, n):
    p = (k + 1) / (n + 2)
    return p * (1 - p)


def effect_report(store, actor, intervention: str, outcome: str = "outflow_work", within: int = 365,
                  match: list[str] | None = None, now: date | None = None, record: bool = True,
                  max_control_rows: int = MAX_CONTROL_ROWS, seed: int = 0, segment: str | None = None,
                  by: str | None = None) -> dict:
    """segment: only the clients in this segment (today's members), participants and controls
    alike. by: the effect per value of this characteristic as it was on each reference day (the
    characteristic joins the matching, so each group is matched inside itself)."""
    k_min = store.config.reports.min_cell_size
    wanted = outcome_types(outcome)
    if within < 1:
        raise BadInput(t("reports.bad_within"))
    keys = list(match) if match is not None else default_match_keys(store)
    if by is not None:
        by = store.catalog.require(by).key
        if by not in keys:
            keys.append(by)
    for key in keys:
        if store.catalog.require(key).type == "text":
            raise BadInput(t("reports.cannot_match_text", key=key))
    keys = [store.catalog.require(k).key for k in keys]
    now = now or today()
    now_day = int(np.datetime64(now.isoformat(), "D").astype(np.int64))
    where, params = scope(actor)
    if segment is not None:
        s_where, s_params = segment_where(store, segment, actor)
        where, params = f"({where}) AND clients.id IN (SELECT clients.id FROM {FROM_SQL} WHERE {s_where})", \
            [*params, *s_params]
    if not store.conn.execute("SELECT 1 FROM interventions WHERE name = ? LIMIT 1", [intervention]).fetchone():
        names = [r[0] for r in store.conn.execute("SELECT DISTINCT name FROM interventions ORDER BY name")]
        raise BadInput(t("reports.unknown_intervention", name=intervention, known=", ".join(names) or "-"))

    if privacy.applies(actor):
        return _released(store, actor, intervention, outcome, within, keys, now, where, params, record,
                         segment, by)
    cols = COLUMNS
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
        "segment": segment, "by": by, "matched_share_pct": None, "warnings": [],
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

    report.update(_estimate(stratum, treated, y, quarter, n_p, k_min))
    if by is not None:
        j = keys.index(by)
        cd = coder(store.catalog[by], "value", now, coarse=True)
        report["groups"] = []
        for code in range(cd.card):
            sel = covariates[:, j] == code
            group = {"value": cd.values[code], "label": cd.labels[code], "participants": int(sel[:n_p].sum()),
                     "matched_participants": 0, "suppressed": False}
            if 0 < group["participants"] < k_min:
                group.update(participants=None, matched_participants=None, suppressed=True, verdict="too_small",
                             warnings=["too_small"])
            elif group["participants"]:
                group.update(_estimate(_dense([stratum[sel]]), treated[sel], y[sel], quarter[sel],
                                       int(sel[:n_p].sum()), k_min))
            else:
                continue
            report["groups"].append(group)
        _hide_second(report["groups"])
    return _finish(store, actor, report, record)


def _hide_second(groups: list[dict]) -> None:
    """The groups' participants add up to the shown total: one hidden group would follow from the
    others, so then the smallest shown group is hidden too."""
    hidden = [g for g in groups if g["suppressed"]]
    shown = [g for g in groups if not g["suppressed"] and g.get("participants")]
    if len(hidden) == 1 and shown:
        g = min(shown, key=lambda g: g["participants"])
        for key in ("participants", "matched_participants", "matched_share_pct"):
            g[key] = None
        g["suppressed"] = True


def _estimate(stratum, treated, y, quarter, n_p: int, k_min: int) -> dict:
    """The matched and the naive estimate over the rows given (participants first, n_p of them)."""
    out = {"matched_participants": 0, "control_rate_pct": None, "effect_pp": None, "ci_low_pp": None,
           "ci_high_pp": None, "p_value": None, "mde_pp": None, "naive_control_rate_pct": None,
           "naive_effect_pp": None, "naive_ci_low_pp": None, "naive_ci_high_pp": None, "verdict": "too_small"}
    p_y = y[:n_p].astype(bool)
    size = int(stratum.max()) + 1 if len(stratum) else 1
    nT = np.bincount(stratum, weights=treated, minlength=size)
    yT = np.bincount(stratum, weights=treated * y, minlength=size)
    nC = np.bincount(stratum, weights=~treated, minlength=size)
    yC = np.bincount(stratum, weights=(~treated) * y, minlength=size)
    matched = (nT > 0) & (nC > 0)
    NT = nT[matched].sum()
    out["matched_participants"] = int(NT)
    out["participant_rate_pct"] = round(100 * float(p_y.mean()), 1) if n_p else None
    out["matched_share_pct"] = round(100 * float(NT) / n_p, 1) if n_p else None

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
        out.update(naive_control_rate_pct=round(100 * float((w * pc).sum()), 1),
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
        out.update(
            control_rate_pct=round(100 * float((w * pC).sum()), 1),
            participant_rate_pct=round(100 * float((w * pT).sum()), 1),
            effect_pp=round(100 * est, 1), ci_low_pp=round(100 * lo, 1), ci_high_pp=round(100 * hi, 1),
            p_value=round(2 * (1 - NormalDist().cdf(abs(est) / se)), 4) if se > 0 else None,
            mde_pp=round(100 * (Z95 + Z80) * se, 1))
        out["verdict"] = _verdict(lo, hi, float(nC[matched].sum()), k_min)
    out["warnings"] = _warnings(out)
    return out


def _verdict(lo: float, hi: float, controls: float, k_min: int) -> str:
    if hi - lo >= 0.40 or controls < k_min:
        return "too_small"
    if lo > 0:
        return "positive"
    if hi < 0:
        return "negative"
    return "no_clear_difference"


MIN_MATCHED_SHARE = 80.0  # below this share of eligible participants matched, the report warns


def _warnings(r: dict) -> list[str]:
    """What a reader must know before trusting the figure: few participants matched (the estimate
    is about the matched ones only), or groups too small to tell."""
    out = []
    if r.get("matched_share_pct") is not None and r["matched_share_pct"] < MIN_MATCHED_SHARE:
        out.append("low_coverage")
    if r.get("verdict") == "too_small":
        out.append("too_small")
    return out


def _finish(store, actor, report: dict, record: bool) -> dict:
    r = report
    k = r["min_cell_size"]
    # a count that differs from a shown count by a small group would give that group away
    if r["participants"] is not None:
        if r["participants_total"] is not None and 0 < r["participants_total"] - r["participants"] < k:
            r["participants_total"] = None
        if 0 < r["participants"] - r["matched_participants"] < k:
            r["matched_participants"] = None
    if r["matched_participants"] is None:
        r["matched_share_pct"] = None
    r["warnings"] = _warnings(r) if not r["suppressed"] else ["too_small"]
    r["warning_text"] = [t(f"impact.effect_warning.{w}", share=r["matched_share_pct"], minimum=MIN_MATCHED_SHARE)
                         for w in r["warnings"]]
    for g in r.get("groups", []):
        g["warning_text"] = [t(f"impact.effect_warning.{w}", share=g.get("matched_share_pct"),
                               minimum=MIN_MATCHED_SHARE) for w in g.get("warnings", [])]
        # a group count that differs from a shown count by a small group would give that group away
        if g.get("participants") and 0 < g["participants"] - (g.get("matched_participants") or 0) < k:
            g["matched_participants"] = g["matched_share_pct"] = None
    r["conclusion"] = t(f"reports.effect_verdict.{r['verdict']}", effect=r["effect_pp"],
                        size=None if r["effect_pp"] is None else abs(r["effect_pp"]), low=r["ci_low_pp"],
                        high=r["ci_high_pp"], naive=r["naive_effect_pp"], mde=r["mde_pp"])
    if record:
        record_report(store, actor, "effect")
    return r


def _released(store, actor, intervention, outcome, within, keys, now, where, params, record, segment=None,
              by=None) -> dict:
    """The effect report as an analyst sees it: the same matching, computed from a privacy release.

    What one client can change is bounded first. A first release counts participants by the
    month of their first start in the WINDOW_MONTHS months before now - within; the months whose
    noisy count reaches the minimum cell size are compared (so they follow from a release, not
    from any one client). Participants are the clients who first started in those months, and a
    control's rows (one per compared month it was in the caseload) weigh one client together.
    The report itself is a second release (two epsilons): the four counts of every stratum of the full,
    fixed set of strata (quarter x months in caseload x the coarse codes of the keys), the same
    per calendar quarter for the naive comparison, and three headline counts; a stratum counts
    as matched when its noisy participants and controls both reach a threshold that noise alone
    crosses in fewer than FALSE_STRATA strata in all (and at least the minimum cell size)."""
    k_min = store.config.reports.min_cell_size
    wanted = outcome_types(outcome)
    now_day = int(np.datetime64(now.isoformat(), "D").astype(np.int64))
    last = np.datetime64(now.isoformat(), "D") - np.timedelta64(within, "D")
    last_month = last.astype("datetime64[M]")
    months = last_month - np.arange(WINDOW_MONTHS - 1, -1, -1)
    first_day = int(months[0].astype("datetime64[D]").astype(np.int64))
    ref_days = (months + np.timedelta64(14, "D")).astype("datetime64[D]").astype(np.int64)
    starts = _start_months(store, actor, intervention, within, now, months, where, params, record)
    chosen = starts >= k_min  # months with enough participants (noisy): their controls only
    ref_days = ref_days[chosen & (ref_days + within <= now_day)]
    chosen_months = months[chosen].astype(np.int64)
    chars = [store.catalog[k] for k in keys]
    cards = [coder(c, "value", now, coarse=True).card for c in chars]
    j_by = keys.index(by) if by is not None else None
    n_groups = cards[j_by] if by is not None else 1
    quarters = (WINDOW_MONTHS + 2) // 3
    radix = [quarters, len(MONTH_BANDS) + 1, *cards]
    domain = math.prod(radix)

    def arrays(rows):
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        intake = to_days([r[1] for r in rows])
        out_day = to_days([r[2] for r in rows])
        wanted_out = np.array([(r[3] or "other") in wanted and r[2] is not None for r in rows], dtype=bool)
        gone = np.array([r[2] is None and r[4] != "active" for r in rows], dtype=bool)
        return ids, intake, out_day, wanted_out, gone

    def quarter_of(days):
        m = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) - months[0].astype(np.int64)
        return np.clip(m // 3, 0, quarters - 1)

    def exact() -> dict:
        prow = store.conn.execute(
            f"SELECT {COLUMNS}, MIN(interventions.start_date) FROM interventions JOIN clients"
            f" ON clients.id = interventions.client_id WHERE interventions.name = ? AND ({where})"
            " GROUP BY clients.id", [intervention, *params]).fetchall()
        ever = {r[0] for r in store.conn.execute("SELECT DISTINCT client_id FROM interventions WHERE name = ?",
                                                  [intervention])}
        crow = [r for r in store.conn.execute(f"SELECT {COLUMNS} FROM clients WHERE ({where})", params)
                if r[0] not in ever]
        empty = np.zeros(0, dtype=np.int64)
        p_ids, p_intake, p_out, p_wanted, p_gone = arrays(prow) if prow else (empty,) * 5
        p_start = to_days([r[5] for r in prow]) if prow else empty
        in_chosen = np.isin(p_start.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64), chosen_months)
        ok = ((p_start >= first_day) & (p_start + within <= now_day) & (p_intake <= p_start) & (p_out > p_start)
              & ~p_gone.astype(bool) & in_chosen)
        p_ids, p_intake, p_start = p_ids[ok], p_intake[ok], p_start[ok]
        p_y = (p_out[ok] <= p_start + within) & p_wanted.astype(bool)[ok]
        c_ids, c_intake, c_out, c_wanted, c_gone = arrays(crow) if crow else (empty,) * 5
        idx_parts, day_parts = [], []
        for d in ref_days:
            idx = np.flatnonzero((c_intake <= d) & (c_out > d) & ~c_gone.astype(bool))
            idx_parts.append(idx)
            day_parts.append(np.full(len(idx), d, dtype=np.int64))
        c_idx = np.concatenate(idx_parts) if idx_parts else empty
        c_day = np.concatenate(day_parts) if day_parts else empty
        c_y = ((c_out[c_idx] <= c_day + within) & c_wanted.astype(bool)[c_idx]) if len(c_idx) else empty.astype(bool)
        rows_per = np.bincount(c_idx, minlength=len(c_ids)) if len(c_idx) else np.zeros(len(c_ids), np.int64)
        c_weight = UNIT // np.maximum(rows_per[c_idx], 1) if len(c_idx) else empty
        n_p = len(p_ids)
        ids = np.concatenate([p_ids, c_ids[c_idx]]) if len(c_idx) else p_ids
        day = np.concatenate([p_start, c_day])
        intake = np.concatenate([p_intake, c_intake[c_idx]]) if len(c_idx) else p_intake
        weight = np.concatenate([np.full(n_p, UNIT, dtype=np.int64), c_weight]).astype(np.int64)
        treated = np.arange(len(ids)) < n_p
        y = np.concatenate([p_y, c_y]).astype(bool)
        quarter = quarter_of(day)
        band = _months_band(day, intake)
        codes = codes_as_of(store, keys, ids, day, now) if len(ids) else np.zeros((0, len(keys)), np.int64)
        stratum = quarter * radix[1] + band
        for j, card in enumerate(cards):
            col = np.where(codes[:, j] < card, codes[:, j], 0)
            stratum = stratum * card + col
        group = np.where(codes[:, j_by] < cards[j_by], codes[:, j_by], 0) if j_by is not None \
            else np.zeros(len(ids), dtype=np.int64)
        out = {"head": [UNIT * len(prow), UNIT * n_p, UNIT * len(np.unique(c_ids[c_idx])) if len(c_idx) else 0]}
        # one set of strata and quarters per group (a client's rows weigh one in all groups together)
        for g in range(n_groups):
            in_g = group == g
            cells, used = np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.int64)
            if in_g.any():
                used, inverse = np.unique(stratum[in_g], return_inverse=True)
                cells = np.zeros((len(used), 4), dtype=np.int64)
                for c, (sel, ys) in enumerate(groups(treated[in_g])):
                    w = weight[in_g] * sel * (y[in_g] if ys else 1)
                    cells[:, c] = np.bincount(inverse, weights=w, minlength=len(used)).astype(np.int64)
            by_quarter = np.zeros((quarters, 4), dtype=np.int64)
            for c, (sel, ys) in enumerate(groups(treated[in_g])):
                w = weight[in_g] * sel * (y[in_g] if ys else 1)
                by_quarter[:, c] = np.bincount(quarter[in_g], weights=w, minlength=quarters).astype(np.int64)
            suffix = f":{g}" if j_by is not None else ""
            # strata_ids: which strata the rows are (never shown; the noise makes its own rows)
            out.update({f"quarters{suffix}": by_quarter, f"strata{suffix}": cells, f"strata_ids{suffix}": used})
        return out

    def groups(treated):  # the columns: participants, controls, their outcomes (n first: the threshold)
        return ((treated, False), (~treated, False), (treated, True), (~treated, True))

    def noise(exact_counts, scale, rng):
        # tau: P(noise >= tau)^2 per empty stratum, times the strata, at most FALSE_STRATA
        q = math.exp(-1 / scale)
        tau = max(k_min * UNIT, math.ceil(scale * 0.5 * math.log(domain / FALSE_STRATA / (1 + q) ** 2)))
        suffixes = [f":{g}" for g in range(n_groups)] if j_by is not None else [""]
        out = privacy.add_noise({"head": exact_counts["head"],
                                 **{f"quarters{x}": exact_counts[f"quarters{x}"] for x in suffixes}}, scale, rng)
        for x in suffixes:
            out[f"strata{x}"] = privacy.sparse_rows(exact_counts[f"strata{x}"], domain // n_groups, scale, tau, 2,
                                                    rng)
        return out

    # in units: a client is one participant row or controls weighing one together (n and y of one
    # group, in the strata and in the quarters: 2 + 2) and once in each headline count (3)
    query = [intervention, outcome, within, keys, now, where, params, WINDOW_MONTHS, chosen_months]
    if by is not None:
        query.append(["by", by])
    counts, var, noise_summary = _release(store, actor, query, 7 * UNIT, exact, noise, record)
    var_clients = var / UNIT ** 2
    head = [int(x) / UNIT for x in counts["head"]]
    suffixes = [f":{g}" for g in range(n_groups)] if by is not None else [""]
    strata_g = [np.asarray(counts[f"strata{x}"], dtype=float).reshape(-1, 4) / UNIT for x in suffixes]
    qs_g = [np.asarray(counts[f"quarters{x}"], dtype=float).reshape(-1, 4) / UNIT for x in suffixes]
    report = {
        "report": "effect", "intervention": intervention, "outcome": outcome, "within_days": within,
        "participants_total": round(head[0]), "participants": round(head[1]), "matched_participants": 0,
        "controls": round(head[2]), "participant_rate_pct": None, "control_rate_pct": None,
        "effect_pp": None, "ci_low_pp": None, "ci_high_pp": None, "p_value": None, "mde_pp": None,
        "naive_control_rate_pct": None, "naive_effect_pp": None, "naive_ci_low_pp": None, "naive_ci_high_pp": None,
        "method": "coarsened_exact_matching", "matched_on": ["months_in_caseload", "calendar_quarter", *keys],
        "min_cell_size": k_min, "verdict": "too_small", "suppressed": False,
        "window_start": str(months[0]) + "-01", "months_compared": [str(m) for m in months[chosen]],
        "privacy": noise_summary, "segment": segment, "by": by, "matched_share_pct": None, "warnings": [],
    }
    if head[1] < k_min:
        report.update(participants=None, participants_total=None if head[0] < k_min else round(head[0]),
                      suppressed=True)
        return _finish(store, actor, report, False)
    report.update(_noisy_estimate(np.concatenate(strata_g), sum(qs_g), var_clients, k_min))
    report["matched_share_pct"] = round(min(100.0, 100 * report["matched_participants"] / head[1]), 1) \
        if head[1] > 0 else None
    report["warnings"] = _warnings(report)
    if by is not None:
        cd = coder(store.catalog[by], "value", now, coarse=True)
        report["groups"] = []
        for g in range(n_groups):
            qT = qs_g[g][:, 0].sum()
            group = {"value": cd.values[g], "label": cd.labels[g], "participants": round(qT),
                     "suppressed": qT < k_min}
            if group["suppressed"]:
                group.update(participants=None, matched_participants=None, verdict="too_small",
                             warnings=["too_small"])
            else:
                group.update(_noisy_estimate(strata_g[g], qs_g[g], var_clients, k_min))
                group["matched_share_pct"] = round(min(100.0, 100 * group["matched_participants"] / qT), 1)
                group["warnings"] = _warnings(group)
            report["groups"].append(group)
    return _finish(store, actor, report, False)


def _noisy_estimate(strata, qs, var_clients: float, k_min: int) -> dict:
    """The matched and naive estimates from an analyst's noisy strata and quarters."""
    out = {"matched_participants": 0, "participant_rate_pct": None, "control_rate_pct": None, "effect_pp": None,
           "ci_low_pp": None, "ci_high_pp": None, "p_value": None, "mde_pp": None, "naive_control_rate_pct": None,
           "naive_effect_pp": None, "naive_ci_low_pp": None, "naive_ci_high_pp": None, "verdict": "too_small"}
    nT, nC, yT, yC = (strata[:, i] for i in range(4))
    yT, yC = np.minimum(yT, nT), np.minimum(yC, nC)
    NT = float(nT.sum())
    out["matched_participants"] = round(NT)
    qT, qC, qyT, qyC = (qs[:, i] for i in range(4))
    if qT.sum() > 0:
        out["participant_rate_pct"] = round(100 * min(1.0, float(qyT.sum() / qT.sum())), 1)
    has = (qT >= k_min) & (qC >= k_min)
    if has.any():
        w = qT[has] / qT[has].sum()
        pc = np.minimum(qyC[has] / qC[has], 1)
        pt = min(1.0, float(qyT[has].sum() / qT[has].sum()))
        naive = pt - float((w * pc).sum())
        nt = float(qT[has].sum())
        se = math.sqrt(_smoothed(pt * nt, nt) / nt + var_clients * (1 + pt * pt) / nt ** 2
                       + float((w ** 2 * (_smoothed(qyC[has], qC[has]) / qC[has]
                                          + var_clients * (1 + pc * pc) / qC[has] ** 2)).sum()))
        out.update(naive_control_rate_pct=round(100 * float((w * pc).sum()), 1),
                   naive_effect_pp=round(100 * naive, 1), naive_ci_low_pp=round(100 * (naive - Z95 * se), 1),
                   naive_ci_high_pp=round(100 * (naive + Z95 * se), 1))
    if NT >= k_min:
        w = nT / NT
        pT, pC = yT / nT, yC / nC
        est = float((w * (pT - pC)).sum())
        var_est = float((w ** 2 * (_smoothed(yT, nT) / nT + var_clients * (1 + pT * pT) / nT ** 2
                                   + _smoothed(yC, nC) / nC + var_clients * (1 + pC * pC) / nC ** 2)).sum())
        se = math.sqrt(var_est)
        lo, hi = est - Z95 * se, est + Z95 * se
        out.update(
            control_rate_pct=round(100 * float((w * pC).sum()), 1),
            participant_rate_pct=round(100 * float((w * pT).sum()), 1),
            effect_pp=round(100 * est, 1), ci_low_pp=round(100 * lo, 1), ci_high_pp=round(100 * hi, 1),
            p_value=round(2 * (1 - NormalDist().cdf(abs(est) / se)), 4) if se > 0 else None,
            mde_pp=round(100 * (Z95 + Z80) * se, 1))
        out["verdict"] = _verdict(lo, hi, float(nC.sum()), k_min)
    return out


def _start_months(store, actor, intervention, within, now, months, where, params, record):
    """A first release: how many participants first started in each month of the window (noisy).
    The months with enough of them are the ones whose controls the report then compares."""
    last = months[-1].astype("datetime64[D]") + np.timedelta64(1, "M").astype("timedelta64[D]")

    def exact() -> dict:
        firsts = [r[0] for r in store.conn.execute(
            "SELECT MIN(interventions.start_date) FROM interventions JOIN clients ON clients.id ="
            f" interventions.client_id WHERE interventions.name = ? AND ({where}) GROUP BY clients.id",
            [intervention, *params])]
        m = np.array([f[:7] for f in firsts if f], dtype="datetime64[M]")
        index = (m - months[0]).astype(np.int64)
        index = index[(index >= 0) & (index < len(months))]
        return {"months": np.bincount(index, minlength=len(months))}

    query = ["effect_months", intervention, within, now, where, params, str(months[0]), str(last)]
    if not privacy.asked(store, "report", json.dumps(query, default=str)):
        privacy.require_budget(store, actor, queries=2)  # this release and the report's own
    r = privacy.release(store, actor, "report", json.dumps(query, default=str), 1, exact,
                        "report:effect_months" if record else None)
    return np.asarray(r["months"])


def _release(store, actor, query, sensitivity, exact, noise, record):
    r = privacy.release(store, actor, "report", json.dumps(["effect", *query], default=str), sensitivity, exact,
                        "report:effect" if record else None, noise=noise)
    return r.counts, r.variance, {**r.summary(), "margin": math.ceil(r.margin / UNIT)}
