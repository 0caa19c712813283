"""The statistics the reports use: Wilson intervals, two-proportion tests, Fisher's exact test
for small groups, and the power that group sizes allow."""

import math
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)
Z80 = NormalDist().inv_cdf(0.80)


def wilson(k: int, n: int, z: float = Z95, noise_var: float = 0.0) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n, as fractions.

    noise_var: the variance of noise added to k and to n, each (an analyst's numbers,
    caseload.privacy). The interval is then Wilson's at the smaller sample size that has the
    same variance as sampling and noise together (p(1-p)/n + (var_k + p^2 var_n)/n^2, the
    delta method for k/n), so it is wider where the noise matters."""
    if n <= 0:
        return (0.0, 1.0)
    if noise_var > 0:
        p = min(max(k / n, 0.5 / n), 1 - 0.5 / n)
        sampling = p * (1 - p) / n
        n_eff = n * sampling / (sampling + noise_var * (1 + p * p) / (n * n))
        k, n = k / n * n_eff, n_eff
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Comparison:
    difference: float          # p_a - p_b, as a fraction
    ci_low: float
    ci_high: float
    p_value: float
    test: str                  # "two_proportion_z" | "fisher_exact"
    mde: float                 # smallest difference detectable with 80% power at alpha 0.05
    power: float               # power to detect `target` with these sizes


def _noise_term(p: float, n: int, noise_var: float) -> float:
    """The variance noisy counts (noise_var on k and on n) add to k/n (delta method)."""
    return noise_var * (1 + p * p) / (n * n) if noise_var else 0.0


def compare_proportions(ka: int, na: int, kb: int, nb: int, target: float = 0.05,
                        noise_var: float = 0.0) -> Comparison:
    """Difference in proportions a - b with a Wald interval, the right test for the sizes
    (Fisher's exact when an expected cell count is below 5), and power. noise_var: the
    variance of the noise on each count (an analyst's numbers); it widens the interval and
    the z test's standard error (Fisher's test is then only approximate)."""
    pa, pb = ka / na, kb / nb
    diff = pa - pb
    extra = _noise_term(pa, na, noise_var) + _noise_term(pb, nb, noise_var)
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb + extra)
    pooled = (ka + kb) / (na + nb)
    expected = [na * pooled, na * (1 - pooled), nb * pooled, nb * (1 - pooled)]
    if min(expected) < 5:
        from scipy.stats import fisher_exact  # scipy costs ~0.5 s to import: only when needed

        _, p_value = fisher_exact([[ka, na - ka], [kb, nb - kb]])
        test = "fisher_exact"
    else:
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb) + extra)
        p_value = 1.0 if se0 == 0 else 2 * (1 - NormalDist().cdf(abs(diff) / se0))
        test = "two_proportion_z"
    return Comparison(diff, diff - Z95 * se, diff + Z95 * se, float(p_value), test,
                      mde(pooled, na, nb), power(pooled, na, nb, target))


def _se0(p: float, na: int, nb: int) -> float:
    p = min(max(p, 0.01), 0.99)  # a base rate of exactly 0 or 1 would promise infinite power
    return math.sqrt(p * (1 - p) * (1 / na + 1 / nb))


def mde(p: float, na: int, nb: int) -> float:
    """Minimum detectable difference (two-sided alpha 0.05, power 80%) around base rate p."""
    return (Z95 + Z80) * _se0(p, na, nb)


def power(p: float, na: int, nb: int, difference: float) -> float:
    """Power of a two-sided 5% test to detect `difference` with groups of na and nb."""
    return NormalDist().cdf(abs(difference) / _se0(p, na, nb) - Z95)
