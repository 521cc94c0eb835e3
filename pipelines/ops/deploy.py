"""``trainguard deploy``: serve the newest Approved model package behind an encrypted, isolated endpoint.

The model runs network-isolated in the pipeline's VPC; the endpoint's volumes and its data capture
(inputs and outputs, to S3) are encrypted with the configured KMS key. A new package replaces the
old one by a blue/green update that rolls back on the endpoint alarms. Model and endpoint-config
names are content hashes, so a rerun reuses what an earlier, partly failed run created and a run
with nothing new calls no Create/Update at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors, error_code, make_session, unless_missing
from trainguard.pipelines.ops.alarms import check_topic, endpoint_alarm_names, upsert_endpoint_alarms
from trainguard.pipelines.ops.common import MANAGED_TAG, Printer, clients, managed_tags, tag_list
from trainguard.training.config import Config

__all__ = ["LATEST", "DeployPlan", "DeployResult", "deploy", "deploy_diff", "deployment_config",
           "describe_endpoint", "plan_deploy", "remove_deploy"]

LATEST = "latest-approved"
_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):(\d{12}):model-package/[\w-]+/\d+$")
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# instance families with local NVMe storage (m5d, c5d, r5d, g4dn, p3dn, ...): SageMaker refuses a
# volume KMS key for them (their storage is encrypted by the hardware).
_LOCAL_STORAGE = re.compile(r"^ml\.[a-z]+\d+[a-z]*d[a-z]*\.")
_BUSY = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "UpdateRollbackFailed"}
_NOT_FOUND = {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}


@dataclass(frozen=True)
class DeployPlan:
    """Every request a deploy would send, computed from the config and the package alone."""

    package_arn: str
    model_name: str
    model_request: dict[str, Any]
    config_name: str
    config_request: dict[str, Any]
    endpoint_name: str
    deployment_config: dict[str, Any]


@dataclass
class DeployResult:
    """What one deploy did: 'created', 'updated' or 'unchanged', and which resources it made."""

    endpoint_name: str
    package_arn: str
    action: str = "unchanged"
    created: list[str] = field(default_factory=list)


def _digest(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:10]


def _check_inputs(cfg: Config, role_arn: str, package: str) -> None:
    """DeployError for input the service would refuse, before any AWS call; names the key."""
    d, s = cfg.deploy, cfg.security
    if not _ENDPOINT_NAME.fullmatch(d.endpoint_name) or len(d.endpoint_name) > 50:
        raise DeployError(f"deploy.endpoint_name {d.endpoint_name!r} is not a usable endpoint name: "
                          "letters, digits and hyphens, starting with a letter or digit, at most 50 "
                          "characters (trainguard adds a 13-character suffix to model names).")
    if package != LATEST:
        m = _PACKAGE_ARN.match(package)
        if not m:
            raise DeployError(f"--package {package!r} is neither {LATEST!r} nor a model package "
                              "ARN (arn:aws:sagemaker:<region>:<account>:model-package/<group>/<n>).")
        if m.group(1) != cfg.aws.region:
            raise DeployError(f"--package {package} is in {m.group(1)} but aws.region is "
                              f"{cfg.aws.region}; deploy in the package's region.")
        if f":model-package/{cfg.registry.model_package_group}/" not in package:
            raise DeployError(f"--package {package} is not in registry.model_package_group "
                              f"{cfg.registry.model_package_group!r}; deploy from the configured group.")
    missing = [k for k, v in (("security.kms_key_id", s.kms_key_id), ("security.subnets", s.subnets),
                              ("security.security_group_ids", s.security_group_ids)) if not v]
    if missing:
        raise DeployError(f"{', '.join(missing)} must be set: the endpoint runs encrypted, "
                          "network-isolated, in the VPC (security.allow_insecure does not apply "
                          "to serving).")
    if _LOCAL_STORAGE.match(d.instance_type):
        raise DeployError(f"deploy.instance_type {d.instance_type} has local instance storage, for "
                          "which SageMaker refuses a volume KMS key; choose a type without 'd' in "
                          "its family (e.g. ml.m5.large).")


def capture_uri(cfg: Config, bucket: str) -> str:
    """Where data capture writes: deploy.capture_uri, or s3://<bucket>/<prefix>/capture."""
    if cfg.deploy.capture_uri:
        return cfg.deploy.capture_uri.rstrip("/")
    prefix = "/".join(p for p in cfg.aws.prefix.split("/") if p)
    return f"s3://{bucket}/{prefix + '/' if prefix else ''}capture"


def deployment_config(cfg: Config, alarm_names: list[str]) -> dict[str, Any]:
    """UpdateEndpoint's DeploymentConfig: blue/green with the configured traffic shift, and
    automatic rollback when any of ``alarm_names`` goes to ALARM during the update."""
    d = cfg.deploy
    routing: dict[str, Any] = {"Type": d.traffic.upper(), "WaitIntervalInSeconds": d.wait_seconds}
    size = {"Type": "CAPACITY_PERCENT", "Value": d.step_percent}
    if d.traffic == "canary":
        routing["CanarySize"] = size
    elif d.traffic == "linear":
        routing["LinearStepSize"] = size
    # the whole update must fit the service's 600-28800 s window: every wait plus baking
    steps = 1 if d.traffic != "linear" else -(-100 // d.step_percent)
    timeout = min(28800, max(600, (steps + 1) * d.wait_seconds + d.termination_wait_seconds + 600))
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing,
                                      "TerminationWaitInSeconds": d.termination_wait_seconds,
                                      "MaximumExecutionTimeoutInSeconds": timeout},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": n} for n in alarm_names]}}


def plan_deploy(cfg: Config, package: dict[str, Any], role_arn: str, bucket: str) -> DeployPlan:
    """The requests serving ``package`` (a DescribeModelPackage answer) needs; refuses a package
    that is not Approved or that lacks an image, model data or content types."""
    arn = str(package.get("ModelPackageArn", "?"))
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise DeployError(f"model package {arn} is {status or 'without an approval status'}, not "
                          "Approved; only Approved packages are deployed. Approve it in the "
                          "registry, or deploy --package latest-approved.")
    spec = package.get("InferenceSpecification") or {}
    containers = spec.get("Containers") or []
    if len(containers) != 1 or not containers[0].get("Image") or not containers[0].get("ModelDataUrl"):
        raise DeployError(f"model package {arn} does not name one container with an Image and a "
                          "ModelDataUrl in its InferenceSpecification; register it with trainguard.")
    content_types = list(spec.get("SupportedContentTypes") or [])
    if not content_types:
        raise DeployError(f"model package {arn} lists no SupportedContentTypes; data capture needs "
                          "them. Register it with trainguard (text/csv).")
    s, d = cfg.security, cfg.deploy
    container = {"Image": containers[0]["Image"], "ModelDataUrl": containers[0]["ModelDataUrl"]}
    model_request: dict[str, Any] = {
        "PrimaryContainer": container, "ExecutionRoleArn": role_arn,
        "VpcConfig": {"Subnets": list(s.subnets), "SecurityGroupIds": list(s.security_group_ids)},
        "EnableNetworkIsolation": True}
    base = d.endpoint_name
    model_name = f"{base}-m-{_digest({**model_request, 'package': arn})}"
    responses = list(spec.get("SupportedResponseMIMETypes") or [])
    header: dict[str, list[str]] = {}
    csv = [t for t in {*content_types, *responses} if "csv" in t]
    json_types = [t for t in {*content_types, *responses} if "json" in t]
    if csv:
        header["CsvContentTypes"] = sorted(csv)
    if json_types:
        header["JsonContentTypes"] = sorted(json_types)
    capture: dict[str, Any] = {
        "EnableCapture": True, "InitialSamplingPercentage": d.capture_percent,
        "DestinationS3Uri": capture_uri(cfg, bucket), "KmsKeyId": s.kms_key_id,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    if header:
        capture["CaptureContentTypeHeader"] = header
    config_request: dict[str, Any] = {
        "ProductionVariants": [{"VariantName": d.variant_name, "ModelName": model_name,
                                "InstanceType": d.instance_type,
                                "InitialInstanceCount": d.instance_count,
                                "InitialVariantWeight": 1.0}],
        "DataCaptureConfig": capture, "KmsKeyId": s.kms_key_id}
    config_name = f"{base}-c-{_digest(config_request)}"
    return DeployPlan(arn, model_name, model_request, config_name, config_request, base,
                      deployment_config(cfg, endpoint_alarm_names(cfg)))


# --------------------------------------------------------------------------------------------
# AWS


def _choose_package(sm: Any, s3: Any, cfg: Config, package: str) -> dict[str, Any]:
    """DescribeModelPackage of the chosen package (the group's champion for LATEST)."""
    from trainguard.pipelines.registry.sagemaker import SageMakerRegistry

    group = cfg.registry.model_package_group
    if package == LATEST:
        # the champion, exactly as the starters see it: the most recently approved package
        champion = SageMakerRegistry(sm, s3).champion(group)
        if champion is None:
            raise DeployError(f"registry.model_package_group {group!r} has no Approved package in "
                              f"{cfg.aws.region}; approve one (trainguard registry approve, or the "
                              "SageMaker console) before deploying.")
        package = str(champion.lineage["arn"])
    with aws_errors("sagemaker:DescribeModelPackage"):
        return sm.describe_model_package(ModelPackageName=package)


def describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    """DescribeEndpoint's answer, or None when there is no such endpoint."""
    return unless_missing("sagemaker:DescribeEndpoint", lambda: sm.describe_endpoint(EndpointName=name),
                          _NOT_FOUND)


def _exists(call: Any, action: str, **kwargs: Any) -> bool:
    import botocore.exceptions

    with aws_errors(action):
        try:
            call(**kwargs)
            return True
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return False
            raise


def _managed(sm: Any, arn: str, owner: str) -> bool:
    with aws_errors("sagemaker:ListTags"):
        tags = sm.list_tags(ResourceArn=arn).get("Tags") or []
    return any(t.get("Key") == MANAGED_TAG and t.get("Value") == owner for t in tags)


def _bucket(cfg: Config, role_arn: str) -> str:
    from trainguard.pipelines.ops.common import account_of

    return cfg.aws.bucket or f"sagemaker-{cfg.aws.region}-{account_of(role_arn)}"


def deploy(cfg: Config, role_arn: str, *, package: str = LATEST, endpoint_url: str | None = None,
           profile: str | None = None, session: Any = None, out: Printer = print) -> DeployResult:
    """Create or blue/green-update the endpoint to serve ``package``; DeployError on bad input
    (before any call) or on AWS failures, saying what still serves and what to rerun."""
    _check_inputs(cfg, role_arn, package)
    check_topic(cfg)
    session = session or make_session(cfg.aws.region, profile)
    sm, cw, sns, s3 = clients(session, endpoint_url, "sagemaker", "cloudwatch", "sns", "s3")
    described = _choose_package(sm, s3, cfg, package)
    plan = plan_deploy(cfg, described, role_arn, _bucket(cfg, role_arn))
    name = plan.endpoint_name
    current = describe_endpoint(sm, name)
    if current is not None:
        if not _managed(sm, current["EndpointArn"], name):
            raise DeployError(f"endpoint {name} exists but was not created by trainguard (no "
                              f"{MANAGED_TAG}={name} tag); choose another deploy.endpoint_name.")
        if current.get("EndpointStatus") in _BUSY:
            raise DeployError(f"endpoint {name} is {current['EndpointStatus']}; rerun trainguard "
                              "deploy when it is InService again.")
    result = DeployResult(endpoint_name=name, package_arn=plan.package_arn)
    upsert_endpoint_alarms(cw, sns, cfg, out=out)
    tags = tag_list(managed_tags(cfg, name))
    if current is not None and current.get("EndpointConfigName") == plan.config_name:
        out(f"endpoint {name} already serves {plan.package_arn}; unchanged")
        return result
    if not _exists(sm.describe_model, "sagemaker:DescribeModel", ModelName=plan.model_name):
        with aws_errors("sagemaker:CreateModel"):
            sm.create_model(ModelName=plan.model_name, Tags=tags, **plan.model_request)
        result.created.append(plan.model_name)
    if not _exists(sm.describe_endpoint_config, "sagemaker:DescribeEndpointConfig",
                   EndpointConfigName=plan.config_name):
        with aws_errors("sagemaker:CreateEndpointConfig"):
            sm.create_endpoint_config(EndpointConfigName=plan.config_name, Tags=tags,
                                      **plan.config_request)
        result.created.append(plan.config_name)
    if current is None:
        with aws_errors("sagemaker:CreateEndpoint"):
            sm.create_endpoint(EndpointName=name, EndpointConfigName=plan.config_name, Tags=tags)
        result.action = "created"
        out(f"endpoint {name} created, serving {plan.package_arn}")
        return result
    try:
        with aws_errors("sagemaker:UpdateEndpoint"):
            sm.update_endpoint(EndpointName=name, EndpointConfigName=plan.config_name,
                               DeploymentConfig=plan.deployment_config)
    except DeployError as exc:
        raise DeployError(
            f"{exc} The endpoint {name} still serves {current.get('EndpointConfigName')}; nothing "
            f"was switched. The new model {plan.model_name} and endpoint config {plan.config_name} "
            "exist and will be reused: fix the cause and rerun the same trainguard deploy.") from None
    result.action = "updated"
    out(f"endpoint {name} updating (blue/green, rollback on {', '.join(endpoint_alarm_names(cfg))}) "
        f"to {plan.package_arn}")
    return result


def deploy_diff(cfg: Config, role_arn: str, *, package: str = LATEST, endpoint_url: str | None = None,
                profile: str | None = None, session: Any = None,
                unchanged: list[str] | None = None) -> list[str]:
    """What ``deploy`` would change, one line each: the endpoint, the topic and the endpoint's
    alarms (created, or which fields change). [] when everything is as the config asks; the
    alarms left as they are are appended to ``unchanged`` when given."""
    from trainguard.pipelines.ops.alarms import alarm_specs, diff_alarms, topic_arn, topic_changes
    from trainguard.pipelines.ops.common import account_of

    _check_inputs(cfg, role_arn, package)
    check_topic(cfg)
    session = session or make_session(cfg.aws.region, profile)
    sm, s3, cw, sns = clients(session, endpoint_url, "sagemaker", "s3", "cloudwatch", "sns")
    plan = plan_deploy(cfg, _choose_package(sm, s3, cfg, package), role_arn, _bucket(cfg, role_arn))
    current = describe_endpoint(sm, plan.endpoint_name)
    lines: list[str] = []
    if current is None:
        lines.append(f"+ endpoint {plan.endpoint_name}: config {plan.config_name}, model "
                     f"{plan.model_name} ({plan.package_arn})")
    elif current.get("EndpointConfigName") != plan.config_name:
        lines.append(f"endpoint {plan.endpoint_name}: config {current.get('EndpointConfigName')} → "
                     f"{plan.config_name} (blue/green; model {plan.model_name}, {plan.package_arn})")
    account = account_of(cfg.aws.role_arn)
    lines += topic_changes(sns, cfg, account)
    specs = alarm_specs(cfg, topic_arn(cfg, account), None, quality=False)
    alarm_lines, same = diff_alarms(cw, specs)
    if unchanged is not None:
        unchanged += [f"alarm {n}" for n in same]
    return lines + alarm_lines


def remove_deploy(cfg: Config, *, endpoint_url: str | None = None, profile: str | None = None,
                  session: Any = None, out: Printer = print) -> list[str]:
    """Delete the endpoint, its endpoint configs, models and alarms, only those tagged as created
    by trainguard for ``deploy.endpoint_name``; returns the names deleted."""
    from trainguard.pipelines.ops.alarms import remove_alarms

    name = cfg.deploy.endpoint_name
    session = session or make_session(cfg.aws.region, profile)
    sm, cw = clients(session, endpoint_url, "sagemaker", "cloudwatch")
    deleted: list[str] = []
    current = describe_endpoint(sm, name)
    if current is not None and _managed(sm, current["EndpointArn"], name):
        with aws_errors("sagemaker:DeleteEndpoint"):
            sm.delete_endpoint(EndpointName=name)
        deleted.append(name)
    elif current is not None:
        out(f"endpoint {name} was not created by trainguard; left in place")
    with aws_errors("sagemaker:ListEndpointConfigs"):
        configs = sm.list_endpoint_configs(NameContains=f"{name}-c-").get("EndpointConfigs") or []
    for c in configs:
        if c["EndpointConfigName"].startswith(f"{name}-c-") and _managed(sm, c["EndpointConfigArn"], name):
            with aws_errors("sagemaker:DeleteEndpointConfig"):
                sm.delete_endpoint_config(EndpointConfigName=c["EndpointConfigName"])
            deleted.append(c["EndpointConfigName"])
    with aws_errors("sagemaker:ListModels"):
        models = sm.list_models(NameContains=f"{name}-m-").get("Models") or []
    for m in models:
        if m["ModelName"].startswith(f"{name}-m-") and _managed(sm, m["ModelArn"], name):
            with aws_errors("sagemaker:DeleteModel"):
                sm.delete_model(ModelName=m["ModelName"])
            deleted.append(m["ModelName"])
    deleted += remove_alarms(cw, endpoint_alarm_names(cfg), owner=name)
    for item in deleted:
        out(f"deleted {item}")
    return deleted
