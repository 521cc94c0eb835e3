"""The policy of the identity CI deploys with (``trainguard iam-policy --deployer``).

Only this pipeline, its code and data prefixes, the execution role (PassRole to SageMaker), the
configured KMS key, the model package group's packages (champion bar) and the reports the
pipeline writes; with a GitHub repository, a trust policy for that repository's OIDC tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trainguard.pipelines.ci.arns import SERVICE, checked_role, key_arn, split_s3
from trainguard.pipelines.ci.policy_inputs import IamError, s3_access
from trainguard.training.config import Config

__all__ = ["GITHUB_OIDC", "deployer_policy"]

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
    partition, account = checked_role(cfg.aws.role_arn, "aws.role_arn", "")
    statements = _deploy_statements(cfg, definition, partition, account)
    doc: dict[str, Any] = {"PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
    if github_repo:
        doc["TrustPolicy"] = _github_trust(github_repo, github_ref, partition, account)
    return doc


def _deploy_statements(cfg: Config, definition: Mapping[str, Any], partition: str,
                       account: str) -> list[dict[str, Any]]:
    """What diff and upsert call: the pipeline, the staged objects, the champion, the bucket."""
    region = cfg.aws.region
    sm = f"arn:{partition}:sagemaker:{region}:{account}"
    bucket = cfg.aws.bucket or f"sagemaker-{region}-{account}"
    prefix = "/".join(p for p in cfg.aws.prefix.split("/") if p)
    base = f"{prefix}/" if prefix else ""
    staged = [f"{base}code/*", f"{base}data/*"]
    reports = sorted({split_s3(u)[1] + "*" for u in s3_access(definition).writes
                      if split_s3(u)[0] == bucket})
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
                           "Resource": key_arn(cfg.security.kms_key_id, region, account)})
    if not cfg.aws.bucket:
        statements.append({"Sid": "CreateDefaultBucket", "Effect": "Allow",
                           "Action": ["s3:CreateBucket", "s3:PutBucketPublicAccessBlock",
                                      "s3:PutEncryptionConfiguration"],
                           "Resource": f"arn:aws:s3:::{bucket}"})
    return statements


def _github_trust(github_repo: str, github_ref: str, partition: str, account: str) -> dict[str, Any]:
    """A trust policy admitting GitHub Actions OIDC tokens of one repository's one ref."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", github_repo):
        raise IamError(f"--github-repo {github_repo!r} must be owner/name, e.g. acme/models.")
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:{partition}:iam::{account}:oidc-provider/{GITHUB_OIDC}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{GITHUB_OIDC}:aud": "sts.amazonaws.com",
                                       f"{GITHUB_OIDC}:sub": f"repo:{github_repo}:ref:{github_ref}"}},
    }]}
