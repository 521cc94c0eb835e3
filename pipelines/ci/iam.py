"""``trainguard iam-policy``: the execution role's least-privilege policy, derived from the definition.

Everything the policy grants is read off the emitted definition JSON: the S3 prefixes each step
reads and writes, the KMS keys, the job kinds, the image, the VPC, the model package group. So the
policy follows the pipeline exactly, and grows or shrinks when the pipeline does. No wildcard
actions; resources are scoped as far as each AWS action allows (see the notes on each statement).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from trainguard.pipelines.bundle import BUNDLE_FILENAME
from trainguard.pipelines.definition import (
    JOB_SETTINGS,
    arguments,
    get_path,
    iter_steps,
    job_blocks,
    job_kind,
    resolve,
)
from trainguard.steps.limits import ROLE_ARN  # the service's RoleArn pattern (partition, account)
from trainguard.training.config import Config
from trainguard.training.errors import TrainguardError

__all__ = ["IamError", "PolicyInputs", "S3Access", "deployer_policy",
           "derive_policy", "policy_inputs", "role_and_region", "s3_access"]

SERVICE = "sagemaker.amazonaws.com"
# SageMaker Pipelines names the jobs it starts "pipelines-<execution id>-<step name>-<suffix>";
# the job-name prefix is the only part of a pipeline job's ARN known before a run.
JOB_NAME_PREFIX = "pipelines-"
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)")
_STEP_REF = re.compile(r"^Steps\.([^.\[]+)")
# a content-addressed code bundle, s3://<bucket>/<prefix>/code/<sha256>/sourcedir.tar.gz
_BUNDLE_URI = re.compile(rf"^(s3://[^/]+/(?:.+/)?code/)[0-9a-f]{{64}}/{re.escape(BUNDLE_FILENAME)}$")


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


# --------------------------------------------------------------------------------------------
# the policy


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def _object_arns(prefixes: set[str]) -> list[str]:
    out = set()
    for uri in prefixes:
        bucket, key = _split_s3(uri)
        out.add(f"arn:aws:s3:::{bucket}/{key}*")
    return sorted(out)


def _code_prefix(uri: str) -> str:
    """A content-addressed code bundle's URI widened to its ``.../code/`` prefix; others as given.

    The bundle's key carries the sha256 of the code, so every code change deploys a new key. A
    policy naming the one key would deny the next deployment's jobs their code until someone
    re-attached the policy; the code prefix holds only bundles, which only the deployer writes.
    """
    m = _BUNDLE_URI.match(uri)
    return m.group(1) if m else uri


def _key_arn(key: str, region: str, account: str) -> str:
    if key.startswith("arn:"):
        return key
    if key.startswith("alias/"):
        raise IamError(f"KMS key {key!r} is an alias; IAM grants on aliases do not cover the key. "
                       "Set security.kms_key_id to the key's ARN.")
    return f"arn:aws:kms:{region}:{account}:key/{key}"


# job kind -> (API name, ARN resource type, job-name prefix). Pipelines names processing and
# training jobs "pipelines-<execution id>-<step>-<suffix>"; tuning job names (32 characters at
# most) carry no fixed prefix, so tuning jobs are scoped by the conditions on their creation.
_JOB_TYPES = {"Processing": ("ProcessingJob", "processing-job", JOB_NAME_PREFIX),
              "Training": ("TrainingJob", "training-job", JOB_NAME_PREFIX),
              "Tuning": ("HyperParameterTuningJob", "hyper-parameter-tuning-job", ""),
              "Transform": ("TransformJob", "transform-job", JOB_NAME_PREFIX)}


def _job_conditions(definition: Mapping[str, Any], kind: str, region: str,
                    account: str) -> dict[str, Any] | None:
    """IAM conditions every job of this kind in the definition satisfies (SageMaker condition keys)."""
    if kind == "Transform":
        return None
    paths = JOB_SETTINGS["Training" if kind == "Tuning" else kind]
    jobs = [job for step, _ in iter_steps(definition) if job_kind(step) == kind
            for _, job in job_blocks(step)]

    def values(path: str | None) -> list[Any]:
        return [resolve(get_path(job, path), definition) if path else None for job in jobs]

    cond: dict[str, dict[str, Any]] = {}
    for key, path in (("sagemaker:VolumeKmsKey", paths["volume"]),
                      ("sagemaker:OutputKmsKey", paths["output"])):
        vals = values(path)
        if vals and all(isinstance(v, str) and v for v in vals):
            cond.setdefault("ArnEquals", {})[key] = sorted({_key_arn(v, region, account)
                                                            for v in vals})
    for key, path in (("sagemaker:NetworkIsolation", paths["isolation"]),
                      ("sagemaker:InterContainerTrafficEncryption", paths["ice"])):
        vals = values(path)
        if vals and all(v is True for v in vals):
            cond.setdefault("Bool", {})[key] = "true"
    runtimes = values(paths["runtime"])
    if runtimes and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in runtimes):
        cond["NumericLessThanEquals"] = {"sagemaker:MaxRuntimeInSeconds": str(max(runtimes))}
    vpcs = [get_path(job, paths["vpc"]) if paths["vpc"] else None for job in jobs]
    if vpcs and all(isinstance(v, dict) and v.get("Subnets") and v.get("SecurityGroupIds")
                    for v in vpcs):
        cond["ForAllValues:StringEquals"] = {
            "sagemaker:VpcSubnets": sorted({s for v in vpcs for s in v["Subnets"]}),
            "sagemaker:VpcSecurityGroupIds": sorted({g for v in vpcs for g in v["SecurityGroupIds"]})}
        # ForAllValues holds vacuously when the key is absent: require the VPC to be there
        cond["Null"] = {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"}
    return cond or None


def derive_policy(definition: Mapping[str, Any], *, role_arn: str, region: str) -> dict[str, Any]:
    """``{"PolicyDocument": ..., "TrustPolicy": ...}`` for the role that runs this pipeline.

    ``role_arn`` gives the account and is the only role PassRole may pass. Raises IamError for a
    malformed role ARN or a definition whose resources cannot be scoped.
    """
    if not ROLE_ARN.fullmatch(role_arn or ""):
        raise IamError(f"role ARN {role_arn!r} is malformed; expected "
                       "arn:aws:iam::<12-digit account>:role/<name> (pass --role-arn or set aws.role_arn).")
    partition, account = _partition_and_account(role_arn)
    sm = f"arn:{partition}:sagemaker:{region}:{account}"
    info = policy_inputs(definition)
    foreign = sorted(r for r in info.role_arns if r != role_arn)
    if foreign:
        raise IamError(f"the definition passes other roles ({', '.join(foreign)}) besides "
                       f"{role_arn}; derive and attach their policies separately or use one role.")
    statements: list[dict[str, Any]] = []

    def add(sid: str, actions: list[str], resources: list[str] | str,
            condition: dict[str, Any] | None = None) -> None:
        st: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions),
                              "Resource": resources}
        if condition:
            st["Condition"] = condition
        statements.append(st)

    # S3: objects read and written, listing limited to those prefixes
    reads = {_code_prefix(uri) for uri in info.s3.reads}
    if reads:
        add("ReadPipelineData", ["s3:GetObject"], _object_arns(reads))
    if info.s3.writes:
        add("WritePipelineOutputs", ["s3:PutObject"], _object_arns(info.s3.writes))
    by_bucket: dict[str, set[str]] = {}
    for uri in reads | info.s3.writes:
        bucket, key = _split_s3(uri)
        by_bucket.setdefault(bucket, set()).add(f"{key}*")
    for i, (bucket, prefixes) in enumerate(sorted(by_bucket.items())):
        add(f"ListPipelinePrefixes{i}", ["s3:ListBucket"], f"arn:aws:s3:::{bucket}",
            {"StringLike": {"s3:prefix": sorted(prefixes)}})

    # KMS: data keys for S3 objects and volumes; grants only for AWS resources (EBS volumes)
    if info.kms_keys:
        arns = sorted({_key_arn(k, region, account) for k in info.kms_keys})
        add("UsePipelineKmsKeys", ["kms:Decrypt", "kms:GenerateDataKey"], arns)
        add("GrantKmsToSageMakerVolumes", ["kms:CreateGrant"], arns,
            {"Bool": {"kms:GrantIsForAWSResource": "true"}})

    # SageMaker jobs of the kinds the pipeline runs. Creation is further conditioned on the
    # controls every such job in the definition carries, so the role cannot start a job without
    # them even if someone edits the pipeline behind CI's back.
    for kind in sorted(info.job_kinds & set(_JOB_TYPES)):
        api, res, name_prefix = _JOB_TYPES[kind]
        arn = f"{sm}:{res}/{name_prefix}*"
        add(f"Create{api}s", [f"sagemaker:Create{api}"], arn,
            _job_conditions(definition, kind, region, account))
        add(f"Manage{api}s", ["sagemaker:AddTags", f"sagemaker:Describe{api}",
                              f"sagemaker:Stop{api}"], arn)
    if "Tuning" in info.job_kinds:
        # the tuner's trials are training jobs the pipeline describes to read the best candidate
        add("ReadTuningTrials", ["sagemaker:DescribeTrainingJob"], f"{sm}:training-job/*")
        add("ListTuningTrials", ["sagemaker:ListTrainingJobsForHyperParameterTuningJob"],
            f"{sm}:hyper-parameter-tuning-job/*")
    if info.model_package_groups:
        groups = sorted(info.model_package_groups)
        add("RegisterModelPackages",
            ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
            [f"{sm}:model-package/{g}/*" for g in groups])
        # AWS authorizes CreateModelPackage of a versioned package on its group as well
        add("UseModelPackageGroup",
            ["sagemaker:CreateModelPackage", "sagemaker:CreateModelPackageGroup",
             "sagemaker:DescribeModelPackageGroup", "sagemaker:AddTags"],
            [f"{sm}:model-package-group/{g}" for g in groups])

    # Pipelines records each execution as an experiment trial when the definition asks for it
    if isinstance(definition.get("PipelineExperimentConfig"), dict) \
            and definition["PipelineExperimentConfig"]:
        add("TrackExecutionsAsExperiments",
            ["sagemaker:AddTags", "sagemaker:AssociateTrialComponent", "sagemaker:CreateExperiment",
             "sagemaker:CreateTrial", "sagemaker:DescribeExperiment", "sagemaker:DescribeTrial"],
            [f"{sm}:experiment/*", f"{sm}:experiment-trial/*",
             f"{sm}:experiment-trial-component/*"])

    # the role passes only itself, only to SageMaker
    add("PassOwnRoleToSageMaker", ["iam:PassRole"], role_arn,
        {"StringEquals": {"iam:PassedToService": SERVICE}})

    # images pulled from ECR repositories named in the definition
    repos = set()
    for image in info.images:
        im = _ECR_IMAGE.match(image)
        if im:
            repos.add(f"arn:{partition}:ecr:{im.group(2)}:{im.group(1)}:repository/{im.group(3)}")
    if repos:
        add("PullJobImages", ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                              "ecr:GetDownloadUrlForLayer"], sorted(repos))
        # GetAuthorizationToken has no resource-level permissions in AWS: "*" is the only form
        add("EcrLogin", ["ecr:GetAuthorizationToken"], "*")

    # VPC jobs: SageMaker creates network interfaces in the given subnets and security groups
    if info.subnets:
        ec2 = f"arn:{partition}:ec2:{region}:{account}"
        subnet_arns = sorted(f"{ec2}:subnet/{s}" for s in info.subnets)
        add("CreateJobNetworkInterfaces", ["ec2:CreateNetworkInterface"],
            [*subnet_arns, *sorted(f"{ec2}:security-group/{g}" for g in info.security_groups),
             f"{ec2}:network-interface/*"])
        add("ManageJobNetworkInterfaces",
            ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
             "ec2:DeleteNetworkInterfacePermission"], f"{ec2}:network-interface/*",
            {"ArnEquals": {"ec2:Subnet": subnet_arns}})
        # EC2 Describe actions have no resource-level permissions: "*" is the only form
        add("DescribeJobNetwork", ["ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces",
                                   "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
                                   "ec2:DescribeVpcs"], "*")

    # job logs and metrics
    logs = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/*"
    add("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams",
                         "logs:PutLogEvents"], [logs, f"{logs}:log-stream:*"])
    add("PutJobMetrics", ["cloudwatch:PutMetricData"], "*",
        {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}})

    policy = {"Version": "2012-10-17", "Statement": statements}
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": SERVICE},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        }],
    }
    return {"PolicyDocument": policy, "TrustPolicy": trust}


def role_and_region(definition: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The definition's one job role and one region (from its KMS key ARNs and ECR images)."""
    info = policy_inputs(definition)
    regions = {k.split(":")[3] for k in info.kms_keys if k.startswith("arn:")}
    regions |= {m.group(2) for m in map(_ECR_IMAGE.match, info.images) if m}
    role = next(iter(info.role_arns)) if len(info.role_arns) == 1 else None
    region = next(iter(regions)) if len(regions) == 1 else None
    return role, region


GITHUB_OIDC = "token.actions.githubusercontent.com"


def deployer_policy(cfg: Config, definition: Mapping[str, Any], *,
                    github_repo: str | None = None,
                    github_ref: str = "refs/heads/main") -> dict[str, Any]:
    """The policy of the identity CI deploys with (``trainguard diff`` / ``upsert [--start]``).

    Only this pipeline, its code and data prefixes, the execution role (PassRole to SageMaker),
    the configured KMS key, the model package group's packages (champion bar) and the reports
    the pipeline writes. With ``github_repo`` (``owner/name``) the trust policy admits GitHub
    Actions OIDC tokens of that repository's ``github_ref`` only.
    """
    if not ROLE_ARN.fullmatch(cfg.aws.role_arn):
        raise IamError(f"aws.role_arn {cfg.aws.role_arn!r} is malformed; expected "
                       "arn:aws:iam::<12-digit account>:role/<name>.")
    partition, account = _partition_and_account(cfg.aws.role_arn)
    region = cfg.aws.region
    sm = f"arn:{partition}:sagemaker:{region}:{account}"
    bucket = cfg.aws.bucket or f"sagemaker-{region}-{account}"
    prefix = "/".join(p for p in cfg.aws.prefix.split("/") if p)
    base = f"{prefix}/" if prefix else ""
    staged = [f"{base}code/*", f"{base}data/*"]
    reports = sorted({_split_s3(u)[1] + "*" for u in s3_access(definition).writes
                      if _split_s3(u)[0] == bucket})
    group = cfg.registry.model_package_group
    statements: list[dict[str, Any]] = [
        {"Sid": "DeployThisPipeline", "Effect": "Allow",
         "Action": sorted(["sagemaker:AddTags", "sagemaker:CreatePipeline",
                           "sagemaker:DescribePipeline", "sagemaker:StartPipelineExecution",
                           "sagemaker:UpdatePipeline"]),
         "Resource": f"{sm}:pipeline/{cfg.aws.pipeline_name}"},
        {"Sid": "PassExecutionRoleToSageMaker", "Effect": "Allow", "Action": ["iam:PassRole"],
         "Resource": cfg.aws.role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": SERVICE}}},
        {"Sid": "StageCodeAndData", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": [f"arn:aws:s3:::{bucket}/{k}" for k in staged]},
        # HeadObject answers 404 (not 403) for a missing key only with s3:ListBucket on the
        # bucket; upsert needs that answer to know whether to upload.
        {"Sid": "FindStagedObjects", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": f"arn:aws:s3:::{bucket}"},
        # upsert refuses a bucket without default SSE-KMS or a full public access block
        {"Sid": "CheckBucketSafeguards", "Effect": "Allow",
         "Action": ["s3:GetBucketPublicAccessBlock", "s3:GetEncryptionConfiguration"],
         "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "ReadEvaluationReports", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{bucket}/{k}" for k in reports] or
         [f"arn:aws:s3:::{bucket}/{base}runs/*"]},
        {"Sid": "ReadChampion", "Effect": "Allow", "Action": ["sagemaker:DescribeModelPackage"],
         "Resource": f"{sm}:model-package/{group}/*"},
        # List requests name the group as a parameter, not as a resource: "*" is their only form.
        # ListModelPackageGroups tells a group that does not exist yet (no champion) from a
        # failed call, which must never be read as "no champion".
        {"Sid": "ListChampions", "Effect": "Allow",
         "Action": ["sagemaker:ListModelPackageGroups", "sagemaker:ListModelPackages"],
         "Resource": "*"},
    ]
    if cfg.security.kms_key_id:
        statements.append({"Sid": "EncryptStagedObjects", "Effect": "Allow",
                           "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                           "Resource": _key_arn(cfg.security.kms_key_id, region, account)})
    if not cfg.aws.bucket:
        statements.append({"Sid": "CreateDefaultBucket", "Effect": "Allow",
                           "Action": ["s3:CreateBucket", "s3:PutBucketPublicAccessBlock",
                                      "s3:PutEncryptionConfiguration"],
                           "Resource": f"arn:aws:s3:::{bucket}"})
    doc: dict[str, Any] = {"PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
    if github_repo:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", github_repo):
            raise IamError(f"--github-repo {github_repo!r} must be owner/name, e.g. acme/models.")
        doc["TrustPolicy"] = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:{partition}:iam::{account}:oidc-provider/{GITHUB_OIDC}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{GITHUB_OIDC}:aud": "sts.amazonaws.com",
                                           f"{GITHUB_OIDC}:sub": f"repo:{github_repo}:ref:{github_ref}"}},
        }]}
    return doc


def _partition_and_account(role_arn: str) -> tuple[str, str]:
    """``arn:<partition>:iam::<account>:role/...`` of an ARN that matched ROLE_ARN."""
    parts = role_arn.split(":")
    return parts[1], parts[4]
