"""The SageMaker champion lookup never turns a failed call into "no champion".

A missing group (no model registered yet) means no champion; any other failure stops the start
with one message. moto answers a missing group with an empty list, so the failing calls are
stubbed with botocore's Stubber, which checks each request and response against the SageMaker
service model.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from trainguard.pipelines.ci.upsert import champion_bar_from_registry
from trainguard.training.config import load_config
from trainguard.training.errors import TrainguardError

GROUP = "trainguard-models"
LIST = {"ModelPackageGroupName": GROUP, "ModelApprovalStatus": "Approved", "SortBy": "CreationTime",
        "SortOrder": "Descending", "MaxResults": 1}


def _clients() -> tuple[object, object, Stubber]:
    sm = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x",
                      aws_secret_access_key="y")
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    return s3, sm, Stubber(sm)


def test_a_group_that_does_not_exist_yet_means_no_champion() -> None:
    s3, sm, stub = _clients()
    stub.add_client_error("list_model_packages", "ValidationException",
                          f"ModelPackageGroup {GROUP} does not exist.", expected_params=LIST)
    stub.add_client_error("describe_model_package_group", "ValidationException",
                          f"ModelPackageGroup arn:aws:sagemaker:eu-west-1:1:model-package-group/{GROUP} "
                          "does not exist.", expected_params={"ModelPackageGroupName": GROUP})
    with stub:
        assert champion_bar_from_registry(s3, sm, load_config()) == (0.0, None)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(("code", "message"), [
    ("ValidationException", "1 validation error detected: Value at 'sortBy' failed to satisfy constraint"),
    ("AccessDeniedException", "not authorized to perform: sagemaker:ListModelPackages"),
    ("InternalFailure", "internal error"),
])
def test_a_failed_listing_stops_the_start(code: str, message: str) -> None:
    s3, sm, stub = _clients()
    stub.add_client_error("list_model_packages", code, message, expected_params=LIST)
    if code == "ValidationException":  # the group exists: the ValidationException was real
        stub.add_response("describe_model_package_group", {
            "ModelPackageGroupName": GROUP,
            "ModelPackageGroupArn": f"arn:aws:sagemaker:eu-west-1:111122223333:model-package-group/{GROUP}",
            "CreationTime": "2026-01-01T00:00:00Z", "CreatedBy": {},
            "ModelPackageGroupStatus": "Completed"}, {"ModelPackageGroupName": GROUP})
    with stub, pytest.raises(TrainguardError, match=rf"sagemaker:ListModelPackages.*{code}|access denied"):
        champion_bar_from_registry(s3, sm, load_config())


def test_a_failure_telling_the_group_apart_stops_the_start() -> None:
    s3, sm, stub = _clients()
    stub.add_client_error("list_model_packages", "ValidationException", "group does not exist",
                          expected_params=LIST)
    stub.add_client_error("describe_model_package_group", "ThrottlingException", "Rate exceeded",
                          expected_params={"ModelPackageGroupName": GROUP})
    with stub, pytest.raises(TrainguardError, match=r"sagemaker:DescribeModelPackageGroup.*throttled"):
        champion_bar_from_registry(s3, sm, load_config())
