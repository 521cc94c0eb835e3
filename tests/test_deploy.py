"""diff and upsert against a real moto server over HTTP: create, no-op, update, start, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from moto_server import MotoServer
from ops_fixtures import counting_session
from trainguard.pipelines.ci import upsert as deploy
from trainguard.pipelines.ci.aws import DeployError, aws_errors, client_config, pipeline_clients, unless_missing
from trainguard.pipelines.ci.diff import diff_definitions
from trainguard.pipelines.ci.staging import local_data
from trainguard.pipelines.cli import main
from trainguard.training.config import load_config

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE = f"arn:aws:iam::{ACCOUNT}:role/trainguard-exec"
DEFAULT_BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MotoServer]:
    """Fresh moto state and an environment like CI's: endpoint, fake credentials, one attempt."""
    moto.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    yield moto


def _client(service: str) -> Any:
    """A client from a fresh session, so it reads this test's environment (not a cached one)."""
    return boto3.Session().client(service, region_name=REGION)


@pytest.fixture
def kms_key(aws: MotoServer) -> str:
    """The configured key. One fixed ARN: every test then shares one config and one build (moto
    records the key id S3 is given without checking the key, so a created key adds nothing)."""
    return KMS_KEY


@pytest.fixture
def config_file(tmp_path: Path, kms_key: str) -> Path:
    path = tmp_path / "trainguard.yaml"
    path.write_text(yaml.safe_dump({
        "aws": {"region": REGION, "role_arn": ROLE, "pipeline_name": "tg-test"},
        "security": {"kms_key_id": kms_key, "subnets": ["subnet-0abc1234def567890"],
                     "security_group_ids": ["sg-0abc1234def567890"]},
        "tuning": {"max_jobs": 8},
    }))
    return path


def _safe_bucket(s3: Any, name: str) -> None:
    """A bucket upsert accepts: default SSE-KMS and every public access block on."""
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY}}]})
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})


def test_first_upsert_creates_second_is_a_noop(config_file: Path, kms_key: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE]) == 0
    out = capsys.readouterr()
    arn = out.out.strip()
    assert arn == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/tg-test"
    assert "created bucket" in out.err and "uploaded code bundle" in out.err
    sm, s3 = _client("sagemaker"), _client("s3")
    first = sm.describe_pipeline(PipelineName="tg-test")
    assert first["RoleArn"] == ROLE
    objects = s3.list_objects_v2(Bucket=DEFAULT_BUCKET)["Contents"]
    assert sorted(o["Key"].split("/")[1] for o in objects) == ["code", "data"]

    session, calls = counting_session()
    cfg = load_config(config_file)
    result = deploy.upsert(cfg, session=session, out=lambda _line: None)
    assert (result.action, result.uploaded, result.data_uploaded, result.bucket_created) == (
        "unchanged", False, False, False)
    assert result.pipeline_arn == arn
    assert calls["PutObject"] == 0 and calls["CreatePipeline"] == 0
    assert calls["UpdatePipeline"] == 0 and calls["CreateBucket"] == 0
    assert calls["HeadObject"] == 2 and calls["DescribePipeline"] == 1  # bundle and data
    assert s3.list_objects_v2(Bucket=DEFAULT_BUCKET)["Contents"] == objects
    assert sm.describe_pipeline(PipelineName="tg-test")["LastModifiedTime"] == first["LastModifiedTime"]

    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE]) == 0
    err = capsys.readouterr().err
    assert "not uploaded again" in err and "pipeline tg-test unchanged" in err


def test_bundle_is_sse_kms_and_default_bucket_is_encrypted_and_private(config_file: Path,
                                                                       kms_key: str) -> None:
    result = deploy.upsert(load_config(config_file), out=lambda _line: None)
    from trainguard.pipelines.bundle import build_bundle

    bundle = build_bundle()
    assert result.bundle_uri == f"s3://{DEFAULT_BUCKET}/trainguard/code/{bundle.sha256}/sourcedir.tar.gz"
    s3 = _client("s3")
    key = result.bundle_uri.split("/", 3)[3]
    head = s3.head_object(Bucket=DEFAULT_BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms_key
    assert s3.get_object(Bucket=DEFAULT_BUCKET, Key=key)["Body"].read() == bundle.data
    [rule] = s3.get_bucket_encryption(Bucket=DEFAULT_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                          "KMSMasterKeyID": kms_key}
    assert all(s3.get_public_access_block(Bucket=DEFAULT_BUCKET)["PublicAccessBlockConfiguration"]
               .values())
    deployed = _client("sagemaker").describe_pipeline(PipelineName="tg-test")["PipelineDefinition"]
    assert result.bundle_uri in deployed
    tags = _client("sagemaker").list_tags(ResourceArn=result.pipeline_arn)["Tags"]
    assert {"Key": "project", "Value": "trainguard"} in tags


def test_local_data_is_staged_once_and_strangers_in_the_prefix_are_refused(
        config_file: Path, kms_key: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = deploy.upsert(load_config(config_file), out=lambda _line: None)
    assert result.data_uploaded
    s3 = _client("s3")
    head = s3.head_object(Bucket=DEFAULT_BUCKET, Key="trainguard/data/data.csv")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms_key
    body = s3.get_object(Bucket=DEFAULT_BUCKET, Key="trainguard/data/data.csv")["Body"].read()
    assert body.splitlines()[0].endswith(b",is_eight") and len(body.splitlines()) == 1798

    s3.put_object(Bucket=DEFAULT_BUCKET, Key="trainguard/data/old.csv", Body=b"a,b\n")
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE]) == 2
    err = capsys.readouterr().err
    assert "already holds trainguard/data/old.csv" in err and "reads the whole prefix" in err

    session, calls = counting_session()
    s3_data = load_config(config_file, {"data.uri": "s3://tg-elsewhere/input/data.csv"})
    result = deploy.upsert(s3_data, session=session, out=lambda _line: None)
    assert not result.data_uploaded and calls["PutObject"] == 0
    assert result.action == "updated"  # InputDataUri's default changed


def test_objects_found_unencrypted_at_our_keys_are_replaced_with_sse_kms(
        config_file: Path, kms_key: str) -> None:
    """Someone else's copy at the bundle's or the data's key, not SSE-KMS (here SSE-S3, overriding
    the bucket's default), is not taken as ours."""
    import hashlib

    from trainguard.pipelines.bundle import build_bundle

    s3 = _client("s3")
    _safe_bucket(s3, "tg-plain")  # the bucket passes upsert's checks; the objects in it do not
    bundle = build_bundle()
    code_key = bundle.s3_uri("tg-plain", "trainguard").split("/", 3)[3]
    s3.put_object(Bucket="tg-plain", Key=code_key, Body=bundle.data, ServerSideEncryption="AES256")
    cfg = load_config(config_file, {"aws.bucket": "tg-plain"})
    _name, data = local_data(cfg)
    s3.put_object(Bucket="tg-plain", Key="trainguard/data/data.csv", Body=data, ServerSideEncryption="AES256",
                  Metadata={"sha256": hashlib.sha256(data).hexdigest()})
    assert s3.head_object(Bucket="tg-plain", Key=code_key).get("ServerSideEncryption") != "aws:kms"

    lines: list[str] = []
    result = deploy.upsert(cfg, out=lines.append)
    assert result.uploaded and result.data_uploaded
    assert any("is not this bundle encrypted with SSE-KMS; replacing it" in line for line in lines)
    for key in (code_key, "trainguard/data/data.csv"):
        head = s3.head_object(Bucket="tg-plain", Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", kms_key)
    again = deploy.upsert(cfg, out=lambda _line: None)
    assert (again.uploaded, again.data_uploaded, again.action) == (False, False, "unchanged")


def test_config_change_shows_in_diff_then_updates(config_file: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--config", str(config_file)]
    assert main(["diff", *base]) == 1
    assert "+ pipeline tg-test: not deployed in eu-west-1 yet" in capsys.readouterr().out
    assert main(["upsert", *base, "--role-arn", ROLE]) == 0
    assert main(["diff", *base]) == 0
    assert "equals the local one" in capsys.readouterr().out

    change = ["--set", "tuning.max_jobs=4", "--set", "security.tags.team=ml"]
    assert main(["diff", *base, *change]) == 1
    out = capsys.readouterr().out
    assert "MaxNumberOfTrainingJobs: 8 → 4" in out
    assert "Steps[Tune].Arguments.HyperParameterTuningJobConfig.ResourceLimits" in out
    # tags are sorted by key, so "team" lands before the cost-allocation tags
    assert 'Steps[Tune].Arguments.Tags[1].Key: "trainguard-model-group" → "team"' in out
    assert '+ Steps[Tune].Arguments.Tags[4]: {"Key": "trainguard-trigger", "Value": "manual"}' in out

    session, calls = counting_session()
    result = deploy.upsert(load_config(config_file, {"tuning.max_jobs": 4,
                                                     "security.tags.team": "ml"}),
                           session=session, out=lambda _line: None)
    assert result.action == "updated" and not result.uploaded
    assert calls["UpdatePipeline"] == 1 and calls["PutObject"] == 0
    tags = _client("sagemaker").list_tags(ResourceArn=result.pipeline_arn)["Tags"]
    assert {"Key": "team", "Value": "ml"} in tags  # the pipeline's own tags follow the config
    assert main(["diff", *base, *change]) == 0


def test_diff_of_a_missing_pipeline_is_a_difference_so_ci_reaches_upsert(
        config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The example workflow fails on diff's exit 2: a first deployment must not stop there."""
    assert main(["diff", "--config", str(config_file)]) == 1
    captured = capsys.readouterr()
    assert "pipeline tg-test: 1 difference(s)" in captured.out
    assert "+ pipeline tg-test: not deployed in eu-west-1 yet; trainguard upsert creates it" \
        in captured.out
    assert captured.err == ""


def _execution_parameters(arn: str) -> dict[str, str]:
    resp = _client("sagemaker").list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    return {p["Name"]: p["Value"] for p in resp["PipelineParameters"]}


def test_start_passes_parameters_and_a_zero_bar_without_champion(config_file: Path) -> None:
    result = deploy.upsert(load_config(config_file), start=True, params=["MinAuc=0.8"],
                           out=lambda _line: None)
    assert result.execution_arn
    assert _execution_parameters(result.execution_arn) == {"MinAuc": "0.8", "ChampionBar": "0.0"}
    status = _client("sagemaker").describe_pipeline_execution(
        PipelineExecutionArn=result.execution_arn)
    assert status["PipelineArn"] == result.pipeline_arn


def test_start_reads_the_champion_bar_from_the_approved_package(config_file: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    s3, sm = _client("s3"), _client("sagemaker")
    s3.create_bucket(Bucket="tg-reports", CreateBucketConfiguration={"LocationConstraint": REGION})
    report = {"binary_classification_metrics": {"auc": {"value": 0.91, "standard_deviation": 0.0}}}
    s3.put_object(Bucket="tg-reports", Key="run1/evaluation.json", Body=json.dumps(report).encode())
    sm.create_model_package_group(ModelPackageGroupName="trainguard-models")
    spec = {"Containers": [{"Image": "685385470294.dkr.ecr.eu-west-1.amazonaws.com/x:1",
                            "ModelDataUrl": "s3://tg-reports/run1/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}
    sm.create_model_package(
        ModelPackageGroupName="trainguard-models", ModelApprovalStatus="Approved",
        InferenceSpecification=spec,
        ModelMetrics={"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": "s3://tg-reports/run1/evaluation.json"}}})
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE, "--start",
                 "--set", "approval.champion_margin=0.01", "--param", "MinRecall=0.6"]) == 0
    err = capsys.readouterr().err
    assert "ChampionBar=0.92 from arn:aws:sagemaker" in err
    [execution] = sm.list_pipeline_executions(PipelineName="tg-test")["PipelineExecutionSummaries"]
    params = _execution_parameters(execution["PipelineExecutionArn"])
    assert params == {"ChampionBar": "0.92", "MinRecall": "0.6"}


@pytest.mark.parametrize(
    ("extra", "match"),
    [(["--param", "Nope=1", "--start"], "'Nope' is not a parameter of the pipeline"),
     (["--param", "MinAuc"], "--param only applies to an execution; add --start"),
     (["--param", "MinAuc", "--start"], "is not NAME=VALUE"),
     (["--param", "MinAuc=high", "--start"],
      "--param MinAuc='high': MinAuc is of type Float; give a number such as 0.8"),
     (["--param", "MinAuc=nan", "--start"], "MinAuc is of type Float"),
     (["--param", "ProcessingInstanceCount=1.5", "--start"],
      "ProcessingInstanceCount is of type Integer; give a whole number"),
     (["--param", "ModelApprovalStatus=Rejected", "--start"],
      "ModelApprovalStatus must be one of PendingManualApproval, Approved"),
     (["--param", "MinAuc=0.8", "--param", "MinAuc=0.9", "--start"],
      "--param MinAuc is given twice ('0.8' and '0.9'); pass it once")],
)
def test_bad_params_exit_2(config_file: Path, capsys: pytest.CaptureFixture[str],
                           extra: list[str], match: str) -> None:
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE, *extra]) == 2
    assert match in capsys.readouterr().err
    assert _client("sagemaker").list_pipelines()["PipelineSummaries"] == []  # refused before AWS


@pytest.mark.parametrize("bad", [["--param", "Nope=1"], ["--param", "MinAuc=high"],
                                 ["--param", "ModelApprovalStatus=Rejected"], ["--param", "MinAuc"],
                                 ["--param", "MinAuc=0.8", "--param", "MinAuc=0.9"]])
def test_a_bad_param_reads_the_same_in_upsert_and_the_local_run(
        config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]) -> None:
    """One check of --param values (pipelines.definition) serves both paths, so one wording."""
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE, "--start", *bad]) == 2
    upsert_err = capsys.readouterr().err
    assert main(["run", "--local", "--config", str(config_file), "--workdir", str(tmp_path / "w"),
                 "--registry", str(tmp_path / "r.db"), *bad]) == 2
    local_err = capsys.readouterr().err
    [upsert_msg] = [line.split("error: ", 1)[1] for line in upsert_err.splitlines() if "error: " in line]
    [local_msg] = [line.split("error: ", 1)[1] for line in local_err.splitlines() if "error: " in line]
    assert upsert_msg == local_msg and "--param" in upsert_msg
    assert "Traceback" not in upsert_err + local_err


def test_bad_role_arn_exits_2_before_any_aws_call(config_file: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upsert", "--config", str(config_file), "--role-arn", "trainguard-exec"]) == 2
    err = capsys.readouterr().err
    assert "--role-arn 'trainguard-exec' is not an IAM role ARN" in err and "Traceback" not in err
    assert _client("sagemaker").list_pipelines()["PipelineSummaries"] == []


@pytest.mark.parametrize("name", ["tg test", "tg_test", "-tg", "tg-", "x" * 257])
def test_a_pipeline_name_aws_would_refuse_exits_2_before_any_aws_call(
        config_file: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["upsert", "--role-arn", ROLE], ["diff"]):
        assert main([*command, "--config", str(config_file), "--set",
                     f"aws.pipeline_name={name}"]) == 2
        assert f"aws.pipeline_name {name!r} is not a SageMaker pipeline name" in \
            capsys.readouterr().err
    assert _client("sagemaker").list_pipelines()["PipelineSummaries"] == []


def test_missing_credentials_exit_2_with_the_fix(config_file: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE]) == 2
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err and "configure-aws-credentials" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["upsert", "diff"])
def test_missing_region_exits_2_naming_the_setting(config_file: Path, command: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    role = ["--role-arn", ROLE] if command == "upsert" else []
    assert main([command, "--config", str(config_file), *role, "--set", "aws.region="]) == 2
    err = capsys.readouterr().err
    assert "no AWS region: set aws.region in the config, pass --region" in err
    assert "Traceback" not in err


def test_missing_profile_exits_2(config_file: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE,
                 "--profile", "nope"]) == 2
    assert "AWS profile 'nope' (--profile) is not configured" in capsys.readouterr().err
    monkeypatch.setenv("AWS_PROFILE", "gone")
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE]) == 2
    assert "AWS profile 'gone' (AWS_PROFILE) is not configured" in capsys.readouterr().err


@pytest.mark.parametrize(("env", "match"), [
    ({"AWS_SECRET_ACCESS_KEY": None},
     "AWS credentials could not be loaded (Partial credentials found in env, missing: "
     "AWS_SECRET_ACCESS_KEY). Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
      "AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/token", "AWS_ROLE_ARN": ROLE},
     "cannot read an AWS credentials or configuration file (No such file or directory: "
     "/nonexistent/token); check AWS_WEB_IDENTITY_TOKEN_FILE"),
], ids=["half-a-key-pair", "missing-oidc-token-file"])
def test_broken_credentials_exit_2_without_traceback(
        config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        env: dict[str, str | None], match: str) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    for command in (["upsert", "--role-arn", ROLE], ["diff"]):
        assert main([*command, "--config", str(config_file)]) == 2
        captured = capsys.readouterr()
        assert match in captured.err and "Traceback" not in captured.err
        assert captured.out == ""


def test_named_bucket_must_exist(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE,
                 "--set", "aws.bucket=tg-not-there"]) == 2
    err = capsys.readouterr().err
    assert "bucket 'tg-not-there' (aws.bucket) does not exist" in err
    assert _client("sagemaker").list_pipelines()["PipelineSummaries"] == []


def test_lint_errors_refuse_the_upsert(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE,
                 "--set", "security.subnets=[subnet-00000000000000000]"]) == 1
    err = capsys.readouterr().err
    assert "placeholder subnet" in err and "set security.subnets" in err
    assert _client("sagemaker").list_pipelines()["PipelineSummaries"] == []
    assert _client("s3").list_buckets()["Buckets"] == []


@pytest.fixture
def eu_prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A price table refreshed for eu-west-1 (the shipped one covers US regions only)."""
    from trainguard.pipelines.ops import prices

    table = json.loads(prices.PRICE_TABLE_PATH.read_text(encoding="utf-8"))
    table["regions"][REGION] = {"Training": {"ml.m5.xlarge": 0.25}, "Processing": {"ml.m5.xlarge": 0.25}}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(prices, "PRICE_TABLE_PATH", path)


def test_start_over_the_cost_limit_is_rejected_before_anything_is_uploaded(
        config_file: Path, eu_prices: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE, "--start",
                 "--set", "cost.max_execution_usd=1"]) == 3
    err = capsys.readouterr().err
    assert "worst-case cost of this execution is 2.75 USD" in err and "cost.max_execution_usd (1 USD)" in err
    assert _client("sagemaker").list_pipelines()["PipelineSummaries"] == []
    assert _client("s3").list_buckets()["Buckets"] == []


def test_start_in_a_region_the_price_table_lacks_under_a_limit_exits_2_naming_it(
        config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE, "--start",
                 "--set", "cost.max_execution_usd=500"]) == 2
    err = capsys.readouterr().err
    assert "ml.m5.xlarge (training) in eu-west-1 is not in the price table" in err
    assert "cost.max_execution_usd" in err
    assert _client("s3").list_buckets()["Buckets"] == []


def test_start_within_the_limit_prints_the_estimate(config_file: Path, eu_prices: None) -> None:
    lines: list[str] = []
    result = deploy.upsert(load_config(config_file, {"cost.max_execution_usd": 50}), start=True,
                           out=lines.append)
    assert result.execution_arn
    assert any(line.startswith("cost of one execution in eu-west-1") for line in lines)
    assert any("worst case 2.75 USD" in line for line in lines)


def test_endpoint_url_flag_works_without_the_environment(config_file: Path, aws: MotoServer,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE,
                 "--endpoint-url", aws.url]) == 0
    assert capsys.readouterr().out.strip().endswith(":pipeline/tg-test")


# ---------------------------------------------------------------------------------------------
# error mapping (botocore's own exception objects, as its clients raise them)


def _client_error(code: str, operation: str = "UpdatePipeline") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "details from AWS"}}, operation)


@pytest.mark.parametrize(
    ("code", "match"),
    [("AccessDeniedException", r"sagemaker:UpdatePipeline: access denied .*Allow sagemaker:UpdatePipeline"),
     ("ConflictException", "being changed by someone else right now"),
     ("ResourceInUse", "being changed by someone else right now"),
     ("ThrottlingException", "still throttled by AWS .* after retrying with backoff"),
     ("InternalFailure", r"sagemaker:UpdatePipeline failed \(InternalFailure\): details from AWS")],
)
def test_client_errors_become_actionable_deploy_errors(code: str, match: str) -> None:
    with pytest.raises(DeployError, match=match), aws_errors("sagemaker:UpdatePipeline"):
        raise _client_error(code)


@pytest.mark.parametrize(("exc", "match"), [
    (lambda b: b.ReadTimeoutError(endpoint_url="https://api.sagemaker.eu-west-1.amazonaws.com"),
     r"sagemaker:UpdatePipeline: cannot reach the AWS endpoint \(Read timeout"),
    (lambda b: b.TokenRetrievalError(provider="sso", error_msg="expired"),
     "AWS credentials could not be loaded"),
    (lambda b: b.InvalidConfigError(error_msg="bad max_attempts"),
     r"the AWS client failed before AWS answered \(bad max_attempts\)"),
])
def test_client_side_failures_become_deploy_errors(exc: Any, match: str) -> None:
    import botocore.exceptions

    with pytest.raises(DeployError, match=match), aws_errors("sagemaker:UpdatePipeline"):
        raise exc(botocore.exceptions)


def test_retries_use_standard_mode_with_bounded_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    conf = client_config()
    assert conf.retries == {"mode": "standard", "total_max_attempts": 5}
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    assert client_config().retries["total_max_attempts"] == 2
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "lots")
    with pytest.raises(DeployError, match="AWS_MAX_ATTEMPTS must be a whole number"):
        client_config()


def test_structural_diff_matches_steps_by_name() -> None:
    old = {"Steps": [{"Name": "A", "X": 1}, {"Name": "B", "X": 2}]}
    new = {"Steps": [{"Name": "A", "X": 1}, {"Name": "N", "X": 0}, {"Name": "B", "X": 3}]}
    assert list(diff_definitions(old, new)) == [
        "Steps[B].X: 2 → 3", '+ Steps[N]: {"Name": "N", "X": 0}']


def _enforced_config(user: str) -> dict[str, Any]:
    """One pipeline and one key prefix per user, so no test finds another's uploads."""
    return {"aws": {"region": REGION, "role_arn": ROLE, "pipeline_name": f"tg-{user}",
                    "prefix": user},
            "security": {"kms_key_id": KMS_KEY, "subnets": ["subnet-0abc1234def567890"],
                         "security_group_ids": ["sg-0abc1234def567890"]}}


def _use_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: MotoServer,
              keys: dict[str, str]) -> None:
    for name, value in {**keys, "AWS_ENDPOINT_URL": server.url, "AWS_MAX_ATTEMPTS": "1",
                        "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def enforcing_moto() -> Iterator[tuple[MotoServer, dict[str, dict[str, str]]]]:
    """A moto server that enforces IAM, with users each denied one action CI needs."""
    from trainguard.pipelines.build import definition_json
    from trainguard.pipelines.ci.iam import deployer_policy

    policies = {user: {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": action, "Resource": "*"}]}
        for user, action in (("no-put", "s3:PutObject"), ("no-create", "sagemaker:CreatePipeline"))}
    cfg = load_config(_enforced_config("deployer"))
    deployer = deployer_policy(cfg, json.loads(definition_json(cfg)))["PolicyDocument"]
    # Two differences between moto's authorization and AWS's, bridged here and only here:
    # moto checks every non-S3 action against resource "*" (so the statement's actions are
    # tested, S3 resources exactly), and it names HeadBucket "s3:HeadBucket" where AWS checks
    # s3:ListBucket (granted by the policy).
    for st in deployer["Statement"]:
        if not all(a.startswith("s3:") for a in st["Action"]):
            st["Resource"] = "*"
    deployer["Statement"].append({
        "Effect": "Allow", "Action": "s3:HeadBucket", "Resource": f"arn:aws:s3:::{DEFAULT_BUCKET}"})
    policies["deployer"] = deployer
    server = MotoServer(env={"INITIAL_NO_AUTH_ACTION_COUNT": str(3 * len(policies))})
    try:
        admin = boto3.Session(aws_access_key_id="admin", aws_secret_access_key="admin")
        iam = admin.client("iam", endpoint_url=server.url, region_name=REGION)
        keys = {}
        for user, policy in policies.items():
            iam.create_user(UserName=user)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            iam.put_user_policy(UserName=user, PolicyName="ci", PolicyDocument=json.dumps(policy))
            keys[user] = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                          "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        yield server, keys
    finally:
        server.stop()


def test_the_derived_deployer_policy_is_enough_for_upsert_start_and_diff(
        enforcing_moto: tuple[MotoServer, dict[str, dict[str, str]]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """moto enforces the policy from ``iam-policy --deployer``: the whole CI flow runs under it."""
    server, keys = enforcing_moto
    _use_user(monkeypatch, tmp_path, server, keys["deployer"])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_enforced_config("deployer")))
    cli = ["--config", str(path)]
    assert main(["upsert", *cli, "--role-arn", ROLE, "--start", "--param", "MinAuc=0.8"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith(":pipeline/tg-deployer"), captured.err
    assert main(["upsert", *cli, "--role-arn", ROLE]) == 0
    assert "not uploaded again" in capsys.readouterr().err
    assert main(["diff", *cli]) == 0
    # the same identity may not stage code anywhere else in the bucket
    assert main(["upsert", *cli, "--role-arn", ROLE, "--set", "aws.prefix=elsewhere"]) == 2
    assert "s3:GetObject: access denied" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("user", "expected"),
    [("no-put", "s3:PutObject: access denied (AccessDenied). Allow s3:PutObject"),
     ("no-create", "sagemaker:CreatePipeline: access denied")],
)
def test_access_denied_names_the_action_and_nothing_is_reported_done(
        enforcing_moto: tuple[MotoServer, dict[str, dict[str, str]]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        user: str, expected: str) -> None:
    server, keys = enforcing_moto
    _use_user(monkeypatch, tmp_path, server, keys[user])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_enforced_config(user)))
    assert main(["upsert", "--config", str(path), "--role-arn", ROLE]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and "Traceback" not in captured.err
    assert captured.out == ""  # no pipeline ARN printed
    if user == "no-put":
        assert "uploaded" not in captured.err
    names = [p["PipelineName"] for p in
             _client("sagemaker").list_pipelines()["PipelineSummaries"]]
    assert f"tg-{user}" not in names


def test_a_region_mismatch_is_noted_and_region_flag_wins(config_file: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE]) == 0
    captured = capsys.readouterr()
    assert "AWS_REGION is us-west-2 but aws.region is eu-west-1" in captured.err
    assert captured.out.startswith("arn:aws:sagemaker:eu-west-1:")
    assert main(["diff", "--config", str(config_file), "--region", "us-west-2"]) == 1
    assert "pipeline tg-test: not deployed in us-west-2 yet" in capsys.readouterr().out


def test_deploy_clients_retry_in_standard_mode(aws: MotoServer, config_file: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    s3, sm = pipeline_clients(load_config(config_file), boto3.Session(region_name=REGION), None)
    for client in (s3, sm):
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert client.meta.endpoint_url == aws.url


def test_throttling_is_retried_with_backoff_then_reported(config_file: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A loopback endpoint that always throttles: botocore retries, then one clear error."""
    import http.server
    import threading

    hits: list[str] = []

    class Throttle(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hits.append(self.headers.get("X-Amz-Target", ""))
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Throttle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert main(["diff", "--config", str(config_file), "--endpoint-url", url]) == 2
    finally:
        server.shutdown()
        server.server_close()
    assert hits == ["SageMaker.DescribePipeline"] * 2  # first try + one retry, then give up
    err = capsys.readouterr().err
    assert "sagemaker:DescribePipeline: still throttled by AWS (ThrottlingException) after " \
           "retrying with backoff" in err


def test_a_named_profile_supplies_the_credentials(config_file: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[ci]\naws_access_key_id = profilekey\naws_secret_access_key = profilesecret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE]) == 2
    assert "no AWS credentials found" in capsys.readouterr().err
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE, "--profile", "ci"]) == 0
    assert capsys.readouterr().out.strip().endswith(":pipeline/tg-test")


def test_the_example_workflow_deploys_a_new_pipeline(config_file: Path, aws: MotoServer,
                                                     tmp_path: Path) -> None:
    """The run steps of examples/github-actions.yml on a push to main, in bash as Actions runs
    them (-eo pipefail), against moto.

    A first push to main must get through lint and the diff (not deployed yet) to the upsert.
    """
    import os
    import re
    import subprocess
    import sys

    workflow = yaml.safe_load((Path(__file__).parents[1] / "examples" / "github-actions.yml")
                              .read_text())
    job = workflow["jobs"]["deploy"]
    variables = {"PIPELINE_ROLE_ARN": ROLE, "AWS_DEPLOY_ROLE_ARN": ROLE, "AWS_REGION": REGION}
    summary = tmp_path / "summary.md"
    env = {**os.environ, **job["env"], "CONFIG": str(config_file),
           "GITHUB_STEP_SUMMARY": str(summary),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = []
    for step in job["steps"]:
        if "run" not in step or "pip install" in step["run"]:
            continue
        script = re.sub(r"\$\{\{\s*vars\.(\w+)\s*\}\}", lambda m: variables[m.group(1)],
                        step["run"])
        assert "${{" not in script, script
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                              check=False)
        assert proc.returncode == 0, (step["name"], proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        ran.append(step["name"])
    assert ran == ["Lint the pipeline definition", "Diff against the deployed pipeline",
                   "Upsert the pipeline"]
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/tg-test"
    assert (tmp_path / "pipeline-arn.txt").read_text().strip() == arn
    assert summary.read_text().strip() == f"Pipeline: {arn}"
    assert _client("sagemaker").describe_pipeline(PipelineName="tg-test")["RoleArn"] == ROLE


def test_the_notebook_habit_upserts_through_trainguard_and_start_names_the_call_to_use(
        config_file: Path) -> None:
    """build_pipeline(...).upsert(role_arn=...) works like `trainguard upsert`; .start() refuses."""
    from trainguard.training.errors import ConfigError

    import trainguard

    pipeline = trainguard.build_pipeline(str(config_file))
    resp = pipeline.upsert(role_arn=ROLE)
    assert resp["PipelineArn"].endswith(":pipeline/tg-test")
    objects = _client("s3").list_objects_v2(Bucket=DEFAULT_BUCKET)["Contents"]
    assert any(o["Key"].endswith("sourcedir.tar.gz") for o in objects)  # the bundle was uploaded
    with pytest.raises(ConfigError, match=r"trainguard\.start\(config, role_arn=\.\.\.\)"):
        pipeline.start()
    with pytest.raises(ConfigError, match=r"pipeline\.upsert\(role_arn=\.\.\.\)"):
        pipeline.create(role_arn=ROLE)

    result = trainguard.start(str(config_file), role_arn=ROLE, parameters={"MinAuc": 0.8},
                              out=lambda _line: None)
    assert result.action == "unchanged"
    assert _execution_parameters(result.execution_arn) == {"MinAuc": "0.8", "ChampionBar": "0.0"}
    assert trainguard.diff(str(config_file), role_arn=ROLE) == []
    findings = trainguard.lint(_client("sagemaker").describe_pipeline(PipelineName="tg-test"))
    assert not [f for f in findings if f.severity == "error"]


@pytest.mark.parametrize("missing", ["encryption", "public-access-block", "both"])
def test_an_existing_bucket_without_sse_kms_or_a_public_access_block_is_refused(
        config_file: Path, capsys: pytest.CaptureFixture[str], missing: str) -> None:
    """Upsert writes only to a bucket with default SSE-KMS and all four public-access blocks on;
    it refuses (changing nothing, uploading nothing) and prints the fixing command otherwise."""
    s3 = _client("s3")
    s3.create_bucket(Bucket="tg-named", CreateBucketConfiguration={"LocationConstraint": REGION})
    if missing != "encryption" and missing != "both":
        s3.put_bucket_encryption(Bucket="tg-named", ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY}}]})
    else:
        s3.put_bucket_encryption(Bucket="tg-named", ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    if missing == "encryption":
        s3.put_public_access_block(Bucket="tg-named", PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
    elif missing == "public-access-block":
        s3.put_public_access_block(Bucket="tg-named", PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True})
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE,
                 "--set", "aws.bucket=tg-named"]) == 2
    err = capsys.readouterr().err
    assert "bucket tg-named would hold the pipeline's code and data" in err and "Traceback" not in err
    if missing in ("encryption", "both"):
        assert "not SSE-KMS (found: AES256)" in err and "put-bucket-encryption" in err
    if missing in ("public-access-block", "both"):
        assert "public access block is off for" in err and "put-public-access-block" in err
    if missing == "public-access-block":
        assert "off for BlockPublicPolicy;" in err
    assert s3.list_objects_v2(Bucket="tg-named").get("KeyCount", 0) == 0
    assert _client("sagemaker").list_pipelines()["PipelineSummaries"] == []


def test_a_bucket_with_both_safeguards_is_used(config_file: Path) -> None:
    s3 = _client("s3")
    _safe_bucket(s3, "tg-named")
    assert main(["upsert", "--config", str(config_file), "--role-arn", ROLE, "--set", "aws.bucket=tg-named"]) == 0
    assert s3.list_objects_v2(Bucket="tg-named")["KeyCount"] == 2


def test_a_role_of_another_account_is_refused_before_anything_is_created(
        config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = "arn:aws:iam::210987654321:role/trainguard-exec"
    assert main(["upsert", "--config", str(config_file), "--role-arn", other]) == 2
    err = capsys.readouterr().err
    assert f"the role {other} belongs to account 210987654321, but the credentials in use are account " \
           f"{ACCOUNT}" in err and "Traceback" not in err
    assert _client("s3").list_buckets()["Buckets"] == []
    assert _client("sagemaker").list_pipelines()["PipelineSummaries"] == []


def test_unless_missing_answers_none_only_for_the_named_absence() -> None:
    """The read-or-absent helper every ops module uses: a missing resource is None, any other
    AWS error still stops with the action named."""
    def failing(code: str) -> Any:
        def call() -> Any:
            raise ClientError({"Error": {"Code": code, "Message": "m"}}, "GetThing")
        return call

    assert unless_missing("svc:GetThing", lambda: {"ok": 1}) == {"ok": 1}
    assert unless_missing("svc:GetThing", failing("ResourceNotFoundException")) is None
    assert unless_missing("sqs:GetQueueUrl", failing("QueueDoesNotExist"), ("QueueDoesNotExist",)) is None
    with pytest.raises(DeployError, match=r"svc:GetThing.*AccessDenied"):
        unless_missing("svc:GetThing", failing("AccessDenied"))
    with pytest.raises(DeployError, match="svc:GetThing"):  # a code missing elsewhere, not here
        unless_missing("svc:GetThing", failing("QueueDoesNotExist"))
