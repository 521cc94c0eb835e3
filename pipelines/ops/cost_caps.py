"""The cost caps lint applies to any definition: runtime per job kind, allowed instance types,
GPUs, instance counts, tuning budgets, spot settings and cost-allocation tags.

``trainguard.pipelines.ci.lint`` runs them with the other rules; what cannot be resolved before
a run is a finding.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from typing import Any

from trainguard.pipelines.ci.lint import Finding
from trainguard.pipelines.definition import arguments, get_path, iter_steps, job_kind, parse_definition
from trainguard.pipelines.ops.prices import INSTANCE_TYPE
from trainguard.pipelines.ops.resolved import int_of, job_attempts, parameter_values, str_of, value_of
from trainguard.steps.cost_tags import COST_TAG_KEYS
from trainguard.training.config import CostConfig

__all__ = ["GPU_FAMILIES", "cost_findings", "instance_family"]

GPU_FAMILIES = frozenset({"p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "g4dn", "g4ad",
                          "g5", "g5g", "g6", "g6e", "gr6", "trn1", "trn1n", "trn2", "inf1", "inf2"})
"""Accelerated instance families (GPU, Trainium, Inferentia): refused unless cost.allow_gpu."""


def instance_family(instance_type: str) -> str | None:
    """``ml.g5.xlarge`` -> ``g5`` (None when the name is not an ml.* instance type)."""
    m = INSTANCE_TYPE.match(instance_type)
    return m.group(1) if m else None


def _jobs_of(step: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    kind = job_kind(step)
    args = arguments(step)
    if kind == "Tuning":
        if isinstance(args.get("TrainingJobDefinition"), dict):
            yield "Arguments.TrainingJobDefinition", "Training", args["TrainingJobDefinition"]
        for i, d in enumerate(args.get("TrainingJobDefinitions") or []):
            if isinstance(d, dict):
                yield f"Arguments.TrainingJobDefinitions[{i}]", "Training", d
    elif kind in ("Processing", "Training", "Transform"):
        yield "Arguments", kind, args


_RESOURCE_PATHS = {"Processing": ("ProcessingResources.ClusterConfig.InstanceType",
                                  "ProcessingResources.ClusterConfig.InstanceCount"),
                   "Training": ("ResourceConfig.InstanceType", "ResourceConfig.InstanceCount"),
                   "Transform": ("TransformResources.InstanceType", "TransformResources.InstanceCount")}


def cost_findings(definition: Mapping[str, Any] | str, cost: CostConfig | None = None,
                  params: Mapping[str, Any] | None = None) -> list[Finding]:
    """Cost caps on any definition: runtime per job kind, instance types, GPUs, counts, tuning
    budgets, spot settings, bounded retries and cost-allocation tags. What cannot be resolved is a
    finding."""
    definition = parse_definition(definition)
    cost = cost or CostConfig()
    values = parameter_values(definition, params)
    out: list[Finding] = []
    for step, _trail in iter_steps(definition):
        name = str(step.get("Name", "?"))
        jobs = list(_jobs_of(step))
        for prefix, kind, job in jobs:
            out.extend(_job_caps(name, prefix, kind, job, values, cost))
        if job_kind(step) == "Tuning":
            out.extend(_tuning_caps(name, arguments(step), values, cost))
        if jobs:
            out.extend(_tag_caps(name, arguments(step)))
        if jobs and job_attempts(step, job_kind(step), values) is None:
            out.append(Finding("cost-retries", "error", name, "RetryPolicies",
                               "a retry policy on SageMaker.* job errors has no MaxAttempts, so the "
                               "retries (each a new billed job) are not bounded; set MaxAttempts."))
    return out


def _job_caps(step: str, prefix: str, kind: str, job: Mapping[str, Any], values: Mapping[str, Any],
              cost: CostConfig) -> Iterator[Finding]:
    def finding(rule: str, sub: str, message: str) -> Finding:
        return Finding(rule, "error", step, f"{prefix}.{sub}", message)

    if kind in ("Processing", "Training"):
        cap = cost.max_runtime_processing_seconds if kind == "Processing" \
            else cost.max_runtime_training_seconds
        key = f"cost.max_runtime_{kind.lower()}_seconds"
        raw = get_path(job, "StoppingCondition.MaxRuntimeInSeconds")
        runtime = int_of(raw, values)
        if runtime is None and raw is not None:  # a missing one is lint's max-runtime finding
            yield finding("cost-max-runtime", "StoppingCondition.MaxRuntimeInSeconds",
                          f"the {kind.lower()} job's max runtime is not known before the run, so its "
                          f"cost is unbounded; give a literal (at most {key} = {cap}).")
        elif runtime is not None and runtime > cap:
            yield finding("cost-max-runtime", "StoppingCondition.MaxRuntimeInSeconds",
                          f"max runtime {runtime}s is over {key} ({cap}s); lower "
                          f"security.max_runtime_seconds or raise {key}.")
    type_path, count_path = _RESOURCE_PATHS[kind]
    raw_type = get_path(job, type_path)
    if raw_type is None and kind == "Training":
        configs = get_path(job, "HyperParameterTuningResourceConfig.InstanceConfigs") or []
        types = [str_of(c.get("InstanceType"), values) for c in configs if isinstance(c, dict)]
        counts = [int_of(c.get("InstanceCount"), values) for c in configs if isinstance(c, dict)]
        type_path = "HyperParameterTuningResourceConfig.InstanceConfigs"
    else:
        types, counts = [str_of(raw_type, values)], [int_of(get_path(job, count_path), values)
                                                    if get_path(job, count_path) is not None else 1]
    for itype in types or [None]:
        if itype is None:
            yield finding("cost-instance-type", type_path,
                          "the instance type is not known before the run, so its cost cannot be "
                          "capped; give it a literal value or a parameter with a default.")
            continue
        if not any(fnmatch.fnmatchcase(itype, pattern) for pattern in cost.allowed_instance_types):
            yield finding("cost-instance-type", type_path,
                          f"instance type {itype} is not in cost.allowed_instance_types "
                          f"({', '.join(cost.allowed_instance_types)}); choose one of those or "
                          "add it to the list.")
        if instance_family(itype) in GPU_FAMILIES and not cost.allow_gpu:
            yield finding("cost-gpu", type_path,
                          f"{itype} is an accelerated (GPU) instance type and cost.allow_gpu is false; "
                          "XGBoost on this data needs no GPU: use a CPU type, or set "
                          "cost.allow_gpu=true on purpose.")
    for count in counts or [None]:
        if count is None:
            yield finding("cost-instance-count", count_path,
                          "the instance count is not known before the run; give it a literal value "
                          "or a parameter with a default.")
        elif count > cost.max_instance_count:
            yield finding("cost-instance-count", count_path,
                          f"{count} instances is over cost.max_instance_count "
                          f"({cost.max_instance_count}); lower the count or raise the cap.")
    if kind == "Training" and value_of(job.get("EnableManagedSpotTraining"), values) is True:
        yield from _spot_caps(step, prefix, job, values)


def _spot_caps(step: str, prefix: str, job: Mapping[str, Any],
               values: Mapping[str, Any]) -> Iterator[Finding]:
    runtime = int_of(get_path(job, "StoppingCondition.MaxRuntimeInSeconds"), values)
    wait = int_of(get_path(job, "StoppingCondition.MaxWaitTimeInSeconds"), values)
    if wait is None or runtime is None or wait < runtime:
        yield Finding("cost-spot", "error", step, f"{prefix}.StoppingCondition.MaxWaitTimeInSeconds",
                      "a managed spot job needs MaxWaitTimeInSeconds at least its "
                      "MaxRuntimeInSeconds; set cost.spot_max_wait_seconds.")
    checkpoint = _first_literal(get_path(job, "CheckpointConfig.S3Uri"), values)
    output = get_path(job, "OutputDataConfig.S3OutputPath")
    kms = str_of(get_path(job, "OutputDataConfig.KmsKeyId"), values)
    bucket = _bucket_of(checkpoint)
    if not checkpoint or not kms or bucket is None or bucket != _bucket_of(_first_literal(output, values)):
        yield Finding("cost-spot", "error", step, f"{prefix}.CheckpointConfig.S3Uri",
                      "a managed spot job's checkpoints must go to the job's own output bucket, "
                      "whose default encryption is the same KMS key as OutputDataConfig.KmsKeyId; "
                      "CheckpointConfig takes no key of its own.")


def _first_literal(node: Any, values: Mapping[str, Any]) -> str | None:
    """The literal start of an S3 path: itself, a parameter's value, or a Join's first string."""
    node = node if isinstance(node, str) or "Std:Join" in (node or {}) else value_of(node, values)
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and isinstance(node.get("Std:Join"), dict):
        for v in node["Std:Join"].get("Values") or []:
            if isinstance(v, str):
                return v
    return None


def _bucket_of(uri: str | None) -> str | None:
    if not uri or not uri.startswith("s3://"):
        return None
    return uri[5:].split("/", 1)[0] or None


def _tuning_caps(step: str, args: Mapping[str, Any], values: Mapping[str, Any],
                 cost: CostConfig) -> Iterator[Finding]:
    limits = get_path(args, "HyperParameterTuningJobConfig.ResourceLimits") or {}
    where = "Arguments.HyperParameterTuningJobConfig.ResourceLimits"
    for member, cap, key in (("MaxNumberOfTrainingJobs", cost.max_tuning_jobs, "cost.max_tuning_jobs"),
                             ("MaxParallelTrainingJobs", cost.max_parallel_jobs, "cost.max_parallel_jobs")):
        value = int_of(limits.get(member), values)
        if value is None:
            yield Finding("cost-tuning-budget", "error", step, f"{where}.{member}",
                          f"the tuning job's {member} is not known before the run; set it "
                          f"(at most {key} = {cap}).")
        elif value > cap:
            yield Finding("cost-tuning-budget", "error", step, f"{where}.{member}",
                          f"{member} {value} is over {key} ({cap}); lower tuning.max_jobs / "
                          f"tuning.max_parallel_jobs or raise {key}.")


def _tag_caps(step: str, args: Mapping[str, Any]) -> Iterator[Finding]:
    tags = args.get("Tags") if isinstance(args.get("Tags"), list) else []
    keys = {t.get("Key") for t in tags if isinstance(t, dict) and t.get("Value")}
    missing = [k for k in COST_TAG_KEYS if k not in keys]
    if missing and tags:  # an untagged job is lint's "tags" finding already
        yield Finding("cost-tags", "error", step, "Arguments.Tags",
                      f"job lacks the cost-allocation tag(s) {', '.join(missing)}, so budgets and "
                      "anomaly monitors filtered on them cannot see its spend; build with trainguard "
                      "(it tags every job) or add them.")
