"""The cost-allocation tags every job carries (no SDK import: lint and the cost tools read them).

Budgets and Cost Anomaly Detection filter spend on them once they are activated as cost-allocation
tags: which pipeline, which model group, what started the execution.
"""

from __future__ import annotations

from trainguard.training.config import Config

__all__ = ["COST_TAG_KEYS", "cost_allocation_tags"]

COST_TAG_KEYS = ("trainguard-pipeline", "trainguard-model-group", "trainguard-trigger")
"""Tag keys, in the order of ``cost_allocation_tags``' values."""


def cost_allocation_tags(cfg: Config) -> dict[str, str]:
    """The cost-allocation tag values of ``cfg``'s pipeline, by key."""
    return dict(zip(COST_TAG_KEYS, (cfg.aws.pipeline_name, cfg.registry.model_package_group,
                                    cfg.cost.trigger), strict=True))
