"""One executor per step ``Type``, picked from a dict: Processing, Training, Tuning, Condition, ...

Each executor can ``check`` a step before anything runs (an UnsupportedStepError names what it
cannot emulate), name the arguments and input objects a cached result depends on (SageMaker's
default cache key attributes per step type, so output paths, which name the execution, are not
among them), and ``run`` the step against the run's context. A type missing from ``EXECUTORS``
is refused before the run starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from trainguard.pipelines.local import jobrun, tuning
from trainguard.pipelines.local.container import MetricReader
from trainguard.pipelines.local.context import RunContext, StepResult
from trainguard.pipelines.local.errors import DefinitionError, StepFailed, UnsupportedStepError
from trainguard.pipelines.local.expressions import check_condition
from trainguard.pipelines.local.graph import Step
from trainguard.pipelines.registry import LocalRegistry, RegistryError
from trainguard.training.errors import DataError

__all__ = ["EXECUTORS", "Executor", "executor_for"]


class Executor:
    """The interface: what a step type needs checked, cached on and run."""

    cacheable: ClassVar[bool] = False
    resolve_arguments: ClassVar[bool] = True
    """False when the executor resolves parts of its arguments itself (conditions, branches)."""

    def check(self, step: Step) -> None:
        """Raise UnsupportedStepError when this step cannot be run locally."""

    def input_uris(self, args: Mapping[str, Any]) -> list[str]:
        """The S3 URIs whose contents determine this step's result (for the cache key)."""
        return []

    def cache_arguments(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments SageMaker keys this step type's cache on; output paths are not among them."""
        return dict(args)

    def run(self, step: Step, args: Mapping[str, Any], ctx: RunContext) -> StepResult:
        """Run the step; ``args`` are its resolved arguments (raw when resolve_arguments is False)."""
        raise NotImplementedError


class ProcessingExecutor(Executor):
    """A processing job running a ``trainguard.training.jobs`` entry point."""

    cacheable = True

    def check(self, step: Step) -> None:
        jobrun.check_processing(step.name, step.spec.get("Arguments") or {})
        jobrun.check_property_files(step.name, step.spec.get("PropertyFiles"))

    def input_uris(self, args: Mapping[str, Any]) -> list[str]:
        return jobrun.processing_input_uris(args)

    def cache_arguments(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return _pick(args, ("AppSpecification", "Environment", "ProcessingInputs"))

    def run(self, step: Step, args: Mapping[str, Any], ctx: RunContext) -> StepResult:
        return jobrun.run_processing(step.name, args, ctx, step.spec.get("PropertyFiles") or [])


class TrainingExecutor(Executor):
    """A training job running trainguard's train entry point once."""

    cacheable = True

    def check(self, step: Step) -> None:
        jobrun.check_training(step.name, step.spec.get("Arguments") or {})

    def input_uris(self, args: Mapping[str, Any]) -> list[str]:
        return jobrun.training_input_uris(args)

    def cache_arguments(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return _pick(args, _TRAINING_CACHE_KEYS)

    def run(self, step: Step, args: Mapping[str, Any], ctx: RunContext) -> StepResult:
        name = ctx.job_name(step.name)
        defs = (args.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
        reader = MetricReader(defs)
        hyperparameters = args.get("HyperParameters") or {}
        folds = _whole(hyperparameters.get("folds"))
        ctx.emit("trial_start", step=step.name, trial=1, total=1, name=name, folds=folds)
        props = jobrun.run_training_job(step.name, name, args, hyperparameters, ctx, reader,
                                        _fold_events(step.name, folds, ctx))
        result = {**args, **props}
        return StepResult(properties=result, output_uris=[props["ModelArtifacts"]["S3ModelArtifacts"]])


class TuningExecutor(Executor):
    """A hyperparameter tuning job, emulated trial by trial (see ``tuning``)."""

    cacheable = True

    def check(self, step: Step) -> None:
        tuning.check_tuning(step.name, step.spec.get("Arguments") or {})

    def input_uris(self, args: Mapping[str, Any]) -> list[str]:
        return jobrun.training_input_uris(tuning.training_definition(args))

    def cache_arguments(self, args: Mapping[str, Any]) -> dict[str, Any]:
        keep = ("AlgorithmSpecification", "HyperParameterRanges", "InputDataConfig",
                "StaticHyperParameters", "TuningObjective")
        out = _pick(args, ("HyperParameterTuningJobConfig",))
        if "TrainingJobDefinition" in args:
            out["TrainingJobDefinition"] = _pick(args["TrainingJobDefinition"], keep)
        if "TrainingJobDefinitions" in args:
            out["TrainingJobDefinitions"] = [_pick(d, keep) for d in args["TrainingJobDefinitions"]]
        return out

    def run(self, step: Step, args: Mapping[str, Any], ctx: RunContext) -> StepResult:
        return tuning.run_tuning(step.name, args, ctx)


class ConditionExecutor(Executor):
    """Evaluates the step's conditions (all must hold); the runner skips the branch not taken."""

    resolve_arguments = False

    def check(self, step: Step) -> None:
        for cond in (step.spec.get("Arguments") or {}).get("Conditions") or []:
            check_condition(cond, step.name)

    def run(self, step: Step, args: Mapping[str, Any], ctx: RunContext) -> StepResult:
        outcome = ctx.expressions.all_conditions(args.get("Conditions") or [])
        return StepResult(properties={"Outcome": outcome}, outcome=outcome)


class FailExecutor(Executor):
    """Fails the run with the step's resolved error message."""

    def run(self, step: Step, args: Mapping[str, Any], ctx: RunContext) -> StepResult:
        message = args.get("ErrorMessage") or f"the pipeline reached fail step {step.name}"
        return StepResult(properties={"ErrorMessage": str(message)}, failure=str(message))


class RegisterModelExecutor(Executor):
    """Registers a model package in the local registry, with its metrics, report and lineage."""

    def run(self, step: Step, args: Mapping[str, Any], ctx: RunContext) -> StepResult:
        group = args.get("ModelPackageGroupName")
        status = args.get("ModelApprovalStatus") or "PendingManualApproval"
        if not group:
            raise DefinitionError(f"step {step.name} has no ModelPackageGroupName.")
        containers = (args.get("InferenceSpecification") or {}).get("Containers") or [{}]
        model_uri = containers[0].get("ModelDataUrl")
        report_uri = (((args.get("ModelMetrics") or {}).get("ModelQuality") or {})
                      .get("Statistics") or {}).get("S3Uri")
        evaluation = _read_json_object(ctx, report_uri, step.name) if report_uri else None
        lineage = {**ctx.lineage, "step": step.name, "model_uri": model_uri,
                   "evaluation_uri": report_uri,
                   "customer_metadata": args.get("CustomerMetadataProperties") or {}}
        if evaluation:
            lineage["hyperparameters"] = (evaluation.get("model") or {}).get("hyperparameters")
            lineage["cv_scores"] = evaluation.get("cross_validation")
        baselines = _drift_check_baselines(args, ctx, step.name)
        if baselines:
            lineage["drift_check_baselines"] = baselines
            if model_uri and ctx.store.exists(str(model_uri)):
                lineage["model_path"] = str(ctx.store.path(str(model_uri)).resolve())
        if ctx.registry is None:
            raise StepFailed(step.name, "no model registry was given to the local run.")
        # one package per execution and step: a rerun after a crash right after registering finds it
        key = f"{ctx.execution_id}/{step.name}@{ctx.workdir.resolve()}"
        extra = {"registration_key": key} if isinstance(ctx.registry, LocalRegistry) else {}
        try:
            pkg = ctx.registry.register(
                str(group), str(status), metrics=None if evaluation else {},
                evaluation=evaluation, lineage=lineage, model_uri=model_uri,
                description=args.get("ModelPackageDescription"), **extra)
        except RegistryError as exc:
            raise StepFailed(step.name, str(exc), exc.exit_code) from exc
        arn = f"arn:aws:sagemaker:local:000000000000:model-package/{pkg.group}/{pkg.version}"
        props = {"ModelPackageArn": arn, "ModelPackageVersion": pkg.version,
                 "ModelApprovalStatus": pkg.status, "ModelPackageGroupName": pkg.group}
        registered = {"group": pkg.group, "version": pkg.version, "status": pkg.status, "arn": arn}
        return StepResult(properties=props, registered=registered)


class ModelExecutor(Executor):
    """CreateModel: nothing to deploy locally; records the model's name and artifact."""

    def run(self, step: Step, args: Mapping[str, Any], ctx: RunContext) -> StepResult:
        name = ctx.job_name(step.name)
        return StepResult(properties={**args, "ModelName": name,
                                      "ModelArn": f"arn:aws:sagemaker:local:000000000000:model/{name}"})


_TRAINING_CACHE_KEYS = ("AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig",
                        "DebugRuleConfigurations", "Environment", "HyperParameters", "InputDataConfig")
"""SageMaker's cache key attributes of a training job (its documented list per step type)."""


def _pick(args: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: args[k] for k in keys if k in args}


def _whole(value: Any) -> int:
    """A hyperparameter's whole number (hyperparameters are strings), 0 when absent or not one."""
    try:
        return int(float(str(value).strip('"')))
    except (TypeError, ValueError):
        return 0


def _fold_events(step: str, folds: int, ctx: RunContext) -> Callable[[str, float], bool]:
    """An ``on_metric`` that emits a ``fold`` event per running CV line of a single training job.

    The job prints its objective's running mean once per fold, then every CV mean once: the first
    metric seen is the per-fold one, and its lines after the last fold are the summary, not folds.
    """
    per_fold: str | None = None
    done = 0

    def on_metric(name: str, value: float) -> bool:
        nonlocal per_fold, done
        per_fold = per_fold or name
        if name == per_fold and done < folds:
            done += 1
            ctx.emit("fold", step=step, trial=1, total=1, fold=done, folds=folds)
        return False

    return on_metric


_BASELINE_DOCUMENTS = {("ModelDataQuality", "Statistics"): ("data_quality", "statistics"),
                       ("ModelDataQuality", "Constraints"): ("data_quality", "constraints"),
                       ("ModelQuality", "Statistics"): ("model_quality", "statistics"),
                       ("ModelQuality", "Constraints"): ("model_quality", "constraints")}


def _drift_check_baselines(args: Mapping[str, Any], ctx: RunContext, step: str) -> dict[str, Any]:
    """The package's DriftCheckBaselines documents, read from the store, with their URIs.

    The local registry keeps the documents themselves (the run's work dir may be cleaned), as
    ``{"data_quality": {"statistics": {...}, "constraints": {...}}, "model_quality": {...},
    "uris": {"data_quality/statistics": "s3://...", ...}}``.
    """
    block = args.get("DriftCheckBaselines") or {}
    out: dict[str, Any] = {}
    uris: dict[str, str] = {}
    for (kind, doc), (folder, name) in _BASELINE_DOCUMENTS.items():
        uri = ((block.get(kind) or {}).get(doc) or {}).get("S3Uri")
        if not uri:
            continue
        try:
            document = ctx.store.read_json(str(uri))
        except DataError as exc:
            raise StepFailed(step, f"the drift check baseline {folder}/{name}: {exc}") from exc
        out.setdefault(folder, {})[name] = document
        uris[f"{folder}/{name}"] = str(uri)
    if out:
        out["uris"] = uris
    return out


def _read_json_object(ctx: RunContext, uri: str, step: str) -> dict[str, Any]:
    try:
        document = ctx.store.read_json(uri)
    except DataError as exc:
        raise StepFailed(step, f"the model metrics report: {exc}") from exc
    if not isinstance(document, dict):
        raise StepFailed(step, f"the model metrics report {uri} is not a JSON object.")
    return document


EXECUTORS: dict[str, Executor] = {
    "Processing": ProcessingExecutor(),
    "Training": TrainingExecutor(),
    "Tuning": TuningExecutor(),
    "Condition": ConditionExecutor(),
    "Fail": FailExecutor(),
    "RegisterModel": RegisterModelExecutor(),
    "Model": ModelExecutor(),
}


def executor_for(step: Step) -> Executor:
    """The executor of the step's Type; UnsupportedStepError naming the step for any other."""
    try:
        return EXECUTORS[step.type]
    except KeyError:
        raise UnsupportedStepError(
            f"step {step.name} has type {step.type!r}, which the local run cannot emulate "
            f"(it runs {', '.join(sorted(EXECUTORS))}). Run it on SageMaker, or remove the step."
        ) from None
