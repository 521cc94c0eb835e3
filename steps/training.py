"""The training job every trial runs (a ``ModelTrainer``), and the ``Train`` step used without tuning.

Training runs the bundle's ``entry.py`` through the XGBoost image's script mode. Network
isolation forbids downloads, so the bundle arrives as the ``code`` input channel and
``sagemaker_submit_directory`` points at its local path, as the SDK does for isolated jobs;
nothing is uploaded by the SDK (no ``SourceCode``: that would upload to timestamped keys).
``Train`` is cached when ``aws.cache_steps`` is on: one job with fixed, seeded hyperparameters is
a deterministic function of its inputs. ``Tune`` is not (see steps/tuning.py).
"""

from __future__ import annotations

from typing import Any

from trainguard.steps.context import BuildContext
from trainguard.steps.frozen import FrozenArguments
from trainguard.steps.sdk import (
    CacheConfig,
    Compute,
    InputData,
    MetricDefinition,
    ModelTrainer,
    OutputDataConfig,
    StoppingCondition,
    TrainingStep,
)
from trainguard.training.jobs import METRIC_DEFINITIONS, hyperparameters_from_config
from trainguard.training.tables import SPLIT_CONTENT_TYPE

__all__ = [
    "CODE_CHANNEL",
    "SCRIPT_MODE_HYPERPARAMETERS",
    "TRAINING_ENVIRONMENT",
    "TrainingJobStep",
    "model_trainer",
    "models_uri",
    "train_step",
    "training_inputs",
]

CODE_CHANNEL = "code"
SCRIPT_MODE_HYPERPARAMETERS = {
    "sagemaker_program": "entry.py",
    "sagemaker_submit_directory": f"/opt/ml/input/data/{CODE_CHANNEL}/sourcedir.tar.gz",
}
"""Script mode's settings, read by the image's training toolkit (not by the train job)."""

TRAINING_ENVIRONMENT = {
    "PYTHONUNBUFFERED": "1",
    "PIP_NO_INDEX": "1",
    "PIP_NO_BUILD_ISOLATION": "0",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}
"""The training job's environment. Script mode always runs ``pip install .`` on the bundle; under
network isolation that must not reach for an index: ``PIP_NO_INDEX=1`` keeps pip off the network,
``PIP_NO_BUILD_ISOLATION=0`` (pip's inverted spelling: 0 turns isolation OFF) builds with the
image's own setuptools instead of downloading one into an isolated build environment."""


class TrainingJobStep(FrozenArguments, TrainingStep):
    """A TrainingStep whose request is computed once, at build time."""


def model_trainer(ctx: BuildContext, hyperparameters: dict[str, str]) -> ModelTrainer:
    """The training job's configuration with every safeguard of ``ctx.security``."""
    sec, p = ctx.security, ctx.params
    trainer = ModelTrainer(
        sagemaker_session=ctx.session,
        role=ctx.role,
        training_image=ctx.image_uri,
        base_job_name="trainguard-train",
        compute=Compute(instance_type=p.training_instance_type,
                        instance_count=p.training_instance_count,
                        volume_kms_key_id=sec.kms_key_id),
        networking=sec.networking(),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=sec.max_runtime_seconds),
        output_data_config=OutputDataConfig(s3_output_path=models_uri(ctx),
                                            kms_key_id=sec.kms_key_id),
        hyperparameters={**hyperparameters, **SCRIPT_MODE_HYPERPARAMETERS},
        environment=dict(TRAINING_ENVIRONMENT),
        tags=[{"key": k, "value": v} for k, v in sec.all_tags()] or None,
    )
    return trainer.with_metric_definitions(_metric_definitions())


def models_uri(ctx: BuildContext) -> Any:
    """Where training jobs write ``<job name>/output/model.tar.gz`` (per execution)."""
    return ctx.run_uri("models")


def training_inputs(ctx: BuildContext, train_uri: Any) -> list[InputData]:
    """The ``train`` channel (the preprocess step's train split, Parquet) and the ``code`` channel."""
    return [InputData(channel_name="train", data_source=train_uri, content_type=SPLIT_CONTENT_TYPE),
            InputData(channel_name=CODE_CHANNEL, data_source=ctx.code_uri)]


def train_step(ctx: BuildContext, train_uri: Any) -> tuple[TrainingJobStep, Any]:
    """``Train``: one training job with the config's hyperparameters (``tuning.enabled=false``).

    Returns the step and the S3 URI of its model artifact.
    """
    trainer = model_trainer(ctx, hyperparameters_from_config(ctx.cfg))
    step_args = trainer.train(input_data_config=training_inputs(ctx, train_uri), wait=False)
    cache = (CacheConfig(enable_caching=True, expire_after=ctx.cfg.aws.cache_expire_after)
             if ctx.cfg.aws.cache_steps else None)
    step = TrainingJobStep(name="Train", step_args=step_args, cache_config=cache)
    step.freeze()
    return step, step.properties.ModelArtifacts.S3ModelArtifacts


def _metric_definitions() -> list[MetricDefinition]:
    return [MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in METRIC_DEFINITIONS]
