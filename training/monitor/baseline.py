"""Data-quality baselines in Model Monitor's layout: statistics.json and constraints.json.

``build_baseline`` reads a table in batches (twice: a sketch pass, then exact counts on the cut
points the sketch chose) and returns both documents. Numeric features carry Model Monitor's
ten KLL buckets and sketch; trainguard adds, under a ``trainguard`` key per feature, the exact
counts on equal-probability bins and the exact CDF on 255 quantile points, which the drift test
uses. ``monitoring_config.distribution_constraints`` keeps Model Monitor's fields; the
``trainguard_drift`` block next to them selects trainguard's calibrated test.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.errors import DataError
from trainguard.training.files import write_text
from trainguard.training.monitor.profile import NumericProfile, TextProfile, scan, source_header
from trainguard.training.monitor.read import open_source

__all__ = ["BaselineSettings", "build_baseline", "load_baseline", "record_roles", "regroup",
           "settings_from_config", "write_baseline", "write_json_atomic"]

STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"
CDF_POINTS = 255
MM_BUCKETS = 10


@dataclass(frozen=True)
class BaselineSettings:
    """What the baseline writes into constraints.json (see docs/drift.md for each value)."""

    method: str = "calibrated"
    """``calibrated`` (trainguard's test) or ``model_monitor`` (L-infinity against a threshold)."""
    alpha: float = 0.01
    """Chance of a false alarm per check over all features (Bonferroni-split across features)."""
    min_effect: float = 0.05
    """Smallest total-variation distance between the binned distributions worth flagging."""
    bins: int = 20
    """Equal-probability bins of each numeric feature (fewer when the baseline is small)."""
    comparison_threshold: float = 0.1
    comparison_method: str = "Robust"
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: str = "LInfinity"
    datatype_check_threshold: float = 0.1
    domain_content_threshold: float = 0.01
    min_completeness_drop: float = 0.02
    max_categories: int = 1000


def settings_from_config(monitor: Any) -> BaselineSettings:
    """BaselineSettings from the config's ``monitor`` section (a MonitorConfig)."""
    names = BaselineSettings.__dataclass_fields__
    return BaselineSettings(**{k: getattr(monitor, k) for k in names if hasattr(monitor, k)})


def build_baseline(data: str | Path, *, exclude: Sequence[str] = (),
                   settings: BaselineSettings | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """statistics.json and constraints.json (as dicts) of the table(s) at ``data``."""
    s = settings or BaselineSettings()
    source = open_source(data)
    if source.kind != "table":
        raise DataError("a baseline is built from a table (CSV or Parquet), not from data-capture "
                        "records; baseline the training data.", source.label)
    header = source_header(source)
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"duplicate column name(s) {', '.join(dupes)}; every column needs a unique "
                        "name.", str(source.files[0]))
    columns = [h for h in header if h not in set(exclude)]
    if not columns:
        raise DataError(f"no feature column left to baseline (columns: {', '.join(header)}, "
                        f"excluded: {', '.join(exclude)}).", source.label)
    # pass 1: types, moments, sketches; a column holding any non-number text is a String feature
    nums, txts, rows = scan(source, columns, [], sketch=True, discover=True)
    texts = [n for n in columns if n in txts or nums[n].n_bad]
    if any(nums[n].n_bad for n in nums):  # text found without pyarrow's help: count it as text
        nums, txts, rows = scan(source, [n for n in columns if n not in texts], texts, sketch=True)
    if rows == 0:
        raise DataError("the table has a header but no data rows.", source.label)
    # pass 2: exact counts on the cut points chosen from the sketches
    plans = {n: _cut_points(p, s.bins) for n, p in nums.items()}
    grids = {n: plan["grid"] for n, plan in plans.items()}
    exact, _, _ = scan(source, list(nums), [], grids=grids)
    features_stats, features_cons = [], []
    n_numeric = 0
    for name in columns:
        if name in nums:
            n_numeric += 1
            st, co = _numeric_feature(name, nums[name], exact[name], plans[name])
        else:
            st, co = _text_feature(name, txts[name], s.max_categories)
        features_stats.append(st)
        features_cons.append(co)
    statistics = {"version": 0, "dataset": {"item_count": rows}, "features": features_stats}
    constraints = {"version": 0, "features": features_cons, "monitoring_config": _monitoring_config(s)}
    left_out = [c for c in header if c not in columns]
    constraints["monitoring_config"]["trainguard_drift"]["excluded"] = left_out
    return statistics, constraints


def record_roles(constraints: dict[str, Any], schema: Mapping[str, Any],
                 evaluation: Mapping[str, Any] | None) -> None:
    """Note in ``trainguard_drift`` what a check needs beyond the features, from the split's
    columns.json and the evaluation: the table's other columns (the ID, the time, what the config
    left out: known, never an extra column), the ID column (labels keyed by it join on it), and
    the model's categories (captured rows carry a categorical feature as its code)."""
    td = constraints["monitoring_config"]["trainguard_drift"]
    known = [str(schema[k]) for k in ("id", "timestamp") if schema.get(k)] + list(schema.get("unused") or [])
    td["excluded"] = list(dict.fromkeys([*td.get("excluded", []), *known]))
    if schema.get("id"):
        td["id_column"] = str(schema["id"])
    encoding = ((evaluation or {}).get("model") or {}).get("encoding")
    if encoding:
        td["encoding"] = encoding


def _cut_points(p: NumericProfile, bins: int) -> dict[str, np.ndarray]:
    if not p.n_present or p.sketch is None:
        empty = np.empty(0)
        return {"grid": empty, "edges": empty, "points": empty, "buckets": empty}
    n_bins = int(max(2, min(bins, p.n_present // 10)))
    edges = np.unique(p.sketch.quantiles(np.arange(1, n_bins) / n_bins))
    edges = edges[edges < p.maximum]  # a cut at the maximum would leave an empty top bin
    points = np.unique(p.sketch.quantiles(np.arange(1, CDF_POINTS + 1) / (CDF_POINTS + 1)))
    buckets = np.linspace(p.minimum, p.maximum, MM_BUCKETS + 1)[1:-1]
    grid = np.unique(np.concatenate([edges, points, buckets]))
    return {"grid": grid, "edges": edges, "points": points, "buckets": buckets}


def regroup(grid: np.ndarray, counts: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Counts per bin between ``cuts`` (each a grid point) from counts per grid cell."""
    cum = np.concatenate([[0], np.cumsum(counts)])
    at = cum[np.searchsorted(grid, cuts, "left") + 1]
    return np.diff(np.concatenate([[0], at, [cum[-1]]])).astype(np.int64)


def _numeric_feature(name: str, p: NumericProfile, exact: NumericProfile,
                     plan: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    integral = p.n_present > 0 and p.n_fractional == 0
    kind = "Integral" if integral else "Fractional"
    counts = exact.counts if exact.counts is not None else np.zeros(plan["grid"].size + 1, np.int64)
    grid = plan["grid"]
    bucket_counts = regroup(grid, counts, plan["buckets"]) if p.n_present else np.empty(0)
    bounds = np.linspace(p.minimum, p.maximum, MM_BUCKETS + 1) if p.n_present else np.empty(0)
    buckets = [{"lower_bound": float(bounds[i]), "upper_bound": float(bounds[i + 1]),
                "count": int(bucket_counts[i])} for i in range(len(bounds) - 1)]
    cum = np.concatenate([[0], np.cumsum(counts)])
    point_cdf = (cum[np.searchsorted(grid, plan["points"], "left") + 1] / p.n_present
                 if p.n_present else np.empty(0))
    n_total = p.n_present + p.n_missing
    stats = {
        "name": name, "inferred_type": kind,
        "numerical_statistics": {
            "common": {"num_present": p.n_present, "num_missing": p.n_missing},
            "mean": _f(p.mean), "sum": _f(p.total), "std_dev": _f(p.std),
            "min": _f(p.minimum if p.n_present else math.nan),
            "max": _f(p.maximum if p.n_present else math.nan),
            "distribution": {"kll": {"buckets": buckets,
                                     "sketch": p.sketch.to_json() if p.sketch else {}}},
        },
        "trainguard": {
            "bins": {"edges": [float(e) for e in plan["edges"]],
                     "counts": [int(c) for c in regroup(grid, counts, plan["edges"])]},
            "cdf": {"points": [float(x) for x in plan["points"]],
                    "values": [float(v) for v in point_cdf]},
        },
    }
    cons = {"name": name, "inferred_type": kind,
            "completeness": p.n_present / n_total if n_total else 0.0,
            "num_constraints": {"is_non_negative": bool(p.n_present and p.n_negative == 0)}}
    return stats, cons


def _text_feature(name: str, p: TextProfile, max_categories: int
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    ordered = sorted(p.counts.items(), key=lambda kv: (-kv[1], kv[0]))
    n_total = p.n_present + p.n_missing
    small = len(ordered) <= max_categories and not p.overflow
    stats = {"name": name, "inferred_type": "String",
             "string_statistics": {
                 "common": {"num_present": p.n_present, "num_missing": p.n_missing},
                 "distinct_count": float(len(ordered) + (1 if p.overflow else 0)),
                 "distribution": {"categorical": {"buckets": [
                     {"value": v, "count": c} for v, c in ordered[:max_categories]]}}}}
    cons: dict[str, Any] = {"name": name, "inferred_type": "String",
                            "completeness": p.n_present / n_total if n_total else 0.0}
    if small:
        cons["string_constraints"] = {"domains": [v for v, _ in ordered]}
    return stats, cons


def _monitoring_config(s: BaselineSettings) -> dict[str, Any]:
    return {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": s.datatype_check_threshold,
        "domain_content_threshold": s.domain_content_threshold,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": s.comparison_threshold,
            "comparison_method": s.comparison_method,
            "categorical_comparison_threshold": s.categorical_comparison_threshold,
            "categorical_drift_method": s.categorical_drift_method,
        },
        "trainguard_drift": {
            "method": s.method, "alpha": s.alpha, "min_effect": s.min_effect, "bins": s.bins,
            "min_completeness_drop": s.min_completeness_drop,
        },
    }


def _f(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write strict JSON at ``path``, whole or not at all (``training.files``): objects one key per
    line, a list holding no object on one line (a sketch's levels, a bin's counts)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = _readable_json(data) + "\n"  # strict: fails before any write
    return write_text(target, text)


def _readable_json(value: Any, level: int = 0) -> str:
    """Indented JSON whose leaves are written by json's C encoder: with ``indent`` set, json.dumps
    runs its pure-Python encoder, which took most of a large baseline's writing time."""
    inner, outer = " " * (level + 1), " " * level
    if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
        items = [f"{inner}{json.dumps(k)}: {_readable_json(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + outer + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value):
        return "[\n" + ",\n".join(inner + _readable_json(v, level + 1) for v in value) + "\n" + outer + "]"
    return json.dumps(value, allow_nan=False)


def write_baseline(out: str | Path, statistics: Mapping[str, Any],
                   constraints: Mapping[str, Any]) -> Path:
    """Write statistics.json and constraints.json into the folder ``out``."""
    folder = Path(out)
    write_json_atomic(folder / STATISTICS, statistics)
    write_json_atomic(folder / CONSTRAINTS, constraints)
    return folder


def load_baseline(path: str | Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """statistics.json and constraints.json from a folder (at any depth below it) or one of the files."""
    p = Path(path)
    if p.is_file():
        p = p.parent
    if not p.is_dir():
        raise DataError(f"the baseline {p} does not exist; pass the folder holding statistics.json "
                        "and constraints.json (trainguard monitor baseline writes one).")
    found = {}
    for name in (STATISTICS, CONSTRAINTS):
        hits = [p / name] if (p / name).is_file() else sorted(p.rglob(name))
        if len(hits) != 1:
            what = "no" if not hits else f"{len(hits)}"
            raise DataError(f"the baseline folder {p} holds {what} {name}; it needs exactly one "
                            "statistics.json and one constraints.json.")
        try:
            found[name] = json.loads(hits[0].read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{hits[0]} is not valid JSON: {exc}.") from None
        if not isinstance(found[name], dict) or not isinstance(found[name].get("features"), list):
            raise DataError(f"{hits[0]} is not a Model Monitor {name} (no 'features' list).")
    return found[STATISTICS], found[CONSTRAINTS], str(p)
