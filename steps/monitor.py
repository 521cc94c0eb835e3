"""The monitoring steps: ``Baseline`` in the training pipeline, ``CheckDrift`` + ``DriftCondition``.

``Baseline`` runs the ``baseline`` job of ``trainguard.training.jobs`` on the train split and the
holdout evaluation: Model Monitor's data-quality statistics/constraints and model-quality
constraints, which the registered package carries as ``DriftCheckBaselines`` and ``ModelMetrics``.
``CheckDrift`` runs the ``drift`` job on a data prefix against a baseline folder; its
drift_report.json (PropertyFile ``DriftReport``) feeds ``DriftCondition``, which fails the
execution with the violation count when there is any (the event alarms and retraining hang off).
Both are processing jobs built like every other: KMS, VPC, isolation, runtime cap, tags.
"""

from __future__ import annotations

from typing import Any

from trainguard.steps.context import BuildContext
from trainguard.steps.locations import MONITOR_OUTPUT
from trainguard.steps.processing import (
    CODE_INPUT_DIR,
    PROCESSING_ROOT,
    ProcessingJobStep,
    _cache,
    _input,
    _output,
    _processor,
)
from trainguard.steps.sdk import (
    ConditionGreaterThan,
    ConditionStep,
    DriftCheckBaselines,
    FailStep,
    Join,
    JsonGet,
    MetricsSource,
    ModelMetrics,
    PropertyFile,
)
from trainguard.training.jobs import baseline_arguments, drift_arguments

__all__ = ["BASELINE_FILES", "DRIFT_REPORT", "Baselines", "baseline_step", "baselines_of",
           "drift_check_baselines", "drift_condition_step", "drift_step", "model_metrics"]

DRIFT_REPORT = "drift_report.json"
BASELINE_FILES = {
    "data_statistics": "data_quality/statistics.json",
    "data_constraints": "data_quality/constraints.json",
    "model_statistics": "model_quality/statistics.json",
    "model_constraints": "model_quality/constraints.json",
}
"""Where the baseline job writes each document, relative to its ``baseline`` output."""

Baselines = dict[str, Any]
"""Name (a key of BASELINE_FILES) -> S3 URI expression of that document."""


def baseline_step(ctx: BuildContext, train_uri: Any, evaluation_uri: Any) -> ProcessingJobStep:
    """``Baseline``: data-quality baseline of the train split, model-quality constraints."""
    inputs = [_input("train", train_uri, f"{PROCESSING_ROOT}/train"),
              _input("evaluation", evaluation_uri, f"{PROCESSING_ROOT}/evaluation"),
              _input("code", ctx.code_uri, CODE_INPUT_DIR)]
    outputs = [_output("baseline", f"{PROCESSING_ROOT}/baseline", ctx.run_uri("baseline"))]
    step_args = _processor(ctx, "baseline").run(inputs=inputs, outputs=outputs,
                                                 arguments=baseline_arguments(ctx.cfg))
    step = ProcessingJobStep(name="Baseline", step_args=step_args, cache_config=_cache(ctx))
    step.freeze()
    return step


def baselines_of(step: ProcessingJobStep) -> Baselines:
    """The S3 URI of each baseline document the ``Baseline`` step writes."""
    folder = step.properties.ProcessingOutputConfig.Outputs["baseline"].S3Output.S3Uri
    return {name: Join(on="/", values=[folder, path]) for name, path in BASELINE_FILES.items()}


def _source(uri: Any) -> MetricsSource:
    return MetricsSource(s3_uri=uri, content_type="application/json")


def model_metrics(report_uri: Any, baselines: Baselines | None = None) -> ModelMetrics:
    """The package's ModelMetrics: evaluation.json as model statistics, plus the baselines."""
    if not baselines:
        return ModelMetrics(model_statistics=_source(report_uri))
    return ModelMetrics(model_statistics=_source(report_uri),
                        model_constraints=_source(baselines["model_constraints"]),
                        model_data_statistics=_source(baselines["data_statistics"]),
                        model_data_constraints=_source(baselines["data_constraints"]))


def drift_check_baselines(baselines: Baselines) -> DriftCheckBaselines:
    """The package's DriftCheckBaselines: the documents a later check compares against."""
    return DriftCheckBaselines(model_statistics=_source(baselines["model_statistics"]),
                               model_constraints=_source(baselines["model_constraints"]),
                               model_data_statistics=_source(baselines["data_statistics"]),
                               model_data_constraints=_source(baselines["data_constraints"]))


def drift_step(ctx: BuildContext, data_uri: Any, baseline_uri: Any
               ) -> tuple[ProcessingJobStep, PropertyFile]:
    """``CheckDrift``: the drift job on ``data_uri`` against the baseline folder ``baseline_uri``."""
    report = PropertyFile(name="DriftReport", output_name="monitor", path=DRIFT_REPORT)
    inputs = [_input("data", data_uri, f"{PROCESSING_ROOT}/input/data"),
              _input("baseline", baseline_uri, f"{PROCESSING_ROOT}/baseline"),
              _input("code", ctx.code_uri, CODE_INPUT_DIR)]
    outputs = [_output("monitor", f"{PROCESSING_ROOT}/monitor", ctx.run_uri(MONITOR_OUTPUT))]
    step_args = _processor(ctx, "drift").run(inputs=inputs, outputs=outputs,
                                              arguments=drift_arguments(ctx.cfg))
    # never cached: the same data prefix holds new objects from one execution to the next
    step = ProcessingJobStep(name="CheckDrift", step_args=step_args, property_files=[report])
    step.freeze()
    return step, report


def drift_condition_step(report: PropertyFile, report_dir: Any) -> ConditionStep:
    """``DriftCondition``: any violation fails the execution (``DriftDetected``) with the count."""
    count = JsonGet(step_name="CheckDrift", property_file=report, json_path="violation_count")
    fail = FailStep(name="DriftDetected", error_message=Join(on="", values=[
        "Drift check found ", count, " violation(s) against the champion's baseline; "
        "first: ", JsonGet(step_name="CheckDrift", property_file=report,
                           json_path="first_violation"),
        " Report: ", report_dir]))
    return ConditionStep(name="DriftCondition",
                         conditions=[ConditionGreaterThan(left=count, right=0)],
                         if_steps=[fail], else_steps=[])
