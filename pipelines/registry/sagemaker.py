"""The SageMaker Model Registry behind the ``ModelRegistry`` interface (boto3 clients passed in).

Sibling of the local SQLite registry, so ``upsert --start`` (and any other starter) finds the
champion exactly as the local run does: the most recently approved package of the group. A
package's metrics come from its ``test:<metric>`` metadata properties or from the evaluation
report registered as its model-quality statistics. A failed call is an error, never "no
champion": only a group that does not exist means there is none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors
from trainguard.pipelines.registry.base import (
    STATUSES,
    ModelRegistry,
    Package,
    PackageNotFoundError,
    RegistryError,
    metric_value,
)

__all__ = ["SageMakerRegistry"]

_METRIC_PREFIX = "test:"


class SageMakerRegistry(ModelRegistry):
    """Model package groups in SageMaker; ``sm`` and ``s3`` are boto3 clients of one session."""

    def __init__(self, sm: Any, s3: Any) -> None:
        self.sm = sm
        self.s3 = s3

    def register(self, group: str, status: str, metrics: Mapping[str, Any] | None = None,
                 evaluation: Mapping[str, Any] | None = None,
                 lineage: Mapping[str, Any] | None = None, model_uri: str | None = None,
                 description: str | None = None, *, reason: str | None = None,
                 actor: str | None = None) -> Package:
        """Registration on SageMaker is the pipeline's own RegisterModel step, never this client."""
        raise RegistryError("packages are registered in SageMaker by the pipeline's RegisterModel "
                            "step; run the pipeline (trainguard upsert --start) to register one.")

    def champion(self, group: str) -> Package | None:
        """The most recently approved package of ``group`` (by the service's LastModifiedTime,
        which an approval sets); None when the group does not exist or has no Approved package."""
        if not self._group_exists(group):
            return None
        approved = self._summaries(group, "Approved")
        if not approved:
            return None
        described = [self._describe(s["ModelPackageArn"]) for s in approved]
        latest = max(described, key=lambda d: (d.get("LastModifiedTime") or d.get("CreationTime"),
                                               d.get("ModelPackageVersion") or 0))
        return self._package(group, latest)

    def list(self, group: str | None = None) -> list[Package]:
        """The packages of ``group`` (a group is required: the service lists per group)."""
        if group is None:
            raise RegistryError("listing SageMaker packages needs a group; pass the model package "
                                "group name.")
        if not self._group_exists(group):
            raise PackageNotFoundError(f"model package group {group!r} does not exist in SageMaker.")
        described = [self._describe(s["ModelPackageArn"]) for s in self._summaries(group, None)]
        return sorted((self._package(group, d) for d in described), key=lambda p: p.version)

    def get(self, group: str, version: int) -> Package:
        """One package by group and version."""
        for package in self.list(group):
            if package.version == version:
                return package
        raise PackageNotFoundError(f"{group}/{version} is not in SageMaker's model registry.")

    def set_status(self, group: str, version: int, status: str, reason: str | None = None, *,
                   actor: str | None = None) -> Package:
        """UpdateModelPackage's approval status, with the reason as its ApprovalDescription."""
        if status not in STATUSES:
            raise RegistryError(f"status {status!r} is not one of {', '.join(STATUSES)}.")
        arn = self._arn(group, version)
        request: dict[str, Any] = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
        if reason:
            request["ApprovalDescription"] = reason[:1024]
        with aws_errors("sagemaker:UpdateModelPackage"):
            self.sm.update_model_package(**request)
        return self._package(group, self._describe(arn))

    # ---------------------------------------------------------------- internals

    def _group_exists(self, group: str) -> bool:
        """Whether the group exists, from ListModelPackageGroups (no error code is read as absence)."""
        token: str | None = None
        while True:
            request: dict[str, Any] = {"NameContains": group, "MaxResults": 100}
            if token:
                request["NextToken"] = token
            with aws_errors("sagemaker:ListModelPackageGroups"):
                page = self.sm.list_model_package_groups(**request)
            if any(g.get("ModelPackageGroupName") == group
                   for g in page.get("ModelPackageGroupSummaryList") or []):
                return True
            token = page.get("NextToken")
            if not token:
                return False

    def _summaries(self, group: str, status: str | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            request: dict[str, Any] = {"ModelPackageGroupName": group, "MaxResults": 100}
            if status:
                request["ModelApprovalStatus"] = status
            if token:
                request["NextToken"] = token
            with aws_errors("sagemaker:ListModelPackages"):
                page = self.sm.list_model_packages(**request)
            out += page.get("ModelPackageSummaryList") or []
            token = page.get("NextToken")
            if not token:
                return out

    def _describe(self, arn: str) -> dict[str, Any]:
        with aws_errors("sagemaker:DescribeModelPackage"):
            return dict(self.sm.describe_model_package(ModelPackageName=arn))

    def _arn(self, group: str, version: int) -> str:
        for summary in self._summaries(group, None):
            if summary.get("ModelPackageVersion") == version:
                return str(summary["ModelPackageArn"])
        raise PackageNotFoundError(f"{group}/{version} is not in SageMaker's model registry.")

    def _package(self, group: str, d: Mapping[str, Any]) -> Package:
        evaluation = self._evaluation(d)
        metrics: dict[str, float | None] = {}
        bcm = (evaluation or {}).get("binary_classification_metrics") or {}
        for name, entry in bcm.items() if isinstance(bcm, Mapping) else []:
            if isinstance(entry, Mapping) and "value" in entry:
                metrics[str(name)] = _number(entry["value"])
        for key, value in (d.get("CustomerMetadataProperties") or {}).items():
            if key.startswith(_METRIC_PREFIX):
                metrics[key[len(_METRIC_PREFIX):]] = _number(value)
        created = str(d.get("CreationTime") or "")
        return Package(
            group=group, version=int(d.get("ModelPackageVersion") or 0),
            status=str(d.get("ModelApprovalStatus") or "PendingManualApproval"), metrics=metrics,
            evaluation=evaluation, lineage={"arn": d.get("ModelPackageArn")},
            model_uri=_model_uri(d), description=d.get("ModelPackageDescription"),
            status_reason=d.get("ApprovalDescription"), created_at=created,
            updated_at=str(d.get("LastModifiedTime") or created))

    def _evaluation(self, d: Mapping[str, Any]) -> dict[str, Any] | None:
        """The evaluation report registered as the package's model-quality statistics, if any."""
        if any(k.startswith(_METRIC_PREFIX) for k in d.get("CustomerMetadataProperties") or {}):
            return None  # the metrics are on the package itself: no read needed
        uri = (((d.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}) \
            .get("S3Uri")
        if not uri:
            return None
        if not str(uri).startswith("s3://"):
            raise DeployError(f"package {d.get('ModelPackageArn')} names its evaluation report as "
                              f"{uri!r}, not an s3:// URI; reject that package.")
        bucket, _, key = str(uri)[len("s3://"):].partition("/")
        with aws_errors("s3:GetObject"):
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            report = json.loads(body)
        except ValueError:
            raise DeployError(f"package {d.get('ModelPackageArn')}'s evaluation report {uri} is not "
                              "JSON; reject that package or pass --param ChampionBar=VALUE.") from None
        return report if isinstance(report, dict) else None


def _number(value: Any) -> float | None:
    try:
        return metric_value("metric", float(value))
    except (TypeError, ValueError, RegistryError):
        return None


def _model_uri(d: Mapping[str, Any]) -> str | None:
    containers = (d.get("InferenceSpecification") or {}).get("Containers") or []
    return containers[0].get("ModelDataUrl") if containers else None
