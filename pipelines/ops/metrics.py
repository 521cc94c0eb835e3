"""The check results as CloudWatch metrics: what the alarms read, published from outside the jobs.

The drift/quality check runs as a network-isolated job and writes Model Monitor's
``constraint_violations.json`` and trainguard's per-feature table ``drift_report.json`` to S3. It
cannot reach CloudWatch, by design. ``publish`` runs where the egress is (the ops command in CI or
on a schedule), reads those files, and puts: ``drifted_features`` (features with a
baseline_drift_check violation), ``feature_drift`` per feature (its distance), and the quality
metrics (auc, precision, recall) measured on labelled production data; all under
``alarms.namespace`` with the package group (and feature) as dimensions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors
from trainguard.pipelines.ops.alarms import DRIFT_METRIC, FEATURE_METRIC, GROUP_DIMENSION, QUALITY_METRICS
from trainguard.training.config import Config

__all__ = ["REPORT", "VIOLATIONS", "CheckResult", "check_metrics", "publish", "read_check"]

VIOLATIONS = "constraint_violations.json"
REPORT = "drift_report.json"


class CheckResult(dict[str, Any]):
    """The parsed check: ``violations`` (list) and ``report`` (dict, {} when absent)."""


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DeployError(f"{where} is not JSON ({exc}); point --check at a check's output.") from None


def read_check(source: str | Path, s3: Any = None) -> CheckResult:
    """The check at a folder (or an ``s3://`` prefix with an S3 client): constraint_violations.json
    is required, drift_report.json optional. DeployError when the violations file is missing or
    malformed."""
    text: dict[str, str | None] = {}
    src = str(source)
    if src.startswith("s3://"):
        import botocore.exceptions

        bucket, _, prefix = src[len("s3://"):].partition("/")
        for name in (VIOLATIONS, REPORT):
            key = f"{prefix.rstrip('/')}/{name}" if prefix else name
            with aws_errors("s3:GetObject"):
                try:
                    text[name] = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
                except botocore.exceptions.ClientError as exc:
                    if (exc.response.get("Error") or {}).get("Code") not in {"NoSuchKey", "404"}:
                        raise
                    text[name] = None
    else:
        folder = Path(src)
        if not folder.is_dir():
            raise DeployError(f"--check {folder} is not a folder; pass the folder holding "
                              f"{VIOLATIONS} (a drift check's --out).")
        for name in (VIOLATIONS, REPORT):
            path = folder / name
            text[name] = path.read_text(encoding="utf-8") if path.is_file() else None
    if text[VIOLATIONS] is None:
        raise DeployError(f"{src} has no {VIOLATIONS}; the check did not finish (it writes that "
                          "file last). Rerun the check, or point --check at its output.")
    violations = _parse(str(text[VIOLATIONS]), f"{src}/{VIOLATIONS}")
    if not isinstance(violations, Mapping) or not isinstance(violations.get("violations"), list):
        raise DeployError(f"{src}/{VIOLATIONS} must hold {{\"violations\": [...]}} (Model Monitor's "
                          "format).")
    report = _parse(str(text[REPORT]), f"{src}/{REPORT}") if text[REPORT] else {}
    return CheckResult(violations=violations["violations"],
                       report=report if isinstance(report, Mapping) else {})


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def check_metrics(cfg: Config, check: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PutMetricData's MetricData for one check (pure: the explain view uses it too)."""
    group = [{"Name": GROUP_DIMENSION, "Value": cfg.registry.model_package_group}]
    drifted = sorted({str(v.get("feature_name")) for v in check["violations"]
                      if isinstance(v, Mapping) and v.get("constraint_check_type") == "baseline_drift_check"})
    data: list[dict[str, Any]] = [{"MetricName": DRIFT_METRIC, "Dimensions": group,
                                   "Value": float(len(drifted)), "Unit": "Count"}]
    report = check.get("report") or {}
    for row in report.get("features") or []:
        distance = _number(row.get("distance")) if isinstance(row, Mapping) else None
        if distance is not None and row.get("name"):
            data.append({"MetricName": FEATURE_METRIC, "Unit": "None", "Value": distance,
                         "Dimensions": [*group, {"Name": "Feature", "Value": str(row["name"])[:255]}]})
    for row in report.get("model_quality") or []:
        value = _number(row.get("value")) if isinstance(row, Mapping) else None
        if value is not None and row.get("metric") in QUALITY_METRICS:
            data.append({"MetricName": row["metric"], "Dimensions": group, "Value": value, "Unit": "None"})
    return data


def publish(cw: Any, cfg: Config, check: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Put the check's metrics under alarms.namespace (in batches CloudWatch accepts); returns them."""
    data = check_metrics(cfg, check)
    for i in range(0, len(data), 500):  # PutMetricData takes at most 1000 values per call
        with aws_errors("cloudwatch:PutMetricData"):
            cw.put_metric_data(Namespace=cfg.alarms.namespace, MetricData=data[i:i + 500])
    return data
