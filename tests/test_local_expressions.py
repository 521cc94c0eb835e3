"""Expressions and conditions of the local runner: Get, Std:Join, Std:JsonGet, every condition type."""

from __future__ import annotations

import pytest
from trainguard.pipelines.local.errors import DefinitionError
from trainguard.pipelines.local.expressions import Expressions, parse_path, step_references


@pytest.fixture()
def ex() -> Expressions:
    e = Expressions({"MinAuc": 0.8, "Bucket": "b", "Status": "Approved"},
                    {"PipelineExecutionId": "local-abc"})
    e.steps["Pre"] = {"ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}},
        {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/test"}}]}}
    e.steps["Tune"] = {"TrainingJobSummaries": [{"TrainingJobName": "best"}, {"TrainingJobName": "second"}]}
    e.property_files["Eval"] = {"EvaluationReport": {
        "binary_classification_metrics": {"auc": {"value": 0.9}, "recall": {"value": 0.4}},
        "list": [{"x": 1}, {"x": 2}]}}
    return e


def test_parse_path_reads_names_indexes_and_quoted_keys() -> None:
    assert parse_path("Steps.Pre.Outputs['train'].S3Output[0]") == ["Steps", "Pre", "Outputs", "train", "S3Output", 0]
    with pytest.raises(DefinitionError, match="cannot read the property path"):
        parse_path("Steps.Pre.$bad")


def test_get_resolves_parameters_execution_and_named_list_members(ex: Expressions) -> None:
    assert ex.resolve({"Get": "Parameters.MinAuc"}) == 0.8
    assert ex.resolve({"Get": "Execution.PipelineExecutionId"}) == "local-abc"
    uri = ex.resolve({"Get": "Steps.Pre.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"})
    assert uri == "s3://b/test"
    assert ex.resolve([{"Get": "Steps.Tune.TrainingJobSummaries[1].TrainingJobName"}]) == ["second"]


def test_unknown_references_name_what_is_missing(ex: Expressions) -> None:
    with pytest.raises(DefinitionError, match="undeclared parameter 'Nope'"):
        ex.resolve({"Get": "Parameters.Nope"})
    with pytest.raises(DefinitionError, match="step Other has not run"):
        ex.resolve({"Get": "Steps.Other.X"})
    with pytest.raises(DefinitionError, match="no member named 'valid'"):
        ex.resolve({"Get": "Steps.Pre.ProcessingOutputConfig.Outputs['valid'].S3Output.S3Uri"})
    with pytest.raises(DefinitionError, match="unknown execution variable"):
        ex.resolve({"Get": "Execution.Nope"})


def test_join_builds_the_top_model_uri_like_get_top_model_s3_uri(ex: Expressions) -> None:
    join = {"Std:Join": {"On": "/", "Values": [
        "s3:/", {"Get": "Parameters.Bucket"}, "prefix",
        {"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}, "output/model.tar.gz"]}}
    assert ex.resolve(join) == "s3://b/prefix/best/output/model.tar.gz"
    assert ex.resolve({"Std:Join": {"On": "-", "Values": [1, True, 0.5]}}) == "1-true-0.5"


def test_json_get_reads_the_property_file(ex: Expressions) -> None:
    get = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvaluationReport"},
                           "Path": "binary_classification_metrics.auc.value"}}
    assert ex.resolve(get) == 0.9
    get["Std:JsonGet"]["Path"] = "list[1].x"
    assert ex.resolve(get) == 2
    get["Std:JsonGet"]["Path"] = "binary_classification_metrics.f1.value"
    with pytest.raises(DefinitionError, match="'f1' is not there"):
        ex.resolve(get)


def test_json_get_on_an_s3_uri_reads_through_the_store() -> None:
    docs = {"s3://b/run-1/report.json": {"a": {"b": [5, 6]}}}
    e = Expressions({"Run": "run-1"}, {}, read_json=docs.__getitem__)
    get = {"Std:JsonGet": {"S3Uri": {"Std:Join": {"On": "/", "Values": ["s3://b", {"Get": "Parameters.Run"},
                                                                      "report.json"]}}, "Path": "a.b[1]"}}
    assert e.resolve(get) == 6
    with pytest.raises(DefinitionError, match="needs a PropertyFile or an S3Uri"):
        Expressions({}, {}).resolve({"Std:JsonGet": {"S3Uri": "s3://b/x", "Path": "a"}})


def _auc(op: str, right: object) -> dict:
    return {"Type": op, "LeftValue": {"Std:JsonGet": {
        "PropertyFile": {"Get": "Steps.Eval.PropertyFiles.EvaluationReport"},
        "Path": "binary_classification_metrics.auc.value"}}, "RightValue": right}


@pytest.mark.parametrize(("op", "right", "expected"), [
    ("GreaterThanOrEqualTo", {"Get": "Parameters.MinAuc"}, True),
    ("GreaterThanOrEqualTo", 0.9, True),
    ("GreaterThan", 0.9, False),
    ("LessThanOrEqualTo", 0.9, True),
    ("LessThan", 0.9, False),
    ("Equals", 0.9, True),
    ("Equals", 0.91, False),
])
def test_comparisons(ex: Expressions, op: str, right: object, expected: bool) -> None:
    assert ex.condition(_auc(op, right)) is expected


def test_not_or_in_and_the_all_of_a_condition_list(ex: Expressions) -> None:
    low = _auc("LessThan", 0.5)
    high = _auc("GreaterThan", 0.5)
    assert ex.condition({"Type": "Not", "Condition": low}) is True
    assert ex.condition({"Type": "Or", "Conditions": [low, high]}) is True
    assert ex.condition({"Type": "Or", "Conditions": [low, low]}) is False
    assert ex.condition({"Type": "In", "QueryValue": {"Get": "Parameters.Status"},
                         "Values": ["Rejected", "Approved"]}) is True
    assert ex.condition({"Type": "In", "QueryValue": "x", "Values": ["y"]}) is False
    assert ex.all_conditions([high, high]) is True
    assert ex.all_conditions([high, low]) is False


def test_condition_errors_are_clear(ex: Expressions) -> None:
    with pytest.raises(DefinitionError, match="unknown condition type 'Between'"):
        ex.condition({"Type": "Between"})
    with pytest.raises(DefinitionError, match="not a number"):
        ex.condition({"Type": "GreaterThan", "LeftValue": "abc", "RightValue": 1})


def test_step_references_finds_gets_at_any_depth() -> None:
    args = {"A": [{"B": {"Get": "Steps.Pre.X['y'].Z"}}, {"Get": "Parameters.P"}],
            "C": {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.R"}, "Path": "a"}}}
    assert step_references(args) == {"Pre", "Eval"}


def test_to_string_of_a_float_parameter_gives_the_text_the_job_parses() -> None:
    """``to_string()`` (a one-value Std:Join) is how a Float parameter reaches ContainerArguments;
    the service hands the job the number as text, and so does the runner."""
    e = Expressions({"MinAuc": 0.75, "ChampionBar": 0.0, "Gap": 1e-05}, {})
    args = ["--min-auc", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.MinAuc"}]}},
            "--champion-bar", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.ChampionBar"}]}},
            "--gap", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Gap"}]}}]
    resolved = e.resolve(args)
    assert resolved == ["--min-auc", "0.75", "--champion-bar", "0.0", "--gap", "1e-05"]
    assert all(isinstance(a, str) for a in resolved)
    assert [float(v) for v in resolved[1::2]] == [0.75, 0.0, 1e-05]
