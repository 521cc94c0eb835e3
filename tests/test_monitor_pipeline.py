"""The monitoring steps and ``build_monitoring_pipeline``: secure jobs, lint-clean, run locally.

The monitoring definition is linted with real security values, then executed by the local
runner (the same runner ``trainguard run --local`` uses) on a baseline folder and a data prefix
staged in its store: clean data succeeds, drifted data fails the execution as DriftDetected with
the violation count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trainguard.pipelines.monitoring import baseline_folder, build_monitoring_pipeline, monitoring_definition_json

KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
REAL = {"aws.region": "eu-west-1", "aws.role_arn": "arn:aws:iam::123456789012:role/trainguard",
        "aws.bucket": "my-bucket", "security.kms_key_id": KEY,
        "security.subnets": ["subnet-0abc1234def567890"],
        "security.security_group_ids": ["sg-0abc1234def567890"], "data.target": "label"}


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return json.loads(monitoring_definition_json(overrides=REAL))


def test_check_drift_job_has_every_control_and_lint_passes(definition):
    from trainguard.pipelines.ci.lint import lint_definition

    steps = {s["Name"]: s for s in definition["Steps"]}
    assert list(steps) == ["CheckDrift", "DriftCondition"]
    job = steps["CheckDrift"]["Arguments"]
    assert job["AppSpecification"]["ContainerEntrypoint"][-1] == "drift"
    assert job["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert job["NetworkConfig"]["VpcConfig"]["Subnets"] == ["subnet-0abc1234def567890"]
    assert job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    assert job["ProcessingOutputConfig"]["KmsKeyId"] == KEY
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600
    assert {"Key": "project", "Value": "trainguard"} in job["Tags"]
    assert "CacheConfig" not in steps["CheckDrift"]  # new objects under the same prefix
    cond = steps["DriftCondition"]["Arguments"]["Conditions"][0]
    assert cond["Type"] == "GreaterThan" and cond["RightValue"] == 0
    assert [p["Name"] for p in definition["Parameters"]] == [
        "MonitorDataUri", "BaselineUri", "ProcessingInstanceType", "ProcessingInstanceCount"]
    assert lint_definition(definition) == []


def test_the_check_lands_where_the_publishing_function_reads_it(definition):
    """The function finds an execution's check from its id alone: the definition's output must
    resolve to monitor_output_uri for every execution."""
    from trainguard.steps.locations import monitor_output_uri
    from trainguard.training.config import load_config

    job = next(s for s in definition["Steps"] if s["Name"] == "CheckDrift")["Arguments"]
    (out,) = job["ProcessingOutputConfig"]["Outputs"]
    join = out["S3Output"]["S3Uri"]["Std:Join"]
    resolved = join["On"].join("p4jn9xou8a8s" if v == {"Get": "Execution.PipelineExecutionId"} else v
                               for v in join["Values"])
    assert resolved == monitor_output_uri(load_config(None, REAL), "p4jn9xou8a8s") == \
        "s3://my-bucket/trainguard/runs/p4jn9xou8a8s/monitor"


def test_monitoring_definition_is_deterministic_and_not_deployed_offline():
    from trainguard.training.errors import ConfigError

    assert monitoring_definition_json(overrides=REAL) == monitoring_definition_json(overrides=REAL)
    pipeline = build_monitoring_pipeline(overrides=REAL)
    assert pipeline.name == "trainguard-pipeline-monitor"
    with pytest.raises(ConfigError, match="trainguard upsert deploys the training pipeline only"):
        pipeline.upsert(role_arn="arn:aws:iam::123456789012:role/x")


def test_baseline_folder_of_a_package_document():
    uri = "s3://b/p/runs/exec-1/baseline/data_quality/constraints.json"
    assert baseline_folder(uri) == "s3://b/p/runs/exec-1/baseline/"


def _stage(store_root: Path, uri: str) -> Path:
    assert uri.startswith("s3://")
    return store_root / "s3" / uri[len("s3://"):]


def _table(path: Path, n: int, seed: int, shift: float = 0.0) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["a,b,label"] + [f"{rng.normal() + shift:.5f},{rng.normal():.5f},{i % 2}" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("shift", [0.0, 0.7])
def test_monitoring_pipeline_runs_locally(definition, tmp_path, shift):
    from trainguard.pipelines.local.runner import run_definition
    from trainguard.training.monitor import build_baseline, write_baseline

    params = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    _table(tmp_path / "train.csv", 800, 0)
    stats, cons = build_baseline(tmp_path / "train.csv", exclude=["label"])
    write_baseline(_stage(tmp_path / "work", params["BaselineUri"]) / "data_quality", stats, cons)
    _table(_stage(tmp_path / "work", params["MonitorDataUri"]) / "day1.csv", 800, 1, shift)
    outcome = run_definition(definition, tmp_path / "work")
    if shift:
        assert outcome.status == "Failed"
        assert outcome.step("DriftDetected").status == "Failed"
        assert "Drift check found 1 violation(s)" in (outcome.failure or "")
        assert "baseline_drift" not in (outcome.failure or "")  # the description, in words
    else:
        assert outcome.status == "Succeeded", outcome.failure
        assert outcome.property_files["CheckDrift"]["DriftReport"]["violation_count"] == 0
