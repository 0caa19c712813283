"""The numbers an analyst sees: differentially private, so no two of them can be differenced
into a fact about one client.

An analyst may see aggregates of the whole organisation but no client (access.aggregate_scope).
Suppressing small groups alone does not protect that: `count A` and `count A and not <one
person>` differ by exactly that person. So every count shown to an analyst is a *release*:

- Noise. Each count gets independent noise from the discrete Laplace (two-sided geometric)
  distribution with scale `sensitivity / epsilon`, where `sensitivity` is how many of the
  release's counts one client can change by one (its L1 sensitivity: 1 for a segment count,
  3 + 2 per characteristic for an outflow report). That makes every release
  epsilon-differentially private with respect to adding or removing any one client (Ghosh,
  Roughgarden and Sundararajan's geometric mechanism; Dwork and Roth, The Algorithmic
  Foundations of Differential Privacy, 2014, ch. 3). The noise is drawn with numpy from a
  generator seeded with 128 bits from the operating system's random source for each release.
- Released once per period. The noisy counts are stored (`privacy_releases`) under a hash of
  the query as it reaches SQL (the compiled expression with its parameters and the report's
  options), for the current period of config.privacy.period_days. Asking the same query again in
  the period, by any analyst, returns the stored answer: repeating a query cannot average the
  noise away, and costs nothing. A query whose data changed meanwhile still gets the stored
  answer until the period ends.
- Budget. The first analyst to ask a query in a period pays its epsilon from their budget for
  the period (config.privacy.budget); when it is spent, new queries are refused with
  BudgetSpent until the next period. By sequential composition, everything one analyst is
  shown in one period is (budget)-differentially private; over several periods, and across
  several analysts who pool what they saw, the epsilons add up.
- Everything else is computed from the noisy counts (post-processing keeps the guarantee):
  rates, intervals (widened for the noise, see reports.stats.wilson), tests, and suppression of
  groups under config.reports.min_cell_size, which is decided on the noisy count.

Coaches, team leads and admins, who may see the clients themselves, get exact numbers."""

import hashlib
import json
import math
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from . import audit
from .clock import utcnow
from .db import write_transaction
from .errors import PermissionDenied
from .i18n import t

EPOCH = date(2024, 1, 1)  # periods are counted in whole period_days from here


class BudgetSpent(PermissionDenied):
    """The analyst's privacy budget for this period does not cover another new query."""


def applies(actor) -> bool:
    """Does this actor see released (noisy) numbers? Analysts do; staff see the clients anyway."""
    return actor.role == "analyst"


def noise_variance(scale: float) -> float:
    """Variance of the discrete Laplace distribution with this scale."""
    if scale <= 0:
        return 0.0
    q = math.exp(-1 / scale)
    return 2 * q / (1 - q) ** 2


def sample(scale: float, shape, rng=None):
    """Discrete Laplace noise (an int64 array): the difference of two geometric variables with
    success probability 1 - e^(-1/scale)."""
    import numpy as np  # only an analyst's run pays for numpy (CLI start-up)

    rng = rng or random_source()
    p = -math.expm1(-1 / scale)
    return (rng.geometric(p, shape) - rng.geometric(p, shape)).astype(np.int64)


def random_source():
    """A numpy Generator seeded with 128 bits from the operating system, new for each release."""
    import numpy as np

    return np.random.default_rng(secrets.randbits(128))


def period(store, today: date | None = None) -> tuple[date, date]:
    """(first day, first day of the next) of the current budget period, in the organisation's time."""
    days = store.config.privacy.period_days
    today = today or datetime.now(store.tz).date()
    start = EPOCH + timedelta(days=(today - EPOCH).days // days * days)
    return start, start + timedelta(days=days)


def spent(store, actor, today: date | None = None) -> float:
    start, _ = period(store, today)
    row = store.db.execute("SELECT COALESCE(SUM(epsilon), 0) FROM privacy_releases WHERE analyst = ?"
                           " AND period_start = ?", [actor.name, start.isoformat()]).fetchone()
    return float(row[0])


def remaining(store, actor, today: date | None = None) -> float:
    return max(0.0, store.config.privacy.budget - spent(store, actor, today))


@dataclass(frozen=True)
class Release:
    """Noisy counts (non-negative int64 arrays, by name) and what they cost."""

    counts: dict
    scale: float
    epsilon: float
    repeated: bool  # the stored answer of an earlier identical query: cost nothing

    @property
    def variance(self) -> float:
        return noise_variance(self.scale)

    @property
    def margin(self) -> int:
        """A count is within this of the true one with 95% probability."""
        if self.scale <= 0:
            return 0
        q = math.exp(-1 / self.scale)  # P(|Z| > m) = 2 q^(m+1) / (1 + q)
        return max(0, math.ceil(math.log(0.05 * (1 + q) / 2) / math.log(q) - 1))

    def summary(self) -> dict:
        """What a report says about its noise (report["privacy"])."""
        return {"epsilon": self.epsilon, "margin": self.margin, "repeated": self.repeated}

    def __getitem__(self, name):
        return self.counts[name]


def _key(kind: str, query: str) -> str:
    return hashlib.sha256(f"{kind}\x1f{query}".encode()).hexdigest()


def asked(store, kind: str, query: str, today: date | None = None) -> bool:
    """Was this question released already in this period (so asking it costs nothing)?"""
    return _stored(store.conn, _key(kind, query), period(store, today)[0].isoformat()) is not None


def _stored(conn, key: str, start: str) -> tuple | None:
    return conn.execute("SELECT counts, scale, epsilon FROM privacy_releases WHERE query = ? AND period_start = ?",
                        [key, start]).fetchone()


def require_budget(store, actor, today: date | None = None, queries: int = 1) -> None:
    """Raise BudgetSpent now when `queries` new queries would not fit (before work that cannot
    be undone, or a report made of several releases)."""
    start, end = period(store, today)
    _require_budget(store, actor, queries * store.config.privacy.epsilon, start, end)


def _require_budget(store, actor, epsilon: float, start: date, end: date) -> None:
    budget = store.config.privacy.budget
    used = spent(store, actor, start)
    if used + epsilon > budget + 1e-9:
        raise BudgetSpent(t("privacy.budget_spent", spent=_num(used), budget=_num(budget), epsilon=_num(epsilon),
                            until=end.isoformat()))


def _num(x: float) -> str:
    return f"{x:g}"


def add_noise(exact: dict, scale: float, rng) -> dict:
    """Every count plus its own noise, never below 0 (the default for a release)."""
    import numpy as np

    noisy = {}
    for name, value in exact.items():
        a = np.asarray(value, dtype=np.int64)
        noisy[name] = np.maximum(a + sample(scale, a.shape, rng), 0)
    return noisy


def tail_probability(scale: float, tau: int) -> float:
    """P(Z >= tau) for discrete Laplace noise Z, tau >= 1."""
    q = math.exp(-1 / scale)
    return q ** tau / (1 + q)


def sparse_rows(rows, domain: int, scale: float, tau: int, kept: int, rng):
    """The rows of a noisy histogram over `domain` rows (noise on every cell) whose first `kept`
    columns are all at least tau, for post-processing that uses only those rows.

    rows: the non-empty rows (a 2-D int array, rows x columns, never two for one row of the
    domain). The rest of the domain is empty:
    instead of adding noise to each of them, how many would pass and what they would hold are
    drawn from the same distribution (a binomial count; noise conditioned on passing is tau plus
    a geometric tail), so the result is distributed exactly as noising the whole domain and
    filtering would give, and keeps its guarantee."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.int64)  # 2-D, also when empty: (0, columns)
    noisy = rows + sample(scale, rows.shape, rng)
    passed = noisy[(noisy[:, :kept] >= tau).all(axis=1)]
    empty = max(0, domain - len(rows))
    false = int(rng.binomial(empty, tail_probability(scale, tau) ** kept)) if empty else 0
    if false:
        p = -math.expm1(-1 / scale)
        extra = sample(scale, (false, rows.shape[1]), rng)
        extra[:, :kept] = tau + rng.geometric(p, (false, kept)) - 1
        passed = np.concatenate([passed, extra])
    return np.maximum(passed, 0)


def release(store, actor, kind: str, query: str, sensitivity: int, compute, audit_object: str | None = None,
            today: date | None = None, noise=add_noise) -> Release:
    """The analyst's view of the counts `compute()` returns ({name: int or sequence of ints}).

    kind and query name the question exactly (the SQL with its parameters, the options): equal
    ones share one release per period. sensitivity: how much one client can change all the
    counts together (L1). audit_object: written to the audit trail, in the same transaction as
    the charge (a repeat is audited as "repeat"). Raises BudgetSpent before any work.
    noise(exact, scale, rng) makes what is stored and shown: by default add_noise; a report that
    post-processes a large histogram passes its own, built on sparse_rows."""
    if not applies(actor):
        raise ValueError("a release is for analysts; staff get exact numbers")
    epsilon = store.config.privacy.epsilon
    start, end = period(store, today)
    key = _key(kind, query)
    import numpy as np

    row = _stored(store.conn, key, start.isoformat())
    if row is None:
        _require_budget(store, actor, epsilon, start, end)
        exact = compute()
        scale = sensitivity / epsilon
        with write_transaction(store.db) as conn:
            row = _stored(conn, key, start.isoformat())  # another analyst may have asked meanwhile
            if row is None:
                _require_budget(store, actor, epsilon, start, end)
                noisy = {k: np.asarray(v, dtype=np.int64) for k, v in noise(exact, scale, random_source()).items()}
                conn.execute("INSERT INTO privacy_releases (period_start, query, analyst, kind, epsilon, scale,"
                             " counts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             [start.isoformat(), key, actor.name, kind, epsilon, scale,
                              json.dumps({k: v.tolist() for k, v in noisy.items()}), utcnow()])
                if audit_object is not None:
                    audit.record(store.db, actor, kind, audit_object)
                return Release(noisy, scale, epsilon, repeated=False)
    counts, scale, epsilon = row
    if audit_object is not None:
        audit.record(store.db, actor, kind, audit_object, "repeat")
    return Release({k: np.asarray(v, dtype=np.int64) for k, v in json.loads(counts).items()}, scale, epsilon,
                   repeated=True)


def status(store, actor, today: date | None = None) -> dict:
    """The analyst's budget in this period: epsilon per query, budget, spent, left, period end."""
    start, end = period(store, today)
    used = spent(store, actor, today)
    budget = store.config.privacy.budget
    return {"epsilon": store.config.privacy.epsilon, "budget": budget, "spent": round(used, 6),
            "left": round(max(0.0, budget - used), 6), "period_start": start.isoformat(), "period_end": end.isoformat()}
