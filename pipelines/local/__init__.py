"""The local dry run: executes an emitted pipeline definition JSON on this machine, no Docker, no AWS.

Stages, one per module: ``graph`` (steps, edges, order), ``expressions`` (Get, Join, JsonGet,
conditions), ``store`` (s3:// URIs in a folder), ``container`` / ``jobrun`` / ``tuning`` (jobs
in-process under SageMaker's container contract), ``executors`` (one per step Type), ``cache``
and ``runner`` (``run_definition``). Importing this package never imports the SageMaker SDK.
"""

from trainguard.pipelines.local.errors import DefinitionError, StepFailed, UnsupportedStepError
from trainguard.pipelines.local.runner import RunOutcome, StepRecord, run_definition

__all__ = [
    "DefinitionError",
    "RunOutcome",
    "StepFailed",
    "StepRecord",
    "UnsupportedStepError",
    "run_definition",
]
