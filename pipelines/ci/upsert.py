"""``trainguard upsert``: deploy to SageMaker Pipelines (``diff`` compares, in ``ci.diff``).

upsert = build → lint (refuse on errors) → ensure the bucket → upload the content-addressed code
bundle with SSE-KMS (skipped when the key exists) and stage local data under InputDataUri's
default (skipped when unchanged) → create or update the pipeline only when its definition changed
→ optionally start an execution, with ChampionBar computed from the current Approved model
package. Running it twice with the same code, data and config calls neither PutObject nor
Create/UpdatePipeline. boto3 is used directly; failures become DeployError (exit 2).
What goes in S3 first is ``ci.staging``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainguard.pipelines.ci.aws import (
    DeployError,
    aws_errors,
    build_definition_and_bundle,
    client_config,
    describe_pipeline,
    make_session,
    pipeline_clients,
)
from trainguard.pipelines.ci.diff import diff, diff_definitions, same_definition
from trainguard.pipelines.ci.lint import format_findings, lint_definition
from trainguard.pipelines.ci.staging import (
    Printer,
    bucket_and_uri,
    data_prefix,
    ensure_bucket,
    stage_data,
    upload_bundle,
)
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


def upsert(cfg: Config, *, start: bool = False, params: list[str] | None = None,
           endpoint_url: str | None = None, profile: str | None = None, session: Any = None,
           out: Printer = print) -> UpsertResult:
    """Deploy the pipeline built from ``cfg`` (its ``aws.role_arn`` is the pipeline's role).

    Returns what was done; raises DeployError for AWS problems and LintFailed when the
    definition has error findings (before any AWS call). A missing region or unknown profile
    is reported first, before the build.
    """
    session = session or make_session(cfg.aws.region, profile)
    definition_text, bundle = build_definition_and_bundle(cfg)
    definition = parse_definition(definition_text, "the built definition")
    findings = lint_definition(definition, cfg)
    if any(f.severity == "error" for f in findings):
        raise LintFailed(format_findings(findings, "the built definition"))
    chosen = param_pairs(params or [])  # checked before anything is sent; passed on as typed
    resolve_parameters(definition, chosen, defaults=False)
    if start:  # before anything is uploaded: an execution over cost.max_execution_usd never starts
        out(format_estimate(check_execution_cost(definition, cfg, chosen)))
    bucket, uri = bucket_and_uri(cfg, bundle)
    if uri not in definition_text:
        raise DeployError(f"the built definition does not reference the code bundle {uri}; "
                          "rebuild with the same installed code.")
    _check_role_account(session, cfg, endpoint_url)  # before anything is created
    s3, sm = pipeline_clients(cfg, session, endpoint_url)
    result = UpsertResult(bundle_uri=uri)
    result.bucket_created = ensure_bucket(s3, cfg, bucket, out)
    result.uploaded = upload_bundle(s3, cfg, uri, bundle.data, bundle.sha256, out)
    result.data_uploaded = stage_data(s3, cfg, data_prefix(cfg, bucket), out)
    result.action, result.pipeline_arn = _create_or_update(sm, cfg, definition_text, definition)
    out(f"pipeline {cfg.aws.pipeline_name} {result.action}: {result.pipeline_arn}")
    if start:
        result.parameters = _with_champion_bar(chosen, definition, cfg, sm, s3, out)
        result.execution_arn = _start_execution(sm, cfg.aws.pipeline_name, result.parameters)
        out(f"started execution {result.execution_arn}")
    return result


def _create_or_update(sm: Any, cfg: Config, definition_text: str,
                      definition: Mapping[str, Any]) -> tuple[str, str]:
    """(action, pipeline ARN): create the pipeline, or update it only when it differs."""
    name = cfg.aws.pipeline_name
    current = describe_pipeline(sm, name)
    if current is None:
        with aws_errors("sagemaker:CreatePipeline"):
            resp = sm.create_pipeline(PipelineName=name, PipelineDefinition=definition_text,
                                      RoleArn=cfg.aws.role_arn, Tags=_tags(cfg),
                                      PipelineDescription="trainguard pipeline (deployed by CI)")
        return "created", resp["PipelineArn"]
    arn = current["PipelineArn"]
    if same_definition(current.get("PipelineDefinition"), definition) and \
            current.get("RoleArn") == cfg.aws.role_arn:
        return "unchanged", arn
    with aws_errors("sagemaker:UpdatePipeline"):
        sm.update_pipeline(PipelineName=name, PipelineDefinition=definition_text,
                           RoleArn=cfg.aws.role_arn)
    with aws_errors("sagemaker:AddTags"):
        sm.add_tags(ResourceArn=arn, Tags=_tags(cfg))
    return "updated", arn


def _with_champion_bar(chosen: dict[str, str], definition: Mapping[str, Any], cfg: Config, sm: Any,
                       s3: Any, out: Printer) -> dict[str, str]:
    """The execution's parameters, with ChampionBar from the Approved model package unless given."""
    if "ChampionBar" in chosen or not any(
            p.get("Name") == "ChampionBar" for p in definition.get("Parameters") or []):
        return chosen
    found = champion_bar_of(SageMakerRegistry(sm, s3), cfg)
    chosen["ChampionBar"] = repr(found.value)
    arn = found.champion.lineage.get("arn") if found.champion else None
    out(f"ChampionBar={found.value!r} from {arn}" if found.champion else
        "ChampionBar=0.0: no Approved model in the group yet")
    if found.note:
        out(f"note: {found.note}")
    return chosen


def _start_execution(sm: Any, name: str, parameters: Mapping[str, str]) -> str:
    """Start one execution with these parameters; its ARN."""
    with aws_errors("sagemaker:StartPipelineExecution"):
        resp = sm.start_pipeline_execution(
            PipelineName=name,
            PipelineParameters=[{"Name": k, "Value": v} for k, v in sorted(parameters.items())])
    return resp["PipelineExecutionArn"]


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


def _tags(cfg: Config) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(cfg.security.tags.items())]
