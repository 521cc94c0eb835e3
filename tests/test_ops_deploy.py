"""trainguard deploy against a real moto server over HTTP: create, no-op, refusals, partial failure, removal."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.stub import Stubber
from ops_fixtures import ACCOUNT, KMS_KEY, REGION, ROLE, add_package, client, config_file, counting_session
from test_deploy import aws  # noqa: F401 - fixture: a fresh account on the moto server, one attempt
from trainguard.pipelines.ci.aws import DeployError
from trainguard.pipelines.cli import main
from trainguard.pipelines.ops.deploy import deploy, plan_deploy
from trainguard.training.config import load_config

EP = "tg-endpoint"
pytestmark = pytest.mark.usefixtures("aws")


def _deploy(path: Path, *extra: str) -> int:
    return main(["deploy", "--config", str(path), "--role-arn", ROLE, *extra])


def test_deploy_creates_a_secure_endpoint_and_a_rerun_changes_nothing(tmp_path, capsys) -> None:
    arn = add_package("Approved")
    add_package("PendingManualApproval", model="model-2")  # newer, but not Approved
    path = config_file(tmp_path, deploy={"capture_percent": 25})
    assert _deploy(path) == 0
    assert capsys.readouterr().out.strip() == EP
    sm = client("sagemaker")
    ep = sm.describe_endpoint(EndpointName=EP)
    conf = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    assert conf["KmsKeyId"] == KMS_KEY
    capture = conf["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 25 and capture["KmsKeyId"] == KMS_KEY
    assert capture["DestinationS3Uri"] == f"s3://sagemaker-{REGION}-{ACCOUNT}/trainguard/capture"
    assert [o["CaptureMode"] for o in capture["CaptureOptions"]] == ["Input", "Output"]
    assert capture["CaptureContentTypeHeader"] == {"CsvContentTypes": ["text/csv"]}
    model = sm.describe_model(ModelName=conf["ProductionVariants"][0]["ModelName"])
    assert model["VpcConfig"]["Subnets"] == ["subnet-0abc1234def567890"]
    assert model["PrimaryContainer"]["Image"].endswith("sagemaker-xgboost:3.0-5")
    assert "model-1" in model["PrimaryContainer"]["ModelDataUrl"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=ep["EndpointArn"])["Tags"]}
    assert tags["trainguard:managed-by"] == EP
    # moto does not echo EnableNetworkIsolation back; the request that carries it:
    plan = plan_deploy(load_config(path), sm.describe_model_package(ModelPackageName=arn), ROLE, "b")
    assert plan.model_request["EnableNetworkIsolation"] is True
    alarms = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms()["MetricAlarms"]}
    latency = alarms[f"{EP}-model-latency-p99"]
    assert (latency["Namespace"], latency["MetricName"], latency["ExtendedStatistic"]) == (
        "AWS/SageMaker", "ModelLatency", "p99")
    assert latency["Threshold"] == 500_000.0  # 500 ms in microseconds
    assert {d["Name"] for d in latency["Dimensions"]} == {"EndpointName", "VariantName"}
    assert alarms[f"{EP}-invocation-5xx"]["MetricName"] == "Invocation5XXErrors"
    topic = latency["AlarmActions"][0]
    attrs = client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attrs["KmsMasterKeyId"] == KMS_KEY
    assert "budgets.amazonaws.com" in attrs["Policy"] and "cloudwatch.amazonaws.com" in attrs["Policy"]

    session, calls = counting_session()
    result = deploy(load_config(path), ROLE, session=session, out=lambda _l: None)
    assert result.action == "unchanged" and result.created == []
    writes = {k: v for k, v in calls.items() if k.startswith(("Create", "Update", "Put", "Set", "Delete"))}
    assert writes == {}


def test_a_package_that_is_not_approved_is_refused_before_any_change(tmp_path, capsys) -> None:
    pending = add_package("PendingManualApproval")
    path = config_file(tmp_path)
    assert _deploy(path, "--package", pending) == 2
    err = capsys.readouterr().err
    assert "PendingManualApproval, not Approved" in err and "Traceback" not in err
    assert client("sagemaker").list_endpoints()["Endpoints"] == []
    assert client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert _deploy(path) == 2  # latest-approved: the group has none
    assert "has no Approved package" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "sections", "message"), [
    (["--package", f"arn:aws:sagemaker:us-west-2:{ACCOUNT}:model-package/tg-models/1"], {},
     "is in us-west-2 but aws.region is eu-west-1"),
    (["--package", "model-1"], {}, "is neither 'latest-approved' nor a model package ARN"),
    ([], {"alarms": {"topic_arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:ops"}},
     "alarms.topic_arn arn:aws:sns:us-east-1:123456789012:ops is in us-east-1"),
    ([], {"deploy": {"instance_type": "ml.m5d.large"}}, "deploy.instance_type ml.m5d.large has local"),
])
def test_bad_input_is_refused_before_any_call(tmp_path, capsys, monkeypatch, extra, sections,
                                              message) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any call would fail to connect
    assert _deploy(config_file(tmp_path, **sections), *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "cannot reach" not in err


def test_a_failed_update_leaves_the_old_endpoint_serving_and_says_what_to_rerun(tmp_path, capsys) -> None:
    """moto has no UpdateEndpoint (it answers 500): the real failure mode of a refused update."""
    add_package("Approved")
    path = config_file(tmp_path)
    assert _deploy(path) == 0
    sm = client("sagemaker")
    old = sm.describe_endpoint(EndpointName=EP)["EndpointConfigName"]
    add_package("Approved", model="model-2")
    capsys.readouterr()
    assert _deploy(path, "--diff") == 1
    assert f"config {old} →" in capsys.readouterr().out
    assert _deploy(path) == 2
    err = capsys.readouterr().err
    assert f"still serves {old}; nothing was switched" in err and "rerun the same trainguard deploy" in err
    assert sm.describe_endpoint(EndpointName=EP)["EndpointConfigName"] == old
    session, calls = counting_session()
    with pytest.raises(DeployError):
        deploy(load_config(path), ROLE, session=session, out=lambda _l: None)
    assert calls["CreateModel"] == 0 and calls["CreateEndpointConfig"] == 0  # reused
    assert calls["UpdateEndpoint"] == 1


def test_update_request_is_valid_for_the_service_model(tmp_path) -> None:
    """moto lacks UpdateEndpoint with DeploymentConfig, so the request is checked against
    botocore's service model (Stubber validates parameters against it)."""
    arn = add_package("Approved")
    cfg = load_config(config_file(tmp_path, deploy={"traffic": "linear", "step_percent": 30}))
    plan = plan_deploy(cfg, client("sagemaker").describe_model_package(ModelPackageName=arn), ROLE, "b")
    policy = plan.deployment_config["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["LinearStepSize"] == {"Type": "CAPACITY_PERCENT", "Value": 30}
    assert 600 <= policy["MaximumExecutionTimeoutInSeconds"] <= 28800
    assert plan.deployment_config["AutoRollbackConfiguration"]["Alarms"] == [
        {"AlarmName": f"{EP}-model-latency-p99"}, {"AlarmName": f"{EP}-invocation-5xx"}]
    sm = client("sagemaker")
    request = {"EndpointName": EP, "EndpointConfigName": plan.config_name,
               "DeploymentConfig": plan.deployment_config}
    with Stubber(sm) as stub:
        stub.add_response("update_endpoint", {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{EP}"},
                          request)
        sm.update_endpoint(**request)
        stub.assert_no_pending_responses()


def test_remove_deletes_only_what_deploy_created(tmp_path, capsys) -> None:
    add_package("Approved")
    path = config_file(tmp_path)
    assert _deploy(path) == 0
    sm = client("sagemaker")
    sm.create_model(ModelName=f"{EP}-m-someone-elses", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": "x"})
    assert _deploy(path, "--remove") == 0
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [f"{EP}-m-someone-elses"]
    assert client("cloudwatch").describe_alarms()["MetricAlarms"] == []


def test_deploy_diff_shows_alarm_changes_field_by_field_and_a_no_op_shows_nothing(tmp_path, capsys) -> None:
    add_package("Approved")
    path = config_file(tmp_path)
    assert _deploy(path, "--diff") == 1
    out = capsys.readouterr().out
    assert f"+ alarm {EP}-model-latency-p99 (AWS/SageMaker ModelLatency GreaterThan 500000)" in out
    assert f"+ topic arn:aws:sns:{REGION}:{ACCOUNT}:trainguard-alarms (KMS-encrypted)" in out
    assert _deploy(path) == 0
    capsys.readouterr()
    assert _deploy(path, "--diff") == 0
    out = capsys.readouterr().out
    assert "nothing to change" in out
    assert f"unchanged: alarm {EP}-model-latency-p99, alarm {EP}-invocation-5xx" in out
    faster = config_file(tmp_path, alarms={"latency_p99_ms": 300, "evaluation_periods": 2})
    assert _deploy(faster, "--diff") == 1
    out = capsys.readouterr().out
    assert f"alarm {EP}-model-latency-p99: EvaluationPeriods 3 → 2, DatapointsToAlarm 3 → 2, " \
           "Threshold 500000 → 300000, AlarmDescription" in out
    assert f"alarm {EP}-invocation-5xx: EvaluationPeriods 3 → 2, DatapointsToAlarm 3 → 2" in out
    assert not [line for line in out.splitlines() if line.startswith(("endpoint ", "+ endpoint "))]
    client("cloudwatch").delete_alarms(AlarmNames=[f"{EP}-invocation-5xx"])
    assert _deploy(path, "--diff") == 1
    assert f"+ alarm {EP}-invocation-5xx" in capsys.readouterr().out
