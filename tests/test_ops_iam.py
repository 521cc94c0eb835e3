"""iam-policy --ops: the starter's, the schedule's and the operator's policies, scoped and parliament-clean."""

from __future__ import annotations

import json
from typing import Any

import parliament
from trainguard.pipelines.cli import main

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/model"
ARGS = ["iam-policy", "--ops", "--set", f"aws.role_arn={ROLE}", "--set",
        f"security.kms_key_id=arn:aws:kms:us-east-1:{ACCOUNT}:key/abc", "--starter-role-arn",
        f"arn:aws:iam::{ACCOUNT}:role/starter", "--invoke-role-arn", f"arn:aws:iam::{ACCOUNT}:role/invoke"]


def _policies(capsys: Any) -> dict[str, Any]:
    assert main(ARGS) == 0
    return json.loads(capsys.readouterr().out)


def _actions(doc: dict[str, Any]) -> set[str]:
    return {a for st in doc["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}


def test_ops_policies_are_parliament_clean_with_no_wildcard_actions(capsys) -> None:
    docs = _policies(capsys)
    assert set(docs) == {"StarterRole", "InvokeRole", "Operator"}
    for name, doc in docs.items():
        pol = parliament.analyze_policy_string(json.dumps(doc["PolicyDocument"]))
        assert [(f.issue, f.detail) for f in pol.findings] == [], name
        assert not any("*" in a for a in _actions(doc["PolicyDocument"])), name


def test_the_schedule_may_only_invoke_the_starter_which_may_only_start_this_pipeline(capsys) -> None:
    docs = _policies(capsys)
    invoke = docs["InvokeRole"]["PolicyDocument"]
    assert _actions(invoke) == {"lambda:InvokeFunction", "sqs:SendMessage", "kms:Decrypt", "kms:GenerateDataKey"}
    (inv,) = [s for s in invoke["Statement"] if s["Sid"] == "InvokeStarterOnly"]
    assert inv["Resource"][0] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:trainguard-pipeline-retrain"
    starter = {s["Sid"]: s for s in docs["StarterRole"]["PolicyDocument"]["Statement"]}
    assert starter["StartThisPipeline"]["Resource"] == [
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:pipeline/trainguard-pipeline",
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:pipeline/trainguard-pipeline-monitor"]
    assert starter["ReadThisPipeline"] == {
        "Sid": "ReadThisPipeline", "Effect": "Allow", "Action": ["sagemaker:DescribePipeline"],
        "Resource": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:pipeline/trainguard-pipeline"}
    assert "sagemaker:StartPipelineExecution" not in _actions(invoke)
    assert docs["InvokeRole"]["TrustPolicy"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    operator = {s["Sid"]: s for s in docs["Operator"]["PolicyDocument"]["Statement"]}
    assert operator["PublishCheckMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Trainguard"}}
    assert operator["PassModelRole"]["Resource"] == ROLE


def test_ops_policies_need_the_roles(capsys) -> None:
    assert main(ARGS[:-4]) == 2
    assert "--starter-role-arn '' is not an IAM role ARN" in capsys.readouterr().err


def test_the_function_may_read_only_the_checks_and_publish_only_in_trainguards_namespace(capsys) -> None:
    """What a monitoring execution's end needs: the two check files under any execution's run
    prefix, PutMetricData conditioned on the namespace; no SageMaker call for it (the prefix is known)."""
    docs = _policies(capsys)
    starter = {s["Sid"]: s for s in docs["StarterRole"]["PolicyDocument"]["Statement"]}
    bucket = f"arn:aws:s3:::sagemaker-us-east-1-{ACCOUNT}/trainguard/runs/*/monitor"
    assert starter["ReadMonitoringChecks"]["Action"] == ["s3:GetObject"]
    assert starter["ReadMonitoringChecks"]["Resource"] == [f"{bucket}/constraint_violations.json",
                                                           f"{bucket}/drift_report.json"]
    assert starter["PublishCheckMetrics"]["Action"] == ["cloudwatch:PutMetricData"]
    assert starter["PublishCheckMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Trainguard"}}
    actions = _actions(docs["StarterRole"]["PolicyDocument"])
    assert not {a for a in actions if a.startswith("sagemaker:") and "Pipeline" in a} - {
        "sagemaker:StartPipelineExecution", "sagemaker:DescribePipeline"}  # the latter: the cost check
    operator = {s["Sid"]: s for s in docs["Operator"]["PolicyDocument"]["Statement"]}
    assert operator["Rules"]["Resource"] == [
        f"arn:aws:events:us-east-1:{ACCOUNT}:rule/trainguard-pipeline-retrain-on-alarm",
        f"arn:aws:events:us-east-1:{ACCOUNT}:rule/trainguard-pipeline-retrain-on-monitor"]
    assert {"events:ListTagsForResource", "lambda:GetPolicy", "sns:ListTagsForResource"} <= \
        _actions(docs["Operator"]["PolicyDocument"])
