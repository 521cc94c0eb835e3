"""Errors of the local dry run: a step it cannot run, a step that failed (and the shared DefinitionError)."""

from __future__ import annotations

from trainguard.pipelines.definition import DefinitionError
from trainguard.training.errors import TrainguardError

__all__ = ["DefinitionError", "StepFailed", "UnsupportedStepError"]


class UnsupportedStepError(DefinitionError):
    """A step the local runner cannot emulate; raised before any step runs."""


class StepFailed(TrainguardError):
    """A step failed at run time; the message names the step and carries the job's own message."""

    def __init__(self, step: str, message: str, exit_code: int = 1) -> None:
        self.step = step
        self.reason = message
        self.exit_code = exit_code
        super().__init__(f"step {step} failed: {message}")

