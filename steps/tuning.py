"""The ``Tune`` step: SageMaker's tuner over the training job, with the safeguards restored.

Ranges come from ``tuning.ranges`` (continuous, integer, categorical; scaling), the objective is
``cv:<tuning.objective>`` (maximized; minimized for log_loss), static hyperparameters are the
config's minus the tuned ones. The v3 tuner drops network isolation, inter-container encryption
and the volume KMS key from its training job definition; ``TuningJobStep.fix_arguments`` puts
them back (``restore_tuning_job_security``). Not cached: the service's search (Bayesian, trials
finishing in parallel) is not reproducible even with a seed, so a cache hit would hide a rerun.
"""

from __future__ import annotations

from typing import Any

from trainguard.steps.context import BuildContext
from trainguard.steps.frozen import FrozenArguments
from trainguard.steps.sdk import (
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    HyperParameterTuningJobWarmStartConfig,
    IntegerParameter,
    Join,
    ParentHyperParameterTuningJob,
    TuningStep,
)
from trainguard.steps.security import JobSecurity, apply_spot_training, restore_tuning_job_security
from trainguard.steps.training import model_trainer, training_inputs
from trainguard.training.config import ParamRange
from trainguard.training.jobs import (
    METRIC_DEFINITIONS,
    hyperparameters_from_config,
    objective_metric_name,
    objective_type,
)

__all__ = ["TuningJobStep", "hyperparameter_ranges", "tune_step"]


class TuningJobStep(FrozenArguments, TuningStep):
    """A TuningStep whose request is computed once and carries every job safeguard."""

    security: JobSecurity | None = None
    spot: tuple[int, Any] | None = None
    """(MaxWaitTimeInSeconds, checkpoint S3 URI) when trials run on managed spot capacity."""

    def fix_arguments(self, request: dict[str, Any]) -> dict[str, Any]:
        """Restore the controls the v3 tuner drops from its training job definition; add spot."""
        if self.security is None:
            raise RuntimeError("TuningJobStep.security must be set before its arguments are read")
        request = restore_tuning_job_security(request, self.security)
        if self.spot is not None:
            apply_spot_training(request, *self.spot)
        return request


def hyperparameter_ranges(ranges: dict[str, ParamRange]) -> dict[str, Any]:
    """The SDK range objects for ``tuning.ranges``, by hyperparameter name (sorted)."""
    out: dict[str, Any] = {}
    for name in sorted(ranges):
        r = ranges[name]
        if r.type == "categorical":
            out[name] = CategoricalParameter(list(r.values or []))
        elif r.type == "integer":
            out[name] = IntegerParameter(int(r.min), int(r.max), scaling_type=r.scaling)
        else:
            out[name] = ContinuousParameter(float(r.min), float(r.max), scaling_type=r.scaling)
    return out


def tune_step(ctx: BuildContext, train_uri: Any) -> tuple[TuningJobStep, Any]:
    """``Tune``: the hyperparameter tuning job; returns the step and its best model's S3 URI."""
    cfg = ctx.cfg
    t = cfg.tuning
    static = {k: v for k, v in hyperparameters_from_config(cfg).items() if k not in t.ranges}
    warm_start = None
    if t.warm_start_parents:
        warm_start = HyperParameterTuningJobWarmStartConfig(
            parent_hyper_parameter_tuning_jobs=[
                ParentHyperParameterTuningJob(hyper_parameter_tuning_job_name=name)
                for name in t.warm_start_parents],
            warm_start_type="IdenticalDataAndAlgorithm")
    tuner = HyperparameterTuner(
        model_trainer=model_trainer(ctx, static),
        objective_metric_name=objective_metric_name(cfg),
        objective_type=objective_type(cfg),
        hyperparameter_ranges=hyperparameter_ranges(t.ranges),
        metric_definitions=[dict(m) for m in METRIC_DEFINITIONS],
        strategy="Bayesian" if t.strategy == "bayesian" else "Random",
        max_jobs=t.max_jobs,
        max_parallel_jobs=t.max_parallel_jobs,
        early_stopping_type="Auto" if t.early_stopping == "auto" else "Off",
        base_tuning_job_name="trainguard-tune",
        warm_start_config=warm_start,
        random_seed=cfg.seed,
        tags=ctx.security.tag_list() or None,
    )
    step_args = tuner.tune(inputs=training_inputs(ctx, train_uri), wait=False)
    step = TuningJobStep(name="Tune", step_args=step_args)
    step.security = ctx.security
    if cfg.cost.spot_tuning:
        step.spot = (cfg.cost.spot_max_wait_seconds, ctx.run_uri("checkpoints"))
    step.freeze()
    best_job = step.properties.BestTrainingJob.TrainingJobName
    model_uri = Join(on="/", values=ctx.run_values("models", best_job, "output", "model.tar.gz"))
    return step, model_uri
