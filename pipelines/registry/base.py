"""What every model registry offers (``ModelRegistry``), its records, and the champion bar.

The local SQLite registry and the SageMaker one are siblings behind this interface, so the local
run and ``upsert --start`` find the champion, and the bar a challenger must reach, the same way:
``champion_bar_of(registry, config)``. The champion of a group is its most recently approved
package. Never imports boto3.
"""

from __future__ import annotations

import abc
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainguard.training.approval import champion_bar
from trainguard.training.config import Config
from trainguard.training.errors import TrainguardError

__all__ = [
    "STATUSES",
    "ChampionBar",
    "ModelRegistry",
    "Package",
    "PackageNotFoundError",
    "RegistryError",
    "StatusChange",
    "champion_bar_of",
    "decision_reasons",
    "metric_value",
    "metrics_from_evaluation",
]

STATUSES = ("Approved", "Rejected", "PendingManualApproval")
"""The approval statuses of a model package, spelled as SageMaker spells them."""


class RegistryError(TrainguardError):
    """The registry file, a group, a version or a status is wrong; the message says how to fix it."""


class PackageNotFoundError(RegistryError, LookupError):
    """The asked-for group or version is not in the registry."""


@dataclass(frozen=True)
class StatusChange:
    """One audit row: who moved a package from one status to another, when and why."""

    changed_at: str
    changed_by: str
    from_status: str | None
    """None for the registration itself."""
    to_status: str
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, JSON ready."""
        return {"changed_at": self.changed_at, "changed_by": self.changed_by,
                "from_status": self.from_status, "to_status": self.to_status,
                "reason": self.reason}


@dataclass(frozen=True)
class Package:
    """One registered model version and everything known about it."""

    group: str
    version: int
    status: str
    metrics: dict[str, float | None]
    """Holdout metrics by name (auc, pr_auc, recall, ...); None where a metric was undefined."""
    evaluation: dict[str, Any] | None
    """The evaluation report (evaluation.json) as registered."""
    lineage: dict[str, Any]
    """Where the model came from: data_uri, hyperparameters, cv_scores, code_version, ..."""
    model_uri: str | None
    description: str | None
    status_reason: str | None
    """Why the package has its current status (the last audit row's reason)."""
    created_at: str
    updated_at: str
    history: tuple[StatusChange, ...] = field(default=())

    @property
    def decision_reasons(self) -> list[str]:
        """The approval decision's reasons from the evaluation report; empty when there are none."""
        return decision_reasons(self.evaluation or {})

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON ready), including the audit history."""
        return {
            "group": self.group, "version": self.version, "status": self.status,
            "status_reason": self.status_reason, "description": self.description,
            "model_uri": self.model_uri, "metrics": dict(self.metrics),
            "evaluation": json.loads(json.dumps(self.evaluation)) if self.evaluation else None,
            "lineage": json.loads(json.dumps(self.lineage)),
            "created_at": self.created_at, "updated_at": self.updated_at,
            "history": [h.to_dict() for h in self.history],
        }


class ModelRegistry(abc.ABC):
    """What every registry offers; the local SQLite one and a SageMaker-backed one are siblings."""

    @abc.abstractmethod
    def register(self, group: str, status: str, metrics: Mapping[str, Any] | None = None,
                 evaluation: Mapping[str, Any] | None = None,
                 lineage: Mapping[str, Any] | None = None, model_uri: str | None = None,
                 description: str | None = None, *, reason: str | None = None,
                 actor: str | None = None) -> Package:
        """Add the next version of ``group`` (creating the group on first use) and return it."""

    @abc.abstractmethod
    def champion(self, group: str) -> Package | None:
        """The newest Approved version of ``group``, or None when it has none (or does not exist)."""

    @abc.abstractmethod
    def list(self, group: str | None = None) -> list[Package]:
        """All packages, or those of one group, ordered by group then version."""

    @abc.abstractmethod
    def get(self, group: str, version: int) -> Package:
        """One package; raises PackageNotFoundError naming what exists."""

    @abc.abstractmethod
    def set_status(self, group: str, version: int, status: str, reason: str | None = None, *,
                   actor: str | None = None) -> Package:
        """Change a package's approval status, recording who, when, from, to and why."""


def metrics_from_evaluation(evaluation: Mapping[str, Any]) -> dict[str, float | None]:
    """The holdout metrics of an evaluation.json: each ``binary_classification_metrics`` value."""
    bcm = evaluation.get("binary_classification_metrics") if isinstance(evaluation, Mapping) else None
    if not isinstance(bcm, Mapping):
        raise RegistryError(
            "the evaluation report has no 'binary_classification_metrics' mapping, so there are no "
            "metrics to register; pass metrics= explicitly or a complete evaluation.json.")
    out: dict[str, float | None] = {}
    for name, entry in bcm.items():
        if isinstance(entry, Mapping) and "value" in entry:
            out[str(name)] = metric_value(str(name), entry["value"])
    return out


def metric_value(name: str, value: Any) -> float | None:
    """A metric as a finite float, None when absent or not finite; RegistryError when not a number."""
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(value, "__float__") or isinstance(value, str):
        raise RegistryError(f"metric {name!r} must be a number; got {value!r} "
                            f"({type(value).__name__}). Pass numeric holdout metrics.")
    number = float(value)
    return number if math.isfinite(number) else None


def decision_reasons(evaluation: Mapping[str, Any]) -> list[str]:
    """The approval decision's reasons recorded in an evaluation report (empty when none)."""
    decision = evaluation.get("decision") if isinstance(evaluation, Mapping) else None
    reasons = decision.get("reasons") if isinstance(decision, Mapping) else None
    if not reasons:
        return []
    return [str(r) for r in reasons] if isinstance(reasons, list) else [str(reasons)]


@dataclass(frozen=True)
class ChampionBar:
    """The bar a challenger's champion metric must reach, and the champion it comes from."""

    value: float
    """0.0 when the group has no champion: the floors alone decide."""
    champion: Package | None
    note: str | None = None
    """Set when the bar was capped (a margin that would ask for more than the metric's maximum)."""


def champion_bar_of(registry: ModelRegistry, cfg: Config) -> ChampionBar:
    """The ChampionBar for a new execution of ``cfg``'s group, read from ``registry``.

    A champion without the configured champion metric is an error, never "no champion": the
    comparison must not silently switch off.
    """
    metric = cfg.approval.champion_metric
    champion = registry.champion(cfg.registry.model_package_group)
    if champion is None:
        return ChampionBar(0.0, None)
    value = champion.metrics.get(metric)
    if value is None:
        raise RegistryError(
            f"the champion {champion.group}/{champion.version} has no {metric} recorded, so a "
            "challenger cannot be compared with it; reject that package (trainguard registry "
            "reject) or pass the bar yourself (--param ChampionBar=VALUE).")
    margin, mode = cfg.approval.champion_margin, cfg.approval.champion_margin_mode
    bar = champion_bar(value, margin, mode)
    raw = value * (1.0 + margin) if mode == "relative" else value + margin
    note = None
    if bar < raw:
        note = (f"champion bar capped at {bar:.4f}: the champion's {metric} {value:.4f} plus the "
                f"margin would ask for {raw:.4f}, above the metric's maximum of 1; a challenger "
                "must match the champion instead")
    return ChampionBar(bar, champion, note)
