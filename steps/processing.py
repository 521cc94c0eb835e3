"""The two processing steps, ``Preprocess`` and ``Evaluate``: the code bundle's jobs on a Processor.

A processing job receives the bundle as an input file; its entry point unpacks it and runs
``python3 -m trainguard.training.jobs <kind>`` from there, so the job needs nothing but the image and its
inputs (network isolation allows no downloads). ``ContainerEntrypoint`` is
``["/bin/sh", "-c", UNPACK_AND_RUN, "trainguard.training.jobs", <kind>]`` and ``ContainerArguments`` are the
job's ``--flag value`` pairs: the local runner reads the kind from the entry point's last element.
Both steps are deterministic functions of their inputs, so they are cached (``aws.cache_steps``).
SageMaker keys a processing step's cache on AppSpecification, Environment and ProcessingInputs,
not on outputs, so the per-execution output locations (``runs/<ExecutionId>/...``) do not defeat
it: a hit hands on the earlier execution's outputs.
"""

from __future__ import annotations

from typing import Any

from trainguard.steps.context import BuildContext
from trainguard.steps.frozen import FrozenArguments
from trainguard.steps.sdk import (
    CacheConfig,
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
    ProcessingStep,
    Processor,
    PropertyFile,
)
from trainguard.training.jobs import evaluate_arguments, preprocess_arguments

__all__ = [
    "CODE_INPUT_DIR",
    "EVALUATION_FILE",
    "PROCESSING_ROOT",
    "UNPACK_AND_RUN",
    "ProcessingJobStep",
    "evaluate_step",
    "job_entrypoint",
    "preprocess_step",
]

PROCESSING_ROOT = "/opt/ml/processing"
CODE_INPUT_DIR = f"{PROCESSING_ROOT}/input/code"
CODE_DIR = f"{PROCESSING_ROOT}/code"
EVALUATION_FILE = "evaluation.json"
UNPACK_AND_RUN = (
    f"set -e; mkdir -p {CODE_DIR}; tar -xzf {CODE_INPUT_DIR}/sourcedir.tar.gz -C {CODE_DIR}; "
    f'cd {CODE_DIR}; PYTHONPATH={CODE_DIR} exec python3 -m trainguard.training.jobs "$@"'
)
"""Shell run by every processing job: unpack the bundle, then ``python3 -m trainguard.training.jobs``."""


def job_entrypoint(kind: str) -> list[str]:
    """The container entry point of a ``trainguard.training.jobs`` processing job of this kind."""
    return ["/bin/sh", "-c", UNPACK_AND_RUN, "trainguard.training.jobs", kind]


class ProcessingJobStep(FrozenArguments, ProcessingStep):
    """A ProcessingStep whose request is computed once, at build time."""


def preprocess_step(ctx: BuildContext) -> ProcessingJobStep:
    """``Preprocess``: validate the data at ``InputDataUri`` and split it into train/ and test/."""
    outputs = [_output("train", f"{PROCESSING_ROOT}/train", ctx.run_uri("preprocess", "train")),
               _output("test", f"{PROCESSING_ROOT}/test", ctx.run_uri("preprocess", "test"))]
    inputs = [_input("data", ctx.params.input_data_uri, f"{PROCESSING_ROOT}/input/data"),
              _input("code", ctx.code_uri, CODE_INPUT_DIR)]
    step_args = _processor(ctx, "preprocess").run(
        inputs=inputs, outputs=outputs, arguments=preprocess_arguments(ctx.cfg))
    step = ProcessingJobStep(name="Preprocess", step_args=step_args, cache_config=_cache(ctx))
    step.freeze()
    return step


def evaluate_step(ctx: BuildContext, model_uri: Any,
                  test_uri: Any) -> tuple[ProcessingJobStep, PropertyFile]:
    """``Evaluate``: score the chosen model on the untouched holdout; writes evaluation.json.

    Returns the step and its ``EvaluationReport`` property file. The approval thresholds are
    passed from the pipeline parameters, so the report's decision matches ``CheckApproval``.
    """
    p = ctx.params
    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path=EVALUATION_FILE)
    inputs = [_input("model", model_uri, f"{PROCESSING_ROOT}/model"),
              _input("test", test_uri, f"{PROCESSING_ROOT}/test"),
              _input("code", ctx.code_uri, CODE_INPUT_DIR)]
    outputs = [_output("evaluation", f"{PROCESSING_ROOT}/evaluation", ctx.run_uri("evaluation"))]
    # ContainerArguments is a list of strings: the service refuses a Float parameter's bare Get
    # there ("Cannot assign property reference ... to argument of type [String]"); to_string()
    # (a Std:Join of the one value) is the accepted form.
    arguments = evaluate_arguments(
        ctx.cfg, min_auc=p.min_auc.to_string(), min_recall=p.min_recall.to_string(),
        min_pr_auc=p.min_pr_auc.to_string(), max_overfit_gap=p.max_overfit_gap.to_string(),
        champion_bar=p.champion_bar.to_string())
    step_args = _processor(ctx, "evaluate").run(inputs=inputs, outputs=outputs, arguments=arguments)
    step = ProcessingJobStep(name="Evaluate", step_args=step_args, property_files=[report],
                             cache_config=_cache(ctx))
    step.freeze()
    return step, report


# --------------------------------------------------------------------------------------------
# internals


def _processor(ctx: BuildContext, kind: str) -> Processor:
    sec = ctx.security
    return Processor(
        role=ctx.role,
        image_uri=ctx.image_uri,
        instance_count=ctx.params.processing_instance_count,
        instance_type=ctx.params.processing_instance_type,
        entrypoint=job_entrypoint(kind),
        volume_kms_key=sec.kms_key_id,
        output_kms_key=sec.kms_key_id,
        max_runtime_in_seconds=sec.max_runtime_seconds,
        base_job_name=f"trainguard-{kind}",
        sagemaker_session=ctx.session,
        env={"PYTHONUNBUFFERED": "1"},
        tags=sec.tag_list() or None,
        network_config=sec.network_config(),
    )


def _input(name: str, source: Any, local_path: str) -> ProcessingInput:
    return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
        s3_uri=source, local_path=local_path, s3_data_type="S3Prefix", s3_input_mode="File",
        s3_data_distribution_type="FullyReplicated"))


def _output(name: str, local_path: str, destination: Any) -> ProcessingOutput:
    return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
        s3_uri=destination, local_path=local_path, s3_upload_mode="EndOfJob"))


def _cache(ctx: BuildContext) -> CacheConfig | None:
    if not ctx.cfg.aws.cache_steps:
        return None
    return CacheConfig(enable_caching=True, expire_after=ctx.cfg.aws.cache_expire_after)
