"""The retraining starter applies cost.max_execution_usd to scheduled and alarm-driven starts.

Against a real moto server over HTTP: the starter reads the deployed definition
(DescribePipeline's ``PipelineDefinition``), prices it with ``check_execution_cost`` and the
shipped table, and raises instead of starting. The Lambda package is also run as Lambda would
import it: the built zip alone on the path, plus boto3.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from ops_fixtures import ACCOUNT, ROLE, config_file
from test_deploy import aws  # noqa: F401 - fixture: a fresh account on the moto server, one attempt
from trainguard.pipelines.ops.cost import CostLimitExceeded, UnknownPrice, load_price_table
from trainguard.pipelines.ops.starter import CONFIG_ENV, handler, starter_config
from trainguard.pipelines.ops.triggers import package_starter
from trainguard.training.config import load_config

GOLDEN = Path(__file__).parent / "golden" / "definition.json"
US = "us-east-1"  # a region the shipped price table knows
US_KEY = f"arn:aws:kms:{US}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# the golden definition: 11 instance-hours of ml.m5.xlarge (processing 1 + tuning 8 + evaluate and
# baseline 1 each), see test_cost.py
WORST = 11 * (load_price_table().price(US, "Training", "ml.m5.xlarge") or 0.0)
SCHEDULE = {"reason": "schedule", "scheduled_time": "2030-01-01T03:00:00Z"}
ALARM = {"detail-type": "CloudWatch Alarm State Change", "id": "e" * 36,
         "detail": {"alarmName": "tg-models-auc-low", "state": {"value": "ALARM"}}}


def _sm(region: str) -> Any:
    return boto3.Session().client("sagemaker", region_name=region)


def _deploy(region: str) -> None:
    """The golden definition deployed as tg-test (the config's pipeline) in ``region``."""
    _sm(region).create_pipeline(PipelineName="tg-test", RoleArn=ROLE,
                                PipelineDefinition=GOLDEN.read_text(encoding="utf-8"))


def _runs(region: str) -> list[str]:
    return [r["PipelineExecutionArn"] for r in
            _sm(region).list_pipeline_executions(PipelineName="tg-test")["PipelineExecutionSummaries"]]


def _starter_env(tmp_path: Path, limit: float | None, region: str = US) -> str:
    """TRAINGUARD_CONFIG as the deployed function carries it."""
    sections: dict[str, Any] = {"cost": {"max_execution_usd": limit}}
    if region == US:
        sections.update(aws={"region": US}, security={"kms_key_id": US_KEY})
    folder = tmp_path / f"cfg-{limit}-{region}"
    folder.mkdir()
    return json.dumps(starter_config(load_config(config_file(folder, **sections))))


@pytest.mark.usefixtures("aws")
def test_a_start_within_the_limit_starts_and_one_over_it_starts_nothing(tmp_path, monkeypatch, capsys) -> None:
    _deploy(US)
    monkeypatch.setenv(CONFIG_ENV, _starter_env(tmp_path, 5.0))
    result = handler(SCHEDULE)
    assert result["WorstCaseUsd"] == pytest.approx(WORST) and WORST < 5.0
    assert _runs(US) == [result["PipelineExecutionArn"]]
    assert f"worst case {WORST:.2f} USD" in capsys.readouterr().out  # the log: upsert --start's lines

    monkeypatch.setenv(CONFIG_ENV, _starter_env(tmp_path, 1.0))
    for event in (ALARM, {**SCHEDULE, "scheduled_time": "2030-01-08T03:00:00Z"}):
        with pytest.raises(CostLimitExceeded, match=r"cost\.max_execution_usd \(1 USD\)") as info:
            handler(event)
        assert f"worst-case cost of this execution is {WORST:.2f} USD" in str(info.value)
    assert _runs(US) == [result["PipelineExecutionArn"]]  # nothing more started


@pytest.mark.usefixtures("aws")
def test_an_unknown_price_under_a_limit_starts_nothing(tmp_path, monkeypatch) -> None:
    """eu-west-1 is not in the shipped table: the worst case cannot be bounded, so no start."""
    _deploy("eu-west-1")
    monkeypatch.setenv(CONFIG_ENV, _starter_env(tmp_path, 500.0, region="eu-west-1"))
    with pytest.raises(UnknownPrice, match=r"cost\.max_execution_usd is set \(500 USD\)") as info:
        handler(SCHEDULE)
    assert "ml.m5.xlarge (training) in eu-west-1 is not in the price table" in str(info.value)
    assert _runs("eu-west-1") == []


@pytest.mark.usefixtures("aws")
def test_without_a_limit_the_starter_does_not_read_the_definition(tmp_path, monkeypatch) -> None:
    """No limit: the start needs no DescribePipeline (the figure is None), as before the guard."""
    _deploy(US)
    monkeypatch.setenv(CONFIG_ENV, _starter_env(tmp_path, None))
    calls: list[str] = []
    real = boto3.Session.client

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        c = real(self, *args, **kwargs)
        c.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
        return c

    monkeypatch.setattr(boto3.Session, "client", counting)
    assert handler(SCHEDULE)["WorstCaseUsd"] is None
    assert "DescribePipeline" not in calls and "StartPipelineExecution" in calls


@pytest.mark.usefixtures("aws")
def test_ops_upsert_refuses_triggers_whose_every_start_the_limit_would_refuse(tmp_path, capsys) -> None:
    """Deploying a schedule the starter would always refuse is caught at deploy, before any write."""
    from trainguard.pipelines.cli import main

    _deploy("eu-west-1")  # a region the shipped table lacks: no start could be priced
    path = config_file(tmp_path, cost={"max_execution_usd": 500}, triggers={"schedule": "rate(7 days)"})
    roles = ["--starter-role-arn", f"arn:aws:iam::{ACCOUNT}:role/s", "--invoke-role-arn",
             f"arn:aws:iam::{ACCOUNT}:role/i"]
    assert main(["ops", "upsert", "--config", str(path), *roles]) == 2
    err = capsys.readouterr().err
    assert "cost.max_execution_usd is set (500 USD)" in err and "eu-west-1 is not in the price table" in err
    assert boto3.Session().client("lambda", region_name="eu-west-1").list_functions()["Functions"] == []
    assert boto3.Session().client("sns", region_name="eu-west-1").list_topics()["Topics"] == []


def _boto3_only(folder: Path) -> Path:
    """A folder holding boto3 and its dependencies alone (what the Lambda runtime provides)."""
    folder.mkdir()
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, name
        origin = Path(spec.origin)
        src = origin.parent if spec.submodule_search_locations else origin
        (folder / src.name).symlink_to(src, target_is_directory=src.is_dir())
    return folder


_RUN_FROM_ZIP = """
import json, os, sys
bundle, deps, configs, events = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
sys.path[:0] = [bundle, deps]
from trainguard.pipelines.ops.starter import handler
import trainguard.pipelines.ops.cost as cost
out = {"from": cost.__file__, "sdk": sorted({"sagemaker", "numpy", "yaml"} & set(sys.modules))}
for (name, conf), event in zip(configs.items(), events):
    os.environ["TRAINGUARD_CONFIG"] = conf
    try:
        out[name] = handler(event)["PipelineExecutionArn"]
    except Exception as exc:
        out[name] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(out))
"""


@pytest.mark.usefixtures("aws")
def test_the_packaged_starter_runs_from_its_zip_with_boto3_alone(tmp_path) -> None:
    """The zip carries cost.py's imports and prices.json: ``python -I -S`` (no site-packages)
    with the zip and boto3 on the path prices the definition and applies the limit."""
    import zipfile

    bundle = tmp_path / "starter.zip"
    bundle.write_bytes(package_starter())
    assert "trainguard/pipelines/ops/prices.json" in zipfile.ZipFile(bundle).namelist()
    deps = _boto3_only(tmp_path / "deps")
    _deploy(US)
    configs = {"within": _starter_env(tmp_path, 5.0), "over": _starter_env(tmp_path, 1.0)}
    events = [SCHEDULE, ALARM]
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", _RUN_FROM_ZIP, str(bundle), str(deps),
                           json.dumps(configs), json.dumps(events)],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ), check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    out = json.loads(lines[-1])
    assert out["from"].startswith(str(bundle)) and out["sdk"] == []
    assert out["within"].startswith(f"arn:aws:sagemaker:{US}:{ACCOUNT}:pipeline/tg-test/execution/")
    assert out["over"].startswith("CostLimitExceeded: ") and "cost.max_execution_usd (1 USD)" in out["over"]
    assert any(f"worst case {WORST:.2f} USD" in line for line in lines)
    assert _runs(US) == [out["within"]]
