"""``trainguard iam-policy``: the execution role's least-privilege policy, derived from the definition.

Everything the policy grants is read off the emitted definition JSON (``policy_inputs``): the S3
prefixes each step reads and writes, the KMS keys, the job kinds, the image, the VPC, the model
package group. So the policy follows the pipeline exactly, and grows or shrinks when the pipeline
does. No wildcard actions; resources are scoped as far as each AWS action allows (see the notes
on each statement). The CI deployer's own policy is ``deployer.deployer_policy``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trainguard.pipelines.bundle import BUNDLE_FILENAME
from trainguard.pipelines.ci.arns import SERVICE, checked_role, key_arn, object_arns, split_s3
from trainguard.pipelines.ci.deployer import deployer_policy
from trainguard.pipelines.ci.policy_inputs import (
    ECR_IMAGE,
    IamError,
    PolicyInputs,
    S3Access,
    policy_inputs,
    role_and_region,
    s3_access,
)
from trainguard.pipelines.definition import JOB_SETTINGS, get_path, iter_steps, job_blocks, job_kind, resolve

__all__ = ["IamError", "PolicyInputs", "S3Access", "deployer_policy",
           "derive_policy", "policy_inputs", "role_and_region", "s3_access"]

# SageMaker Pipelines names the jobs it starts "pipelines-<execution id>-<step name>-<suffix>";
# the job-name prefix is the only part of a pipeline job's ARN known before a run.
JOB_NAME_PREFIX = "pipelines-"
# a content-addressed code bundle, s3://<bucket>/<prefix>/code/<sha256>/sourcedir.tar.gz
_BUNDLE_URI = re.compile(rf"^(s3://[^/]+/(?:.+/)?code/)[0-9a-f]{{64}}/{re.escape(BUNDLE_FILENAME)}$")

Statement = dict[str, Any]


def _allow(sid: str, actions: list[str], resources: list[str] | str,
           condition: dict[str, Any] | None = None) -> Statement:
    st: Statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        st["Condition"] = condition
    return st


def derive_policy(definition: Mapping[str, Any], *, role_arn: str, region: str) -> dict[str, Any]:
    """``{"PolicyDocument": ..., "TrustPolicy": ...}`` for the role that runs this pipeline.

    ``role_arn`` gives the account and is the only role PassRole may pass. Raises IamError for a
    malformed role ARN or a definition whose resources cannot be scoped.
    """
    partition, account = checked_role(role_arn, "role ARN", " (pass --role-arn or set aws.role_arn)")
    sm = f"arn:{partition}:sagemaker:{region}:{account}"
    info = policy_inputs(definition)
    foreign = sorted(r for r in info.role_arns if r != role_arn)
    if foreign:
        raise IamError(f"the definition passes other roles ({', '.join(foreign)}) besides "
                       f"{role_arn}; derive and attach their policies separately or use one role.")
    statements = [
        *_s3_statements(info),
        *_kms_statements(info, region, account),
        *_job_statements(definition, info, sm, region, account),
        *_registry_statements(definition, info, sm),
        # the role passes only itself, only to SageMaker
        _allow("PassOwnRoleToSageMaker", ["iam:PassRole"], role_arn,
               {"StringEquals": {"iam:PassedToService": SERVICE}}),
        *_image_statements(info, partition),
        *_network_statements(info, partition, region, account),
        *_log_statements(partition, region, account),
    ]
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


def _s3_statements(info: PolicyInputs) -> list[Statement]:
    """S3: objects read and written, listing limited to those prefixes."""
    out: list[Statement] = []
    reads = {_code_prefix(uri) for uri in info.s3.reads}
    if reads:
        out.append(_allow("ReadPipelineData", ["s3:GetObject"], object_arns(reads)))
    if info.s3.writes:
        out.append(_allow("WritePipelineOutputs", ["s3:PutObject"], object_arns(info.s3.writes)))
    by_bucket: dict[str, set[str]] = {}
    for uri in reads | info.s3.writes:
        bucket, key = split_s3(uri)
        by_bucket.setdefault(bucket, set()).add(f"{key}*")
    for i, (bucket, prefixes) in enumerate(sorted(by_bucket.items())):
        out.append(_allow(f"ListPipelinePrefixes{i}", ["s3:ListBucket"], f"arn:aws:s3:::{bucket}",
                          {"StringLike": {"s3:prefix": sorted(prefixes)}}))
    return out


def _kms_statements(info: PolicyInputs, region: str, account: str) -> list[Statement]:
    """KMS: data keys for S3 objects and volumes; grants only for AWS resources (EBS volumes)."""
    if not info.kms_keys:
        return []
    arns = sorted({key_arn(k, region, account) for k in info.kms_keys})
    return [_allow("UsePipelineKmsKeys", ["kms:Decrypt", "kms:GenerateDataKey"], arns),
            _allow("GrantKmsToSageMakerVolumes", ["kms:CreateGrant"], arns,
                   {"Bool": {"kms:GrantIsForAWSResource": "true"}})]


def _job_statements(definition: Mapping[str, Any], info: PolicyInputs, sm: str, region: str,
                    account: str) -> list[Statement]:
    """SageMaker jobs of the kinds the pipeline runs, creation conditioned on their controls.

    Creation is conditioned on the controls every such job in the definition carries, so the
    role cannot start a job without them even if someone edits the pipeline behind CI's back.
    """
    out: list[Statement] = []
    for kind in sorted(info.job_kinds & set(_JOB_TYPES)):
        api, res, name_prefix = _JOB_TYPES[kind]
        arn = f"{sm}:{res}/{name_prefix}*"
        out.append(_allow(f"Create{api}s", [f"sagemaker:Create{api}"], arn,
                          _job_conditions(definition, kind, region, account)))
        out.append(_allow(f"Manage{api}s", ["sagemaker:AddTags", f"sagemaker:Describe{api}",
                                            f"sagemaker:Stop{api}"], arn))
    if "Tuning" in info.job_kinds:
        # the tuner's trials are training jobs the pipeline describes to read the best candidate
        out.append(_allow("ReadTuningTrials", ["sagemaker:DescribeTrainingJob"], f"{sm}:training-job/*"))
        out.append(_allow("ListTuningTrials", ["sagemaker:ListTrainingJobsForHyperParameterTuningJob"],
                          f"{sm}:hyper-parameter-tuning-job/*"))
    return out


def _registry_statements(definition: Mapping[str, Any], info: PolicyInputs, sm: str) -> list[Statement]:
    """Model packages registered in the definition's groups, and experiment tracking if asked for."""
    out: list[Statement] = []
    if info.model_package_groups:
        groups = sorted(info.model_package_groups)
        out.append(_allow(
            "RegisterModelPackages",
            ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
            [f"{sm}:model-package/{g}/*" for g in groups]))
        # AWS authorizes CreateModelPackage of a versioned package on its group as well
        out.append(_allow(
            "UseModelPackageGroup",
            ["sagemaker:CreateModelPackage", "sagemaker:CreateModelPackageGroup",
             "sagemaker:DescribeModelPackageGroup", "sagemaker:AddTags"],
            [f"{sm}:model-package-group/{g}" for g in groups]))
    # Pipelines records each execution as an experiment trial when the definition asks for it
    if isinstance(definition.get("PipelineExperimentConfig"), dict) \
            and definition["PipelineExperimentConfig"]:
        out.append(_allow(
            "TrackExecutionsAsExperiments",
            ["sagemaker:AddTags", "sagemaker:AssociateTrialComponent", "sagemaker:CreateExperiment",
             "sagemaker:CreateTrial", "sagemaker:DescribeExperiment", "sagemaker:DescribeTrial"],
            [f"{sm}:experiment/*", f"{sm}:experiment-trial/*",
             f"{sm}:experiment-trial-component/*"]))
    return out


def _image_statements(info: PolicyInputs, partition: str) -> list[Statement]:
    """Images pulled from the ECR repositories named in the definition."""
    repos = set()
    for image in info.images:
        im = ECR_IMAGE.match(image)
        if im:
            repos.add(f"arn:{partition}:ecr:{im.group(2)}:{im.group(1)}:repository/{im.group(3)}")
    if not repos:
        return []
    return [_allow("PullJobImages", ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                                     "ecr:GetDownloadUrlForLayer"], sorted(repos)),
            # GetAuthorizationToken has no resource-level permissions in AWS: "*" is the only form
            _allow("EcrLogin", ["ecr:GetAuthorizationToken"], "*")]


def _network_statements(info: PolicyInputs, partition: str, region: str, account: str) -> list[Statement]:
    """VPC jobs: SageMaker creates network interfaces in the given subnets and security groups."""
    if not info.subnets:
        return []
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    subnet_arns = sorted(f"{ec2}:subnet/{s}" for s in info.subnets)
    return [
        _allow("CreateJobNetworkInterfaces", ["ec2:CreateNetworkInterface"],
               [*subnet_arns, *sorted(f"{ec2}:security-group/{g}" for g in info.security_groups),
                f"{ec2}:network-interface/*"]),
        _allow("ManageJobNetworkInterfaces",
               ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission"], f"{ec2}:network-interface/*",
               {"ArnEquals": {"ec2:Subnet": subnet_arns}}),
        # EC2 Describe actions have no resource-level permissions: "*" is the only form
        _allow("DescribeJobNetwork", ["ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces",
                                      "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
                                      "ec2:DescribeVpcs"], "*"),
    ]


def _log_statements(partition: str, region: str, account: str) -> list[Statement]:
    """Job logs and metrics."""
    logs = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/*"
    return [_allow("WriteJobLogs", ["logs:CreateLogGroup", "logs:CreateLogStream",
                                    "logs:DescribeLogStreams", "logs:PutLogEvents"],
                   [logs, f"{logs}:log-stream:*"]),
            _allow("PutJobMetrics", ["cloudwatch:PutMetricData"], "*",
                   {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}})]


def _code_prefix(uri: str) -> str:
    """A content-addressed code bundle's URI widened to its ``.../code/`` prefix; others as given.

    The bundle's key carries the sha256 of the code, so every code change deploys a new key. A
    policy naming the one key would deny the next deployment's jobs their code until someone
    re-attached the policy; the code prefix holds only bundles, which only the deployer writes.
    """
    m = _BUNDLE_URI.match(uri)
    return m.group(1) if m else uri


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
            cond.setdefault("ArnEquals", {})[key] = sorted({key_arn(v, region, account)
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
