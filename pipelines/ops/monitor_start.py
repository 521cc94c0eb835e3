"""Start the monitoring pipeline against the champion's baselines: what its schedule invokes.

The monitoring pipeline's ``BaselineUri`` must be the baseline folder of the package serving now,
which a schedule's static input cannot know, so the schedule invokes trainguard's function, which
reads the champion (the same ``champion`` lookup as deploy and the starter) and its
``DriftCheckBaselines``, then starts ``<pipeline>-monitor``. Without a champion, or a champion
without baselines, it raises: the invocation is retried and dead-lettered, and no check runs
against a wrong or missing baseline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors
from trainguard.steps.locations import baseline_folder, monitoring_pipeline_name
from trainguard.training.config import Config

__all__ = ["MONITOR_REASON", "champion_baseline", "monitor_token", "start_monitoring"]

MONITOR_REASON = "monitor"
"""The ``reason`` of the monitoring schedule's input."""


def champion_baseline(cfg: Config, sm: Any, s3: Any) -> tuple[str, str]:
    """(champion package ARN, its baseline folder) from the package's DriftCheckBaselines;
    DeployError when the group has no Approved package or the champion has no baselines."""
    from trainguard.pipelines.registry.sagemaker import SageMakerRegistry

    group = cfg.registry.model_package_group
    champion = SageMakerRegistry(sm, s3).champion(group)
    if champion is None:
        raise DeployError(f"registry.model_package_group {group!r} has no Approved package: there "
                          "is no baseline to check the data against; approve a package first.")
    arn = str(champion.lineage["arn"])
    with aws_errors("sagemaker:DescribeModelPackage"):
        described = sm.describe_model_package(ModelPackageName=arn)
    baselines = described.get("DriftCheckBaselines") or {}
    uri = ((baselines.get("ModelDataQuality") or {}).get("Constraints") or {}).get("S3Uri")
    if not uri:
        raise DeployError(f"the champion {arn} has no DriftCheckBaselines.ModelDataQuality; register "
                          "it with trainguard (its Baseline step writes them) to monitor it.")
    return arn, baseline_folder(str(uri))


def monitor_token(cfg: Config, event: Mapping[str, Any]) -> str | None:
    """StartPipelineExecution's idempotency token: the same for every retry of one occurrence."""
    occurrence = event.get("scheduled_time") or event.get("id")
    if not occurrence:
        return None
    name = monitoring_pipeline_name(cfg.aws.pipeline_name)
    return hashlib.sha256(f"{name}:{occurrence}".encode()).hexdigest()


def start_monitoring(cfg: Config, sm: Any, s3: Any, token: str | None = None) -> dict[str, Any]:
    """Start ``<pipeline>-monitor`` with BaselineUri = the champion's baseline folder (the other
    parameters keep the definition's defaults); returns the execution ARN and parameters."""
    arn, folder = champion_baseline(cfg, sm, s3)
    name = monitoring_pipeline_name(cfg.aws.pipeline_name)
    kwargs: dict[str, Any] = {"ClientRequestToken": token} if token else {}
    with aws_errors("sagemaker:StartPipelineExecution"):
        resp = sm.start_pipeline_execution(
            PipelineName=name, PipelineExecutionDescription=f"trainguard: monitor {arn}",
            PipelineParameters=[{"Name": "BaselineUri", "Value": folder}], **kwargs)
    return {"PipelineExecutionArn": resp["PipelineExecutionArn"], "Parameters": {"BaselineUri": folder},
            "Champion": arn}
