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

__all__ = ["MIN_CELL", "ROBUST_C", "chi_squared", "linf", "robust", "total_variation"]

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
    from scipy.special import chdtrc

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
    return stat, df, float(chdtrc(df, stat))
