"""Percentiles of timings: the one definition the benchmark (bench/) and the soak (tools/soak.py) print."""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction


def percentile(values: Iterable[float], share: float) -> float:
    """The value `share` (0 to 1) of the way from the smallest value to the largest, interpolated
    between the two nearest: statistics.quantiles' "inclusive" method (numpy's default; for a share
    k/n in lowest terms, statistics.quantiles(values, n=n, method="inclusive")[k - 1] to the bit).
    0.5 is the median, 0.9 the p90. One value is each of its own percentiles; no values have none (NaN)."""
    ordered = sorted(values)
    if not 0 <= share <= 1:
        raise ValueError(f"a share from 0 to 1, not {share}")
    if len(ordered) < 2:
        return ordered[0] if ordered else math.nan
    exact = Fraction(share).limit_denominator(10_000)  # 0.9 as 9/10, as statistics.quantiles(n=10) has it
    low, weight = divmod((len(ordered) - 1) * exact.numerator, exact.denominator)
    high = min(low + 1, len(ordered) - 1)
    return (ordered[low] * (exact.denominator - weight) + ordered[high] * weight) / exact.denominator


def p90(values: Iterable[float]) -> float:
    return percentile(values, 0.9)
