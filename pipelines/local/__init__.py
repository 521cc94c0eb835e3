"""The local dry run: executes an emitted pipeline definition JSON on this machine, no Docker, no AWS.

Stages, one per module: ``graph`` (steps, edges, order), ``expressions`` (Get, Join, JsonGet,
conditions), ``store`` (s3:// URIs in a folder), ``container`` / ``jobrun`` / ``tuning`` (jobs
in-process under SageMaker's container contract), ``executors`` (one per step Type), ``cache``
and ``runner`` (``run_definition``). Importing this package never imports the SageMaker SDK, and
imports the runner (with the training stack: scikit-learn, imbalanced-learn, XGBoost) on first use
of its names: ``trainguard run`` starts reading the user's table before paying for those.
"""

from __future__ import annotations

from typing import Any

from trainguard.pipelines.local.errors import DefinitionError, StepFailed, UnsupportedStepError

_RUNNER = ("RunOutcome", "StepRecord", "run_definition")

__all__ = [
    "DefinitionError",
    "RunOutcome",
    "StepFailed",
    "StepRecord",
    "UnsupportedStepError",
    "run_definition",
]


def __getattr__(name: str) -> Any:
    """The runner's names, imported on first use (PEP 562)."""
    if name in _RUNNER:
        from trainguard.pipelines.local import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
