"""``build_pipeline()``: the config turned into a SageMaker Pipeline, offline and deterministically.

Config errors, and values SageMaker would refuse (``trainguard.steps.limits``), surface first as
ConfigError, before any SDK object is built. The build then runs inside
``trainguard.steps.session.offline_sdk``: no network call with or without credentials, no timestamps or
random names, code referenced by its content-addressed S3 URI (the SDK uploads nothing). Every
job step's request is computed once, at build time, so ``Pipeline.definition()`` afterwards is
pure serialization. ``definition_json()`` is the canonical text (sorted keys, 2-space indent)
that lint, the local runner and upsert consume: the same bytes in every process.

Overrides are dotted config keys, given as a mapping (``overrides={"cv.folds": 3}``) or as
keyword arguments with ``__`` for the dots (``cv__folds=3``); both forms may be combined, the
keywords win.

The step builders of ``steps/`` compose pipelines of your own: ``build_context()`` gives the
``BuildContext`` they take, inside the offline scope they must be called in::

    from trainguard.pipelines.build import build_context
    from trainguard.steps.processing import preprocess_step
    from trainguard.steps.sdk import Pipeline
    from trainguard.steps.training import train_step

    with build_context("config.yaml") as ctx:
        pre = preprocess_step(ctx)
        train, model_uri = train_step(
            ctx, pre.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri)
        pipeline = Pipeline(name="my-pipeline", parameters=ctx.params.all,
                            steps=[pre, train], sagemaker_session=ctx.session)
        definition = pipeline.definition()
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from trainguard.pipelines.bundle import build_bundle
from trainguard.steps.condition import check_approval_step, rejection_message
from trainguard.steps.context import BuildContext, default_bucket
from trainguard.steps.limits import check_service_limits
from trainguard.steps.monitor import baseline_step, baselines_of
from trainguard.steps.parameters import pipeline_parameters
from trainguard.steps.processing import EVALUATION_FILE, evaluate_step, preprocess_step
from trainguard.steps.register import fail_step, lineage_metadata, register_step, rejected_metadata
from trainguard.steps.sdk import Join, Pipeline, image_uris
from trainguard.steps.security import security_from_config
from trainguard.steps.session import offline_sdk, offline_session
from trainguard.steps.training import train_step
from trainguard.steps.tuning import tune_step
from trainguard.training.config import Config, load_config
from trainguard.training.errors import ConfigError

__all__ = ["XGBOOST_VERSION", "build_context", "build_pipeline", "definition_json",
           "resolve_config"]

XGBOOST_VERSION = "3.0-5"
"""The SageMaker XGBoost image used when ``aws.image_uri`` is not set: Python 3.10 with a
scikit-learn that the bundled imbalanced-learn supports (older images ship Python 3.8)."""

ConfigSource = Config | str | Path | Mapping[str, Any] | None


def resolve_config(config: ConfigSource = None, overrides: Mapping[str, Any] | None = None,
                   **keyword_overrides: Any) -> Config:
    """The validated Config from a Config, YAML path, mapping or None, plus dotted overrides.

    Keyword overrides spell dots as ``__`` (``cv__folds=3``). Raises ConfigError naming the key.
    """
    merged: dict[str, Any] = dict(overrides or {})
    merged.update({key.replace("__", "."): value for key, value in keyword_overrides.items()})
    return load_config(config, merged or None)


@contextlib.contextmanager
def build_context(config: ConfigSource = None, overrides: Mapping[str, Any] | None = None,
                  **keyword_overrides: Any) -> Iterator[BuildContext]:
    """The ``BuildContext`` every step builder takes, valid inside the ``with`` block.

    The block is the offline SDK scope (no network call, no SDK defaults files, telemetry off):
    call the builders, and ``Pipeline.definition()`` of a pipeline holding other SDK steps, in
    it. Raises ConfigError for a bad config, an override, or a value SageMaker would refuse,
    before any SDK object is built.
    """
    cfg = resolve_config(config, overrides, **keyword_overrides)
    check_service_limits(cfg)
    security = security_from_config(cfg)
    bucket = default_bucket(cfg)
    bundle = build_bundle()
    with offline_sdk(cfg.aws.region):
        session = offline_session(cfg.aws.region, bucket)
        yield BuildContext(
            cfg=cfg, session=session, params=pipeline_parameters(cfg, bucket),
            security=security, bucket=bucket, prefix=cfg.aws.prefix.strip("/"),
            image_uri=_image_uri(cfg), code_uri=bundle.s3_uri(bucket, cfg.aws.prefix),
            code_sha256=bundle.sha256)


def build_pipeline(config: ConfigSource = None, overrides: Mapping[str, Any] | None = None,
                   **keyword_overrides: Any) -> Pipeline:
    """Build the trainguard SageMaker Pipeline (SDK v3) for a config, with no network call.

    Steps: Preprocess → Tune (or Train) → Evaluate → CheckApproval → RegisterModel, else
    RegisterRejected and/or FailRejected per ``approval.on_reject``. Raises ConfigError for a
    bad config or override, a value SageMaker would refuse (before touching the SDK), or an
    image that cannot be resolved.
    """
    with build_context(config, overrides, **keyword_overrides) as ctx:
        return _assemble(ctx)


def definition_json(config: ConfigSource = None, overrides: Mapping[str, Any] | None = None,
                    **keyword_overrides: Any) -> str:
    """The pipeline definition as canonical JSON text (sorted keys, 2-space indent, newline)."""
    pipeline = build_pipeline(config, overrides, **keyword_overrides)
    with offline_sdk(pipeline.sagemaker_session.boto_region_name):
        raw = pipeline.definition()
    return json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------
# internals


def _image_uri(cfg: Config) -> str:
    if cfg.aws.image_uri:
        return cfg.aws.image_uri
    return _xgboost_image(cfg.aws.region)


@functools.lru_cache(maxsize=8)
def _xgboost_image(region: str) -> str:
    """The SageMaker XGBoost image of a region (cached: the lookup reads botocore's endpoints)."""
    try:
        return image_uris.retrieve("xgboost", region, XGBOOST_VERSION)
    except ValueError as exc:
        raise ConfigError(
            f"no SageMaker XGBoost {XGBOOST_VERSION} image for aws.region {region!r} "
            f"({exc}); set aws.region to a SageMaker region or aws.image_uri to an image."
        ) from None


def _assemble(ctx: BuildContext) -> Pipeline:
    cfg, params = ctx.cfg, ctx.params
    preprocess = preprocess_step(ctx)
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs
    train_uri, test_uri = outputs["train"].S3Output.S3Uri, outputs["test"].S3Output.S3Uri

    if cfg.tuning.enabled:
        fit, model_uri = tune_step(ctx, train_uri)
        best = fit.properties.BestTrainingJob
        training_job = best.TrainingJobName
        tuned = {name: best.TunedHyperParameters[name] for name in sorted(cfg.tuning.ranges)}
    else:
        fit, model_uri = train_step(ctx, train_uri)
        training_job, tuned = fit.properties.TrainingJobName, {}

    evaluate, report = evaluate_step(ctx, model_uri, test_uri)
    report_dir = evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri
    report_uri = Join(on="/", values=[report_dir, EVALUATION_FILE])
    lineage = lineage_metadata(ctx, report, training_job, tuned)
    # data- and model-quality baselines of the train split and the holdout, for the package
    baseline = baseline_step(ctx, train_uri, report_dir)

    approve = register_step(ctx, "RegisterModel", model_uri, report_uri,
                            params.model_approval_status, lineage, baselines=baselines_of(baseline))
    reject: list[Any] = []
    if cfg.approval.on_reject in ("register_rejected", "both"):
        reject.append(register_step(ctx, "RegisterRejected", model_uri, report_uri, "Rejected",
                                    {**lineage, **rejected_metadata(ctx, report)}))
    if cfg.approval.on_reject in ("fail", "both"):
        # After the audit record (if any): a FailStep ends the execution.
        reject.append(fail_step(rejection_message(ctx, report, report_uri),
                                depends_on=list(reject) or None))
    check = check_approval_step(ctx, report, if_steps=[approve], else_steps=reject)
    pipeline = TrainguardPipeline(name=cfg.aws.pipeline_name, parameters=params.all,
                                  steps=[preprocess, fit, evaluate, baseline, check],
                                  sagemaker_session=ctx.session,
                                  pipeline_experiment_config=None)
    pipeline.trainguard_config = cfg
    return pipeline


class TrainguardPipeline(Pipeline):
    """The SDK's Pipeline, whose deploy verbs go through trainguard instead of the offline build
    session (which has no credentials and would upload no code bundle)."""

    trainguard_config: Config

    def upsert(self, role_arn: str | None = None, description: str | None = None, tags: Any = None,
               parallelism_config: Any = None) -> dict[str, Any]:
        """What ``trainguard upsert`` does (lint, SSE-KMS bundle upload, create or update)."""
        from trainguard.pipelines.api import upsert

        if description is not None or tags is not None or parallelism_config is not None:
            raise ConfigError("description, tags and parallelism_config come from the config "
                              "(security.tags); call pipeline.upsert(role_arn=...) alone.")
        if not role_arn:
            raise ConfigError("pipeline.upsert needs role_arn= (the execution role; see "
                              "trainguard iam-policy).")
        result = upsert(self.trainguard_config, role_arn=role_arn)
        return {"PipelineArn": result.pipeline_arn}

    def create(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Refused: use ``pipeline.upsert(role_arn=...)``, which creates when the pipeline is new."""
        raise ConfigError(_USE_TRAINGUARD.format(verb="create"))

    def update(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Refused: use ``pipeline.upsert(role_arn=...)``, which updates only when changed."""
        raise ConfigError(_USE_TRAINGUARD.format(verb="update"))

    def start(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: a start must carry the champion bar; ``trainguard.start`` reads it."""
        raise ConfigError("pipeline.start() would start with ChampionBar 0.0 (no champion "
                          "comparison); use trainguard.start(config, role_arn=...) or "
                          "'trainguard upsert --start', which read the champion from the registry.")


_USE_TRAINGUARD = ("pipeline.{verb}() would deploy through the offline build session without "
                   "linting or uploading the code bundle; use pipeline.upsert(role_arn=...) or "
                   "trainguard.upsert(config, role_arn=...).")
