"""What every step builder needs, resolved once from the config: session, names, places, controls.

Builders are pure functions of a ``BuildContext``; nothing re-reads the config or the
environment after ``trainguard.pipelines.build`` has made one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainguard.steps.locations import default_bucket, s3_join
from trainguard.steps.parameters import PipelineParameters
from trainguard.steps.sdk import ExecutionVariables, Join
from trainguard.steps.security import JobSecurity
from trainguard.training.config import Config

__all__ = ["BuildContext", "default_bucket", "s3_join"]  # the last two re-exported


@dataclass(frozen=True)
class BuildContext:
    """The resolved inputs of the step builders."""

    cfg: Config
    session: Any
    """An offline ``PipelineSession``."""
    params: PipelineParameters
    security: JobSecurity
    bucket: str
    prefix: str
    """Key prefix without slashes at either end ('' for the bucket root)."""
    image_uri: str
    code_uri: str
    """S3 URI of the content-addressed code bundle (``sourcedir.tar.gz``)."""
    code_sha256: str

    @property
    def role(self) -> str:
        """The execution role ARN every job runs as."""
        return self.cfg.aws.role_arn

    def s3(self, *parts: str) -> str:
        """``s3://<bucket>/<prefix>/<parts...>`` with single slashes."""
        return s3_join(self.bucket, self.prefix, *parts)

    def run_uri(self, *parts: Any) -> Any:
        """A per-execution S3 location: ``s3://<bucket>/<prefix>/runs/<ExecutionId>/<parts...>``.

        Each execution writes its own outputs, so a later run never overwrites the artifacts an
        earlier registered model points to. A ``Std:Join`` (never nested: see ``run_values``).
        """
        return Join(on="/", values=self.run_values(*parts))

    def run_values(self, *parts: Any) -> list[Any]:
        """The ``Std:Join`` values of ``run_uri`` (to extend with more parts, e.g. a job name)."""
        return [self.s3("runs"), ExecutionVariables.PIPELINE_EXECUTION_ID, *parts]
