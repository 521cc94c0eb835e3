"""The check results as CloudWatch metrics: what the alarms read, published from outside the jobs.

The drift/quality check runs as a network-isolated job and writes Model Monitor's
``constraint_violations.json`` and trainguard's per-feature table ``drift_report.json`` to S3. It
cannot reach CloudWatch, by design. ``publish`` runs where the egress is (the ops command in CI or
on a schedule), reads those files, and puts: ``drifted_features`` (features with a
baseline_drift_check violation), ``feature_drift`` per feature (its distance), and the quality
metrics (auc, precision, recall) measured on labelled production data; all under
``alarms.namespace`` with the package group (and feature) as dimensions.

``publish_execution`` does the same, automatically, for the function an EventBridge rule invokes
when a monitoring execution ends: the check of execution ``<id>`` is at the run prefix the
definition gives it (``runs/<id>/monitor``), so no SageMaker call is needed to find it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors, unless_missing
from trainguard.pipelines.ops.alarms import DRIFT_METRIC, FEATURE_METRIC, GROUP_DIMENSION, QUALITY_METRICS
from trainguard.steps.locations import monitor_output_uri, monitoring_pipeline_name
from trainguard.training.config import Config

__all__ = ["ENDED", "PIPELINE_EVENT", "REPORT", "VIOLATIONS", "CheckResult", "check_metrics",
           "monitored_execution", "publish", "publish_execution", "read_check"]

VIOLATIONS = "constraint_violations.json"
REPORT = "drift_report.json"
PIPELINE_EVENT = "SageMaker Model Building Pipeline Execution Status Change"
"""``detail-type`` of SageMaker's pipeline execution events (SageMaker developer guide, "Events
that SageMaker sends to EventBridge", pipeline execution state change)."""
ENDED = ("Succeeded", "Failed")
"""The end states that carry a check: ``Failed`` is how DriftCondition reports drift."""
_EXECUTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):(\d{12}):pipeline/([^/]{1,256})/execution/([A-Za-z0-9]{1,64})$")


class CheckResult(dict[str, Any]):
    """The parsed check: ``violations`` (list) and ``report`` (dict, {} when absent)."""


def _parse(raw: bytes, where: str) -> Any:
    try:  # bytes: JSON's own encodings; anything else (not UTF-8, not JSON) is a ValueError
        return json.loads(raw)
    except ValueError as exc:
        raise DeployError(f"{where} is not JSON ({exc}); point --check at a check's output.") from None


def read_check(source: str | Path, s3: Any = None) -> CheckResult:
    """The check at a folder (or an ``s3://`` prefix with an S3 client): constraint_violations.json
    is required, drift_report.json optional. DeployError when the violations file is missing or
    malformed."""
    text: dict[str, bytes | None] = {}
    src = str(source)
    if src.startswith("s3://"):
        bucket, _, prefix = src[len("s3://"):].partition("/")
        for name in (VIOLATIONS, REPORT):
            key = f"{prefix.rstrip('/')}/{name}" if prefix else name
            found = unless_missing("s3:GetObject", lambda key=key: s3.get_object(Bucket=bucket, Key=key),
                                   ("NoSuchKey", "404"))
            with aws_errors("s3:GetObject"):
                text[name] = found["Body"].read() if found is not None else None
    else:
        folder = Path(src)
        if not folder.is_dir():
            raise DeployError(f"--check {folder} is not a folder; pass the folder holding "
                              f"{VIOLATIONS} (a drift check's --out).")
        for name in (VIOLATIONS, REPORT):
            path = folder / name
            try:
                text[name] = path.read_bytes() if path.is_file() else None
            except OSError as exc:
                raise DeployError(f"cannot read {path}: {exc.strerror}; make it readable, or point "
                                  "--check at a check's output.") from None
    if text[VIOLATIONS] is None:
        raise DeployError(f"{src} has no {VIOLATIONS}; the check did not finish (it writes that "
                          "file last). Rerun the check, or point --check at its output.")
    violations = _parse(text[VIOLATIONS], f"{src}/{VIOLATIONS}")
    if not isinstance(violations, Mapping) or not isinstance(violations.get("violations"), list):
        raise DeployError(f"{src}/{VIOLATIONS} must hold {{\"violations\": [...]}} (Model Monitor's "
                          "format).")
    report = _parse(text[REPORT], f"{src}/{REPORT}") if text[REPORT] else {}
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


def publish(cw: Any, cfg: Config, check: Mapping[str, Any], at: dt.datetime | None = None
            ) -> list[dict[str, Any]]:
    """Put the check's metrics under alarms.namespace (in batches CloudWatch accepts); returns them.
    ``at`` stamps every value (a retried publication then repeats the same data points)."""
    data = check_metrics(cfg, check)
    if at is not None:
        data = [{**d, "Timestamp": at} for d in data]
    for i in range(0, len(data), 500):  # PutMetricData takes at most 1000 values per call
        with aws_errors("cloudwatch:PutMetricData"):
            cw.put_metric_data(Namespace=cfg.alarms.namespace, MetricData=data[i:i + 500])
    return data


def monitored_execution(cfg: Config, event: Mapping[str, Any]) -> tuple[str, str, str]:
    """(execution ARN, execution id, status) of the monitoring pipeline's end event; DeployError
    for any other event: another pipeline or region, a status other than Succeeded or Failed."""
    detail = event.get("detail") if isinstance(event.get("detail"), Mapping) else {}
    arn = str(detail.get("pipelineExecutionArn") or "")
    status = str(detail.get("currentPipelineExecutionStatus") or "")
    wanted = monitoring_pipeline_name(cfg.aws.pipeline_name)
    m = _EXECUTION_ARN.match(arn)
    if event.get("detail-type") != PIPELINE_EVENT or not m:
        raise DeployError(f"not a pipeline execution event with a pipelineExecutionArn ({arn!r}); "
                          "only the trainguard monitoring rule invokes this path.")
    # SageMaker may report the pipeline name in another case than it was created with
    if m.group(3).lower() != wanted.lower() or m.group(1) != cfg.aws.region:
        raise DeployError(f"execution {arn} is not of the monitoring pipeline {wanted} in "
                          f"{cfg.aws.region}; nothing is published for it.")
    if status not in ENDED:
        raise DeployError(f"execution {arn} is {status or 'without a status'}; only an execution "
                          f"that ended ({' or '.join(ENDED)}) has a check to publish.")
    return arn, m.group(4), status


def _end_time(detail: Mapping[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(detail.get("executionEndTime")).replace("Z", "+00:00"))
    except ValueError:
        return None


def publish_execution(cfg: Config, event: Mapping[str, Any], s3: Any, cw: Any) -> dict[str, Any]:
    """Publish the check of the monitoring execution that ``event`` reports as ended. Raises
    DeployError when there is no readable check (the invocation is retried, then dead-lettered):
    a monitoring run that leaves no result must not pass as a quiet one."""
    arn, execution_id, status = monitored_execution(cfg, event)
    source = monitor_output_uri(cfg, execution_id)
    try:
        check = read_check(source, s3)
    except DeployError as exc:
        raise DeployError(f"monitoring execution {arn} ended {status} without a readable check at "
                          f"{source}: {exc}") from None
    data = publish(cw, cfg, check, _end_time(event.get("detail") or {}))
    return {"PipelineExecutionArn": arn, "Check": source, "Published": len(data)}
