"""Safeguard lint rules on definition JSON: each rule fires on a violation and stays quiet otherwise."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from trainguard.pipelines.ci.lint import lint_definition
from trainguard.pipelines.cli import main
from trainguard.pipelines.definition import DefinitionError
from trainguard.training.config import load_config

KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::123456789012:role/trainguard-exec"
BUCKET = "s3://tg-bucket/trainguard"
NET = {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True,
       "VpcConfig": {"Subnets": ["subnet-0abc1234def567890"], "SecurityGroupIds": ["sg-0abc1234def567890"]}}
IMAGE = "685385470294.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5"


def _join(*values: Any) -> dict[str, Any]:
    return {"Std:Join": {"On": "/", "Values": list(values)}}


EXEC = {"Get": "Execution.PipelineExecutionId"}


TAGS = [{"Key": "project", "Value": "trainguard"},
        # the cost-allocation tags the cost rules require on every job
        {"Key": "trainguard-pipeline", "Value": "p"}, {"Key": "trainguard-model-group", "Value": "g"},
        {"Key": "trainguard-trigger", "Value": "manual"}]


def good_definition() -> dict[str, Any]:
    """A definition in SageMaker's format that satisfies every rule (the shape the SDK emits)."""
    processing_common = {
        "ProcessingResources": {"ClusterConfig": {
            "InstanceType": {"Get": "Parameters.ProcessingInstanceType"}, "InstanceCount": 1,
            "VolumeSizeInGB": 30, "VolumeKmsKeyId": KEY}},
        "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "-m", "trainguard.training.jobs"]},
        "RoleArn": ROLE,
        "NetworkConfig": copy.deepcopy(NET),
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Environment": {"PYTHONPATH": "/opt/ml/processing/code"},
        "Tags": copy.deepcopy(TAGS),
    }
    code = {"InputName": "code", "AppManaged": False, "S3Input": {
        "S3Uri": f"{BUCKET}/code/abc123/sourcedir.tar.gz", "LocalPath": "/opt/ml/processing/code",
        "S3DataType": "S3Prefix", "S3InputMode": "File"}}
    preprocess = {
        "Name": "Preprocess", "Type": "Processing",
        "Arguments": {**copy.deepcopy(processing_common),
                      "AppSpecification": {"ImageUri": IMAGE, "ContainerArguments": ["preprocess", "--seed", "7"]},
                      "ProcessingInputs": [
                          {"InputName": "data", "AppManaged": False, "S3Input": {
                              "S3Uri": {"Get": "Parameters.InputDataUri"},
                              "LocalPath": "/opt/ml/processing/input/data", "S3DataType": "S3Prefix",
                              "S3InputMode": "File"}}, code],
                      "ProcessingOutputConfig": {"KmsKeyId": KEY, "Outputs": [
                          {"OutputName": "train", "AppManaged": False, "S3Output": {
                              "S3Uri": _join(BUCKET, EXEC, "train"), "LocalPath": "/opt/ml/processing/train",
                              "S3UploadMode": "EndOfJob"}},
                          {"OutputName": "test", "AppManaged": False, "S3Output": {
                              "S3Uri": _join(BUCKET, EXEC, "test"), "LocalPath": "/opt/ml/processing/test",
                              "S3UploadMode": "EndOfJob"}}]}},
        "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
    }
    tune = {
        "Name": "Tune", "Type": "Tuning",
        "Arguments": {
            "Tags": copy.deepcopy(TAGS),
            "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ResourceLimits": {
                "MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2}},
            "TrainingJobDefinition": {
                "StaticHyperParameters": {"seed": "7", "folds": "5",
                                          "sagemaker_submit_directory": f'"{BUCKET}/code/abc123/sourcedir.tar.gz"'},
                "RoleArn": ROLE,
                "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/models", "KmsKeyId": KEY},
                "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                   "VolumeSizeInGB": 30, "VolumeKmsKeyId": KEY},
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
                "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": {
                        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}}}}],
                "VpcConfig": copy.deepcopy(NET["VpcConfig"]),
                "EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True,
            }},
        "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
    }
    evaluate = {
        "Name": "Evaluate", "Type": "Processing",
        "Arguments": {**copy.deepcopy(processing_common),
                      "ProcessingInputs": [
                          {"InputName": "model", "AppManaged": False, "S3Input": {
                              "S3Uri": {"Std:Join": {"On": "/", "Values": [
                                  f"{BUCKET}/models", {"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"},
                                  "output/model.tar.gz"]}},
                              "LocalPath": "/opt/ml/processing/model", "S3DataType": "S3Prefix",
                              "S3InputMode": "File"}},
                          {"InputName": "test", "AppManaged": False, "S3Input": {
                              "S3Uri": {
                                  "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"},
                              "LocalPath": "/opt/ml/processing/test", "S3DataType": "S3Prefix", "S3InputMode": "File"}},
                          code],
                      "ProcessingOutputConfig": {"KmsKeyId": KEY, "Outputs": [
                          {"OutputName": "evaluation", "AppManaged": False, "S3Output": {
                              "S3Uri": _join(BUCKET, EXEC, "evaluation"),
                              "LocalPath": "/opt/ml/processing/evaluation", "S3UploadMode": "EndOfJob"}}]}},
        "PropertyFiles": [{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
                           "FilePath": "evaluation.json"}],
    }

    def register(name: str, status: Any) -> dict[str, Any]:
        return {"Name": name, "Type": "RegisterModel", "Arguments": {
            "ModelPackageGroupName": "trainguard-models", "ModelApprovalStatus": status,
            "InferenceSpecification": {"Containers": [{"Image": IMAGE, "ModelDataUrl": {
                "Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}}],
                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}}}

    condition = {
        "Name": "CheckApproval", "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": {"Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                "Path": "binary_classification_metrics.auc.value"}},
                "RightValue": {"Get": "Parameters.MinAuc"}}],
            "IfSteps": [register("RegisterModel", {"Get": "Parameters.ModelApprovalStatus"})],
            "ElseSteps": [register("RegisterRejected", "Rejected"),
                          {"Name": "FailRejected", "Type": "Fail",
                           "Arguments": {"ErrorMessage": "model rejected"}}],
        },
    }
    return {
        "Version": "2020-12-01", "Metadata": {},
        "Parameters": [
            {"Name": "InputDataUri", "Type": "String", "DefaultValue": "s3://tg-data/input/data.csv"},
            {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge"},
            {"Name": "MinAuc", "Type": "Float", "DefaultValue": 0.75},
            {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"},
        ],
        "PipelineExperimentConfig": {"ExperimentName": {"Get": "Execution.PipelineName"}},
        "Steps": [preprocess, tune, evaluate, condition],
    }


def _step(defn: dict[str, Any], name: str) -> dict[str, Any]:
    from trainguard.pipelines.definition import iter_steps

    return next(s for s, _ in iter_steps(defn) if s["Name"] == name)


def _rules(findings: list[Any]) -> set[tuple[str, str, str]]:
    return {(f.rule, f.severity, f.step) for f in findings}


def test_good_definition_has_no_findings() -> None:
    assert lint_definition(good_definition()) == []


@pytest.mark.parametrize(
    ("step", "path", "rule"),
    [
        ("Preprocess", "ProcessingResources.ClusterConfig.VolumeKmsKeyId", "kms-volume"),
        ("Tune", "TrainingJobDefinition.ResourceConfig.VolumeKmsKeyId", "kms-volume"),
        ("Evaluate", "ProcessingOutputConfig.KmsKeyId", "kms-output"),
        ("Tune", "TrainingJobDefinition.OutputDataConfig.KmsKeyId", "kms-output"),
        ("Preprocess", "NetworkConfig.VpcConfig", "vpc"),
        ("Tune", "TrainingJobDefinition.VpcConfig", "vpc"),
        ("Evaluate", "NetworkConfig.EnableNetworkIsolation", "network-isolation"),
        ("Tune", "TrainingJobDefinition.EnableNetworkIsolation", "network-isolation"),
        ("Preprocess", "NetworkConfig.EnableInterContainerTrafficEncryption", "inter-container-encryption"),
        ("Tune", "TrainingJobDefinition.EnableInterContainerTrafficEncryption", "inter-container-encryption"),
        ("Evaluate", "StoppingCondition.MaxRuntimeInSeconds", "max-runtime"),
        ("Tune", "TrainingJobDefinition.StoppingCondition.MaxRuntimeInSeconds", "max-runtime"),
    ],
)
def test_missing_control_is_an_error_naming_step_and_setting(step: str, path: str, rule: str) -> None:
    defn = good_definition()
    node = _step(defn, step)["Arguments"]
    *parents, leaf = path.split(".")
    for p in parents:
        node = node[p]
    del node[leaf]
    findings = lint_definition(defn)
    assert [(f.rule, f.severity, f.step, f.setting) for f in findings] == [
        (rule, "error", step, f"Arguments.{path}")]


@pytest.mark.parametrize("step", ["Preprocess", "Tune", "Evaluate"])
def test_an_untagged_job_is_an_error(step: str) -> None:
    defn = good_definition()
    _step(defn, step)["Arguments"]["Tags"] = []
    assert [(f.rule, f.severity, f.step, f.setting) for f in lint_definition(defn)] == [
        ("tags", "error", step, "Arguments.Tags")]
    del _step(defn, step)["Arguments"]["Tags"]
    assert [f.rule for f in lint_definition(defn)] == ["tags"]


def test_a_vpc_without_subnets_and_a_disabled_switch_are_flagged() -> None:
    defn = good_definition()
    args = _step(defn, "Preprocess")["Arguments"]
    args["NetworkConfig"]["VpcConfig"]["Subnets"] = []
    args["NetworkConfig"]["EnableNetworkIsolation"] = False
    found = {(f.rule, f.setting) for f in lint_definition(defn)}
    assert ("vpc", "Arguments.NetworkConfig.VpcConfig") in found
    assert ("network-isolation", "Arguments.NetworkConfig.EnableNetworkIsolation") in found
    message = next(f.message for f in lint_definition(defn) if f.rule == "vpc")
    assert "no subnets" in message and "security.subnets" in message


def test_a_plain_training_step_is_checked_like_the_tuner() -> None:
    defn = good_definition()
    tune = _step(defn, "Tune")
    train = {"Name": "Train", "Type": "Training", "Arguments": copy.deepcopy(
        {**tune["Arguments"]["TrainingJobDefinition"], "Tags": TAGS})}
    train["Arguments"]["HyperParameters"] = train["Arguments"].pop("StaticHyperParameters")
    del train["Arguments"]["ResourceConfig"]["VolumeKmsKeyId"]
    train["Arguments"]["EnableNetworkIsolation"] = False
    defn["Steps"][1] = train
    assert {(f.rule, f.setting) for f in lint_definition(defn)} == {
        ("kms-volume", "Arguments.ResourceConfig.VolumeKmsKeyId"),
        ("network-isolation", "Arguments.EnableNetworkIsolation")}


@pytest.mark.parametrize(
    ("where", "name", "value"),
    [
        ("env", "DB_PASSWORD", "hunter2"),
        ("env", "apiKey", "abc"),
        ("env", "AWS_SECRET_ACCESS_KEY", "whatever"),
        ("hp", "hf_token", "hf_abcdef"),
        ("env", "INNOCENT", "AKIAIOSFODNN7EXAMPLE"),
        ("env", "INNOCENT", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("hp", "cert", "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."),
    ],
)
def test_plaintext_secrets_are_errors(where: str, name: str, value: str) -> None:
    defn = good_definition()
    if where == "env":
        _step(defn, "Evaluate")["Arguments"]["Environment"][name] = value
        step = "Evaluate"
    else:
        _step(defn, "Tune")["Arguments"]["TrainingJobDefinition"]["StaticHyperParameters"][name] = value
        step = "Tune"
    findings = [f for f in lint_definition(defn) if f.rule == "plaintext-secret"]
    assert findings and all(f.severity == "error" and f.step == step for f in findings)
    assert "Secrets Manager" in findings[0].message


def test_secret_names_pointing_at_a_secret_store_and_ordinary_values_pass() -> None:
    defn = good_definition()
    env = _step(defn, "Evaluate")["Arguments"]["Environment"]
    env["DB_PASSWORD_SECRET_ARN"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["CODE_SHA"] = "0123456789abcdef0123456789abcdef01234567"  # 40 hex chars, not a secret key
    assert lint_definition(defn) == []


def test_secret_flag_in_container_arguments_is_an_error() -> None:
    defn = good_definition()
    _step(defn, "Preprocess")["Arguments"]["AppSpecification"]["ContainerArguments"] += [
        "--db-password", "hunter2"]
    [f] = lint_definition(defn)
    assert (f.rule, f.setting) == ("plaintext-secret", "Arguments.AppSpecification.ContainerArguments[4]")


@pytest.mark.parametrize(("field", "argv", "index"), [
    ("ContainerArguments", ["--db-password=hunter2"], 3),
    ("ContainerEntrypoint", ["python3", "run.py", "--api-key", "k-123"], 3),
    ("ContainerEntrypoint", ["python3", "run.py", "--token=abc"], 2),
])
def test_secret_flags_with_inline_values_or_in_the_entrypoint_are_errors(
        field: str, argv: list[str], index: int) -> None:
    defn = good_definition()
    app = _step(defn, "Preprocess")["Arguments"]["AppSpecification"]
    app[field] = [*app.get(field, []), *argv] if field == "ContainerArguments" else argv
    [f] = lint_definition(defn)
    assert (f.rule, f.setting) == ("plaintext-secret", f"Arguments.AppSpecification.{field}[{index}]")


def test_secret_flags_pointing_at_a_secret_store_pass() -> None:
    defn = good_definition()
    _step(defn, "Preprocess")["Arguments"]["AppSpecification"]["ContainerEntrypoint"] = [
        "python3", "run.py", "--db-password=arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
        "--token", "/prod/token"]
    assert lint_definition(defn) == []


def test_auto_approval_by_parameter_default_needs_the_config_to_say_so() -> None:
    defn = good_definition()
    defn["Parameters"][-1]["DefaultValue"] = "Approved"
    [f] = lint_definition(defn)
    assert (f.rule, f.severity, f.step) == ("auto-approval", "error", "RegisterModel")
    assert "approval.approval_status=Approved" in f.message and "--config" in f.message
    assert lint_definition(defn, load_config({"approval": {"approval_status": "Approved"}})) == []
    [f] = lint_definition(defn, load_config())
    assert f.rule == "auto-approval"


def test_literal_approved_status_is_an_error() -> None:
    defn = good_definition()
    _step(defn, "RegisterModel")["Arguments"]["ModelApprovalStatus"] = "Approved"
    assert _rules(lint_definition(defn)) == {("auto-approval", "error", "RegisterModel")}


@pytest.mark.parametrize("else_steps", [[], [{"Name": "Log", "Type": "Processing", "Arguments": {}}]])
def test_registration_condition_without_reject_branch_is_an_error(else_steps: list[Any]) -> None:
    defn = good_definition()
    defn["Steps"][-1]["Arguments"]["ElseSteps"] = else_steps
    found = [f for f in lint_definition(defn) if f.rule == "reject-branch"]
    assert [(f.severity, f.step, f.setting) for f in found] == [
        ("error", "CheckApproval", "Arguments.ElseSteps")]


@pytest.mark.parametrize("keep", ["RegisterRejected", "FailRejected"])
def test_either_reject_step_alone_is_a_reject_branch(keep: str) -> None:
    defn = good_definition()
    args = defn["Steps"][-1]["Arguments"]
    args["ElseSteps"] = [s for s in args["ElseSteps"] if s["Name"] == keep]
    assert lint_definition(defn) == []


def test_unguarded_registration_is_a_warning() -> None:
    defn = good_definition()
    cond = defn["Steps"].pop()
    defn["Steps"].append(cond["Arguments"]["IfSteps"][0])
    assert _rules(lint_definition(defn)) == {("reject-branch", "warning", "RegisterModel")}


def test_caching_rules() -> None:
    defn = good_definition()
    del _step(defn, "Tune")["Arguments"]["TrainingJobDefinition"]["StaticHyperParameters"]["seed"]
    _step(defn, "CheckApproval")["CacheConfig"] = {"Enabled": True, "ExpireAfter": "P1D"}
    _step(defn, "RegisterModel")["CacheConfig"] = {"Enabled": True, "ExpireAfter": "P1D"}
    assert _rules(lint_definition(defn)) == {
        ("cache", "warning", "Tune"), ("cache", "error", "CheckApproval"),
        ("cache", "error", "RegisterModel")}


def test_placeholder_security_values_are_errors() -> None:
    cfg = load_config()
    text = json.dumps(good_definition())
    text = text.replace(KEY, cfg.security.kms_key_id).replace(
        "subnet-0abc1234def567890", cfg.security.subnets[0]).replace(
        "sg-0abc1234def567890", cfg.security.security_group_ids[0])
    findings = lint_definition(text)
    assert findings and {f.rule for f in findings} == {"placeholder"}
    kms = [f for f in findings if "KMS key" in f.message]
    assert kms and "set security.kms_key_id" in kms[0].message
    assert any("set security.subnets" in f.message for f in findings)
    assert any("set security.security_group_ids" in f.message for f in findings)


def test_not_a_definition_raises() -> None:
    with pytest.raises(DefinitionError, match=r"not a SageMaker pipeline definition.*'Steps' list"):
        lint_definition({"steps": []})


# ---------------------------------------------------------------------------------------------
# command line


def test_cli_definition_file_exit_codes_and_json(tmp_path: Any, capsys: Any) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(good_definition()))
    assert main(["lint", "--definition", str(good)]) == 0
    assert "no findings" in capsys.readouterr().out

    bad_defn = good_definition()
    del _step(bad_defn, "Evaluate")["Arguments"]["StoppingCondition"]
    _step(bad_defn, "Tune")["CacheConfig"]["Enabled"] = True
    del _step(bad_defn, "Tune")["Arguments"]["TrainingJobDefinition"]["StaticHyperParameters"]["seed"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_defn))
    assert main(["lint", "--definition", str(bad), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {(d["rule"], d["severity"], d["step"]) for d in data} == {
        ("max-runtime", "error", "Evaluate"), ("cache", "warning", "Tune")}
    assert set(data[0]) == {"rule", "severity", "step", "setting", "message"}

    assert main(["lint", "--definition", str(bad)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("error: [max-runtime] Evaluate: Arguments.StoppingCondition")
    assert out[-1] == f"{bad}: 1 error(s), 1 warning(s)."


def test_cli_warnings_alone_exit_zero(tmp_path: Any, capsys: Any) -> None:
    defn = good_definition()
    del _step(defn, "Tune")["Arguments"]["TrainingJobDefinition"]["StaticHyperParameters"]["seed"]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(defn))
    assert main(["lint", "--definition", str(path)]) == 0
    assert "0 error(s), 1 warning(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "cannot read definition file .*missing.json"),
     ("{not json", "broken.json is not valid JSON"),
     ("[1, 2]", "broken.json is not a SageMaker pipeline definition")],
)
def test_cli_unreadable_or_invalid_file_exits_2_naming_it(tmp_path: Any, capsys: Any,
                                                          content: str | None, match: str) -> None:
    import re

    path = tmp_path / ("missing.json" if content is None else "broken.json")
    if content is not None:
        path.write_text(content)
    assert main(["lint", "--definition", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err) and "Traceback" not in err


def test_describe_pipeline_output_whole_or_queried_is_linted_by_its_definition(
        tmp_path: Any, capsys: Any) -> None:
    """What ``aws sagemaker describe-pipeline`` saves, with or without ``--query``."""
    bad = good_definition()
    del bad["Steps"][0]["Arguments"]["NetworkConfig"]["VpcConfig"]
    path = tmp_path / "described.json"
    path.write_text(json.dumps({"PipelineArn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/x",
                                "PipelineName": "x", "PipelineDefinition": json.dumps(bad)}))
    assert main(["lint", "--definition", str(path), "--json"]) == 1
    [finding] = json.loads(capsys.readouterr().out)
    assert (finding["rule"], finding["step"]) == ("vpc", "Preprocess")
    # `--query PipelineDefinition` with the AWS CLI's default JSON output: a JSON string
    path.write_text(json.dumps(json.dumps(bad)))
    assert main(["lint", "--definition", str(path), "--json"]) == 1
    assert [f["rule"] for f in json.loads(capsys.readouterr().out)] == ["vpc"]
    path.write_text(json.dumps({"PipelineName": "x", "PipelineDefinition": "{"}))
    assert main(["lint", "--definition", str(path)]) == 2
    assert "described.json's PipelineDefinition is not valid JSON" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# the real build_pipeline() output


def _real_config(tmp_path: Any, **extra: Any) -> Any:
    import yaml

    data = {"aws": {"region": "eu-west-1", "role_arn": ROLE},
            "security": {"kms_key_id": KEY, "subnets": ["subnet-0abc1234def567890"],
                         "security_group_ids": ["sg-0abc1234def567890"]}}
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    path = tmp_path / "trainguard.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_our_default_config_fails_on_placeholders_only(capsys: Any) -> None:
    assert main(["lint", "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    assert {f["rule"] for f in findings} == {"placeholder"}
    assert {f["step"] for f in findings} == {"Preprocess", "Tune", "Evaluate", "Baseline"}
    assert any("set security.kms_key_id" in f["message"] for f in findings)


def test_our_pipeline_with_real_values_passes_and_auto_approval_needs_the_config(
        tmp_path: Any, capsys: Any) -> None:
    from trainguard.pipelines.ci.aws import build_definition

    path = _real_config(tmp_path)
    assert main(["lint", "--config", str(path)]) == 0
    assert "no findings" in capsys.readouterr().out

    approved = _real_config(tmp_path, approval={"approval_status": "Approved"})
    assert main(["lint", "--config", str(approved)]) == 0  # the config asks for it
    capsys.readouterr()
    defn = tmp_path / "approved.json"
    defn.write_text(build_definition(load_config(approved)))
    assert main(["lint", "--definition", str(defn), "--json"]) == 1  # the JSON alone cannot tell
    [finding] = json.loads(capsys.readouterr().out)
    assert (finding["rule"], finding["step"]) == ("auto-approval", "RegisterModel")


def test_our_pipeline_without_isolation_is_flagged_on_every_job(tmp_path: Any, capsys: Any) -> None:
    path = _real_config(tmp_path, security={"allow_insecure": True, "network_isolation": False})
    assert main(["lint", "--config", str(path), "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    assert {(f["rule"], f["step"]) for f in findings} == {
        ("network-isolation", "Preprocess"), ("network-isolation", "Tune"),
        ("network-isolation", "Evaluate"), ("network-isolation", "Baseline")}


MALFORMED = [
    {"Steps": [1, "x", None]},
    {"Steps": [{"Name": "A", "Type": "Processing", "Arguments": "oops"}]},
    {"Steps": [{"Name": "A", "Type": "Processing", "Arguments": {"ProcessingInputs": ["x", {"S3Input": 3}],
                                                                 "NetworkConfig": [], "Environment": []}}]},
    {"Steps": [{"Name": "T", "Type": "Tuning", "Arguments": {"TrainingJobDefinition": "x",
                                                             "TrainingJobDefinitions": [1, {}]}}]},
    {"Steps": [{"Name": "C", "Type": "Condition", "Arguments": {"IfSteps": "x", "ElseSteps": [None]}}]},
    {"Steps": [{"Name": "R", "Type": "RegisterModel", "Arguments": {"ModelApprovalStatus": {"Get": 5}}}],
     "Parameters": {"not": "a list"}},
    {"Steps": [{"Type": "Training", "Arguments": {"StoppingCondition": {"MaxRuntimeInSeconds": "1h"},
                                                  "OutputDataConfig": {"S3OutputPath": {"Std:Join": 5}}}}]},
]


@pytest.mark.parametrize("defn", MALFORMED)
def test_malformed_definitions_give_findings_not_crashes(defn: dict[str, Any]) -> None:
    findings = lint_definition(defn)
    assert all(f.severity in ("error", "warning") for f in findings)


@pytest.mark.parametrize("extra", [{"tuning": {"enabled": False}},
                                   {"approval": {"on_reject": "fail"}},
                                   {"approval": {"on_reject": "register_rejected"}}])
def test_our_pipeline_variants_pass(tmp_path: Any, extra: dict[str, Any]) -> None:
    from trainguard.pipelines.ci.aws import build_definition

    defn = json.loads(build_definition(load_config(_real_config(tmp_path, **extra))))
    assert lint_definition(defn) == []
    if "tuning" in extra:
        assert "Training" in {s["Type"] for s in defn["Steps"]}


@pytest.mark.parametrize("identity", [
    {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    {"AWS_PROFILE": "not-configured-here", "AWS_ACCESS_KEY_ID": "half-a-pair"},
], ids=["ci-credentials", "broken-identity"])
def test_lint_of_a_config_needs_no_aws_identity_and_prints_no_sdk_log_lines(
        tmp_path: Any, identity: dict[str, str]) -> None:
    """lint makes no AWS call, so no AWS identity setting may break or clutter it.

    With CI's credentials in the environment, the SDK's root INFO logging used to put a dozen
    botocore lines ("Found credentials in environment variables.") on stderr; with a profile
    that is not configured, or half a key pair, the SDK's import-time boto3 client crashed the
    command with a botocore traceback.
    """
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") or k in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    env.update(identity, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    proc = subprocess.run([sys.executable, "-m", "trainguard.pipelines.cli", "lint", "--config",
                           str(_real_config(tmp_path))], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert "no findings" in proc.stdout


@pytest.mark.parametrize("check_type", ["QualityCheck", "ClarifyCheck"])
def test_check_steps_are_linted_as_the_processing_jobs_they_run(check_type: str) -> None:
    """A QualityCheck/ClarifyCheck step's Arguments are a CreateProcessingJob request."""
    defn = good_definition()
    check = copy.deepcopy(defn["Steps"][0])
    check.update(Name="Baseline", Type=check_type)
    check.pop("CacheConfig")
    args = check["Arguments"]
    del args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"]
    del args["NetworkConfig"]["VpcConfig"]
    defn["Steps"].append(check)
    found = {(f.rule, f.step, f.setting) for f in lint_definition(defn) if f.severity == "error"}
    assert found == {
        ("kms-volume", "Baseline", "Arguments.ProcessingResources.ClusterConfig.VolumeKmsKeyId"),
        ("vpc", "Baseline", "Arguments.NetworkConfig.VpcConfig")}


def test_definition_commands_load_neither_the_sdk_nor_boto3(tmp_path: Any) -> None:
    """lint/iam-policy --definition gate any pipeline's JSON with no AWS libraries loaded."""
    import subprocess
    import sys

    path = tmp_path / "d.json"
    path.write_text(json.dumps(good_definition()))
    code = ("import sys\n"
            "from trainguard.pipelines.cli import main\n"
            f"assert main(['lint', '--definition', {str(path)!r}]) == 0\n"
            f"assert main(['iam-policy', '--definition', {str(path)!r}, '--out', "
            f"{str(tmp_path / 'p.json')!r}]) == 0\n"
            "print(sorted(m for m in ('boto3', 'botocore', 'sagemaker') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("kind", ["Lambda", "Callback", "EMR", "NotebookJob"])
def test_a_step_with_egress_of_its_own_is_an_error(kind: str) -> None:
    """Only isolated jobs run code: results leave through trainguard ops, never from a step."""
    defn = good_definition()
    defn["Steps"].append({"Name": "Publish", "Type": kind, "Arguments": {"FunctionArn": "arn:aws:lambda:x"}})
    found = [f for f in lint_definition(defn) if f.rule == "egress"]
    assert [(f.step, f.severity) for f in found] == [("Publish", "error")]
    assert "outside the isolated jobs" in found[0].message
