"""``trainguard budgets``: budget, alert topic, anomaly detection and under-use alarms.

SNS, Budgets, CloudWatch and STS run against a real moto server over HTTP. moto does not implement
Cost Explorer's anomaly monitors, anomaly subscriptions or cost-allocation tag calls, so the ce
client is a real botocore client under ``botocore.stub.Stubber``: every request is checked
against botocore's service model for ce, and the answers are the documented response shapes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto_server import MotoServer
from trainguard.pipelines.cli import budgets as budgets_cmd
from trainguard.pipelines.ops import budgets as b
from trainguard.training.config import load_config
from trainguard.training.errors import ConfigError

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MONITOR_ARN = f"arn:aws:ce::{ACCOUNT}:anomalymonitor/11111111-2222-3333-4444-555555555555"
SUB_ARN = f"arn:aws:ce::{ACCOUNT}:anomalysubscription/66666666-7777-8888-9999-000000000000"
SETTINGS = {"aws.region": REGION, "aws.pipeline_name": "tg-cost", "security.kms_key_id": KMS,
            "cost.budget_usd": 250, "cost.alert_emails": ["finops@example.com"],
            "cost.endpoints": ["churn-prod"], "cost.anomaly_threshold_usd": 40}


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    moto.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    return moto


@pytest.fixture
def plan() -> b.FinOpsPlan:
    return b.plan_finops(load_config(None, SETTINGS))


class StubbedCe:
    """A real ce client whose requests are validated against the service model by Stubber."""

    def __init__(self) -> None:
        self.client = boto3.Session(region_name="us-east-1").client("ce")
        self.stub = Stubber(self.client)

    def tags(self, status: str) -> None:
        self.stub.add_response("list_cost_allocation_tags", {"CostAllocationTags": [
            {"TagKey": k, "Type": "UserDefined", "Status": status} for k in b.COST_TAG_KEYS]},
            {"TagKeys": list(b.COST_TAG_KEYS), "Type": "UserDefined"})

    def monitors(self, *monitors: dict[str, Any]) -> None:
        self.stub.add_response("get_anomaly_monitors", {"AnomalyMonitors": list(monitors)}, {})

    def subscriptions(self, *subs: dict[str, Any]) -> None:
        self.stub.add_response("get_anomaly_subscriptions", {"AnomalySubscriptions": list(subs)}, {})


def clients(moto: MotoServer, ce: StubbedCe) -> b.Clients:
    session = boto3.Session(region_name=REGION)
    real = b.make_clients(load_config(None, SETTINGS), session, moto.url)
    return b.Clients(sts=real.sts, sns=real.sns, budgets=real.budgets, cloudwatch=real.cloudwatch,
                     ce=ce.client)


def deployed_monitor(plan: b.FinOpsPlan) -> dict[str, Any]:
    return {**b.monitor_spec(plan), "MonitorArn": MONITOR_ARN}


def deployed_subscription(plan: b.FinOpsPlan, topic: str) -> dict[str, Any]:
    return {**b.subscription_spec(plan, MONITOR_ARN, topic), "SubscriptionArn": SUB_ARN,
            "AccountId": ACCOUNT}


def test_deploy_creates_everything_then_a_rerun_changes_nothing(aws: MotoServer, plan: b.FinOpsPlan) -> None:
    ce = StubbedCe()
    topic = b.topic_arn(plan, ACCOUNT)
    ce.monitors()
    ce.stub.add_response("create_anomaly_monitor", {"MonitorArn": MONITOR_ARN},
                         {"AnomalyMonitor": b.monitor_spec(plan), "ResourceTags": ANY})
    ce.subscriptions()
    ce.stub.add_response("create_anomaly_subscription", {"SubscriptionArn": SUB_ARN},
                         {"AnomalySubscription": b.subscription_spec(plan, MONITOR_ARN, topic),
                          "ResourceTags": ANY})
    ce.tags("Inactive")
    printed: list[str] = []
    with ce.stub:
        done = b.upsert_finops(plan, clients(aws, ce), out=printed.append)
    ce.stub.assert_no_pending_responses()
    assert any("budget tg-cost-cost created (250.00 USD" in d for d in done)
    assert any("not active" in p and "--activate-tags" in p for p in printed)

    c = clients(aws, StubbedCe())
    attrs = c.sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attrs["KmsMasterKeyId"] == KMS
    policy = json.loads(attrs["Policy"])
    publishers = {s["Principal"].get("Service"): s for s in policy["Statement"]}
    assert publishers["budgets.amazonaws.com"]["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    assert "costalerts.amazonaws.com" in publishers
    subs = c.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "finops@example.com")]
    budget = c.budgets.describe_budget(AccountId=ACCOUNT, BudgetName="tg-cost-cost")["Budget"]
    assert budget["CostFilters"] == {"TagKeyValue": ["user:trainguard-pipeline$tg-cost"]}
    assert budget["BudgetLimit"] == {"Amount": "250.00", "Unit": "USD"}
    notes = c.budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName="tg-cost-cost")
    assert sorted((n["NotificationType"], n["Threshold"]) for n in notes["Notifications"]) == \
        [("ACTUAL", 100.0), ("FORECASTED", 80.0)]
    alarms = {a["AlarmName"]: a for a in c.cloudwatch.describe_alarms()["MetricAlarms"]}
    idle = alarms["tg-cost-churn-prod-idle"]
    assert (idle["MetricName"], idle["Period"], idle["Threshold"], idle["TreatMissingData"]) == \
        ("Invocations", 86400, 10.0, "breaching")
    assert idle["AlarmActions"] == [topic]
    low = alarms["tg-cost-churn-prod-low-cpu"]
    assert (low["Namespace"], low["MetricName"], low["Period"] * low["EvaluationPeriods"]) == \
        ("/aws/sagemaker/Endpoints", "CPUUtilization", 86400)

    again = StubbedCe()
    again.monitors(deployed_monitor(plan))
    again.subscriptions(deployed_subscription(plan, topic))
    again.tags("Active")
    with again.stub:
        assert b.upsert_finops(plan, clients(aws, again), out=printed.append) == []
    again.stub.assert_no_pending_responses()


def test_diff_lists_what_deploy_would_do_and_nothing_once_deployed(aws: MotoServer, plan: b.FinOpsPlan) -> None:
    ce = StubbedCe()
    ce.monitors()
    ce.subscriptions()
    ce.tags("Inactive")
    with ce.stub:
        changes = b.diff_finops(plan, clients(aws, ce))
    assert changes[:2] == ["topic tg-cost-cost-alerts: to create",
                           "budget tg-cost-cost: to create (250.00 USD a month)"]
    assert "cost-allocation tag(s) trainguard-pipeline" in changes[-1]
    assert not clients(aws, StubbedCe()).sns.list_topics()["Topics"]  # diff made nothing

    _deploy_quietly(aws, plan)
    topic = b.topic_arn(plan, ACCOUNT)
    ce = StubbedCe()
    ce.monitors(deployed_monitor(plan))
    ce.subscriptions(deployed_subscription(plan, topic))
    ce.tags("Active")
    with ce.stub:
        assert b.diff_finops(plan, clients(aws, ce)) == []


def _deploy_quietly(aws: MotoServer, plan: b.FinOpsPlan) -> None:
    ce = StubbedCe()
    ce.monitors()
    ce.stub.add_response("create_anomaly_monitor", {"MonitorArn": MONITOR_ARN}, None)
    ce.subscriptions()
    ce.stub.add_response("create_anomaly_subscription", {"SubscriptionArn": SUB_ARN}, None)
    ce.tags("Active")
    with ce.stub:
        b.upsert_finops(plan, clients(aws, ce), out=lambda _: None)


def test_a_changed_threshold_updates_the_subscription_and_alarms(aws: MotoServer, plan: b.FinOpsPlan) -> None:
    _deploy_quietly(aws, plan)
    topic = b.topic_arn(plan, ACCOUNT)
    changed = b.plan_finops(load_config(None, {**SETTINGS, "cost.anomaly_threshold_usd": 100,
                                               "cost.low_cpu_percent": 5}))
    ce = StubbedCe()
    ce.monitors(deployed_monitor(plan))
    ce.subscriptions(deployed_subscription(plan, topic))
    want = b.subscription_spec(changed, MONITOR_ARN, topic)
    ce.stub.add_response("update_anomaly_subscription", {"SubscriptionArn": SUB_ARN}, {
        "SubscriptionArn": SUB_ARN, "Frequency": "IMMEDIATE", "MonitorArnList": [MONITOR_ARN],
        "Subscribers": want["Subscribers"], "ThresholdExpression": want["ThresholdExpression"]})
    ce.tags("Active")
    with ce.stub:
        done = b.upsert_finops(changed, clients(aws, ce), out=lambda _: None)
    ce.stub.assert_no_pending_responses()
    assert done == ["anomaly subscription tg-cost-cost-anomaly-alerts updated",
                    "alarm tg-cost-churn-prod-low-cpu updated"]
    alarm = clients(aws, StubbedCe()).cloudwatch.describe_alarms(
        AlarmNames=["tg-cost-churn-prod-low-cpu"])["MetricAlarms"][0]
    assert alarm["Threshold"] == 5.0


def test_activate_tags_turns_on_the_inactive_ones(aws: MotoServer, plan: b.FinOpsPlan) -> None:
    _deploy_quietly(aws, plan)
    ce = StubbedCe()
    ce.monitors(deployed_monitor(plan))
    ce.subscriptions(deployed_subscription(plan, b.topic_arn(plan, ACCOUNT)))
    ce.stub.add_response("list_cost_allocation_tags", {"CostAllocationTags": [
        {"TagKey": "trainguard-pipeline", "Type": "UserDefined", "Status": "Active"}]}, None)
    ce.stub.add_response("update_cost_allocation_tags_status", {"Errors": []}, {
        "CostAllocationTagsStatus": [{"TagKey": "trainguard-model-group", "Status": "Active"},
                                     {"TagKey": "trainguard-trigger", "Status": "Active"}]})
    with ce.stub:
        done = b.upsert_finops(plan, clients(aws, ce), activate_tags=True, out=lambda _: None)
    ce.stub.assert_no_pending_responses()
    assert done == ["cost-allocation tags activated: trainguard-model-group, trainguard-trigger"]


def test_an_amount_change_goes_through_update_budget(aws: MotoServer, plan: b.FinOpsPlan) -> None:
    """moto has no UpdateBudget: the budgets client is stubbed for it, validated by the model."""
    _deploy_quietly(aws, plan)
    changed = b.plan_finops(load_config(None, {**SETTINGS, "cost.budget_usd": 300}))
    c = clients(aws, StubbedCe())
    current = c.budgets.describe_budget(AccountId=ACCOUNT, BudgetName="tg-cost-cost")["Budget"]
    budgets = boto3.Session(region_name="us-east-1").client("budgets")
    stub = Stubber(budgets)
    stub.add_response("describe_budget", {"Budget": current}, {"AccountId": ACCOUNT, "BudgetName": "tg-cost-cost"})
    stub.add_response("update_budget", {}, {"AccountId": ACCOUNT, "NewBudget": b.budget_spec(changed)})
    stub.add_response("describe_notifications_for_budget", {"Notifications": b.notification_specs()}, None)
    ce = StubbedCe()
    ce.monitors(deployed_monitor(plan))
    ce.subscriptions(deployed_subscription(plan, b.topic_arn(plan, ACCOUNT)))
    ce.tags("Active")
    with stub, ce.stub:
        done = b.upsert_finops(changed, b.Clients(c.sts, c.sns, budgets, c.cloudwatch, ce.client),
                               out=lambda _: None)
    stub.assert_no_pending_responses()
    assert done == ["budget tg-cost-cost updated"]


def test_teardown_deletes_only_what_is_tagged_or_filtered_for_this_pipeline(
        aws: MotoServer, plan: b.FinOpsPlan) -> None:
    _deploy_quietly(aws, plan)
    c = clients(aws, StubbedCe())
    topic = b.topic_arn(plan, ACCOUNT)
    # an alarm under our name that does not carry our tag (someone else's) keeps living
    idle = c.cloudwatch.describe_alarms(AlarmNames=["tg-cost-churn-prod-idle"])["MetricAlarms"][0]
    c.cloudwatch.untag_resource(ResourceARN=idle["AlarmArn"], TagKeys=["trainguard-pipeline"])
    ce = StubbedCe()
    ce.monitors(deployed_monitor(plan))
    ce.subscriptions(deployed_subscription(plan, topic))
    ce.stub.add_response("delete_anomaly_subscription", {}, {"SubscriptionArn": SUB_ARN})
    ce.stub.add_response("delete_anomaly_monitor", {}, {"MonitorArn": MONITOR_ARN})
    kept: list[str] = []
    with ce.stub:
        done = b.teardown_finops(plan, clients(aws, ce), out=kept.append)
    ce.stub.assert_no_pending_responses()
    assert "alarm tg-cost-churn-prod-low-cpu deleted" in done
    assert "budget tg-cost-cost deleted" in done and "topic tg-cost-cost-alerts deleted" in done
    assert "alarm tg-cost-churn-prod-idle kept: it does not carry trainguard-pipeline=tg-cost" in kept
    assert "alarm tg-cost-churn-prod-idle deleted" not in done
    assert [a["AlarmName"] for a in c.cloudwatch.describe_alarms()["MetricAlarms"]] == ["tg-cost-churn-prod-idle"]
    assert not c.budgets.describe_budgets(AccountId=ACCOUNT).get("Budgets")
    assert not c.sns.list_topics()["Topics"]


@pytest.mark.parametrize(("override", "key"), [
    ({"cost.budget_usd": None}, "cost.budget_usd is not set"),
    ({"cost.budget_usd": -10}, "cost.budget_usd must be a positive amount"),
    ({"cost.currency": "XXX"}, "cost.currency must be an ISO 4217 code"),
    ({"security.kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"},
     "security.kms_key_id must name your KMS key"),
    ({"cost.alert_emails": ["not-an-address"]}, "cost.alert_emails"),
    ({"cost.endpoints": ["bad name!"]}, "cost.endpoints"),
])
def test_bad_input_is_refused_before_any_call(override: dict[str, Any], key: str) -> None:
    args = argparse.Namespace(action="deploy", config=None, profile=None, endpoint_url=None,
                              activate_tags=False, region=None,
                              overrides=[f"{k}={_text(v)}" for k, v in {**SETTINGS, **override}.items()])

    class NoCalls:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"AWS was called ({name}) before the input was checked")

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        budgets_cmd.run(args, clients=NoCalls())  # type: ignore[arg-type]


def _text(value: Any) -> str:
    """A value as typed after --set KEY=."""
    return "null" if value is None else value if isinstance(value, str) else json.dumps(value)


def test_gpu_endpoints_get_a_low_gpu_alarm_only_where_gpus_are_allowed(plan: b.FinOpsPlan) -> None:
    names = [a["AlarmName"] for a in b.alarm_specs(plan, "arn:aws:sns:eu-west-1:1:t")]
    assert names == ["tg-cost-churn-prod-idle", "tg-cost-churn-prod-low-cpu"]
    gpu = b.plan_finops(load_config(None, {**SETTINGS, "cost.allow_gpu": True, "cost.low_gpu_percent": 20}))
    alarm = b.alarm_specs(gpu, "arn:aws:sns:eu-west-1:1:t")[-1]
    assert (alarm["AlarmName"], alarm["MetricName"], alarm["Threshold"]) == \
        ("tg-cost-churn-prod-low-gpu", "GPUUtilization", 20.0)


def test_cpu_thresholds_scale_with_the_watched_instances_vcpus(aws: MotoServer, plan: b.FinOpsPlan) -> None:
    """CloudWatch sums CPUUtilization over an instance's vCPUs (0-400% on 4 vCPUs), so an existing
    endpoint's low-CPU threshold is low_cpu_percent times its vCPUs (moto: sagemaker and ec2)."""
    real = b.make_clients(load_config(None, SETTINGS), boto3.Session(region_name=REGION), aws.url)
    topic = "arn:aws:sns:eu-west-1:1:t"
    assert b.endpoint_capacity(plan, real) == {}  # no endpoint yet: the threshold stays as set
    sm = real.sagemaker
    sm.create_model(ModelName="m", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
                    PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/x:1"})
    sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="churn-prod", EndpointConfigName="c")
    capacity = b.endpoint_capacity(plan, real)
    assert capacity == {("churn-prod", "AllTraffic"): (4, 1)}  # m5.xlarge: 4 vCPUs, no GPU
    cpu = next(a for a in b.alarm_specs(plan, topic, capacity) if a["AlarmName"].endswith("-low-cpu"))
    assert cpu["Threshold"] == 4 * plan.low_cpu_percent and "x 4 vCPUs" in cpu["AlarmDescription"]
    assert next(a for a in b.alarm_specs(plan, topic) if a["AlarmName"].endswith("-low-cpu"))["Threshold"] \
        == plan.low_cpu_percent


def test_the_plan_is_within_the_services_limits(plan: b.FinOpsPlan) -> None:
    """Budgets takes at most 5 notifications per budget at creation and one SNS subscriber each."""
    assert len(b.notification_specs()) <= 5
    spec = b.subscription_spec(plan, MONITOR_ARN, "arn:aws:sns:eu-west-1:1:t")
    assert spec["Frequency"] == "IMMEDIATE" and spec["Subscribers"][0]["Type"] == "SNS"
    assert spec["ThresholdExpression"]["Dimensions"]["MatchOptions"] == ["GREATER_THAN_OR_EQUAL"]
