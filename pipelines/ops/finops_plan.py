"""The FinOps plan of a pipeline and the resources it wants, as pure data (no AWS calls).

``plan_finops`` reads the config's cost section; the ``*_spec`` functions give the SNS topic's
policy, the budget and its notifications, the anomaly monitor and subscription, and the under-use
alarms exactly as the AWS requests take them, so ``budgets`` can compare and deploy them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from trainguard.steps.cost_tags import COST_TAG_KEYS, cost_allocation_tags
from trainguard.training.config import Config
from trainguard.training.errors import ConfigError

__all__ = ["ACTUAL_PERCENT", "FORECAST_PERCENT", "PIPELINE_TAG", "Capacity", "FinOpsPlan", "alarm_specs", "amount_text",
           "budget_spec", "monitor_spec", "notification_specs", "plan_finops", "subscription_spec", "topic_arn",
           "topic_policy"]

PIPELINE_TAG = COST_TAG_KEYS[0]
FORECAST_PERCENT = 80.0
ACTUAL_PERCENT = 100.0
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PLACEHOLDER_KEY = re.compile(r"key/0{8}-0{4}-0{4}-0{4}-0{12}$")


@dataclass(frozen=True)
class FinOpsPlan:
    """What ``trainguard budgets`` manages for one pipeline, derived from the config alone."""

    pipeline: str
    region: str
    amount: float
    currency: str
    kms_key_id: str
    emails: tuple[str, ...]
    anomaly_threshold: float
    endpoints: tuple[tuple[str, str], ...]
    """(endpoint name, variant name) pairs to watch for under-use."""
    idle_invocations: int
    low_cpu_percent: float
    low_gpu_percent: float | None
    """None: no GPU alarm (GPU instance types are not allowed)."""
    tags: tuple[tuple[str, str], ...]

    @property
    def budget_name(self) -> str:
        return f"{self.pipeline}-cost"

    @property
    def topic_name(self) -> str:
        return f"{self.pipeline}-cost-alerts"

    @property
    def monitor_name(self) -> str:
        return f"{self.pipeline}-cost-anomalies"

    @property
    def subscription_name(self) -> str:
        return f"{self.pipeline}-cost-anomaly-alerts"

    @property
    def tag_filter(self) -> str:
        """Budgets' TagKeyValue filter: ``user:<key>$<value>`` (user-defined cost-allocation tag)."""
        return f"user:{PIPELINE_TAG}${self.pipeline}"


def plan_finops(cfg: Config) -> FinOpsPlan:
    """The plan, or ConfigError naming the key, before any AWS call."""
    c = cfg.cost
    problems = []
    if c.budget_usd is None:
        problems.append("cost.budget_usd is not set: give the monthly budget for this pipeline's "
                        "tagged spend, e.g. --set cost.budget_usd=200.")
    key = cfg.security.kms_key_id
    if not key or _PLACEHOLDER_KEY.search(key):
        problems.append("security.kms_key_id must name your KMS key: the alert topic is encrypted "
                        "with it (the placeholder default is not a key).")
    bad = [e for e in c.alert_emails if not _EMAIL.match(e)]
    if bad:
        problems.append(f"cost.alert_emails has addresses that are not email addresses: {', '.join(bad)}.")
    endpoints = []
    for item in c.endpoints:
        name, _, variant = item.partition("/")
        if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name):
            problems.append(f"cost.endpoints: {item!r} is not an endpoint name (give NAME or NAME/VARIANT).")
        endpoints.append((name, variant or "AllTraffic"))
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else
                          f"{len(problems)} config problems:\n" + "\n".join(f"  - {p}" for p in problems))
    return FinOpsPlan(pipeline=cfg.aws.pipeline_name, region=cfg.aws.region, amount=float(c.budget_usd),
                      currency=c.currency, kms_key_id=str(key), emails=tuple(c.alert_emails),
                      anomaly_threshold=c.anomaly_threshold_usd, endpoints=tuple(endpoints),
                      idle_invocations=c.idle_invocations_per_day, low_cpu_percent=c.low_cpu_percent,
                      low_gpu_percent=c.low_gpu_percent if c.allow_gpu else None,
                      tags=tuple(cost_allocation_tags(cfg).items()))


# --------------------------------------------------------------------------------------------
# the desired resources (pure)


def topic_arn(plan: FinOpsPlan, account: str) -> str:
    """The alert topic's ARN (names are unique per account and region)."""
    return f"arn:aws:sns:{plan.region}:{account}:{plan.topic_name}"


def topic_policy(plan: FinOpsPlan, account: str) -> dict[str, Any]:
    """The topic's access policy: the account manages it; Budgets, Cost Anomaly Detection and
    CloudWatch alarms of this account may publish."""
    arn = topic_arn(plan, account)
    own = {"StringEquals": {"aws:SourceAccount": account}}
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountManagesTopic", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:Subscribe",
                    "SNS:ListSubscriptionsByTopic", "SNS:Publish", "SNS:DeleteTopic"],
         "Resource": arn},
        {"Sid": "BudgetsPublish", "Effect": "Allow", "Principal": {"Service": "budgets.amazonaws.com"},
         "Action": "SNS:Publish", "Resource": arn,
         "Condition": {**own, "ArnLike": {"aws:SourceArn": f"arn:aws:budgets::{account}:*"}}},
        {"Sid": "CostAnomalyDetectionPublish", "Effect": "Allow",
         "Principal": {"Service": "costalerts.amazonaws.com"}, "Action": "SNS:Publish",
         "Resource": arn, "Condition": own},
        {"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
         "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "SNS:Publish", "Resource": arn,
         "Condition": {**own, "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{plan.region}:{account}:alarm:*"}}},
    ]}


def budget_spec(plan: FinOpsPlan) -> dict[str, Any]:
    """The Budget: monthly cost of everything tagged with this pipeline's cost-allocation tag."""
    return {"BudgetName": plan.budget_name, "BudgetType": "COST", "TimeUnit": "MONTHLY",
            "BudgetLimit": {"Amount": amount_text(plan.amount), "Unit": plan.currency},
            "CostFilters": {"TagKeyValue": [plan.tag_filter]}}


def notification_specs() -> list[dict[str, Any]]:
    """Forecast over 80% and actual over 100% of the budget."""
    return [{"NotificationType": "FORECASTED", "ComparisonOperator": "GREATER_THAN",
             "Threshold": FORECAST_PERCENT, "ThresholdType": "PERCENTAGE"},
            {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
             "Threshold": ACTUAL_PERCENT, "ThresholdType": "PERCENTAGE"}]


def monitor_spec(plan: FinOpsPlan) -> dict[str, Any]:
    """A customer-managed anomaly monitor over the spend carrying this pipeline's tag."""
    return {"MonitorName": plan.monitor_name, "MonitorType": "CUSTOM",
            "MonitorSpecification": {"Tags": {"Key": PIPELINE_TAG, "Values": [plan.pipeline]}}}


def subscription_spec(plan: FinOpsPlan, monitor_arn: str, topic: str) -> dict[str, Any]:
    """IMMEDIATE alerts to the topic for anomalies of at least the threshold (SNS needs IMMEDIATE)."""
    return {"SubscriptionName": plan.subscription_name, "MonitorArnList": [monitor_arn],
            "Subscribers": [{"Type": "SNS", "Address": topic}], "Frequency": "IMMEDIATE",
            "ThresholdExpression": {"Dimensions": {
                "Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE", "Values": [amount_text(plan.anomaly_threshold)],
                "MatchOptions": ["GREATER_THAN_OR_EQUAL"]}}}


Capacity = dict[tuple[str, str], tuple[int, int]]
"""(endpoint, variant) -> (vCPUs, GPUs) of one of its instances."""


def alarm_specs(plan: FinOpsPlan, topic: str, capacity: Capacity | None = None) -> list[dict[str, Any]]:
    """Per endpoint: near-zero invocations over a day, and low average CPU over a day.

    CloudWatch sums CPUUtilization (GPUUtilization) over an instance's vCPUs (GPUs), so where the
    variant's instance is known (``capacity``) the threshold is the percentage times their number:
    ``low_cpu_percent`` then means a share of the whole instance.
    """
    out = []
    for name, variant in plan.endpoints:
        vcpus, gpus = (capacity or {}).get((name, variant), (1, 1))
        dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": variant}]
        out.append({"AlarmName": f"{plan.pipeline}-{name}-idle",
                    "AlarmDescription": f"{name}/{variant} served fewer than {plan.idle_invocations} "
                                        "invocations in a day: it bills for an idle instance.",
                    "Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": dims,
                    "Statistic": "Sum", "Period": 86400, "EvaluationPeriods": 1,
                    "Threshold": float(plan.idle_invocations), "ComparisonOperator": "LessThanThreshold",
                    "TreatMissingData": "breaching", "AlarmActions": [topic]})
        out.append({"AlarmName": f"{plan.pipeline}-{name}-low-cpu",
                    "AlarmDescription": f"{name}/{variant} averaged under {plan.low_cpu_percent:g}% CPU "
                                        f"(x {vcpus} vCPUs) for a day: a smaller instance type would do.",
                    "Namespace": "/aws/sagemaker/Endpoints", "MetricName": "CPUUtilization",
                    "Dimensions": dims, "Statistic": "Average", "Period": 3600, "EvaluationPeriods": 24,
                    "Threshold": float(plan.low_cpu_percent * vcpus), "ComparisonOperator": "LessThanThreshold",
                    "TreatMissingData": "notBreaching", "AlarmActions": [topic]})
        if plan.low_gpu_percent is not None:
            out.append({**out[-1], "AlarmName": f"{plan.pipeline}-{name}-low-gpu",
                        "AlarmDescription": f"{name}/{variant} averaged under {plan.low_gpu_percent:g}% "
                                            f"GPU (x {gpus} GPUs) for a day: a CPU or smaller GPU instance "
                                            "would do.",
                        "MetricName": "GPUUtilization", "Threshold": float(plan.low_gpu_percent * gpus)})
    return out


def amount_text(value: float) -> str:
    """An amount as the Budgets API writes it (two decimals)."""
    return f"{value:.2f}"
