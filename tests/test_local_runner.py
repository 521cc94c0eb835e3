"""run_definition on a hand-built definition shaped like the builders' (real trainguard.training.jobs, tiny data).

Covers parameters and overrides, the tuning emulation (trials, best job, top-model URI), property
files and the condition, both branches with registration, a Fail step, unsupported steps refused
before anything runs, caching and resuming after a failure, job isolation, and bad data (exit 2).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trainguard.pipelines.bundle import build_bundle
from trainguard.pipelines.definition import resolve_parameters
from trainguard.pipelines.local import DefinitionError, UnsupportedStepError, run_definition
from trainguard.pipelines.registry import open_registry
from trainguard.training.errors import ConfigError
from trainguard.training.jobs import METRIC_DEFINITIONS, run_job

SH = 'set -e; tar -xzf /opt/ml/processing/input/code/sourcedir.tar.gz; exec python3 -m trainguard.training.jobs "$@"'
CODE = f"s3://bkt/tg/code/{build_bundle().sha256}/sourcedir.tar.gz"  # the local build's bundle


def _to_string(parameter: str) -> dict:
    """A parameter in a string-typed field, as the SDK's ``to_string()`` writes it."""
    return {"Std:Join": {"On": "", "Values": [{"Get": f"Parameters.{parameter}"}]}}


def _run_uri(*parts: str) -> dict[str, Any]:
    return {"Std:Join": {"On": "/", "Values": ["s3://bkt/tg/runs", {"Get": "Execution.PipelineExecutionId"}, *parts]}}


def _processing(name: str, kind: str, inputs: list[tuple[str, Any, str]], outputs: list[tuple[str, str, Any]],
                args: list[Any]) -> dict[str, Any]:
    return {"Name": name, "Type": "Processing", "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
            "Arguments": {
                "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                                                          "VolumeSizeInGB": 30}},
                "AppSpecification": {"ImageUri": "img",
                                     "ContainerEntrypoint": ["/bin/sh", "-c", SH, "trainguard.training.jobs", kind],
                                     "ContainerArguments": args},
                "RoleArn": "arn:aws:iam::111122223333:role/r",
                "ProcessingInputs": [{"InputName": n, "AppManaged": False, "S3Input": {
                    "S3Uri": uri, "LocalPath": lp, "S3DataType": "S3Prefix", "S3InputMode": "File"}}
                    for n, uri, lp in [*inputs, ("code", CODE, "/opt/ml/processing/input/code")]],
                "ProcessingOutputConfig": {"Outputs": [{"OutputName": n, "AppManaged": False, "S3Output": {
                    "S3Uri": uri, "LocalPath": lp, "S3UploadMode": "EndOfJob"}} for n, lp, uri in outputs]}}}


def make_definition(*, max_jobs: int = 3, early: str = "Off", tuning: bool = True) -> dict[str, Any]:
    """Preprocess → Tune → Evaluate → CheckApproval → RegisterModel | RegisterRejected + FailRejected."""
    params = [{"Name": "InputDataUri", "Type": "String", "DefaultValue": "s3://bkt/tg/data/in.csv"},
              {"Name": "MinAuc", "Type": "Float", "DefaultValue": 0.6},
              {"Name": "MinRecall", "Type": "Float", "DefaultValue": 0.0},
              {"Name": "ChampionBar", "Type": "Float", "DefaultValue": 0.0},
              {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"}]
    data_in = ("data", {"Get": "Parameters.InputDataUri"}, "/opt/ml/processing/input/data")
    pre = _processing("Preprocess", "preprocess", [data_in],
                      [("train", "/opt/ml/processing/train", _run_uri("preprocess", "train")),
                       ("test", "/opt/ml/processing/test", _run_uri("preprocess", "test"))],
                      ["--target", "label", "--seed", "7", "--folds", "2", "--test-size", "0.25"])
    static = {"target": "label", "seed": "7", "folds": "2", "resampler": "smote", "k_neighbors": "3",
              "num_round": "20", "early_stopping_rounds": "5", "validation_fraction": "0.2", "nthread": "1",
              "objective_metric": "auc", "sagemaker_program": "entry.py",
              "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz"}
    tune = {"Name": "Tune", "Type": "Tuning", "Arguments": {
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random", "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "cv:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5", "ScalingType": "Logarithmic"}],
                "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "3",
                                            "ScalingType": "Linear"}],
                "CategoricalParameterRanges": []},
            "TrainingJobEarlyStoppingType": early},
        "TrainingJobDefinition": {
            "StaticHyperParameters": static,
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File",
                                       "MetricDefinitions": METRIC_DEFINITIONS},
            "RoleArn": "arn:aws:iam::111122223333:role/r",
            "InputDataConfig": [
                {"ChannelName": "train", "ContentType": "application/x-parquet",
                 "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": {
                     "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}}}},
                {"ChannelName": "code", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": CODE}}}],
            "OutputDataConfig": {"S3OutputPath": _run_uri("models")},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}}}
    model_uri: dict[str, Any] = {"Std:Join": {"On": "/", "Values": [
        "s3://bkt/tg/runs", {"Get": "Execution.PipelineExecutionId"}, "models",
        {"Get": "Steps.Tune.BestTrainingJob.TrainingJobName"}, "output", "model.tar.gz"]}}
    if not tuning:  # one training job with fixed hyperparameters instead of the tuner
        job = dict(tune["Arguments"]["TrainingJobDefinition"])
        job["HyperParameters"] = {**job.pop("StaticHyperParameters"), "eta": "0.2", "max_depth": "2"}
        tune = {"Name": "Train", "Type": "Training", "Arguments": job,
                "CacheConfig": {"Enabled": True, "ExpireAfter": "P1D"}}
        model_uri = {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    ev = _processing("Evaluate", "evaluate", [
        ("model", model_uri, "/opt/ml/processing/model"),
        ("test", {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"},
         "/opt/ml/processing/test")],
        [("evaluation", "/opt/ml/processing/evaluation", _run_uri("evaluation"))],
        ["--target", "label", "--min-auc", _to_string("MinAuc"),
         "--min-recall", _to_string("MinRecall"),
         "--max-overfit-gap", "1.0", "--champion-bar", _to_string("ChampionBar")])
    ev["PropertyFiles"] = [{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
                            "FilePath": "evaluation.json"}]
    report = {"Std:Join": {"On": "/", "Values": [
        {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"}, "evaluation.json"]}}

    def register(name: str, status: Any) -> dict[str, Any]:
        return {"Name": name, "Type": "RegisterModel", "Arguments": {
            "ModelPackageGroupName": "tg-models", "ModelApprovalStatus": status,
            "InferenceSpecification": {"Containers": [{"Image": "img", "ModelDataUrl": model_uri}],
                                       "SupportedContentTypes": ["text/csv"],
                                       "SupportedResponseMIMETypes": ["text/csv"]},
            "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": report}}}}}

    def json_get(path: str) -> dict[str, Any]:
        return {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}, "Path": path}}

    check = {"Name": "CheckApproval", "Type": "Condition", "Arguments": {
        "Conditions": [
            {"Type": "GreaterThanOrEqualTo", "LeftValue": json_get("binary_classification_metrics.auc.value"),
             "RightValue": {"Get": "Parameters.MinAuc"}},
            {"Type": "GreaterThanOrEqualTo", "LeftValue": json_get("binary_classification_metrics.recall.value"),
             "RightValue": {"Get": "Parameters.MinRecall"}},
            {"Type": "GreaterThanOrEqualTo", "LeftValue": json_get("binary_classification_metrics.auc.value"),
             "RightValue": {"Get": "Parameters.ChampionBar"}}],
        "IfSteps": [register("RegisterModel", {"Get": "Parameters.ModelApprovalStatus"}),
                    {"Name": "CreateModel", "Type": "Model", "Arguments": {
                        "ExecutionRoleArn": "arn:aws:iam::111122223333:role/r",
                        "PrimaryContainer": {"Image": "img", "ModelDataUrl": model_uri}}}],
        "ElseSteps": [register("RegisterRejected", "Rejected"),
                      {"Name": "FailRejected", "Type": "Fail", "DependsOn": ["RegisterRejected"], "Arguments": {
                          "ErrorMessage": {"Std:Join": {"On": " ", "Values": [
                              "rejected: auc", json_get("binary_classification_metrics.auc.value")]}}}}]}}
    return {"Version": "2020-12-01", "Metadata": {}, "Parameters": params, "Steps": [pre, tune, ev, check]}


def write_data(path: Path, n: int = 240, seed: int = 0, separable: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    X = rng.normal(size=(n, 4))
    if separable:
        X[:, 0] += 2.5 * y
    rows = [",".join(f"{v:.4f}" for v in row) + f",{lab}" for row, lab in zip(X, y, strict=True)]
    lines = ["f0,f1,f2,f3,label", *rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    write_data(tmp_path / "run" / "s3" / "bkt" / "tg" / "data" / "in.csv")
    return tmp_path / "run"


class CountingJobs:
    """Wraps the real run_job, recording each call and checking os.environ is never touched."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, kind: str, argv: list[str], env: dict[str, str], on_metric: Any = None) -> None:
        before = dict(os.environ)
        self.calls.append(kind)
        try:
            run_job(kind, argv, env, on_metric)
        finally:
            assert dict(os.environ) == before


def test_full_run_approves_registers_and_exposes_trials(workdir: Path) -> None:
    jobs = CountingJobs()
    registry = open_registry(workdir / "reg.db")
    events: list[tuple[str, dict[str, Any]]] = []
    out = run_definition(make_definition(), workdir, run_job=jobs, registry=registry,
                         on_event=lambda event, **data: events.append((event, data)))
    assert out.status == "Succeeded", out.failure
    assert [s.status for s in out.steps] == ["Succeeded"] * 6 + ["Skipped", "Skipped"]
    # progress events: each trial starts knowing its folds, then one event per fold
    bar = [(e, d["trial"], d.get("fold"), d["folds"]) for e, d in events if e in ("trial_start", "fold")]
    assert bar == [(e, t, f, 2) for t in (1, 2, 3) for e, f in (("trial_start", None), ("fold", 1), ("fold", 2))]
    assert [s.name for s in out.steps if s.status == "Skipped"] == ["RegisterRejected", "FailRejected"]
    assert jobs.calls == ["preprocess", "train", "train", "train", "evaluate"]
    # tuning: three trials, the best by cv:auc is BestTrainingJob and the evaluated model
    assert len(out.trials) == 3 and all(t["status"] == "Completed" for t in out.trials)
    best = max(out.trials, key=lambda t: t["objective"])
    tune = out.properties["Tune"]
    assert tune["BestTrainingJob"]["TrainingJobName"] == best["name"]
    assert tune["TrainingJobSummaries"][0]["TrainingJobName"] == best["name"]
    model = f"s3://bkt/tg/runs/{out.execution_id}/models/{best['name']}/output/model.tar.gz"
    assert (workdir / "s3" / model[5:]).is_file()
    # evaluation.json reached the property file and the store
    evaluation = out.property_files["Evaluate"]["EvaluationReport"]
    assert evaluation["decision"]["approved"] is True
    assert (workdir / "s3" / f"bkt/tg/runs/{out.execution_id}/evaluation/evaluation.json").is_file()
    # one registry row, pending (the parameter's default), with metrics and lineage
    [pkg] = registry.list("tg-models")
    assert pkg.status == "PendingManualApproval" and pkg.model_uri == model
    assert pkg.metrics["auc"] == pytest.approx(evaluation["binary_classification_metrics"]["auc"]["value"])
    assert pkg.lineage["execution_id"] == out.execution_id
    assert out.registered == [{"group": "tg-models", "version": 1, "status": "PendingManualApproval",
                               "arn": "arn:aws:sagemaker:local:000000000000:model-package/tg-models/1"}]
    # every job had its own /opt/ml folder, hyperparameters.json all strings
    log = (workdir / "jobs" / best["name"] / "output" / "job.log").read_text()
    assert f"trainguard-metric cv:auc={best['objective']:.6f}" in log  # the job's output, kept per job
    hp = json.loads((workdir / "jobs" / best["name"] / "input" / "config" / "hyperparameters.json").read_text())
    assert all(isinstance(v, str) for v in hp.values()) and hp["folds"] == "2"
    # and the channels' settings as SageMaker writes them, the train split's content type included
    config = json.loads((workdir / "jobs" / best["name"] / "input" / "config" / "inputdataconfig.json").read_text())
    assert config["train"] == {"ContentType": "application/x-parquet", "TrainingInputMode": "File",
                               "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
    assert "ContentType" not in config["code"]
    assert sorted(p.name for p in (workdir / "jobs" / best["name"] / "input" / "data" / "train").iterdir()) == [
        "columns.json", "train.parquet"]


def test_overridden_parameters_take_the_else_branch_register_rejected_and_fail(workdir: Path) -> None:
    registry = open_registry(workdir / "reg.db")
    out = run_definition(make_definition(max_jobs=1), workdir, run_job=run_job, registry=registry,
                         parameters={"MinAuc": "0.999", "ModelApprovalStatus": "Approved"})
    assert out.parameters["MinAuc"] == 0.999
    assert out.status == "Failed" and out.exit_code == 1
    assert out.step("CheckApproval").status == "Succeeded"
    assert out.properties["CheckApproval"]["Outcome"] is False
    assert out.step("RegisterModel").status == "Skipped" and out.step("CreateModel").status == "Skipped"
    assert out.step("RegisterRejected").status == "Succeeded"
    fail = out.step("FailRejected")
    assert fail.status == "Failed" and fail.message.startswith("rejected: auc 0.")
    assert out.failure.startswith("FailRejected: rejected: auc")
    [pkg] = registry.list("tg-models")
    assert pkg.status == "Rejected"
    assert pkg.evaluation["decision"]["approved"] is False


def test_a_training_step_instead_of_tuning_and_a_model_step(workdir: Path) -> None:
    jobs = CountingJobs()
    events: list[tuple[str, dict[str, Any]]] = []
    out = run_definition(make_definition(tuning=False), workdir, run_job=jobs,
                         registry=open_registry(workdir / "reg.db"),
                         on_event=lambda event, **data: events.append((event, data)))
    assert out.status == "Succeeded", out.failure
    # the progress bar covers the single job's folds too: one trial of one, fold 1 and 2 of 2
    bar = [(e, d["trial"], d["total"], d.get("fold"), d["folds"]) for e, d in events if d.get("step") == "Train"
           and e in ("trial_start", "fold")]
    assert bar == [("trial_start", 1, 1, None, 2), ("fold", 1, 1, 1, 2), ("fold", 1, 1, 2, 2)]
    assert jobs.calls == ["preprocess", "train", "evaluate"] and out.trials == []
    train = out.properties["Train"]
    model = train["ModelArtifacts"]["S3ModelArtifacts"]
    assert model == f"s3://bkt/tg/runs/{out.execution_id}/models/{train['TrainingJobName']}/output/model.tar.gz"
    metrics = {m["MetricName"]: m["Value"] for m in train["FinalMetricDataList"]}
    assert 0.5 < metrics["cv:auc"] <= 1.0 and "train:auc" in metrics
    assert out.properties["CreateModel"]["PrimaryContainer"]["ModelDataUrl"] == model
    assert out.properties["CreateModel"]["ModelName"].startswith("createmodel-local-")


def test_bad_data_fails_the_first_step_with_exit_2_and_nothing_after(workdir: Path) -> None:
    data = workdir / "s3" / "bkt" / "tg" / "data" / "in.csv"
    data.write_text(data.read_text().replace(",0\n", ",maybe\n", 1))
    registry = open_registry(workdir / "reg.db")
    out = run_definition(make_definition(), workdir, run_job=run_job, registry=registry)
    assert out.status == "Failed" and out.exit_code == 2
    pre = out.step("Preprocess")
    assert pre.status == "Failed" and "label" in pre.message
    # the file is named by its container path, as on SageMaker, not by the job's local folder
    assert pre.message.startswith("/opt/ml/processing/input/data/in.csv: ") and str(workdir) not in pre.message
    assert {s.status for s in out.steps[1:]} <= {"NotRun", "Skipped"}
    assert out.step("Tune").status == "NotRun"
    assert registry.list() == []
    assert not list((workdir / "s3").rglob("evaluation.json"))


def test_missing_input_data_is_bad_input(workdir: Path) -> None:
    out = run_definition(make_definition(), workdir, run_job=run_job, registry=open_registry(workdir / "r.db"),
                         parameters={"InputDataUri": "s3://bkt/nowhere/x.csv"})
    assert out.exit_code == 2
    assert "holds no objects" in out.step("Preprocess").message


def test_unsupported_steps_are_refused_before_anything_runs(workdir: Path) -> None:
    jobs = CountingJobs()
    d = make_definition()
    d["Steps"].append({"Name": "Notify", "Type": "Lambda", "Arguments": {}})
    with pytest.raises(UnsupportedStepError, match="step Notify has type 'Lambda'"):
        run_definition(d, workdir, run_job=jobs)
    d = make_definition()
    d["Steps"][0]["Arguments"]["AppSpecification"]["ContainerEntrypoint"] = ["python3", "/opt/ml/code/other.py"]
    with pytest.raises(UnsupportedStepError, match=r"step Preprocess runs 'python3 /opt/ml/code/other\.py"):
        run_definition(d, workdir, run_job=jobs)
    d = make_definition()
    d["Steps"][1]["Arguments"]["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_program"] = "x.py"
    with pytest.raises(UnsupportedStepError, match=r"step Tune runs script 'x\.py'"):
        run_definition(d, workdir, run_job=jobs)
    d = make_definition()
    d["Steps"][1]["Arguments"]["HyperParameterTuningJobConfig"]["Strategy"] = "Hyperband"
    with pytest.raises(UnsupportedStepError, match=r"step Tune: tuning strategy 'Hyperband' is not emulated"):
        run_definition(d, workdir, run_job=jobs)
    d = make_definition()
    d["Steps"][1]["Arguments"]["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"][
        "MetricName"] = "validation:auc"
    with pytest.raises(DefinitionError, match=r"step Tune: the objective metric 'validation:auc' has no Metric"):
        run_definition(d, workdir, run_job=jobs)
    d = make_definition()
    d["Steps"][3]["Arguments"]["Conditions"].append({"Type": "Not", "Condition": {"Type": "Between"}})
    with pytest.raises(DefinitionError, match=r"step CheckApproval: unknown condition type 'Between'"):
        run_definition(d, workdir, run_job=jobs)
    assert jobs.calls == []
    assert not (workdir / "jobs").exists()


def test_a_stale_code_bundle_is_refused_before_anything_runs(workdir: Path) -> None:
    jobs = CountingJobs()
    with pytest.raises(DefinitionError, match="built from other code"):
        run_definition(make_definition(), workdir, run_job=jobs, code_sha="b" * 64)
    # by default the definition's bundle must be the one built from the installed code
    other = json.loads(json.dumps(make_definition()).replace(build_bundle().sha256, "c" * 64))
    with pytest.raises(DefinitionError, match=r"step Preprocess runs code bundle cccccccccccc…, but the local build"):
        run_definition(other, workdir, run_job=jobs)
    assert jobs.calls == []


def test_cache_reuses_outputs_and_a_rerun_after_failure_resumes(workdir: Path) -> None:
    registry = open_registry(workdir / "reg.db")
    calls: list[str] = []

    def broken_evaluate(kind: str, argv: list[str], env: dict[str, str], on_metric: Any = None) -> None:
        calls.append(kind)
        if kind == "evaluate":
            raise RuntimeError("disk full")
        run_job(kind, argv, env, on_metric)

    d = make_definition(max_jobs=1)
    d["Steps"][1]["CacheConfig"] = {"Enabled": True, "ExpireAfter": "PT1H"}
    first = run_definition(d, workdir, run_job=broken_evaluate, registry=registry)
    assert first.status == "Failed" and first.exit_code == 1
    assert first.step("Evaluate").message == "RuntimeError: disk full"
    assert first.step("CheckApproval").status == "NotRun"
    assert registry.list() == []
    assert calls == ["preprocess", "train", "evaluate"]
    calls.clear()
    second = run_definition(d, workdir, run_job=_recording(calls), registry=registry)
    assert second.status == "Succeeded", second.failure
    assert second.execution_id == first.execution_id
    assert [s.name for s in second.steps if s.cached] == ["Preprocess", "Tune"]
    assert calls == ["evaluate"]
    assert second.trials == first.trials  # the cached tuning result still exposes its trials
    # changing the input data invalidates the preprocess cache entry
    calls.clear()
    write_data(workdir / "s3" / "bkt" / "tg" / "data" / "in.csv", seed=1)
    third = run_definition(d, workdir, run_job=_recording(calls), registry=registry, use_cache=True)
    assert not third.step("Preprocess").cached and calls[0] == "preprocess"
    assert third.execution_id != first.execution_id  # new data: new run folder, old outputs kept
    assert (workdir / "s3" / "bkt" / "tg" / "runs" / first.execution_id / "evaluation").is_dir()


def test_a_rerun_of_an_uncached_tuning_step_still_reuses_evaluate(workdir: Path) -> None:
    """The builder does not cache Tune; its seeded trials give the same model bytes, so Evaluate hits."""
    d = make_definition(max_jobs=1)
    assert "CacheConfig" not in d["Steps"][1]
    first = run_definition(d, workdir, run_job=run_job, registry=open_registry(workdir / "reg.db"))
    assert first.status == "Succeeded", first.failure
    calls: list[str] = []
    second = run_definition(d, workdir, run_job=_recording(calls), registry=open_registry(workdir / "reg.db"))
    assert second.status == "Succeeded", second.failure
    assert calls == ["train"]
    assert [s.name for s in second.steps if s.cached] == ["Preprocess", "Evaluate"]


def test_the_cache_key_ignores_output_paths_like_sagemakers(workdir: Path) -> None:
    """A parameter only Evaluate reads gives a new execution (new output paths) but reuses Preprocess.

    Tune is not cached (as the builder emits it): its model URI is joined from this execution's id.
    """
    d = make_definition(max_jobs=1)
    registry = open_registry(workdir / "reg.db")
    first = run_definition(d, workdir, run_job=run_job, registry=registry)
    calls: list[str] = []
    second = run_definition(d, workdir, run_job=_recording(calls), registry=registry, parameters={"MinAuc": 0.55})
    assert second.status == "Succeeded", second.failure
    assert second.execution_id != first.execution_id
    assert calls == ["train", "evaluate"]
    assert [s.name for s in second.steps if s.cached] == ["Preprocess"]
    # the cached step hands on the first execution's outputs, which Evaluate then reads
    train = second.properties["Preprocess"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert f"/runs/{first.execution_id}/" in train
    assert f"/runs/{second.execution_id}/evaluation" in json.dumps(second.properties["Evaluate"])


def _recording(calls: list[str]) -> Any:
    def run(kind: str, argv: list[str], env: dict[str, str], on_metric: Any = None) -> None:
        calls.append(kind)
        run_job(kind, argv, env, on_metric)
    return run


def test_median_stopping_stops_trials_that_trail(workdir: Path) -> None:
    out = run_definition(make_definition(max_jobs=6, early="Auto"), workdir, run_job=run_job,
                         registry=open_registry(workdir / "reg.db"))
    statuses = [t["status"] for t in out.trials]
    assert statuses[0] == "Completed" and len(statuses) == 6
    assert "Stopped" in statuses
    for t in out.trials:
        if t["status"] == "Stopped":  # stopped after its first fold of two, never after the last
            assert "after 1 of 2 folds" in t["reason"]
            assert not (workdir / "s3" / f"bkt/tg/runs/{out.execution_id}/models/{t['name']}").exists()
    best = out.properties["Tune"]["BestTrainingJob"]["TrainingJobName"]
    assert best in {t["name"] for t in out.trials if t["status"] == "Completed"}


def test_a_minimized_objective_picks_the_lowest(workdir: Path) -> None:
    d = make_definition(max_jobs=3)
    cfg = d["Steps"][1]["Arguments"]["HyperParameterTuningJobConfig"]
    cfg["HyperParameterTuningJobObjective"] = {"Type": "Minimize", "MetricName": "cv:log_loss"}
    d["Steps"][1]["Arguments"]["TrainingJobDefinition"]["StaticHyperParameters"]["objective_metric"] = "log_loss"
    out = run_definition(d, workdir, run_job=run_job, registry=open_registry(workdir / "reg.db"))
    assert out.step("Tune").status == "Succeeded", out.failure
    lowest = min(out.trials, key=lambda t: t["objective"])
    assert out.properties["Tune"]["BestTrainingJob"]["TrainingJobName"] == lowest["name"]
    assert all(t["objective"] == t["metrics"]["cv:log_loss"] for t in out.trials)


def test_parameters_are_typed_and_unknown_ones_refused() -> None:
    d = make_definition()
    assert resolve_parameters(d, {"MinAuc": "0.7"})["MinAuc"] == 0.7
    with pytest.raises(ConfigError, match="--param 'MinAUC' is not a parameter of the pipeline"):
        resolve_parameters(d, {"MinAUC": 1})
    with pytest.raises(ConfigError, match="--param MinAuc='high': MinAuc is of type Float; give a number"):
        resolve_parameters(d, {"MinAuc": "high"})
    d["Parameters"][-1]["EnumValues"] = ["PendingManualApproval", "Approved", "Rejected"]
    assert resolve_parameters(d, {"ModelApprovalStatus": "Approved"})["ModelApprovalStatus"] == "Approved"
    with pytest.raises(ConfigError, match="ModelApprovalStatus must be one of PendingManualApproval, Approved"):
        resolve_parameters(d, {"ModelApprovalStatus": "approved"})


def test_run_definition_never_imports_the_sdk(tmp_path: Path) -> None:
    d = copy.deepcopy(make_definition())
    d["Steps"].append({"Name": "Notify", "Type": "Lambda", "Arguments": {}})
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(d))
    code = (
        "import sys\n"
        "from trainguard.pipelines.local import run_definition, UnsupportedStepError\n"
        f"try:\n    run_definition({str(path)!r}, {str(tmp_path / 'w')!r})\n"
        "except UnsupportedStepError:\n    pass\n"
        "import trainguard.pipelines.local.run\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sagemaker', 'boto3', 'botocore'))\n"
        "print(','.join(bad))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ""


def test_job_output_goes_to_its_log_not_the_console(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def noisy(kind: str, argv: list[str], env: dict[str, str], on_metric: Any = None) -> None:
        print(f"{kind} says hello")
        print(f"{kind} warns", file=sys.stderr)
        run_job(kind, argv, env, on_metric)

    out = run_definition(make_definition(max_jobs=1), workdir, run_job=noisy, registry=open_registry(workdir / "r.db"))
    assert out.status == "Succeeded", out.failure
    captured = capsys.readouterr()
    assert "hello" not in captured.out and "warns" not in captured.err
    log = next((workdir / "jobs").glob("preprocess-*/output/job.log")).read_text()
    assert "preprocess says hello" in log and "preprocess warns" in log


def _evaluate_step(d: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in d["Steps"] if s["Name"] == "Evaluate")


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d["Steps"][0]["Arguments"]["ProcessingInputs"][0]["S3Input"].__setitem__(
        "LocalPath", "/opt/ml/processing/../../../../escape"), "without '..'"),
    (lambda d: d["Steps"][0]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"].__setitem__(
        "LocalPath", "/opt/ml/../../outside"), "without '..'"),
    (lambda d: _evaluate_step(d)["PropertyFiles"][0].__setitem__("FilePath", "/etc/passwd"), "leading '/'"),
    (lambda d: _evaluate_step(d)["PropertyFiles"][0].__setitem__("FilePath", "../../../x.json"), "without '..'"),
    (lambda d: d["Steps"][1]["Arguments"]["TrainingJobDefinition"]["InputDataConfig"][0].__setitem__(
        "ChannelName", ".."), "channel name '..'"),
    (lambda d: d["Steps"][0].__setitem__("Name", "../../escape"), "is not a SageMaker step name"),
    (lambda d: d["Steps"][0].__setitem__("Name", "x" * 65), "is not a SageMaker step name"),
])
def test_paths_from_a_definition_stay_inside_the_workdir_or_are_refused_first(
        workdir: Path, tmp_path: Path, change: Any, words: str) -> None:
    d = make_definition()
    change(d)
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    jobs = CountingJobs()
    with pytest.raises(DefinitionError, match=words):
        run_definition(d, workdir, run_job=jobs)
    assert jobs.calls == []
    after = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert [p for p in after if p not in before and not p.endswith(".trainguard.lock")] == []


def test_registration_is_idempotent_per_execution(tmp_path: Path) -> None:
    """A rerun of the same execution (say after a crash right after registering) finds the package
    it registered instead of adding a duplicate; another execution or work dir registers anew."""
    def definition(uri: str) -> dict[str, Any]:
        return {"Version": "2020-12-01", "Parameters": [], "Steps": [
            {"Name": "Register", "Type": "RegisterModel", "Arguments": {
                "ModelPackageGroupName": "g", "ModelApprovalStatus": "PendingManualApproval",
                "InferenceSpecification": {"Containers": [{"Image": "img", "ModelDataUrl": uri}]}}}]}

    registry = open_registry(tmp_path / "r.db")
    first = run_definition(definition("s3://b/m.tar.gz"), tmp_path / "w", registry=registry)
    again = run_definition(definition("s3://b/m.tar.gz"), tmp_path / "w", registry=registry)
    assert first.registered == again.registered and first.registered[0]["version"] == 1
    [pkg] = registry.list()
    assert pkg.lineage["execution_id"] == first.execution_id
    other = run_definition(definition("s3://b/other.tar.gz"), tmp_path / "w", registry=registry)
    elsewhere = run_definition(definition("s3://b/m.tar.gz"), tmp_path / "w2", registry=registry)
    assert [p.version for p in registry.list()] == [1, 2, 3]
    assert other.registered[0]["version"] == 2 and elsewhere.registered[0]["version"] == 3
