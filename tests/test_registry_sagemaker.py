"""The SageMaker registry sibling: champion rule and error handling, against botocore's service model.

The requests go through botocore's Stubber, which validates each one against the SageMaker
service model: a failed call must surface as an error, never as "no champion" (moto answers a
missing group with ValidationException, which the old code read as absence).
"""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore.stub import Stubber
from trainguard.pipelines.ci.aws import DeployError
from trainguard.pipelines.registry import champion_bar_of
from trainguard.pipelines.registry.sagemaker import SageMakerRegistry
from trainguard.training.config import load_config

GROUP = "fraud"
ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/fraud/{}"


@pytest.fixture()
def clients():
    sm = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x",
                      aws_secret_access_key="y")
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x",
                      aws_secret_access_key="y")
    with Stubber(sm) as sm_stub, Stubber(s3) as s3_stub:
        yield sm, s3, sm_stub, s3_stub
        sm_stub.assert_no_pending_responses()


def _group_listed(stub: Stubber, present: bool = True) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    groups = [{"ModelPackageGroupName": GROUP, "ModelPackageGroupArn": ARN.format("")[:-1],
               "CreationTime": now, "ModelPackageGroupStatus": "Completed"}] if present else []
    stub.add_response("list_model_package_groups", {"ModelPackageGroupSummaryList": groups},
                      {"NameContains": GROUP, "MaxResults": 100})


def _describe(version: int, modified: dt.datetime, auc: float) -> dict:
    return {"ModelPackageName": "fraud", "ModelPackageArn": ARN.format(version),
            "ModelPackageGroupName": GROUP, "ModelPackageVersion": version,
            "CreationTime": dt.datetime(2026, 1, version, tzinfo=dt.UTC), "LastModifiedTime": modified,
            "ModelPackageStatus": "Completed", "ModelApprovalStatus": "Approved",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CustomerMetadataProperties": {"test:auc": str(auc)}}


def test_a_group_that_does_not_exist_has_no_champion(clients) -> None:
    sm, s3, stub, _ = clients
    _group_listed(stub, present=False)
    assert SageMakerRegistry(sm, s3).champion(GROUP) is None


@pytest.mark.parametrize(("code", "message"), [
    ("ValidationException", "1 validation error detected"),
    ("AccessDeniedException", "not authorized to perform: sagemaker:ListModelPackages"),
    ("InternalFailure", "internal error"),
])
def test_a_failed_listing_is_an_error_not_no_champion(clients, code: str, message: str) -> None:
    sm, s3, stub, _ = clients
    _group_listed(stub)
    stub.add_client_error("list_model_packages", code, message,
                          expected_params={"ModelPackageGroupName": GROUP, "MaxResults": 100,
                                           "ModelApprovalStatus": "Approved"})
    cfg = load_config(None, {"registry.model_package_group": GROUP})
    with pytest.raises(DeployError, match="ListModelPackages"):
        champion_bar_of(SageMakerRegistry(sm, s3), cfg)


def test_a_failure_telling_the_group_apart_is_an_error(clients) -> None:
    sm, s3, stub, _ = clients
    stub.add_client_error("list_model_package_groups", "ThrottlingException", "Rate exceeded",
                          expected_params={"NameContains": GROUP, "MaxResults": 100})
    cfg = load_config(None, {"registry.model_package_group": GROUP})
    with pytest.raises(DeployError, match="ListModelPackageGroups"):
        champion_bar_of(SageMakerRegistry(sm, s3), cfg)


def test_the_champion_is_the_most_recently_approved_package(clients) -> None:
    sm, s3, stub, _ = clients
    _group_listed(stub)
    summaries = [{"ModelPackageArn": ARN.format(v), "ModelPackageGroupName": GROUP,
                  "ModelPackageVersion": v, "CreationTime": dt.datetime(2026, 1, v, tzinfo=dt.UTC),
                  "ModelPackageStatus": "Completed", "ModelApprovalStatus": "Approved"} for v in (2, 1)]
    stub.add_response("list_model_packages", {"ModelPackageSummaryList": summaries},
                      {"ModelPackageGroupName": GROUP, "MaxResults": 100, "ModelApprovalStatus": "Approved"})
    # version 1 was approved after version 2: it is the champion
    stub.add_response("describe_model_package",
                      _describe(2, dt.datetime(2026, 2, 1, tzinfo=dt.UTC), 0.93), {"ModelPackageName": ARN.format(2)})
    stub.add_response("describe_model_package",
                      _describe(1, dt.datetime(2026, 3, 1, tzinfo=dt.UTC), 0.91), {"ModelPackageName": ARN.format(1)})
    cfg = load_config(None, {"registry.model_package_group": GROUP, "approval.champion_margin": 0.01})
    found = champion_bar_of(SageMakerRegistry(sm, s3), cfg)
    assert found.champion.version == 1 and found.value == pytest.approx(0.92)
