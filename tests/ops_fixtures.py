"""Shared pieces of the ops tests: a config on the moto account and model packages in its registry."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import yaml

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE = f"arn:aws:iam::{ACCOUNT}:role/trainguard-exec"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GROUP = "tg-models"
IMAGE = f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:3.0-5"
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"


def client(service: str) -> Any:
    """A client from a fresh session, so it reads this test's environment."""
    return boto3.Session().client(service, region_name=REGION)


def config_file(tmp_path: Path, **sections: Any) -> Path:
    """A config YAML for the moto account; ``sections`` are merged over the base."""
    tree: dict[str, Any] = {
        "aws": {"region": REGION, "role_arn": ROLE, "pipeline_name": "tg-test"},
        "security": {"kms_key_id": KMS_KEY, "subnets": ["subnet-0abc1234def567890"],
                     "security_group_ids": ["sg-0abc1234def567890"]},
        "registry": {"model_package_group": GROUP},
        "deploy": {"endpoint_name": "tg-endpoint"},
    }
    for key, value in sections.items():
        tree.setdefault(key, {}).update(value)
    path = tmp_path / "trainguard.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def add_package(status: str = "Approved", metrics: dict[str, float] | None = None,
                model: str = "model-1") -> str:
    """Register a package in GROUP (creating the group once) with an evaluation report; its ARN."""
    sm, s3 = client("sagemaker"), client("s3")
    if not sm.list_model_package_groups(NameContains=GROUP)["ModelPackageGroupSummaryList"]:
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
    try:
        s3.head_bucket(Bucket=BUCKET)
    except Exception:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    metrics = metrics or {"auc": 0.9, "precision": 0.8, "recall": 0.7}
    key = f"trainguard/runs/{model}/evaluation.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"binary_classification_metrics": {
        k: {"value": v, "standard_deviation": 0.0} for k, v in metrics.items()}}).encode())
    resp = sm.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/trainguard/runs/{model}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"]},
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                      "S3Uri": f"s3://{BUCKET}/{key}"}}})
    return str(resp["ModelPackageArn"])


def counting_session() -> tuple[Any, Counter[str]]:
    """A boto3 session whose clients count every API call they make."""
    calls: Counter[str] = Counter()
    session = boto3.Session(region_name=REGION)

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    session.events.register("before-call", count)
    return session, calls


def lambda_roles() -> None:
    """The starter function's execution role and the role EventBridge invokes it with (moto)."""
    iam = client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                "Principal": {"Service": "lambda.amazonaws.com"}}]})
    for role in ("tg-starter", "tg-invoke"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
