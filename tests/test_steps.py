"""The step builders' output: safeguards on every job, variants, references, the approval branch."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from trainguard.pipelines.build import definition_json
from trainguard.pipelines.bundle import build_bundle
from trainguard.pipelines.local.expressions import Expressions
from trainguard.steps.limits import TAG_TEXT
from trainguard.steps.processing import job_entrypoint
from trainguard.steps.register import RULE_CHECKS
from trainguard.steps.security import restore_tuning_job_security, security_from_config
from trainguard.training.approval import Thresholds, decide
from trainguard.training.config import Config, SecurityConfig, load_config
from trainguard.training.errors import ConfigError
from trainguard.training.evaluation import serving_block
from trainguard.training.jobs import hyperparameters_from_config

KMS = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"
COST_TAGS = [{"Key": "trainguard-model-group", "Value": "trainguard-models"},
             {"Key": "trainguard-pipeline", "Value": "trainguard-pipeline"},
             {"Key": "trainguard-trigger", "Value": "manual"}]
TAGS = [{"Key": "project", "Value": "trainguard"}, *COST_TAGS]
ALT = {"approval.champion_metric": "f1", "security.max_runtime_seconds": 7200,
       "aws.cache_steps": False, "approval.on_reject": "register_rejected"}
"""Several independent settings in one build (each test reads only its own): fewer builds."""
_CACHE: dict[str, dict] = {}


def definition(**overrides: Any) -> dict:
    """The definition JSON of the default config plus dotted overrides (built once per set)."""
    key = json.dumps(overrides, sort_keys=True)
    if key not in _CACHE:
        _CACHE[key] = json.loads(definition_json(overrides=overrides))
    return _CACHE[key]


def all_steps(steps: list[dict]) -> Iterator[dict]:
    for step in steps:
        yield step
        if step["Type"] == "Condition":
            yield from all_steps(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"])


def by_name(d: dict) -> dict[str, dict]:
    return {s["Name"]: s for s in all_steps(d["Steps"])}


def jobs(d: dict) -> list[tuple[str, dict]]:
    """(kind, job request) of every processing, training and tuning job, the tuner's included."""
    out = []
    for step in all_steps(d["Steps"]):
        if step["Type"] == "Processing":
            out.append(("processing", step["Arguments"]))
        elif step["Type"] == "Training":
            out.append(("training", step["Arguments"]))
        elif step["Type"] == "Tuning":
            out.append(("training", step["Arguments"]["TrainingJobDefinition"]))
    return out


# ---- safeguards -------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{}, {"tuning.enabled": False}])
def test_every_job_is_encrypted_isolated_in_the_vpc_time_limited_and_tagged(overrides: dict) -> None:
    d = definition(**overrides)
    found = jobs(d)
    assert len(found) == 4  # Preprocess, Tune (or Train), Evaluate, Baseline
    for kind, job in found:
        if kind == "processing":
            assert job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KMS
            assert job["ProcessingOutputConfig"]["KmsKeyId"] == KMS
            net = job["NetworkConfig"]
            assert net["EnableNetworkIsolation"] is True
            assert net["EnableInterContainerTrafficEncryption"] is True
            vpc = net["VpcConfig"]
            assert job["Tags"] == TAGS
        else:
            assert job["ResourceConfig"]["VolumeKmsKeyId"] == KMS
            assert job["OutputDataConfig"]["KmsKeyId"] == KMS
            assert job["EnableNetworkIsolation"] is True
            assert job["EnableInterContainerTrafficEncryption"] is True
            vpc = job["VpcConfig"]
        assert vpc == {"SecurityGroupIds": ["sg-00000000000000000"],
                       "Subnets": ["subnet-00000000000000000"]}
        assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600
        assert job["RoleArn"] == "arn:aws:iam::111122223333:role/trainguard-execution"
    # Tags sit on each create-job request (a tuner's training jobs inherit the tuning job's).
    launching = [s for s in all_steps(d["Steps"]) if s["Type"] in ("Processing", "Training", "Tuning")]
    assert len(launching) == 4
    assert all(s["Arguments"]["Tags"] == TAGS for s in launching)


def test_the_tuner_request_gets_back_what_the_sdk_drops() -> None:
    d = definition(**ALT)
    tune = by_name(d)["Tune"]["Arguments"]
    job = tune["TrainingJobDefinition"]
    assert (job["EnableNetworkIsolation"], job["EnableInterContainerTrafficEncryption"]) == (True, True)
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == KMS
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 7200
    assert tune["Tags"] == TAGS


def test_restore_tuning_job_security_overrides_whatever_the_sdk_emitted() -> None:
    sec = security_from_config(load_config())
    request = {"TrainingJobDefinition": {"ResourceConfig": {"InstanceCount": 1},
                                         "EnableNetworkIsolation": False}}
    job = restore_tuning_job_security(request, sec)["TrainingJobDefinition"]
    assert job["EnableNetworkIsolation"] is True
    assert job["EnableInterContainerTrafficEncryption"] is True
    assert job["ResourceConfig"] == {"InstanceCount": 1, "VolumeKmsKeyId": KMS}
    assert job["VpcConfig"]["Subnets"] == ["subnet-00000000000000000"]


def test_insecure_settings_need_allow_insecure() -> None:
    with pytest.raises(ConfigError, match=r"security\.network_isolation.*allow_insecure=true"):
        definition_json(overrides={"security.network_isolation": False})
    # A Config assembled by hand (skipping load_config's checks) is refused by the builder too.
    cfg = Config(security=SecurityConfig(kms_key_id=None))
    with pytest.raises(ConfigError, match=r"security\.kms_key_id turned off"):
        security_from_config(cfg)
    # Tags are a control too: untagged jobs need the same explicit opt-out.
    with pytest.raises(ConfigError, match=r"security\.tags turned off or empty: .*tagged.*"
                                          r"allow_insecure=true"):
        definition_json(overrides={"security.tags": {}})


def test_allow_insecure_builds_exactly_what_was_asked_on_every_job() -> None:
    d = definition(**{"security.allow_insecure": True, "security.network_isolation": False,
                      "security.inter_container_encryption": False, "security.kms_key_id": None,
                      "security.tags": {}})
    # no owner tags, but the cost-allocation tags stay: spend is always traceable
    assert by_name(d)["Tune"]["Arguments"]["Tags"] == COST_TAGS
    for kind, job in jobs(d):
        assert job.get("Tags", COST_TAGS) == COST_TAGS
        if kind == "processing":
            assert job["NetworkConfig"]["EnableNetworkIsolation"] is False
            assert job["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is False
            assert "VolumeKmsKeyId" not in job["ProcessingResources"]["ClusterConfig"]
            assert "KmsKeyId" not in job["ProcessingOutputConfig"]
            assert "VpcConfig" in job["NetworkConfig"]  # the VPC stayed on
        else:
            assert job["EnableNetworkIsolation"] is False
            assert job["EnableInterContainerTrafficEncryption"] is False
            assert "VolumeKmsKeyId" not in job["ResourceConfig"]
            assert "KmsKeyId" not in job["OutputDataConfig"]


# ---- code, containers, caching --------------------------------------------------------


def test_jobs_run_the_content_addressed_bundle_and_nothing_is_uploaded() -> None:
    d = definition()
    sha = build_bundle().sha256
    code_uri = f"s3://sagemaker-us-east-1-111122223333/trainguard/code/{sha}/sourcedir.tar.gz"
    steps = by_name(d)
    for name, kind in (("Preprocess", "preprocess"), ("Evaluate", "evaluate")):
        args = steps[name]["Arguments"]
        assert args["AppSpecification"]["ContainerEntrypoint"] == job_entrypoint(kind)
        code = [i for i in args["ProcessingInputs"] if i["InputName"] == "code"]
        assert code[0]["S3Input"]["S3Uri"] == code_uri
        assert code[0]["S3Input"]["LocalPath"] == "/opt/ml/processing/input/code"
    job = steps["Tune"]["Arguments"]["TrainingJobDefinition"]
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert channels["code"]["DataSource"]["S3DataSource"]["S3Uri"] == code_uri
    assert job["StaticHyperParameters"]["sagemaker_program"] == "entry.py"
    assert job["StaticHyperParameters"]["sagemaker_submit_directory"] == \
        "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert "ContainerEntrypoint" not in job["AlgorithmSpecification"]  # the image's script mode
    # Every S3 URI is the bundle, a per-execution Join, the data parameter: no timestamped key.
    text = json.dumps(d)
    assert not re.search(r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}", text)


def test_preprocess_passes_the_config_arguments_and_splits_into_train_and_test() -> None:
    args = by_name(definition())["Preprocess"]["Arguments"]
    assert args["AppSpecification"]["ContainerArguments"][:2] == ["--target", "is_eight"]
    data = next(i for i in args["ProcessingInputs"] if i["InputName"] == "data")
    assert data["S3Input"]["S3Uri"] == {"Get": "Parameters.InputDataUri"}
    outputs = {o["OutputName"] for o in args["ProcessingOutputConfig"]["Outputs"]}
    assert outputs == {"train", "test"}


def test_evaluate_gets_the_threshold_parameters_and_the_best_model() -> None:
    args = by_name(definition())["Evaluate"]["Arguments"]
    argv = args["AppSpecification"]["ContainerArguments"]
    pairs = dict(zip(argv[::2], argv[1::2], strict=True))
    # string-typed field: each Float parameter through to_string() (Std:Join), never a bare Get
    for flag, name in [("--min-auc", "MinAuc"), ("--min-recall", "MinRecall"), ("--min-pr-auc", "MinPrAuc"),
                       ("--max-overfit-gap", "MaxOverfitGap"), ("--champion-bar", "ChampionBar")]:
        assert pairs[flag] == {"Std:Join": {"On": "", "Values": [{"Get": f"Parameters.{name}"}]}}, flag
    assert all(isinstance(a, str) or set(a) == {"Std:Join"} for a in argv)
    model = next(i for i in args["ProcessingInputs"] if i["InputName"] == "model")
    values = model["S3Input"]["S3Uri"]["Std:Join"]["Values"]
    assert {"Get": "Steps.Tune.BestTrainingJob.TrainingJobName"} in values
    assert values[-2:] == ["output", "model.tar.gz"]
    test = next(i for i in args["ProcessingInputs"] if i["InputName"] == "test")
    assert test["S3Input"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}
    assert by_name(definition())["Evaluate"]["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
         "FilePath": "evaluation.json"}]


def test_only_deterministic_steps_are_cached() -> None:
    steps = by_name(definition())
    assert steps["Preprocess"]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
    assert steps["Evaluate"]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
    assert "CacheConfig" not in steps["Tune"]
    assert by_name(definition(**{"tuning.enabled": False}))["Train"]["CacheConfig"]["Enabled"]
    off = by_name(definition(**ALT))
    assert all("CacheConfig" not in s for s in off.values())


# ---- tuning and training ----------------------------------------------------------------


def test_tuning_job_from_the_config() -> None:
    tune = by_name(definition())["Tune"]["Arguments"]
    config = tune["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"MetricName": "cv:auc", "Type": "Maximize"}
    assert config["Strategy"] == "Bayesian"
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2}
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert config["RandomSeed"] == 7
    ranges = config["ParameterRanges"]
    assert {r["Name"] for r in ranges["ContinuousParameterRanges"]} == {
        "eta", "min_child_weight", "alpha", "lambda", "subsample"}
    assert ranges["IntegerParameterRanges"] == [
        {"Name": "max_depth", "MinValue": "2", "MaxValue": "6", "ScalingType": "Linear"}]
    eta = next(r for r in ranges["ContinuousParameterRanges"] if r["Name"] == "eta")
    assert eta == {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.3", "ScalingType": "Logarithmic"}
    static = tune["TrainingJobDefinition"]["StaticHyperParameters"]
    assert not {"eta", "max_depth", "alpha", "lambda", "subsample", "min_child_weight"} & set(static)
    expected = {k: v for k, v in hyperparameters_from_config(load_config()).items()
                if k not in load_config().tuning.ranges}
    assert {k: v for k, v in static.items() if not k.startswith("sagemaker_")} == expected
    metrics = tune["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert {"Name": "cv:auc", "Regex": "trainguard-metric cv:auc=([-+0-9.eE]+)"} in metrics


def test_tuning_variants_random_off_log_loss_warm_start_categorical() -> None:
    d = json.loads(definition_json(
        {"tuning": {"early_stopping": "off"}},
        overrides={"tuning.strategy": "random", "tuning.objective": "log_loss",
                   "tuning.warm_start_parents": ["tune-a", "tune-b"],
                   "tuning.ranges.gamma": {"type": "categorical", "values": ["0", "1"]}}))
    tune = by_name(d)["Tune"]["Arguments"]
    config = tune["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random"
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["HyperParameterTuningJobObjective"] == {"MetricName": "cv:log_loss",
                                                          "Type": "Minimize"}
    assert config["ParameterRanges"]["CategoricalParameterRanges"] == [
        {"Name": "gamma", "Values": ["0", "1"]}]
    assert tune["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "tune-a"},
                                           {"HyperParameterTuningJobName": "tune-b"}],
        "WarmStartType": "IdenticalDataAndAlgorithm"}


def test_without_tuning_a_train_step_with_fixed_hyperparameters() -> None:
    d = definition(**{"tuning.enabled": False})
    assert [s["Name"] for s in d["Steps"]] == ["Preprocess", "Train", "Evaluate", "Baseline",
                                               "CheckApproval"]
    train = by_name(d)["Train"]["Arguments"]
    hp = train["HyperParameters"]
    assert {k: v for k, v in hp.items() if not k.startswith("sagemaker_")} == \
        hyperparameters_from_config(load_config())
    assert train["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"].startswith("cv:")
    assert train["Tags"] == TAGS
    model = next(i for i in by_name(d)["Evaluate"]["Arguments"]["ProcessingInputs"]
             if i["InputName"] == "model")
    assert model["S3Input"]["S3Uri"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    register = by_name(d)["RegisterModel"]["Arguments"]
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    meta = register["CustomerMetadataProperties"]
    assert meta["trainguard:training_job"] == {"Get": "Steps.Train.TrainingJobName"}
    assert meta["hp:eta"] == "0.1"


# ---- registration and the reject branch ----------------------------------------------------


def test_register_model_carries_status_parameter_report_and_lineage() -> None:
    steps = by_name(definition())
    reg = steps["RegisterModel"]
    assert reg["Type"] == "RegisterModel"
    args = reg["Arguments"]
    assert args["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    assert args["ModelPackageGroupName"] == "trainguard-models"
    stats = args["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert stats["ContentType"] == "application/json"
    assert stats["S3Uri"]["Std:Join"]["Values"] == [
        {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
        "evaluation.json"]
    container = args["InferenceSpecification"]["Containers"][0]
    assert "" not in container["Environment"].values()  # the SDK's empty placeholders removed
    assert set(args["ModelMetrics"]) == {"ModelQuality", "ModelDataQuality"}
    baseline = "Steps.Baseline.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"
    assert args["ModelMetrics"]["ModelQuality"]["Constraints"]["S3Uri"]["Std:Join"]["Values"] == [
        {"Get": baseline}, "model_quality/constraints.json"]
    drift = args["DriftCheckBaselines"]
    assert {(k, d) for k, v in drift.items() for d in v} == {
        ("ModelDataQuality", "Statistics"), ("ModelDataQuality", "Constraints"),
        ("ModelQuality", "Statistics"), ("ModelQuality", "Constraints")}
    assert drift["ModelDataQuality"]["Statistics"]["S3Uri"]["Std:Join"]["Values"] == [
        {"Get": baseline}, "data_quality/statistics.json"]
    assert "DriftCheckBaselines" not in steps["RegisterRejected"]["Arguments"]
    meta = args["CustomerMetadataProperties"]
    assert meta["trainguard:data_uri"] == {"Get": "Parameters.InputDataUri"}
    assert meta["trainguard:code_sha256"] == build_bundle().sha256
    assert meta["hp:eta"] == {"Get": "Steps.Tune.BestTrainingJob.TunedHyperParameters['eta']"}
    assert meta["hp:target"] == "is_eight"
    assert "cv:auc_mean" in meta and "cv:auc_std" in meta
    assert len(meta) <= 50 and all(len(k) <= 128 for k in meta)
    assert all((isinstance(v, str) and len(v) <= 256) or isinstance(v, dict) for v in meta.values())



def test_registered_package_says_what_the_image_accepts_and_the_feature_order() -> None:
    """The XGBoost image serves a booster from text/csv rows (no header, training order): the
    package declares exactly that and records the feature count, order and its sha256."""
    args = by_name(definition())["RegisterModel"]["Arguments"]
    spec = args["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == ["text/csv"]
    assert spec["SupportedResponseMIMETypes"] == ["text/csv"]
    meta = args["CustomerMetadataProperties"]
    assert meta["trainguard:content_type"].startswith("text/csv no header")
    for key in ("feature_count", "feature_order", "features_sha256"):
        join = meta[f"trainguard:{key}"]["Std:Join"]
        assert join["Values"][0]["Std:JsonGet"]["Path"] == f"model.serving.{key}"


@pytest.mark.parametrize(("on_reject", "names"), [
    ("both", ["RegisterRejected", "FailRejected"]),
    ("register_rejected", ["RegisterRejected"]),
    ("fail", ["FailRejected"]),
])
def test_reject_branch_follows_on_reject(on_reject: str, names: list[str]) -> None:
    d = definition(**(ALT if on_reject == "register_rejected" else
                      {"approval.on_reject": on_reject}))
    cond = by_name(d)["CheckApproval"]["Arguments"]
    assert [s["Name"] for s in cond["ElseSteps"]] == names
    steps = by_name(d)
    if "RegisterRejected" in names:
        rejected = steps["RegisterRejected"]["Arguments"]
        assert rejected["ModelApprovalStatus"] == "Rejected"
        meta = rejected["CustomerMetadataProperties"]
        assert meta["trainguard:decision"] == "rejected by CheckApproval"
        assert {"Std:JsonGet": {
            "Path": "decision.checks[0].value",
            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}}} in \
            meta["trainguard:check_min_auc"]["Std:Join"]["Values"]
        assert {f"trainguard:check_{n}" for n in RULE_CHECKS} | {"trainguard:check_champion"} \
            <= set(meta)
        assert len(meta) <= 50
    if "FailRejected" in names:
        fail = steps["FailRejected"]
        assert fail["Type"] == "Fail"
        assert fail.get("DependsOn", []) == (["RegisterRejected"] if on_reject == "both" else [])
        values = fail["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
        assert {"Get": "Parameters.MinAuc"} in values
        assert any(isinstance(v, dict) and v.get("Std:JsonGet", {}).get("Path") ==
                   "decision.reasons[0]" for v in values)


def test_package_metadata_resolves_to_values_create_model_package_accepts() -> None:
    """Resolved at run time against a real decision, every metadata key and value fits the
    service's pattern (letters, digits, spaces, ``_.:/=+-@``) and length limits."""
    import botocore.session

    service = botocore.session.get_session().get_service_model("sagemaker")
    shape = service.operation_model("CreateModelPackage").input_shape.members[
        "CustomerMetadataProperties"]
    assert shape.value.metadata["pattern"] == r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}"
    assert shape.key.metadata["pattern"] == r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}"
    d = definition()
    defaults = {p["Name"]: p["DefaultValue"] for p in d["Parameters"]}
    metrics = {"auc": 0.7, "recall": 0.6, "pr_auc": 0.3, "f1": 0.4, "train_cv_gap": 0.2}
    thresholds = Thresholds(min_auc=0.75, min_recall=0.5, min_pr_auc=0.0, max_overfit_gap=0.1,
                            champion_metric="auc")
    decision = decide(metrics, thresholds, champion_bar_value=0.8)
    assert [c.name for c in decision.checks][:len(RULE_CHECKS)] == list(RULE_CHECKS)
    assert any("(" in r or "," in r for r in decision.reasons)  # prose the service would refuse
    report = {"binary_classification_metrics": {m: {"value": metrics[m]}
                                                for m in ("auc", "recall", "pr_auc", "f1")},
              "cross_validation": {"auc": {"mean": 0.71, "std": 0.02}},
              "overfitting": {"train_cv_gap": 0.2}, "decision": decision.to_dict(),
              "model": {"serving": serving_block(["pixel_0_0", "pixel 1", "pixel_1_1"])}}
    ex = Expressions(parameters={**defaults, "ChampionBar": 0.8},
                     execution={"PipelineExecutionId": "x1y2z3", "PipelineName": "p"})
    ex.property_files["Evaluate"] = {"EvaluationReport": report}
    ranges = load_config().tuning.ranges
    ex.steps["Tune"] = {"BestTrainingJob": {"TrainingJobName": "trainguard-tune-001-abc",
                                            "TunedHyperParameters": {n: "0.5" for n in ranges}}}
    resolved = {}
    for name in ("RegisterModel", "RegisterRejected"):
        meta = ex.resolve(by_name(d)[name]["Arguments"]["CustomerMetadataProperties"])
        assert 1 <= len(meta) <= 50
        for key, value in meta.items():
            assert 1 <= len(key) <= 128 and TAG_TEXT.fullmatch(key), key
            assert isinstance(value, str) and 1 <= len(value) <= 256, (key, value)
            assert TAG_TEXT.fullmatch(value), (key, value)
        resolved[name] = meta
    rejected = resolved["RegisterRejected"]
    assert rejected["trainguard:check_min_auc"] == "min_auc value 0.7 threshold 0.75 passed false"
    assert rejected["trainguard:check_min_recall"] == \
        "min_recall value 0.6 threshold 0.5 passed true"
    assert rejected["trainguard:check_max_overfit_gap"] == \
        "max_overfit_gap value 0.2 threshold 0.1 passed false"
    assert rejected["trainguard:check_champion"] == \
        "auc value 0.7 champion bar 0.8 0 = no champion"
    assert resolved["RegisterModel"]["cv:auc_mean"] == "0.71"


# ---- the graph -------------------------------------------------------------------------------


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            yield value["Get"]
        for v in value.values():
            yield from _references(v)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v)


@pytest.mark.parametrize("overrides", [{}, {"tuning.enabled": False}])
def test_every_reference_names_an_upstream_step_a_parameter_or_an_execution_variable(
        overrides: dict) -> None:
    d = definition(**overrides)
    params = {p["Name"] for p in d["Parameters"]}
    property_files = {s["Name"]: {f["PropertyFileName"] for f in s.get("PropertyFiles", [])}
                      for s in all_steps(d["Steps"])}
    seen: set[str] = set()
    for top in d["Steps"]:
        group = list(all_steps([top]))
        for step in group:
            for ref in _references({k: v for k, v in step.items()
                                    if k not in ("IfSteps", "ElseSteps")}):
                root, name, *rest = re.split(r"[.\[]", ref, maxsplit=2)
                if root == "Parameters":
                    assert name in params, ref
                elif root == "Execution":
                    assert name in {"PipelineExecutionId", "PipelineName"}, ref
                else:
                    assert root == "Steps" and name in seen, f"{step['Name']}: {ref}"
                    if rest and rest[0].startswith("PropertyFiles."):
                        assert rest[0].split(".")[1] in property_files[name], ref
            for dep in step.get("DependsOn", []):
                assert dep in seen or dep in {s["Name"] for s in group}, dep
        seen.add(top["Name"])
        seen.update(s["Name"] for s in group)


# ---- the condition agrees with trainguard.training.approval.decide ----------------------------------------


GRID = [0.0, 0.49, 0.5, 0.7499, 0.75, 0.9, 1.0]


def _evaluate(conditions: list[dict], metrics: dict[str, float], params: dict[str, float],
              blocking: float = 0.0) -> bool:
    report = {"binary_classification_metrics": {m: {"value": metrics[m]}
                                                for m in ("auc", "recall", "pr_auc", "f1")},
              "overfitting": {"train_cv_gap": metrics["train_cv_gap"]},
              "leakage_screen": {"blocking": blocking}}
    ex = Expressions(parameters=params, execution={})
    ex.property_files["Evaluate"] = {"EvaluationReport": report}
    return ex.all_conditions(conditions)


@pytest.mark.parametrize("champion_metric", ["auc", "f1"])
def test_condition_json_agrees_with_decide_on_a_grid(champion_metric: str) -> None:
    d = definition(**(ALT if champion_metric == "f1" else {}))
    conditions = by_name(d)["CheckApproval"]["Arguments"]["Conditions"]
    defaults = {p["Name"]: p["DefaultValue"] for p in d["Parameters"]}
    outcomes = []
    screens = [None, {"features": [{"feature": "x", "auc": 0.6, "unique_per_row": False}]},
               {"features": [{"feature": "x", "auc": 0.95, "unique_per_row": False}]}]
    for auc, recall, gap, bar, screen, mode in itertools.product(
            GRID, [0.0, 0.5, 0.51], [0.0, 0.1, 0.1001, 0.3], [0.0, 0.75, 0.9], screens, ["block", "warn"]):
        metrics = {"auc": auc, "recall": recall, "pr_auc": auc / 2, "f1": recall,
                   "train_cv_gap": gap}
        params = {**defaults, "ChampionBar": bar, "MinPrAuc": 0.3}
        thresholds = Thresholds(min_auc=params["MinAuc"], min_recall=params["MinRecall"],
                                min_pr_auc=params["MinPrAuc"],
                                max_overfit_gap=params["MaxOverfitGap"],
                                champion_metric=champion_metric, on_leakage=mode)  # type: ignore[arg-type]
        decision = decide(metrics, thresholds, champion_bar_value=bar, leakage=screen)
        # the evaluate job writes leakage_screen.blocking from the decision's leakage check
        blocking = next(c.value for c in decision.checks if c.name == "leakage")
        assert _evaluate(conditions, metrics, params, blocking) == decision.approved, (metrics, params)
        outcomes.append(decision.approved)
    assert len(outcomes) == len(GRID) * 3 * 4 * 3 * 3 * 2
    assert 0 < sum(outcomes) < len(outcomes)  # both branches exercised, boundaries included


_DESCRIBE = {"Processing": "DescribeProcessingJob", "Training": "DescribeTrainingJob",
             "Tuning": "DescribeHyperParameterTuningJob"}


def _walk_shape(shape: Any, parts: list[str]) -> Any:
    """Follow a property path (``A.B['k'][0].C``) through a botocore output shape."""
    for part in parts:
        if part.startswith("["):
            assert shape.type_name in ("list", "map"), part
            shape = shape.member if shape.type_name == "list" else shape.value
        else:
            assert shape.type_name == "structure" and part in shape.members, part
            shape = shape.members[part]
    return shape


@pytest.mark.parametrize("overrides", [{}, {"tuning.enabled": False}])
def test_every_step_property_reference_exists_in_the_describe_response(overrides: dict) -> None:
    import botocore.session

    service = botocore.session.get_session().get_service_model("sagemaker")
    d = definition(**overrides)
    types = {s["Name"]: s["Type"] for s in all_steps(d["Steps"])}
    checked = 0
    for ref in _references(d["Steps"]):
        if not ref.startswith("Steps.") or ".PropertyFiles." in ref:
            continue
        step, path = ref.split(".", 2)[1:]
        parts = re.findall(r"\[[^\]]+\]|[A-Za-z0-9_]+", path)
        shape = service.operation_model(_DESCRIBE[types[step]]).output_shape
        leaf = _walk_shape(shape, parts)
        assert leaf.type_name == "string", ref  # every reference is used as a string value
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("overrides", [{}, {"tuning.enabled": False}])
def test_training_jobs_keep_script_mode_pip_offline(overrides) -> None:
    """Script mode runs ``pip install .`` on the bundle: under network isolation pip must neither
    query an index nor download setuptools into an isolated build environment."""
    d = by_name(definition(**overrides))
    job = d["Tune"]["Arguments"]["TrainingJobDefinition"] if "Tune" in d else d["Train"]["Arguments"]
    env = job["Environment"]
    assert env["PIP_NO_INDEX"] == "1"
    assert env["PIP_NO_BUILD_ISOLATION"] == "0"  # pip's inverted spelling: 0 = isolation off
