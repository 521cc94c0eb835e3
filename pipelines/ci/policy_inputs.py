"""What an execution role's policy is derived from, read off a definition JSON.

The S3 prefixes each step reads and writes (following references between steps), the KMS keys,
the job kinds, the images, the VPC, the model package groups and the roles a definition names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from trainguard.pipelines.definition import arguments, get_path, iter_steps, job_kind, resolve
from trainguard.training.errors import TrainguardError

__all__ = ["ECR_IMAGE", "IamError", "PolicyInputs", "S3Access", "policy_inputs", "role_and_region",
           "s3_access"]

ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)")
"""An ECR image URI: (account, region, repository)."""
_STEP_REF = re.compile(r"^Steps\.([^.\[]+)")


class IamError(TrainguardError):
    """The definition or the role lacks what a scoped policy needs (exit status 2)."""


@dataclass
class S3Access:
    """S3 URI prefixes (``s3://bucket/key-prefix``) a pipeline reads and writes."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)


@dataclass
class PolicyInputs:
    """What the policy is derived from, gathered from one definition."""

    s3: S3Access
    kms_keys: set[str]
    job_kinds: set[str]
    images: set[str]
    subnets: set[str]
    security_groups: set[str]
    model_package_groups: set[str]
    role_arns: set[str]


# --------------------------------------------------------------------------------------------
# reading the definition


def _literal_prefix(value: Any, definition: Mapping[str, Any]) -> str | None:
    """The literal start of an S3 URI setting: a string, a parameter default, or a Join's head.

    A ``Std:Join`` such as ``[s3://b/p, ExecutionVariables.PIPELINE_EXECUTION_ID, train]`` yields
    ``s3://b/p/`` (everything up to the first run-time part); the policy then grants that prefix.
    """
    value = resolve(value, definition) if isinstance(value, dict) and "Get" in value else value
    if isinstance(value, str):
        return value
    join = value.get("Std:Join") if isinstance(value, dict) else None
    if isinstance(join, dict) and isinstance(join.get("Values"), list):
        sep = str(join.get("On", ""))
        head: list[str] = []
        for part in join["Values"]:
            lit = resolve(part, definition) if isinstance(part, dict) else part
            if not isinstance(lit, (str, int, float)) or isinstance(lit, bool):
                head.append("")  # a run-time part: the prefix stops at the separator before it
                break
            head.append(str(lit))
        return sep.join(head) if head else None
    return None


def _refs(node: Any) -> Iterator[str]:
    """Names of the steps a node refers to through ``{"Get": "Steps.<name>..."}``."""
    if isinstance(node, dict):
        ref = node.get("Get")
        if isinstance(ref, str):
            m = _STEP_REF.match(ref)
            if m:
                yield m.group(1)
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _items(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _step_io(step: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """(input URI settings, output URI settings) of one step, unresolved."""
    args = arguments(step)
    kind = job_kind(step)
    ins: list[Any] = []
    outs: list[Any] = []
    if kind == "Processing":
        ins += [get_path(i, "S3Input.S3Uri") for i in _items(args.get("ProcessingInputs"))]
        outs += [get_path(o, "S3Output.S3Uri")
                 for o in _items(get_path(args, "ProcessingOutputConfig.Outputs"))]
    jobs: list[Mapping[str, Any]] = []
    if kind == "Training":
        jobs = [args]
    elif kind == "Tuning":
        jobs = _items([args.get("TrainingJobDefinition"), *_items(args.get("TrainingJobDefinitions"))])
    for job in jobs:
        ins += [get_path(c, "DataSource.S3DataSource.S3Uri")
                for c in _items(job.get("InputDataConfig"))]
        outs.append(get_path(job, "OutputDataConfig.S3OutputPath"))
        ckpt = get_path(job, "CheckpointConfig.S3Uri")
        if ckpt:
            ins.append(ckpt)
            outs.append(ckpt)
        for key in ("HyperParameters", "StaticHyperParameters"):
            hp = job.get(key)
            for v in hp.values() if isinstance(hp, dict) else []:
                if isinstance(v, str) and v.strip('"').startswith("s3://"):
                    ins.append(v.strip('"'))
    if kind == "Transform":
        ins.append(get_path(args, "TransformInput.DataSource.S3DataSource.S3Uri"))
        outs.append(get_path(args, "TransformOutput.S3OutputPath"))
    return ins, outs


def s3_access(definition: Mapping[str, Any]) -> S3Access:
    """The S3 prefixes the pipeline reads and writes, from every step's inputs and outputs.

    A step that reads another step's output (``{"Get": "Steps.X..."}``, a JsonGet on X's property
    file, a model artifact of X) reads X's output prefixes; literal and parameter-default URIs are
    read as given. Raises IamError for an input whose location cannot be known at all.
    """
    outputs: dict[str, set[str]] = {}
    pending: list[tuple[str, Any]] = []
    access = S3Access()
    for step, _ in iter_steps(definition):
        name = str(step.get("Name"))
        ins, outs = _step_io(step)
        mine = outputs.setdefault(name, set())
        for o in outs:
            if o is not None:
                p = _s3_prefix(name, "output", o, definition)
                mine.add(p)
                access.writes.add(p)
        pending.extend((name, i) for i in ins)
        # any other reference to another step's data (property files, model artifacts, metrics)
        pending.extend((name, {"Get": f"Steps.{r}"}) for r in _refs(step.get("Arguments"))
                       if r != name)
    for name, inp in pending:
        if inp is None:
            continue
        refs = list(_refs(inp))
        if refs:
            for r in refs:
                access.reads.update(outputs.get(r, set()))
            continue
        access.reads.add(_s3_prefix(name, "input", inp, definition))
    return access


def _s3_prefix(step: str, what: str, value: Any, definition: Mapping[str, Any]) -> str:
    """The S3 prefix a setting names; IamError when no bucket-level prefix can be known."""
    p = _literal_prefix(value, definition)
    if not p or not p.startswith("s3://") or not p[len("s3://"):].split("/", 1)[0]:
        raise IamError(f"step {step}: cannot tell which S3 location {what} {json.dumps(value)} "
                       "uses, so the policy cannot be scoped to it; give it a literal s3:// URI, "
                       "a Join starting with one, or a parameter with an s3:// default.")
    return p


def policy_inputs(definition: Mapping[str, Any]) -> PolicyInputs:
    """Gather the S3 prefixes, keys, job kinds, images, VPC ids, groups and roles a definition uses."""
    keys: set[str] = set()
    kinds: set[str] = set()
    images: set[str] = set()
    subnets: set[str] = set()
    groups: set[str] = set()
    packages: set[str] = set()
    roles: set[str] = set()

    def scan(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                lit = resolve(v, definition)
                if k in ("VolumeKmsKeyId", "KmsKeyId") and isinstance(lit, str) and lit:
                    keys.add(lit)
                elif k in ("ImageUri", "TrainingImage", "Image") and isinstance(lit, str):
                    images.add(lit)
                elif k == "Subnets" and isinstance(v, list):
                    subnets.update(s for s in v if isinstance(s, str))
                elif k == "SecurityGroupIds" and isinstance(v, list):
                    groups.update(s for s in v if isinstance(s, str))
                elif k == "ModelPackageGroupName" and isinstance(lit, str):
                    packages.add(lit)
                elif k == "RoleArn" and isinstance(lit, str):
                    roles.add(lit)
                else:
                    scan(v)
        elif isinstance(node, list):
            for v in node:
                scan(v)

    for step, _ in iter_steps(definition):
        kinds.add(job_kind(step) or str(step.get("Type")))
        scan(step.get("Arguments"))
    return PolicyInputs(s3_access(definition), keys, kinds, images, subnets, groups, packages, roles)


def role_and_region(definition: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The definition's one job role and one region (from its KMS key ARNs and ECR images)."""
    info = policy_inputs(definition)
    regions = {k.split(":")[3] for k in info.kms_keys if k.startswith("arn:")}
    regions |= {m.group(2) for m in map(ECR_IMAGE.match, info.images) if m}
    role = next(iter(info.role_arns)) if len(info.role_arns) == 1 else None
    region = next(iter(regions)) if len(regions) == 1 else None
    return role, region
