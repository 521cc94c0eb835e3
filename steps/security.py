"""The safeguards on every processing, training and tuning job: KMS, VPC, isolation, runtime, tags.

One ``JobSecurity`` is read from ``cfg.security`` and handed to every builder, so no job can be
built with different controls. The v3 ``HyperparameterTuner`` drops ``EnableNetworkIsolation``,
``EnableInterContainerTrafficEncryption`` and ``ResourceConfig.VolumeKmsKeyId`` from its
training job definition; ``restore_tuning_job_security`` puts them back into the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainguard.steps.cost_tags import cost_allocation_tags
from trainguard.steps.sdk import NetworkConfig, Networking
from trainguard.training.config import Config
from trainguard.training.errors import ConfigError

__all__ = ["JobSecurity", "apply_spot_training", "restore_tuning_job_security", "security_from_config"]


@dataclass(frozen=True)
class JobSecurity:
    """The controls every job carries, resolved from the config (None / empty = control off)."""

    kms_key_id: str | None
    subnets: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    network_isolation: bool
    inter_container_encryption: bool
    max_runtime_seconds: int
    tags: tuple[tuple[str, str], ...]
    """The owner's tags (``security.tags``); empty is a control turned off."""
    cost_tags: tuple[tuple[str, str], ...] = ()
    """Cost-allocation tags added to every job whatever ``security.tags`` says (they win a clash)."""

    @property
    def has_vpc(self) -> bool:
        """True when the jobs run in the VPC (both subnets and security groups given)."""
        return bool(self.subnets and self.security_group_ids)

    @property
    def insecure(self) -> list[str]:
        """Config keys of the controls that are off (empty when every job is fully secured)."""
        off = []
        if not self.kms_key_id:
            off.append("security.kms_key_id")
        if not self.subnets:
            off.append("security.subnets")
        if not self.security_group_ids:
            off.append("security.security_group_ids")
        if not self.network_isolation:
            off.append("security.network_isolation")
        if not self.inter_container_encryption:
            off.append("security.inter_container_encryption")
        if not self.tags:
            off.append("security.tags")  # untagged jobs escape cost and ownership controls
        return off

    def all_tags(self) -> list[tuple[str, str]]:
        """The owner's tags and the cost-allocation tags, sorted by key."""
        return sorted({**dict(self.tags), **dict(self.cost_tags)}.items())

    def tag_list(self) -> list[dict[str, str]]:
        """Every tag in the service's ``[{"Key", "Value"}]`` form, sorted by key."""
        return [{"Key": k, "Value": v} for k, v in self.all_tags()]

    def network_config(self) -> Any:
        """``NetworkConfig`` for processing jobs."""
        return NetworkConfig(
            enable_network_isolation=self.network_isolation,
            encrypt_inter_container_traffic=self.inter_container_encryption,
            security_group_ids=list(self.security_group_ids) if self.has_vpc else None,
            subnets=list(self.subnets) if self.has_vpc else None,
        )

    def networking(self) -> Any:
        """``Networking`` for ``ModelTrainer`` (training jobs, and the tuner's job definition)."""
        return Networking(
            enable_network_isolation=self.network_isolation,
            enable_inter_container_traffic_encryption=self.inter_container_encryption,
            security_group_ids=list(self.security_group_ids) if self.has_vpc else None,
            subnets=list(self.subnets) if self.has_vpc else None,
        )


def security_from_config(cfg: Config) -> JobSecurity:
    """The job controls of ``cfg``; ConfigError if any is off without ``security.allow_insecure``.

    ``load_config`` already enforces this; checking again here keeps the builder honest for a
    Config assembled by hand.
    """
    s = cfg.security
    sec = JobSecurity(
        kms_key_id=s.kms_key_id or None,
        subnets=tuple(s.subnets),
        security_group_ids=tuple(s.security_group_ids),
        network_isolation=bool(s.network_isolation),
        inter_container_encryption=bool(s.inter_container_encryption),
        max_runtime_seconds=int(s.max_runtime_seconds),
        tags=tuple(sorted((str(k), str(v)) for k, v in s.tags.items())),
        cost_tags=tuple(cost_allocation_tags(cfg).items()),
    )
    if sec.insecure and not s.allow_insecure:
        raise ConfigError(
            f"{', '.join(sec.insecure)} turned off or empty: every job must run encrypted, "
            "isolated in a VPC and tagged. Set them, or set security.allow_insecure=true to build "
            "without (lint will still flag it)."
        )
    return sec


def restore_tuning_job_security(request: dict[str, Any], sec: JobSecurity) -> dict[str, Any]:
    """Put back the controls the v3 tuner drops from ``TrainingJobDefinition`` (in place).

    Sets ``EnableNetworkIsolation``, ``EnableInterContainerTrafficEncryption``, the volume KMS
    key, the VPC and the runtime limit from ``sec``, whatever the SDK emitted, and returns the
    request.
    """
    job = request["TrainingJobDefinition"]
    job["EnableNetworkIsolation"] = sec.network_isolation
    job["EnableInterContainerTrafficEncryption"] = sec.inter_container_encryption
    resources = job.setdefault("ResourceConfig", {})
    if sec.kms_key_id:
        resources["VolumeKmsKeyId"] = sec.kms_key_id
        job.setdefault("OutputDataConfig", {})["KmsKeyId"] = sec.kms_key_id
    if sec.has_vpc:
        job["VpcConfig"] = {"SecurityGroupIds": list(sec.security_group_ids),
                            "Subnets": list(sec.subnets)}
    job.setdefault("StoppingCondition", {})["MaxRuntimeInSeconds"] = sec.max_runtime_seconds
    return request


def apply_spot_training(request: dict[str, Any], max_wait_seconds: int, checkpoint_uri: Any) -> dict[str, Any]:
    """Run a tuning job's trials on managed spot capacity (in place; returns the request).

    Sets ``EnableManagedSpotTraining``, ``StoppingCondition.MaxWaitTimeInSeconds`` (waiting plus
    running, at least the max runtime) and ``CheckpointConfig.S3Uri``. CheckpointConfig takes no
    KMS key: the checkpoints go under the job's own bucket, whose default encryption is the
    pipeline's key, and lint checks that they do.
    """
    job = request["TrainingJobDefinition"]
    job["EnableManagedSpotTraining"] = True
    stopping = job.setdefault("StoppingCondition", {})
    stopping["MaxWaitTimeInSeconds"] = max(int(max_wait_seconds), int(stopping.get("MaxRuntimeInSeconds", 0)))
    job["CheckpointConfig"] = {"S3Uri": checkpoint_uri}
    return request
