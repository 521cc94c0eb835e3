"""CloudWatch alarms on the endpoint and on model quality and drift, and their SNS topic.

Endpoint alarms read the endpoint's own metrics (``AWS/SageMaker``, dimensions EndpointName and
VariantName; ModelLatency is in microseconds). Quality and drift alarms read the metrics
``trainguard ops publish`` writes under ``alarms.namespace`` with the package group as dimension.
Thresholds come from the Approved package's evaluation report (its baselines) and the config; a
threshold outside its metric's range is refused, naming the key, before any call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors, unless_missing
from trainguard.pipelines.ops.common import MANAGED_TAG, Printer, account_of, managed_tags, tag_list
from trainguard.training.config import Config

__all__ = [
    "QUALITY_METRICS",
    "AlarmSpec",
    "alarm_specs",
    "check_topic",
    "dead_letter_alarm",
    "dead_letter_alarm_name",
    "diff_alarms",
    "endpoint_alarm_names",
    "package_baselines",
    "quality_alarm_names",
    "remove_alarms",
    "topic_arn",
    "topic_changes",
    "topic_policy",
    "upsert_alarms",
    "upsert_endpoint_alarms",
    "upsert_topic",
]

QUALITY_METRICS = ("auc", "precision", "recall")
DRIFT_METRIC = "drifted_features"
FEATURE_METRIC = "feature_drift"
GROUP_DIMENSION = "ModelPackageGroup"
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([\w-]{1,256})$")
_COMPARED = ("Namespace", "MetricName", "Statistic", "ExtendedStatistic", "Period", "EvaluationPeriods",
             "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
             "AlarmActions", "OKActions", "AlarmDescription")


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: its PutMetricAlarm request and whether its ALARM state should start retraining."""

    request: dict[str, Any]
    retrain: bool

    @property
    def name(self) -> str:
        """The alarm's name."""
        return str(self.request["AlarmName"])


def endpoint_alarm_names(cfg: Config) -> list[str]:
    """The endpoint's latency and 5XX alarms: the blue/green update rolls back on these."""
    e = cfg.deploy.endpoint_name
    return [f"{e}-model-latency-p99", f"{e}-invocation-5xx"]


def quality_alarm_names(cfg: Config) -> list[str]:
    """The degradation alarms on the published quality and drift metrics (these start retraining)."""
    g = cfg.registry.model_package_group
    return [f"{g}-{m}-low" for m in QUALITY_METRICS] + [f"{g}-drifted-features"]


def dead_letter_alarm_name(cfg: Config) -> str:
    """The alarm on the triggers' dead-letter queue: a start or a publication that gave up."""
    return f"{cfg.triggers.dead_letter_queue}-not-empty"


def dead_letter_alarm(cfg: Config, topic: str) -> AlarmSpec:
    """ALARM as soon as the dead-letter queue holds a message: a retraining start, a monitoring start
    or a metric publication failed after its retries, so the on-call hears of it instead of the
    degradation alarms silently sleeping. SQS publishes ``ApproximateNumberOfMessagesVisible``
    under ``AWS/SQS`` with the ``QueueName`` dimension; it never starts retraining itself."""
    queue = cfg.triggers.dead_letter_queue
    return AlarmSpec({
        **_base(cfg, dead_letter_alarm_name(cfg), topic,
                f"the dead-letter queue {queue} holds a failed start or publication: read the message "
                "(it names the error), fix the cause, then delete it"),
        "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": queue}], "Statistic": "Maximum",
        "Period": 300, "EvaluationPeriods": 1, "DatapointsToAlarm": 1, "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"},
        retrain=False)


def topic_arn(cfg: Config, account: str) -> str:
    """alarms.topic_arn, or the ARN of the topic named alarms.topic_name in aws.region."""
    return cfg.alarms.topic_arn or f"arn:aws:sns:{cfg.aws.region}:{account}:{cfg.alarms.topic_name}"


def check_topic(cfg: Config) -> None:
    """DeployError when alarms.topic_arn is malformed or in another region (alarms notify only
    topics in their own region)."""
    arn = cfg.alarms.topic_arn
    if arn is None:
        return
    m = _TOPIC_ARN.match(arn)
    if not m:
        raise DeployError(f"alarms.topic_arn {arn!r} is not an SNS topic ARN "
                          "(arn:aws:sns:<region>:<account>:<name>).")
    if m.group(1) != cfg.aws.region:
        raise DeployError(f"alarms.topic_arn {arn} is in {m.group(1)}, but the alarms are in "
                          f"aws.region {cfg.aws.region}: CloudWatch notifies only topics in the "
                          "alarm's region. Use a topic there, or unset alarms.topic_arn.")


def topic_policy(arn: str, account: str) -> dict[str, Any]:
    """The topic's access policy: the account manages it; CloudWatch and Budgets may publish, for
    this account's alarms and budgets only."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountManages", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": ["sns:GetTopicAttributes", "sns:Publish", "sns:SetTopicAttributes", "sns:Subscribe"],
         "Resource": arn},
        {"Sid": "AlarmsAndBudgetsPublish", "Effect": "Allow",
         "Principal": {"Service": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]},
         "Action": "sns:Publish", "Resource": arn,
         "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]}


def _topic_attributes(sns: Any, arn: str) -> dict[str, Any] | None:
    found = unless_missing("sns:GetTopicAttributes", lambda: sns.get_topic_attributes(TopicArn=arn),
                           ("NotFound", "NotFoundException", "404"))
    return dict(found["Attributes"]) if found is not None else None


def _topic_wanted(cfg: Config, arn: str, account: str) -> dict[str, str]:
    return {"KmsMasterKeyId": str(cfg.security.kms_key_id),
            "Policy": json.dumps(topic_policy(arn, account), sort_keys=True)}


def _topic_differs(attrs: Mapping[str, Any], key: str, value: str) -> bool:
    if key == "Policy":
        return _json_or_none(attrs.get(key)) != json.loads(value)
    return attrs.get(key) != value


def _refuse_foreign_topic(sns: Any, arn: str) -> None:
    with aws_errors("sns:ListTagsForResource"):
        tags = sns.list_tags_for_resource(ResourceArn=arn).get("Tags") or []
    if not any(t.get("Key") == MANAGED_TAG for t in tags):
        raise DeployError(f"topic {arn} exists but was not created by trainguard; set "
                          "alarms.topic_arn to use it as it is, or choose another alarms.topic_name.")


def topic_changes(sns: Any, cfg: Config, account: str) -> list[str]:
    """What ``upsert_topic`` would change, one line each ([] when nothing); an existing
    ``alarms.topic_arn`` is only read, never changed."""
    check_topic(cfg)
    arn = topic_arn(cfg, account)
    if cfg.alarms.topic_arn:
        with aws_errors("sns:GetTopicAttributes"):
            sns.get_topic_attributes(TopicArn=arn)
        return []
    attrs = _topic_attributes(sns, arn)
    if attrs is None:
        return [f"+ topic {arn} (KMS-encrypted)"]
    differ = [k for k, v in _topic_wanted(cfg, arn, account).items() if _topic_differs(attrs, k, v)]
    if differ:
        _refuse_foreign_topic(sns, arn)
    return [f"topic {arn}: {', '.join(differ)}"] if differ else []


def upsert_topic(sns: Any, cfg: Config, account: str, out: Printer = print) -> str:
    """The alarm topic's ARN; creates it (KMS-encrypted, with ``topic_policy``) when missing and
    sets its attributes only when they differ (and only on a topic trainguard created)."""
    check_topic(cfg)
    arn = topic_arn(cfg, account)
    if cfg.alarms.topic_arn:
        with aws_errors("sns:GetTopicAttributes"):
            sns.get_topic_attributes(TopicArn=arn)
        return arn
    wanted = _topic_wanted(cfg, arn, account)
    attrs = _topic_attributes(sns, arn)
    if attrs is None:
        with aws_errors("sns:CreateTopic"):
            sns.create_topic(Name=cfg.alarms.topic_name, Attributes=wanted,
                             Tags=tag_list(managed_tags(cfg, "alarms")))
        out(f"created topic {arn} (KMS-encrypted)")
        return arn
    if any(_topic_differs(attrs, k, v) for k, v in wanted.items()):
        _refuse_foreign_topic(sns, arn)
    for key, value in wanted.items():
        if _topic_differs(attrs, key, value):
            with aws_errors("sns:SetTopicAttributes"):
                sns.set_topic_attributes(TopicArn=arn, AttributeName=key, AttributeValue=value)
            out(f"topic {arn}: {key} updated")
    return arn


def _json_or_none(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _base(cfg: Config, name: str, topic: str, description: str) -> dict[str, Any]:
    return {"AlarmName": name, "AlarmDescription": description, "ActionsEnabled": True,
            "AlarmActions": [topic], "OKActions": [topic]}


def alarm_specs(cfg: Config, topic: str, baselines: Mapping[str, float] | None,
                *, endpoint: bool = True, quality: bool = True) -> list[AlarmSpec]:
    """Every alarm's request. ``baselines`` are the Approved package's test metrics (auc,
    precision, recall); each quality threshold is ``alarms.min_<m>`` or baseline minus
    ``alarms.<m>_drop``. DeployError naming the key for a threshold outside [0, 1] or a quality
    threshold with neither a baseline nor a configured minimum."""
    a, d = cfg.alarms, cfg.deploy
    specs: list[AlarmSpec] = []
    if endpoint:
        dims = [{"Name": "EndpointName", "Value": d.endpoint_name},
                {"Name": "VariantName", "Value": d.variant_name}]
        latency, errors = endpoint_alarm_names(cfg)
        specs.append(AlarmSpec({
            **_base(cfg, latency, topic, f"p99 model latency above {a.latency_p99_ms} ms "
                                         "(alarms.latency_p99_ms); rolls back a blue/green update"),
            "Namespace": "AWS/SageMaker", "MetricName": "ModelLatency", "Dimensions": dims,
            "ExtendedStatistic": "p99", "Period": a.period_seconds,
            "EvaluationPeriods": a.evaluation_periods, "DatapointsToAlarm": a.evaluation_periods,
            "Threshold": a.latency_p99_ms * 1000.0,  # ModelLatency is in microseconds
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"},
            retrain=False))
        specs.append(AlarmSpec({
            **_base(cfg, errors, topic, f"more than {a.max_5xx_errors:g} 5XX errors per period "
                                        "(alarms.max_5xx_errors); rolls back a blue/green update"),
            "Namespace": "AWS/SageMaker", "MetricName": "Invocation5XXErrors", "Dimensions": dims,
            "Statistic": "Sum", "Period": a.period_seconds,
            "EvaluationPeriods": a.evaluation_periods, "DatapointsToAlarm": a.evaluation_periods,
            "Threshold": float(a.max_5xx_errors), "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching"}, retrain=False))
    if quality:
        group_dim = [{"Name": GROUP_DIMENSION, "Value": cfg.registry.model_package_group}]
        names = quality_alarm_names(cfg)
        for metric, name in zip(QUALITY_METRICS, names, strict=False):
            threshold = quality_threshold(cfg, metric, baselines)
            specs.append(AlarmSpec({
                **_base(cfg, name, topic, f"{metric} below {threshold:.4f} on the latest quality "
                                          "check; starts retraining"),
                "Namespace": a.namespace, "MetricName": metric, "Dimensions": group_dim,
                "Statistic": "Minimum", "Period": a.period_seconds, "EvaluationPeriods": 1,
                "DatapointsToAlarm": 1, "Threshold": threshold,
                "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "notBreaching"},
                retrain=True))
        specs.append(AlarmSpec({
            **_base(cfg, names[-1], topic, f"more than {a.max_drifted_features} drifted features "
                                           "(alarms.max_drifted_features); starts retraining"),
            "Namespace": a.namespace, "MetricName": DRIFT_METRIC, "Dimensions": group_dim,
            "Statistic": "Maximum", "Period": a.period_seconds, "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1, "Threshold": float(a.max_drifted_features),
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"},
            retrain=True))
    return specs


def quality_threshold(cfg: Config, metric: str, baselines: Mapping[str, float] | None) -> float:
    """The alarm threshold of a quality metric; DeployError naming the key when outside [0, 1]."""
    fixed = getattr(cfg.alarms, f"min_{metric}")
    if fixed is not None:
        return float(fixed)
    drop = float(getattr(cfg.alarms, f"{metric}_drop"))
    base = (baselines or {}).get(metric)
    if base is None:
        raise DeployError(f"alarms.min_{metric} is not set and the Approved package has no {metric} "
                          f"baseline; set alarms.min_{metric}, or approve a package registered by "
                          "trainguard (its evaluation report holds the baseline).")
    threshold = float(base) - drop
    if not 0.0 <= threshold <= 1.0:
        raise DeployError(f"alarms.{metric}_drop {drop} with the package's baseline {metric} "
                          f"{float(base):.4f} gives the threshold {threshold:.4f}, outside {metric}'s "
                          f"range [0, 1]; lower alarms.{metric}_drop or set alarms.min_{metric}.")
    return threshold


def _normal(alarm: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: alarm.get(k) for k in _COMPARED}
    out["Dimensions"] = sorted((d["Name"], d["Value"]) for d in alarm.get("Dimensions") or [])
    out["Threshold"] = float(out["Threshold"]) if out["Threshold"] is not None else None
    return out


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(("=".join(v) if isinstance(v, tuple) else str(v)) for v in value) + "]"
    return "none" if value is None else str(value)


def diff_alarms(cw: Any, specs: list[AlarmSpec]) -> tuple[list[str], list[str]]:
    """(change lines, names unchanged): ``+ alarm NAME (...)`` for one to create, ``alarm NAME:
    Field old → new`` for each field that differs. An alarm of the same name that trainguard did
    not create is refused (DeployError), as the upsert would refuse it."""
    names = [s.name for s in specs]
    with aws_errors("cloudwatch:DescribeAlarms"):
        found = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=names).get("MetricAlarms") or []}
    lines, same = [], []
    for spec in specs:
        r = spec.request
        current = found.get(spec.name)
        if current is None:
            lines.append(f"+ alarm {spec.name} ({r['Namespace']} {r['MetricName']} "
                         f"{r['ComparisonOperator'].replace('Threshold', '')} {float(r['Threshold']):g})")
            continue
        seen, wanted = _normal(current), _normal(r)
        fields = [k for k in wanted if seen.get(k) != wanted[k]]
        if not fields:
            same.append(spec.name)
            continue
        if not _managed_alarm(cw, current["AlarmArn"]):
            raise DeployError(f"alarm {spec.name} exists but was not created by trainguard; "
                              "rename or delete it.")
        lines.append(f"alarm {spec.name}: " + ", ".join(
            f"{k} {_shown(seen.get(k))} → {_shown(wanted[k])}" for k in fields))
    return lines, same


def upsert_alarms(cw: Any, cfg: Config, specs: list[AlarmSpec], owner: str,
                  out: Printer = print, apply: bool = True) -> list[str]:
    """Create or update the alarms that differ from ``specs``; returns the names put (none on a
    no-op). An alarm of the same name that trainguard did not create is refused, not overwritten."""
    names = [s.name for s in specs]
    with aws_errors("cloudwatch:DescribeAlarms"):
        found = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=names).get("MetricAlarms") or []}
    changed = []
    for spec in specs:
        current = found.get(spec.name)
        if current is not None:
            if _normal(current) == _normal(spec.request):
                continue
            if not _managed_alarm(cw, current["AlarmArn"]):
                raise DeployError(f"alarm {spec.name} exists but was not created by trainguard; "
                                  "rename or delete it.")
        changed.append(spec.name)
        if not apply:
            continue
        with aws_errors("cloudwatch:PutMetricAlarm"):
            cw.put_metric_alarm(**spec.request, Tags=tag_list(managed_tags(cfg, owner)))
        out(f"alarm {spec.name} {'updated' if current else 'created'}")
    return changed


def _managed_alarm(cw: Any, arn: str) -> bool:
    with aws_errors("cloudwatch:ListTagsForResource"):
        tags = cw.list_tags_for_resource(ResourceARN=arn).get("Tags") or []
    return any(t.get("Key") == MANAGED_TAG for t in tags)


def upsert_endpoint_alarms(cw: Any, sns: Any, cfg: Config, out: Printer = print) -> list[str]:
    """The topic and the endpoint's two alarms (the deploy's rollback alarms)."""
    account = account_of(cfg.aws.role_arn)
    topic = upsert_topic(sns, cfg, account, out)
    return upsert_alarms(cw, cfg, alarm_specs(cfg, topic, None, quality=False),
                         cfg.deploy.endpoint_name, out)


def package_baselines(s3: Any, sm: Any, cfg: Config) -> tuple[dict[str, float], str | None]:
    """The champion's test metrics (auc, precision, recall) and its ARN, read as every starter
    reads the champion; ({}, None) when the group has no Approved package."""
    from trainguard.pipelines.registry.sagemaker import SageMakerRegistry

    champion = SageMakerRegistry(sm, s3).champion(cfg.registry.model_package_group)
    if champion is None:
        return {}, None
    values = {m: champion.metrics.get(m) for m in QUALITY_METRICS}
    return {m: float(v) for m, v in values.items() if v is not None}, champion.lineage.get("arn")


def remove_alarms(cw: Any, names: list[str], owner: str) -> list[str]:
    """Delete those of ``names`` tagged as created by trainguard for ``owner``; returns them."""
    with aws_errors("cloudwatch:DescribeAlarms"):
        found = cw.describe_alarms(AlarmNames=names).get("MetricAlarms") or []
    gone = []
    for alarm in found:
        with aws_errors("cloudwatch:ListTagsForResource"):
            tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags") or []
        if {"Key": MANAGED_TAG, "Value": owner} in tags:
            gone.append(alarm["AlarmName"])
    if gone:
        with aws_errors("cloudwatch:DeleteAlarms"):
            cw.delete_alarms(AlarmNames=gone)
    return gone
