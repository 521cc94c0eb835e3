"""``trainguard preflight``: does the account hold what the jobs of this config need?

Read-only checks, one finding per problem, before a first execution: the subnets and security
groups exist and share one VPC; that VPC reaches S3 without the internet (a gateway endpoint on
each subnet's route table: network-isolated jobs in private subnets read and write S3 only so);
the KMS key exists, is enabled and its key policy lets the execution role use it (directly, or by
delegating to IAM through the account root); the role exists and trusts SageMaker. Nothing is
created or changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from trainguard.pipelines.ci.aws import aws_errors, client_config, error_code, make_session
from trainguard.training.config import Config

__all__ = ["PreflightFinding", "format_preflight", "preflight"]

Severity = Literal["error", "warning"]
SERVICE = "sagemaker.amazonaws.com"
KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant")
"""What the jobs do with the key: read and write SSE-KMS objects, encrypt their volumes."""
_MISSING = {"InvalidSubnetID.NotFound", "InvalidGroup.NotFound", "InvalidGroupId.Malformed",
            "InvalidSubnetID.Malformed", "NotFoundException", "NoSuchEntity"}


@dataclass(frozen=True)
class PreflightFinding:
    """One problem in the account: which check, how bad, which resource, what to do."""

    check: str
    severity: Severity
    resource: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Plain dict for ``--json`` output."""
        return asdict(self)


def preflight(cfg: Config, *, endpoint_url: str | None = None, profile: str | None = None,
              session: Any = None) -> list[PreflightFinding]:
    """Run every check for ``cfg`` against the account; errors first."""
    session = session or make_session(cfg.aws.region, profile)

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=endpoint_url, config=client_config())

    ec2, kms, iam = client("ec2"), client("kms"), client("iam")
    findings: list[PreflightFinding] = []
    vpc = None
    if cfg.security.subnets or cfg.security.security_group_ids:
        vpc_findings, vpc, subnets = _network(ec2, cfg)
        findings += vpc_findings
        if vpc:
            findings += list(_s3_path(ec2, cfg, vpc, subnets))
    if cfg.security.kms_key_id:
        findings += list(_key(kms, cfg))
    findings += list(_role(iam, cfg))
    return sorted(findings, key=lambda f: f.severity != "error")


def format_preflight(findings: list[PreflightFinding], cfg: Config) -> str:
    """One line per finding, then a summary line."""
    lines = [f"{f.severity}: [{f.check}] {f.resource}: {f.message}" for f in findings]
    errors = sum(f.severity == "error" for f in findings)
    where = f"account for pipeline {cfg.aws.pipeline_name} in {cfg.aws.region}"
    lines.append(f"{where}: {errors} error(s), {len(findings) - errors} warning(s)." if findings
                 else f"{where}: no findings; subnets, security groups, S3 path, KMS key and role "
                      "are ready.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the checks


def _missing(call: Callable[[], Any], action: str) -> tuple[Any, bool]:
    """(response, False), or (None, True) when AWS says the resource does not exist."""
    import botocore.exceptions

    with aws_errors(action):
        try:
            return call(), False
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in _MISSING:
                return None, True
            raise


def _network(ec2: Any, cfg: Config) -> tuple[list[PreflightFinding], str | None, list[str]]:
    """Findings, the one VPC of the subnets (None if they span several or none exist), the
    subnets that exist."""
    out: list[PreflightFinding] = []
    vpcs: dict[str, set[str]] = {}
    for subnet in cfg.security.subnets:
        resp, missing = _missing(lambda s=subnet: ec2.describe_subnets(SubnetIds=[s]), "ec2:DescribeSubnets")
        if missing or not resp.get("Subnets"):
            out.append(PreflightFinding("subnet", "error", subnet, "does not exist in this account and "
                                        "region; set security.subnets to private subnets of your VPC."))
            continue
        info = resp["Subnets"][0]
        vpcs.setdefault(info["VpcId"], set()).add(subnet)
        if info.get("MapPublicIpOnLaunch"):
            out.append(PreflightFinding("subnet", "warning", subnet, "assigns public IPs (a public "
                                        "subnet); run the jobs in private subnets."))
    for group in cfg.security.security_group_ids:
        resp, missing = _missing(lambda g=group: ec2.describe_security_groups(GroupIds=[g]),
                                 "ec2:DescribeSecurityGroups")
        if missing or not resp.get("SecurityGroups"):
            out.append(PreflightFinding("security-group", "error", group, "does not exist in this "
                                        "account and region; set security.security_group_ids."))
            continue
        vpc = resp["SecurityGroups"][0]["VpcId"]
        if vpcs and vpc not in vpcs:
            out.append(PreflightFinding("security-group", "error", group, f"belongs to {vpc}, not to "
                                        f"the subnets' VPC ({', '.join(sorted(vpcs))}); use a group "
                                        "of that VPC."))
    if len(vpcs) > 1:
        out.append(PreflightFinding("subnet", "error", ", ".join(sorted(cfg.security.subnets)),
                                    f"the subnets span several VPCs ({', '.join(sorted(vpcs))}); a "
                                    "job's VpcConfig takes subnets of one VPC."))
    found = sorted(s for members in vpcs.values() for s in members)
    return out, (next(iter(vpcs)) if len(vpcs) == 1 else None), found


def _s3_path(ec2: Any, cfg: Config, vpc: str, subnets: list[str]) -> Iterator[PreflightFinding]:
    """Each subnet's route table must route S3 through a gateway endpoint of its VPC."""
    service = f"com.amazonaws.{cfg.aws.region}.s3"
    with aws_errors("ec2:DescribeVpcEndpoints"):
        endpoints = ec2.describe_vpc_endpoints(Filters=[
            {"Name": "vpc-id", "Values": [vpc]}, {"Name": "service-name", "Values": [service]}]
        ).get("VpcEndpoints") or []
    gateways = [e for e in endpoints if e.get("VpcEndpointType", "Gateway") == "Gateway"
                and e.get("State", "available").lower() == "available"]
    if not gateways:
        yield PreflightFinding("s3-endpoint", "error", vpc, f"has no S3 gateway endpoint ({service}): "
                               "network-isolated jobs in private subnets cannot read their inputs or "
                               "write their outputs; create one on the subnets' route tables.")
        return
    routed = {rt for e in gateways for rt in e.get("RouteTableIds") or []}
    with aws_errors("ec2:DescribeRouteTables"):
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}]).get("RouteTables") or []
    main = next((t["RouteTableId"] for t in tables
                 if any(a.get("Main") for a in t.get("Associations") or [])), None)
    for subnet in subnets:
        table = next((t["RouteTableId"] for t in tables for a in t.get("Associations") or []
                      if a.get("SubnetId") == subnet), main)
        if table not in routed:
            yield PreflightFinding("s3-endpoint", "error", subnet, f"its route table {table} does not "
                                   f"route S3 through the gateway endpoint "
                                   f"{gateways[0]['VpcEndpointId']}; add the route table to it.")


def _key(kms: Any, cfg: Config) -> Iterator[PreflightFinding]:
    key = str(cfg.security.kms_key_id)
    resp, missing = _missing(lambda: kms.describe_key(KeyId=key), "kms:DescribeKey")
    if missing:
        yield PreflightFinding("kms-key", "error", key, "does not exist in this account and region; "
                               "set security.kms_key_id to your key's ARN.")
        return
    meta = resp["KeyMetadata"]
    if meta.get("KeyState") != "Enabled":
        yield PreflightFinding("kms-key", "error", key, f"is {meta.get('KeyState')}, not Enabled; "
                               "enable it (or cancel its deletion) before running.")
    with aws_errors("kms:GetKeyPolicy"):
        policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    role, account = cfg.aws.role_arn, cfg.aws.role_arn.split(":")[4]
    missing_actions = [a for a in KEY_ACTIONS if not _key_policy_allows(policy, role, account, a)]
    if missing_actions:
        yield PreflightFinding("kms-key-policy", "error", key, f"its key policy does not let "
                               f"{role} use it ({', '.join(missing_actions)}); allow the role, or "
                               f"the account root arn:aws:iam::{account}:root so IAM policies decide.")


def _principals(statement: dict[str, Any]) -> set[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return {"*"}
    values = (principal or {}).get("AWS", []) if isinstance(principal, dict) else []
    return set([values] if isinstance(values, str) else values)


def _action_matches(patterns: Any, action: str) -> bool:
    import fnmatch

    items = [patterns] if isinstance(patterns, str) else patterns or []
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in items)


def _key_policy_allows(policy: dict[str, Any], role: str, account: str, action: str) -> bool:
    """True when a statement allows ``action`` to the role (or the root, delegating to IAM)
    and none denies it; conditions are not evaluated (a conditioned allow counts)."""
    who = {role, f"arn:aws:iam::{account}:root", account, "*"}
    statements = policy.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    denied = any(s.get("Effect") == "Deny" and _principals(s) & who and _action_matches(s.get("Action"), action)
                 and not s.get("Condition") for s in statements)
    allowed = any(s.get("Effect") == "Allow" and _principals(s) & who
                  and _action_matches(s.get("Action"), action) for s in statements)
    return allowed and not denied


def _role(iam: Any, cfg: Config) -> Iterator[PreflightFinding]:
    role = cfg.aws.role_arn
    name = role.rsplit("/", 1)[-1]
    resp, missing = _missing(lambda: iam.get_role(RoleName=name), "iam:GetRole")
    if missing:
        yield PreflightFinding("role", "error", role, "does not exist; create it with the trust and "
                               "permissions policies of 'trainguard iam-policy'.")
        return
    trust = resp["Role"].get("AssumeRolePolicyDocument") or {}
    if isinstance(trust, str):
        from urllib.parse import unquote

        trust = json.loads(unquote(trust))
    statements = trust.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    trusted = any(s.get("Effect") == "Allow" and _action_matches(s.get("Action"), "sts:AssumeRole")
                  and SERVICE in _services(s) for s in statements)
    if not trusted:
        yield PreflightFinding("role-trust", "error", role, f"does not trust {SERVICE} "
                               "(sts:AssumeRole), so SageMaker cannot run the jobs as this role; use "
                               "the trust policy of 'trainguard iam-policy'.")


def _services(statement: dict[str, Any]) -> set[str]:
    principal = statement.get("Principal")
    values = principal.get("Service", []) if isinstance(principal, dict) else []
    return set([values] if isinstance(values, str) else values)
