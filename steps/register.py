"""Model registration: ``RegisterModel`` on approval, ``RegisterRejected`` and ``FailRejected`` else.

``ModelBuilder(...).register()`` under the PipelineSession gives a ``ModelStep`` whose JSON step
type is ``RegisterModel`` (CreateModelPackage). Each package carries the evaluation report as its
model statistics and its lineage in ``CustomerMetadataProperties``: data URI, code bundle sha,
execution, training job, hyperparameters (tuned values from the best job), CV scores, and what a
caller must send (text/csv without header, the feature count, order and its sha256). The
SDK adds empty ``SAGEMAKER_PROGRAM``/``SAGEMAKER_SUBMIT_DIRECTORY`` values and empty bias and
explainability blocks; ``RegisterStep.fix_arguments`` removes them.
"""

from __future__ import annotations

from typing import Any

from trainguard.steps.condition import holdout_metric_path, report_value
from trainguard.steps.context import BuildContext
from trainguard.steps.frozen import FrozenArguments
from trainguard.steps.monitor import Baselines, drift_check_baselines, model_metrics
from trainguard.steps.sdk import (
    ExecutionVariables,
    FailStep,
    Join,
    ModelBuilder,
    ModelStep,
    PropertyFile,
)
from trainguard.training.evaluation import SERVING_CONTENT_TYPE
from trainguard.training.jobs import hyperparameters_from_config

__all__ = [
    "RegisterStep",
    "fail_step",
    "lineage_metadata",
    "register_step",
    "rejected_metadata",
]

CONTENT_TYPES = [SERVING_CONTENT_TYPE]
"""What the XGBoost image's serving code accepts for a booster: CSV rows without header or label."""
SERVING_KEYS = ("feature_count", "feature_order", "features_sha256")
"""evaluation.json ``model.serving`` values recorded in the package metadata: what a caller must send."""
INFERENCE_INSTANCES = ["ml.m5.large", "ml.m5.xlarge"]


class RegisterStep(FrozenArguments, ModelStep):
    """A ModelStep (``RegisterModel`` type) without the SDK's empty placeholder values."""

    def fix_arguments(self, request: dict[str, Any]) -> dict[str, Any]:
        """Drop empty environment values and empty model-metrics blocks the SDK emits."""
        for container in request.get("InferenceSpecification", {}).get("Containers", []):
            env = container.get("Environment")
            if isinstance(env, dict):
                container["Environment"] = {k: v for k, v in env.items() if v != ""}
        metrics = request.get("ModelMetrics")
        if isinstance(metrics, dict):
            request["ModelMetrics"] = {k: v for k, v in metrics.items() if v != {}}
        return request


def lineage_metadata(ctx: BuildContext, report: PropertyFile, training_job: Any,
                     tuned: dict[str, Any]) -> dict[str, Any]:
    """``CustomerMetadataProperties``: where the model came from, one short value per key.

    ``tuned`` maps tuned hyperparameter names to their value in the best job (a property
    reference); every other hyperparameter is the config's fixed value.
    """
    cfg = ctx.cfg
    out: dict[str, Any] = {
        "trainguard:data_uri": ctx.params.input_data_uri,
        "trainguard:code_sha256": ctx.code_sha256,
        "trainguard:code_uri": ctx.code_uri,
        "trainguard:pipeline": cfg.aws.pipeline_name,
        "trainguard:execution_id": ExecutionVariables.PIPELINE_EXECUTION_ID,
        "trainguard:training_job": training_job,
        "trainguard:seed": str(cfg.seed),
        "trainguard:trigger_reason": ctx.params.trigger_reason,
    }
    for name, value in sorted(hyperparameters_from_config(cfg).items()):
        out[f"hp:{name}"] = tuned.get(name, value)
    out["trainguard:content_type"] = f"{SERVING_CONTENT_TYPE} no header features in feature_order"
    for key in SERVING_KEYS:
        out[f"trainguard:{key}"] = Join(on="", values=[report_value(report, f"model.serving.{key}")])
    objective = cfg.tuning.objective
    for metric in sorted({"auc", objective}):
        for stat in ("mean", "std"):
            out[f"cv:{metric}_{stat}"] = Join(on="", values=[
                report_value(report, f"cross_validation.{metric}.{stat}")])
    return out


def register_step(ctx: BuildContext, name: str, model_uri: Any, report_uri: Any,
                  approval_status: Any, metadata: dict[str, Any],
                  baselines: Baselines | None = None) -> RegisterStep:
    """A model package in ``registry.model_package_group`` with the report as its statistics.

    With ``baselines`` (the ``Baseline`` step's documents) the package also carries the data- and
    model-quality baselines, as ModelMetrics and as DriftCheckBaselines.
    """
    builder = ModelBuilder(image_uri=ctx.image_uri, s3_model_data_url=model_uri,
                           role_arn=ctx.role, sagemaker_session=ctx.session,
                           log_level=None)  # the default sets the SDK's shared logger to DEBUG
    metrics = model_metrics(report_uri, baselines)
    extra: dict[str, Any] = {}
    if baselines:
        extra["drift_check_baselines"] = drift_check_baselines(baselines)
    step_args = builder.register(
        model_package_group_name=ctx.cfg.registry.model_package_group,
        approval_status=approval_status,
        model_metrics=metrics,
        content_types=CONTENT_TYPES,
        response_types=CONTENT_TYPES,
        inference_instances=INFERENCE_INSTANCES,
        transform_instances=INFERENCE_INSTANCES,
        customer_metadata_properties=metadata,
        **extra,
    )
    step = RegisterStep(name=name, step_args=step_args)
    step.freeze()
    return step


RULE_CHECKS = ("min_auc", "min_recall", "min_pr_auc", "max_overfit_gap", "leakage")
"""The checks ``decision.checks`` of evaluation.json always begins with, in ``decide``'s order
(the champion check follows only when there is a champion)."""


def rejected_metadata(ctx: BuildContext, report: PropertyFile) -> dict[str, Any]:
    """Extra metadata of a ``Rejected`` package: every check of the rule, its value and threshold.

    CreateModelPackage accepts only letters, digits, spaces and ``_.:/=+-@`` in metadata values,
    so the prose reasons of ``decision.reasons`` (parentheses, commas) cannot be recorded here;
    each check is recorded from the structured ``decision.checks`` instead, e.g.
    ``min_auc value 0.7 threshold 0.75 passed false``, and the champion comparison from the
    champion metric and the ``ChampionBar`` parameter. The reasons in words are in
    evaluation.json, the package's model statistics.
    """
    out: dict[str, Any] = {"trainguard:decision": "rejected by CheckApproval"}
    for i, name in enumerate(RULE_CHECKS):
        check = f"decision.checks[{i}]"
        out[f"trainguard:check_{name}"] = Join(on=" ", values=[
            report_value(report, f"{check}.name"), "value", report_value(report, f"{check}.value"),
            "threshold", report_value(report, f"{check}.threshold"),
            "passed", report_value(report, f"{check}.passed")])
    metric = ctx.cfg.approval.champion_metric
    out["trainguard:check_champion"] = Join(on=" ", values=[
        f"{metric} value", report_value(report, holdout_metric_path(metric)),
        "champion bar", ctx.params.champion_bar, "0 = no champion"])
    return out


def fail_step(message: Any, depends_on: list[Any] | None = None) -> FailStep:
    """``FailRejected``: ends the execution as Failed with the rejection message."""
    return FailStep(name="FailRejected", error_message=message, depends_on=depends_on)
