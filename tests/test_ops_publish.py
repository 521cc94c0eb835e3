"""Automatic publication: when the monitoring pipeline ends, its check becomes the alarms' metrics.

An EventBridge rule on SageMaker's pipeline execution events (this monitoring pipeline, Succeeded
or Failed) invokes trainguard's function, which reads the execution's check from its run prefix
and puts the metrics the quality and drift alarms read. The rule, its target and the function's
permission are checked on a real moto server over HTTP; the handler publishes a check that the
real check code computed on a small table (with a small real model, for the quality rows), and
the values are read back from moto's CloudWatch with each alarm's own namespace, metric,
dimensions and statistic. The event is the one SageMaker's developer guide documents ("Events
that SageMaker sends to EventBridge", pipeline execution state change).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ops_fixtures import (
    ACCOUNT,
    BUCKET,
    GROUP,
    REGION,
    add_package,
    client,
    config_file,
    counting_session,
    lambda_roles,
)
from test_deploy import aws  # noqa: F401 - fixture: a fresh account on the moto server, one attempt
from trainguard.pipelines.ci.aws import DeployError
from trainguard.pipelines.cli import main
from trainguard.pipelines.ops.alarms import alarm_specs
from trainguard.pipelines.ops.operate import ops_upsert
from trainguard.pipelines.ops.starter import CONFIG_ENV, handler, starter_config
from trainguard.pipelines.ops.triggers import monitor_rule
from trainguard.training.config import load_config

STARTER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/tg-starter"
INVOKE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/tg-invoke"
MONITOR = "tg-test-monitor"
EXECUTION = "p4jn9xou8a8s"


def _event(status: str = "Failed", pipeline: str = MONITOR, execution: str = EXECUTION,
           end: dt.datetime | None = None) -> dict[str, Any]:
    """SageMaker's pipeline execution event, field for field as its developer guide shows it."""
    base = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{pipeline}"
    end = end or dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
    return {"version": "0", "id": "315c1398-40ff-a850-213b-158f73kd93ir",
            "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
            "source": "aws.sagemaker", "account": ACCOUNT, "time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION, "resources": [base, f"{base}/execution/{execution}"],
            "detail": {"pipelineExecutionDisplayName": "execution", "currentPipelineExecutionStatus": status,
                       "previousPipelineExecutionStatus": "Executing",
                       "executionStartTime": (end - dt.timedelta(minutes=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "executionEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "pipelineExecutionDescription": "trainguard", "pipelineArn": base,
                       "pipelineExecutionArn": f"{base}/execution/{execution}"}}


# --------------------------------------------------------------------------------------------
# the rule


def test_the_rule_matches_this_monitoring_pipelines_ends_only(tmp_path) -> None:
    """The documented event against the rule's pattern, with moto's implementation of
    EventBridge's matching (moto has no TestEventPattern over HTTP)."""
    from moto.events.models import EventPattern

    cfg = load_config(config_file(tmp_path))
    pattern = EventPattern.load(monitor_rule(cfg, ACCOUNT)["EventPattern"])
    assert pattern.matches_event(_event("Failed"))  # DriftDetected fails the execution
    assert pattern.matches_event(_event("Succeeded"))
    assert pattern.matches_event(_event("Succeeded", pipeline="TG-Test-Monitor"))  # case as reported
    assert not pattern.matches_event(_event("Executing"))
    assert not pattern.matches_event(_event("Stopped"))
    assert not pattern.matches_event(_event("Succeeded", pipeline="tg-test"))  # the training pipeline
    assert not pattern.matches_event(_event("Succeeded", pipeline="other-monitor"))


def _ops(path: Path, action: str) -> int:
    roles = [] if action == "remove" else ["--starter-role-arn", STARTER_ROLE, "--invoke-role-arn", INVOKE_ROLE]
    return main(["ops", action, "--config", str(path), *roles])


@pytest.mark.usefixtures("aws")
def test_ops_upsert_wires_the_monitoring_rule_to_the_function_and_removes_it(tmp_path, capsys) -> None:
    lambda_roles()
    add_package("Approved")
    path = config_file(tmp_path, triggers={"schedule": None, "on_alarms": False, "monitor_schedule": "rate(1 day)"})
    assert _ops(path, "diff") == 1
    planned = capsys.readouterr().out
    assert "+ rule tg-test-retrain-on-monitor (monitoring ends → publish)" in planned
    assert "+ schedule tg-test-retrain-monitor (rate(1 day))" in planned
    assert _ops(path, "upsert") == 0
    events, lam = client("events"), client("lambda")
    rule = events.describe_rule(Name="tg-test-retrain-on-monitor")
    pattern = json.loads(rule["EventPattern"])
    assert pattern == {"source": ["aws.sagemaker"],
                       "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
                       "detail": {"currentPipelineExecutionStatus": ["Succeeded", "Failed"],
                                  "pipelineArn": [{"equals-ignore-case":
                                                   f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{MONITOR}"}]}}
    fn = lam.get_function(FunctionName="tg-test-retrain")["Configuration"]
    (target,) = events.list_targets_by_rule(Rule="tg-test-retrain-on-monitor")["Targets"]
    dlq = client("sqs").get_queue_url(QueueName="trainguard-triggers-dlq")["QueueUrl"].rsplit("/", 1)[-1]
    assert target["Arn"] == fn["FunctionArn"] and target["DeadLetterConfig"]["Arn"].endswith(f":{dlq}")
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    (statement,) = json.loads(lam.get_policy(FunctionName="tg-test-retrain")["Policy"])["Statement"]
    assert statement["Sid"] == "monitor-rule" and rule["Arn"] in json.dumps(statement["Condition"])
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert events.describe_rule(Name="tg-test-retrain-on-monitor")["State"] == "ENABLED"
    assert {"Key": "trainguard:managed-by", "Value": "triggers"} in \
        events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]
    schedule = client("scheduler").get_schedule(Name="tg-test-retrain-monitor")
    assert schedule["Target"]["Arn"] == fn["FunctionArn"] and schedule["Target"]["RoleArn"] == INVOKE_ROLE
    assert json.loads(schedule["Target"]["Input"]) == {"reason": "monitor",
                                                       "scheduled_time": "<aws.scheduler.scheduled-time>"}
    env = json.loads(fn["Environment"]["Variables"][CONFIG_ENV])
    assert env["alarms"] == {"namespace": "Trainguard"} and env["aws"]["prefix"] == "trainguard"

    session, calls = counting_session()  # a second upsert reads and writes nothing
    assert ops_upsert(load_config(path), starter_role=STARTER_ROLE, invoke_role=INVOKE_ROLE,
                      session=session, out=lambda _l: None) == []
    assert {k: v for k, v in calls.items()
            if k.startswith(("Create", "Update", "Put", "Set", "Delete", "Add", "Remove", "Tag"))} == {}
    assert calls["GetPolicy"] == 1
    capsys.readouterr()
    assert _ops(path, "diff") == 0
    assert "nothing to change" in capsys.readouterr().out

    lam.remove_permission(FunctionName="tg-test-retrain", StatementId="monitor-rule")  # drifted by hand
    assert _ops(path, "diff") == 1
    assert "function tg-test-retrain: permission for rule tg-test-retrain-on-monitor" in capsys.readouterr().out
    assert _ops(path, "upsert") == 0
    assert json.loads(lam.get_policy(FunctionName="tg-test-retrain")["Policy"])["Statement"][0]["Sid"] == \
        "monitor-rule"

    assert _ops(path, "remove") == 0
    assert "deleted rule tg-test-retrain-on-monitor" in capsys.readouterr().err
    assert events.list_rules()["Rules"] == []
    assert client("scheduler").list_schedules()["Schedules"] == []


@pytest.mark.usefixtures("aws")
def test_a_rule_trainguard_did_not_create_is_neither_overwritten_nor_removed(tmp_path, capsys) -> None:
    lambda_roles()
    add_package("Approved")
    path = config_file(tmp_path, triggers={"schedule": None, "on_alarms": False})
    events = client("events")
    events.put_rule(Name="tg-test-retrain-on-monitor", EventPattern=json.dumps({"source": ["someone.else"]}))
    assert _ops(path, "upsert") == 2
    assert "EventBridge rule tg-test-retrain-on-monitor exists but was not created by trainguard" in \
        capsys.readouterr().err
    assert json.loads(events.describe_rule(Name="tg-test-retrain-on-monitor")["EventPattern"]) == \
        {"source": ["someone.else"]}
    assert _ops(path, "remove") == 0
    assert "rule tg-test-retrain-on-monitor was not created by trainguard; left in place" in \
        capsys.readouterr().err
    assert [r["Name"] for r in events.list_rules()["Rules"]] == ["tg-test-retrain-on-monitor"]


# --------------------------------------------------------------------------------------------
# the handler, with a real check


def _table(path: Path, n: int, seed: int, shift: float = 0.0, flip: float = 0.0) -> Path:
    """Two numeric features and a label that the first one predicts; ``flip`` of labels flipped."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n) + shift, rng.normal(size=n)
    y = (a - shift + 0.5 * rng.normal(size=n) > 0).astype(int)
    y = np.where(rng.random(n) < flip, 1 - y, y)
    path.write_text("a,b,label\n" + "".join(f"{x:.5f},{z:.5f},{t}\n" for x, z, t in zip(a, b, y, strict=True)))
    return path


def _real_check(tmp_path: Path) -> Path:
    """The check's output folder, computed by trainguard's own baseline and check code: a
    baseline of 600 rows, a 10-round model on it, then 600 new rows with feature a shifted and a
    third of the labels flipped (drift and a quality drop)."""
    import xgboost as xgb
    from trainguard.training.files import write_text
    from trainguard.training.monitor.__main__ import main as monitor
    from trainguard.training.monitor.check import check_drift, write_result
    from trainguard.training.monitor.quality import quality_constraints

    train = _table(tmp_path / "train.csv", 600, 0)
    baseline = tmp_path / "baseline"
    assert monitor(["baseline", "--data", str(train), "--out", str(baseline / "data_quality"),
                    "--set", "data.target=label"]) == 0
    data = np.loadtxt(train, delimiter=",", skiprows=1)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
                        xgb.DMatrix(data[:, :2], label=data[:, 2], feature_names=["a", "b"]), 10)
    for folder in ("model/trainguard", "model_quality"):
        (baseline / folder).mkdir(parents=True)
    booster.save_model(str(baseline / "model" / "model.json"))
    write_text(baseline / "model" / "trainguard" / "cv.json", json.dumps({"features": ["a", "b"], "classes": [0, 1]}))
    write_text(baseline / "model_quality" / "constraints.json", json.dumps(quality_constraints(
        {"binary_classification_metrics": {m: {"value": 0.9, "standard_deviation": 0.01}
                                           for m in ("auc", "precision", "recall")}, "model": {"n_test": 600}})))
    current = _table(tmp_path / "current.csv", 600, 1, shift=0.8, flip=0.35)
    return write_result(check_drift(baseline, current, label_column="label"), tmp_path / "check")


def _upload(folder: Path, execution: str = EXECUTION) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    for name in ("constraint_violations.json", "drift_report.json", "statistics.json"):
        s3.put_object(Bucket=BUCKET, Key=f"trainguard/runs/{execution}/monitor/{name}",
                      Body=(folder / name).read_bytes())


def _configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    cfg = load_config(config_file(tmp_path))
    monkeypatch.setenv(CONFIG_ENV, json.dumps(starter_config(cfg)))
    return cfg


def _values(spec_request: dict[str, Any]) -> list[float]:
    """What an alarm reads: its namespace, metric, dimensions and statistic, over the last hour."""
    now = dt.datetime.now(dt.UTC)
    stat = spec_request["Statistic"]
    points = client("cloudwatch").get_metric_statistics(
        Namespace=spec_request["Namespace"], MetricName=spec_request["MetricName"],
        Dimensions=spec_request["Dimensions"], StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5), Period=3600, Statistics=[stat])["Datapoints"]
    return [p[stat] for p in points]


@pytest.mark.usefixtures("aws")
def test_a_monitoring_execution_end_publishes_the_real_check_the_alarms_read(tmp_path, monkeypatch) -> None:
    check = _real_check(tmp_path)
    report = json.loads((check / "drift_report.json").read_text())
    violations = json.loads((check / "constraint_violations.json").read_text())["violations"]
    drifted = {v["feature_name"] for v in violations if v.get("constraint_check_type") == "baseline_drift_check"}
    assert "a" in drifted and "b" not in drifted  # the check found the shift
    quality = {q["metric"]: q["value"] for q in report["model_quality"]}
    _upload(check)
    cfg = _configure(tmp_path, monkeypatch)

    result = handler(_event("Failed"))  # drift found: DriftCondition failed the execution
    assert result["Check"] == f"s3://{BUCKET}/trainguard/runs/{EXECUTION}/monitor"
    specs = {s.request["MetricName"]: s.request for s in alarm_specs(
        cfg, "arn:aws:sns:eu-west-1:123456789012:t", {"auc": 0.9, "precision": 0.8, "recall": 0.7},
        endpoint=False)}
    assert _values(specs["drifted_features"]) == [float(len(drifted))]
    for metric in ("auc", "precision", "recall"):
        assert _values(specs[metric]) == [pytest.approx(quality[metric])], metric
    assert specs["auc"]["Dimensions"] == [{"Name": "ModelPackageGroup", "Value": GROUP}]
    assert quality["auc"] < specs["auc"]["Threshold"]  # this check would set the AUC alarm off
    features = client("cloudwatch").list_metrics(Namespace="Trainguard", MetricName="feature_drift")["Metrics"]
    assert sorted(d["Value"] for m in features for d in m["Dimensions"] if d["Name"] == "Feature") == ["a", "b"]

    handler(_event("Failed"))  # a retried invocation repeats the same data points
    assert _values(specs["drifted_features"]) == [float(len(drifted))]


@pytest.mark.usefixtures("aws")
def test_an_execution_without_a_readable_check_fails_the_invocation(tmp_path, monkeypatch) -> None:
    """Raising is what makes Lambda retry and then dead-letter the event: a monitoring run that
    left no result must not pass as a quiet one."""
    _configure(tmp_path, monkeypatch)
    client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    with pytest.raises(DeployError, match=rf"ended Failed without a readable check at s3://{BUCKET}/"
                                          rf"trainguard/runs/{EXECUTION}/monitor: .* has no constraint_violations"):
        handler(_event("Failed"))  # the check job itself failed: nothing was written
    client("s3").put_object(Bucket=BUCKET, Key=f"trainguard/runs/{EXECUTION}/monitor/constraint_violations.json",
                            Body=b"{not json")
    with pytest.raises(DeployError, match=r"constraint_violations\.json is not JSON"):
        handler(_event("Succeeded"))
    with pytest.raises(DeployError, match="is not of the monitoring pipeline tg-test-monitor"):
        handler(_event("Succeeded", pipeline="other-monitor"))
    with pytest.raises(DeployError, match="only an execution that ended"):
        handler(_event("Executing"))
    assert client("cloudwatch").list_metrics(Namespace="Trainguard")["Metrics"] == []


def test_the_zipped_function_imports_with_only_the_lambda_runtimes_packages(tmp_path) -> None:
    """The Python runtime provides the standard library and boto3 only: the handler module, with
    the publication path it now imports, must load from the zip without numpy, yaml, xgboost or
    the SageMaker SDK (they are blocked here)."""
    import subprocess
    import sys
    import zipfile

    import boto3
    from trainguard.pipelines.ops.triggers import package_starter

    boto_site = str(Path(boto3.__file__).resolve().parents[1])

    (tmp_path / "function.zip").write_bytes(package_starter())
    zipfile.ZipFile(tmp_path / "function.zip").extractall(tmp_path / "function")
    code = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'numpy', 'pandas', 'yaml', 'xgboost', 'sklearn', 'sagemaker',\n"
        "                                  'pyarrow', 'imblearn', 'scipy'}:\n"
        "            raise ImportError(f'{name} is not in the Lambda runtime')\n"
        f"sys.path.insert(0, {str(tmp_path / 'function')!r})\n"
        f"sys.path.append({boto_site!r})\n"
        "sys.meta_path.insert(0, Block())\n"
        "import trainguard.pipelines.ops.starter as s\n"
        "assert s.__file__.startswith(sys.path[0]), s.__file__\n"
        "print(s.handler.__name__, s.publish_execution.__name__)\n")
    # -S: no site-packages (so no editable install of the worktree); boto3's folder comes last
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
                          check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["handler", "publish_execution"]
