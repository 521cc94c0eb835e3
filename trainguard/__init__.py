"""trainguard: SageMaker training pipelines with safeguards built in, runnable on a laptop.

The public Python API. Names are imported on first use (module ``__getattr__``), so
``import trainguard`` is cheap and commands that never build a definition never import the
SageMaker SDK. The card's folders install as ``trainguard.pipelines`` (the user's side),
``trainguard.steps`` (one builder per step) and ``trainguard.training`` (what runs in a job).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "build_context",
    "build_monitoring_pipeline",
    "build_pipeline",
    "check_drift",
    "cost",
    "definition_json",
    "deploy",
    "diff",
    "lint",
    "load_config",
    "ops_upsert",
    "run_local",
    "start",
    "upsert",
]

_LAZY: dict[str, str] = {
    "build_context": "trainguard.pipelines.build",
    "build_monitoring_pipeline": "trainguard.pipelines.monitoring",
    "build_pipeline": "trainguard.pipelines.build",
    "check_drift": "trainguard.pipelines.drift",
    "definition_json": "trainguard.pipelines.build",
    "cost": "trainguard.pipelines.api",
    "deploy": "trainguard.pipelines.ops.deploy",
    "diff": "trainguard.pipelines.api",
    "lint": "trainguard.pipelines.api",
    "load_config": "trainguard.training.config",
    "ops_upsert": "trainguard.pipelines.ops.operate",
    "start": "trainguard.pipelines.api",
    "upsert": "trainguard.pipelines.api",
    "run_local": "trainguard.pipelines.local.run",
}


def __getattr__(name: str) -> Any:
    """Import the module behind a public name only when it is first asked for."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trainguard' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Module attributes including the lazily loaded ones."""
    return sorted([*globals(), *_LAZY])
