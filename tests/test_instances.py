"""Instance choices the service or the train job cannot honour: refused by config and the job."""

from __future__ import annotations

import json

import pytest
from trainguard.training.config import load_config
from trainguard.training.errors import ConfigError
from trainguard.training.instances import has_instance_storage
from trainguard.training.jobs import main


@pytest.mark.parametrize(("instance_type", "local_storage"), [
    ("ml.m5.xlarge", False), ("ml.c5.2xlarge", False), ("ml.r5.large", False),
    ("ml.p3.2xlarge", False), ("ml.m6i.large", False), ("ml.t3.medium", False),
    ("ml.m5d.xlarge", True), ("ml.c5d.large", True), ("ml.r5d.4xlarge", True),
    ("ml.m5ad.large", True), ("ml.c6id.large", True), ("ml.g4dn.xlarge", True),
    ("ml.g5.2xlarge", True), ("ml.g6.xlarge", True), ("ml.p3dn.24xlarge", True),
    ("ml.p4d.24xlarge", True), ("ml.trn1.2xlarge", True),
])
def test_instance_storage_families(instance_type: str, local_storage: bool) -> None:
    assert has_instance_storage(instance_type) is local_storage


@pytest.mark.parametrize("key", ["aws.training_instance_type", "aws.processing_instance_type"])
def test_config_refuses_a_default_type_that_cannot_take_the_volume_key(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key} ml\.g4dn\.xlarge has local NVMe instance storage.*"
                                          r"refuses VolumeKmsKeyId.*ml\.m5\.xlarge"):
        load_config(None, {key: "ml.g4dn.xlarge"})


def test_without_a_volume_key_an_instance_storage_type_is_allowed() -> None:
    cfg = load_config(None, {"aws.training_instance_type": "ml.g5.xlarge", "security.kms_key_id": None,
                             "security.allow_insecure": True})
    assert cfg.aws.training_instance_type == "ml.g5.xlarge"


def test_config_refuses_more_than_one_training_instance() -> None:
    with pytest.raises(ConfigError, match=r"aws\.training_instance_count is 2: the train job runs the "
                                          r"whole cross-validation.*on each instance independently.*use 1"):
        load_config(None, {"aws.training_instance_count": 2})


@pytest.mark.parametrize("how", ["SM_HOSTS", "resourceconfig.json"])
def test_train_job_refuses_several_hosts_before_reading_anything(tmp_path, capsys, how: str) -> None:
    """TrainingInstanceCount is a pipeline parameter: an execution can override what config checked."""
    env = {"TRAINGUARD_OPT_ML": str(tmp_path)}
    hosts = ["algo-1", "algo-2"]
    if how == "SM_HOSTS":
        env["SM_HOSTS"] = json.dumps(hosts)
    else:
        (tmp_path / "input" / "config").mkdir(parents=True)
        (tmp_path / "input" / "config" / "resourceconfig.json").write_text(
            json.dumps({"current_host": "algo-1", "hosts": hosts}))
    assert main(["train"], env) == 2
    err = capsys.readouterr().err
    assert "this training job runs on 2 instances" in err and "TrainingInstanceCount=1" in err
    assert "Traceback" not in err
