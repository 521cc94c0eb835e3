"""Distances and tests between a baseline distribution and the current one.

trainguard's default (``calibrated``, docs/drift.md): both samples are counted on the baseline's
equal-probability bins (categories for text); Pearson's chi-squared test of homogeneity on that
2 x K table gives a p-value, and the total-variation distance between the two binned
distributions is the effect size. A feature drifts when the p-value is below its share of the
false-alarm budget and the effect is at least ``min_effect``. Model Monitor's own methods are
here too: L-infinity between CDFs (Simple, or Robust with Deequ's sample-size correction) and,
for categories, L-infinity between proportions or a chi-squared p-value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["MIN_CELL", "ROBUST_C", "chi2_sf", "chi_squared", "linf", "robust", "total_variation"]

ROBUST_C = 1.8
"""Deequ's constant in the Robust correction c * sqrt((n + m) / (n * m))."""
MIN_CELL = 10
"""Cells whose pooled count is below this are merged into one before the chi-squared test."""


def total_variation(base: Any, cur: Any) -> float:
    """Half the L1 distance between two count vectors' proportions (0 = same, 1 = disjoint)."""
    b, c = np.asarray(base, dtype=float), np.asarray(cur, dtype=float)
    if b.sum() == 0 or c.sum() == 0:
        return 0.0
    return float(0.5 * np.abs(b / b.sum() - c / c.sum()).sum())


def linf(base: Any, cur: Any) -> float:
    """Largest absolute difference between two aligned vectors of shares (CDFs or proportions)."""
    b, c = np.asarray(base, dtype=float), np.asarray(cur, dtype=float)
    return float(np.max(np.abs(b - c))) if b.size else 0.0


def robust(distance: float, n: int, m: int) -> float:
    """Deequ's Robust L-infinity: the distance less c * sqrt((n + m) / (n * m)), floored at 0."""
    if n <= 0 or m <= 0:
        return 0.0
    return max(0.0, distance - ROBUST_C * math.sqrt((n + m) / (n * m)))


def chi_squared(base: Any, cur: Any) -> tuple[float, int, float]:
    """Pearson's chi-squared test of homogeneity of two count vectors: (statistic, df, p-value).

    Cells with a pooled count below MIN_CELL are merged into one cell first (the test's
    approximation needs expected counts of about 5 or more); with fewer than two cells left the
    test has nothing to compare and returns p = 1.
    """
    b, c = np.asarray(base, dtype=float), np.asarray(cur, dtype=float)
    total = b + c
    small = total < MIN_CELL
    if small.any():
        b = np.append(b[~small], b[small].sum())
        c = np.append(c[~small], c[small].sum())
        if b[-1] + c[-1] == 0:
            b, c = b[:-1], c[:-1]
    total = b + c
    keep = total > 0
    b, c, total = b[keep], c[keep], total[keep]
    nb, nc = b.sum(), c.sum()
    if b.size < 2 or nb == 0 or nc == 0:
        return 0.0, 0, 1.0
    n = nb + nc
    eb, ec = total * nb / n, total * nc / n
    stat = float(((b - eb) ** 2 / eb).sum() + ((c - ec) ** 2 / ec).sum())
    df = int(b.size - 1)
    return stat, df, chi2_sf(stat, df)


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X ~ chi-squared(df): the regularized upper incomplete gamma Q(df/2, x/2).

    Series for small x, Lentz's continued fraction otherwise (Numerical Recipes, 6.2), to
    relative accuracy ~1e-14; written out so the check does not import scipy (seconds of start-up
    on a busy machine for two special functions).
    """
    if x <= 0 or df <= 0:
        return 1.0
    a, z = df / 2.0, x / 2.0
    log_front = -z + a * math.log(z) - math.lgamma(a)
    if z < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= z / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = z + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * h)
