"""The explicit context one local run passes to every executor: store, values, job runner, events.

Configuration is read once, at the entry point, and handed down here; executors never read
globals or the process environment.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainguard.pipelines.local.container import JobRunner, MetricReader
from trainguard.pipelines.local.errors import DefinitionError, StepFailed
from trainguard.pipelines.local.expressions import Expressions
from trainguard.pipelines.local.store import LocalStore
from trainguard.training.errors import TrainguardError
from trainguard.training.jobs import JobStopped

__all__ = ["CODE_URI", "RunContext", "StepResult"]

CODE_URI = re.compile(r"/code/([0-9a-f]{64})/sourcedir\.tar\.gz$")
"""A content-addressed code bundle URI; group 1 is the bundle's sha256."""


@dataclass
class StepResult:
    """What a step produced: its properties, property files, written outputs, trials, failure."""

    properties: dict[str, Any] = field(default_factory=dict)
    property_files: dict[str, Any] = field(default_factory=dict)
    output_uris: list[str] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)
    registered: dict[str, Any] | None = None
    failure: str | None = None
    """Set by a Fail step: the run fails with this message."""
    outcome: bool | None = None
    """Set by a Condition step: which branch is taken."""


@dataclass
class RunContext:
    """Everything a step executor may use; one per run."""

    workdir: Path
    store: LocalStore
    expressions: Expressions
    execution_id: str
    run_job: JobRunner
    registry: Any = None
    """A trainguard.pipelines.registry.ModelRegistry, or None when the run registers nothing."""
    code_sha: str | None = None
    """sha256 of the local code bundle; a definition referring to another bundle is refused."""
    emit: Callable[..., None] = lambda event, **data: None
    seed: int = 0
    lineage: dict[str, Any] = field(default_factory=dict)

    def job_name(self, step: str, suffix: str = "") -> str:
        """A deterministic job name: ``<step>-<execution id>[-suffix]``, lower case."""
        base = f"{step}-{self.execution_id}".lower()
        return f"{base}-{suffix}" if suffix else base

    def job_dir(self, job_name: str) -> Path:
        """A fresh folder standing for /opt/ml of one job."""
        root = self.workdir / "jobs" / job_name
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        return root

    def check_code(self, step: str, uri: Any) -> None:
        """Refuse a code bundle URI whose sha is not the local build's (the definition is stale)."""
        if self.code_sha is None or not isinstance(uri, str):
            return
        m = CODE_URI.search(uri)
        if m and m.group(1) != self.code_sha:
            raise DefinitionError(
                f"step {step} runs code bundle {m.group(1)[:12]}…, but the local build is "
                f"{self.code_sha[:12]}…: the definition was built from other code. Rebuild it "
                "(trainguard run --local builds it fresh) or check out the code it was built from.")

    def call_job(self, step: str, kind: str, argv: list[str], env: Mapping[str, str],
                 reader: MetricReader, log: Path, on_metric: Callable[..., Any] | None = None) -> None:
        """Run one entry point in-process, its output written to ``log`` and read for metric lines.

        A TrainguardError keeps its exit status; any other exception fails the step with its
        message. Both become StepFailed naming the step, with paths in the job's folder written
        as the container paths they stand for (``/opt/ml/...``), as the job would report them.
        """
        tee = _LineTee(reader, log)
        root = env.get("TRAINGUARD_OPT_ML")
        try:  # the job's stdout and stderr go to its log, as a container's go to CloudWatch
            with contextlib.redirect_stdout(tee), contextlib.redirect_stderr(tee):
                self.run_job(kind, list(argv), dict(env), on_metric=on_metric)
        except JobStopped:
            raise
        except TrainguardError as exc:
            raise StepFailed(step, _container_paths(str(exc), root), exc.exit_code) from exc
        except Exception as exc:  # a job's bug fails its step, not the runner
            raise StepFailed(step, _container_paths(f"{type(exc).__name__}: {exc}", root)) from exc
        finally:
            tee.close()


def _container_paths(message: str, root: str | None) -> str:
    """``message`` with the job folder (standing for /opt/ml) written as /opt/ml."""
    return message.replace(root.rstrip("/") + "/", "/opt/ml/") if root else message


class _LineTee(io.TextIOBase):
    """A text stream that writes to a log file and feeds each complete line to a MetricReader."""

    def __init__(self, reader: MetricReader, log: Path) -> None:
        self.reader = reader
        log.parent.mkdir(parents=True, exist_ok=True)
        self.file = log.open("a", encoding="utf-8")
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.file.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.reader.feed(line)
        return len(text)

    def close(self) -> None:
        if self.pending:
            self.reader.feed(self.pending)
            self.pending = ""
        if not self.file.closed:
            self.file.close()
        super().close()
