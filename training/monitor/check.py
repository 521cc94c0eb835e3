"""Check new data against a data-quality baseline (and, with labels, against model-quality constraints).

``check_drift`` reads the data once in batches, compares every feature with the baseline and
returns a DriftResult: the per-feature table (distance, method, threshold, drifted) and the
violations in Model Monitor's check types. ``write_result`` writes constraint_violations.json,
the current data's statistics.json and drift_report.json (the table, for tools and the HTML
report). Bad input raises DataError before anything is written.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.errors import ConfigError, DataError
from trainguard.training.evaluation import json_safe
from trainguard.training.monitor.baseline import CDF_POINTS, load_baseline, regroup, write_json_atomic
from trainguard.training.monitor.distance import chi_squared, linf, robust, total_variation
from trainguard.training.monitor.profile import NumericProfile, TextProfile, scan, source_header
from trainguard.training.monitor.read import DataSource, open_source
from trainguard.training.monitor.sketch import KLLSketch

__all__ = ["DriftResult", "FeatureDrift", "check_drift", "resolve_baseline", "write_result"]

VIOLATIONS = "constraint_violations.json"
REPORT = "drift_report.json"
CURRENT_STATISTICS = "statistics.json"
METHODS = ("calibrated", "model_monitor")


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


@dataclass
class DriftResult:
    """What a check found: the table, the violations, the model-quality rows (with labels)."""

    features: list[FeatureDrift]
    violations: list[dict[str, Any]]
    rows: int
    data: str
    baseline: str
    method: str
    alpha: float | None = None
    min_effect: float | None = None
    quality: list[dict[str, Any]] = field(default_factory=list)
    quality_violations: list[dict[str, Any]] = field(default_factory=list)
    labelled_rows: int = 0
    statistics: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when no constraint is violated."""
        return not self.violations and not self.quality_violations

    @property
    def drifted(self) -> list[str]:
        """Names of the features whose distribution drifted."""
        return [f.name for f in self.features if f.drifted]

    @property
    def exit_code(self) -> int:
        """0 clean, 1 violations (the CLI's convention)."""
        return 0 if self.clean else 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: the table and the violations."""
        return json_safe({
            "clean": self.clean, "data": self.data, "baseline": self.baseline, "rows": self.rows,
            "method": self.method, "alpha": self.alpha, "min_effect": self.min_effect,
            "drifted": self.drifted, "features": [asdict(f) for f in self.features],
            "violations": self.violations, "model_quality": self.quality,
            "model_quality_violations": self.quality_violations,
            "labelled_rows": self.labelled_rows,
            "violation_count": len(self.violations) + len(self.quality_violations),
            "first_violation": next((v["description"] for v in
                                     self.violations + self.quality_violations), "none"),
        })


def check_drift(baseline: str | Path, data: str | Path, *, method: str | None = None,
                label_column: str | None = None, labels: str | Path | None = None,
                model: str | Path | None = None, quality_constraints: Mapping[str, Any] | None = None,
                exclude: Sequence[str] = ()) -> DriftResult:
    """Compare ``data`` with the baseline folder; with labels and a model, check model quality too.

    ``method`` overrides the baseline's choice (``calibrated`` or ``model_monitor``);
    ``label_column`` names the ground-truth column of a table (never reported as an extra column).
    """
    baseline, found_quality, found_model = resolve_baseline(baseline)
    quality_constraints = quality_constraints if quality_constraints is not None else found_quality
    model = model if model is not None else found_model
    stats, cons, where = load_baseline(baseline)
    mc = cons.get("monitoring_config") or {}
    td = mc.get("trainguard_drift") or {}
    method = method or td.get("method") or "model_monitor"
    if method not in METHODS:
        raise ConfigError(f"drift method {method!r} is unknown; choose {' or '.join(METHODS)}.")
    stat_by = {f.get("name"): f for f in stats.get("features", []) if isinstance(f, Mapping)}
    features = [f for f in cons["features"] if isinstance(f, Mapping) and f.get("name") in stat_by]
    if not features:
        raise DataError(f"the baseline {where} lists no feature present in both statistics.json "
                        "and constraints.json.")
    names = [str(f["name"]) for f in features]
    source = open_source(data)
    header = source_header(source, names)
    skip = set(exclude) | set(td.get("excluded") or []) | ({label_column} if label_column else set())
    present = [n for n in names if n in header]
    if not present:
        raise DataError(f"none of the baseline's {len(names)} features ({_few(names)}) is a column "
                        f"of the data (columns: {_few(header)}): the baseline is from another "
                        "schema. Check against the baseline of the model that serves this data.",
                        source.label)
    if label_column and labels is None and label_column not in header and source.kind == "table":
        raise DataError(f"the label column {label_column!r} is not in the data (columns: "
                        f"{_few(header)}).", source.label)
    kinds = {str(f["name"]): str(f.get("inferred_type", "Unknown")) for f in features}
    numeric = [n for n in present if kinds[n] in ("Integral", "Fractional")]
    texts = [n for n in present if n not in numeric]
    grids = {n: _grid(stat_by[n]) for n in numeric}
    nums, txts, rows = scan(source, numeric, texts, grids=grids, capture_features=names,
                            integral=[n for n in numeric if kinds[n] == "Integral"])
    if rows == 0:
        raise DataError("the data has a header but no rows to check.", source.label)
    if source.kind == "capture" and td.get("encoding"):
        stat_by, features = _captured_categories(td["encoding"], txts, stat_by, features)

    alpha = float(td.get("alpha", 0.01))
    min_effect = float(td.get("min_effect", 0.05))
    dist = mc.get("distribution_constraints") or {}
    compare = str(dist.get("perform_comparison", "Enabled")) == "Enabled"
    n_tests = max(1, len(present)) if compare else 1
    per_test = alpha / n_tests
    n_items = int((stats.get("dataset") or {}).get("item_count") or 0)
    violations: list[dict[str, Any]] = []
    table: list[FeatureDrift] = []
    for n in names:
        if n not in present:
            violations.append(_violation(n, "missing_column_check",
                              f"Baseline feature '{n}' is missing from the current data."))
    for col in header:
        if col not in kinds and col not in skip:
            violations.append(_violation(col, "extra_column_check",
                              f"Column '{col}' is in the current data but not in the baseline."))
    for f in features:
        name = str(f["name"])
        if name not in present:
            continue
        st = stat_by[name]
        if name in nums:
            row = _numeric(name, kinds[name], st, f, nums[name], method, dist, per_test, min_effect)
            violations += _numeric_checks(name, kinds[name], f, nums[name], mc)
        else:
            row = _text(name, st, f, txts[name], method, dist, per_test, min_effect)
            violations += _domain_check(name, f, txts[name], mc)
        prof = nums.get(name) or txts[name]
        n_ok = prof.n_present + getattr(prof, "n_bad", 0)
        violations += _completeness(row, f, n_items, n_ok, n_ok + prof.n_missing, method,
                                    per_test, td)
        if row.drifted and compare:
            violations.append(_violation(name, "baseline_drift_check", _drift_text(row)))
        table.append(row)
    result = DriftResult(table, violations, rows, source.label, where, method,
                         alpha if method == "calibrated" else None,
                         min_effect if method == "calibrated" else None)
    result.statistics = _current_statistics(rows, nums, txts, kinds, stat_by)
    if labels is not None or (label_column and quality_constraints is not None):
        _check_model_quality(result, source, names, header, label_column, labels, model,
                             quality_constraints, td.get("id_column"))
    return result


def resolve_baseline(path: str | Path) -> tuple[Path, dict[str, Any] | None, Path | None]:
    """(data-quality folder, model-quality constraints, model) of a baseline folder.

    A baseline folder as the baseline job writes it holds ``data_quality/`` (statistics.json,
    constraints.json), optionally ``model_quality/constraints.json`` and ``model/`` (the model
    archive); a folder holding the two data-quality files directly is accepted too.
    """
    import json

    p = Path(path)
    if (p / "data_quality").is_dir():
        quality = None
        qc = p / "model_quality" / "constraints.json"
        if qc.is_file():
            try:
                quality = json.loads(qc.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise DataError(f"{qc} is not valid JSON: {exc}.") from None
        model = p / "model" if (p / "model").exists() else None
        return p / "data_quality", quality, model
    return p, None, None


# ------------------------------------------------------------------------------------------------
# numeric features


def _grid(st: Mapping[str, Any]) -> np.ndarray:
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


def _numeric(name: str, kind: str, st: Mapping[str, Any], cons: Mapping[str, Any],
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
        row.distance = total_variation(base_counts, cur_counts)
        _, _, row.p_value = chi_squared(base_counts, cur_counts)
        row.threshold = min_effect
        row.drifted = row.p_value < per_test and row.distance >= min_effect
        return row
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


def _numeric_checks(name: str, kind: str, cons: Mapping[str, Any], p: NumericProfile,
                    mc: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    non_null = p.n_present + p.n_bad
    other = p.n_bad + (p.n_fractional if kind == "Integral" else 0)
    threshold = float(mc.get("datatype_check_threshold", 0.1))
    if non_null and other / non_null > threshold:
        example = f" (e.g. {p.bad_example!r})" if p.bad_example else ""
        what = ("text that is not a number" if p.n_bad else "non-integer numbers")
        out.append(_violation(name, "data_type_check",
                   f"Data type of '{name}' does not match the baseline's {kind}: "
                   f"{other / non_null:.1%} of {non_null} values are {what}{example}; the "
                   f"threshold is {threshold:.1%}."))
    nn = (cons.get("num_constraints") or {}).get("is_non_negative")
    if nn and p.n_negative:
        out.append(_violation(name, "data_type_check",
                   f"'{name}' was non-negative in the baseline; {p.n_negative} current values "
                   "are negative."))
    return out


# ------------------------------------------------------------------------------------------------
# text features


def _text(name: str, st: Mapping[str, Any], cons: Mapping[str, Any], p: TextProfile, method: str,
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
        row.distance = total_variation(b, c)
        _, _, row.p_value = chi_squared(b, c)
        row.threshold = min_effect
        row.drifted = row.p_value < per_test and row.distance >= min_effect
        return row
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


def _domain_check(name: str, cons: Mapping[str, Any], p: TextProfile,
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
    return [_violation(name, "categorical_values_check",
            f"{share:.1%} of the values of '{name}' are not in the baseline's domain "
            f"(threshold {threshold:.1%}): {listed}.")]


OTHER_CATEGORIES = "(other categories)"
"""The bucket of the model's ``other`` code: the categories pooled at fit time, and unseen ones."""


def _captured_categories(encoding: Mapping[str, Any], txts: dict[str, TextProfile],
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


def _completeness(row: FeatureDrift, cons: Mapping[str, Any], n_base: int, present: int,
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
    return [_violation(row.name, "completeness_check",
            f"Completeness of '{row.name}' is {cur:.2%}, below the baseline's {base:.2%} "
            f"(allowed drop {margin:.2%}).")]


# ------------------------------------------------------------------------------------------------
# output


def _drift_text(row: FeatureDrift) -> str:
    if row.method == "calibrated":
        return (f"Baseline drift distance {row.distance:.4f} (total variation on the baseline's "
                f"bins) is at least the minimum effect {row.threshold}, with chi-squared p-value "
                f"{row.p_value:.3g} (L-infinity {row.linf or 0:.4f}).")
    return (f"Baseline drift distance {row.distance:.4f} exceeds threshold {row.threshold} "
            f"({row.method}).")


def _violation(name: str, kind: str, text: str) -> dict[str, Any]:
    return {"feature_name": name, "constraint_check_type": kind, "description": text}


def _current_statistics(rows: int, nums: Mapping[str, NumericProfile],
                        txts: Mapping[str, TextProfile], kinds: Mapping[str, str],
                        stat_by: Mapping[str, Any]) -> dict[str, Any]:
    feats = []
    for name, p in nums.items():
        st = stat_by[name].get("numerical_statistics") or {}
        buckets = ((st.get("distribution") or {}).get("kll") or {}).get("buckets") or []
        cuts = np.asarray([b["upper_bound"] for b in buckets[:-1]], dtype=float)
        counts = (regroup(p.grid, p.counts, cuts) if p.counts is not None and buckets
                  else np.zeros(len(buckets), np.int64))
        feats.append({"name": name, "inferred_type": kinds[name], "numerical_statistics": {
            "common": {"num_present": p.n_present, "num_missing": p.n_missing + p.n_bad},
            "mean": p.mean, "sum": p.total, "std_dev": p.std,
            "min": p.minimum if p.n_present else None, "max": p.maximum if p.n_present else None,
            "distribution": {"kll": {"buckets": [
                {"lower_bound": b["lower_bound"], "upper_bound": b["upper_bound"],
                 "count": int(c)} for b, c in zip(buckets, counts, strict=False)]}}}})
    for name, t in txts.items():
        ordered = sorted(t.counts.items(), key=lambda kv: -kv[1])
        feats.append({"name": name, "inferred_type": "String", "string_statistics": {
            "common": {"num_present": t.n_present, "num_missing": t.n_missing},
            "distinct_count": float(len(ordered)),
            "distribution": {"categorical": {"buckets": [
                {"value": k, "count": v} for k, v in ordered[:1000]]}}}})
    return json_safe({"version": 0, "dataset": {"item_count": rows}, "features": feats})


def write_result(result: DriftResult, out: str | Path) -> Path:
    """Write statistics.json, drift_report.json and constraint_violations.json into ``out``.

    The violations file is written last, each file atomically, so a reader that finds it also
    finds the rest.
    """
    folder = Path(out)
    write_json_atomic(folder / CURRENT_STATISTICS, result.statistics)
    write_json_atomic(folder / REPORT, result.to_dict())
    viol = {"violations": result.violations + result.quality_violations}
    write_json_atomic(folder / VIOLATIONS, json_safe(viol))
    return folder


def _few(names: Sequence[str], k: int = 8) -> str:
    shown = ", ".join(map(str, names[:k]))
    return shown + (f", +{len(names) - k} more" if len(names) > k else "")


# ------------------------------------------------------------------------------------------------
# model quality


def _check_model_quality(result: DriftResult, source: DataSource, names: Sequence[str],
                         header: Sequence[str], label_column: str | None,
                         labels: str | Path | None, model: str | Path | None,
                         constraints: Mapping[str, Any] | None, id_column: str | None = None) -> None:
    """Score the rows with the model and check the metrics against labels: a label column, labels
    in row order, or labels keyed by inference id (data capture) or by the table's ID column."""
    from trainguard.training.monitor.quality import check_quality, read_labels, to_binary
    from trainguard.training.monitor.scoring import load_model, read_column, score_source

    if constraints is None:
        raise DataError("labels were given but the baseline has no model-quality constraints "
                        "(model_quality/constraints.json); baseline the model's evaluation first.")
    if model is None:
        raise DataError("labels were given but no model to score the rows with; check against a "
                        "model package (its baseline and model.tar.gz).")
    booster, features, classes = load_model(model)
    proba = score_source(source, features, names if source.kind == "capture" else header, booster)
    if labels is None:
        texts = read_column(source, str(label_column))
        keep = np.asarray([t is not None for t in texts])
        y = to_binary([t for t in texts if t is not None], classes, f"column {label_column!r}")
        proba = proba[keep]
    else:
        by_id, in_order = read_labels(labels, key=id_column)
        if in_order is not None:
            if source.kind == "capture" or len(in_order) != proba.size:
                raise DataError(f"the labels do not join: {len(in_order)} labels in row order for "
                                f"{proba.size} data rows; give one label per row, or an "
                                "inference_id column to join on.", str(labels))
            y = to_binary(in_order, classes, str(labels))
        else:
            ids = source.event_ids
            if source.kind == "table" and id_column and id_column in header:
                ids = [t or "" for t in read_column(source, id_column)]
            if not ids:
                raise DataError("the labels are keyed by inference id but the data is a table "
                                "without ids; label a data-capture prefix, give one label per "
                                "row, or train with data.id naming the table's ID column.", str(labels))
            assert by_id is not None
            hits = [i for i, k in enumerate(ids) if k in by_id]
            if not hits:
                sample = ", ".join(list(by_id)[:3])
                rows = "captured rows' inference ids" if source.kind == "capture" else f"rows' {id_column!r}"
                raise DataError(f"the labels do not join: none of their {len(by_id)} ids "
                                f"(e.g. {sample}) matches one of the {len(ids)} {rows}.", str(labels))
            y = to_binary([by_id[ids[i]] for i in hits], classes, str(labels))
            proba = proba[np.asarray(hits)]
    rows, violations = check_quality(constraints, y, proba)
    result.quality, result.quality_violations, result.labelled_rows = rows, violations, int(y.size)
