"""build_pipeline() and definition_json(): the API, config handling, determinism, offline build."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from trainguard.pipelines.build import build_pipeline, definition_json, resolve_config
from trainguard.training.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


@pytest.fixture(scope="module")
def default_text() -> str:
    return definition_json()


@pytest.fixture(scope="module")
def default_definition(default_text: str) -> dict:
    return json.loads(default_text)


def test_build_returns_a_pipeline_with_the_design_step_names(default_definition: dict) -> None:
    steps = default_definition["Steps"]
    assert [s["Name"] for s in steps] == ["Preprocess", "Tune", "Evaluate", "Baseline",
                                          "CheckApproval"]
    assert [s["Type"] for s in steps] == ["Processing", "Tuning", "Processing", "Processing",
                                          "Condition"]
    cond = steps[4]["Arguments"]
    assert [s["Name"] for s in cond["IfSteps"]] == ["RegisterModel"]
    assert [s["Name"] for s in cond["ElseSteps"]] == ["RegisterRejected", "FailRejected"]
    names = [p["Name"] for p in default_definition["Parameters"]]
    assert names == ["InputDataUri", "ProcessingInstanceType", "ProcessingInstanceCount",
                     "TrainingInstanceType", "TrainingInstanceCount", "MinAuc", "MinRecall",
                     "MinPrAuc", "MaxOverfitGap", "ChampionBar", "ModelApprovalStatus", "TriggerReason"]


def test_parameter_defaults_come_from_the_config() -> None:
    d = json.loads(definition_json(overrides={"approval.min_auc": 0.8, "aws.bucket": "my-bkt",
                                              "approval.approval_status": "Approved"}))
    params = {p["Name"]: p for p in d["Parameters"]}
    assert params["MinAuc"] == {"Name": "MinAuc", "Type": "Float", "DefaultValue": 0.8}
    assert params["ChampionBar"]["DefaultValue"] == 0.0
    assert params["InputDataUri"]["DefaultValue"] == "s3://my-bkt/trainguard/data/"
    assert params["ModelApprovalStatus"]["DefaultValue"] == "Approved"
    assert params["ProcessingInstanceCount"]["Type"] == "Integer"


def test_default_approval_status_is_pending_manual_approval(default_definition: dict) -> None:
    params = {p["Name"]: p for p in default_definition["Parameters"]}
    assert params["ModelApprovalStatus"]["DefaultValue"] == "PendingManualApproval"


def test_s3_data_uri_in_config_is_the_input_default() -> None:
    d = json.loads(definition_json(**{"data.uri": "s3://data-bkt/x/train.csv"}))
    params = {p["Name"]: p for p in d["Parameters"]}
    assert params["InputDataUri"]["DefaultValue"] == "s3://data-bkt/x/train.csv"


def test_overrides_as_mapping_and_double_underscore_keywords_agree() -> None:
    a = resolve_config(overrides={"cv.folds": 3})
    b = resolve_config(cv__folds=3)
    c = resolve_config(**{"cv.folds": 3})
    assert a == b == c and a.cv.folds == 3


def test_config_errors_are_raised_before_the_sdk_is_touched() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'cv\.fold'"):
        build_pipeline(cv__fold=3)
    with pytest.raises(ConfigError, match=r"cv\.folds must be at least 2"):
        definition_json(overrides={"cv.folds": 1})


def test_config_from_yaml_path(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("aws:\n  pipeline_name: from-yaml\ncv:\n  folds: 4\n", encoding="utf-8")
    pipeline = build_pipeline(str(cfg))
    assert pipeline.name == "from-yaml"
    d = json.loads(pipeline.definition())
    hp = d["Steps"][1]["Arguments"]["TrainingJobDefinition"]["StaticHyperParameters"]
    assert hp["folds"] == "4"


def test_definition_is_canonical_and_stable_in_process(default_text: str) -> None:
    again = definition_json()
    assert again == default_text
    assert again == json.dumps(json.loads(again), indent=2, sort_keys=True,
                               ensure_ascii=False) + "\n"


_GUARD = textwrap.dedent("""
    import socket, sys
    attempts = []
    def _refuse(*args, **kwargs):
        attempts.append(repr(args)[:200])  # threads swallow errors: record every attempt
        raise RuntimeError(f"network call attempted: {args!r}")
    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
    socket.getaddrinfo = _refuse
    socket.create_connection = _refuse
    if len(sys.argv) > 1 and sys.argv[1] == "--telemetry-on":  # proves the guard sees threads
        import contextlib
        import trainguard.steps.session
        trainguard.steps.session._telemetry_disabled = contextlib.nullcontext
    import json
    from trainguard.pipelines.build import build_pipeline
    pipeline = build_pipeline()
    raw = pipeline.definition()  # outside the offline scope: the steps are frozen
    text = json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False) + "\\n"
    import threading
    for t in threading.enumerate():
        if t is not threading.current_thread():
            t.join(5)
    if attempts:
        sys.exit("network call attempted: " + "; ".join(attempts))
    sys.stdout.write(text)
""")


_FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE",
                     "AWS_SECRET_ACCESS_KEY": "fake/secret", "AWS_DEFAULT_REGION": "eu-west-1"}


# A CI runner's environment can name a profile this machine lacks, or carry half a key pair:
# the SDK creates a client at import, and resolving that identity used to raise.
_BROKEN_IDENTITY = {"AWS_PROFILE": "not-configured-here", "AWS_ACCESS_KEY_ID": "AKIAHALFAPAIRHALFAPA"}


def _start_guarded(extra_env: dict[str, str], *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra_env)
    return subprocess.Popen([PY, "-c", _GUARD, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def guarded_runs() -> dict[str, tuple[int, str, str]]:
    """Fresh processes building under a socket guard (started together, awaited together)."""
    procs = {"bare": _start_guarded({}), "credentials": _start_guarded(_FAKE_CREDENTIALS),
             "broken-identity": _start_guarded(_BROKEN_IDENTITY),
             "telemetry-on": _start_guarded(_FAKE_CREDENTIALS, "--telemetry-on")}
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        out[name] = (proc.returncode, stdout, stderr)
    return out


def test_no_network_without_credentials_and_identical_bytes_across_processes(
        guarded_runs: dict[str, tuple[int, str, str]], default_text: str) -> None:
    runs = [guarded_runs["bare"], guarded_runs["credentials"], guarded_runs["broken-identity"]]
    for returncode, _, stderr in runs:
        assert returncode == 0, stderr[-3000:]
        assert "network call attempted" not in stderr
        assert "Found credentials" not in stderr and "Found endpoint" not in stderr  # botocore INFO
    assert runs[0][1] == runs[1][1] == runs[2][1] == default_text  # the same bytes in every process
    assert json.loads(runs[0][1])["Steps"][0]["Name"] == "Preprocess"


def test_the_socket_guard_catches_the_sdk_telemetry_when_it_is_not_disabled(
        guarded_runs: dict[str, tuple[int, str, str]]) -> None:
    returncode, _, stderr = guarded_runs["telemetry-on"]
    assert returncode != 0
    assert "network call attempted" in stderr


def test_a_build_makes_no_throwaway_local_session_and_restores_the_sdk(monkeypatch) -> None:
    """ProcessingStep's constructor asks a LocalSagemakerClient for a method name; without our
    scope that client builds a LocalSession on a fresh boto3 Session (service models re-read, about
    0.4 s a step). The build must make none, emit the same bytes, and leave the SDK as it was."""
    from sagemaker.core.local import local_session
    from sagemaker.mlops.workflow import steps as workflow_steps

    made: list[object] = []
    real_init = local_session.LocalSession.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(local_session.LocalSession, "__init__", counting_init)
    text = definition_json()
    assert made == []
    assert workflow_steps.LocalSagemakerClient is local_session.LocalSagemakerClient
    assert text == definition_json()
    client = workflow_steps.LocalSagemakerClient.__new__(workflow_steps.LocalSagemakerClient)
    assert client.create_processing_job.__name__ == "create_processing_job"


# ---- the code bundle ---------------------------------------------------------------------


def test_bundle_is_deterministic_sorted_and_normalized() -> None:
    from trainguard.pipelines import bundle as bundle_mod

    first = bundle_mod._build(bundle_mod.BUNDLED_PACKAGES)  # bypass the per-process cache
    rebuilt = bundle_mod._build(bundle_mod.BUNDLED_PACKAGES)
    assert rebuilt.data == first.data and rebuilt.sha256 == first.sha256
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    assert first.data[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    with tarfile.open(fileobj=io.BytesIO(first.data)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.mode == 0o644
                   and m.isfile() for m in members)
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        for package in ("trainguard", "trainguard/training", "imblearn", "sklearn_compat"):
            assert f"{package}/__init__.py" in names
        assert "trainguard/training/jobs.py" in names
        assert not [n for n in names if n.startswith(("trainguard/pipelines", "trainguard/steps"))]
        entry = tar.extractfile("entry.py").read().decode()
    assert "from trainguard.training.jobs import main" in entry and 'main(["train"])' in entry
    compile(entry, "entry.py", "exec")


def test_bundle_s3_uri_is_content_addressed() -> None:
    from trainguard.pipelines.bundle import build_bundle, bundle_s3_uri

    sha = build_bundle().sha256
    assert build_bundle().s3_uri("bkt", "/a/b/") == f"s3://bkt/a/b/code/{sha}/sourcedir.tar.gz"
    assert bundle_s3_uri("bkt", "", "abc") == "s3://bkt/code/abc/sourcedir.tar.gz"


def test_bundle_of_a_missing_package_names_it() -> None:
    from trainguard.pipelines.bundle import build_bundle

    with pytest.raises(ModuleNotFoundError, match="not_a_package_xyz"):
        build_bundle(("not_a_package_xyz",))


def test_default_bucket_from_the_role_account_and_region() -> None:
    from trainguard.steps.locations import default_bucket

    assert default_bucket(resolve_config()) == "sagemaker-us-east-1-111122223333"
    assert default_bucket(resolve_config(aws__bucket="mine")) == "mine"
    with pytest.raises(ConfigError, match=r"no 12-digit account id.*or set aws\.bucket"):
        default_bucket(resolve_config(aws__role_arn="arn:aws:iam::role/x"))


# ---- imports: commands that do not build never load the SDK -----------------------------------


def test_pipelines_package_cli_and_bundle_do_not_import_the_sdk() -> None:
    code = textwrap.dedent("""
        import sys
        import trainguard, trainguard.pipelines, trainguard.pipelines.cli, trainguard.pipelines.bundle
        import trainguard.pipelines.cli.definition, trainguard.steps.locations
        trainguard.pipelines.bundle.build_bundle()
        assert trainguard.pipelines.cli.main(["definition", "--set", "cv.folds=1"]) == 2  # before the SDK
        assert trainguard.pipelines.cli.main(["definition", "--set", "aws.pipeline_name=a b"]) == 2  # too
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sagemaker", "boto3", "botocore"))
        assert not loaded, loaded
        from trainguard.pipelines import build_pipeline, definition_json  # the lazy re-export works
        assert build_pipeline.__module__ == "trainguard.pipelines.build"
        assert "sagemaker" in sys.modules
        print("ok")
    """)
    run = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         check=False)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


# ---- trainguard definition ----------------------------------------------------------------


def test_definition_command_writes_the_same_text_as_the_api(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    from trainguard.pipelines.cli import main

    out = tmp_path / "sub" / "definition.json"
    assert main(["definition", "--set", "cv.folds=3", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert json.loads(text)["Steps"][1]["Arguments"]["TrainingJobDefinition"][
        "StaticHyperParameters"]["folds"] == "3"
    assert not list(out.parent.glob("*.tmp"))
    assert main(["definition", "--set", "cv.folds=3"]) == 0
    assert capsys.readouterr().out == text


def test_definition_command_bad_input_exits_2_with_the_problem(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    from trainguard.pipelines.cli import main

    assert main(["definition", "--set", "cv.fold=3"]) == 2
    assert "unknown config key 'cv.fold'" in capsys.readouterr().err
    assert main(["definition", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["definition", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "Traceback" not in err
    (tmp_path / "afile").write_text("keep me", encoding="utf-8")
    assert main(["definition", "--out", str(tmp_path / "afile" / "definition.json")]) == 2
    err = capsys.readouterr().err
    assert "afile is a file, not a folder" in err and "Traceback" not in err
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "keep me"


def test_offline_scope_is_undone_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from trainguard.steps.sdk import telemetry_logging
    from trainguard.steps.session import OFFLINE_ENV, offline_sdk

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("SAGEMAKER_USER_CONFIG_OVERRIDE", raising=False)
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "true")
    sender = telemetry_logging._send_telemetry_request
    logger = logging.getLogger("sagemaker.core.utils.utils")
    logger.setLevel(logging.INFO)
    class Sentinel(Exception):
        """Raised only at the end of the block: a KeyError from a lookup above cannot pass for it."""

    with pytest.raises(Sentinel), offline_sdk("eu-west-1"):
        assert {k: os.environ.get(k) for k in OFFLINE_ENV} == OFFLINE_ENV
        assert os.environ.get("AWS_DEFAULT_REGION") == "eu-west-1"
        assert telemetry_logging._send_telemetry_request is not sender
        assert telemetry_logging._send_telemetry_request(0, [], None) is None
        assert logger.level == logging.ERROR
        raise Sentinel("an error inside the scope still restores everything")
    assert os.environ["SAGEMAKER_VALIDATE_ROLE"] == "true"
    assert "AWS_DEFAULT_REGION" not in os.environ
    assert "SAGEMAKER_USER_CONFIG_OVERRIDE" not in os.environ
    assert telemetry_logging._send_telemetry_request is sender
    assert logger.level == logging.INFO


# ---- values SageMaker would refuse: caught at build time, not at execution ----------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"aws.pipeline_name": "churn model"}, r"aws\.pipeline_name 'churn model' is not a SageMaker"),
    ({"aws.pipeline_name": "churn_model"}, r"aws\.pipeline_name .*letters, digits and hyphens"),
    ({"registry.model_package_group": "models-"}, r"registry\.model_package_group 'models-'"),
    ({"registry.model_package_group": "m" * 64}, r"model_package_group .*at most 63"),
    ({"aws.role_arn": "arn:aws:iam::111122223333:user/me"},
     r"aws\.role_arn .*arn:aws:iam::<12-digit account>:role/<name>"),
    ({"aws.bucket": "My_Bucket"}, r"aws\.bucket 'My_Bucket' is not an S3 bucket name"),
    ({"aws.image_uri": "x" * 256}, r"aws\.image_uri is 256 characters long; .* at most 255"),
    ({"aws.processing_instance_count": 101}, r"aws\.processing_instance_count must be at most 100"),
    ({"aws.cache_expire_after": "30 days"}, r"aws\.cache_expire_after '30 days' is not an ISO 8601"),
    ({"aws.cache_expire_after": "P"}, r"aws\.cache_expire_after 'P' is not an ISO 8601"),
    ({"security.max_runtime_seconds": 777_601},
     r"security\.max_runtime_seconds must be at most 777600 .*got 777601"),
    ({"security.kms_key_id": "alias/my key"}, r"security\.kms_key_id 'alias/my key' is not a KMS"),
    ({"security.subnets": [f"subnet-{i}" for i in range(17)]},
     r"security\.subnets lists 17 ids; a job accepts at most 16"),
    ({"security.security_group_ids": ["sg 1"]},
     r"security\.security_group_ids has ids SageMaker refuses: 'sg 1'"),
    ({"security.tags": {f"k{i}": "v" for i in range(51)}}, r"security\.tags has 51 tags"),
    ({"security.tags": {"aws:team": "ml"}}, r"security\.tags\.aws:team: the 'aws:' prefix"),
    ({"security.tags": {"team": "ml;drop"}}, r"security\.tags\.team: tag values .*'ml;drop'"),
    ({"tuning.warm_start_parents": [f"t{i}" for i in range(6)]},
     r"tuning\.warm_start_parents lists 6 tuning jobs; .* at most 5"),
    ({"tuning.warm_start_parents": ["s3://bucket/tune"]},
     r"tuning\.warm_start_parents has names .*'s3://bucket/tune'"),
    ({"data.uri": "s3://bkt/data (copy).csv"}, r"data\.uri 's3://bkt/data \(copy\)\.csv' cannot"),
    ({"aws.prefix": "p" * 101}, r"aws\.prefix 'p{101}' must be at most 100"),
    ({"data.target": "churned (30d)"},
     r"data\.target 'churned \(30d\)' cannot be recorded .*hp:target.*rename the label column"),
])
def test_values_sagemaker_would_refuse_are_config_errors(overrides: dict, message: str) -> None:
    from trainguard.steps.limits import check_service_limits

    cfg = resolve_config(overrides=overrides)  # the typed config itself accepts these
    with pytest.raises(ConfigError, match=message):
        check_service_limits(cfg)


def test_values_at_the_limits_pass() -> None:
    from trainguard.steps.limits import check_service_limits

    check_service_limits(resolve_config(overrides={
        "aws.pipeline_name": "a" + "-b" * 127, "registry.model_package_group": "m" * 63,
        "aws.bucket": "my.bucket-1", "aws.cache_expire_after": "PT12H",
        "security.max_runtime_seconds": 777_600, "security.kms_key_id": "alias/my-key",
        "security.subnets": [f"subnet-{i}" for i in range(16)],
        "security.tags": {"team name": "ML Platform / risk@example.com"},
        "data.target": "churned_30d:flag", "data.uri": "s3://bkt/churn/2024-01.csv",
        "aws.prefix": "/" + "p" * 100 + "/",
        "tuning.warm_start_parents": [f"tune-{i}" for i in range(5)]}))
    # Checks that only apply to a feature in use: cache durations with caching off, parents
    # without tuning.
    check_service_limits(resolve_config(overrides={
        "aws.cache_steps": False, "aws.cache_expire_after": "30 days",
        "tuning.enabled": False, "tuning.warm_start_parents": ["not a name"]}))


def test_every_refused_value_is_reported_at_once_by_build_and_by_the_command(
        capsys: pytest.CaptureFixture) -> None:
    from trainguard.pipelines.cli import main

    bad = {"aws.pipeline_name": "my pipeline", "security.tags": {"aws:x": "y"}}
    with pytest.raises(ConfigError, match=r"(?s)2 config problems:.*pipeline_name.*aws:x"):
        build_pipeline(overrides=bad)
    assert main(["definition", "--set", "aws.pipeline_name=my pipeline",
                 "--set", "security.max_runtime_seconds=1000000"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "2 config problems" in captured.err and "Traceback" not in captured.err
    assert "max_runtime_seconds must be at most 777600" in captured.err


def test_limits_agree_with_the_service_model() -> None:
    """The bounds and patterns are botocore's SageMaker model's, so they cannot drift apart."""
    import botocore.session
    from trainguard.steps import limits

    service = botocore.session.get_session().get_service_model("sagemaker")

    def member(operation: str, *path: str) -> Any:
        shape = service.operation_model(operation).input_shape
        for part in path:
            shape = shape.member if part == "[]" else shape.members[part]
        return shape

    proc = "CreateProcessingJob"
    assert member(proc, "StoppingCondition", "MaxRuntimeInSeconds").metadata["max"] == \
        limits.MAX_PROCESSING_RUNTIME_SECONDS
    assert member(proc, "ProcessingResources", "ClusterConfig", "InstanceCount").metadata[
        "max"] == limits.MAX_PROCESSING_INSTANCES
    assert member(proc, "AppSpecification", "ImageUri").metadata["max"] == limits.MAX_IMAGE_URI
    assert member(proc, "Tags").metadata["max"] == limits.MAX_TAGS
    for op in (proc, "CreateTrainingJob"):
        vpc = member(op, "NetworkConfig", "VpcConfig") if op == proc else member(op, "VpcConfig")
        assert vpc.members["Subnets"].metadata["max"] == limits.MAX_SUBNETS
        assert vpc.members["SecurityGroupIds"].metadata["max"] == limits.MAX_SECURITY_GROUPS
        assert vpc.members["Subnets"].member.metadata["pattern"] == "[-0-9a-zA-Z]+"
    parents = member("CreateHyperParameterTuningJob", "WarmStartConfig",
                     "ParentHyperParameterTuningJobs")
    assert parents.metadata["max"] == limits.MAX_WARM_START_PARENTS
    assert parents.member.members["HyperParameterTuningJobName"].metadata["pattern"] == \
        limits.TUNING_JOB_NAME.pattern
    assert member("CreatePipeline", "PipelineName").metadata["pattern"] == \
        limits.PIPELINE_NAME.pattern
    assert member("CreateModelPackage", "ModelPackageGroupName").metadata["pattern"] == \
        limits.MODEL_PACKAGE_GROUP.pattern
    assert member(proc, "RoleArn").metadata["pattern"] == limits.ROLE_ARN.pattern
    assert member(proc, "ProcessingResources", "ClusterConfig", "VolumeKmsKeyId").metadata[
        "pattern"] == limits.KMS_KEY.pattern


# ---- step builders reused in a pipeline of one's own ------------------------------------------


def test_step_builders_compose_a_pipeline_of_ones_own(default_definition: dict) -> None:
    from trainguard.pipelines import build_context
    from trainguard.steps.processing import evaluate_step, preprocess_step
    from trainguard.steps.sdk import Pipeline
    from trainguard.steps.training import train_step

    env_before = dict(os.environ)
    with build_context(cv__folds=5) as ctx:
        assert os.environ["SAGEMAKER_VALIDATE_ROLE"] == "false"  # inside the offline scope
        pre = preprocess_step(ctx)
        outputs = pre.properties.ProcessingOutputConfig.Outputs
        train, model_uri = train_step(ctx, outputs["train"].S3Output.S3Uri)
        evaluate, _ = evaluate_step(ctx, model_uri, outputs["test"].S3Output.S3Uri)
        pipeline = Pipeline(name="my-own", parameters=ctx.params.all,
                            steps=[pre, train, evaluate], sagemaker_session=ctx.session)
        mine = json.loads(pipeline.definition())
    assert [s["Name"] for s in mine["Steps"]] == ["Preprocess", "Train", "Evaluate"]
    ours = {s["Name"]: s for s in default_definition["Steps"]}
    # The same builder gives the same step as in build_pipeline()'s pipeline.
    assert mine["Steps"][0] == ours["Preprocess"]
    train_args = mine["Steps"][1]["Arguments"]
    assert train_args["EnableNetworkIsolation"] is True
    assert train_args["ResourceConfig"]["VolumeKmsKeyId"] == ctx.security.kms_key_id
    model = next(i for i in mine["Steps"][2]["Arguments"]["ProcessingInputs"]
                 if i["InputName"] == "model")
    assert model["S3Input"]["S3Uri"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert dict(os.environ) == env_before  # the offline scope ended with the block


def test_build_context_refuses_bad_config_before_the_block_runs() -> None:
    from trainguard.pipelines.build import build_context

    entered = []
    with pytest.raises(ConfigError, match=r"aws\.pipeline_name"), \
            build_context(aws__pipeline_name="no spaces allowed"):
        entered.append(True)
    assert entered == []
