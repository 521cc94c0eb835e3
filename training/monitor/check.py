"""Check new data against a data-quality baseline (and, with labels, against model-quality constraints).

``check_drift`` reads the data once in batches, compares every feature with the baseline
(``monitor.compare``) and
returns a DriftResult: the per-feature table (distance, method, threshold, drifted) and the
violations in Model Monitor's check types. ``write_result`` writes constraint_violations.json,
the current data's statistics.json and drift_report.json (the table, for tools and the HTML
report). Bad input raises DataError before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.errors import ConfigError, DataError
from trainguard.training.evaluation import json_safe
from trainguard.training.monitor.baseline import load_baseline, regroup, write_json_atomic
from trainguard.training.monitor.compare import (
    FeatureDrift,
    captured_categories,
    compare_numeric,
    compare_text,
    completeness_check,
    domain_check,
    drift_text,
    grid,
    numeric_checks,
    violation,
)
from trainguard.training.monitor.profile import NumericProfile, TextProfile, scan, source_header
from trainguard.training.monitor.quality import check_labelled_quality
from trainguard.training.monitor.read import DataSource, open_source

__all__ = ["DriftResult", "FeatureDrift", "check_drift", "resolve_baseline", "write_result"]

VIOLATIONS = "constraint_violations.json"
REPORT = "drift_report.json"
CURRENT_STATISTICS = "statistics.json"
METHODS = ("calibrated", "model_monitor")


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
    base = _Baseline.read(baseline, method)
    source = open_source(data)
    header = source_header(source, base.names)
    skip = set(exclude) | set(base.td.get("excluded") or []) | ({label_column} if label_column else set())
    present = _present_features(base, header, source, label_column, labels)
    numeric = [n for n in present if base.kinds[n] in ("Integral", "Fractional")]
    texts = [n for n in present if n not in numeric]
    grids = {n: grid(base.stat_by[n]) for n in numeric}
    nums, txts, rows = scan(source, numeric, texts, grids=grids, capture_features=base.names,
                            integral=[n for n in numeric if base.kinds[n] == "Integral"])
    if rows == 0:
        raise DataError("the data has a header but no rows to check.", source.label)
    if source.kind == "capture" and base.td.get("encoding"):
        stat_by, features = captured_categories(base.td["encoding"], txts, base.stat_by, base.features)
        base = replace(base, stat_by=stat_by, features=features)
    result = _compare(base, header, present, skip, nums, txts, rows, source.label)
    if labels is not None or (label_column and quality_constraints is not None):
        result.quality, result.quality_violations, result.labelled_rows = check_labelled_quality(
            source, base.names, header, label_column, labels, model, quality_constraints,
            base.td.get("id_column"))
    return result


@dataclass(frozen=True)
class _Baseline:
    """A data-quality baseline as the check reads it: its files, settings and features."""

    stats: dict[str, Any]
    cons: dict[str, Any]
    where: str
    method: str
    stat_by: dict[Any, Any]
    features: list[Any]

    @classmethod
    def read(cls, folder: Path, method: str | None) -> _Baseline:
        """The baseline in ``folder``; ConfigError for an unknown method, DataError with no features."""
        stats, cons, where = load_baseline(folder)
        td = (cons.get("monitoring_config") or {}).get("trainguard_drift") or {}
        method = method or td.get("method") or "model_monitor"
        if method not in METHODS:
            raise ConfigError(f"drift method {method!r} is unknown; choose {' or '.join(METHODS)}.")
        stat_by = {f.get("name"): f for f in stats.get("features", []) if isinstance(f, Mapping)}
        features = [f for f in cons["features"] if isinstance(f, Mapping) and f.get("name") in stat_by]
        if not features:
            raise DataError(f"the baseline {where} lists no feature present in both statistics.json "
                            "and constraints.json.")
        return cls(stats, cons, where, method, stat_by, features)

    @property
    def mc(self) -> Mapping[str, Any]:
        """Model Monitor's monitoring_config block."""
        return self.cons.get("monitoring_config") or {}

    @property
    def td(self) -> Mapping[str, Any]:
        """trainguard's own drift settings (method, alpha, min_effect, excluded columns, encoding)."""
        return self.mc.get("trainguard_drift") or {}

    @property
    def names(self) -> list[str]:
        return [str(f["name"]) for f in self.features]

    @property
    def kinds(self) -> dict[str, str]:
        return {str(f["name"]): str(f.get("inferred_type", "Unknown")) for f in self.features}


def _present_features(base: _Baseline, header: Sequence[str], source: DataSource,
                      label_column: str | None, labels: str | Path | None) -> list[str]:
    """The baseline's features that are columns of the data; DataError for another schema."""
    names = base.names
    present = [n for n in names if n in header]
    if not present:
        raise DataError(f"none of the baseline's {len(names)} features ({_few(names)}) is a column "
                        f"of the data (columns: {_few(header)}): the baseline is from another "
                        "schema. Check against the baseline of the model that serves this data.",
                        source.label)
    if label_column and labels is None and label_column not in header and source.kind == "table":
        raise DataError(f"the label column {label_column!r} is not in the data (columns: "
                        f"{_few(header)}).", source.label)
    return present


def _compare(base: _Baseline, header: Sequence[str], present: Sequence[str], skip: set[str],
             nums: Mapping[str, NumericProfile], txts: Mapping[str, TextProfile], rows: int,
             data: str) -> DriftResult:
    """The per-feature table and the violations: missing and extra columns, then every feature."""
    td, mc, method, kinds = base.td, base.mc, base.method, base.kinds
    alpha = float(td.get("alpha", 0.01))
    min_effect = float(td.get("min_effect", 0.05))
    dist = mc.get("distribution_constraints") or {}
    compare = str(dist.get("perform_comparison", "Enabled")) == "Enabled"
    n_tests = max(1, len(present)) if compare else 1
    per_test = alpha / n_tests
    n_items = int((base.stats.get("dataset") or {}).get("item_count") or 0)
    violations: list[dict[str, Any]] = []
    table: list[FeatureDrift] = []
    for n in base.names:
        if n not in present:
            violations.append(violation(n, "missing_column_check",
                                        f"Baseline feature '{n}' is missing from the current data."))
    for col in header:
        if col not in kinds and col not in skip:
            violations.append(violation(col, "extra_column_check",
                                        f"Column '{col}' is in the current data but not in the baseline."))
    for f in base.features:
        name = str(f["name"])
        if name not in present:
            continue
        st = base.stat_by[name]
        if name in nums:
            row = compare_numeric(name, kinds[name], st, f, nums[name], method, dist, per_test, min_effect)
            violations += numeric_checks(name, kinds[name], f, nums[name], mc)
        else:
            row = compare_text(name, st, f, txts[name], method, dist, per_test, min_effect)
            violations += domain_check(name, f, txts[name], mc)
        prof = nums.get(name) or txts[name]
        n_ok = prof.n_present + getattr(prof, "n_bad", 0)
        violations += completeness_check(row, f, n_items, n_ok, n_ok + prof.n_missing, method,
                                         per_test, td)
        if row.drifted and compare:
            violations.append(violation(name, "baseline_drift_check", drift_text(row)))
        table.append(row)
    result = DriftResult(table, violations, rows, data, base.where, method,
                         alpha if method == "calibrated" else None,
                         min_effect if method == "calibrated" else None)
    result.statistics = _current_statistics(rows, nums, txts, kinds, base.stat_by)
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
# output


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
