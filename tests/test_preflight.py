"""``trainguard preflight`` against a real moto server over HTTP: a ready account, then one broken
piece at a time, each reported as one line naming the check, the resource and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto_server import MotoServer
from trainguard.pipelines.cli import main

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE_NAME = "trainguard-exec"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
OTHER = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "sagemaker.amazonaws.com"}}]}


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    moto.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ENDPOINT_URL": moto.url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
                        "AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(name, value)
    return moto


def _client(service: str) -> Any:
    return boto3.Session().client(service, region_name=REGION)


def _account(*, endpoint: bool = True, key_policy_principal: str | None = ROLE,
             trust: dict[str, Any] | None = None) -> dict[str, Any]:
    """A VPC with two private subnets, a group, an S3 gateway endpoint, a key and the role."""
    ec2, kms, iam = _client("ec2"), _client("kms"), _client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"]
               for i in (1, 2)]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for s in subnets:
        ec2.associate_route_table(RouteTableId=table, SubnetId=s)
    group = ec2.create_security_group(GroupName="tg", Description="jobs", VpcId=vpc)["GroupId"]
    if endpoint:
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3",
                                VpcEndpointType="Gateway", RouteTableIds=[table])
    key = kms.create_key()["KeyMetadata"]
    if key_policy_principal:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": key_policy_principal},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*"}]}))
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust or TRUST))
    return {"vpc": vpc, "subnets": subnets, "group": group, "key": key["Arn"], "key_id": key["KeyId"],
            "table": table}


def _config(tmp_path: Path, acct: dict[str, Any], **security: Any) -> Path:
    path = tmp_path / "trainguard.yaml"
    path.write_text(yaml.safe_dump({
        "aws": {"region": REGION, "role_arn": ROLE},
        "security": {"kms_key_id": acct["key"], "subnets": acct["subnets"],
                     "security_group_ids": [acct["group"]], **security}}))
    return path


def _run(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = main(["preflight", "--config", str(path)])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return status, out.out.strip().splitlines()


def test_a_ready_account_has_no_findings(aws: MotoServer, tmp_path: Path, capsys: Any) -> None:
    status, lines = _run(_config(tmp_path, _account()), capsys)
    assert status == 0, lines
    assert lines == [f"account for pipeline trainguard-pipeline in {REGION}: no findings; subnets, "
                     "security groups, S3 path, KMS key and role are ready."]


def test_a_key_policy_delegating_to_the_account_root_is_enough(aws: MotoServer, tmp_path: Path,
                                                                capsys: Any) -> None:
    status, lines = _run(_config(tmp_path, _account(key_policy_principal=f"arn:aws:iam::{ACCOUNT}:root")),
                         capsys)
    assert status == 0, lines


@pytest.mark.parametrize(("breakage", "check", "words"), [
    ("missing-subnet", "subnet", "does not exist"),
    ("missing-group", "security-group", "does not exist"),
    ("foreign-group", "security-group", "not to the subnets' VPC"),
    ("no-endpoint", "s3-endpoint", "has no S3 gateway endpoint"),
    ("unrouted-subnet", "s3-endpoint", "does not route S3 through the gateway endpoint"),
    ("missing-key", "kms-key", "does not exist"),
    ("disabled-key", "kms-key", "is Disabled, not Enabled"),
    ("key-policy", "kms-key-policy", "does not let arn:aws:iam::123456789012:role/trainguard-exec use it"),
    ("missing-role", "role", "does not exist"),
    ("trust", "role-trust", "does not trust sagemaker.amazonaws.com"),
])
def test_each_broken_piece_is_one_line(aws: MotoServer, tmp_path: Path, capsys: Any, breakage: str,
                                       check: str, words: str) -> None:
    acct = _account(endpoint=breakage != "no-endpoint",
                    key_policy_principal=OTHER if breakage == "key-policy" else ROLE,
                    trust={"Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Action": "sts:AssumeRole",
                        "Principal": {"Service": "ec2.amazonaws.com"}}]} if breakage == "trust" else None)
    ec2, kms, iam = _client("ec2"), _client("kms"), _client("iam")
    security: dict[str, Any] = {}
    if breakage == "missing-subnet":
        security["subnets"] = [acct["subnets"][0], "subnet-0123456789abcdef0"]
    elif breakage == "missing-group":
        security["security_group_ids"] = ["sg-0123456789abcdef0"]
    elif breakage == "foreign-group":
        other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        security["security_group_ids"] = [
            ec2.create_security_group(GroupName="x", Description="x", VpcId=other)["GroupId"]]
    elif breakage == "unrouted-subnet":
        lonely = ec2.create_subnet(VpcId=acct["vpc"], CidrBlock="10.0.3.0/24")["Subnet"]["SubnetId"]
        other_table = ec2.create_route_table(VpcId=acct["vpc"])["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=other_table, SubnetId=lonely)
        security["subnets"] = [*acct["subnets"], lonely]
    elif breakage == "missing-key":
        security["kms_key_id"] = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    elif breakage == "disabled-key":
        kms.disable_key(KeyId=acct["key_id"])
    elif breakage == "missing-role":
        iam.delete_role(RoleName=ROLE_NAME)
    status, lines = _run(_config(tmp_path, acct, **security), capsys)
    assert status == 1, lines
    findings = [ln for ln in lines[:-1]]
    assert len(findings) == 1, lines
    assert findings[0].startswith(f"error: [{check}] ") and words in findings[0], findings[0]
    assert lines[-1].endswith("1 error(s), 0 warning(s).")


def test_json_output_and_aws_failures_exit_2(aws: MotoServer, tmp_path: Path, capsys: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, _account(endpoint=False))
    assert main(["preflight", "--config", str(path), "--json"]) == 1
    [finding] = json.loads(capsys.readouterr().out)
    assert finding["check"] == "s3-endpoint" and finding["severity"] == "error"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    assert main(["preflight", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the AWS endpoint" in err and "Traceback" not in err
