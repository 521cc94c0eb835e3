"""Lint rules for what the service refuses though moto and local runs accept it: non-string values
in string-typed fields, a volume KMS key on instance-storage types, several train instances."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from test_lint import _step, good_definition
from trainguard.pipelines.ci.lint import lint_definition

FLOAT = {"Get": "Parameters.MinAuc"}


def _findings(defn: dict[str, Any], rule: str) -> list[Any]:
    return [f for f in lint_definition(defn) if f.rule == rule]


@pytest.mark.parametrize(("step", "field", "value", "why"), [
    ("Evaluate", "AppSpecification.ContainerArguments", ["--min-auc", FLOAT], "a Float parameter"),
    ("Evaluate", "AppSpecification.ContainerEntrypoint", ["python3", {"Get": "Parameters.Count"}],
     "a Integer parameter"),
    ("Preprocess", "Environment", {"STRICT": {"Get": "Parameters.Strict"}}, "a Boolean parameter"),
    ("Tune", "TrainingJobDefinition.StaticHyperParameters", {"eta": 0.1}, "the literal 0.1"),
    ("Tune", "TrainingJobDefinition.Environment", {"X": {"Get": "Parameters.Nope"}}, "undeclared parameter"),
    ("Evaluate", "AppSpecification.ContainerArguments",
     ["--best", {"Get": "Steps.Tune.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value"}],
     "(float)"),
    ("Evaluate", "AppSpecification.ContainerArguments",
     ["--auc", {"Std:JsonGet": {"PropertyFile": "x", "Path": "a"}}], "Std:JsonGet expression"),
    ("Evaluate", "AppSpecification.ContainerArguments", ["--t", {"Get": "Execution.StartDateTime"}],
     "execution variable"),
])
def test_non_string_values_in_string_fields_are_errors(step: str, field: str, value: Any, why: str) -> None:
    defn = good_definition()
    defn["Parameters"] += [{"Name": "Count", "Type": "Integer", "DefaultValue": 1},
                           {"Name": "Strict", "Type": "Boolean", "DefaultValue": True}]
    node = _step(defn, step)["Arguments"]
    *parents, leaf = field.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    found = _findings(defn, "string-field")
    assert len(found) == 1, found
    f = found[0]
    assert f.step == step and f.severity == "error" and f.setting.startswith(f"Arguments.{field}")
    assert why in f.message and "to_string()" in f.message and "Cannot assign property reference" in f.message


def test_strings_joins_string_parameters_and_string_properties_pass() -> None:
    defn = good_definition()
    args = _step(defn, "Evaluate")["Arguments"]
    args["AppSpecification"]["ContainerArguments"] = [
        "--min-auc", {"Std:Join": {"On": "", "Values": [FLOAT]}},
        "--data", {"Get": "Parameters.InputDataUri"},
        "--run", {"Get": "Execution.PipelineExecutionId"},
        "--job", {"Get": "Steps.Tune.BestTrainingJob.TrainingJobName"},
        "--train", {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}]
    assert _findings(defn, "string-field") == []


def test_the_bare_float_parameter_form_our_old_builder_emitted_is_caught() -> None:
    from pathlib import Path

    golden = Path(__file__).with_name("golden") / "definition.json"
    defn = json.loads(golden.read_text())
    args = _step(defn, "Evaluate")["Arguments"]["AppSpecification"]["ContainerArguments"]
    i = args.index("--min-auc") + 1
    assert _findings(defn, "string-field") == []
    args[i] = copy.deepcopy(args[i]["Std:Join"]["Values"][0])  # back to the bare Get
    found = _findings(defn, "string-field")
    assert [f.setting for f in found] == [f"Arguments.AppSpecification.ContainerArguments[{i}]"]


@pytest.mark.parametrize(("where", "instance_type", "flagged"), [
    ("parameter", "ml.g4dn.xlarge", True), ("parameter", "ml.m5d.large", True),
    ("parameter", "ml.m5.xlarge", False), ("literal", "ml.p3dn.24xlarge", True),
])
def test_a_volume_key_on_an_instance_storage_type_is_an_error(where: str, instance_type: str,
                                                               flagged: bool) -> None:
    defn = good_definition()
    if where == "parameter":
        next(p for p in defn["Parameters"] if p["Name"] == "ProcessingInstanceType")["DefaultValue"] = instance_type
        step, path = "Preprocess", "Arguments.ProcessingResources.ClusterConfig.InstanceType"
    else:
        _step(defn, "Tune")["Arguments"]["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] = instance_type
        step, path = "Tune", "Arguments.TrainingJobDefinition.ResourceConfig.InstanceType"
    found = [f for f in _findings(defn, "kms-instance-storage") if f.step == step]
    assert bool(found) == flagged
    if flagged:
        assert found[0].setting == path and "refuses VolumeKmsKeyId" in found[0].message
        assert "ml.m5.xlarge" in found[0].message  # what to pass instead
        if where == "parameter":
            assert "parameter ProcessingInstanceType" in found[0].message


def test_without_a_volume_key_an_instance_storage_type_passes_this_rule() -> None:
    defn = good_definition()
    resources = _step(defn, "Tune")["Arguments"]["TrainingJobDefinition"]["ResourceConfig"]
    resources["InstanceType"] = "ml.g5.xlarge"
    del resources["VolumeKmsKeyId"]
    assert _findings(defn, "kms-instance-storage") == []


@pytest.mark.parametrize(("count", "flagged"), [(1, False), (2, True), ({"Get": "Parameters.Count"}, True)])
def test_our_train_job_on_several_instances_is_an_error(count: Any, flagged: bool) -> None:
    defn = good_definition()
    defn["Parameters"].append({"Name": "Count", "Type": "Integer", "DefaultValue": 3})
    job = _step(defn, "Tune")["Arguments"]["TrainingJobDefinition"]
    job["StaticHyperParameters"].update({"sagemaker_program": "entry.py", "objective_metric": "auc"})
    job["ResourceConfig"]["InstanceCount"] = count
    found = _findings(defn, "instance-count")
    assert bool(found) == flagged
    if flagged:
        assert "whole cross-validation" in found[0].message and "aws.training_instance_count=1" in found[0].message


def test_another_pipelines_distributed_training_is_not_our_business() -> None:
    defn = good_definition()
    _step(defn, "Tune")["Arguments"]["TrainingJobDefinition"]["ResourceConfig"]["InstanceCount"] = 4
    assert _findings(defn, "instance-count") == []
