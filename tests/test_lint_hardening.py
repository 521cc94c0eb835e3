"""Lint is trustworthy on any definition: what it cannot prove safe (nested jobs, expressions,
unknown step types, malformed steps, secrets in disguise, unreadable files) is a finding or a
clear error, never "every safeguard rule passes"."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from test_lint import _step, good_definition
from trainguard.pipelines.ci.lint import MAX_TRAINING_RUNTIME_SECONDS, lint_definition
from trainguard.pipelines.cli import main
from trainguard.pipelines.definition import DefinitionError, load_definition


def _found(defn: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f.rule, f.severity, f.step) for f in lint_definition(defn)}


def _insecure_training(name: str = "Inner") -> dict[str, Any]:
    return {"Name": name, "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/r", "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600}, "Tags": [{"Key": "k", "Value": "v"}]}}


@pytest.mark.parametrize("container", [
    {"Name": "Loop", "Type": "ForEach", "Arguments": {"ForEachConfig": {}, "Steps": "PLACE"}},
    {"Name": "Loop", "Type": "ForEach", "Arguments": {"Body": {"Steps": "PLACE"}}},
    {"Name": "Check", "Type": "Condition", "Arguments": {"Conditions": [], "IfSteps": "PLACE",
                                                         "ElseSteps": []}},
])
def test_jobs_nested_in_any_container_step_are_checked(container: dict[str, Any]) -> None:
    defn = good_definition()
    text = json.dumps(container).replace('"PLACE"', json.dumps([_insecure_training()]))
    defn["Steps"].append(json.loads(text))
    rules = {r for r, sev, step in _found(defn) if step == "Inner" and sev == "error"}
    assert {"kms-volume", "kms-output", "vpc", "network-isolation"} <= rules


@pytest.mark.parametrize(("value", "params"), [
    ({"Std:Join": {"On": "", "Values": ["tr", {"Get": "Steps.X.Y"}]}}, []),
    ({"Get": "Steps.Preprocess.ProcessingJobArn"}, []),
    ({"Get": "Parameters.Iso"}, [{"Name": "Iso", "Type": "Boolean"}]),
    ({"Get": "Parameters.Undeclared"}, []),
    ("true", []),
])
def test_isolation_given_by_an_unprovable_expression_is_an_error(value: Any, params: list[Any]) -> None:
    defn = good_definition()
    defn["Parameters"] += params
    _step(defn, "Tune")["Arguments"]["TrainingJobDefinition"]["EnableNetworkIsolation"] = value
    assert ("network-isolation", "error", "Tune") in _found(defn)


@pytest.mark.parametrize(("value", "words"), [
    ({"Get": "Parameters.Nope"}, "undeclared parameter Nope"),
    ("", "not encrypted"),
    ("   ", "not encrypted"),
    ("alias/aws/s3", "AWS-managed key"),
    ("arn:aws:kms:eu-west-1:123456789012:alias/aws/sagemaker", "AWS-managed key"),
])
def test_a_kms_key_lint_cannot_prove_is_customer_managed_is_an_error(value: Any, words: str) -> None:
    defn = good_definition()
    _step(defn, "Evaluate")["Arguments"]["ProcessingOutputConfig"]["KmsKeyId"] = value
    [finding] = [f for f in lint_definition(defn) if f.rule == "kms-output"]
    assert finding.severity == "error" and words in finding.message


@pytest.mark.parametrize("subnets", [[""], ["  "], [{"Get": "Steps.X.Subnet"}], {"Get": "Parameters.Nope"}])
def test_blank_or_unprovable_subnets_are_an_error(subnets: Any) -> None:
    defn = good_definition()
    _step(defn, "Preprocess")["Arguments"]["NetworkConfig"]["VpcConfig"]["Subnets"] = subnets
    assert ("vpc", "error", "Preprocess") in _found(defn)


@pytest.mark.parametrize("runtime", [{"Get": "Parameters.Nope"}, MAX_TRAINING_RUNTIME_SECONDS + 1])
def test_runtime_from_an_undeclared_parameter_or_above_the_service_max_is_an_error(runtime: Any) -> None:
    defn = good_definition()
    _step(defn, "Tune")["Arguments"]["TrainingJobDefinition"]["StoppingCondition"]["MaxRuntimeInSeconds"] = runtime
    assert ("max-runtime", "error", "Tune") in _found(defn)
    defn = good_definition()
    _step(defn, "Evaluate")["Arguments"]["StoppingCondition"]["MaxRuntimeInSeconds"] = 777_601
    assert ("max-runtime", "error", "Evaluate") in _found(defn)


@pytest.mark.parametrize("status", [
    {"Std:Join": {"On": "", "Values": ["Appro", "ved"]}},
    {"Std:Join": {"On": "", "Values": ["Appro", {"Get": "Parameters.Suffix"}]}},
    {"Get": "Steps.Evaluate.Status"},
])
def test_approval_status_spelled_by_a_join_or_unprovable_is_an_error(status: Any) -> None:
    defn = good_definition()
    defn["Parameters"].append({"Name": "Suffix", "Type": "String", "DefaultValue": "ved"})
    _step(defn, "RegisterModel")["Arguments"]["ModelApprovalStatus"] = status
    assert ("auto-approval", "error", "RegisterModel") in _found(defn)


@pytest.mark.parametrize("step", [
    {"Name": "Emr", "Type": "EMR", "Arguments": {"ClusterId": "j-1"}},
    {"Name": "Fn", "Type": "Lambda", "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:f"},
    {"Name": "Auto", "Type": "AutoML", "Arguments": {}},
    {"Name": "Nb", "Type": "NotebookJob", "Arguments": {}},
    {"Name": "Clarify", "Type": "ClarifyCheck"},
    {"Name": "Train", "Type": "Training"},
    {"Name": "Train", "Type": "Training", "Arguments": ["not", "an", "object"]},
    {"Name": "Loop", "Type": "ForEach", "Arguments": {}},
    "not a step",
    7,
])
def test_steps_lint_cannot_check_are_errors_not_passes(step: Any, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    defn = good_definition()
    defn["Steps"].append(step)
    findings = lint_definition(defn)
    assert findings and all(f.severity == "error" for f in findings)
    assert {f.rule for f in findings} & {"unknown-step", "malformed-step"}  # beside what other rules see
    path = tmp_path / "d.json"
    path.write_text(json.dumps(defn))
    assert main(["lint", "--definition", str(path)]) == 1
    assert "every safeguard rule passes" not in capsys.readouterr().out


def test_create_model_without_isolation_is_an_error_like_any_job() -> None:
    defn = good_definition()
    model = {"Name": "Model", "Type": "Model", "Arguments": {
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
        "PrimaryContainer": {"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"},
        "VpcConfig": {"Subnets": ["subnet-0abc1234def567890"], "SecurityGroupIds": ["sg-0abc1234def567890"]}}}
    defn["Steps"].append(model)
    assert _found(defn) == {("network-isolation", "error", "Model")}
    model["Arguments"]["EnableNetworkIsolation"] = True
    assert _found(defn) == set()


@pytest.mark.parametrize("url", ["postgres://admin:hunter2@db.internal:5432/prod",
                                 "redis://:s3cr3t@cache:6379/0", "mongodb+srv://u:p%40ss@c.example.net/db"])
def test_a_password_in_a_connection_string_is_an_error(url: str) -> None:
    defn = good_definition()
    _step(defn, "Preprocess")["Arguments"]["Environment"]["DATABASE_URL"] = url
    assert ("plaintext-secret", "error", "Preprocess") in _found(defn)
    safe = good_definition()
    _step(safe, "Preprocess")["Arguments"]["Environment"]["DATABASE_URL"] = "postgres://db.internal:5432/prod"
    assert _found(safe) == set()


@pytest.mark.parametrize(("name", "default"), [("DbPassword", "hunter2"), ("ApiToken", "abc123"),
                                                ("Conn", "postgres://a:b@h/db"), ("Key", "AKIAABCDEFGHIJKLMNOP")])
def test_a_secret_looking_parameter_default_is_an_error(name: str, default: str) -> None:
    defn = good_definition()
    defn["Parameters"].append({"Name": name, "Type": "String", "DefaultValue": default})
    assert ("plaintext-secret", "error", f"parameter {name}") in _found(defn)


def test_deep_utf16_and_non_utf8_files_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"Steps": ' + "[" * 10_000 + "]" * 10_000 + "}")
    utf16 = tmp_path / "utf16.json"
    utf16.write_text(json.dumps(good_definition()), encoding="utf-16")
    latin = tmp_path / "latin.json"
    latin.write_bytes(json.dumps(good_definition()).replace("trainguard-exec", "tr\u00e9").encode("latin-1"))
    for path, words in ((deep, "nested"), (utf16, "UTF-16"), (latin, "not UTF-8")):
        with pytest.raises(DefinitionError, match=words):
            load_definition(path)
        assert main(["lint", "--definition", str(path)]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
    with pytest.raises(DefinitionError, match="nested more than"):
        lint_definition({"Steps": [], "X": json.loads("[" * 500 + "]" * 500)})
    assert lint_definition(copy.deepcopy(good_definition())) == []

