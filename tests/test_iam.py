"""Least-privilege role policy derived from the definition: scoped, no wildcard actions, parliament-clean."""

from __future__ import annotations

import json
from typing import Any

import parliament
import pytest
from test_lint import BUCKET, KEY, MALFORMED, ROLE, good_definition
from trainguard.pipelines.ci.iam import IamError, derive_policy, s3_access
from trainguard.pipelines.cli import main

REGION = "eu-west-1"


def _policy(defn: dict[str, Any] | None = None) -> dict[str, Any]:
    return derive_policy(defn or good_definition(), role_arn=ROLE, region=REGION)


def _statements(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["PolicyDocument"]["Statement"]}


def _actions(doc: dict[str, Any]) -> list[str]:
    out = []
    for st in doc["PolicyDocument"]["Statement"]:
        acts = st["Action"]
        out.extend([acts] if isinstance(acts, str) else acts)
    return out


def test_parliament_finds_nothing_in_the_policy() -> None:
    pol = parliament.analyze_policy_string(json.dumps(_policy()["PolicyDocument"]))
    assert [(f.issue, f.detail) for f in pol.findings] == []


def test_parliament_community_auditors_flag_only_the_inherent_actions() -> None:
    """The community auditors flag action categories, not mistakes; each one listed is required:

    - ecr:GetAuthorizationToken (CREDENTIALS_EXPOSURE): a job cannot pull its image from ECR
      without a registry login token.
    - kms:CreateGrant (PERMISSIONS_MANAGEMENT): SageMaker encrypts job volumes through a grant;
      conditioned on kms:GrantIsForAWSResource so only AWS services can use it.
    - iam:PassRole (PERMISSIONS_MANAGEMENT): the pipeline hands its role to its jobs; limited to
      this one role and to sagemaker.amazonaws.com.
    - ec2:CreateNetworkInterfacePermission (PERMISSIONS_MANAGEMENT): SageMaker attaches job
      network interfaces in the VPC; limited to the pipeline's subnets.
    """
    pol = parliament.analyze_policy_string(json.dumps(_policy()["PolicyDocument"]),
                                           include_community_auditors=True)
    flagged = {(f.issue, a) for f in pol.findings for a in f.location["actions"]}
    assert flagged == {
        ("CREDENTIALS_EXPOSURE", "ecr:getauthorizationtoken"),
        ("PERMISSIONS_MANAGEMENT_ACTIONS", "kms:creategrant"),
        ("PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole"),
        ("PERMISSIONS_MANAGEMENT_ACTIONS", "ec2:createnetworkinterfacepermission"),
    }


def test_no_wildcard_actions() -> None:
    actions = _actions(_policy())
    assert actions and not [a for a in actions if "*" in a]
    assert "sagemaker:*" not in actions


def test_s3_prefixes_match_the_definition_uris_exactly() -> None:
    st = _statements(_policy())
    assert st["ReadPipelineData"]["Action"] == ["s3:GetObject"]
    assert set(st["ReadPipelineData"]["Resource"]) == {
        "arn:aws:s3:::tg-data/input/data.csv*",  # InputDataUri's default
        "arn:aws:s3:::tg-bucket/trainguard/code/abc123/sourcedir.tar.gz*",  # code bundle
        "arn:aws:s3:::tg-bucket/trainguard/*",  # Preprocess/Evaluate outputs (per execution)
        "arn:aws:s3:::tg-bucket/trainguard/models*",  # the tuner's model artifacts
    }
    assert st["WritePipelineOutputs"]["Action"] == ["s3:PutObject"]
    assert set(st["WritePipelineOutputs"]["Resource"]) == {
        "arn:aws:s3:::tg-bucket/trainguard/*", "arn:aws:s3:::tg-bucket/trainguard/models*"}
    listing = {s["Resource"]: s["Condition"]["StringLike"]["s3:prefix"]
               for s in st.values() if s["Action"] == ["s3:ListBucket"]}
    assert listing == {
        "arn:aws:s3:::tg-bucket": ["trainguard/*", "trainguard/code/abc123/sourcedir.tar.gz*",
                                   "trainguard/models*"],
        "arn:aws:s3:::tg-data": ["input/data.csv*"],
    }


def test_reads_follow_step_references_and_writes_come_from_outputs() -> None:
    defn = good_definition()
    access = s3_access(defn)
    assert access.writes == {f"{BUCKET}/", f"{BUCKET}/models"}
    # a new output under another prefix is written, and read by the step that references it
    defn["Steps"][0]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = \
        "s3://other-bucket/train"
    access = s3_access(defn)
    assert "s3://other-bucket/train" in access.writes
    assert "s3://other-bucket/train" in access.reads


def test_kms_keys_and_conditions() -> None:
    st = _statements(_policy())
    assert st["UsePipelineKmsKeys"]["Resource"] == [KEY]
    assert set(st["UsePipelineKmsKeys"]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert st["GrantKmsToSageMakerVolumes"]["Condition"] == {
        "Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_jobs_are_scoped_and_creation_requires_the_controls() -> None:
    st = _statements(_policy())
    create = st["CreateProcessingJobs"]
    assert create["Resource"] == \
        "arn:aws:sagemaker:eu-west-1:123456789012:processing-job/pipelines-*"
    cond = create["Condition"]
    assert cond["Bool"] == {"sagemaker:NetworkIsolation": "true",
                            "sagemaker:InterContainerTrafficEncryption": "true"}
    assert cond["ArnEquals"]["sagemaker:VolumeKmsKey"] == [KEY]
    assert cond["ForAllValues:StringEquals"]["sagemaker:VpcSubnets"] == ["subnet-0abc1234def567890"]
    assert cond["Null"] == {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"}
    assert cond["NumericLessThanEquals"] == {"sagemaker:MaxRuntimeInSeconds": "3600"}
    assert "Condition" in st["CreateHyperParameterTuningJobs"]
    assert "CreateTrainingJobs" not in st  # no Training step in this pipeline
    assert st["RegisterModelPackages"]["Resource"] == [
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package/trainguard-models/*"]


def test_a_control_missing_from_a_job_is_not_required_by_the_policy() -> None:
    """The policy describes the pipeline; lint, not IAM, is where missing controls are reported."""
    defn = good_definition()
    del defn["Steps"][0]["Arguments"]["NetworkConfig"]["EnableNetworkIsolation"]
    cond = _statements(_policy(defn))["CreateProcessingJobs"]["Condition"]
    assert cond["Bool"] == {"sagemaker:InterContainerTrafficEncryption": "true"}


def test_passrole_only_self_to_sagemaker_and_trust_policy() -> None:
    doc = _policy()
    st = _statements(doc)["PassOwnRoleToSageMaker"]
    assert st["Resource"] == ROLE
    assert st["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    [trust] = doc["TrustPolicy"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_ecr_network_logs_and_metrics_are_scoped() -> None:
    st = _statements(_policy())
    assert st["PullJobImages"]["Resource"] == [
        "arn:aws:ecr:eu-west-1:685385470294:repository/sagemaker-xgboost"]
    assert "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0abc1234def567890" in \
        st["CreateJobNetworkInterfaces"]["Resource"]
    assert st["ManageJobNetworkInterfaces"]["Condition"]["ArnEquals"]["ec2:Subnet"] == [
        "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0abc1234def567890"]
    assert all("/aws/sagemaker/" in r for r in st["WriteJobLogs"]["Resource"])
    assert st["PutJobMetrics"]["Condition"] == {
        "StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}


def test_bad_role_and_unscopable_input_raise() -> None:
    with pytest.raises(IamError, match=r"role ARN 'trainguard' is malformed.*aws.role_arn"):
        derive_policy(good_definition(), role_arn="trainguard", region=REGION)
    defn = good_definition()
    defn["Parameters"][0].pop("DefaultValue")
    with pytest.raises(IamError, match="step Preprocess: cannot tell which S3 location"):
        _policy(defn)
    defn = good_definition()
    defn["Steps"][1]["Arguments"]["TrainingJobDefinition"]["RoleArn"] = \
        "arn:aws:iam::123456789012:role/other"
    with pytest.raises(IamError, match="passes other roles"):
        _policy(defn)


def test_cli_malformed_role_arn_names_both_places_to_fix_it(tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(good_definition()))
    assert main(["iam-policy", "--definition", str(path), "--role-arn", "bad",
                 "--region", REGION]) == 2
    err = capsys.readouterr().err
    assert "role ARN 'bad' is malformed" in err
    assert "(pass --role-arn or set aws.role_arn)" in err


def test_cli_definition_out_and_split(tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(good_definition()))
    assert main(["iam-policy", "--definition", str(path), "--role-arn", ROLE, "--region", REGION]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == _policy()
    out = tmp_path / "policy.json"
    assert main(["iam-policy", "--definition", str(path), "--role-arn", ROLE, "--region", REGION,
                 "--out", str(out), "--split"]) == 0
    assert json.loads(out.read_text()) == printed["PolicyDocument"]
    assert json.loads((tmp_path / "policy.trust.json").read_text()) == printed["TrustPolicy"]


def test_cli_definition_alone_infers_role_and_region_or_exits_2(tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(good_definition()))
    assert main(["iam-policy", "--definition", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == _policy()

    defn = good_definition()
    for step in defn["Steps"][:3]:
        args = step["Arguments"]
        args.get("TrainingJobDefinition", args).pop("RoleArn")
    path.write_text(json.dumps(defn))
    assert main(["iam-policy", "--definition", str(path)]) == 2
    assert f"cannot tell the execution role and region from {path} alone; pass --role-arn" in \
        capsys.readouterr().err
    assert main(["iam-policy", "--definition", str(path), "--role-arn", ROLE]) == 0


# ---------------------------------------------------------------------------------------------
# the real build_pipeline() output


def test_policy_of_our_pipeline_is_clean_and_matches_its_uris(tmp_path: Any) -> None:
    import yaml
    from trainguard.pipelines.build import definition_json
    from trainguard.pipelines.bundle import build_bundle
    from trainguard.training.config import load_config

    cfg = load_config({"aws": {"region": REGION, "role_arn": ROLE, "bucket": "tg-bucket"},
                       "security": {"kms_key_id": KEY, "subnets": ["subnet-0abc1234def567890"],
                                    "security_group_ids": ["sg-0abc1234def567890"]}})
    text = definition_json(cfg)
    defn = json.loads(text)
    doc = derive_policy(defn, role_arn=ROLE, region=REGION)
    assert parliament.analyze_policy_string(json.dumps(doc["PolicyDocument"])).findings == []
    assert not [a for a in _actions(doc) if "*" in a]
    st = _statements(doc)
    code = build_bundle().s3_uri("tg-bucket", "trainguard")
    [data] = [p["DefaultValue"] for p in defn["Parameters"] if p["Name"] == "InputDataUri"]
    assert code in text and "s3://tg-bucket/trainguard/runs" in text
    assert set(st["ReadPipelineData"]["Resource"]) == {
        "arn:aws:s3:::tg-bucket/trainguard/code/*", f"arn:aws:s3:::{data[5:]}*",
        "arn:aws:s3:::tg-bucket/trainguard/runs/*"}
    assert st["WritePipelineOutputs"]["Resource"] == ["arn:aws:s3:::tg-bucket/trainguard/runs/*"]
    assert {s["Sid"] for s in doc["PolicyDocument"]["Statement"]} >= {
        "CreateProcessingJobs", "CreateHyperParameterTuningJobs", "RegisterModelPackages"}

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    out = tmp_path / "role.json"
    assert main(["iam-policy", "--config", str(path), "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == doc


def test_a_code_change_keeps_the_role_policy_valid() -> None:
    """The bundle key carries the code's sha256: the next deployment's key must be readable too."""
    def with_bundle(sha: str) -> dict[str, Any]:
        text = json.dumps(good_definition()).replace("/code/abc123/", f"/code/{sha}/")
        return derive_policy(json.loads(text), role_arn=ROLE, region=REGION)

    first, second = with_bundle("1" * 64), with_bundle("2" * 64)
    assert first == second
    st = _statements(first)
    assert "arn:aws:s3:::tg-bucket/trainguard/code/*" in st["ReadPipelineData"]["Resource"]
    assert not [r for r in st["ReadPipelineData"]["Resource"] if "1111" in r]
    assert "trainguard/code/*" in st["ListPipelinePrefixes0"]["Condition"]["StringLike"]["s3:prefix"]
    # only the content-addressed bundle form is widened; other objects keep their exact key
    assert "arn:aws:s3:::tg-bucket/trainguard/code/abc123/sourcedir.tar.gz*" in \
        _statements(_policy())["ReadPipelineData"]["Resource"]


def test_a_quality_check_step_gets_its_processing_job_and_data() -> None:
    import copy

    defn = good_definition()
    check = copy.deepcopy(defn["Steps"][0])
    check.update(Name="Baseline", Type="QualityCheck")
    check["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = "s3://tg-baseline/data.csv"
    check["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = \
        "s3://tg-baseline/report"
    defn["Steps"] = [check]  # the only job: its kind alone must bring the processing grants
    st = _statements(_policy(defn))
    assert st["CreateProcessingJobs"]["Condition"]["Bool"] == {
        "sagemaker:NetworkIsolation": "true", "sagemaker:InterContainerTrafficEncryption": "true"}
    assert "arn:aws:s3:::tg-baseline/data.csv*" in st["ReadPipelineData"]["Resource"]
    assert "arn:aws:s3:::tg-baseline/report*" in st["WritePipelineOutputs"]["Resource"]


def test_an_output_with_no_known_location_is_an_error() -> None:
    defn = good_definition()
    out = defn["Steps"][0]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]
    out["S3Uri"] = {"Std:Join": {"On": "/", "Values": [{"Get": "Execution.PipelineExecutionId"}, "x"]}}
    with pytest.raises(IamError, match=r"step Preprocess: cannot tell which S3 location output"):
        _policy(defn)


@pytest.mark.parametrize("defn", MALFORMED)
def test_malformed_definitions_give_a_policy_or_an_iam_error(defn: dict[str, Any]) -> None:
    try:
        doc = derive_policy(defn, role_arn=ROLE, region=REGION)
    except IamError as exc:
        assert "cannot tell which S3 location" in str(exc)
    else:
        assert doc["PolicyDocument"]["Statement"]


# ---------------------------------------------------------------------------------------------
# the CI identity's policy (--deployer)


def _deployer_cfg(**aws: Any) -> Any:
    from trainguard.training.config import load_config

    return load_config({"aws": {"region": REGION, "role_arn": ROLE, **aws},
                        "security": {"kms_key_id": KEY, "subnets": ["subnet-0abc1234def567890"],
                                     "security_group_ids": ["sg-0abc1234def567890"]}})


def test_deployer_policy_is_scoped_to_this_pipeline_and_parliament_clean() -> None:
    from trainguard.pipelines.ci.iam import deployer_policy

    doc = deployer_policy(_deployer_cfg(bucket="tg-bucket", pipeline_name="churn"), good_definition(),
                          github_repo="acme/models")
    policy = doc["PolicyDocument"]
    assert parliament.analyze_policy_string(json.dumps(policy)).findings == []
    community = parliament.analyze_policy_string(json.dumps(policy), include_community_auditors=True)
    # PassRole is the one permissions-management action CI needs (CreatePipeline passes the role)
    assert {(f.issue, a) for f in community.findings for a in f.location["actions"]} == {
        ("PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole")}
    st = {s["Sid"]: s for s in policy["Statement"]}
    assert st["DeployThisPipeline"]["Resource"] == \
        "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn"
    assert st["StageCodeAndData"]["Resource"] == ["arn:aws:s3:::tg-bucket/trainguard/code/*",
                                                  "arn:aws:s3:::tg-bucket/trainguard/data/*"]
    assert st["PassExecutionRoleToSageMaker"]["Resource"] == ROLE
    assert "CreateDefaultBucket" not in st  # a named bucket is never created
    assert not [a for s in policy["Statement"] for a in s["Action"] if "*" in a]
    [trust] = doc["TrustPolicy"]["Statement"]
    assert trust["Principal"] == {"Federated": "arn:aws:iam::123456789012:oidc-provider/"
                                               "token.actions.githubusercontent.com"}
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == \
        "repo:acme/models:ref:refs/heads/main"


def test_deployer_may_create_only_the_default_bucket(tmp_path: Any, capsys: Any) -> None:
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_deployer_cfg().to_dict()))
    assert main(["iam-policy", "--config", str(path), "--deployer"]) == 0
    st = {s["Sid"]: s for s in json.loads(capsys.readouterr().out)["PolicyDocument"]["Statement"]}
    assert st["CreateDefaultBucket"]["Resource"] == "arn:aws:s3:::sagemaker-eu-west-1-123456789012"

    assert main(["iam-policy", "--config", str(path), "--github-repo", "acme/models"]) == 2
    assert "add --deployer" in capsys.readouterr().err
    assert main(["iam-policy", "--config", str(path), "--deployer", "--github-repo", "nope"]) == 2
    assert "must be owner/name" in capsys.readouterr().err
    defn = tmp_path / "d.json"
    defn.write_text(json.dumps(good_definition()))
    assert main(["iam-policy", "--definition", str(defn), "--deployer"]) == 2
    assert "--deployer needs the config" in capsys.readouterr().err


def test_policy_of_our_untuned_pipeline_creates_training_jobs_only() -> None:
    from trainguard.pipelines.ci.aws import build_definition
    from trainguard.training.config import load_config

    cfg = load_config({"aws": {"region": REGION, "role_arn": ROLE},
                       "tuning": {"enabled": False},
                       "security": {"kms_key_id": KEY, "subnets": ["subnet-0abc1234def567890"],
                                    "security_group_ids": ["sg-0abc1234def567890"]}})
    doc = derive_policy(json.loads(build_definition(cfg)), role_arn=ROLE, region=REGION)
    st = _statements(doc)
    assert st["CreateTrainingJobs"]["Resource"] == \
        "arn:aws:sagemaker:eu-west-1:123456789012:training-job/pipelines-*"
    assert st["CreateTrainingJobs"]["Condition"]["Bool"] == {
        "sagemaker:NetworkIsolation": "true", "sagemaker:InterContainerTrafficEncryption": "true"}
    assert "CreateHyperParameterTuningJobs" not in st and "ReadTuningTrials" not in st
    assert parliament.analyze_policy_string(json.dumps(doc["PolicyDocument"])).findings == []


def test_experiment_tracking_is_granted_only_when_the_definition_asks() -> None:
    defn = good_definition()
    assert defn["PipelineExperimentConfig"]
    st = _statements(_policy(defn))
    assert "sagemaker:CreateTrial" in st["TrackExecutionsAsExperiments"]["Action"]
    defn["PipelineExperimentConfig"] = None  # as our builder emits it
    assert "TrackExecutionsAsExperiments" not in _statements(_policy(defn))
