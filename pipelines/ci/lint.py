"""``trainguard lint``: safeguard policy checks on a SageMaker pipeline definition JSON.

Works on the raw definition alone (ours or any other pipeline's), so CI can gate any pipeline:
encryption at rest, VPC, network isolation, inter-container encryption, a runtime ceiling on every
job, no plaintext secrets, no unconditional auto-approval, a reject branch, caching only where it
is deterministic, no placeholder security values, only strings in string-typed fields, no volume
KMS key on instance-storage types, and one instance for trainguard's train job; and the cost caps
of ``trainguard.pipelines.ops.cost`` (runtime per job kind, instance types, GPUs, counts, tuning
budgets, spot, cost-allocation tags). Error findings exit 1; warnings exit 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from trainguard.pipelines.definition import (
    JOB_SETTINGS,
    UNKNOWN,
    arguments,
    describe_expression,
    evaluate,
    get_path,
    iter_steps,
    job_blocks,
    job_kind,
    nested_step_lists,
    parse_definition,
    resolve,
)
from trainguard.steps.limits import MAX_PROCESSING_RUNTIME_SECONDS
from trainguard.training.config import Config, CostConfig

__all__ = ["Finding", "format_findings", "lint_definition"]

Severity = Literal["error", "warning"]

# Placeholders shipped as defaults in training/config.py; a deployed pipeline must not carry them.
_PLACEHOLDERS = (
    (re.compile(r"key/0{8}-0{4}-0{4}-0{4}-0{12}$"), "KMS key", "security.kms_key_id"),
    (re.compile(r"^subnet-0+$"), "subnet", "security.subnets"),
    (re.compile(r"^sg-0+$"), "security group", "security.security_group_ids"),
)
_SECRET_NAME = re.compile(
    r"(^|_)(password|passwd|pwd|secret|secrets|token|api_?key|apikey|access_?key|secret_?key|"
    r"private_?key|credentials?|auth)($|_)"
)
_SECRET_VALUES = (
    (re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
)
_AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_CONNECTION_SECRET = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@")
"""A URL with a password in its user part (postgres://user:pass@host, redis://:pass@host)."""
_SEED_NAMES = {"seed", "random_seed", "random_state", "--seed"}
_REGISTER_TYPES = {"RegisterModel"}
_AWS_MANAGED_KEY = re.compile(r"(^|:)alias/aws/")
MAX_TRAINING_RUNTIME_SECONDS = 2_419_200
"""CreateTrainingJob's ``StoppingCondition.MaxRuntimeInSeconds`` maximum, 28 days (SageMaker API
reference, StoppingCondition; the service model carries no bound). Processing: 9 days (the model's)."""
_MAX_RUNTIME = {"Processing": MAX_PROCESSING_RUNTIME_SECONDS, "Training": MAX_TRAINING_RUNTIME_SECONDS}
_MODEL_SETTINGS: dict[str, str | None] = {
    "volume": None, "output": None, "vpc": "VpcConfig", "isolation": "EnableNetworkIsolation",
    "ice": None, "runtime": None}
"""A CreateModel request (step type Model): the container it names runs isolated in a VPC too."""
_CONTAINER_TYPES = {"Condition", "ForEach"}
_CHECKED_TYPES = {"Processing", "Training", "Tuning", "Transform", "QualityCheck", "ClarifyCheck",
                  "Model", "RegisterModel", "Fail", *_CONTAINER_TYPES}
"""Step types whose Arguments lint knows how to check; any other is a finding (not proven safe)."""
# Step kinds that run code of their own outside a job, with network access. Egress belongs to
# one component outside the pipelines: trainguard's function (invoked by EventBridge when the
# monitoring pipeline ends, it reads the check from S3 and puts the metrics in alarms.namespace;
# invoked by the schedule and the alarms, it reads the champion and starts this pipeline), plus
# `trainguard ops publish` run by hand (docs/operations.md). Jobs have none (network isolation).
# Any other unchecked kind is already an unknown-step error.
_EGRESS_TYPES = {"Lambda", "Callback", "EMR", "EMRServerless", "NotebookJob"}


@dataclass(frozen=True)
class Finding:
    """One violated safeguard: which rule, how bad, where (step and JSON path) and how to fix it."""

    rule: str
    severity: Severity
    step: str
    setting: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Plain dict for ``--json`` output."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# the rules


def _check_job(step_name: str, kind: str, prefix: str, job: dict[str, Any],
               definition: Mapping[str, Any]) -> Iterator[Finding]:
    paths = _MODEL_SETTINGS if kind == "Model" else JOB_SETTINGS["Training" if kind == "Tuning" else kind]

    def finding(rule: str, sub: str, message: str, severity: Severity = "error") -> Finding:
        return Finding(rule, severity, step_name, f"{prefix}.{sub}", message)

    def unproven(raw: Any) -> str:
        return (f"is given by {describe_expression(raw, definition)}, which lint cannot prove safe "
                "before a run")

    for key, rule, what, setting in (("volume", "kms-volume", "job volumes are", "VolumeKmsKeyId"),
                                     ("output", "kms-output", "job outputs written to S3 are",
                                      "KmsKeyId")):
        path = paths[key]
        if not path or (key == "output" and kind == "Processing"
                        and not get_path(job, "ProcessingOutputConfig.Outputs")):
            continue
        raw = get_path(job, path)
        value = evaluate(raw, definition)
        fix = f"set security.kms_key_id ({setting}) to your customer key's ARN"
        if value is UNKNOWN:
            yield finding(rule, path, f"the KMS key {unproven(raw)}; {fix} as a literal or a "
                          "parameter with a default.")
        elif not isinstance(value, str) or not value.strip():
            yield finding(rule, path, f"{what} not encrypted with a customer KMS key; {fix}.")
        elif _AWS_MANAGED_KEY.search(value.strip()):
            yield finding(rule, path, f"{what} encrypted with the AWS-managed key {value!r}, not a "
                          f"customer key you control and can audit or revoke; {fix}.")
    vpc = paths["vpc"]
    if vpc:
        yield from _check_vpc(get_path(job, vpc), vpc, definition, finding)
    for key, rule, text, setting in (
            ("isolation", "network-isolation", "job is not network-isolated",
             "security.network_isolation=true (EnableNetworkIsolation)"),
            ("ice", "inter-container-encryption", "traffic between job containers is not encrypted",
             "security.inter_container_encryption=true (EnableInterContainerTrafficEncryption)")):
        path = paths[key]
        if not path:
            continue
        raw = get_path(job, path)
        value = evaluate(raw, definition)
        if value is UNKNOWN:
            yield finding(rule, path, f"{path.rsplit('.', 1)[-1]} {unproven(raw)}; set {setting} as "
                          "the literal true.")
        elif value is not True:
            yield finding(rule, path, f"{text}; set {setting}.")
    rt = paths["runtime"]
    if rt:
        raw = get_path(job, rt)
        value = evaluate(raw, definition)
        ceiling = _MAX_RUNTIME["Training" if kind in ("Tuning", "Training") else "Processing"]
        fix = "set security.max_runtime_seconds (StoppingCondition.MaxRuntimeInSeconds)"
        if value is UNKNOWN:
            yield finding("max-runtime", rt, f"the maximum runtime {unproven(raw)}; {fix}.")
        elif not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            yield finding("max-runtime", rt, "job has no maximum runtime, so a stuck job runs (and "
                          f"bills) until stopped; {fix}.")
        elif value > ceiling:
            yield finding("max-runtime", rt, f"maximum runtime {value} s is above the service's "
                          f"maximum for this job ({ceiling} s), so the job cannot be created; {fix} "
                          f"to at most {ceiling}.")


def _check_vpc(cfg: Any, vpc: str, definition: Mapping[str, Any], finding: Any) -> Iterator[Finding]:
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


def _check_shape(step: Any, where: str) -> Iterator[Finding]:
    """Steps lint cannot read or does not know are findings: unknown means not proven safe."""
    if not isinstance(step, dict):
        yield Finding("malformed-step", "error", where, "", f"a step is {type(step).__name__}, not "
                      "an object; lint cannot check it. Fix the definition's Steps list.")
        return
    name = str(step.get("Name", "?"))
    kind = step.get("Type")
    args = step.get("Arguments")
    if kind not in _CHECKED_TYPES:
        yield Finding("unknown-step", "error", name, "Type", f"lint cannot check a {kind!r} step (it "
                      "knows Processing, Training, Tuning, Transform, QualityCheck, ClarifyCheck, "
                      "Model, RegisterModel, Condition, ForEach and Fail), so nothing proves its "
                      "jobs encrypted, isolated or bounded; review it by hand and remove it from "
                      "the pipeline lint gates.")
    elif kind == "ForEach" and not nested_step_lists(step):
        yield Finding("unknown-step", "error", name, "Arguments", "lint found no steps inside this "
                      "ForEach, so it cannot check what it runs; give its loop body as step objects.")
    elif kind not in ("Fail",) and not isinstance(args, dict):
        what = "no Arguments" if args is None else f"Arguments that are {type(args).__name__}, not an object"
        yield Finding("malformed-step", "error", name, "Arguments", f"a {kind} step with {what} "
                      "cannot be checked (or run); give its request as a JSON object.")


def _check_step_lists(definition: Mapping[str, Any]) -> Iterator[Finding]:
    """Shape findings for every step at every level (non-objects included, which iter_steps skips)."""
    def walk(steps: Any, where: str) -> Iterator[Finding]:
        if not isinstance(steps, list):
            return
        for i, step in enumerate(steps):
            yield from _check_shape(step, f"{where}[{i}]")
            if isinstance(step, dict):
                for label, inner in nested_step_lists(step):
                    yield from walk(inner, f"{step.get('Name', '?')}.{label}")

    yield from walk(definition.get("Steps"), "Steps")


def _check_tags(step: Mapping[str, Any]) -> Iterator[Finding]:
    """Every job carries tags: without them its cost and ownership cannot be traced or budgeted."""
    args = step.get("Arguments")
    tags = args.get("Tags") if isinstance(args, dict) else None
    if not isinstance(tags, list) or not tags:
        yield Finding("tags", "error", str(step.get("Name", "?")), "Arguments.Tags",
                      "job is not tagged, so its cost and ownership cannot be traced; set "
                      "security.tags (e.g. project, owner, cost-center).")


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, node


def _secret_name(name: str) -> bool:
    norm = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.lstrip("-")).lower().replace("-", "_")
    return bool(_SECRET_NAME.search(norm))


def _looks_like_secret_key(text: str) -> bool:
    for m in _AWS_SECRET_KEY.finditer(text):
        s = m.group(0)
        if re.search(r"[a-z]", s) and re.search(r"[A-Z]", s) and re.search(r"[0-9]", s):
            return True
    return False


def _is_reference(value: str) -> bool:
    """A pointer to a secret store rather than the secret itself."""
    return value.startswith(("arn:aws:secretsmanager:", "arn:aws:ssm:", "/", "{{resolve:"))


def _check_secrets(step: Mapping[str, Any], definition: Mapping[str, Any]) -> Iterator[Finding]:
    name = str(step.get("Name", "?"))
    args = step.get("Arguments")
    if not isinstance(args, dict):
        return
    fix = ("remove it from the definition and have the job read it from AWS Secrets Manager "
           "(pass the secret's ARN, grant the role secretsmanager:GetSecretValue)")
    for path, value in _leaves(args, "Arguments"):
        if not isinstance(value, str):
            continue
        for pattern, what in _SECRET_VALUES:
            if pattern.search(value):
                yield Finding("plaintext-secret", "error", name, path,
                              f"value looks like {what}; {fix}.")
                break
        else:
            if _connection_secret(value):
                yield Finding("plaintext-secret", "error", name, path,
                              f"value is a connection string with a password in it; {fix}.")
                continue
            if _looks_like_secret_key(value) and not value.startswith(("s3://", "arn:")):
                yield Finding("plaintext-secret", "error", name, path,
                              f"value looks like an AWS secret access key; {fix}.")
    # secret-looking names in Environment / HyperParameters maps, wherever they are nested
    for path, mapping in _named_maps(args, "Arguments"):
        for key, raw in mapping.items():
            if not _secret_name(str(key)):
                continue
            value = resolve(raw, definition)
            if isinstance(raw, dict) and value is UNKNOWN:
                continue
            if isinstance(value, str) and value and not _is_reference(value):
                severity: Severity = "error"
                where = "a pipeline parameter default" if isinstance(raw, dict) else "plaintext"
                yield Finding("plaintext-secret", severity, name, f"{path}.{key}",
                              f"{key!r} holds a secret in {where}, visible to anyone who can "
                              f"describe the pipeline or its jobs; {fix}.")
    # command-line flags such as --password VALUE or --password=VALUE, in the container's
    # arguments or its entrypoint
    argvs = [*_named_lists(args, "Arguments", "ContainerArguments"),
             *_named_lists(args, "Arguments", "ContainerEntrypoint")]
    for path, argv in argvs:
        for i, item in enumerate(argv):
            if not isinstance(item, str) or not item.startswith("--"):
                continue
            flag, eq, inline = item.partition("=")
            value, at = (inline, i) if eq else (argv[i + 1] if i + 1 < len(argv) else None, i + 1)
            if _secret_name(flag) and isinstance(value, str) and value \
                    and not _is_reference(value):
                yield Finding("plaintext-secret", "error", name, f"{path}[{at}]",
                              f"argument {flag} is given a plaintext secret; {fix}.")


def _connection_secret(value: str) -> bool:
    """True for a URL carrying a literal password (not a ${...}/{{...}} placeholder)."""
    for m in _CONNECTION_SECRET.finditer(value):
        password = m.group(1)
        if password and not password.startswith(("${", "{{", "%s")) and password != "*" * len(password):
            return True
    return False


def _check_parameter_secrets(definition: Mapping[str, Any]) -> Iterator[Finding]:
    """A pipeline parameter whose name or default looks like a secret carries it in plaintext
    (DescribePipeline shows every default), whether or not a step uses it."""
    fix = ("remove the default and have the job read the secret from AWS Secrets Manager (pass the "
           "secret's ARN, grant the role secretsmanager:GetSecretValue)")
    for i, param in enumerate(definition.get("Parameters") or []):
        if not isinstance(param, dict):
            continue
        pname, default = str(param.get("Name", "?")), param.get("DefaultValue")
        if not isinstance(default, str) or not default or _is_reference(default):
            continue
        looks = ("its name says it is a secret" if _secret_name(pname)
                 else "it is a connection string with a password" if _connection_secret(default)
                 else next((f"it looks like {what}" for pat, what in _SECRET_VALUES if pat.search(default)),
                           None))
        if looks:
            yield Finding("plaintext-secret", "error", f"parameter {pname}",
                          f"Parameters[{i}].DefaultValue", f"the default of parameter {pname} is "
                          f"plaintext and {looks}; {fix}.")


def _named_maps(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    names = {"Environment", "HyperParameters", "StaticHyperParameters"}
    if isinstance(node, dict):
        for k, v in node.items():
            sub = f"{path}.{k}"
            if k in names and isinstance(v, dict):
                yield sub, v
            else:
                yield from _named_maps(v, sub)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _named_maps(v, f"{path}[{i}]")


def _named_lists(node: Any, path: str, name: str) -> Iterator[tuple[str, list[Any]]]:
    if isinstance(node, dict):
        for k, v in node.items():
            sub = f"{path}.{k}"
            if k == name and isinstance(v, list):
                yield sub, v
            else:
                yield from _named_lists(v, sub, name)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _named_lists(v, f"{path}[{i}]", name)


def _approval_status(step: Mapping[str, Any], definition: Mapping[str, Any]) -> Any:
    args = arguments(step)
    return evaluate(args.get("ModelApprovalStatus"), definition) if isinstance(args, dict) else None


def _check_approval(step: Mapping[str, Any], definition: Mapping[str, Any],
                    config: Config | None) -> Iterator[Finding]:
    status = _approval_status(step, definition)
    raw = arguments(step).get("ModelApprovalStatus")
    if status is UNKNOWN:
        yield Finding("auto-approval", "error", str(step.get("Name", "?")),
                      "Arguments.ModelApprovalStatus",
                      f"ModelApprovalStatus is given by {describe_expression(raw, definition)}, so "
                      "lint cannot prove models are not approved without review; give it as the "
                      "literal PendingManualApproval or a parameter with that default.")
        return
    if status != "Approved":
        return
    if config is not None and config.approval.approval_status == "Approved":
        return
    how = ("a Std:Join spells ModelApprovalStatus as" if isinstance(raw, dict) and "Std:Join" in raw
           else "the ModelApprovalStatus parameter defaults to" if isinstance(raw, dict)
           else "the registration sets ModelApprovalStatus to")
    fix = ("register as PendingManualApproval (approval.approval_status) so a person approves; if "
           "auto-approval is intended, set approval.approval_status=Approved in the config and "
           "lint with --config")
    if config is not None:
        fix = ("set approval.approval_status=Approved in the config if auto-approval is intended; "
               "otherwise register as PendingManualApproval")
    yield Finding("auto-approval", "error", str(step.get("Name", "?")),
                  "Arguments.ModelApprovalStatus",
                  f"{how} 'Approved': models go live without review; {fix}.")


def _is_reject_step(step: Mapping[str, Any], definition: Mapping[str, Any]) -> bool:
    if step.get("Type") == "Fail":
        return True
    return step.get("Type") in _REGISTER_TYPES and _approval_status(step, definition) == "Rejected"


def _registers(steps: Any, definition: Mapping[str, Any]) -> bool:
    """True when a branch (recursively) registers a model other than as Rejected."""
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        if step.get("Type") in _REGISTER_TYPES and not _is_reject_step(step, definition):
            return True
        if step.get("Type") == "Condition":
            args = arguments(step)
            if _registers(args.get("IfSteps"), definition) or \
                    _registers(args.get("ElseSteps"), definition):
                return True
    return False


def _check_reject_branch(definition: Mapping[str, Any]) -> Iterator[Finding]:
    for step, trail in iter_steps(definition):
        name = str(step.get("Name", "?"))
        kind = step.get("Type")
        if kind == "Condition":
            args = arguments(step)
            if not _registers(args.get("IfSteps"), definition):
                continue
            else_steps = [s for s in args.get("ElseSteps") or [] if isinstance(s, dict)]
            if not any(_is_reject_step(s, definition) for s in else_steps):
                yield Finding("reject-branch", "error", name, "Arguments.ElseSteps",
                              "the condition guarding registration has no reject branch: a failing "
                              "model passes silently; add a Fail step and/or a registration with "
                              "ModelApprovalStatus=Rejected to ElseSteps (approval.on_reject).")
        elif kind in _REGISTER_TYPES and not trail and not _is_reject_step(step, definition):
            yield Finding("reject-branch", "warning", name, "Type",
                          "the model is registered without a Condition step checking its "
                          "evaluation first; guard registration with a Condition step whose else "
                          "branch fails or registers the model as Rejected.")


def _seeded(step: Mapping[str, Any]) -> bool:
    args = arguments(step)
    for path, mapping in _named_maps(args, "Arguments"):
        del path
        if any(str(k).lower() in _SEED_NAMES for k in mapping):
            return True
    for _, argv in _named_lists(args, "Arguments", "ContainerArguments"):
        if any(isinstance(a, str) and a.lower() in _SEED_NAMES for a in argv):
            return True
    return False


def _check_cache(step: Mapping[str, Any]) -> Iterator[Finding]:
    cache = step.get("CacheConfig")
    if not isinstance(cache, dict) or cache.get("Enabled") is not True:
        return
    name = str(step.get("Name", "?"))
    kind = step.get("Type")
    if kind in ("Condition", "Fail", *_REGISTER_TYPES):
        yield Finding("cache", "error", name, "CacheConfig.Enabled",
                      f"caching a {kind} step replays an old decision instead of evaluating this "
                      "run; remove its CacheConfig.")
    elif kind in ("Training", "Tuning") and not _seeded(step):
        yield Finding("cache", "warning", name, "CacheConfig.Enabled",
                      f"{kind} step is cached but not seeded, so a cache hit hides a result the "
                      "step would not reproduce; pass a 'seed' hyperparameter or disable caching "
                      "(aws.cache_steps=false).")


def _check_placeholders(step: Mapping[str, Any]) -> Iterator[Finding]:
    name = str(step.get("Name", "?"))
    seen: set[tuple[str, str]] = set()
    for path, value in _leaves(step.get("Arguments"), "Arguments"):
        if not isinstance(value, str):
            continue
        for pattern, what, key in _PLACEHOLDERS:
            if pattern.search(value) and (path, key) not in seen:
                seen.add((path, key))
                yield Finding("placeholder", "error", name, path,
                              f"placeholder {what} {value!r} (the config default) is not a real "
                              f"resource; set {key} to yours.")


# ---- string-typed fields ---------------------------------------------------------------------

STRING_LISTS = ("ContainerArguments", "ContainerEntrypoint")
STRING_MAPS = ("Environment", "HyperParameters", "StaticHyperParameters")
_STRING_EXECUTION_VARIABLES = {"PipelineExecutionId", "PipelineExecutionArn", "PipelineName",
                               "PipelineArn"}
_DESCRIBE_OUTPUT = {"Processing": "DescribeProcessingJob", "Training": "DescribeTrainingJob",
                    "Tuning": "DescribeHyperParameterTuningJob", "Transform": "DescribeTransformJob",
                    "RegisterModel": "DescribeModelPackage", "Model": "DescribeModel",
                    "CreateModel": "DescribeModel"}
_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def _property_type(reference: str, definition: Mapping[str, Any]) -> str | None:
    """The botocore type name of ``Steps.<step>.<path>`` (e.g. 'string', 'float'); None if unknown."""
    parts = [next(g for g in m.groups() if g is not None) for m in _PATH_TOKEN.finditer(reference)]
    if len(parts) < 3:
        return None
    step = next((s for s, _ in iter_steps(definition) if s.get("Name") == parts[1]), None)
    operation = _DESCRIBE_OUTPUT.get(str(step.get("Type"))) if step else None
    if operation is None:
        return None
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape: Any = model.operation_model(operation).output_shape
    for part in parts[2:]:
        if shape.type_name == "structure" and part in shape.members:
            shape = shape.members[part]
        elif shape.type_name == "list":
            shape = shape.member
        elif shape.type_name == "map":
            shape = shape.value
        else:
            return None
    return shape.type_name


def _non_string(value: Any, definition: Mapping[str, Any]) -> str | None:
    """Why ``value`` is not (provably) a string in a string-typed field; None when it is one."""
    if isinstance(value, str):
        return None
    if not isinstance(value, dict):
        return f"the literal {value!r} is a {type(value).__name__}, not a string"
    if set(value) == {"Std:Join"}:
        return None
    ref = value.get("Get") if len(value) == 1 else None
    if not isinstance(ref, str):
        kind = next(iter(value), "?") if len(value) == 1 else "expression"
        return f"a {kind} expression, whose value is not known to be a string"
    root, _, rest = ref.partition(".")
    if root == "Parameters":
        declared = {p.get("Name"): p.get("Type", "String") for p in definition.get("Parameters") or []
                    if isinstance(p, dict)}
        if rest not in declared:
            return f"Get {ref} refers to an undeclared parameter"
        return None if declared[rest] == "String" else f"a {declared[rest]} parameter (Get {ref})"
    if root == "Execution":
        return None if rest in _STRING_EXECUTION_VARIABLES else f"the execution variable {ref}"
    if root == "Steps":
        kind = _property_type(ref, definition)
        if kind == "string":
            return None
        return f"the step property {ref} ({kind or 'type unknown'})"
    return f"Get {ref}, an unknown reference"


def _check_string_fields(step: Mapping[str, Any], definition: Mapping[str, Any]) -> Iterator[Finding]:
    """Only strings (or Std:Join) in string-typed fields: CreatePipeline refuses the rest.

    The service answers "Cannot assign property reference [...] to argument of type [String]"
    for a Float/Integer/Boolean parameter there; moto and local runs accept it, so only lint
    catches it before a deploy.
    """
    name = str(step.get("Name", "?"))
    args = arguments(step)
    fix = ("pass it through to_string() (a Std:Join of the one value: "
           '{"Std:Join": {"On": "", "Values": [...]}}), which the service accepts')
    items: list[tuple[str, Any]] = []
    for field in STRING_LISTS:
        for path, values in _named_lists(args, "Arguments", field):
            items += [(f"{path}[{i}]", v) for i, v in enumerate(values)]
    for path, mapping in _named_maps(args, "Arguments"):
        items += [(f"{path}.{k}", v) for k, v in mapping.items()]
    for path, value in items:
        why = _non_string(value, definition)
        if why:
            yield Finding("string-field", "error", name, path,
                          f"{why} in a string-typed field: CreatePipeline refuses it (\"Cannot "
                          f"assign property reference ... to argument of type [String]\"); {fix}.")


# ---- instances -----------------------------------------------------------------------------

_INSTANCE_PATHS = {"Processing": "ProcessingResources.ClusterConfig",
                   "Training": "ResourceConfig", "Transform": "TransformResources"}


def _check_instances(step_name: str, kind: str, prefix: str, job: dict[str, Any],
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


def lint_definition(definition: Mapping[str, Any] | str, config: Config | None = None,
                    cost: CostConfig | None = None) -> list[Finding]:
    """Check a pipeline definition (dict or JSON text) against every safeguard rule, errors first.

    ``config`` (when the definition was built from one) only widens what is allowed on purpose:
    auto-approval when ``approval.approval_status`` is Approved. The cost caps come from ``cost``,
    else ``config.cost``, else the defaults. Raises DefinitionError when the input is not a
    pipeline definition.
    """
    from trainguard.pipelines.ops.cost import cost_findings  # it builds on this module's Finding

    definition = parse_definition(definition)
    findings: list[Finding] = list(_check_step_lists(definition))
    findings.extend(_check_parameter_secrets(definition))
    for step, _trail in iter_steps(definition):
        name = str(step.get("Name", "?"))
        kind = step.get("Type")
        blocks = list(job_blocks(step))
        for prefix, job in blocks:
            findings.extend(_check_job(name, str(job_kind(step)), prefix, job, definition))
            findings.extend(_check_instances(name, str(job_kind(step)), prefix, job, definition))
        if kind == "Model" and isinstance(step.get("Arguments"), dict):
            findings.extend(_check_job(name, "Model", "Arguments", step["Arguments"], definition))
        if blocks:
            findings.extend(_check_tags(step))
        findings.extend(_check_secrets(step, definition))
        findings.extend(_check_string_fields(step, definition))
        if kind in _REGISTER_TYPES:
            findings.extend(_check_approval(step, definition, config))
        findings.extend(_check_cache(step))
        findings.extend(_check_placeholders(step))
        if kind in _EGRESS_TYPES:
            findings.append(Finding("egress", "error", name, "Type",
                                    f"a {kind} step can reach the network "
                                    "outside the isolated jobs; check results reach CloudWatch "
                                    "through trainguard's function when the monitoring pipeline "
                                    "ends (trainguard ops upsert) and retraining starts through "
                                    "it too (docs/operations.md); remove the step."))
    findings.extend(_check_reject_branch(definition))
    findings.extend(cost_findings(definition, cost or (config.cost if config else None)))
    return sorted(findings, key=lambda f: f.severity != "error")  # errors first, stable order


def format_findings(findings: list[Finding], source: str) -> str:
    """Human output: one line per finding, then a one-line summary."""
    lines = [f"{f.severity}: [{f.rule}] {f.step}: {f.setting}: {f.message}" for f in findings]
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if findings:
        lines.append(f"{source}: {errors} error(s), {warnings} warning(s).")
    else:
        lines.append(f"{source}: no findings; every safeguard rule passes.")
    return "\n".join(lines)
