"""Rules on every job a step creates: customer-key encryption, a VPC, network isolation,
encrypted inter-container traffic, a runtime ceiling, and instances fit for the job."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from trainguard.pipelines.ci.lint.findings import Finding, Severity
from trainguard.pipelines.definition import (
    JOB_SETTINGS,
    UNKNOWN,
    describe_expression,
    evaluate,
    get_path,
    resolve,
)
from trainguard.steps.limits import MAX_PROCESSING_RUNTIME_SECONDS

__all__ = ["MAX_TRAINING_RUNTIME_SECONDS", "check_instances", "check_job"]

_AWS_MANAGED_KEY = re.compile(r"(^|:)alias/aws/")
MAX_TRAINING_RUNTIME_SECONDS = 2_419_200
"""CreateTrainingJob's ``StoppingCondition.MaxRuntimeInSeconds`` maximum, 28 days (SageMaker API
reference, StoppingCondition; the service model carries no bound). Processing: 9 days (the model's)."""
_MAX_RUNTIME = {"Processing": MAX_PROCESSING_RUNTIME_SECONDS, "Training": MAX_TRAINING_RUNTIME_SECONDS}
_MODEL_SETTINGS: dict[str, str | None] = {
    "volume": None, "output": None, "vpc": "VpcConfig", "isolation": "EnableNetworkIsolation",
    "ice": None, "runtime": None}
"""A CreateModel request (step type Model): the container it names runs isolated in a VPC too."""


@dataclass
class _Job:
    """One job block of a step being checked: where it is, what its settings' paths are."""

    step: str
    kind: str
    prefix: str
    job: dict[str, Any]
    definition: Mapping[str, Any]

    @property
    def paths(self) -> Mapping[str, str | None]:
        kind = self.kind
        return _MODEL_SETTINGS if kind == "Model" else JOB_SETTINGS["Training" if kind == "Tuning" else kind]

    def finding(self, rule: str, sub: str, message: str, severity: Severity = "error") -> Finding:
        return Finding(rule, severity, self.step, f"{self.prefix}.{sub}", message)

    def setting(self, path: str) -> tuple[Any, Any]:
        """(raw JSON, evaluated value) of the setting at ``path``."""
        raw = get_path(self.job, path)
        return raw, evaluate(raw, self.definition)

    def unproven(self, raw: Any) -> str:
        return (f"is given by {describe_expression(raw, self.definition)}, which lint cannot prove "
                "safe before a run")


def check_job(step_name: str, kind: str, prefix: str, job: dict[str, Any],
              definition: Mapping[str, Any]) -> Iterator[Finding]:
    """Encryption, VPC, isolation and runtime findings of one job block (or a Model request)."""
    j = _Job(step_name, kind, prefix, job, definition)
    yield from _check_encryption(j)
    vpc = j.paths["vpc"]
    if vpc:
        yield from _check_vpc(get_path(job, vpc), vpc, definition, j.finding)
    yield from _check_isolation(j)
    yield from _check_runtime(j)


def _check_encryption(j: _Job) -> Iterator[Finding]:
    """Volumes and S3 outputs encrypted with a customer KMS key (not absent, not AWS-managed)."""
    for key, rule, what, setting in (("volume", "kms-volume", "job volumes are", "VolumeKmsKeyId"),
                                     ("output", "kms-output", "job outputs written to S3 are",
                                      "KmsKeyId")):
        path = j.paths[key]
        if not path or (key == "output" and j.kind == "Processing"
                        and not get_path(j.job, "ProcessingOutputConfig.Outputs")):
            continue
        raw, value = j.setting(path)
        fix = f"set security.kms_key_id ({setting}) to your customer key's ARN"
        if value is UNKNOWN:
            yield j.finding(rule, path, f"the KMS key {j.unproven(raw)}; {fix} as a literal or a "
                            "parameter with a default.")
        elif not isinstance(value, str) or not value.strip():
            yield j.finding(rule, path, f"{what} not encrypted with a customer KMS key; {fix}.")
        elif _AWS_MANAGED_KEY.search(value.strip()):
            yield j.finding(rule, path, f"{what} encrypted with the AWS-managed key {value!r}, not a "
                            f"customer key you control and can audit or revoke; {fix}.")


def _check_isolation(j: _Job) -> Iterator[Finding]:
    """Network isolation and inter-container traffic encryption, as the literal true."""
    for key, rule, text, setting in (
            ("isolation", "network-isolation", "job is not network-isolated",
             "security.network_isolation=true (EnableNetworkIsolation)"),
            ("ice", "inter-container-encryption", "traffic between job containers is not encrypted",
             "security.inter_container_encryption=true (EnableInterContainerTrafficEncryption)")):
        path = j.paths[key]
        if not path:
            continue
        raw, value = j.setting(path)
        if value is UNKNOWN:
            yield j.finding(rule, path, f"{path.rsplit('.', 1)[-1]} {j.unproven(raw)}; set {setting} as "
                            "the literal true.")
        elif value is not True:
            yield j.finding(rule, path, f"{text}; set {setting}.")


def _check_runtime(j: _Job) -> Iterator[Finding]:
    """A maximum runtime, positive and within the service's maximum for the job kind."""
    rt = j.paths["runtime"]
    if not rt:
        return
    raw, value = j.setting(rt)
    ceiling = _MAX_RUNTIME["Training" if j.kind in ("Tuning", "Training") else "Processing"]
    fix = "set security.max_runtime_seconds (StoppingCondition.MaxRuntimeInSeconds)"
    if value is UNKNOWN:
        yield j.finding("max-runtime", rt, f"the maximum runtime {j.unproven(raw)}; {fix}.")
    elif not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        yield j.finding("max-runtime", rt, "job has no maximum runtime, so a stuck job runs (and "
                        f"bills) until stopped; {fix}.")
    elif value > ceiling:
        yield j.finding("max-runtime", rt, f"maximum runtime {value} s is above the service's "
                        f"maximum for this job ({ceiling} s), so the job cannot be created; {fix} "
                        f"to at most {ceiling}.")


def _check_vpc(cfg: Any, vpc: str, definition: Mapping[str, Any], finding: Callable[..., Finding]) -> Iterator[Finding]:
    """Subnets and security groups must be proven: non-blank literal IDs (or parameter defaults)."""
    fix = ("set security.subnets and security.security_group_ids to private subnets and a "
           "security group")
    if cfg is None:
        yield finding("vpc", vpc, f"job does not run in a VPC (no subnets and security groups); {fix}.")
        return
    if not isinstance(cfg, dict):
        yield finding("vpc", vpc, f"the VPC configuration {describe_expression(cfg, definition)} is "
                      f"not an object lint can check; {fix}.")
        return
    missing, unproven = [], []
    for key, what in (("Subnets", "subnets"), ("SecurityGroupIds", "security groups")):
        raw = cfg.get(key)
        items = evaluate(raw, definition)
        if items is UNKNOWN:
            unproven.append(f"{what} ({describe_expression(raw, definition)})")
            continue
        if not isinstance(items, list) or not items:
            missing.append(what)
            continue
        values = [evaluate(v, definition) for v in items]
        if any(v is UNKNOWN for v in values):
            unproven.append(f"{what} (an element given by an expression)")
        elif any(not isinstance(v, str) or not v.strip() for v in values):
            missing.append(f"{what} (a blank or non-text ID)")
    if missing:
        yield finding("vpc", vpc, f"job does not run in a VPC (no {' and '.join(missing)}); {fix}.")
    if unproven:
        yield finding("vpc", vpc, f"the VPC's {' and '.join(unproven)} cannot be proven before a "
                      f"run; {fix} as literals.")


_INSTANCE_PATHS = {"Processing": "ProcessingResources.ClusterConfig",
                   "Training": "ResourceConfig", "Transform": "TransformResources"}


def check_instances(step_name: str, kind: str, prefix: str, job: dict[str, Any],
                    definition: Mapping[str, Any]) -> Iterator[Finding]:
    """A volume KMS key on an instance-storage type; several instances for trainguard's train job."""
    from trainguard.training.instances import (
        TRAINING_INSTANCE_COUNT_MESSAGE,
        has_instance_storage,
        instance_storage_message,
    )

    base = _INSTANCE_PATHS.get("Training" if kind == "Tuning" else kind)
    if base is None:
        return
    raw_type = get_path(job, f"{base}.InstanceType")
    instance_type = resolve(raw_type, definition)
    key = resolve(get_path(job, f"{base}.VolumeKmsKeyId"), definition)
    if key and isinstance(instance_type, str) and has_instance_storage(instance_type):
        where = (f"the default of parameter {raw_type['Get'].split('.', 1)[1]}"
                 if isinstance(raw_type, dict) and "Get" in raw_type else "instance type")
        yield Finding("kms-instance-storage", "error", step_name, f"{prefix}.{base}.InstanceType",
                      instance_storage_message(where, instance_type))
    hp = job.get("HyperParameters") or job.get("StaticHyperParameters")
    if kind in ("Training", "Tuning") and _is_trainguard_train_job(hp):
        count = resolve(get_path(job, f"{base}.InstanceCount"), definition)
        if count is UNKNOWN or not isinstance(count, int) or count > 1:
            shown = "unknown before the run" if count is UNKNOWN else count
            yield Finding("instance-count", "error", step_name, f"{prefix}.{base}.InstanceCount",
                          f"instance count {shown}: {TRAINING_INSTANCE_COUNT_MESSAGE} Set "
                          "aws.training_instance_count=1.")


def _is_trainguard_train_job(hp: Any) -> bool:
    """trainguard's train job: script mode running entry.py with the CV's hyperparameters."""
    return (isinstance(hp, dict) and hp.get("sagemaker_program") == "entry.py"
            and "folds" in hp and "objective_metric" in hp)
