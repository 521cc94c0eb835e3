"""trainguard ops: alarms and retraining triggers on a real moto server, the starter, publish and explain."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ops_fixtures import (
    ACCOUNT,
    BUCKET,
    GROUP,
    IMAGE,
    KMS_KEY,
    REGION,
    ROLE,
    add_package,
    client,
    config_file,
    counting_session,
    lambda_roles,
)
from test_deploy import aws  # noqa: F401 - fixture: a fresh account on the moto server, one attempt
from trainguard.pipelines.ci.aws import DeployError
from trainguard.pipelines.cli import main
from trainguard.pipelines.ops.operate import ops_upsert
from trainguard.pipelines.ops.starter import CONFIG_ENV, handler, reason_of, request_token, starter_config
from trainguard.pipelines.ops.triggers import check_schedule, package_starter
from trainguard.pipelines.registry.base import champion_bar_of
from trainguard.pipelines.registry.sagemaker import SageMakerRegistry
from trainguard.training.config import load_config

STARTER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/tg-starter"
INVOKE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/tg-invoke"


def _check_dir(tmp_path: Path, drifted: list[str], auc: float | None = None) -> Path:
    """A check output in the documented format: constraint_violations.json and drift_report.json."""
    folder = tmp_path / "check"
    folder.mkdir(exist_ok=True)
    violations = [{"feature_name": f, "constraint_check_type": "baseline_drift_check",
                   "description": f"{f} drifted"} for f in drifted]
    violations.append({"feature_name": "x9", "constraint_check_type": "completeness_check",
                       "description": "x9 has missing values"})
    (folder / "constraint_violations.json").write_text(json.dumps({"violations": violations}))
    report: dict[str, Any] = {"features": [{"name": f, "distance": 0.3 if f in drifted else 0.01,
                                            "drifted": f in drifted} for f in ("x1", "x2", "x3")]}
    if auc is not None:
        report["model_quality"] = [{"metric": "auc", "value": auc, "threshold": 0.8, "baseline": 0.9,
                                    "violated": auc < 0.8}]
    (folder / "drift_report.json").write_text(json.dumps(report))
    return folder


def _baseline(tmp_path: Path, auc: float = 0.9) -> Path:
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps({"binary_classification_metrics": {
        "auc": {"value": auc}, "precision": {"value": 0.8}, "recall": {"value": 0.7}}}))
    return path


# --------------------------------------------------------------------------------------------
# offline


def test_explain_names_the_alarms_a_check_fires_and_the_start(tmp_path, capsys) -> None:
    cfg = config_file(tmp_path)
    check = _check_dir(tmp_path, ["x1", "x2"], auc=0.8)
    argv = ["ops", "explain", "--config", str(cfg), "--check", str(check), "--baseline", str(_baseline(tmp_path))]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert f"FIRES  {GROUP}-auc-low: 0.8 LessThan 0.85" in out  # baseline 0.9 - auc_drop 0.05
    assert f"FIRES  {GROUP}-drifted-features: 2 GreaterThan 0" in out
    assert f"quiet  {GROUP}-precision-low: no data" in out
    assert f"would start pipeline tg-test via tg-test-retrain: TriggerReason=alarm:{GROUP}-auc-low" in out
    assert "ChampionBar=from the registry at start" in out

    clean = _check_dir(tmp_path / "c", [], auc=0.88) if (tmp_path / "c").mkdir() is None else None
    assert main(["ops", "explain", "--config", str(cfg), "--check", str(clean), "--baseline",
                 str(_baseline(tmp_path)), "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["firing"] == [] and view["start"] is None
    assert {m["MetricName"] for m in view["metrics"]} == {"drifted_features", "feature_drift", "auc"}
    features = [m for m in view["metrics"] if m["MetricName"] == "feature_drift"]
    assert {"Name": "Feature", "Value": "x1"} in features[0]["Dimensions"]


def test_a_threshold_outside_its_metrics_range_is_refused_with_the_key(tmp_path, capsys) -> None:
    cfg = config_file(tmp_path)
    check = _check_dir(tmp_path, [])
    assert main(["ops", "explain", "--config", str(cfg), "--check", str(check),
                 "--baseline", str(_baseline(tmp_path, auc=0.03))]) == 2
    err = capsys.readouterr().err
    assert "alarms.auc_drop 0.05 with the package's baseline auc 0.0300 gives the threshold -0.0200" in err
    assert main(["ops", "explain", "--config", str(cfg), "--check", str(check), "--set",
                 "alarms.min_recall=1.2"]) == 2
    assert "alarms.min_recall must be in [0, 1]; got 1.2." in capsys.readouterr().err
    assert main(["ops", "explain", "--config", str(cfg), "--check", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("expr", ["rate(1 day)", "rate(15 minutes)", "cron(0 3 ? * MON *)",
                                  "cron(0/15 8-17 ? * MON-FRI *)", "cron(0 12 1 * ? 2030)",
                                  "at(2030-01-31T03:00:00)"])
def test_schedule_expressions_the_service_accepts(expr: str) -> None:
    check_schedule(expr)


@pytest.mark.parametrize(("expr", "why"), [
    ("rate(0 days)", "positive whole number"), ("rate(1 week)", "rate(value unit)"),
    ("cron(0 3 * * *)", "six fields"), ("cron(0 3 * * MON *)", "exactly one of day-of-month"),
    ("cron(0 3 ? * ? *)", "exactly one of day-of-month"), ("cron(61 3 ? * MON *)", "outside 0-59"),
    ("cron(0 3 ? * FUNDAY *)", "does not allow"), ("at(2030-02-30T03:00:00)", "not a real date"),
    ("every day", "rate(value unit)"),
])
def test_schedule_expressions_the_service_refuses_name_the_key(expr: str, why: str) -> None:
    with pytest.raises(DeployError, match=r"triggers\.schedule .* is refused by EventBridge Scheduler") as info:
        check_schedule(expr)
    assert why in str(info.value)


def test_starter_reasons_come_only_from_the_schedule_or_an_alarm_in_alarm() -> None:
    assert reason_of({"reason": "schedule", "id": "x"}) == "schedule"
    event = {"detail-type": "CloudWatch Alarm State Change",
             "detail": {"alarmName": f"{GROUP}-auc-low", "state": {"value": "ALARM"}}}
    assert reason_of(event) == f"alarm:{GROUP}-auc-low"
    with pytest.raises(DeployError, match="only ALARM starts retraining"):
        reason_of({**event, "detail": {"alarmName": "a", "state": {"value": "OK"}}})
    with pytest.raises(DeployError, match="does not know"):
        reason_of({"source": "aws.s3"})


def test_a_retried_occurrence_carries_the_same_idempotency_token(tmp_path) -> None:
    cfg = load_config(config_file(tmp_path))
    first = request_token(cfg, {"reason": "schedule", "scheduled_time": "2030-01-01T03:00:00Z"})
    assert first == request_token(cfg, {"reason": "schedule", "scheduled_time": "2030-01-01T03:00:00Z"})
    assert first != request_token(cfg, {"reason": "schedule", "scheduled_time": "2030-01-08T03:00:00Z"})
    assert len(str(first)) == 64 and request_token(cfg, {"reason": "schedule"}) is None
    other = cfg.replace(**{"aws.pipeline_name": "other"})
    assert request_token(cfg, {"id": "e1"}) != request_token(other, {"id": "e1"})


def test_the_starter_package_is_deterministic_and_holds_the_handler() -> None:
    import io
    import zipfile

    data = package_starter()
    assert data == package_starter()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "trainguard/pipelines/ops/starter.py" in names and "trainguard/__init__.py" in names


# --------------------------------------------------------------------------------------------
# against moto


def _ops(path: Path, action: str, *extra: str) -> int:
    roles = [] if action == "remove" else ["--starter-role-arn", STARTER_ROLE, "--invoke-role-arn", INVOKE_ROLE]
    return main(["ops", action, "--config", str(path), *roles, *extra])


@pytest.mark.usefixtures("aws")
def test_ops_upsert_creates_alarms_and_triggers_and_a_rerun_writes_nothing(tmp_path, capsys) -> None:
    lambda_roles()
    add_package("Approved", metrics={"auc": 0.9, "precision": 0.8, "recall": 0.7})
    path = config_file(tmp_path, triggers={"schedule": "cron(0 3 ? * MON *)", "max_retries": 4})
    assert _ops(path, "diff") == 1
    planned = capsys.readouterr().out
    assert f"+ topic arn:aws:sns:{REGION}:{ACCOUNT}:trainguard-alarms" in planned
    assert "+ schedule tg-test-retrain (cron(0 3 ? * MON *))" in planned
    assert client("cloudwatch").describe_alarms()["MetricAlarms"] == []  # diff wrote nothing
    assert _ops(path, "upsert") == 0
    capsys.readouterr()
    alarms = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms()["MetricAlarms"]}
    auc = alarms[f"{GROUP}-auc-low"]
    assert (auc["Namespace"], auc["MetricName"], auc["ComparisonOperator"]) == (
        "Trainguard", "auc", "LessThanThreshold")
    assert auc["Threshold"] == pytest.approx(0.85)
    assert auc["Dimensions"] == [{"Name": "ModelPackageGroup", "Value": GROUP}]
    assert alarms[f"{GROUP}-recall-low"]["Threshold"] == pytest.approx(0.6)
    assert alarms[f"{GROUP}-drifted-features"]["Threshold"] == 0.0
    dead = alarms["trainguard-triggers-dlq-not-empty"]  # a start or publication that gave up
    assert (dead["Namespace"], dead["MetricName"], dead["Dimensions"], dead["Threshold"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible",
        [{"Name": "QueueName", "Value": "trainguard-triggers-dlq"}], 0.0)
    assert dead["ComparisonOperator"] == "GreaterThanThreshold" and dead["AlarmActions"] == auc["AlarmActions"]
    topic = auc["AlarmActions"][0]
    assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:trainguard-alarms"
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName="trainguard-triggers-dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert dlq["KmsMasterKeyId"] == KMS_KEY
    fn = client("lambda").get_function(FunctionName="tg-test-retrain")["Configuration"]
    assert fn["Handler"] == "trainguard.pipelines.ops.starter.handler" and fn["Role"] == STARTER_ROLE
    invoke = client("lambda").get_function_event_invoke_config(FunctionName="tg-test-retrain")
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == dlq["QueueArn"]
    schedule = client("scheduler").get_schedule(Name="tg-test-retrain")
    assert schedule["ScheduleExpression"] == "cron(0 3 ? * MON *)"
    target = schedule["Target"]
    assert target["Arn"] == fn["FunctionArn"] and target["RoleArn"] == INVOKE_ROLE
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 4
    assert target["DeadLetterConfig"]["Arn"] == dlq["QueueArn"]
    assert json.loads(target["Input"])["reason"] == "schedule"
    events = client("events")
    pattern = json.loads(events.describe_rule(Name="tg-test-retrain-on-alarm")["EventPattern"])
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    assert sorted(pattern["resources"]) == sorted(
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{GROUP}-{n}" for n in
        ("auc-low", "precision-low", "recall-low", "drifted-features"))
    (rule_target,) = events.list_targets_by_rule(Rule="tg-test-retrain-on-alarm")["Targets"]
    assert rule_target["Arn"] == fn["FunctionArn"] and rule_target["DeadLetterConfig"]["Arn"] == dlq["QueueArn"]

    session, calls = counting_session()
    assert ops_upsert(load_config(path), starter_role=STARTER_ROLE, invoke_role=INVOKE_ROLE,
                      session=session, out=lambda _l: None) == []
    writes = {k: v for k, v in calls.items()
              if k.startswith(("Create", "Update", "Put", "Set", "Delete", "Add"))}
    assert writes == {}
    assert _ops(path, "diff") == 0

    changed = config_file(tmp_path, triggers={"schedule": "rate(1 day)", "max_retries": 4},
                          alarms={"min_auc": 0.8})
    assert _ops(changed, "diff") == 1
    out = capsys.readouterr().out
    assert "schedule tg-test-retrain: ScheduleExpression" in out
    assert f"alarm {GROUP}-auc-low: Threshold 0.85 → 0.8, AlarmDescription" in out
    assert f"unchanged: alarm {GROUP}-precision-low, alarm {GROUP}-recall-low" in out

    assert _ops(path, "remove") == 0
    assert client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert client("lambda").list_functions()["Functions"] == []
    assert client("scheduler").list_schedules()["Schedules"] == []
    assert events.list_rules()["Rules"] == []


@pytest.mark.usefixtures("aws")
def test_bad_ops_input_is_refused_before_any_call(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any call would fail to connect
    bad_topic = config_file(tmp_path, alarms={"topic_arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:ops"})
    assert _ops(bad_topic, "upsert") == 2
    assert "alarms.topic_arn" in capsys.readouterr().err
    bad_schedule = config_file(tmp_path, triggers={"schedule": "cron(0 3 * * *)"})
    assert _ops(bad_schedule, "upsert") == 2
    err = capsys.readouterr().err
    assert "triggers.schedule 'cron(0 3 * * *)' is refused" in err and "cannot reach" not in err
    assert main(["ops", "upsert", "--config", str(config_file(tmp_path))]) == 2
    assert "--starter-role-arn" in capsys.readouterr().err
    for sections, message in (
            ({"triggers": {"timezone": "Mars/Olympus"}}, "triggers.timezone 'Mars/Olympus' is not an IANA"),
            ({"alarms": {"namespace": "AWS/SageMaker"}}, "alarms.namespace 'AWS/SageMaker' must be"),
            ({"triggers": {"dead_letter_queue": "dlq.fifo"}}, "triggers.dead_letter_queue 'dlq.fifo' must be"),
            ({"alarms": {"topic_name": "a" * 257}}, "alarms.topic_name"),
            ({"triggers": {"monitor_schedule": "cron(0 3 * * *)"}},
             "triggers.monitor_schedule 'cron(0 3 * * *)' is refused")):
        assert _ops(config_file(tmp_path, **sections), "upsert") == 2
        err = capsys.readouterr().err
        assert message in err and "cannot reach" not in err, sections


def _pipeline() -> None:
    definition = {"Version": "2020-12-01", "Parameters": [
        {"Name": "ChampionBar", "Type": "Float", "DefaultValue": 0.0},
        {"Name": "TriggerReason", "Type": "String", "DefaultValue": "manual"}], "Steps": []}
    client("sagemaker").create_pipeline(PipelineName="tg-test", RoleArn=ROLE,
                                        PipelineDefinition=json.dumps(definition))


def _started() -> list[dict[str, str]]:
    sm = client("sagemaker")
    runs = sm.list_pipeline_executions(PipelineName="tg-test")["PipelineExecutionSummaries"]
    return [{p["Name"]: p["Value"] for p in sm.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=r["PipelineExecutionArn"])["PipelineParameters"]} for r in runs]


@pytest.mark.usefixtures("aws")
def test_the_starter_compares_with_the_champion_exactly_as_upsert_start(tmp_path, monkeypatch) -> None:
    cfg = load_config(config_file(tmp_path, approval={"champion_margin": 0.01}))
    monkeypatch.setenv(CONFIG_ENV, json.dumps(starter_config(cfg)))
    _pipeline()
    add_package("Approved", metrics={"auc": 0.91, "precision": 0.8, "recall": 0.7})
    expected = champion_bar_of(SageMakerRegistry(client("sagemaker"), client("s3")), cfg).value
    result = handler({"reason": "schedule", "scheduled_time": "2030-01-01T03:00:00Z"})
    assert result["Parameters"] == {"ChampionBar": repr(expected), "TriggerReason": "schedule"}
    assert expected == pytest.approx(0.92)
    handler({"detail-type": "CloudWatch Alarm State Change", "id": "e" * 36,
             "detail": {"alarmName": f"{GROUP}-drifted-features", "state": {"value": "ALARM"}}})
    assert sorted(p["TriggerReason"] for p in _started()) == ["alarm:tg-models-drifted-features", "schedule"]
    assert {p["ChampionBar"] for p in _started()} == {repr(expected)}


@pytest.mark.usefixtures("aws")
def test_the_starter_never_starts_without_the_champion_bar(tmp_path, monkeypatch) -> None:
    """A champion whose report cannot be read fails the invocation (retried, then the DLQ)."""
    cfg = load_config(config_file(tmp_path))
    monkeypatch.setenv(CONFIG_ENV, json.dumps(starter_config(cfg)))
    _pipeline()
    add_package("Approved")
    client("s3").delete_object(Bucket=f"sagemaker-{REGION}-{ACCOUNT}", Key="trainguard/runs/model-1/evaluation.json")
    with pytest.raises(DeployError, match="s3:GetObject"):
        handler({"reason": "schedule"})
    assert _started() == []


@pytest.mark.usefixtures("aws")
def test_publish_puts_the_checks_metrics_under_trainguards_namespace(tmp_path, capsys) -> None:
    check = _check_dir(tmp_path, ["x2"], auc=0.7)
    assert main(["ops", "publish", "--config", str(config_file(tmp_path)), "--check", str(check)]) == 0
    assert "published 5 metric value(s) to Trainguard" in capsys.readouterr().out
    metrics = client("cloudwatch").list_metrics(Namespace="Trainguard")["Metrics"]
    names = sorted((m["MetricName"], tuple(sorted(d["Value"] for d in m["Dimensions"]))) for m in metrics)
    assert names == [("auc", (GROUP,)), ("drifted_features", (GROUP,)), ("feature_drift", (GROUP, "x1")),
                     ("feature_drift", (GROUP, "x2")), ("feature_drift", (GROUP, "x3"))]


@pytest.mark.usefixtures("aws")
def test_a_check_that_is_not_utf8_json_or_cannot_be_read_is_named_and_publishes_nothing(tmp_path, capsys) -> None:
    """Bytes that are not text, a result file that is a folder, a folder that cannot be read: one
    message each naming the file, exit 2, no traceback, no metric written (also from S3)."""
    cfg = str(config_file(tmp_path))
    check = _check_dir(tmp_path, ["x2"], auc=0.7)
    (check / "drift_report.json").write_bytes(b"\xff\xfe\x00{not utf-8")
    assert main(["ops", "publish", "--config", cfg, "--check", str(check)]) == 2
    assert "drift_report.json is not JSON" in capsys.readouterr().err
    s3 = client("s3")
    s3.create_bucket(Bucket="checks", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="checks", Key="run/constraint_violations.json", Body=b"\x80\x81 latin-1 \xe9")
    assert main(["ops", "publish", "--config", cfg, "--check", "s3://checks/run"]) == 2
    assert "s3://checks/run/constraint_violations.json is not JSON" in capsys.readouterr().err
    folder = tmp_path / "odd"
    (folder / "constraint_violations.json").mkdir(parents=True)  # a folder where the file belongs
    assert main(["ops", "publish", "--config", cfg, "--check", str(folder)]) == 2
    assert "has no constraint_violations.json" in capsys.readouterr().err
    (tmp_path / "locked").mkdir()
    locked = _check_dir(tmp_path / "locked", [])
    (locked / "constraint_violations.json").chmod(0)
    try:
        if os.access(locked / "constraint_violations.json", os.R_OK):  # root reads anything
            (locked / "constraint_violations.json").unlink()
            os.mkfifo(locked / "constraint_violations.json")  # a device-like entry is not a result
        assert main(["ops", "publish", "--config", cfg, "--check", str(locked)]) == 2
        err = capsys.readouterr().err
        assert "cannot read" in err or "has no constraint_violations.json" in err
        assert "Traceback" not in err
    finally:
        (locked / "constraint_violations.json").chmod(0o600)
    assert client("cloudwatch").list_metrics(Namespace="Trainguard")["Metrics"] == []


@pytest.mark.usefixtures("aws")
def test_the_monitoring_schedule_checks_against_the_champions_baselines(tmp_path, monkeypatch) -> None:
    """The monitoring pipeline's BaselineUri is the champion's baseline folder at start time, read
    from its DriftCheckBaselines; with no champion, or one without baselines, nothing starts."""
    cfg = load_config(config_file(tmp_path))
    monkeypatch.setenv(CONFIG_ENV, json.dumps(starter_config(cfg)))
    definition = {"Version": "2020-12-01", "Steps": [], "Parameters": [
        {"Name": "MonitorDataUri", "Type": "String", "DefaultValue": "s3://b/monitor/data/"},
        {"Name": "BaselineUri", "Type": "String", "DefaultValue": "s3://b/monitor/baseline/"}]}
    sm = client("sagemaker")
    sm.create_pipeline(PipelineName="tg-test-monitor", RoleArn=ROLE, PipelineDefinition=json.dumps(definition))
    event = {"reason": "monitor", "scheduled_time": "2030-01-01T03:00:00Z"}
    with pytest.raises(DeployError, match="has no Approved package: there is no baseline"):
        handler(event)
    add_package("Approved")
    with pytest.raises(DeployError, match=r"has no DriftCheckBaselines\.ModelDataQuality"):
        handler(event)
    folder = f"s3://{BUCKET}/trainguard/runs/exec-2/baseline"
    doc = {"ContentType": "application/json"}
    arn = sm.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        ModelMetrics={"ModelQuality": {"Statistics": {**doc, "S3Uri": f"s3://{BUCKET}/trainguard/runs/model-1/"
                                                                      "evaluation.json"}}},
        DriftCheckBaselines={"ModelDataQuality": {
            "Statistics": {**doc, "S3Uri": f"{folder}/data_quality/statistics.json"},
            "Constraints": {**doc, "S3Uri": f"{folder}/data_quality/constraints.json"}}})["ModelPackageArn"]
    result = handler(event)
    assert result["Champion"] == arn and result["Parameters"] == {"BaselineUri": f"{folder}/"}
    (run,) = sm.list_pipeline_executions(PipelineName="tg-test-monitor")["PipelineExecutionSummaries"]
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=run["PipelineExecutionArn"])
    assert {p["Name"]: p["Value"] for p in params["PipelineParameters"]}["BaselineUri"] == f"{folder}/"
