"""Turning characteristic values into small integer codes, in SQL, so that a report can count
groups over hundreds of thousands of clients in one scan. Code 0 always means "not recorded"."""

from dataclasses import dataclass
from datetime import date

from ..i18n import t


@dataclass(frozen=True)
class Coder:
    key: str
    expr: str                 # SQL giving a code in 0 .. card - 1
    values: tuple             # the value each code stands for (JSON-friendly); values[0] is None
    labels: tuple             # the same, for people
    masked: bool = False      # expr is ANDed with radix - 1: a stray value can never spill into
                              # the next packed code; codes >= card then count as not recorded

    @property
    def card(self) -> int:
        return len(self.values)

    @property
    def radix(self) -> int:
        """The range of codes expr can give (a power of two when masked)."""
        return 1 << (self.card - 1).bit_length() if self.masked else self.card


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _years_before(d: date, years: int) -> str:
    try:
        return d.replace(year=d.year - years).isoformat()
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28).isoformat()


def coder(c, col: str, ref: date, coarse: bool = False) -> Coder:
    """The code expression for characteristic c read from SQL expression `col`.

    ref is the date that dates are counted back from. coarse=True makes fewer, wider groups
    (scales in thirds, numbers in halves), as matching needs."""
    unknown = t("reports.not_recorded")
    if c.type == "bool":  # arithmetic and a mask cost SQLite far less than CASE
        return Coder(c.key, f"(ifnull({col} + 1, 0) & 3)", (None, False, True),
                     (unknown, c.value_title(False), c.value_title(True)), masked=True)
    if c.type == "enum":
        cases = " ".join(f"WHEN '{v}' THEN {i + 1}" for i, v in enumerate(c.values))
        other = len(c.values) + 1
        expr = f"(CASE {col} {cases} ELSE CASE WHEN {col} IS NULL THEN 0 ELSE {other} END END)"
        return Coder(c.key, expr, (None, *c.values, "other"),
                     (unknown, *(c.value_title(v) for v in c.values), t("reports.other_value")))
    if c.type == "scale":
        lo, hi = int(c.min), int(c.max)
        if coarse:
            span = hi - lo + 1
            cut1, cut2 = lo + span // 3, lo + (2 * span) // 3  # [lo, cut1) [cut1, cut2) [cut2, hi]
            expr = (f"(CASE WHEN {col} IS NULL THEN 0 WHEN {col} < {cut1} THEN 1 WHEN {col} < {cut2} THEN 2"
                    f" ELSE 3 END)")
            vals = (None, f"{lo}-{cut1 - 1}", f"{cut1}-{cut2 - 1}", f"{cut2}-{hi}")
            return Coder(c.key, expr, vals, (unknown, *vals[1:]))
        points = tuple(range(lo, hi + 1))
        mask = (1 << len(points).bit_length()) - 1
        return Coder(c.key, f"(ifnull({col} - {lo - 1}, 0) & {mask})", (None, *points),
                     (unknown, *(c.value_title(p) for p in points)), masked=True)
    if c.type == "number":
        if c.min is None or c.max is None:
            return Coder(c.key, f"({col} IS NOT NULL)", (None, "recorded"), (unknown, t("reports.recorded")))
        bins = 2 if coarse else 4
        edges = [c.min + (c.max - c.min) * i / bins for i in range(bins + 1)]
        whens = " ".join(f"WHEN {col} < {edges[i]!r} THEN {i}" for i in range(1, bins))
        expr = f"(CASE WHEN {col} IS NULL THEN 0 {whens} ELSE {bins} END)"
        vals = tuple(f"{_num(edges[i])}-{_num(edges[i + 1])}" for i in range(bins))
        return Coder(c.key, expr, (None, *vals), (unknown, *vals))
    if c.type == "date":
        cuts = [_years_before(ref, y) for y in (1, 2, 5)]
        expr = (f"(CASE WHEN {col} IS NULL THEN 0 WHEN {col} >= '{cuts[0]}' THEN 1 WHEN {col} >= '{cuts[1]}' THEN 2"
                f" WHEN {col} >= '{cuts[2]}' THEN 3 ELSE 4 END)")
        vals = ("<1y", "1-2y", "2-5y", ">=5y")
        return Coder(c.key, expr, (None, *vals),
                     (unknown, *(t(f"reports.years_ago.{i}") for i in range(4))))
    return Coder(c.key, f"({col} IS NOT NULL)", (None, "recorded"), (unknown, t("reports.recorded")))
