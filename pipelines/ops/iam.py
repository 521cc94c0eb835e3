"""The policies of the operating side: the starter's role, the schedule's role, the operator.

Derived from the config, scoped to this pipeline, endpoint, alarms, function, schedule, rule and
queue; no wildcard actions. The schedule's role may only invoke the starter (and report to the
dead-letter queue); the starter's role may only read the champion and this pipeline's definition,
start this pipeline and its monitoring pipeline, and read the monitoring pipeline's check results
and put them as metrics in alarms.namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainguard.pipelines.ci.iam import IamError
from trainguard.pipelines.ops.alarms import dead_letter_alarm_name, endpoint_alarm_names, quality_alarm_names
from trainguard.pipelines.ops.common import account_of
from trainguard.pipelines.ops.deploy import capture_uri
from trainguard.pipelines.ops.triggers import ALARM_RULE, MONITOR_RULE, MONITOR_SCHEDULE, rule_name, starter_name
from trainguard.steps.locations import MONITOR_OUTPUT, monitoring_pipeline_name
from trainguard.training.config import Config

__all__ = ["ops_policies"]


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(sid: str, actions: list[str], resource: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource}
    if condition:
        st["Condition"] = condition
    return st


def _trust(service: str, account: str) -> dict[str, Any]:
    return _doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole",
                 "Condition": {"StringEquals": {"aws:SourceAccount": account}}})


def ops_policies(cfg: Config, *, model_role: str, starter_role: str, invoke_role: str) -> dict[str, Any]:
    """{"StarterRole", "InvokeRole", "Operator"}: policy (and trust policy) documents."""
    for flag, role in (("--role-arn", model_role), ("--starter-role-arn", starter_role),
                       ("--invoke-role-arn", invoke_role)):
        if not account_of(role):
            raise IamError(f"{flag} {role!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>).")
    r = _OpsResources.of(cfg)
    pass_to = [("PassModelRole", model_role, "sagemaker.amazonaws.com"),
               ("PassStarterRole", starter_role, "lambda.amazonaws.com"),
               ("PassScheduleRole", invoke_role, "scheduler.amazonaws.com")]
    return {"StarterRole": {"PolicyDocument": _starter_policy(r),
                            "TrustPolicy": _trust("lambda.amazonaws.com", r.account)},
            "InvokeRole": {"PolicyDocument": _invoke_policy(r),
                           "TrustPolicy": _trust("scheduler.amazonaws.com", r.account)},
            "Operator": {"PolicyDocument": _operator_policy(r, pass_to)}}


@dataclass(frozen=True)
class _OpsResources:
    """The ARNs the ops policies are scoped to, from the config."""

    account: str
    region: str
    key_arn: str
    sm: str
    pipeline: str
    monitoring: str
    group: str
    runs: str
    checks: list[str]
    fn_name: str
    fn: str
    queue: str
    schedules: list[str]
    rules: list[str]
    ep: str
    alarms: list[str]
    topic: str
    capture: str
    put_metrics: dict[str, Any]
    kms_use: tuple[str, ...] = ("kms:Decrypt", "kms:GenerateDataKey")

    @classmethod
    def of(cls, cfg: Config) -> _OpsResources:
        """IamError unless the config names the account (aws.role_arn) and the KMS key."""
        account = account_of(cfg.aws.role_arn)
        if not account or not cfg.security.kms_key_id:
            raise IamError("aws.role_arn and security.kms_key_id must be set to scope the ops policies.")
        region, key = cfg.aws.region, str(cfg.security.kms_key_id)
        sm = f"arn:aws:sagemaker:{region}:{account}"
        bucket = cfg.aws.bucket or f"sagemaker-{region}-{account}"
        prefix = "/".join(p for p in cfg.aws.prefix.split("/") if p)
        runs_prefix = f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}runs"
        fn_name = starter_name(cfg)
        return cls(
            account=account, region=region,
            key_arn=key if key.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{key}",
            sm=sm, pipeline=f"{sm}:pipeline/{cfg.aws.pipeline_name}",
            monitoring=f"{sm}:pipeline/{monitoring_pipeline_name(cfg.aws.pipeline_name)}",
            group=cfg.registry.model_package_group, runs=f"{runs_prefix}/*",
            checks=[f"{runs_prefix}/*/{MONITOR_OUTPUT}/{name}"
                    for name in ("constraint_violations.json", "drift_report.json")],
            fn_name=fn_name, fn=f"arn:aws:lambda:{region}:{account}:function:{fn_name}",
            queue=f"arn:aws:sqs:{region}:{account}:{cfg.triggers.dead_letter_queue}",
            schedules=[f"arn:aws:scheduler:{region}:{account}:schedule/default/{n}"
                       for n in (fn_name, rule_name(cfg, MONITOR_SCHEDULE))],
            rules=[f"arn:aws:events:{region}:{account}:rule/{rule_name(cfg, r)}"
                   for r in (ALARM_RULE, MONITOR_RULE)],
            ep=cfg.deploy.endpoint_name,
            alarms=[f"arn:aws:cloudwatch:{region}:{account}:alarm:{n}"
                    for n in [*endpoint_alarm_names(cfg), *quality_alarm_names(cfg),
                              dead_letter_alarm_name(cfg)]],
            topic=cfg.alarms.topic_arn or f"arn:aws:sns:{region}:{account}:{cfg.alarms.topic_name}",
            capture=capture_uri(cfg, bucket)[len("s3://"):],
            put_metrics={"StringEquals": {"cloudwatch:namespace": cfg.alarms.namespace}})


def _starter_policy(r: _OpsResources) -> dict[str, Any]:
    """The starter function's role: start this pipeline and the monitoring one, read the champion
    and the monitoring checks, publish the checks' metrics, report failures."""
    kms_use = list(r.kms_use)
    return _doc(
        # this pipeline (retraining) and its monitoring pipeline (on the champion's baselines)
        _allow("StartThisPipeline", ["sagemaker:StartPipelineExecution"], [r.pipeline, r.monitoring]),
        # the deployed definition, priced under cost.max_execution_usd
        _allow("ReadThisPipeline", ["sagemaker:DescribePipeline"], r.pipeline),
        _allow("ReadChampion", ["sagemaker:DescribeModelPackage"], f"{r.sm}:model-package/{r.group}/*"),
        # List requests name the group as a parameter, not as a resource; ListModelPackageGroups
        # tells a missing group (no champion) from a failed call
        _allow("ListChampions", ["sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages"], "*"),
        _allow("ReadChampionReport", ["s3:GetObject"], r.runs),
        # a monitoring execution's end: its check, found at runs/<execution id>/monitor (no
        # SageMaker call), published in trainguard's namespace only
        _allow("ReadMonitoringChecks", ["s3:GetObject"], r.checks),
        _allow("PublishCheckMetrics", ["cloudwatch:PutMetricData"], "*", r.put_metrics),
        _allow("ReportFailedStarts", ["sqs:SendMessage"], r.queue),
        _allow("UseKey", kms_use, r.key_arn),
        _allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"],
               f"arn:aws:logs:{r.region}:{r.account}:log-group:/aws/lambda/{r.fn_name}:*"),
        _allow("CreateOwnLogGroup", ["logs:CreateLogGroup"],
               f"arn:aws:logs:{r.region}:{r.account}:log-group:/aws/lambda/{r.fn_name}"))


def _invoke_policy(r: _OpsResources) -> dict[str, Any]:
    """The schedule's role: invoke the starter only, and report to the dead-letter queue."""
    kms_use = list(r.kms_use)
    return _doc(
        _allow("InvokeStarterOnly", ["lambda:InvokeFunction"], [r.fn, f"{r.fn}:*"]),
        _allow("ReportFailedInvocations", ["sqs:SendMessage"], r.queue),
        _allow("UseKey", kms_use, r.key_arn))


def _operator_policy(r: _OpsResources, pass_to: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The operator's: endpoint, configs and models, alarms, topic, queue, starter, schedules, rules."""
    kms_use = list(r.kms_use)
    return _doc(
        _allow("DeployEndpoint", ["sagemaker:AddTags", "sagemaker:DeleteEndpoint",
                                  "sagemaker:DescribeEndpoint", "sagemaker:ListTags"], f"{r.sm}:endpoint/{r.ep}"),
        # Create/UpdateEndpoint are authorized against the endpoint and the config it names
        _allow("ServeConfig", ["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
               [f"{r.sm}:endpoint/{r.ep}", f"{r.sm}:endpoint-config/{r.ep}-c-*"]),
        _allow("DeployConfigsAndModels",
               ["sagemaker:AddTags", "sagemaker:CreateEndpointConfig", "sagemaker:CreateModel",
                "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel", "sagemaker:DescribeEndpointConfig",
                "sagemaker:DescribeModel", "sagemaker:ListTags"],
               [f"{r.sm}:endpoint-config/{r.ep}-c-*", f"{r.sm}:model/{r.ep}-m-*"]),
        _allow("ReadPackages", ["sagemaker:DescribeModelPackage"], f"{r.sm}:model-package/{r.group}/*"),
        # ops upsert prices the deployed definition under cost.max_execution_usd, as the starter will
        _allow("PriceThePipeline", ["sagemaker:DescribePipeline"], r.pipeline),
        _allow("ListPackagesModelsConfigs", ["sagemaker:ListEndpointConfigs", "sagemaker:ListModelPackageGroups",
                                             "sagemaker:ListModelPackages", "sagemaker:ListModels"], "*"),
        _allow("ReadReports", ["s3:GetObject"], r.runs),
        *[_allow(sid, ["iam:PassRole"], role, {"StringEquals": {"iam:PassedToService": svc}})
          for sid, role, svc in pass_to],
        _allow("UseKeyForEndpointTopicQueue", ["kms:CreateGrant", "kms:DescribeKey", *kms_use], r.key_arn),
        _allow("Alarms", ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms",
                          "cloudwatch:ListTagsForResource", "cloudwatch:PutMetricAlarm",
                          "cloudwatch:TagResource"], r.alarms),
        _allow("PublishCheckMetrics", ["cloudwatch:PutMetricData"], "*", r.put_metrics),
        _allow("Topic", ["sns:CreateTopic", "sns:GetTopicAttributes", "sns:ListTagsForResource",
                         "sns:SetTopicAttributes", "sns:TagResource"], r.topic),
        _allow("DeadLetterQueue", ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes",
                                   "sqs:GetQueueUrl", "sqs:ListQueueTags", "sqs:SetQueueAttributes",
                                   "sqs:TagQueue"], r.queue),
        _allow("Starter", ["lambda:AddPermission", "lambda:CreateFunction", "lambda:DeleteFunction",
                           "lambda:GetFunction", "lambda:GetFunctionEventInvokeConfig", "lambda:GetPolicy",
                           "lambda:PutFunctionEventInvokeConfig", "lambda:RemovePermission",
                           "lambda:TagResource",
                           "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration"], r.fn),
        _allow("Schedule", ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule",
                            "scheduler:UpdateSchedule"], r.schedules),
        _allow("Rules", ["events:DeleteRule", "events:DescribeRule", "events:ListTagsForResource",
                         "events:ListTargetsByRule", "events:PutRule", "events:PutTargets",
                         "events:RemoveTargets", "events:TagResource"], r.rules),
        _allow("ReadCapturedChecks", ["s3:GetObject"], f"arn:aws:s3:::{r.capture}/*"))
