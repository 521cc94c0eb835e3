"""What upsert puts in S3 before the pipeline: a safe bucket, the code bundle, the local data.

The bucket must have default SSE-KMS and a full public access block (the default bucket is
created so); the content-addressed code bundle and the data are uploaded with SSE-KMS only when
their key is missing or holds other bytes, and each upload is verified.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors, error_code
from trainguard.training.config import Config

__all__ = ["Printer", "bucket_and_uri", "data_prefix", "ensure_bucket", "local_data", "stage_data",
           "upload_bundle"]

_MISSING_OBJECT = {"404", "NoSuchKey", "NotFound"}
_MISSING_BUCKET = {"404", "NoSuchBucket", "NotFound"}

Printer = Callable[[str], None]
_CACHE: dict[str, Any] = {}
"""Per-process memo of the embedded data set's CSV bytes (deterministic, slow to render)."""


def bucket_and_uri(cfg: Config, bundle: Any) -> tuple[str, str]:
    """The pipeline's bucket and the code bundle's content-addressed URI in it."""
    from trainguard.steps.context import default_bucket

    bucket = default_bucket(cfg)
    return bucket, bundle.s3_uri(bucket, cfg.aws.prefix)


def data_prefix(cfg: Config, bucket: str) -> str:
    """Where local data is staged: the InputDataUri default's prefix in ``bucket``."""
    from trainguard.steps.parameters import default_data_uri

    return default_data_uri(cfg, bucket)


def ensure_bucket(s3: Any, cfg: Config, bucket: str, out: Printer) -> bool:
    """Check the bucket exists; create SageMaker's default bucket (encrypted, private) if missing."""
    import botocore.exceptions

    with aws_errors("s3:ListBucket"):
        try:
            s3.head_bucket(Bucket=bucket)
            exists = True
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in _MISSING_BUCKET:
                raise
            exists = False
    if exists:
        _check_bucket_safeguards(s3, bucket)
        return False
    if cfg.aws.bucket:
        raise DeployError(f"bucket {bucket!r} (aws.bucket) does not exist in {cfg.aws.region}; "
                          "create it with default SSE-KMS encryption, or unset aws.bucket to use "
                          "SageMaker's default bucket, which upsert creates.")
    with aws_errors("s3:CreateBucket"):
        kwargs: dict[str, Any] = {}
        if cfg.aws.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": cfg.aws.region}
        s3.create_bucket(Bucket=bucket, **kwargs)
    with aws_errors("s3:PutEncryptionConfiguration"):
        rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": cfg.security.kms_key_id},
            "BucketKeyEnabled": True}
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    with aws_errors("s3:PutBucketPublicAccessBlock"):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
    out(f"created bucket {bucket} (default SSE-KMS, public access blocked)")
    return True


_NO_ENCRYPTION = {"ServerSideEncryptionConfigurationNotFoundError"}
_NO_PUBLIC_ACCESS_BLOCK = {"NoSuchPublicAccessBlockConfiguration"}
_PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _check_bucket_safeguards(s3: Any, bucket: str) -> None:
    """Refuse an existing bucket without default SSE-KMS encryption or a full public access block.

    Upsert never changes an existing bucket's settings (other workloads may rely on them); it
    says what is missing and the command that fixes it, before anything is uploaded or created.
    """
    import botocore.exceptions

    problems: list[str] = []
    with aws_errors("s3:GetEncryptionConfiguration"):
        try:
            rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in _NO_ENCRYPTION:
                raise
            rules = []
    algorithms = [((r.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")) for r in rules]
    if not any(str(a).startswith("aws:kms") for a in algorithms):
        found = ", ".join(str(a) for a in algorithms if a) or "none"
        problems.append(f"its default encryption is not SSE-KMS (found: {found}); fix with 'aws s3api "
                        f"put-bucket-encryption --bucket {bucket} --server-side-encryption-configuration "
                        "\'{\"Rules\": [{\"ApplyServerSideEncryptionByDefault\": {\"SSEAlgorithm\": "
                        "\"aws:kms\", \"KMSMasterKeyID\": \"<your key ARN>\"}, \"BucketKeyEnabled\": true}]}\''")
    with aws_errors("s3:GetBucketPublicAccessBlock"):
        try:
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in _NO_PUBLIC_ACCESS_BLOCK:
                raise
            block = {}
    open_flags = [f for f in _PUBLIC_ACCESS_FLAGS if block.get(f) is not True]
    if open_flags:
        problems.append(f"its public access block is off for {', '.join(open_flags)}; fix with 'aws "
                        f"s3api put-public-access-block --bucket {bucket} --public-access-block-"
                        "configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,"
                        "RestrictPublicBuckets=true'")
    if problems:
        raise DeployError(f"bucket {bucket} would hold the pipeline's code and data, but "
                          + "; and ".join(problems) + ". Nothing was uploaded or created; upsert "
                          "does not change an existing bucket's settings itself.")


def upload_bundle(s3: Any, cfg: Config, uri: str, data: bytes, sha256: str, out: Printer) -> bool:
    """Put the bundle at its content-addressed key unless it is there with SSE-KMS; verify it."""
    import base64
    import hashlib

    import botocore.exceptions

    bucket, _, key = uri[len("s3://"):].partition("/")
    with aws_errors("s3:GetObject"):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in _MISSING_OBJECT:
                raise
            head = None
    if head is not None:
        if _kms_encrypted(head) and head.get("ContentLength") == len(data):
            out(f"code bundle already at {uri}; not uploaded again")
            return False
        out(f"the object at {uri} is not this bundle encrypted with SSE-KMS; replacing it")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DeployError("the code bundle's bytes do not match its sha256; rebuild it.")
    with aws_errors("s3:PutObject"):
        s3.put_object(Bucket=bucket, Key=key, Body=data, ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=cfg.security.kms_key_id,
                      ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode())
    with aws_errors("s3:GetObject"):
        head = s3.head_object(Bucket=bucket, Key=key)
    if head.get("ContentLength") != len(data) or head.get("ServerSideEncryption") != "aws:kms":
        raise DeployError(f"upload of {uri} could not be verified (size or encryption differs); "
                          "the pipeline was not changed. Run upsert again.")
    out(f"uploaded code bundle to {uri} (SSE-KMS)")
    return True


def _kms_encrypted(head: Mapping[str, Any]) -> bool:
    """True when a HeadObject answer shows SSE-KMS (an object put by someone else may not be)."""
    return head.get("ServerSideEncryption") in ("aws:kms", "aws:kms:dsse")


def local_data(cfg: Config) -> tuple[str, bytes] | None:
    """(file name, bytes) of the data upsert must stage, or None when ``data.uri`` is in S3."""
    import tempfile
    from pathlib import Path

    from trainguard.training.data import embedded_dataset, resolve_data_file, write_csv

    if cfg.data.uri and cfg.data.uri.startswith("s3://"):
        return None
    if cfg.data.uri:
        path = resolve_data_file(cfg.data.uri)
        return path.name, path.read_bytes()
    if "embedded" not in _CACHE:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_csv(embedded_dataset(), Path(tmp) / "data.csv")
            _CACHE["embedded"] = path.read_bytes()
    return "data.csv", _CACHE["embedded"]


def stage_data(s3: Any, cfg: Config, prefix_uri: str, out: Printer) -> bool:
    """Upload local data under InputDataUri's default prefix (SSE-KMS) unless already there.

    The preprocess job reads the whole prefix, so other objects under it are refused rather than
    deleted: the user decides what happens to data in their bucket.
    """
    import hashlib

    import botocore.exceptions

    local = local_data(cfg)
    if local is None:
        return False
    name, data = local
    sha = hashlib.sha256(data).hexdigest()
    bucket, _, prefix = prefix_uri[len("s3://"):].partition("/")
    prefix = prefix.rstrip("/") + "/"
    key = prefix + name
    with aws_errors("s3:ListBucket"):
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=20)
    others = [o["Key"] for o in listing.get("Contents") or [] if o["Key"] != key]
    if others:
        raise DeployError(
            f"s3://{bucket}/{prefix} already holds {', '.join(others[:5])}; the preprocess job "
            f"reads the whole prefix, so upsert will not add {name} beside them. Remove them, or "
            "set data.uri to the s3:// location of your data.")
    with aws_errors("s3:GetObject"):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
            if (head.get("Metadata") or {}).get("sha256") == sha and _kms_encrypted(head):
                out(f"data already at s3://{bucket}/{key}; not uploaded again")
                return False
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in _MISSING_OBJECT:
                raise
    with aws_errors("s3:PutObject"):
        s3.put_object(Bucket=bucket, Key=key, Body=data, ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=cfg.security.kms_key_id, Metadata={"sha256": sha})
    with aws_errors("s3:GetObject"):
        head = s3.head_object(Bucket=bucket, Key=key)
    if head.get("ContentLength") != len(data) or (head.get("Metadata") or {}).get("sha256") != sha:
        raise DeployError(f"upload of s3://{bucket}/{key} could not be verified; the pipeline "
                          "was not changed. Run upsert again.")
    out(f"uploaded data to s3://{bucket}/{key} (SSE-KMS)")
    return True
