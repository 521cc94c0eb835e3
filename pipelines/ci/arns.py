"""ARNs and S3 URIs as IAM policies name them, shared by the execution and deployer policies."""

from __future__ import annotations

from trainguard.pipelines.ci.policy_inputs import IamError
from trainguard.steps.limits import ROLE_ARN  # the service's RoleArn pattern (partition, account)

__all__ = ["SERVICE", "checked_role", "key_arn", "object_arns", "split_s3"]

SERVICE = "sagemaker.amazonaws.com"


def checked_role(role_arn: str, what: str, fix: str) -> tuple[str, str]:
    """(partition, account) of a role ARN; IamError naming ``what`` and ``fix`` when malformed."""
    if not ROLE_ARN.fullmatch(role_arn or ""):
        raise IamError(f"{what} {role_arn!r} is malformed; expected "
                       f"arn:aws:iam::<12-digit account>:role/<name>{fix}.")
    parts = role_arn.split(":")
    return parts[1], parts[4]


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key)."""
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def object_arns(prefixes: set[str]) -> list[str]:
    """The S3 object ARNs (``arn:aws:s3:::bucket/prefix*``) of some URI prefixes, sorted."""
    out = set()
    for uri in prefixes:
        bucket, key = split_s3(uri)
        out.add(f"arn:aws:s3:::{bucket}/{key}*")
    return sorted(out)


def key_arn(key: str, region: str, account: str) -> str:
    """A KMS key id or ARN as an ARN; IamError for an alias, which IAM grants do not cover."""
    if key.startswith("arn:"):
        return key
    if key.startswith("alias/"):
        raise IamError(f"KMS key {key!r} is an alias; IAM grants on aliases do not cover the key. "
                       "Set security.kms_key_id to the key's ARN.")
    return f"arn:aws:kms:{region}:{account}:key/{key}"
