"""Each feature of new data against its baseline: distribution distance, types, domain, completeness.

Numeric features are compared on the baseline's bins and CDF points (``calibrated``: total
variation with a chi-squared test; ``model_monitor``: Model Monitor's L-infinity distance), text
features on their categories (captured rows' model codes read back as categories); each check
yields a ``FeatureDrift`` row and violations in Model Monitor's check types.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from trainguard.training.errors import DataError
from trainguard.training.monitor.baseline import CDF_POINTS, regroup
from trainguard.training.monitor.distance import chi_squared, linf, robust, total_variation
from trainguard.training.monitor.profile import NumericProfile, TextProfile
from trainguard.training.monitor.sketch import KLLSketch

__all__ = ["OTHER_CATEGORIES", "FeatureDrift", "captured_categories", "compare_numeric", "compare_text",
           "completeness_check", "domain_check", "drift_text", "grid", "numeric_checks", "violation"]


@dataclass
class FeatureDrift:
    """One row of the per-feature table."""

    name: str
    inferred_type: str
    method: str
    distance: float | None
    threshold: float | None
    drifted: bool
    p_value: float | None = None
    linf: float | None = None
    n_baseline: int = 0
    n_current: int = 0
    completeness_baseline: float | None = None
    completeness_current: float | None = None
    note: str = ""
    bins: list[str] = field(default_factory=list)
    baseline_shares: list[float] = field(default_factory=list)
    current_shares: list[float] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# numeric features


def grid(st: Mapping[str, Any]) -> np.ndarray:
    tg = st.get("trainguard") or {}
    parts = [np.asarray((tg.get("bins") or {}).get("edges") or [], dtype=float),
             np.asarray((tg.get("cdf") or {}).get("points") or [], dtype=float)]
    ns = st.get("numerical_statistics") or {}
    buckets = ((ns.get("distribution") or {}).get("kll") or {}).get("buckets") or []
    parts.append(np.asarray([b["upper_bound"] for b in buckets[:-1]], dtype=float))
    if not tg:
        parts.append(_sketch_points(st))
    return np.unique(np.concatenate(parts))


def _sketch(st: Mapping[str, Any]) -> KLLSketch | None:
    ns = st.get("numerical_statistics") or {}
    block = ((ns.get("distribution") or {}).get("kll") or {}).get("sketch")
    if not block or not block.get("data"):
        return None
    return KLLSketch.from_json(block)


def _sketch_points(st: Mapping[str, Any]) -> np.ndarray:
    sk = _sketch(st)
    if sk is None:
        return np.empty(0)
    return np.unique(sk.quantiles(np.arange(1, CDF_POINTS + 1) / (CDF_POINTS + 1)))


def _calibrated(row: FeatureDrift, base: np.ndarray, current: np.ndarray, per_test: float,
                min_effect: float) -> FeatureDrift:
    """trainguard's test on binned counts, for numbers and text alike: drifted when the chi-squared
    p-value is below this feature's share of alpha and the total-variation distance is at least
    ``min_effect``."""
    row.distance = total_variation(base, current)
    _, _, row.p_value = chi_squared(base, current)
    row.threshold = min_effect
    row.drifted = row.p_value < per_test and row.distance >= min_effect
    return row


def compare_numeric(name: str, kind: str, st: Mapping[str, Any], cons: Mapping[str, Any],
                    p: NumericProfile, method: str, dist: Mapping[str, Any], per_test: float,
                    min_effect: float) -> FeatureDrift:
    ns = st.get("numerical_statistics") or {}
    n_base = int((ns.get("common") or {}).get("num_present") or 0)
    tg = st.get("trainguard") or {}
    row = FeatureDrift(name, kind, method, None, None, False, n_baseline=n_base,
                       n_current=p.n_present)
    counts = p.counts if p.counts is not None else np.zeros(p.grid.size + 1, np.int64)
    # the L-infinity distance between the CDFs on the baseline's points (Model Monitor's number)
    points = np.asarray((tg.get("cdf") or {}).get("points") or [], dtype=float)
    if points.size:
        base_cdf = np.asarray(tg["cdf"]["values"], dtype=float)
    else:
        points = _sketch_points(st)
        sk = _sketch(st)
        base_cdf = sk.cdf(points) if sk is not None else np.empty(0)
    if p.n_present and points.size:
        cum = np.concatenate([[0], np.cumsum(counts)])
        cur_cdf = cum[np.searchsorted(p.grid, points, "left") + 1] / p.n_present
        row.linf = linf(base_cdf, cur_cdf)
    bins = tg.get("bins") or {}
    edges = np.asarray(bins.get("edges") or [], dtype=float)
    base_counts = np.asarray(bins.get("counts") or [], dtype=float)
    if base_counts.size and p.n_present:
        cur_counts = regroup(p.grid, counts, edges)
        row.bins = _bin_labels(edges)
        row.baseline_shares = [float(x) for x in base_counts / max(base_counts.sum(), 1)]
        row.current_shares = [float(x) for x in cur_counts / max(cur_counts.sum(), 1)]
    if not p.n_present:
        row.note = "no numeric values in the current data"
        return row
    if not n_base:
        row.note = "no values in the baseline to compare with"
        return row
    if method == "calibrated":
        if not base_counts.size:
            raise DataError(f"feature {name!r}: the baseline carries no trainguard bins (a Model "
                            "Monitor baseline); check it with method model_monitor.")
        return _calibrated(row, base_counts, cur_counts, per_test, min_effect)
    mm = str(dist.get("comparison_method", "Simple"))
    d = row.linf if row.linf is not None else 0.0
    row.method = f"model_monitor:{mm}"
    row.distance = robust(d, n_base, p.n_present) if mm == "Robust" else d
    row.threshold = float(dist.get("comparison_threshold", 0.1))
    row.drifted = row.distance > row.threshold
    return row


def _bin_labels(edges: np.ndarray) -> list[str]:
    cuts = [f"{e:.4g}" for e in edges]
    return [f"<= {cuts[0]}" if cuts else "all",
            *[f"({a}, {b}]" for a, b in itertools.pairwise(cuts)],
            *([f"> {cuts[-1]}"] if cuts else [])]


def numeric_checks(name: str, kind: str, cons: Mapping[str, Any], p: NumericProfile,
                    mc: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    non_null = p.n_present + p.n_bad
    other = p.n_bad + (p.n_fractional if kind == "Integral" else 0)
    threshold = float(mc.get("datatype_check_threshold", 0.1))
    if non_null and other / non_null > threshold:
        example = f" (e.g. {p.bad_example!r})" if p.bad_example else ""
        what = ("text that is not a number" if p.n_bad else "non-integer numbers")
        out.append(violation(name, "data_type_check",
                   f"Data type of '{name}' does not match the baseline's {kind}: "
                   f"{other / non_null:.1%} of {non_null} values are {what}{example}; the "
                   f"threshold is {threshold:.1%}."))
    nn = (cons.get("num_constraints") or {}).get("is_non_negative")
    if nn and p.n_negative:
        out.append(violation(name, "data_type_check",
                   f"'{name}' was non-negative in the baseline; {p.n_negative} current values "
                   "are negative."))
    return out


# ------------------------------------------------------------------------------------------------
# text features


def compare_text(name: str, st: Mapping[str, Any], cons: Mapping[str, Any], p: TextProfile, method: str,
                 dist: Mapping[str, Any], per_test: float, min_effect: float) -> FeatureDrift:
    ss = st.get("string_statistics") or {}
    buckets = ((ss.get("distribution") or {}).get("categorical") or {}).get("buckets") or []
    base = {str(b["value"]): int(b["count"]) for b in buckets}
    n_base = int((ss.get("common") or {}).get("num_present") or sum(base.values()))
    rest = max(0, n_base - sum(base.values()))  # baseline values beyond the listed buckets
    keys = sorted(set(base) | set(p.counts), key=lambda k: (-base.get(k, 0), k))
    b = np.asarray([base.get(k, 0) for k in keys] + [rest], dtype=float)
    c = np.asarray([p.counts.get(k, 0) for k in keys] + [p.overflow], dtype=float)
    row = FeatureDrift(name, "String", method, None, None, False, n_baseline=n_base,
                       n_current=p.n_present)
    shown = keys[:20]
    row.bins = shown + (["(other)"] if len(keys) > 20 or rest or p.overflow else [])
    bs, cs = b / max(b.sum(), 1), c / max(c.sum(), 1)
    row.baseline_shares = [float(x) for x in bs[:20]] + ([float(bs[20:].sum())] if len(row.bins) > 20 else [])
    row.current_shares = [float(x) for x in cs[:20]] + ([float(cs[20:].sum())] if len(row.bins) > 20 else [])
    if not p.n_present:
        row.note = "no values in the current data"
        return row
    row.linf = linf(bs, cs)
    if method == "calibrated":
        return _calibrated(row, b, c, per_test, min_effect)
    how = str(dist.get("categorical_drift_method", "LInfinity"))
    row.method = f"model_monitor:{how}"
    row.threshold = float(dist.get("categorical_comparison_threshold", 0.1))
    if how == "ChiSquared":
        _, _, row.p_value = chi_squared(b, c)
        row.distance = row.p_value
        row.drifted = row.p_value < row.threshold
    else:
        row.distance = row.linf
        row.drifted = row.distance > row.threshold
    return row


def domain_check(name: str, cons: Mapping[str, Any], p: TextProfile,
                 mc: Mapping[str, Any]) -> list[dict[str, Any]]:
    domains = (cons.get("string_constraints") or {}).get("domains")
    if not domains or not p.n_present:
        return []
    known = set(map(str, domains))
    new = {k: v for k, v in p.counts.items() if k not in known}
    unknown = sum(new.values()) + p.overflow
    share = unknown / p.n_present
    threshold = float(mc.get("domain_content_threshold", 0.1))
    if share <= threshold:
        return []
    top = sorted(new.items(), key=lambda kv: -kv[1])[:5]
    listed = ", ".join(f"{k!r} ({v})" for k, v in top)
    return [violation(name, "categorical_values_check",
            f"{share:.1%} of the values of '{name}' are not in the baseline's domain "
            f"(threshold {threshold:.1%}): {listed}.")]


OTHER_CATEGORIES = "(other categories)"
"""The bucket of the model's ``other`` code: the categories pooled at fit time, and unseen ones."""


def captured_categories(encoding: Mapping[str, Any], txts: dict[str, TextProfile],
                        stat_by: Mapping[str, Any], features: list[Any]) -> tuple[dict[str, Any], list[Any]]:
    """Captured rows carry each categorical feature as the model's code (the serving contract):
    count each code as its category, the ``other`` code as one bucket, into which the baseline's
    pooled categories are merged too; a code the model never had stays as written (a new value)."""
    from trainguard.training.encoding import FeatureEncoding

    cmaps = {c.name: c for c in FeatureEncoding.from_dict(encoding).columns.values()}
    stat_by = dict(stat_by)
    for name, cmap in cmaps.items():
        p = txts.get(name)
        if p is None:
            continue
        counts: dict[str, int] = {}
        for key, n in p.counts.items():
            label = _category_of(key, cmap)
            counts[label] = counts.get(label, 0) + n
        p.counts = counts
        if cmap.pooled:
            stat_by[name] = _pool_statistics(stat_by[name], set(cmap.pooled))
    features = [_pool_domain(f, set(cmaps[f["name"]].pooled)) if f.get("name") in cmaps and cmaps[f["name"]].pooled
                else f for f in features]
    return stat_by, features


def _category_of(code: str, cmap: Any) -> str:
    try:
        value = float(code)
    except ValueError:
        return code
    if value.is_integer() and 0 <= value < len(cmap.categories):
        return str(cmap.categories[int(value)])
    return OTHER_CATEGORIES if cmap.other is not None and value == cmap.other else code


def _pool_statistics(st: Mapping[str, Any], pooled: set[str]) -> dict[str, Any]:
    ss = st.get("string_statistics") or {}
    dist = ss.get("distribution") or {}
    cat = dist.get("categorical") or {}
    buckets = cat.get("buckets") or []
    merged = [b for b in buckets if str(b["value"]) not in pooled]
    n = sum(int(b["count"]) for b in buckets if str(b["value"]) in pooled)
    if n:
        merged.append({"value": OTHER_CATEGORIES, "count": n})
    return {**st, "string_statistics": {**ss, "distribution": {**dist, "categorical": {**cat, "buckets": merged}}}}


def _pool_domain(f: Mapping[str, Any], pooled: set[str]) -> dict[str, Any]:
    sc = f.get("string_constraints") or {}
    if not sc.get("domains"):
        return dict(f)
    domains = [d for d in sc["domains"] if str(d) not in pooled] + [OTHER_CATEGORIES]
    return {**f, "string_constraints": {**sc, "domains": domains}}


# ------------------------------------------------------------------------------------------------
# completeness


def completeness_check(row: FeatureDrift, cons: Mapping[str, Any], n_base: int, present: int,
                       total: int, method: str, per_test: float,
                       td: Mapping[str, Any]) -> list[dict[str, Any]]:
    """completeness_check: the share of non-missing values fell below the baseline's."""
    base = cons.get("completeness")
    if base is None or not total:
        return []
    base, cur = float(base), present / total
    row.completeness_baseline, row.completeness_current = base, cur
    if method == "calibrated":
        from statistics import NormalDist

        # a one-sided two-proportion test at this check's share of the false-alarm budget,
        # and a drop of at least min_completeness_drop
        se = math.sqrt(base * (1 - base) / max(n_base, 1) + cur * (1 - cur) / total)
        z = NormalDist().inv_cdf(1 - per_test)
        margin = max(float(td.get("min_completeness_drop", 0.02)), z * se)
    else:
        margin = 1e-12
    if base - cur <= margin:
        return []
    return [violation(row.name, "completeness_check",
            f"Completeness of '{row.name}' is {cur:.2%}, below the baseline's {base:.2%} "
            f"(allowed drop {margin:.2%}).")]


# ------------------------------------------------------------------------------------------------
# violations


def drift_text(row: FeatureDrift) -> str:
    if row.method == "calibrated":
        return (f"Baseline drift distance {row.distance:.4f} (total variation on the baseline's "
                f"bins) is at least the minimum effect {row.threshold}, with chi-squared p-value "
                f"{row.p_value:.3g} (L-infinity {row.linf or 0:.4f}).")
    return (f"Baseline drift distance {row.distance:.4f} exceeds threshold {row.threshold} "
            f"({row.method}).")


def violation(name: str, kind: str, text: str) -> dict[str, Any]:
    return {"feature_name": name, "constraint_check_type": kind, "description": text}
