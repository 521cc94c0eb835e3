"""The retraining starter: what the schedule and the degradation alarms invoke.

EventBridge targets pass only static parameters, but a start must compare against the champion
of the moment, as ``trainguard upsert --start`` does. So the targets invoke this small function,
which computes ChampionBar with the very same ``champion_bar_of`` over the SageMaker registry, then starts the
pipeline with ``TriggerReason``. When the bar cannot be computed (an unreadable champion report,
a denied call) it raises: the invocation is retried and then lands in the dead-letter queue; it
never starts without the bar. Under ``cost.max_execution_usd`` it prices the deployed definition
with ``check_execution_cost``, as ``upsert --start`` does, and raises instead of starting an
execution whose worst case is over the limit or cannot be known. The same function also takes the
monitoring pipeline's end (``metrics.publish_execution``: it publishes that execution's check as
the alarms' metrics) and the monitoring schedule (``monitor_start``: it starts the monitoring
pipeline on the champion's baselines).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors
from trainguard.pipelines.ops.cost import check_execution_cost, format_estimate
from trainguard.pipelines.ops.metrics import PIPELINE_EVENT, publish_execution
from trainguard.pipelines.ops.monitor_start import MONITOR_REASON, monitor_token, start_monitoring
from trainguard.pipelines.registry.base import champion_bar_of
from trainguard.pipelines.registry.sagemaker import SageMakerRegistry
from trainguard.training.config import Config, load_config

__all__ = ["CONFIG_ENV", "check_cost", "handler", "reason_of", "request_token", "start", "starter_config"]

CONFIG_ENV = "TRAINGUARD_CONFIG"
_REASON = re.compile(r"^(manual|schedule|alarm:[\w.+=@/-]{1,240})$")
_TOKEN = re.compile(r"^[0-9a-f]{64}$")


def starter_config(cfg: Config) -> dict[str, Any]:
    """The part of the config the starter needs (fits a Lambda environment variable)."""
    a = cfg.approval
    return {"aws": {"region": cfg.aws.region, "pipeline_name": cfg.aws.pipeline_name,
                    "role_arn": cfg.aws.role_arn, "bucket": cfg.aws.bucket, "prefix": cfg.aws.prefix},
            "registry": {"model_package_group": cfg.registry.model_package_group},
            "alarms": {"namespace": cfg.alarms.namespace},
            "approval": {"champion_metric": a.champion_metric, "champion_margin": a.champion_margin,
                         "champion_margin_mode": a.champion_margin_mode},
            "cost": {"max_execution_usd": cfg.cost.max_execution_usd,
                     "expected_runtime_fraction": cfg.cost.expected_runtime_fraction,
                     "spot_expected_saving": cfg.cost.spot_expected_saving}}


def reason_of(event: Mapping[str, Any]) -> str:
    """TriggerReason of an invocation: ``schedule`` (the schedule's input) or ``alarm:<name>``
    (an alarm state-change event). DeployError for anything else, so it is not started."""
    if event.get("reason") == "schedule":
        return "schedule"
    detail = event.get("detail") if isinstance(event.get("detail"), Mapping) else {}
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        state = (detail.get("state") or {}).get("value")
        if state != "ALARM":
            raise DeployError(f"alarm event in state {state!r}; only ALARM starts retraining.")
        reason = f"alarm:{detail.get('alarmName', '')}"
        if _REASON.match(reason):
            return reason
    raise DeployError(f"the starter was invoked with an event it does not know ({sorted(event)}); "
                      "only the trainguard schedule and alarm rules invoke it.")


def start(cfg: Config, reason: str, sm: Any, s3: Any, token: str | None = None) -> dict[str, Any]:
    """Start the pipeline with ChampionBar from the registry and TriggerReason; returns the
    execution ARN and parameters. ``token`` makes a retried invocation start at most once."""
    if not _REASON.match(reason):
        raise DeployError(f"TriggerReason {reason!r} must be manual, schedule or alarm:<name>.")
    found = champion_bar_of(SageMakerRegistry(sm, s3), cfg)
    champion = found.champion.lineage.get("arn") if found.champion else None
    params = {"ChampionBar": repr(found.value), "TriggerReason": reason}
    worst = check_cost(cfg, sm, params)
    kwargs: dict[str, Any] = {}
    if token and _TOKEN.match(token):
        kwargs["ClientRequestToken"] = token
    with aws_errors("sagemaker:StartPipelineExecution"):
        resp = sm.start_pipeline_execution(
            PipelineName=cfg.aws.pipeline_name, PipelineExecutionDescription=f"trainguard: {reason}",
            PipelineParameters=[{"Name": k, "Value": v} for k, v in sorted(params.items())], **kwargs)
    return {"PipelineExecutionArn": resp["PipelineExecutionArn"], "Parameters": params,
            "Champion": champion, "WorstCaseUsd": worst}


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point: the config comes from TRAINGUARD_CONFIG, credentials from the role. A
    monitoring execution's end publishes its check; the schedule and the alarms start retraining."""
    import boto3

    cfg = load_config(json.loads(os.environ[CONFIG_ENV]))
    session = boto3.Session(region_name=cfg.aws.region)
    if event.get("detail-type") == PIPELINE_EVENT:  # a monitoring execution ended: publish its check
        return publish_execution(cfg, event, session.client("s3"), session.client("cloudwatch"))
    if event.get("reason") == MONITOR_REASON:  # the monitoring schedule: check against the champion
        return start_monitoring(cfg, session.client("sagemaker"), session.client("s3"),
                                monitor_token(cfg, event))
    return start(cfg, reason_of(event), session.client("sagemaker"), session.client("s3"),
                 request_token(cfg, event))


def request_token(cfg: Config, event: Mapping[str, Any]) -> str | None:
    """StartPipelineExecution's idempotency token: the same for every retry of one occurrence (an
    EventBridge event keeps its id; a schedule occurrence keeps its scheduled time)."""
    occurrence = event.get("id") or event.get("scheduled_time")
    if not occurrence:
        return None
    return hashlib.sha256(f"{cfg.aws.pipeline_name}:{occurrence}".encode()).hexdigest()[:64]


def check_cost(cfg: Config, sm: Any, params: Mapping[str, str], out: Any = print) -> float | None:
    """The deployed definition's worst-case cost with ``params``, under ``cost.max_execution_usd``
    (None without a limit). Raises CostLimitExceeded or UnknownPrice, naming the key, rather than
    let a scheduled or alarm-driven start exceed the limit (retried, then the dead-letter queue)."""
    if cfg.cost.max_execution_usd is None:
        return None
    with aws_errors("sagemaker:DescribePipeline"):
        definition = sm.describe_pipeline(PipelineName=cfg.aws.pipeline_name)["PipelineDefinition"]
    est = check_execution_cost(definition, cfg, params)
    out(format_estimate(est))  # the function's log: the figures upsert --start prints
    return est.worst_usd
