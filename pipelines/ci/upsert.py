"""``trainguard diff`` and ``trainguard upsert``: compare with and deploy to SageMaker Pipelines.

upsert = build → lint (refuse on errors) → ensure the bucket → upload the content-addressed code
bundle with SSE-KMS (skipped when the key exists) and stage local data under InputDataUri's
default (skipped when unchanged) → create or update the pipeline only when its definition changed
→ optionally start an execution, with ChampionBar computed from the current Approved model
package. Running it twice with the same code, data and config calls neither PutObject nor
Create/UpdatePipeline. boto3 is used directly; failures become DeployError (exit 2).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from trainguard.pipelines.ci.aws import (
    DeployError,
    aws_errors,
    build_definition,
    client_config,
    error_code,
    make_session,
)
from trainguard.pipelines.ci.lint import format_findings, lint_definition
from trainguard.pipelines.definition import param_pairs, parse_definition, resolve_parameters
from trainguard.pipelines.ops.cost import check_execution_cost, format_estimate
from trainguard.pipelines.registry.base import champion_bar_of
from trainguard.pipelines.registry.sagemaker import SageMakerRegistry
from trainguard.training.config import Config

__all__ = [
    "LintFailed",
    "UpsertResult",
    "diff",
    "diff_definitions",
    "upsert",
]

# AWS answers ResourceNotFound for a missing pipeline; moto (the test endpoint) answers
# ValidationException. Treating the latter as "missing" is safe: a request that is really invalid
# fails again, with its own message, on the CreatePipeline that follows.
_NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "ValidationException"}
_MISSING_OBJECT = {"404", "NoSuchKey", "NotFound"}
_MISSING_BUCKET = {"404", "NoSuchBucket", "NotFound"}

Printer = Callable[[str], None]
_CACHE: dict[str, Any] = {}
"""Per-process memo of the embedded data set's CSV bytes (deterministic, slow to render)."""


class LintFailed(DeployError):
    """The definition has error-severity lint findings; upsert refuses to deploy it (exit 1)."""

    exit_code = 1


@dataclass
class UpsertResult:
    """What one upsert did, for the caller and for tests of idempotency."""

    pipeline_arn: str = ""
    bundle_uri: str = ""
    uploaded: bool = False
    """True when the code bundle was uploaded (False: its key already existed)."""
    data_uploaded: bool = False
    bucket_created: bool = False
    action: str = "unchanged"
    """'created', 'updated' or 'unchanged'."""
    execution_arn: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# structural diff


def _key(item: Any) -> str | None:
    return item.get("Name") if isinstance(item, dict) and isinstance(item.get("Name"), str) else None


def diff_definitions(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Readable differences between two definitions: ``path: old → new``, ``+ path``, ``- path``.

    Lists of named items (steps, parameters) are matched by Name, so inserting a step shows as one
    added step rather than every later step changing.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in new:
                yield f"- {sub}: {_short(old[k])}"
            elif k not in old:
                yield f"+ {sub}: {_short(new[k])}"
            else:
                yield from diff_definitions(old[k], new[k], sub)
        return
    if isinstance(old, list) and isinstance(new, list):
        old_names = [_key(i) for i in old]
        new_names = [_key(i) for i in new]
        if all(old_names) and all(new_names) and len(set(old_names)) == len(old_names) \
                and len(set(new_names)) == len(new_names):
            olds = dict(zip(old_names, old, strict=True))
            news = dict(zip(new_names, new, strict=True))
            for name in [*old_names, *[n for n in new_names if n not in olds]]:
                sub = f"{path}[{name}]"
                if name not in news:
                    yield f"- {sub}: {_short(olds[name])}"
                elif name not in olds:
                    yield f"+ {sub}: {_short(news[name])}"
                else:
                    yield from diff_definitions(olds[name], news[name], sub)
            if [n for n in old_names if n in news] != [n for n in new_names if n in olds]:
                yield f"{path}: order of items changed"
            return
        for i in range(max(len(old), len(new))):
            sub = f"{path}[{i}]"
            if i >= len(new):
                yield f"- {sub}: {_short(old[i])}"
            elif i >= len(old):
                yield f"+ {sub}: {_short(new[i])}"
            else:
                yield from diff_definitions(old[i], new[i], sub)
        return
    if old != new or type(old) is not type(new):
        yield f"{path}: {_short(old)} → {_short(new)}"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# AWS pieces


def _clients(cfg: Config, session: Any, endpoint_url: str | None) -> tuple[Any, Any]:
    conf = client_config()
    kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
    # creating a client resolves the credentials, so their errors can surface here
    with aws_errors("AWS client setup"):
        return (session.client("s3", config=conf, **kwargs),
                session.client("sagemaker", config=conf, **kwargs))


def _describe_pipeline(sm: Any, name: str) -> dict[str, Any] | None:
    """DescribePipeline's answer, or None when no pipeline has that name."""
    import botocore.exceptions

    with aws_errors("sagemaker:DescribePipeline"):
        try:
            return sm.describe_pipeline(PipelineName=name)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise


def _ensure_bucket(s3: Any, cfg: Config, bucket: str, out: Printer) -> bool:
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


def _check_role_account(session: Any, cfg: Config, endpoint_url: str | None) -> None:
    """Refuse a role from another account than the caller's: the pipeline could not pass it, and
    the default bucket would be named after the other account."""
    parts = cfg.aws.role_arn.split(":")
    role_account = parts[4] if len(parts) >= 6 else ""
    kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
    with aws_errors("sts:GetCallerIdentity"):
        caller = session.client("sts", config=client_config(), **kwargs).get_caller_identity()
    account = str(caller.get("Account", ""))
    if role_account and account and role_account != account:
        raise DeployError(f"the role {cfg.aws.role_arn} belongs to account {role_account}, but the "
                          f"credentials in use are account {account} ({caller.get('Arn')}); deploy "
                          "with credentials of the role's account, or pass --role-arn a role of "
                          f"account {account}. Nothing was created.")


def _upload_bundle(s3: Any, cfg: Config, uri: str, data: bytes, sha256: str, out: Printer) -> bool:
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


def _local_data(cfg: Config) -> tuple[str, bytes] | None:
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


def _stage_data(s3: Any, cfg: Config, prefix_uri: str, out: Printer) -> bool:
    """Upload local data under InputDataUri's default prefix (SSE-KMS) unless already there.

    The preprocess job reads the whole prefix, so other objects under it are refused rather than
    deleted: the user decides what happens to data in their bucket.
    """
    import hashlib

    import botocore.exceptions

    local = _local_data(cfg)
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


def _tags(cfg: Config) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(cfg.security.tags.items())]


# --------------------------------------------------------------------------------------------
# the two operations


def _prepare(cfg: Config) -> tuple[str, Any]:
    """The local definition JSON and the code bundle it references (both built once per process)."""
    from trainguard.pipelines.bundle import build_bundle

    return build_definition(cfg), build_bundle()


def _bucket_and_uri(cfg: Config, bundle: Any) -> tuple[str, str]:
    from trainguard.steps.context import default_bucket

    bucket = default_bucket(cfg)
    return bucket, bundle.s3_uri(bucket, cfg.aws.prefix)


def _data_prefix(cfg: Config, bucket: str) -> str:
    from trainguard.steps.parameters import default_data_uri

    return default_data_uri(cfg, bucket)


def upsert(cfg: Config, *, start: bool = False, params: list[str] | None = None,
           endpoint_url: str | None = None, profile: str | None = None, session: Any = None,
           out: Printer = print) -> UpsertResult:
    """Deploy the pipeline built from ``cfg`` (its ``aws.role_arn`` is the pipeline's role).

    Returns what was done; raises DeployError for AWS problems and LintFailed when the
    definition has error findings (before any AWS call). A missing region or unknown profile
    is reported first, before the build.
    """
    session = session or make_session(cfg.aws.region, profile)
    definition_text, bundle = _prepare(cfg)
    definition = parse_definition(definition_text, "the built definition")
    findings = lint_definition(definition, cfg)
    if any(f.severity == "error" for f in findings):
        raise LintFailed(format_findings(findings, "the built definition"))
    chosen = param_pairs(params or [])  # checked before anything is sent; passed on as typed
    resolve_parameters(definition, chosen, defaults=False)
    if start:  # before anything is uploaded: an execution over cost.max_execution_usd never starts
        out(format_estimate(check_execution_cost(definition, cfg, chosen)))
    bucket, uri = _bucket_and_uri(cfg, bundle)
    if uri not in definition_text:
        raise DeployError(f"the built definition does not reference the code bundle {uri}; "
                          "rebuild with the same installed code.")
    _check_role_account(session, cfg, endpoint_url)  # before anything is created
    s3, sm = _clients(cfg, session, endpoint_url)
    result = UpsertResult(bundle_uri=uri)
    result.bucket_created = _ensure_bucket(s3, cfg, bucket, out)
    result.uploaded = _upload_bundle(s3, cfg, uri, bundle.data, bundle.sha256, out)
    result.data_uploaded = _stage_data(s3, cfg, _data_prefix(cfg, bucket), out)

    name = cfg.aws.pipeline_name
    current = _describe_pipeline(sm, name)
    if current is None:
        with aws_errors("sagemaker:CreatePipeline"):
            resp = sm.create_pipeline(PipelineName=name, PipelineDefinition=definition_text,
                                      RoleArn=cfg.aws.role_arn, Tags=_tags(cfg),
                                      PipelineDescription="trainguard pipeline (deployed by CI)")
        result.action, result.pipeline_arn = "created", resp["PipelineArn"]
    else:
        result.pipeline_arn = current["PipelineArn"]
        same = _same_definition(current.get("PipelineDefinition"), definition) and \
            current.get("RoleArn") == cfg.aws.role_arn
        if not same:
            with aws_errors("sagemaker:UpdatePipeline"):
                sm.update_pipeline(PipelineName=name, PipelineDefinition=definition_text,
                                   RoleArn=cfg.aws.role_arn)
            with aws_errors("sagemaker:AddTags"):
                sm.add_tags(ResourceArn=result.pipeline_arn, Tags=_tags(cfg))
            result.action = "updated"
    out(f"pipeline {name} {result.action}: {result.pipeline_arn}")

    if start:
        if "ChampionBar" not in chosen and any(
                p.get("Name") == "ChampionBar" for p in definition.get("Parameters") or []):
            found = champion_bar_of(SageMakerRegistry(sm, s3), cfg)
            chosen["ChampionBar"] = repr(found.value)
            arn = found.champion.lineage.get("arn") if found.champion else None
            out(f"ChampionBar={found.value!r} from {arn}" if found.champion else
                "ChampionBar=0.0: no Approved model in the group yet")
            if found.note:
                out(f"note: {found.note}")
        with aws_errors("sagemaker:StartPipelineExecution"):
            resp = sm.start_pipeline_execution(
                PipelineName=name,
                PipelineParameters=[{"Name": k, "Value": v} for k, v in sorted(chosen.items())])
        result.execution_arn = resp["PipelineExecutionArn"]
        result.parameters = chosen
        out(f"started execution {result.execution_arn}")
    return result


def _same_definition(deployed: Any, local: Mapping[str, Any]) -> bool:
    try:
        return json.loads(deployed) == local
    except (TypeError, ValueError):
        return False


def diff(cfg: Config, *, endpoint_url: str | None = None, profile: str | None = None,
         session: Any = None) -> list[str]:
    """Differences between the deployed pipeline and the local definition ([] when equal).

    A pipeline not deployed yet is one difference (upsert will create it), not an error: the
    first CI run of diff → upsert must reach the upsert.
    """
    session = session or make_session(cfg.aws.region, profile)
    _s3, sm = _clients(cfg, session, endpoint_url)
    current = _describe_pipeline(sm, cfg.aws.pipeline_name)
    if current is None:
        return [f"+ pipeline {cfg.aws.pipeline_name}: not deployed in {cfg.aws.region} yet; "
                "trainguard upsert creates it"]
    definition_text, _bundle = _prepare(cfg)
    local = parse_definition(definition_text, "the built definition")
    try:
        deployed = json.loads(current.get("PipelineDefinition") or "")
    except ValueError:
        deployed = None
    lines = list(diff_definitions(deployed, local))
    if current.get("RoleArn") != cfg.aws.role_arn:
        lines.append(f"RoleArn: {current.get('RoleArn')} → {cfg.aws.role_arn}")
    return lines
