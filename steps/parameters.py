"""The pipeline parameters (names fixed in docs/design.md) with their defaults from the config.

Thresholds are parameters, not constants, so an execution can tighten them without a new
definition; ``ChampionBar`` is set per execution by whoever starts it (0.0 = no champion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainguard.steps.locations import default_data_uri
from trainguard.steps.sdk import ParameterFloat, ParameterInteger, ParameterString
from trainguard.training.config import Config

__all__ = ["PipelineParameters", "default_data_uri", "pipeline_parameters"]  # one re-exported


@dataclass(frozen=True)
class PipelineParameters:
    """The SDK parameter objects, by role; ``all`` lists them in definition order."""

    input_data_uri: Any
    processing_instance_type: Any
    processing_instance_count: Any
    training_instance_type: Any
    training_instance_count: Any
    min_auc: Any
    min_recall: Any
    min_pr_auc: Any
    max_overfit_gap: Any
    champion_bar: Any
    model_approval_status: Any
    trigger_reason: Any

    @property
    def all(self) -> list[Any]:
        """Every parameter, in the order the definition lists them."""
        return [
            self.input_data_uri,
            self.processing_instance_type,
            self.processing_instance_count,
            self.training_instance_type,
            self.training_instance_count,
            self.min_auc,
            self.min_recall,
            self.min_pr_auc,
            self.max_overfit_gap,
            self.champion_bar,
            self.model_approval_status,
            self.trigger_reason,
        ]


def pipeline_parameters(cfg: Config, bucket: str) -> PipelineParameters:
    """The parameters of the pipeline, defaults taken from ``cfg``."""
    a, aws = cfg.approval, cfg.aws
    return PipelineParameters(
        input_data_uri=ParameterString("InputDataUri", default_value=default_data_uri(cfg, bucket)),
        processing_instance_type=ParameterString(
            "ProcessingInstanceType", default_value=aws.processing_instance_type),
        processing_instance_count=ParameterInteger(
            "ProcessingInstanceCount", default_value=aws.processing_instance_count),
        training_instance_type=ParameterString(
            "TrainingInstanceType", default_value=aws.training_instance_type),
        training_instance_count=ParameterInteger(
            "TrainingInstanceCount", default_value=aws.training_instance_count),
        min_auc=ParameterFloat("MinAuc", default_value=float(a.min_auc)),
        min_recall=ParameterFloat("MinRecall", default_value=float(a.min_recall)),
        min_pr_auc=ParameterFloat("MinPrAuc", default_value=float(a.min_pr_auc)),
        max_overfit_gap=ParameterFloat("MaxOverfitGap", default_value=float(a.max_overfit_gap)),
        champion_bar=ParameterFloat("ChampionBar", default_value=0.0),
        model_approval_status=ParameterString(
            "ModelApprovalStatus", default_value=a.approval_status,
            enum_values=["PendingManualApproval", "Approved"]),
        # why this execution was started (manual, schedule, alarm:<name>); the package records it
        trigger_reason=ParameterString("TriggerReason", default_value="manual"),
    )
