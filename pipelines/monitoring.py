"""``build_monitoring_pipeline()``: the drift check as its own SageMaker Pipeline.

One processing job (``CheckDrift``, the ``drift`` job of ``trainguard.training.jobs``) checks the
data under ``MonitorDataUri`` against the baseline folder at ``BaselineUri`` (the current
champion's: the folder holding data_quality/ and model_quality/ that its package's
DriftCheckBaselines point into), then ``DriftCondition`` fails the execution as
``DriftDetected`` when the check found any violation, so an EventBridge rule on failed executions
can alarm or start a retraining. The job is built like every other: KMS, VPC, network isolation,
runtime cap, tags. Built offline and deterministically, as ``build_pipeline``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trainguard.pipelines.build import ConfigSource, build_context
from trainguard.steps.locations import baseline_folder, monitoring_pipeline_name
from trainguard.steps.monitor import drift_condition_step, drift_step
from trainguard.steps.sdk import ParameterString, Pipeline
from trainguard.steps.session import offline_sdk
from trainguard.training.errors import ConfigError

__all__ = ["MonitoringPipeline", "baseline_folder", "build_monitoring_pipeline", "monitoring_definition_json",
           "monitoring_pipeline_name"]


def build_monitoring_pipeline(config: ConfigSource = None, overrides: Mapping[str, Any] | None = None,
                              **keyword_overrides: Any) -> Pipeline:
    """The monitoring pipeline for a config: CheckDrift, then DriftCondition → DriftDetected.

    Parameters: ``MonitorDataUri`` (default ``monitor.data_uri``, else
    ``s3://<bucket>/<prefix>/monitor/data/``), ``BaselineUri`` (default
    ``s3://<bucket>/<prefix>/monitor/baseline/``; set it to the champion's baseline folder when
    starting an execution), ``ProcessingInstanceType``, ``ProcessingInstanceCount``.
    """
    with build_context(config, overrides, **keyword_overrides) as ctx:
        cfg = ctx.cfg
        data = ParameterString("MonitorDataUri",
                               default_value=cfg.monitor.data_uri or ctx.s3("monitor", "data") + "/")
        baseline = ParameterString("BaselineUri", default_value=ctx.s3("monitor", "baseline") + "/")
        check, report = drift_step(ctx, data, baseline)
        report_dir = check.properties.ProcessingOutputConfig.Outputs["monitor"].S3Output.S3Uri
        condition = drift_condition_step(report, report_dir)
        params = [data, baseline, ctx.params.processing_instance_type,
                  ctx.params.processing_instance_count]
        return MonitoringPipeline(name=monitoring_pipeline_name(cfg.aws.pipeline_name),
                                  parameters=params, steps=[check, condition],
                                  sagemaker_session=ctx.session, pipeline_experiment_config=None)


class MonitoringPipeline(Pipeline):
    """The SDK's Pipeline without its deploy verbs: the build session is offline (no credentials,
    no code upload), and ``trainguard upsert`` deploys the training pipeline only."""

    def _refuse(self, verb: str) -> Any:
        raise ConfigError(f"pipeline.{verb}() cannot deploy the monitoring pipeline: it was built "
                          "offline and trainguard upsert deploys the training pipeline only. Deploy "
                          "monitoring_definition_json(config) with your tooling (after trainguard "
                          "lint), with the code bundle uploaded by trainguard upsert.")

    def upsert(self, *args: Any, **kwargs: Any) -> Any:
        """Refused (see the class)."""
        return self._refuse("upsert")

    def create(self, *args: Any, **kwargs: Any) -> Any:
        """Refused (see the class)."""
        return self._refuse("create")

    def update(self, *args: Any, **kwargs: Any) -> Any:
        """Refused (see the class)."""
        return self._refuse("update")

    def start(self, *args: Any, **kwargs: Any) -> Any:
        """Refused (see the class)."""
        return self._refuse("start")


def monitoring_definition_json(config: ConfigSource = None, overrides: Mapping[str, Any] | None = None,
                               **keyword_overrides: Any) -> str:
    """The monitoring pipeline's definition as canonical JSON text (sorted keys, 2-space indent)."""
    pipeline = build_monitoring_pipeline(config, overrides, **keyword_overrides)
    with offline_sdk(pipeline.sagemaker_session.boto_region_name):
        raw = pipeline.definition()
    return json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
